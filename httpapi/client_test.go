package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailaudit/mailaudit/audit"
	"github.com/mailaudit/mailaudit/export"
	"github.com/mailaudit/mailaudit/httpapi"
	"github.com/mailaudit/mailaudit/service"
	"github.com/mailaudit/mailaudit/sqlite"
	"github.com/mailaudit/mailaudit/token"
)

func (e *env) client(t *testing.T, role token.Role) *httpapi.Client {
	t.Helper()
	c, err := httpapi.NewClient(e.srv.URL, e.secrets[role], "")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// views renders mailboxes as get-mailbox -o json does.
func (e *env) views(t *testing.T, ms []*audit.Mailbox) []string {
	var out []string
	for _, m := range ms {
		out = append(out, asJSON(t, service.MailboxView(e.svc.Profile(), m)))
	}
	return out
}

// localMailboxes is what the command line sees in local mode.
func (e *env) localMailboxes(t *testing.T, q service.MailboxQuery) []string {
	t.Helper()
	ms, err := e.svc.Mailboxes(q)
	if err != nil {
		t.Fatal(err)
	}
	return e.views(t, ms)
}

func sameStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s over HTTP:\n%s\nlocally:\n%s", what, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestClientConfiguration: every configuration method of the client gives
// what the service gives locally.
func TestClientConfiguration(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.client(t, token.Admin)
	aud := e.client(t, token.Auditor)

	// New-Mailbox.
	for _, spec := range []service.NewMailboxSpec{
		{Address: "alice@example.com", DisplayName: "Alice Liddell", Attributes: map[string]string{"Department": "Legal", "CustomAttribute15": "Audit-Full"}},
		{Address: "bob@example.com", Alias: "bobby", EmailAddresses: []string{"robert@example.com"}},
		{Address: "shared@example.com", Type: "SharedMailbox"},
		{Address: "room@example.com", Type: "RoomMailbox"},
	} {
		m, err := c.NewMailbox(ctx, "ignored", spec)
		if err != nil {
			t.Fatalf("NewMailbox %s: %v", spec.Address, err)
		}
		sameStrings(t, "the new mailbox", e.views(t, []*audit.Mailbox{m}),
			e.localMailboxes(t, service.MailboxQuery{Identity: spec.Address}))
	}

	// Get-Mailbox, by identity, filter and type, as admin and as auditor.
	for _, q := range []service.MailboxQuery{
		{},
		{Identity: "robert@example.com"},
		{Filter: "Department -eq 'Legal'"},
		{Types: []string{"SharedMailbox", "RoomMailbox"}},
		{Filter: "{RecipientTypeDetails -eq 'UserMailbox'}", Types: []string{"UserMailbox"}},
	} {
		for _, cl := range []*httpapi.Client{c, aud} {
			ms, err := cl.Mailboxes(ctx, q)
			if err != nil {
				t.Fatalf("Mailboxes %+v: %v", q, err)
			}
			sameStrings(t, fmt.Sprintf("Mailboxes %+v", q), e.views(t, ms), e.localMailboxes(t, q))
		}
	}
	all, _ := e.svc.Mailboxes(service.MailboxQuery{})
	if len(all) != 4 {
		t.Fatalf("%d mailboxes, want 4", len(all))
	}

	// Set-Mailbox: lists, age limit, attributes; the answer's mailboxes are
	// the mailboxes as they are now.
	on := true
	ch := audit.MailboxChange{AuditEnabled: &on, AuditLogAgeLimit: "180", Attributes: map[string]string{"Office": "Berlin", "Department": ""}}
	ch.Lists[audit.Owner] = audit.ListChange{Add: []string{"MailboxLogin"}}
	ch.Lists[audit.Delegate] = audit.ListChange{Replace: []string{"SendAs", "SendOnBehalf"}}
	params := []audit.NameValue{{Name: "Identity", Value: "alice@example.com"}, {Name: "AuditEnabled", Value: "True"}}
	res, err := c.SetMailbox(ctx, "ignored", service.MailboxQuery{Identity: "alice@example.com"}, ch, params)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Object != "alice@example.com" || res[0].Err != nil || len(res[0].Modified) == 0 || res[0].Mailbox == nil {
		t.Fatalf("SetMailbox: %+v", res)
	}
	sameStrings(t, "the changed mailbox", e.views(t, []*audit.Mailbox{res[0].Mailbox}),
		e.localMailboxes(t, service.MailboxQuery{Identity: "alice@example.com"}))
	modified := map[string]audit.ModifiedProperty{}
	for _, m := range res[0].Modified {
		modified[m.Name] = m
	}
	if modified["AuditEnabled"].NewValue != "True" || modified["Office"].NewValue != "Berlin" || modified["Department"].OldValue != "Legal" || modified["AuditLogAgeLimit"].NewValue != "180.00:00:00" {
		t.Errorf("Modified %+v", res[0].Modified)
	}
	// The admin record lists the parameters the client sent, as the
	// command line's are listed locally.
	var adminRecs []*audit.Record
	if _, err := e.svc.SearchUnifiedAuditLog(ctx, service.UnifiedSearch{Operations: []string{"Set-Mailbox"}, RecordTypes: []int{1}},
		func(r *audit.Record) error { adminRecs = append(adminRecs, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(adminRecs) != 1 || !reflect.DeepEqual(adminRecs[0].Parameters, params) || adminRecs[0].UserId != tokenNames[token.Admin] {
		t.Errorf("admin records of Set-Mailbox: %+v", adminRecs)
	}

	// Set-Mailbox over a filter: one result per mailbox, a refused one with
	// its error, the others changed.
	ch = audit.MailboxChange{}
	ch.Lists[audit.Owner] = audit.ListChange{Add: []string{"MailboxLogin"}}
	res, err = c.SetMailbox(ctx, "ignored", service.MailboxQuery{Types: []string{"UserMailbox", "SharedMailbox"}}, ch, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 {
		t.Fatalf("SetMailbox over a filter: %d results, want 3: %+v", len(res), res)
	}
	for _, r := range res {
		switch r.Object {
		case "alice@example.com": // audits it already: refused on its own
			if audit.ErrorCode(r.Err) != audit.EInvalid || !strings.Contains(r.Err.Error(), "already being audited") || len(r.Modified) != 0 {
				t.Errorf("%s: %+v", r.Object, r)
			}
		default:
			if r.Err != nil || len(r.Modified) == 0 {
				t.Errorf("%s: %+v", r.Object, r)
			}
		}
	}

	// Permissions.
	r, err := c.AddPermission(ctx, "ignored", "alice@example.com", "bobby", "FullAccess")
	if err != nil || r.Object != "alice@example.com" || len(r.Modified) != 1 || r.Modified[0].NewValue != "bob@example.com" {
		t.Fatalf("AddPermission: %+v, %v", r, err)
	}
	if _, err := c.AddPermission(ctx, "ignored", "shared@example.com", "svc-archiver", "SendAs"); err != nil {
		t.Fatal(err)
	}
	r, err = c.AddPermission(ctx, "ignored", "alice@example.com", "bob@example.com", "FullAccess")
	if err != nil || r.Warning == "" || len(r.Modified) != 0 {
		t.Errorf("granting again: %+v, %v", r, err)
	}
	for _, id := range []string{"", "alice@example.com", "Shared"} {
		got, err := aud.Permissions(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		want, err := e.svc.Permissions(id)
		if err != nil {
			t.Fatal(err)
		}
		var g, w []string
		for _, p := range got {
			g = append(g, asJSON(t, p.View()))
		}
		for _, p := range want {
			w = append(w, asJSON(t, p.View()))
		}
		sameStrings(t, "Permissions "+id, g, w)
		if id == "" && len(g) != 2 {
			t.Errorf("%d grants, want 2", len(g))
		}
	}
	r, err = c.RemovePermission(ctx, "ignored", "alice@example.com", "bob@example.com", "FullAccess")
	if err != nil || len(r.Modified) != 1 || r.Modified[0].OldValue != "bob@example.com" {
		t.Errorf("RemovePermission: %+v, %v", r, err)
	}
	if ps, _ := e.svc.Permissions("alice@example.com"); len(ps) != 0 {
		t.Errorf("the grant is still there: %+v", ps)
	}

	// Bypass associations: an account that is no mailbox, and mailboxes by
	// filter.
	res, err = c.SetBypass(ctx, "ignored", service.MailboxQuery{Identity: "svc-backup"}, true)
	if err != nil || len(res) != 1 || res[0].Object != "svc-backup" || len(res[0].Modified) != 1 {
		t.Fatalf("SetBypass: %+v, %v", res, err)
	}
	res, err = c.SetBypass(ctx, "ignored", service.MailboxQuery{Types: []string{"RoomMailbox"}}, true)
	if err != nil || len(res) != 1 || res[0].Object != "room@example.com" {
		t.Fatalf("SetBypass by type: %+v, %v", res, err)
	}
	for _, id := range []string{"", "svc-backup", "room@example.com"} {
		got, err := aud.Bypasses(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		want, err := e.svc.Bypasses(id)
		if err != nil {
			t.Fatal(err)
		}
		var g, w []string
		for _, b := range got {
			g = append(g, asJSON(t, service.BypassView(b)))
		}
		for _, b := range want {
			w = append(w, asJSON(t, service.BypassView(b)))
		}
		sameStrings(t, "Bypasses "+id, g, w)
	}

	// Organisation.
	o, err := aud.Organization(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := asJSON(t, service.OrganizationView(o)), asJSON(t, service.OrganizationView(e.svc.Organization())); got != want {
		t.Errorf("Organization over HTTP %s, locally %s", got, want)
	}
	profile, throttle := "exchange-2016", 50
	ores, warnings, err := c.SetOrganization(ctx, "ignored", service.OrgChange{Profile: &profile, MailItemsAccessedThrottle: &throttle,
		AdminAuditLogAgeLimit: "365", AdminHintSources: []string{"dovecot,doveadm"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ores.Object != "OrganizationConfig" || len(ores.Modified) != 4 {
		t.Errorf("SetOrganization: %+v", ores)
	}
	// alice's MailboxLogin is not an owner operation of exchange-2016.
	if len(warnings) == 0 || !strings.Contains(strings.Join(warnings, " "), "alice@example.com") {
		t.Errorf("warnings %q", warnings)
	}
	o, err = aud.Organization(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := asJSON(t, service.OrganizationView(o)), asJSON(t, service.OrganizationView(e.svc.Organization())); got != want || o.Profile != "exchange-2016" {
		t.Errorf("Organization over HTTP %s, locally %s", got, want)
	}
	ores, _, err = c.SetOrganization(ctx, "ignored", service.OrgChange{Profile: &profile}, nil)
	if err != nil || ores.Warning == "" || len(ores.Modified) != 0 {
		t.Errorf("setting again: %+v, %v", ores, err)
	}

	// Baselines.
	got, err := aud.TestBaseline(ctx, "ASD-Blueprint")
	if err != nil {
		t.Fatal(err)
	}
	want, err := e.svc.TestBaseline("asd-blueprint")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) || len(got) == 0 {
		t.Fatalf("TestBaseline: %d results over HTTP, %d locally", len(got), len(want))
	}
	for i := range got {
		if got[i].Mailbox.PrimarySmtpAddress != want[i].Mailbox.PrimarySmtpAddress || len(got[i].Diffs) != len(want[i].Diffs) ||
			(len(want[i].Diffs) > 0 && !reflect.DeepEqual(got[i].Diffs, want[i].Diffs)) {
			t.Errorf("TestBaseline %d:\n%+v\n%+v", i, got[i], want[i])
		}
	}
	res, err = c.SetBaseline(ctx, "ignored", "asd-blueprint")
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 4 {
		t.Fatalf("SetBaseline: %+v", res)
	}
	for _, r := range res {
		if r.Mailbox == nil {
			t.Fatalf("SetBaseline: %s comes without its mailbox", r.Object)
		}
		sameStrings(t, "after the baseline", e.views(t, []*audit.Mailbox{r.Mailbox}), e.localMailboxes(t, service.MailboxQuery{Identity: r.Object}))
	}

	// Remove-Mailbox.
	res, err = c.RemoveMailbox(ctx, "ignored", service.MailboxQuery{Identity: "room@example.com"})
	if err != nil || len(res) != 1 || res[0].Object != "room@example.com" || res[0].Mailbox == nil || !res[0].Mailbox.Removed() {
		t.Fatalf("RemoveMailbox: %+v, %v", res, err)
	}
	if ms, err := c.Mailboxes(ctx, service.MailboxQuery{}); err != nil || len(ms) != 3 {
		t.Errorf("after the removal: %d mailboxes, %v", len(ms), err)
	}

	// Retention.
	n, err := c.Retain(ctx, "ignored")
	if err != nil || n != 0 {
		t.Errorf("Retain: %d, %v", n, err)
	}

	// Every change left its admin record, naming the token.
	var cmds []string
	if _, err := e.svc.SearchUnifiedAuditLog(ctx, service.UnifiedSearch{RecordTypes: []int{1}}, func(r *audit.Record) error {
		if r.UserId != tokenNames[token.Admin] {
			t.Errorf("admin record %s by %q", r.Operation, r.UserId)
		}
		cmds = append(cmds, r.Operation)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"New-Mailbox", "Set-Mailbox", "Add-MailboxPermission", "Remove-MailboxPermission",
		"Set-MailboxAuditBypassAssociation", "Set-OrganizationConfig", "Remove-Mailbox", "Start-AuditRetention"} {
		if !strings.Contains(strings.Join(cmds, " "), want) {
			t.Errorf("no admin record of %s in %v", want, cmds)
		}
	}
}

// TestClientErrors: an error the server answers becomes the error the
// service gives locally, with the same code (hence the same exit status of
// the command line) and the same message.
func TestClientErrors(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.client(t, token.Admin)
	aud := e.client(t, token.Auditor)
	for _, addr := range []string{"team-a@example.com", "team-b@example.com"} {
		if _, err := c.NewMailbox(ctx, "", service.NewMailboxSpec{Address: addr, DisplayName: "Team"}); err != nil {
			t.Fatal(err)
		}
	}
	profile := "exchange-1997"
	day := 24 * time.Hour
	now := time.Now()
	discard := func(*audit.Record) error { return nil }
	for _, tc := range []struct {
		name   string
		code   string
		remote func() error
		local  func() error
	}{
		{"unknown mailbox", audit.ENotFound,
			func() error { _, err := aud.Mailboxes(ctx, service.MailboxQuery{Identity: "nobody"}); return err },
			func() error { _, err := e.svc.Mailboxes(service.MailboxQuery{Identity: "nobody"}); return err }},
		{"ambiguous identity", audit.EConflict,
			func() error { _, err := aud.Mailboxes(ctx, service.MailboxQuery{Identity: "Team"}); return err },
			func() error { _, err := e.svc.Mailboxes(service.MailboxQuery{Identity: "Team"}); return err }},
		{"bad filter", audit.EInvalid,
			func() error {
				_, err := aud.Mailboxes(ctx, service.MailboxQuery{Filter: "AuditEnabled -equals $true"})
				return err
			},
			func() error {
				_, err := e.svc.Mailboxes(service.MailboxQuery{Filter: "AuditEnabled -equals $true"})
				return err
			}},
		{"address in use", audit.EInvalid,
			func() error {
				_, err := c.NewMailbox(ctx, "", service.NewMailboxSpec{Address: "TEAM-A@example.com"})
				return err
			},
			func() error {
				_, err := e.svc.NewMailbox(ctx, "", service.NewMailboxSpec{Address: "TEAM-A@example.com"})
				return err
			}},
		{"ambiguous mailbox to change", audit.EConflict,
			func() error {
				_, err := c.SetMailbox(ctx, "", service.MailboxQuery{Identity: "team"}, audit.MailboxChange{AuditLogAgeLimit: "30"}, nil)
				return err
			},
			func() error {
				_, err := e.svc.SetMailbox(ctx, "", service.MailboxQuery{Identity: "team"}, audit.MailboxChange{AuditLogAgeLimit: "30"}, nil)
				return err
			}},
		{"unknown access right", audit.EInvalid,
			func() error { _, err := c.AddPermission(ctx, "", "team-a@example.com", "svc", "Read"); return err },
			func() error { _, err := e.svc.AddPermission(ctx, "", "team-a@example.com", "svc", "Read"); return err }},
		{"no bypass association", audit.ENotFound,
			func() error { _, err := aud.Bypasses(ctx, "svc-none"); return err },
			func() error { _, err := e.svc.Bypasses("svc-none"); return err }},
		{"unknown profile", audit.EInvalid,
			func() error {
				_, _, err := c.SetOrganization(ctx, "", service.OrgChange{Profile: &profile}, nil)
				return err
			},
			func() error {
				_, _, err := e.svc.SetOrganization(ctx, "", service.OrgChange{Profile: &profile}, nil)
				return err
			}},
		{"unknown baseline", audit.ENotFound,
			func() error { _, err := aud.TestBaseline(ctx, "nope"); return err },
			func() error { _, err := e.svc.TestBaseline("nope"); return err }},
		{"reversed window", audit.EInvalid,
			func() error {
				_, err := aud.SearchMailboxAuditLog(ctx, service.MailboxSearch{Start: now.Add(-day), End: now.Add(-2 * day), ResultSize: 10}, discard)
				return err
			},
			func() error {
				_, err := e.svc.SearchMailboxAuditLog(ctx, service.MailboxSearch{Start: now.Add(-day), End: now.Add(-2 * day), ResultSize: 10}, discard)
				return err
			}},
		{"unknown mailbox in a search", audit.ENotFound,
			func() error {
				_, err := aud.SearchMailboxAuditLog(ctx, service.MailboxSearch{Identities: []string{"nobody"}, ResultSize: 10}, discard)
				return err
			},
			func() error {
				_, err := e.svc.SearchMailboxAuditLog(ctx, service.MailboxSearch{Identities: []string{"nobody"}, ResultSize: 10}, discard)
				return err
			}},
		{"unknown operation in a search", audit.EInvalid,
			func() error {
				_, err := aud.SearchMailboxAuditLog(ctx, service.MailboxSearch{Operations: []string{"Fly"}, ResultSize: 10}, discard)
				return err
			},
			func() error {
				_, err := e.svc.SearchMailboxAuditLog(ctx, service.MailboxSearch{Operations: []string{"Fly"}, ResultSize: 10}, discard)
				return err
			}},
		{"bad cursor", audit.EInvalid,
			func() error {
				_, err := aud.SearchUnifiedAuditLog(ctx, service.UnifiedSearch{Cursor: "nonsense", ResultSize: 10}, discard)
				return err
			},
			func() error {
				_, err := e.svc.SearchUnifiedAuditLog(ctx, service.UnifiedSearch{Cursor: "nonsense", ResultSize: 10}, discard)
				return err
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rerr, lerr := tc.remote(), tc.local()
			if rerr == nil || lerr == nil {
				t.Fatalf("over HTTP: %v; locally: %v", rerr, lerr)
			}
			if got := audit.ErrorCode(rerr); got != tc.code || audit.ErrorCode(lerr) != tc.code {
				t.Errorf("code %q over HTTP, %q locally, want %q", got, audit.ErrorCode(lerr), tc.code)
			}
			if rerr.Error() != lerr.Error() {
				t.Errorf("over HTTP %q, locally %q", rerr, lerr)
			}
		})
	}

	// A wrong token and a wrong role are neither input nor not-found
	// errors, and say what to do.
	bad, err := httpapi.NewClient(e.srv.URL, "mat_"+strings.Repeat("z", 43), "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.Organization(ctx)
	if err == nil || audit.ErrorCode(err) != audit.EInternal || !strings.Contains(err.Error(), "the token is missing, wrong or revoked") {
		t.Errorf("wrong token: %v (code %s)", err, audit.ErrorCode(err))
	}
	_, err = aud.SetBypass(ctx, "", service.MailboxQuery{Identity: "svc"}, true)
	if err == nil || audit.ErrorCode(err) != audit.EInternal || !strings.Contains(err.Error(), "a token of another role is needed") {
		t.Errorf("wrong role: %v (code %s)", err, audit.ErrorCode(err))
	}
	ing := e.client(t, token.Ingest)
	if _, err := ing.Mailboxes(ctx, service.MailboxQuery{}); err == nil || !strings.Contains(err.Error(), "another role") {
		t.Errorf("ingest token reading mailboxes: %v", err)
	}
}

// TestClientTooLarge: a request over the server's limit is refused input.
func TestClientTooLarge(t *testing.T) {
	e := newEnv(t, func(s *httpapi.Server) { s.MaxRequestBytes = 512 })
	ctx := context.Background()
	_, err := e.client(t, token.Admin).NewMailbox(ctx, "", service.NewMailboxSpec{Address: "a@example.com", DisplayName: strings.Repeat("A", 600)})
	if audit.ErrorCode(err) != audit.EInvalid || !strings.Contains(fmt.Sprint(err), "limit of 512 bytes") {
		t.Errorf("NewMailbox over the limit: %v (code %s)", err, audit.ErrorCode(err))
	}
	c := e.client(t, token.Ingest)
	var in strings.Builder
	for i := range 20 {
		in.WriteString(activity(fmt.Sprintf("l-%d", i), "Update", "a@example.com", "a@example.com", time.Now(), nil) + "\n")
	}
	rep, err := c.Ingest(ctx, strings.NewReader(in.String()), service.IngestOptions{})
	if audit.ErrorCode(err) != audit.EInvalid || !strings.Contains(fmt.Sprint(err), "limit of 512 bytes") {
		t.Errorf("Ingest over the limit: %v (code %s)", err, audit.ErrorCode(err))
	}
	if rep == nil || rep.Committed != 0 {
		t.Errorf("report %+v", rep)
	}
}

// localService is a second installation, to run the command line's local
// mode on the same input.
func localService(t *testing.T) *service.Service {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "local"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc, err := service.Open(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// TestClientIngestAndSearch: the client ingests in several batches with
// refused lines numbered as in its input, exactly as a local ingest reports;
// searches page through every record with the cursor and give what the
// local search gives.
func TestClientIngestAndSearch(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ing := e.client(t, token.Ingest)
	ing.IngestBatch = 3
	aud := e.client(t, token.Auditor)

	now := time.Now().Add(-3 * time.Hour)
	var lines []string
	wantRefused := map[int]bool{}
	for i := 1; i <= 40; i++ {
		owner := []string{"alice@example.com", "bob@example.com"}[i%2]
		at := now.Add(time.Duration(i) * time.Minute)
		var line string
		switch {
		case i%9 == 0:
			line = `{"SourceEventId": "bad-` + fmt.Sprint(i) + `", "Source": "api", "CreationTime": 5}`
			wantRefused[i] = true
		case i%13 == 0:
			line = `{"SourceEventId": "bad-` + fmt.Sprint(i) + `",`
			wantRefused[i] = true
		case i%7 == 0:
			// A delegate sends as the owner.
			line = activity(fmt.Sprintf("e-%d", i), "SendAs", "carol@example.com", owner, at, map[string]any{
				"SendAsUserSmtp": owner, "ClientIPAddress": "198.51.100.4", "SessionId": "s-1",
				"Items": []map[string]any{{"InternetMessageId": "<m" + fmt.Sprint(i) + "@example.com>", "Subject": "Invoice"}}})
		case i%5 == 0:
			line = activity(fmt.Sprintf("e-%d", i), "MoveToDeletedItems", owner, owner, at, map[string]any{
				"Folder": map[string]any{"Id": "f1", "Path": "/Inbox"}, "DestFolder": map[string]any{"Path": "/Deleted Items"},
				"Items": []map[string]any{{"Id": "a"}, {"Id": "b", "SizeInBytes": 1200}}})
		case i%4 == 0:
			line = activity(fmt.Sprintf("e-%d", i), "MailItemsAccessed", owner, owner, at.Add(-48*time.Hour), map[string]any{
				"Folder": map[string]any{"Path": "/Inbox"}, "Items": []map[string]any{{"Id": fmt.Sprint("INBOX:1:", i), "InternetMessageId": "<x@y>"}},
				"OperationProperties": []map[string]any{{"Name": "MailAccessType", "Value": "Bind"}}})
		case i%17 == 0:
			// "Item" is a field of records, not of activity: refused.
			line = activity(fmt.Sprintf("e-%d", i), "Update", owner, owner, at, map[string]any{"Item": map[string]any{"Id": "x"}})
			wantRefused[i] = true
		case i%11 == 0:
			line = activity(fmt.Sprintf("e-%d", i), "MessageBind", owner, owner, at, nil) // not audited
		default:
			line = activity(fmt.Sprintf("e-%d", i), "Update", owner, owner, at, map[string]any{
				"ClientInfoString": "Client=IMAP4;name=neomutt", "OriginatingServer": "mx1",
				"Items": []map[string]any{{"Id": "INBOX:7:" + fmt.Sprint(i), "Subject": "Draft", "ParentFolder": map[string]any{"Path": "/Drafts"}}}})
		}
		lines = append(lines, line)
	}
	input := strings.Join(lines, "\n") + "\n"

	remote, err := ing.Ingest(ctx, strings.NewReader(input), service.IngestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	local, err := localService(t).Ingest(ctx, strings.NewReader(input), service.IngestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(remote, local) {
		t.Errorf("report over HTTP in batches of 3:\n%+v\nlocally:\n%+v", remote, local)
	}
	var refused []int
	for _, r := range remote.Refused {
		refused = append(refused, r.Line)
		if !wantRefused[r.Line] || r.Reason == "" {
			t.Errorf("line %d refused: %s", r.Line, r.Reason)
		}
	}
	if len(refused) != len(wantRefused) || remote.Committed != len(lines) || remote.Read != len(lines) {
		t.Errorf("refused lines %v, want %v; report %+v", refused, wantRefused, remote)
	}

	// The same input again: every taken line is a duplicate, the refused
	// ones are refused again with the same numbers.
	again, err := ing.Ingest(ctx, strings.NewReader(input), service.IngestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// (What policy does not audit is not stored, so it is decided again
	// rather than found as a duplicate.)
	if again.Recorded != 0 || again.Aggregated != 0 || again.NotAudited != remote.NotAudited || remote.NotAudited == 0 ||
		again.Duplicates != len(lines)-len(wantRefused)-remote.NotAudited || !reflect.DeepEqual(again.Refused, remote.Refused) {
		t.Errorf("the second time: %+v", again)
	}

	org := e.svc.Organization()
	opt := export.Options{OrganizationId: org.Id.String(), OrganizationName: org.Name}
	render := func(r *audit.Record) string {
		b, err := export.JSON(r, opt)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	start := time.Now().Add(-6 * 24 * time.Hour)

	// The unified search, in pages of 4 through the cursor.
	var viaHTTP []string
	pages := 0
	p := service.UnifiedSearch{Start: start, ResultSize: 4}
	for {
		pages++
		next, err := aud.SearchUnifiedAuditLog(ctx, p, func(r *audit.Record) error { viaHTTP = append(viaHTTP, render(r)); return nil })
		if err != nil {
			t.Fatal(err)
		}
		if next == "" {
			break
		}
		if pages > 100 {
			t.Fatal("the cursor does not end")
		}
		p.Cursor = next
	}
	var locally []string
	if _, err := e.svc.SearchUnifiedAuditLog(ctx, service.UnifiedSearch{Start: start}, func(r *audit.Record) error {
		locally = append(locally, render(r))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sameStrings(t, "the unified search", viaHTTP, locally)
	if pages < len(locally)/4 || len(locally) < 25 {
		t.Errorf("%d records in %d pages", len(locally), pages)
	}
	types := map[float64]int{}
	for _, s := range locally {
		var m map[string]any
		json.Unmarshal([]byte(s), &m)
		types[m["RecordType"].(float64)]++
	}
	for _, rt := range []float64{2, 3, 50} {
		if types[rt] == 0 {
			t.Errorf("no record of type %v among %v: the search does not show every shape", rt, types)
		}
	}
	// Unlimited: everything in one answer.
	var unlimited []string
	if next, err := aud.SearchUnifiedAuditLog(ctx, service.UnifiedSearch{Start: start}, func(r *audit.Record) error {
		unlimited = append(unlimited, render(r))
		return nil
	}); err != nil || next != "" {
		t.Fatalf("unlimited search: next %q, %v", next, err)
	}
	sameStrings(t, "the unlimited unified search", unlimited, locally)

	// The mailbox search of one mailbox and some operations, in pages of 3.
	viaHTTP, locally = nil, nil
	mp := service.MailboxSearch{Identities: []string{"bob@example.com"}, Operations: []string{"Update", "SendAs", "MoveToDeletedItems"},
		LogonTypes: []string{"Owner", "Delegate"}, Start: start, ResultSize: 3}
	for pages = 0; ; pages++ {
		next, err := aud.SearchMailboxAuditLog(ctx, mp, func(r *audit.Record) error { viaHTTP = append(viaHTTP, render(r)); return nil })
		if err != nil {
			t.Fatal(err)
		}
		if next == "" || pages > 100 {
			break
		}
		mp.Cursor = next
	}
	mp.Cursor, mp.ResultSize = "", service.MailboxSearchMax
	if _, err := e.svc.SearchMailboxAuditLog(ctx, mp, func(r *audit.Record) error { locally = append(locally, render(r)); return nil }); err != nil {
		t.Fatal(err)
	}
	sameStrings(t, "the mailbox search", viaHTTP, locally)
	if len(locally) < 8 {
		t.Errorf("only %d records of bob's", len(locally))
	}
	for _, s := range locally {
		if !strings.Contains(s, `"MailboxOwnerUPN":"bob@example.com"`) {
			t.Errorf("not bob's: %s", s)
		}
	}
}

// TestClientAuditLogSearches: background searches through the client are
// the searches the service keeps, and their results are the files it keeps.
func TestClientAuditLogSearches(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	aud := e.client(t, token.Auditor)
	now := time.Now()
	var in strings.Builder
	for i := range 5 {
		in.WriteString(activity(fmt.Sprint("s-", i), "Update", "alice@example.com", "alice@example.com", now.Add(-time.Duration(i+1)*time.Hour), nil) + "\n")
	}
	if _, err := e.svc.Ingest(ctx, strings.NewReader(in.String()), service.IngestOptions{}); err != nil {
		t.Fatal(err)
	}
	render := func(as *audit.AuditLogSearch) string {
		c := *as
		for _, tm := range []*time.Time{&c.CreationTime, &c.StartDate, &c.EndDate, &c.CompletedTime, &c.NextAttempt, &c.DeliveredTime} {
			*tm = tm.UTC()
		}
		// An empty list is sent as [] and kept as nil.
		for _, l := range []*[]string{&c.Mailboxes, &c.LogonTypes, &c.Operations, &c.StatusMailRecipients, &c.Formats} {
			if len(*l) == 0 {
				*l = nil
			}
		}
		return asJSON(t, c)
	}
	spec := service.NewAuditLogSearchSpec{Name: "alice, last day", Mailboxes: []string{"Alice"}, StartDate: now.Add(-24 * time.Hour), EndDate: now,
		Operations: []string{"Update"}, ShowDetails: true, StatusMailRecipients: []string{"soc@example.com"}, Formats: []string{"csv", "json"}}
	as, err := aud.NewAuditLogSearch(ctx, "", spec)
	if err != nil {
		t.Fatal(err)
	}
	if as.CreatedBy != tokenNames[token.Auditor] || !slices.Equal(as.Mailboxes, []string{"alice@example.com"}) || !slices.Equal(as.Formats, []string{"xml", "csv", "json"}) {
		t.Errorf("the new search: %+v", as)
	}
	local, err := e.svc.AuditLogSearches(ctx, service.AuditLogSearchQuery{Identity: as.Identity.String()})
	if err != nil || len(local) != 1 {
		t.Fatalf("%v, %v", local, err)
	}
	// (The runner may have started on it already.)
	if got, want := render(as), render(local[0]); got != want && local[0].State == audit.SearchQueued {
		t.Errorf("the new search over HTTP %s, kept %s", got, want)
	}
	done := e.searchDone(t, as.Identity.String())
	if done.Records != 5 {
		t.Errorf("the search found %d records, want 5", done.Records)
	}
	list, err := aud.AuditLogSearches(ctx, service.AuditLogSearchQuery{})
	if err != nil || len(list) != 1 || render(list[0]) != render(done) {
		t.Errorf("the searches over HTTP: %v, %v; kept: %s", list, err, render(done))
	}
	for _, format := range []string{"xml", "csv", "json"} {
		rc, err := aud.AuditLogSearchResult(ctx, "alice, last day", format)
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		lrc, err := e.svc.AuditLogSearchResult(ctx, as.Identity.String(), format)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := io.ReadAll(lrc)
		lrc.Close()
		if string(got) != string(want) || len(want) == 0 {
			t.Errorf("%s result over HTTP (%d bytes) is not the one kept (%d bytes)", format, len(got), len(want))
		}
	}
	_, rerr := aud.AuditLogSearchResult(ctx, "no such search", "xml")
	_, lerr := e.svc.AuditLogSearchResult(ctx, "no such search", "xml")
	if audit.ErrorCode(rerr) != audit.ENotFound || fmt.Sprint(rerr) != fmt.Sprint(lerr) {
		t.Errorf("over HTTP %v, locally %v", rerr, lerr)
	}
	e.mailer.mu.Lock()
	defer e.mailer.mu.Unlock()
	if len(e.mailer.sent) != 1 || !slices.Equal(e.mailer.sent[0].To, []string{"soc@example.com"}) {
		t.Errorf("mailed %+v", e.mailer.sent)
	}
}
