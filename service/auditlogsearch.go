package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/mailaudit/mailaudit/audit"
)

// NewAuditLogSearchSpec is new-mailbox-audit-log-search's question.
type NewAuditLogSearchSpec struct {
	Name                 string
	Mailboxes            []string
	StartDate, EndDate   time.Time
	LogonTypes           []string
	Operations           []string
	ShowDetails          bool
	ExternalAccess       bool
	StatusMailRecipients []string
	// Formats are the attachments: xml always, csv and json on request.
	Formats []string
}

// MaxSearchName is the longest Name Exchange accepts.
const MaxSearchName = 64

// ResultFormats are the formats a search's result is kept in.
var ResultFormats = []string{"xml", "csv", "json"}

// NewAuditLogSearch checks a background search and queues it; the daemon
// runs it. The request is recorded as an admin audit record, as Exchange
// records New-MailboxAuditLogSearch.
func (s *Service) NewAuditLogSearch(ctx context.Context, actor string, spec NewAuditLogSearchSpec) (*audit.AuditLogSearch, error) {
	if n := utf8.RuneCountInString(spec.Name); n > MaxSearchName {
		return nil, audit.Errorf(audit.EInvalid, "Name: The length of the property is too long. The maximum length is %d and the length of the value provided is %d.", MaxSearchName, n)
	}
	if spec.StartDate.IsZero() || spec.EndDate.IsZero() {
		return nil, audit.Errorf(audit.EInvalid, "StartDate and EndDate are required.")
	}
	if err := checkWindow(spec.StartDate, spec.EndDate); err != nil {
		return nil, err
	}
	recipients := split(spec.StatusMailRecipients)
	if len(recipients) == 0 {
		return nil, audit.Errorf(audit.EInvalid, "StatusMailRecipients is required: the addresses the result is mailed to.")
	}
	for _, r := range recipients {
		if !validAddress(r) {
			return nil, audit.Errorf(audit.EInvalid, "'%s' isn't a valid SMTP address.", r)
		}
	}
	formats := []string{"xml"}
	for _, f := range split(spec.Formats) {
		f = strings.ToLower(f)
		if !slices.Contains(ResultFormats, f) {
			return nil, audit.Errorf(audit.EInvalid, "Unknown result format '%s'. Formats are xml, csv and json.", f)
		}
		if !slices.Contains(formats, f) {
			formats = append(formats, f)
		}
	}
	// Exchange's rule: owner access only with the full details.
	if !spec.ShowDetails {
		for _, lt := range split(spec.LogonTypes) {
			if t, ok := audit.ParseLogonType(lt); ok && t == audit.Owner {
				return nil, audit.Errorf(audit.EInvalid, "The logon type Owner requires ShowDetails (--show-details): owner access is searched only with every entry's full details.")
			}
		}
	}
	// The same checks as the search itself, so that a mistake is refused
	// now rather than found by the daemon later.
	q := MailboxSearch{Identities: spec.Mailboxes, Start: spec.StartDate, End: spec.EndDate, Operations: spec.Operations,
		LogonTypes: spec.LogonTypes, ExternalAccess: spec.ExternalAccess, ResultSize: 1}
	if _, err := s.mailboxQuery(q); err != nil {
		return nil, err
	}
	as := &audit.AuditLogSearch{
		Identity: uuid.New(), Name: spec.Name, CreatedBy: actor, CreationTime: s.Now().UTC(),
		StartDate: spec.StartDate.UTC(), EndDate: spec.EndDate.UTC(), LogonTypes: split(spec.LogonTypes), Operations: split(spec.Operations),
		ShowDetails: spec.ShowDetails, ExternalAccess: spec.ExternalAccess, StatusMailRecipients: recipients,
		Formats: formats, State: audit.SearchQueued,
	}
	unlock := s.lockWrite()
	for _, id := range split(spec.Mailboxes) {
		m, err := s.dir.ResolveAny(id)
		if err != nil {
			unlock()
			return nil, err
		}
		as.Mailboxes = append(as.Mailboxes, m.PrimarySmtpAddress)
	}
	if as.Name == "" {
		as.Name = "Mailbox audit log search " + as.Identity.String()[:8]
	}
	params := []audit.NameValue{{Name: "Name", Value: as.Name}, {Name: "StartDate", Value: as.StartDate.Format(time.RFC3339)},
		{Name: "EndDate", Value: as.EndDate.Format(time.RFC3339)}, {Name: "StatusMailRecipients", Value: strings.Join(recipients, ",")}}
	if len(as.Mailboxes) > 0 {
		params = append(params, audit.NameValue{Name: "Mailboxes", Value: strings.Join(as.Mailboxes, ",")})
	}
	s.adminRecord(actor, "New-MailboxAuditLogSearch", as.Identity.String(), nil, params, nil, true)
	err := s.commit(ctx, &audit.Commit{})
	unlock()
	if err != nil {
		return nil, err
	}
	if err := s.store.SaveAuditLogSearch(ctx, as); err != nil {
		return nil, err
	}
	return as, nil
}

func validAddress(a string) bool {
	i := strings.IndexByte(a, '@')
	return i > 0 && i < len(a)-1 && !strings.ContainsAny(a, " ,;<>\"")
}

// AuditLogSearchQuery selects background searches (get-audit-log-search).
type AuditLogSearchQuery struct {
	Identity      string
	CreatedAfter  time.Time
	CreatedBefore time.Time
	// ResultSize caps the list; 0 lists all.
	ResultSize int
}

// AuditLogSearches lists background searches, newest first. An Identity
// that matches none is ENotFound.
func (s *Service) AuditLogSearches(ctx context.Context, q AuditLogSearchQuery) ([]*audit.AuditLogSearch, error) {
	all, err := s.store.AuditLogSearches(ctx)
	if err != nil {
		return nil, err
	}
	var out []*audit.AuditLogSearch
	for i := len(all) - 1; i >= 0; i-- {
		as := all[i]
		switch {
		case q.Identity != "" && !strings.EqualFold(q.Identity, as.Identity.String()) && !strings.EqualFold(q.Identity, as.Name):
		case !q.CreatedAfter.IsZero() && !as.CreationTime.After(q.CreatedAfter):
		case !q.CreatedBefore.IsZero() && !as.CreationTime.Before(q.CreatedBefore):
		default:
			out = append(out, as)
		}
	}
	if q.Identity != "" && len(out) == 0 {
		return nil, audit.Errorf(audit.ENotFound, "The audit log search '%s' couldn't be found.", q.Identity)
	}
	if q.ResultSize > 0 && len(out) > q.ResultSize {
		out = out[:q.ResultSize]
	}
	return out, nil
}

// ResultPath is where a search's result in a format is kept.
func ResultPath(dir string, id uuid.UUID, format string) string {
	return filepath.Join(dir, id.String()+"."+format)
}

// AuditLogSearchResult opens a finished search's result. The result files
// are in the directory the daemon keeps them in (ResultsDir).
func (s *Service) AuditLogSearchResult(ctx context.Context, identity, format string) (io.ReadCloser, error) {
	format = strings.ToLower(format)
	if format == "" {
		format = "xml"
	}
	found, err := s.AuditLogSearches(ctx, AuditLogSearchQuery{Identity: identity})
	if err != nil {
		return nil, err
	}
	if len(found) > 1 {
		return nil, audit.Errorf(audit.EConflict, "'%s' names %d searches; use the Identity (GUID).", identity, len(found))
	}
	as := found[0]
	switch {
	case as.State == audit.SearchFailed:
		return nil, audit.Errorf(audit.EInvalid, "The audit log search '%s' failed: %s", as.Name, as.LastError)
	case as.State == audit.SearchQueued || as.State == audit.SearchRunning:
		return nil, audit.Errorf(audit.EInvalid, "The audit log search '%s' is %s; its result is not ready yet.", as.Name, strings.ToLower(string(as.State)))
	case !slices.Contains(as.Formats, format):
		return nil, audit.Errorf(audit.EInvalid, "The audit log search '%s' was kept as %s, not %s.", as.Name, strings.Join(as.Formats, ", "), format)
	}
	if !as.ResultExpiredTime.IsZero() {
		return nil, audit.Errorf(audit.ENotFound, "The result of audit log search '%s' expired on %s and is no longer kept (retention.search_result_age_limit).",
			as.Name, as.ResultExpiredTime.UTC().Format(time.RFC3339))
	}
	f, err := os.Open(ResultPath(s.ResultsDir, as.Identity, format))
	if errors.Is(err, os.ErrNotExist) {
		return nil, audit.Errorf(audit.ENotFound, "The result of audit log search '%s' is no longer kept.", as.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("search result: %w", err)
	}
	return f, nil
}

// ExpireSearchResults deletes the kept results of the searches that
// finished (Delivered or DeliveryFailed) more than age ago, so that copies
// of audit records do not outlive the records, and saves on each search when
// (ResultExpiredTime). It returns how many searches' results it deleted. A
// search still being delivered keeps its result.
func (s *Service) ExpireSearchResults(ctx context.Context, age time.Duration) (int, error) {
	if age <= 0 {
		return 0, nil
	}
	all, err := s.store.AuditLogSearches(ctx)
	if err != nil {
		return 0, err
	}
	now := s.Now().UTC()
	cut := now.Add(-age)
	n := 0
	for _, as := range all {
		if as.State != audit.SearchDelivered && as.State != audit.SearchDeliveryFailed || !as.ResultExpiredTime.IsZero() ||
			as.CompletedTime.IsZero() || !as.CompletedTime.Before(cut) {
			continue
		}
		for _, format := range as.Formats {
			if err := os.Remove(ResultPath(s.ResultsDir, as.Identity, format)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return n, fmt.Errorf("search results: expiring %s: %w", as.Identity, err)
			}
		}
		as.ResultExpiredTime = now
		if err := s.store.SaveAuditLogSearch(ctx, as); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
