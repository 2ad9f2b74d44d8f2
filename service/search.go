package service

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/mailaudit/mailaudit/audit"
)

// Result-size rules of cli.md.
const (
	MailboxSearchDefault = 1000
	MailboxSearchMax     = 250000
	UnifiedSearchDefault = 100
)

// MailboxSearch is search-mailbox-audit-log's question.
type MailboxSearch struct {
	// Identities are the mailboxes; none means every mailbox.
	Identities []string
	Start, End time.Time
	Operations []string
	// LogonTypes: Owner, Delegate, Admin, External.
	LogonTypes []string
	// ExternalAccess keeps only records of the operator's staff.
	ExternalAccess bool
	ResultSize     int
	Cursor         string
}

// UnifiedSearch is search-unified-audit-log's question.
type UnifiedSearch struct {
	Start, End  time.Time
	Operations  []string
	UserIds     []string
	ObjectIds   []string
	IPAddresses []string
	FreeText    string
	RecordTypes []int
	// ResultSize caps one page; 0 pages through everything.
	ResultSize int
	Cursor     string
}

func checkWindow(start, end time.Time) error {
	if !start.IsZero() && !end.IsZero() && !start.Before(end) {
		return audit.Errorf(audit.EInvalid, "The start date (%s) must be before the end date (%s).",
			start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339))
	}
	return nil
}

// split flattens comma lists, trimming and dropping empty entries.
func split(values []string) []string {
	var out []string
	for _, v := range values {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func operations(names []string, mailboxOnly bool) ([]string, error) {
	var out []string
	for _, n := range split(names) {
		op, ok := audit.ParseOperation(n)
		switch {
		case ok:
			out = append(out, op.String())
		case mailboxOnly:
			return nil, audit.Errorf(audit.EInvalid, "Unknown operation '%s'. Mailbox audit operations are %s.", n, strings.Join(audit.OpSet(^uint32(0)).Names(), ", "))
		default:
			out = append(out, n)
		}
	}
	return out, nil
}

// SearchMailboxAuditLog streams mailbox audit records, newest first, and
// returns the cursor of the next page ("" when there is none).
func (s *Service) SearchMailboxAuditLog(ctx context.Context, p MailboxSearch, fn func(*audit.Record) error) (string, error) {
	q, err := s.mailboxQuery(p)
	if err != nil {
		return "", err
	}
	return s.store.Search(ctx, q, fn)
}

// mailboxQuery checks a mailbox search and turns it into the store's query.
func (s *Service) mailboxQuery(p MailboxSearch) (*audit.Query, error) {
	if err := checkWindow(p.Start, p.End); err != nil {
		return nil, err
	}
	if p.ResultSize < 1 || p.ResultSize > MailboxSearchMax {
		return nil, audit.Errorf(audit.EInvalid, "ResultSize must be between 1 and %d, not %d.", MailboxSearchMax, p.ResultSize)
	}
	q := &audit.Query{
		Start: p.Start, End: p.End, Limit: p.ResultSize, Cursor: p.Cursor, ExternalOnly: p.ExternalAccess,
		RecordTypes: []audit.RecordType{audit.ExchangeItem, audit.ExchangeItemGroup, audit.ExchangeItemAggregated, audit.ExchangeSearch},
	}
	var err error
	if q.Operations, err = operations(p.Operations, true); err != nil {
		return nil, err
	}
	for _, lt := range split(p.LogonTypes) {
		if strings.EqualFold(lt, "External") {
			q.External = true
			continue
		}
		t, ok := audit.ParseLogonType(lt)
		if !ok {
			return nil, audit.Errorf(audit.EInvalid, "Unknown logon type '%s'. Logon types are Owner, Delegate, Admin and External.", lt)
		}
		q.LogonTypes = append(q.LogonTypes, t)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range split(p.Identities) {
		m, err := s.dir.ResolveAny(id)
		if err != nil {
			return nil, err
		}
		q.Mailboxes = append(q.Mailboxes, m.Guid)
	}
	return q, nil
}

// SearchUnifiedAuditLog streams every kind of record, newest first.
func (s *Service) SearchUnifiedAuditLog(ctx context.Context, p UnifiedSearch, fn func(*audit.Record) error) (string, error) {
	if err := checkWindow(p.Start, p.End); err != nil {
		return "", err
	}
	if p.ResultSize < 0 {
		return "", audit.Errorf(audit.EInvalid, "ResultSize must be a positive number or unlimited, not %d.", p.ResultSize)
	}
	q := &audit.Query{Start: p.Start, End: p.End, Limit: p.ResultSize, Cursor: p.Cursor, FreeText: p.FreeText,
		ObjectIds: split(p.ObjectIds), IPAddresses: split(p.IPAddresses)}
	var err error
	if q.Operations, err = operations(p.Operations, false); err != nil {
		return "", err
	}
	for _, t := range p.RecordTypes {
		q.RecordTypes = append(q.RecordTypes, audit.RecordType(t))
	}
	s.mu.Lock()
	for _, u := range split(p.UserIds) {
		q.UserIds = append(q.UserIds, u)
		if m, err := s.dir.ResolveAny(u); err == nil {
			if !strings.EqualFold(m.PrimarySmtpAddress, u) {
				q.UserIds = append(q.UserIds, m.PrimarySmtpAddress)
			}
			q.UserMailboxes = append(q.UserMailboxes, m.Guid)
		}
	}
	s.mu.Unlock()
	return s.store.Search(ctx, q, fn)
}

// Retain applies every mailbox's AuditLogAgeLimit now, expires background
// search results past SearchResultAgeLimit (they are copies of records), and
// records that it did.
func (s *Service) Retain(ctx context.Context, actor string) (int64, error) {
	defer s.lockWrite()()
	cut := audit.RetentionAt(s.dir, s.Now().UTC())
	// Searches go on while whole weeks are deleted.
	s.mu.Unlock()
	n, err := s.store.Retain(ctx, cut)
	var expired int
	if err == nil {
		expired, err = s.ExpireSearchResults(ctx, s.SearchResultAgeLimit)
	}
	s.mu.Lock()
	if err != nil {
		return n, err
	}
	params := []audit.NameValue{{Name: "RecordsDeleted", Value: fmt.Sprint(n)}}
	if expired > 0 {
		params = append(params, audit.NameValue{Name: "SearchResultsExpired", Value: fmt.Sprint(expired)})
	}
	s.adminRecord(actor, "Start-AuditRetention", s.dir.Org.Name, nil, params, nil, true)
	return n, s.commit(ctx, &audit.Commit{Positions: map[string]string{lastRetentionKey: s.Now().UTC().Format(time.RFC3339Nano)}})
}

// lastRetentionKey is where the time of the last retention run is kept, with
// the sources' positions.
const lastRetentionKey = "mailaudit:retention"

// LastRetention is when retention last ran (zero if it never did), so that
// a schedule survives restarts of the daemon.
func (s *Service) LastRetention(ctx context.Context) (time.Time, error) {
	raw, err := s.store.Position(ctx, lastRetentionKey)
	if err != nil || raw == "" {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, raw)
	if err != nil {
		return time.Time{}, fmt.Errorf("retention: the time of the last run is damaged: %q", raw)
	}
	return t, nil
}

// OrganizationID is the organisation's GUID, which record Ids derive from.
func (s *Service) OrganizationID() uuid.UUID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dir.Org.Id
}
