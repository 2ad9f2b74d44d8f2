package httpapi

import (
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/mailaudit/mailaudit/audit"
	"github.com/mailaudit/mailaudit/service"
	"github.com/mailaudit/mailaudit/token"
)

// Background searches (new-mailbox-audit-log-search, get-audit-log-search):
// searching the audit log, so the auditor role's.
func (s *Server) auditLogSearchRoutes() []route {
	auditor := []token.Role{token.Auditor}
	return []route{
		{"POST", "/api/v1/audit-log-searches", auditor, s.newAuditLogSearch, false},
		{"GET", "/api/v1/audit-log-searches", auditor, s.getAuditLogSearches, false},
		{"GET", "/api/v1/audit-log-searches/{identity}/result", auditor, s.getAuditLogSearchResult, false},
	}
}

// NewAuditLogSearch is the body of POST /api/v1/audit-log-searches:
// New-MailboxAuditLogSearch's parameters. StartDate and EndDate take what
// the command line's times take (RFC 3339, a date, an age like -7d).
type NewAuditLogSearch struct {
	Name                 string   `json:",omitempty"`
	Mailboxes            []string `json:",omitempty"`
	StartDate            string
	EndDate              string
	LogonTypes           []string `json:",omitempty"`
	Operations           []string `json:",omitempty"`
	ShowDetails          bool     `json:",omitempty"`
	ExternalAccess       bool     `json:",omitempty"`
	StatusMailRecipients []string
	Formats              []string `json:",omitempty"`
}

// AuditLogSearchJSON is a background search as get-audit-log-search shows it.
type AuditLogSearchJSON struct {
	Identity             uuid.UUID
	Name                 string
	Type                 string
	State                audit.SearchState
	CreatedBy            string
	CreationTime         time.Time
	Mailboxes            []string
	StartDate            time.Time
	EndDate              time.Time
	LogonTypes           []string
	Operations           []string
	ShowDetails          bool
	ExternalAccess       bool
	StatusMailRecipients []string
	Formats              []string
	Records              int64
	CompletedTime        *time.Time `json:",omitempty"`
	DeliveryAttempts     int
	LastError            string     `json:",omitempty"`
	NextAttempt          *time.Time `json:",omitempty"`
	DeliveredTime        *time.Time `json:",omitempty"`
	// ResultExpiredTime: retention deleted the kept result then.
	ResultExpiredTime *time.Time `json:",omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

func auditLogSearchJSON(as *audit.AuditLogSearch) AuditLogSearchJSON {
	return AuditLogSearchJSON{Identity: as.Identity, Name: as.Name, Type: "Mailbox", State: as.State, CreatedBy: as.CreatedBy,
		CreationTime: as.CreationTime, Mailboxes: nonNil(as.Mailboxes), StartDate: as.StartDate, EndDate: as.EndDate,
		LogonTypes: nonNil(as.LogonTypes), Operations: nonNil(as.Operations), ShowDetails: as.ShowDetails, ExternalAccess: as.ExternalAccess,
		StatusMailRecipients: nonNil(as.StatusMailRecipients), Formats: nonNil(as.Formats), Records: as.Records,
		CompletedTime: timePtr(as.CompletedTime), DeliveryAttempts: as.DeliveryAttempts, LastError: as.LastError,
		NextAttempt: timePtr(as.NextAttempt), DeliveredTime: timePtr(as.DeliveredTime), ResultExpiredTime: timePtr(as.ResultExpiredTime)}
}

func (j *AuditLogSearchJSON) search() *audit.AuditLogSearch {
	as := &audit.AuditLogSearch{Identity: j.Identity, Name: j.Name, State: j.State, CreatedBy: j.CreatedBy, CreationTime: j.CreationTime,
		Mailboxes: j.Mailboxes, StartDate: j.StartDate, EndDate: j.EndDate, LogonTypes: j.LogonTypes, Operations: j.Operations,
		ShowDetails: j.ShowDetails, ExternalAccess: j.ExternalAccess, StatusMailRecipients: j.StatusMailRecipients, Formats: j.Formats,
		Records: j.Records, DeliveryAttempts: j.DeliveryAttempts, LastError: j.LastError}
	for _, t := range []struct {
		from *time.Time
		to   *time.Time
	}{{j.CompletedTime, &as.CompletedTime}, {j.NextAttempt, &as.NextAttempt}, {j.DeliveredTime, &as.DeliveredTime},
		{j.ResultExpiredTime, &as.ResultExpiredTime}} {
		if t.from != nil {
			*t.to = *t.from
		}
	}
	return as
}

func (s *Server) newAuditLogSearch(w http.ResponseWriter, r *http.Request, p principal) error {
	if err := newQuery(r).err; err != nil {
		return err
	}
	var in NewAuditLogSearch
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	if s.Runner == nil || s.Runner.Mailer == nil {
		return badRequest("background searches mail their result, and this daemon has no SMTP relay (smtp.relay in its configuration)")
	}
	now := time.Now()
	spec := service.NewAuditLogSearchSpec{Name: in.Name, Mailboxes: in.Mailboxes, LogonTypes: in.LogonTypes, Operations: in.Operations,
		ShowDetails: in.ShowDetails, ExternalAccess: in.ExternalAccess, StatusMailRecipients: in.StatusMailRecipients, Formats: in.Formats}
	var err error
	if in.StartDate != "" {
		if spec.StartDate, err = service.ParseWhen(in.StartDate, now); err != nil {
			return err
		}
	}
	if in.EndDate != "" {
		if spec.EndDate, err = service.ParseWhen(in.EndDate, now); err != nil {
			return err
		}
	}
	as, err := s.Service.NewAuditLogSearch(r.Context(), p.name, spec)
	if err != nil {
		return err
	}
	s.Runner.Wake()
	writeJSON(w, http.StatusCreated, auditLogSearchJSON(as))
	return nil
}

func (s *Server) getAuditLogSearches(w http.ResponseWriter, r *http.Request, _ principal) error {
	q := newQuery(r, "identity", "created-after", "created-before", "result-size")
	sq := service.AuditLogSearchQuery{Identity: q.str("identity"), ResultSize: q.integer("result-size", 1000)}
	if q.err != nil {
		return q.err
	}
	now := time.Now()
	var err error
	if v := q.str("created-after"); v != "" {
		if sq.CreatedAfter, err = service.ParseWhen(v, now); err != nil {
			return err
		}
	}
	if v := q.str("created-before"); v != "" {
		if sq.CreatedBefore, err = service.ParseWhen(v, now); err != nil {
			return err
		}
	}
	found, err := s.Service.AuditLogSearches(r.Context(), sq)
	if err != nil {
		return err
	}
	out := make([]AuditLogSearchJSON, 0, len(found))
	for _, as := range found {
		out = append(out, auditLogSearchJSON(as))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

var resultTypes = map[string]string{"xml": "application/xml", "csv": "text/csv", "json": "application/x-ndjson"}

func (s *Server) getAuditLogSearchResult(w http.ResponseWriter, r *http.Request, _ principal) error {
	q := newQuery(r, "format")
	if q.err != nil {
		return q.err
	}
	format := strings.ToLower(q.str("format"))
	if format == "" {
		format = "xml"
	}
	f, err := s.Service.AuditLogSearchResult(r.Context(), r.PathValue("identity"), format)
	if err != nil {
		return err
	}
	defer f.Close()
	w.Header().Set("Content-Type", resultTypes[format])
	w.Header().Set("Content-Disposition", `attachment; filename="SearchResult.`+format+`"`)
	w.WriteHeader(http.StatusOK)
	_, err = io.Copy(w, f)
	if err != nil {
		s.Log.Warn("sending a search result", "error", err)
	}
	return nil
}
