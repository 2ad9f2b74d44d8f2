package httpapi

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/mailaudit/mailaudit/service"
	"github.com/mailaudit/mailaudit/token"
)

// Reports (get-non-owner-mailbox-access-report,
// get-mailbox-audit-configuration-report): both read the audit log, so they
// are the auditor role's.
func (s *Server) reportRoutes() []route {
	auditor := []token.Role{token.Auditor}
	return []route{
		{"GET", "/api/v1/reports/non-owner-mailbox-access", auditor, s.nonOwnerReport, false},
		{"GET", "/api/v1/reports/mailbox-audit-configuration", auditor, s.auditConfigReport, false},
	}
}

func (s *Server) nonOwnerReport(w http.ResponseWriter, r *http.Request, _ principal) error {
	q := newQuery(r, "start", "end", "mailboxes", "access-type", "entries", "sort-by")
	spec := service.NonOwnerReportSpec{Mailboxes: q.list("mailboxes"), AccessType: q.str("access-type"), Entries: q.boolean("entries"),
		SortBy: q.str("sort-by")}
	if q.err != nil {
		return q.err
	}
	var err error
	if spec.Start, spec.End, err = service.NonOwnerWindow(q.str("start"), q.str("end"), time.Now()); err != nil {
		return err
	}
	// A report is a search of the log: it takes a search slot, and sees
	// the aggregates whose window has ended (unless a writer is busy, as
	// searches do).
	release, err := s.acquire(r.Context())
	if err != nil {
		return err
	}
	defer release()
	began := time.Now()
	defer func() { s.Metrics.Searched("non-owner-report", time.Since(began)) }()
	if err := s.Service.TryFlush(r.Context()); err != nil {
		s.Log.Warn("sealing aggregates before a report", "error", err)
	}
	rep, err := s.Service.NonOwnerAccessReport(r.Context(), spec)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

func (s *Server) auditConfigReport(w http.ResponseWriter, r *http.Request, _ principal) error {
	q := newQuery(r, "identity", "filter", "type")
	if q.err != nil {
		return q.err
	}
	rep, err := s.Service.AuditConfigurationReport(r.Context(), q.mailboxes())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

// NonOwnerAccessReport runs the non-owner mailbox access report.
func (c *Client) NonOwnerAccessReport(ctx context.Context, spec service.NonOwnerReportSpec) (*service.NonOwnerReport, error) {
	q := url.Values{}
	setWindow(q, spec.Start, spec.End)
	setList(q, "mailboxes", spec.Mailboxes)
	if spec.AccessType != "" {
		q.Set("access-type", spec.AccessType)
	}
	if spec.SortBy != "" {
		q.Set("sort-by", spec.SortBy)
	}
	q.Set("entries", strconv.FormatBool(spec.Entries))
	var rep service.NonOwnerReport
	if err := c.get(ctx, "GET", "/api/v1/reports/non-owner-mailbox-access", q, nil, &rep); err != nil {
		return nil, err
	}
	return &rep, nil
}

// AuditConfigurationReport runs the mailbox audit configuration report.
func (c *Client) AuditConfigurationReport(ctx context.Context, q service.MailboxQuery) (*service.AuditConfigReport, error) {
	var rep service.AuditConfigReport
	if err := c.get(ctx, "GET", "/api/v1/reports/mailbox-audit-configuration", mailboxQuery(q), nil, &rep); err != nil {
		return nil, err
	}
	return &rep, nil
}
