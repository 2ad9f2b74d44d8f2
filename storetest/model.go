package storetest

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mailaudit/mailaudit/audit"
)

// matches is the reference implementation of a Query's filters (all but
// Limit and Cursor) over one record, in the words of audit.Query.
func matches(q *audit.Query, r *audit.Record) bool {
	anyFold := func(values []string, s string) bool {
		return slices.ContainsFunc(values, func(v string) bool { return strings.EqualFold(v, s) })
	}
	if len(q.Mailboxes) > 0 && (r.IsAdmin() || !slices.Contains(q.Mailboxes, r.MailboxGuid)) {
		return false
	}
	if !q.Start.IsZero() && r.CreationTime.Before(q.Start) {
		return false
	}
	if !q.End.IsZero() && !r.CreationTime.Before(q.End) {
		return false
	}
	if len(q.Operations) > 0 && !anyFold(q.Operations, r.Operation) {
		return false
	}
	if len(q.LogonTypes) > 0 || q.External {
		logon := !r.IsAdmin() && slices.Contains(q.LogonTypes, r.LogonType)
		if !logon && !(q.External && r.ExternalAccess) {
			return false
		}
	}
	if q.ExternalOnly && !r.ExternalAccess {
		return false
	}
	if len(q.UserIds) > 0 && !anyFold(q.UserIds, r.UserId) {
		return false
	}
	if len(q.ObjectIds) > 0 {
		ok := anyFold(q.ObjectIds, r.ObjectId)
		for _, it := range r.Items() {
			ok = ok || anyFold(q.ObjectIds, it.Id) || anyFold(q.ObjectIds, it.InternetMessageId)
		}
		if !ok {
			return false
		}
	}
	if len(q.IPAddresses) > 0 && !anyFold(q.IPAddresses, r.ClientIPAddress) {
		return false
	}
	if q.FreeText != "" && !slices.ContainsFunc(texts(r), func(s string) bool {
		return strings.Contains(strings.ToLower(s), strings.ToLower(q.FreeText))
	}) {
		return false
	}
	if len(q.RecordTypes) > 0 && !slices.Contains(q.RecordTypes, r.RecordType) {
		return false
	}
	return true
}

// texts are what FreeText searches: subjects and folder paths.
func texts(r *audit.Record) []string {
	var out []string
	for _, it := range r.Items() {
		out = append(out, it.Subject)
		if it.ParentFolder != nil {
			out = append(out, it.ParentFolder.Path)
		}
	}
	for _, f := range []*audit.Folder{r.Folder, r.DestFolder} {
		if f != nil {
			out = append(out, f.Path)
		}
	}
	for _, f := range r.Folders {
		out = append(out, f.Path)
	}
	return out
}

// expect returns the records of all that q matches, newest first: by
// CreationTime (to the millisecond), then by SequenceNumber.
func expect(q *audit.Query, all []*audit.Record) []*audit.Record {
	var out []*audit.Record
	for _, r := range all {
		if matches(q, r) {
			out = append(out, r)
		}
	}
	newestFirst(out)
	return out
}

func newestFirst(rs []*audit.Record) {
	slices.SortStableFunc(rs, func(a, b *audit.Record) int {
		ta, tb := a.CreationTime.Truncate(time.Millisecond), b.CreationTime.Truncate(time.Millisecond)
		if c := tb.Compare(ta); c != 0 {
			return c
		}
		return int(b.SequenceNumber - a.SequenceNumber)
	})
}

// describe prints the parts of a query that are set.
func describe(q *audit.Query) string {
	var b strings.Builder
	add := func(name string, v any) { fmt.Fprintf(&b, " %s=%v", name, v) }
	if len(q.Mailboxes) > 0 {
		add("Mailboxes", q.Mailboxes)
	}
	if !q.Start.IsZero() {
		add("Start", q.Start.Format(time.RFC3339Nano))
	}
	if !q.End.IsZero() {
		add("End", q.End.Format(time.RFC3339Nano))
	}
	if len(q.Operations) > 0 {
		add("Operations", q.Operations)
	}
	if len(q.LogonTypes) > 0 {
		add("LogonTypes", q.LogonTypes)
	}
	if q.External {
		add("External", true)
	}
	if q.ExternalOnly {
		add("ExternalOnly", true)
	}
	if len(q.UserIds) > 0 {
		add("UserIds", q.UserIds)
	}
	if len(q.UserMailboxes) > 0 {
		add("UserMailboxes", q.UserMailboxes)
	}
	if len(q.ObjectIds) > 0 {
		add("ObjectIds", q.ObjectIds)
	}
	if len(q.IPAddresses) > 0 {
		add("IPAddresses", q.IPAddresses)
	}
	if q.FreeText != "" {
		add("FreeText", fmt.Sprintf("%q", q.FreeText))
	}
	if len(q.RecordTypes) > 0 {
		add("RecordTypes", q.RecordTypes)
	}
	if q.Limit > 0 {
		add("Limit", q.Limit)
	}
	if q.Cursor != "" {
		add("Cursor", fmt.Sprintf("%q", q.Cursor))
	}
	if b.Len() == 0 {
		return "{}"
	}
	return "{" + b.String()[1:] + "}"
}
