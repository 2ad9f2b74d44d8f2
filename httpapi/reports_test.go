package httpapi_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mailaudit/mailaudit/httpapi"
	"github.com/mailaudit/mailaudit/service"
	"github.com/mailaudit/mailaudit/token"
)

// reportEnv is a server whose log holds a delegate's, an administrator's and
// the operator's staff's access to alice's mailbox, and a bypassed service
// account with a grant.
func reportEnv(t *testing.T) (*env, time.Time) {
	t.Helper()
	e := newEnv(t)
	for _, addr := range []string{"alice@example.com", "bob@example.com", "dave@example.com"} {
		e.mailbox(t, `{"Address": "`+addr+`"}`)
	}
	e.must(t, 200, call{method: "POST", path: "/api/v1/permissions", role: token.Admin,
		body: `{"Identity": "alice@example.com", "User": "bob@example.com", "AccessRights": "FullAccess"}`})
	e.must(t, 200, call{method: "POST", path: "/api/v1/permissions", role: token.Admin,
		body: `{"Identity": "alice@example.com", "User": "svc-backup", "AccessRights": "FullAccess"}`})
	e.must(t, 200, call{method: "PATCH", path: "/api/v1/bypass-associations", role: token.Admin,
		query: url.Values{"identity": {"svc-backup"}}, body: `{"AuditBypassEnabled": true}`})
	now := time.Now().UTC().Truncate(time.Second)
	item := map[string]any{"Folder": map[string]any{"Path": "/Inbox"},
		"Items": []map[string]any{{"Id": "INBOX:1:1", "InternetMessageId": "<m1@example.com>", "Subject": "Salaries"}}}
	lines := []string{
		activity("r-1", "SoftDelete", "bob@example.com", "alice@example.com", now.Add(-3*time.Hour), item),
		activity("r-2", "Update", "bob@example.com", "alice@example.com", now.Add(-2*time.Hour), item),
		activity("r-3", "HardDelete", "dave@example.com", "alice@example.com", now.Add(-time.Hour),
			map[string]any{"Source": "dovecot", "LogonTypeHint": "Admin", "Items": []map[string]any{{"Id": "INBOX:1:2"}}}),
		activity("r-4", "Update", "ops@provider.example", "alice@example.com", now.Add(-30*time.Minute),
			map[string]any{"ExternalAccess": true, "Items": []map[string]any{{"Id": "INBOX:1:3"}}}),
		activity("r-5", "HardDelete", "svc-backup", "alice@example.com", now.Add(-20*time.Minute), nil),
		activity("r-6", "SoftDelete", "alice@example.com", "alice@example.com", now.Add(-10*time.Minute), item),
	}
	e.must(t, 200, call{method: "POST", path: "/api/v1/activity", role: token.Ingest, ctype: ndjson, body: strings.Join(lines, "\n") + "\n"})
	return e, now
}

func TestNonOwnerReportOverHTTP(t *testing.T) {
	e, _ := reportEnv(t)
	var rep service.NonOwnerReport
	e.must(t, 200, call{method: "GET", path: "/api/v1/reports/non-owner-mailbox-access", role: token.Auditor,
		query: url.Values{"entries": {"true"}, "sort-by": {"mailbox"}}}).decode(t, &rep)
	var got []string
	for _, l := range rep.Lines {
		got = append(got, l.AccessedBy+" "+l.LogonType)
		if len(l.Entries) != l.EntryCount {
			t.Errorf("%s: %d entries listed, %d counted", l.AccessedBy, len(l.Entries), l.EntryCount)
		}
	}
	if strings.Join(got, ", ") != "bob@example.com Delegate, dave@example.com Admin, ops@provider.example Delegate" ||
		rep.MailboxesAccessed != 1 || rep.NonOwners != 3 || rep.Entries != 4 || rep.AccessType != service.AllNonOwners {
		t.Errorf("lines %q, %d mailboxes, %d non-owners, %d entries, %s", got, rep.MailboxesAccessed, rep.NonOwners, rep.Entries, rep.AccessType)
	}
	if d := rep.End.Sub(rep.Start); d != 14*24*time.Hour {
		t.Errorf("default period %s, want two weeks", d)
	}
	for _, tc := range []struct {
		query url.Values
		want  string
	}{
		{url.Values{"access-type": {"External users"}}, "ops@provider.example"},
		{url.Values{"access-type": {"administrators"}, "mailboxes": {"alice"}}, "dave@example.com"},
		{url.Values{"start": {"-45m"}, "end": {"now"}}, "ops@provider.example"},
	} {
		var r service.NonOwnerReport
		e.must(t, 200, call{method: "GET", path: "/api/v1/reports/non-owner-mailbox-access", role: token.Auditor, query: tc.query}).decode(t, &r)
		if len(r.Lines) != 1 || r.Lines[0].AccessedBy != tc.want || r.Lines[0].Entries != nil {
			t.Errorf("%v: %d lines, want %s alone without entries", tc.query, len(r.Lines), tc.want)
		}
	}
	for _, tc := range []struct {
		name   string
		role   token.Role
		query  url.Values
		status int
		msg    string
	}{
		{"the admin role", token.Admin, nil, 403, "this token's role may not do this"},
		{"the ingest role", token.Ingest, nil, 403, "this token's role may not do this"},
		{"dates reversed", token.Auditor, url.Values{"start": {"2026-11-10"}, "end": {"2026-11-01"}}, 400,
			"The start date (2026-11-10T00:00:00Z) must be before the end date (2026-11-01T00:00:00Z)."},
		{"not a date", token.Auditor, url.Values{"start": {"yesterday"}}, 400, "'yesterday' is not a date"},
		{"unknown mailbox", token.Auditor, url.Values{"mailboxes": {"alice,ghost@example.com"}}, 404, "The mailbox 'ghost@example.com' couldn't be found."},
		{"unknown access type", token.Auditor, url.Values{"access-type": {"Janitors"}}, 400, "Unknown access type 'Janitors'."},
		{"unknown order", token.Auditor, url.Values{"sort-by": {"size"}}, 400, "Unknown sort order 'size'."},
		{"entries not a boolean", token.Auditor, url.Values{"entries": {"lots"}}, 400, `query parameter entries: "lots" is not true or false`},
		{"unknown parameter", token.Auditor, url.Values{"result-size": {"10"}}, 400, `unknown query parameter "result-size"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := e.do(t, call{method: "GET", path: "/api/v1/reports/non-owner-mailbox-access", role: tc.role, query: tc.query})
			if a.status != tc.status {
				t.Fatalf("status %d, want %d: %s", a.status, tc.status, a.body)
			}
			if _, msg := a.apiError(t); !strings.Contains(msg, tc.msg) {
				t.Errorf("message %q, want it to say %q", msg, tc.msg)
			}
		})
	}
}

func TestAuditConfigReportOverHTTP(t *testing.T) {
	e, _ := reportEnv(t)
	var rep service.AuditConfigReport
	e.must(t, 200, call{method: "GET", path: "/api/v1/reports/mailbox-audit-configuration", role: token.Auditor}).decode(t, &rep)
	if rep.MailboxCount != 3 || rep.Audited != 3 || rep.BypassedAccess != 1 || len(rep.BypassedAccounts) != 1 ||
		rep.BypassedAccounts[0].Account != "svc-backup" {
		t.Errorf("report: %+v", rep)
	}
	alice := rep.Mailboxes[0]
	if alice.Mailbox != "alice@example.com" || len(alice.BypassedAccess) != 1 || strings.Join(alice.BypassedAccess[0].Access, ",") != "FullAccess" {
		t.Errorf("alice: %+v", alice)
	}
	e.must(t, 200, call{method: "GET", path: "/api/v1/reports/mailbox-audit-configuration", role: token.Auditor,
		query: url.Values{"filter": {"PrimarySmtpAddress -like 'b*'"}}}).decode(t, &rep)
	if rep.MailboxCount != 1 || rep.Mailboxes[0].Mailbox != "bob@example.com" {
		t.Errorf("filtered: %+v", rep.Mailboxes)
	}
	for _, tc := range []struct {
		role   token.Role
		query  url.Values
		status int
	}{
		{token.Admin, nil, 403},
		{token.Auditor, url.Values{"identity": {"ghost"}}, 404},
		{token.Auditor, url.Values{"filter": {"Colour -eq 'red'"}}, 400},
		{token.Auditor, url.Values{"type": {"Spaceship"}}, 400},
	} {
		a := e.do(t, call{method: "GET", path: "/api/v1/reports/mailbox-audit-configuration", role: tc.role, query: tc.query})
		if a.status != tc.status {
			t.Errorf("%v as %s: status %d, want %d: %s", tc.query, tc.role, a.status, tc.status, a.body)
		}
	}
}

// TestReportsThroughClient: with --server, the command line gets what the
// service answers locally.
func TestReportsThroughClient(t *testing.T) {
	e, now := reportEnv(t)
	ctx := context.Background()
	c, err := httpapi.NewClient(e.srv.URL, e.secrets[token.Auditor], "")
	if err != nil {
		t.Fatal(err)
	}
	spec := service.NonOwnerReportSpec{Start: now.Add(-24 * time.Hour), End: now, Entries: true, AccessType: "AdministratorsAndDelegates"}
	remote, err := c.NonOwnerAccessReport(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	local, err := e.svc.NonOwnerAccessReport(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "non-owner report", remote, local)
	if len(remote.Lines) != 2 {
		t.Errorf("%d lines, want 2 (bob's and dave's; ops@ is external)", len(remote.Lines))
	}
	remoteCfg, err := c.AuditConfigurationReport(ctx, service.MailboxQuery{Identity: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	localCfg, err := e.svc.AuditConfigurationReport(ctx, service.MailboxQuery{Identity: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	same(t, "configuration report", remoteCfg, localCfg)
	if _, err := c.NonOwnerAccessReport(ctx, service.NonOwnerReportSpec{Mailboxes: []string{"ghost"}}); err == nil ||
		err.Error() != "The mailbox 'ghost' couldn't be found." {
		t.Errorf("an unknown mailbox: %v", err)
	}
}

func same(t *testing.T, what string, got, want any) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Errorf("%s over HTTP:\n%s\nlocally:\n%s", what, g, w)
	}
}
