package export

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/mailaudit/mailaudit/audit"
)

type listField struct{ name, value string }

// listWriter writes the list view, Format-List style.
type listWriter struct {
	state
	w       io.Writer
	details bool
	org     uuid.UUID
	hasOrg  bool
	fields  []listField
	buf     bytes.Buffer
	vals    strings.Builder
}

func newListWriter(w io.Writer, opt Options) *listWriter {
	lw := &listWriter{w: w, details: opt.ShowDetails}
	if org, err := uuid.Parse(opt.OrganizationId); err == nil {
		lw.org, lw.hasOrg = org, true
	}
	return lw
}

func (lw *listWriter) Write(r *audit.Record) error {
	if err := lw.check(r); err != nil {
		return err
	}
	lw.fields = lw.fields[:0]
	if r.IsAdmin() {
		lw.admin(r)
	} else {
		lw.mailbox(r)
	}
	lw.buf.Reset()
	if lw.started {
		lw.buf.WriteByte('\n')
	}
	lw.started = true
	lw.render()
	_, err := lw.w.Write(lw.buf.Bytes())
	return err
}

func (lw *listWriter) Close() error {
	lw.closed = true
	return nil
}

// add appends a field; a detail field only with ShowDetails.
func (lw *listWriter) add(name, value string, detail bool) {
	if detail && !lw.details {
		return
	}
	lw.fields = append(lw.fields, listField{name, value})
}

// The summary fields are those Search-MailboxAuditLog shows without
// -ShowDetails; the order puts related fields together either way.
func (lw *listWriter) mailbox(r *audit.Record) {
	lw.head(r)
	lw.add("LastAccessed", r.CreationTime.UTC().Format(time.RFC3339Nano), false)
	lw.add("Operation", clean(r.Operation), false)
	lw.add("OperationResult", clean(r.ResultStatus), false)
	lw.add("LogonType", r.LogonType.String(), false)
	lw.add("ExternalAccess", boolName(r.ExternalAccess), false)
	lw.add("MailboxGuid", guidString(r.MailboxGuid), true)
	lw.add("MailboxOwnerUPN", clean(r.MailboxOwnerUPN), false)
	lw.add("UserId", clean(r.UserId), true)
	lw.add("LogonUserDisplayName", clean(displayName(r)), false)
	lw.add("FolderPathName", clean(folderPath(r)), false)
	lw.add("DestFolderPathName", clean(destFolderPath(r)), true)
	lw.add("CrossMailboxOperation", boolName(r.CrossMailboxOperation), true)
	lw.add("DestMailboxOwnerUPN", clean(r.DestMailboxOwnerUPN), true)
	lw.add("ClientInfoString", clean(r.ClientInfoString), false)
	lw.add("ClientIPAddress", clean(r.ClientIPAddress), false)
	lw.add("ClientProcessName", clean(r.ClientProcessName), true)
	lw.add("ClientVersion", clean(r.ClientVersion), true)
	lw.add("ClientMachineName", clean(r.ClientMachineName), true)
	lw.add("SessionId", clean(r.SessionId), true)
	lw.add("OriginatingServer", clean(r.OriginatingServer), true)
	lw.add("ItemSubject", clean(itemSubject(r)), false)
	if lw.details {
		lw.add("SourceItemIdsList", lw.itemList(r, func(it *audit.Item, _ string) string { return it.Id }), true)
		lw.add("SourceItemSubjectsList", lw.itemList(r, func(it *audit.Item, _ string) string { return it.Subject }), true)
		lw.add("SourceItemInternetMessageIdsList", lw.itemList(r, func(it *audit.Item, _ string) string { return it.InternetMessageId }), true)
		lw.add("SourceItemFolderPathNamesList", lw.itemList(r, func(_ *audit.Item, folder string) string { return folder }), true)
	}
	lw.add("AuditOperationsCountInAggregatedRecord", countString(r.OperationCount), true)
	lw.add("OperationProperties", lw.pairs(r.OperationProperties, ";"), true)
	lw.add("SendAsUserSmtp", clean(r.SendAsUserSmtp), true)
	lw.add("SendOnBehalfOfUserSmtp", clean(r.SendOnBehalfOfUserSmtp), true)
	lw.tail(r)
}

// admin lists an admin audit record under its own names: none of the
// mailbox fields would be true of it.
func (lw *listWriter) admin(r *audit.Record) {
	lw.head(r)
	lw.add("LastAccessed", r.CreationTime.UTC().Format(time.RFC3339Nano), false)
	lw.add("Operation", clean(r.Operation), false)
	lw.add("OperationResult", clean(r.ResultStatus), false)
	lw.add("ExternalAccess", boolName(r.ExternalAccess), false)
	lw.add("UserId", clean(r.UserId), false)
	lw.add("ObjectId", clean(r.ObjectId), false)
	lw.add("ClientIPAddress", clean(r.ClientIPAddress), true)
	lw.add("OriginatingServer", clean(r.OriginatingServer), true)
	if lw.details {
		// Parameter values are often lists themselves, so one per line
		// rather than OperationProperties' compact Name=Value;… form.
		lw.add("Parameters", lw.pairs(r.Parameters, "\n"), true)
		lw.vals.Reset()
		for i, p := range r.ModifiedProperties {
			if i > 0 {
				lw.vals.WriteByte('\n')
			}
			lw.vals.WriteString(clean(p.Name) + ": " + clean(p.OldValue) + " -> " + clean(p.NewValue))
		}
		lw.add("ModifiedProperties", lw.vals.String(), true)
	}
	lw.tail(r)
}

func (lw *listWriter) head(r *audit.Record) {
	id := ""
	if lw.hasOrg {
		id = audit.RecordID(lw.org, r.SequenceNumber).String()
	}
	lw.add("Id", id, true)
	lw.add("RecordType", recordTypeName(r.RecordType), true)
	lw.add("SequenceNumber", countString(int(r.SequenceNumber)), true)
}

func (lw *listWriter) tail(r *audit.Record) {
	lw.add("Source", clean(r.Source), true)
	lw.add("SourceEventId", clean(r.SourceEventId), true)
}

// itemList is one value per item, one per line. With several items an empty
// value is shown as "(empty)", because a blank line inside a block would read
// as the end of the record and shift the lists out of step with each other.
func (lw *listWriter) itemList(r *audit.Record, value func(*audit.Item, string) string) string {
	n := 0
	for range sourceItems(r) {
		n++
	}
	lw.vals.Reset()
	i := 0
	for it, folder := range sourceItems(r) {
		if i > 0 {
			lw.vals.WriteByte('\n')
		}
		v := clean(value(it, folder))
		if v == "" && n > 1 {
			v = "(empty)"
		}
		lw.vals.WriteString(v)
		i++
	}
	return lw.vals.String()
}

func (lw *listWriter) pairs(nv []audit.NameValue, sep string) string {
	lw.vals.Reset()
	for i, p := range nv {
		if i > 0 {
			lw.vals.WriteString(sep)
		}
		lw.vals.WriteString(clean(p.Name))
		lw.vals.WriteByte('=')
		lw.vals.WriteString(clean(p.Value))
	}
	return lw.vals.String()
}

// render writes the fields with the names padded to the longest, and the
// lines of a multi-line value aligned under its first.
func (lw *listWriter) render() {
	width := 0
	for _, f := range lw.fields {
		width = max(width, utf8.RuneCountInString(f.name))
	}
	b := &lw.buf
	for _, f := range lw.fields {
		b.WriteString(f.name)
		for n := utf8.RuneCountInString(f.name); n < width; n++ {
			b.WriteByte(' ')
		}
		b.WriteString(" :")
		first := true
		for line := range strings.SplitSeq(f.value, "\n") {
			switch {
			case line == "":
			case first:
				b.WriteByte(' ')
			default:
				for range width + 3 {
					b.WriteByte(' ')
				}
			}
			b.WriteString(line)
			b.WriteByte('\n')
			first = false
		}
	}
}

func guidString(g uuid.UUID) string {
	if g == uuid.Nil {
		return ""
	}
	return g.String()
}

func countString(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}
