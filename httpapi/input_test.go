package httpapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailaudit/mailaudit/httpapi"
	"github.com/mailaudit/mailaudit/token"
)

// TestBadInput: every kind of bad request is answered 4xx with the error
// code of the application and a message naming the problem.
func TestBadInput(t *testing.T) {
	e := newEnv(t)
	for _, addr := range []string{"alice@example.com", "bob@example.com"} {
		e.mailbox(t, fmt.Sprintf(`{"Address": %q}`, addr))
	}
	// Two mailboxes share a display name: "Team" is ambiguous.
	e.mailbox(t, `{"Address": "team-a@example.com", "DisplayName": "Team"}`)
	e.mailbox(t, `{"Address": "team-b@example.com", "DisplayName": "Team"}`)

	// A finished background search, and two that share a name.
	var searchID string
	for _, name := range []string{"only xml", "twin", "twin"} {
		a := e.must(t, 201, call{method: "POST", path: "/api/v1/audit-log-searches", role: token.Auditor,
			body: `{"Name": "` + name + `", "StartDate": "-1d", "EndDate": "now", "StatusMailRecipients": ["soc@example.com"]}`})
		var as struct{ Identity string }
		a.decode(t, &as)
		e.searchDone(t, as.Identity)
		if searchID == "" {
			searchID = as.Identity
		}
	}

	q := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v
	}
	const (
		org   = "/api/v1/organization"
		mbx   = "/api/v1/mailboxes"
		perm  = "/api/v1/permissions"
		byp   = "/api/v1/bypass-associations"
		mlog  = "/api/v1/mailbox-audit-log"
		ulog  = "/api/v1/unified-audit-log"
		alog  = "/api/v1/admin-audit-log"
		act   = "/api/v1/activity"
		als   = "/api/v1/audit-log-searches"
		admin = token.Admin
		aud   = token.Auditor
	)
	for _, tc := range []struct {
		name   string
		c      call
		status int
		code   string
		says   []string // the message contains each
		// docAccepts: the document cannot express why the server refuses
		// (an unknown query parameter, a business rule); otherwise the
		// document must refuse the request too.
		docAccepts bool
	}{
		// Malformed JSON, wrong types, unknown fields.
		{name: "malformed JSON", c: call{method: "PATCH", path: org, role: admin, body: `{"AuditDisabled": tru`},
			status: 400, code: "invalid", says: []string{"malformed JSON: the body ends before the JSON value does"}},
		{name: "bad JSON syntax", c: call{method: "PATCH", path: org, role: admin, body: `{"AuditDisabled": true,, "Name": "x"}`},
			status: 400, code: "invalid", says: []string{"malformed JSON at byte 24", "invalid character ','"}},
		{name: "not JSON at all", c: call{method: "POST", path: mbx, role: admin, body: `Address=carol@example.com`},
			status: 400, code: "invalid", says: []string{"malformed JSON at byte 1"}},
		{name: "empty body", c: call{method: "POST", path: mbx, role: admin, ctype: "application/json"},
			status: 400, code: "invalid", says: []string{"needs a JSON body"}},
		{name: "two JSON values", c: call{method: "POST", path: mbx, role: admin, body: `{"Address": "c@example.com"} {"Address": "d@example.com"}`},
			// kin-openapi reads the first value only.
			status: 400, code: "invalid", says: []string{"more than one JSON value"}, docAccepts: true},
		{name: "array for an object", c: call{method: "PATCH", path: org, role: admin, body: `[]`},
			status: 400, code: "invalid", says: []string{"must be a JSON object", "array"}},
		{name: "string for a bool", c: call{method: "PATCH", path: org, role: admin, body: `{"AuditDisabled": "yes"}`},
			status: 400, code: "invalid", says: []string{"AuditDisabled", "true or false", "string"}},
		{name: "string for a number", c: call{method: "PATCH", path: org, role: admin, body: `{"MailItemsAccessedThrottle": "many"}`},
			status: 400, code: "invalid", says: []string{"MailItemsAccessedThrottle", "an integer"}},
		{name: "number for a string", c: call{method: "POST", path: mbx, role: admin, body: `{"Address": 5}`},
			status: 400, code: "invalid", says: []string{"Address", "a string", "number"}},
		{name: "string for a list", c: call{method: "PATCH", path: mbx, query: q("identity", "alice@example.com"), role: admin, body: `{"AuditOwner": "Update"}`},
			status: 400, code: "invalid", says: []string{"AuditOwner", "an array"}},
		{name: "unknown field", c: call{method: "PATCH", path: org, role: admin, body: `{"AuditDisable": true}`},
			status: 400, code: "invalid", says: []string{`unknown field "AuditDisable"`}},
		{name: "unknown nested field", c: call{method: "PATCH", path: org, role: admin, body: `{"Parameters": [{"Name": "a", "Valu": "b"}]}`},
			status: 400, code: "invalid", says: []string{`unknown field "Valu"`}},
		{name: "missing required field", c: call{method: "PATCH", path: byp, query: q("identity", "svc"), role: admin, body: `{}`},
			status: 400, code: "invalid", says: []string{"AuditBypassEnabled is required"}},
		{name: "grant without a mailbox", c: call{method: "POST", path: perm, role: admin, body: `{"User": "bob@example.com", "AccessRights": "FullAccess"}`},
			status: 400, code: "invalid", says: []string{"Identity is required"}},
		{name: "revoke without user and right", c: call{method: "DELETE", path: perm, query: q("identity", "alice@example.com"), role: admin},
			status: 400, code: "invalid", says: []string{"user, access-rights are required"}},
		{name: "unknown access right", c: call{method: "POST", path: perm, role: admin, body: `{"Identity": "alice@example.com", "User": "bob@example.com", "AccessRights": "ReadOnly"}`},
			status: 400, code: "invalid", says: []string{"Unknown access right 'ReadOnly'"}},
		{name: "invalid value", c: call{method: "PATCH", path: org, role: admin, body: `{"AuditProfile": "exchange-2003"}`},
			status: 400, code: "invalid", says: []string{"Unknown audit profile 'exchange-2003'"}, docAccepts: true},
		{name: "invalid address", c: call{method: "POST", path: mbx, role: admin, body: `{"Address": "nobody"}`},
			status: 400, code: "invalid", says: []string{"'nobody' isn't a valid SMTP address"}, docAccepts: true},

		// Query parameters.
		{name: "unknown query parameter", c: call{method: "GET", path: mbx, query: q("identiti", "alice"), role: aud},
			status: 400, code: "invalid", says: []string{`unknown query parameter "identiti"`, "identity, filter, type"}, docAccepts: true},
		{name: "query parameter on an endpoint that takes none", c: call{method: "GET", path: org, query: q("pretty", "1"), role: aud},
			status: 400, code: "invalid", says: []string{`unknown query parameter "pretty"`}, docAccepts: true},
		{name: "query parameter on ingest", c: call{method: "POST", path: act, query: q("dry-run", "true"), role: token.Ingest, ctype: ndjson,
			body: activity("q-1", "Update", "alice@example.com", "alice@example.com", time.Now(), nil)},
			status: 400, code: "invalid", says: []string{`unknown query parameter "dry-run"`}, docAccepts: true},
		{name: "result-size not a number", c: call{method: "GET", path: ulog, query: q("result-size", "lots"), role: aud},
			status: 400, code: "invalid", says: []string{"result-size", `"lots" is not a number`}},
		{name: "result-size zero", c: call{method: "GET", path: ulog, query: q("result-size", "0"), role: aud},
			status: 400, code: "invalid", says: []string{"result-size", "not 0"}},
		{name: "mailbox result-size over the cap", c: call{method: "GET", path: mlog, query: q("result-size", "250001"), role: aud},
			status: 400, code: "invalid", says: []string{"ResultSize must be between 1 and 250000"}},
		{name: "record-type not a number", c: call{method: "GET", path: ulog, query: q("record-type", "ExchangeItem"), role: aud},
			status: 400, code: "invalid", says: []string{"record-type", `"ExchangeItem" is not a number`}},
		{name: "record-type on the admin log", c: call{method: "GET", path: alog, query: q("record-type", "2"), role: aud},
			status: 400, code: "invalid", says: []string{"record-type does not apply"}, docAccepts: true},
		{name: "bool not a bool", c: call{method: "GET", path: mlog, query: q("external-access", "maybe"), role: aud},
			status: 400, code: "invalid", says: []string{"external-access", `"maybe" is not true or false`}},
		{name: "unknown logon type", c: call{method: "GET", path: mlog, query: q("logon-types", "Owner,Robot"), role: aud},
			status: 400, code: "invalid", says: []string{"Unknown logon type 'Robot'"}},
		{name: "unknown operation", c: call{method: "GET", path: mlog, query: q("operations", "Teleport"), role: aud},
			status: 400, code: "invalid", says: []string{"Unknown operation 'Teleport'"}, docAccepts: true},
		{name: "not a date", c: call{method: "GET", path: ulog, query: q("start", "yesterday"), role: aud},
			status: 400, code: "invalid", says: []string{"'yesterday' is not a date"}, docAccepts: true},
		{name: "reversed window", c: call{method: "GET", path: mlog, query: q("start", "2026-11-02", "end", "2026-11-01"), role: aud},
			status: 400, code: "invalid", says: []string{"The start date (2026-11-02T00:00:00Z) must be before the end date (2026-11-01T00:00:00Z)"}, docAccepts: true},
		{name: "reversed window, unified", c: call{method: "GET", path: ulog, query: q("start", "-1d", "end", "-2d"), role: aud},
			status: 400, code: "invalid", says: []string{"must be before the end date"}, docAccepts: true},
		{name: "bad cursor", c: call{method: "GET", path: ulog, query: q("cursor", "xyz"), role: aud},
			status: 400, code: "invalid", says: []string{"The cursor 'xyz' isn't valid"}, docAccepts: true},
		{name: "bad filter", c: call{method: "GET", path: mbx, query: q("filter", "Colour -eq 'Blue'"), role: aud},
			status: 400, code: "invalid", says: []string{"Colour"}, docAccepts: true},
		{name: "unknown mailbox type", c: call{method: "GET", path: mbx, query: q("type", "CastleMailbox"), role: aud},
			status: 400, code: "invalid", says: []string{"Unknown mailbox type 'CastleMailbox'"}},
		{name: "change without a selection", c: call{method: "PATCH", path: mbx, role: admin, body: `{"AuditEnabled": false}`},
			status: 400, code: "invalid", says: []string{"give identity, or filter and/or type"}, docAccepts: true},
		{name: "removal without a selection", c: call{method: "DELETE", path: mbx, role: admin},
			status: 400, code: "invalid", says: []string{"give identity, or filter and/or type"}, docAccepts: true},
		{name: "identity and filter", c: call{method: "DELETE", path: mbx, query: q("identity", "alice@example.com", "filter", "AuditEnabled -eq $true"), role: admin},
			status: 400, code: "invalid", says: []string{"not both"}, docAccepts: true},

		{name: "query parameter on a baseline", c: call{method: "GET", path: "/api/v1/baselines/asd-blueprint", query: q("mailbox", "alice"), role: aud},
			status: 400, code: "invalid", says: []string{`unknown query parameter "mailbox"`}, docAccepts: true},
		{name: "query parameter on applying a baseline", c: call{method: "POST", path: "/api/v1/baselines/asd-blueprint/apply", query: q("dry-run", "1"), role: admin},
			status: 400, code: "invalid", says: []string{`unknown query parameter "dry-run"`}, docAccepts: true},
		{name: "query parameter on retention", c: call{method: "POST", path: "/api/v1/retention", query: q("older-than", "30"), role: admin},
			status: 400, code: "invalid", says: []string{`unknown query parameter "older-than"`}, docAccepts: true},
		{name: "unknown query parameter on permissions", c: call{method: "GET", path: perm, query: q("user", "bob"), role: aud},
			status: 400, code: "invalid", says: []string{`unknown query parameter "user"`, "(this endpoint takes: identity)"}, docAccepts: true},
		{name: "unknown query parameter on bypasses", c: call{method: "GET", path: byp, query: q("enabled", "true"), role: aud},
			status: 400, code: "invalid", says: []string{`unknown query parameter "enabled"`}, docAccepts: true},

		// Background searches.
		{name: "search without recipients", c: call{method: "POST", path: als, role: aud, body: `{"StartDate": "-1d", "EndDate": "now"}`},
			status: 400, code: "invalid", says: []string{"StatusMailRecipients is required"}},
		{name: "search without dates", c: call{method: "POST", path: als, role: aud, body: `{"StatusMailRecipients": ["soc@example.com"]}`},
			status: 400, code: "invalid", says: []string{"StartDate and EndDate are required"}},
		{name: "search with a reversed window", c: call{method: "POST", path: als, role: aud,
			body: `{"StartDate": "-1d", "EndDate": "-2d", "StatusMailRecipients": ["soc@example.com"]}`},
			status: 400, code: "invalid", says: []string{"must be before the end date"}, docAccepts: true},
		{name: "search with a bad date", c: call{method: "POST", path: als, role: aud,
			body: `{"StartDate": "last week", "EndDate": "now", "StatusMailRecipients": ["soc@example.com"]}`},
			status: 400, code: "invalid", says: []string{"'last week' is not a date"}, docAccepts: true},
		{name: "search with a long name", c: call{method: "POST", path: als, role: aud,
			body: `{"Name": "` + strings.Repeat("n", 65) + `", "StartDate": "-1d", "EndDate": "now", "StatusMailRecipients": ["soc@example.com"]}`},
			status: 400, code: "invalid", says: []string{"The maximum length is 64"}},
		{name: "search with a bad recipient", c: call{method: "POST", path: als, role: aud,
			body: `{"StartDate": "-1d", "EndDate": "now", "StatusMailRecipients": ["soc"]}`},
			status: 400, code: "invalid", says: []string{"'soc' isn't a valid SMTP address"}, docAccepts: true},
		{name: "search with an unknown format", c: call{method: "POST", path: als, role: aud,
			body: `{"StartDate": "-1d", "EndDate": "now", "StatusMailRecipients": ["soc@example.com"], "Formats": ["pdf"]}`},
			status: 400, code: "invalid", says: []string{"Unknown result format 'pdf'"}},
		{name: "search with a misspelt field", c: call{method: "POST", path: als, role: aud,
			body: `{"StartDate": "-1d", "EndDate": "now", "StatusMailRecipient": ["soc@example.com"]}`},
			status: 400, code: "invalid", says: []string{`unknown field "StatusMailRecipient"`}},
		{name: "search of an unknown mailbox", c: call{method: "POST", path: als, role: aud,
			body: `{"Mailboxes": ["nobody"], "StartDate": "-1d", "EndDate": "now", "StatusMailRecipients": ["soc@example.com"]}`},
			status: 404, code: "not_found", says: []string{"'nobody'"}, docAccepts: true},
		{name: "search of an ambiguous mailbox", c: call{method: "POST", path: als, role: aud,
			body: `{"Mailboxes": ["Team"], "StartDate": "-1d", "EndDate": "now", "StatusMailRecipients": ["soc@example.com"]}`},
			status: 409, code: "conflict", says: []string{"matches several mailboxes"}, docAccepts: true},
		{name: "unknown search", c: call{method: "GET", path: als, query: q("identity", "no-such-search"), role: aud},
			status: 404, code: "not_found", says: []string{"The audit log search 'no-such-search' couldn't be found."}, docAccepts: true},
		{name: "searches created when?", c: call{method: "GET", path: als, query: q("created-after", "lately"), role: aud},
			status: 400, code: "invalid", says: []string{"'lately' is not a date"}, docAccepts: true},
		{name: "searches, unknown parameter", c: call{method: "GET", path: als, query: q("state", "Queued"), role: aud},
			status: 400, code: "invalid", says: []string{`unknown query parameter "state"`}, docAccepts: true},
		{name: "result of an unknown search", c: call{method: "GET", path: als + "/no-such-search/result", role: aud},
			status: 404, code: "not_found", says: []string{"'no-such-search'"}, docAccepts: true},
		{name: "result in an unknown format", c: call{method: "GET", path: als + "/" + searchID + "/result", query: q("format", "pdf"), role: aud},
			status: 400, code: "invalid", says: []string{"was kept as xml, not pdf"}},
		{name: "result in a format not kept", c: call{method: "GET", path: als + "/" + searchID + "/result", query: q("format", "json"), role: aud},
			status: 400, code: "invalid", says: []string{"was kept as xml, not json"}, docAccepts: true},
		{name: "result of a search two share the name of", c: call{method: "GET", path: als + "/twin/result", role: aud},
			status: 409, code: "conflict", says: []string{"'twin' names 2 searches"}, docAccepts: true},

		// Not found.
		{name: "unknown mailbox to remove", c: call{method: "DELETE", path: mbx, query: q("identity", "nobody@example.com"), role: admin},
			status: 404, code: "not_found", says: []string{"'nobody@example.com'"}, docAccepts: true},
		{name: "grants on an unknown mailbox", c: call{method: "GET", path: perm, query: q("identity", "nobody@example.com"), role: aud},
			status: 404, code: "not_found", says: []string{"'nobody@example.com'"}, docAccepts: true},
		{name: "revoke on an unknown mailbox", c: call{method: "DELETE", path: perm, query: q("identity", "nobody", "user", "bob", "access-rights", "SendAs"), role: admin},
			status: 404, code: "not_found", says: []string{"'nobody'"}, docAccepts: true},
		{name: "unknown mailbox", c: call{method: "GET", path: mbx, query: q("identity", "nobody@example.com"), role: aud},
			status: 404, code: "not_found", says: []string{"The mailbox 'nobody@example.com' couldn't be found."}, docAccepts: true},
		{name: "unknown mailbox in a search", c: call{method: "GET", path: mlog, query: q("mailboxes", "alice@example.com,nobody@example.com"), role: aud},
			status: 404, code: "not_found", says: []string{"'nobody@example.com'"}, docAccepts: true},
		{name: "unknown mailbox to change", c: call{method: "PATCH", path: mbx, query: q("identity", "nobody"), role: admin, body: `{"AuditEnabled": false}`},
			status: 404, code: "not_found", says: []string{"'nobody'"}, docAccepts: true},
		{name: "grant on an unknown mailbox", c: call{method: "POST", path: perm, role: admin, body: `{"Identity": "nobody@example.com", "User": "bob@example.com", "AccessRights": "FullAccess"}`},
			status: 404, code: "not_found", says: []string{"'nobody@example.com'"}, docAccepts: true},
		{name: "no bypass association", c: call{method: "GET", path: byp, query: q("identity", "svc-nothing"), role: aud},
			status: 404, code: "not_found", says: []string{"No mailbox audit bypass association exists for 'svc-nothing'"}, docAccepts: true},
		{name: "unknown baseline", c: call{method: "GET", path: "/api/v1/baselines/cis-level-9", role: aud},
			status: 404, code: "not_found", says: []string{"Unknown audit baseline 'cis-level-9'", "asd-blueprint"}, docAccepts: true},
		{name: "unknown baseline to apply", c: call{method: "POST", path: "/api/v1/baselines/cis-level-9/apply", role: admin},
			status: 404, code: "not_found", says: []string{"'cis-level-9'"}, docAccepts: true},

		// Ambiguous identities.
		{name: "ambiguous identity", c: call{method: "GET", path: mbx, query: q("identity", "Team"), role: aud},
			status: 409, code: "conflict", says: []string{"'Team' matches several mailboxes", "team-a@example.com", "team-b@example.com"}, docAccepts: true},
		{name: "ambiguous identity to change", c: call{method: "PATCH", path: mbx, query: q("identity", "team"), role: admin, body: `{"AuditEnabled": false}`},
			status: 409, code: "conflict", says: []string{"team-a@example.com, team-b@example.com"}, docAccepts: true},
		{name: "ambiguous identity in a search", c: call{method: "GET", path: mlog, query: q("mailboxes", "Team"), role: aud},
			status: 409, code: "conflict", says: []string{"matches several mailboxes"}, docAccepts: true},
		{name: "ambiguous mailbox to remove", c: call{method: "DELETE", path: mbx, query: q("identity", "Team"), role: admin},
			status: 409, code: "conflict", says: []string{"matches several mailboxes"}, docAccepts: true},
		{name: "ambiguous mailbox's grants", c: call{method: "GET", path: perm, query: q("identity", "Team"), role: aud},
			status: 409, code: "conflict", says: []string{"matches several mailboxes"}, docAccepts: true},
		{name: "grant on an ambiguous mailbox", c: call{method: "POST", path: perm, role: admin, body: `{"Identity": "Team", "User": "bob@example.com", "AccessRights": "SendAs"}`},
			status: 409, code: "conflict", says: []string{"matches several mailboxes"}, docAccepts: true},
		{name: "revoke on an ambiguous mailbox", c: call{method: "DELETE", path: perm, query: q("identity", "Team", "user", "bob", "access-rights", "SendAs"), role: admin},
			status: 409, code: "conflict", says: []string{"matches several mailboxes"}, docAccepts: true},
		{name: "ambiguous account's bypass", c: call{method: "GET", path: byp, query: q("identity", "Team"), role: aud},
			status: 409, code: "conflict", says: []string{"matches several mailboxes"}, docAccepts: true},
		{name: "ambiguous grantee", c: call{method: "PATCH", path: byp, query: q("identity", "Team"), role: admin, body: `{"AuditBypassEnabled": true}`},
			status: 409, code: "conflict", says: []string{"matches several mailboxes"}, docAccepts: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := e.do(t, tc.c)
			if a.status != tc.status {
				t.Fatalf("%s: status %d, want %d: %s", tc.c, a.status, tc.status, a.body)
			}
			code, msg := a.apiError(t)
			if code != tc.code {
				t.Errorf("code %q, want %q", code, tc.code)
			}
			for _, s := range tc.says {
				if !strings.Contains(msg, s) {
					t.Errorf("the message %q does not say %q", msg, s)
				}
			}
			if !tc.docAccepts && a.docRefused == "" {
				t.Errorf("openapi.yaml accepts a request the server refuses as malformed")
			}
			if tc.docAccepts && a.docRefused != "" {
				t.Errorf("openapi.yaml refuses the request: %s", a.docRefused)
			}
		})
	}
	// Nothing refused changed anything: the organisation is as it was and
	// no mailbox was created.
	a := e.must(t, 200, call{method: "GET", path: org, role: aud})
	var o map[string]any
	a.decode(t, &o)
	if o["AuditDisabled"] != false || o["AuditProfile"] != "exchange-online" {
		t.Errorf("a refused change changed the organisation: %s", a.body)
	}
	var ms []map[string]any
	e.must(t, 200, call{method: "GET", path: mbx, role: aud}).decode(t, &ms)
	if len(ms) != 4 {
		t.Errorf("%d mailboxes after refused requests, want 4", len(ms))
	}
}

// TestSearchesNeedARelay: a daemon without an SMTP relay refuses background
// searches, saying why.
func TestSearchesNeedARelay(t *testing.T) {
	e := newEnv(t, func(s *httpapi.Server) { s.Runner = nil })
	a := e.must(t, 400, call{method: "POST", path: "/api/v1/audit-log-searches", role: token.Auditor,
		body: `{"StartDate": "-1d", "EndDate": "now", "StatusMailRecipients": ["soc@example.com"]}`})
	if code, msg := a.apiError(t); code != "invalid" || !strings.Contains(msg, "no SMTP relay") {
		t.Errorf("answer %s", a.body)
	}
	var list []any
	e.must(t, 200, call{method: "GET", path: "/api/v1/audit-log-searches", role: token.Auditor}).decode(t, &list)
	if len(list) != 0 {
		t.Errorf("searches %v", list)
	}
}

// TestOversizedBodies: a body over MaxRequestBytes is answered 413 naming
// the limit, with or without a Content-Length, and nothing of it is stored.
func TestOversizedBodies(t *testing.T) {
	const limit = 700
	e := newEnv(t, func(s *httpapi.Server) { s.MaxRequestBytes = limit })
	now := time.Now()
	var batch strings.Builder
	for i := 0; batch.Len() <= limit; i++ {
		batch.WriteString(activity(fmt.Sprintf("big-%d", i), "Update", "alice@example.com", "alice@example.com", now.Add(-time.Minute), nil) + "\n")
	}
	bigName := strings.Repeat("x", limit)
	for _, tc := range []struct {
		name string
		c    call
	}{
		{"batch", call{method: "POST", path: "/api/v1/activity", role: token.Ingest, ctype: ndjson, body: batch.String()}},
		{"batch without length", call{method: "POST", path: "/api/v1/activity", role: token.Ingest, ctype: ndjson, body: batch.String(), chunked: true}},
		{"mailbox", call{method: "POST", path: "/api/v1/mailboxes", role: token.Admin, body: `{"Address": "a@example.com", "DisplayName": "` + bigName + `"}`}},
		{"mailbox without length", call{method: "POST", path: "/api/v1/mailboxes", role: token.Admin, body: `{"Address": "a@example.com", "DisplayName": "` + bigName + `"}`, chunked: true}},
		{"change", call{method: "PATCH", path: "/api/v1/organization", role: token.Admin, body: `{"Name": "` + bigName + `"}`}},
		{"mailbox change", call{method: "PATCH", path: "/api/v1/mailboxes", query: url.Values{"identity": {"a@example.com"}}, role: token.Admin,
			body: `{"DisplayName": "` + bigName + `"}`}},
		{"grant", call{method: "POST", path: "/api/v1/permissions", role: token.Admin,
			body: `{"Identity": "a@example.com", "User": "` + bigName + `", "AccessRights": "SendAs"}`}},
		{"background search", call{method: "POST", path: "/api/v1/audit-log-searches", role: token.Auditor,
			body: `{"StartDate": "-1d", "EndDate": "now", "StatusMailRecipients": ["soc@example.com"], "Name": "` + bigName + `"}`}},
		{"bypass", call{method: "PATCH", path: "/api/v1/bypass-associations", query: url.Values{"identity": {bigName}}, role: token.Admin,
			body: `{"AuditBypassEnabled": true, "Padding": "` + bigName + `"}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := e.do(t, tc.c)
			if a.status != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d, want 413: %s", a.status, a.body)
			}
			code, msg := a.apiError(t)
			if code != "invalid" || !strings.Contains(msg, fmt.Sprintf("limit of %d bytes", limit)) {
				t.Errorf("answer %s", a.body)
			}
		})
	}
	// Nothing of the refused batches, mailboxes or changes is stored.
	var ms []map[string]any
	e.must(t, 200, call{method: "GET", path: "/api/v1/mailboxes", role: token.Admin}).decode(t, &ms)
	if len(ms) != 0 {
		t.Errorf("%d mailboxes after refused requests: %v", len(ms), ms)
	}
	if recs := e.search(t, "/api/v1/unified-audit-log", url.Values{"result-size": {"unlimited"}}); len(recs) != 0 {
		t.Errorf("%d records after refused requests: %v", len(recs), recs)
	}
	// A body within the limit is taken.
	e.must(t, 200, call{method: "POST", path: "/api/v1/activity", role: token.Ingest, ctype: ndjson,
		body: activity("small-1", "Update", "alice@example.com", "alice@example.com", now.Add(-time.Minute), nil)})
}

type ingestReport struct {
	Read, Recorded, Aggregated, NotAudited, Duplicates, Refused, CommittedThroughLine int
	NotAuditedReasons                                                                 map[string]int
	RefusedLines                                                                      []struct {
		Line   int
		Reason string
	}
}

// TestIngestBadLines: a batch with bad lines is answered 422; the good lines
// land, the bad ones are listed with their line numbers and reasons, and
// sending the batch again stores nothing twice.
func TestIngestBadLines(t *testing.T) {
	e := newEnv(t)
	now := time.Now().Add(-time.Hour)
	good := func(id, op string) string {
		return activity(id, op, "alice@example.com", "alice@example.com", now, map[string]any{
			"ClientIPAddress": "192.0.2.7", "ClientInfoString": "Client=IMAP4;name=neomutt",
			"Items": []map[string]any{{"Id": "INBOX:1:" + id, "Subject": "Report " + id, "SizeInBytes": 462, "ParentFolder": map[string]any{"Path": "/Inbox"}}},
		})
	}
	lines := []string{
		good("g-1", "Update"),                       // 1
		`{"SourceEventId": "b-1", "Source": "api",`, // 2: malformed
		good("g-2", "HardDelete"),                   // 3
		activity("b-2", "Update", "alice@example.com", "alice@example.com", now, map[string]any{"Colour": "blue"}), // 4: unknown field
		"", // 5: blank, skipped
		activity("b-3", "Update", "alice@example.com", "alice@example.com", now, map[string]any{"ExternalAccess": "yes"}), // 6: wrong type
		good("g-3", "SoftDelete"), // 7
		`{"SourceEventId": "b-4", "Source": "api", "Operation": "Update", "UserId": "alice@example.com"}`, // 8: missing fields
		activity("b-5", "Teleport", "alice@example.com", "alice@example.com", now, nil),                   // 9: unknown operation
		`[1, 2, 3]`, // 10: not an object
	}
	batch := strings.Join(lines, "\n") + "\n"
	wantRefused := map[int]string{
		2:  "malformed JSON",
		4:  `unknown field "Colour"`,
		6:  "ExternalAccess",
		8:  "missing required field CreationTime, MailboxOwnerUPN",
		9:  `unknown operation "Teleport"`,
		10: "not a JSON object",
	}

	for round := 1; round <= 2; round++ {
		a := e.do(t, call{method: "POST", path: "/api/v1/activity", role: token.Ingest, ctype: ndjson, body: batch})
		if a.status != http.StatusUnprocessableEntity {
			t.Fatalf("round %d: status %d, want 422: %s", round, a.status, a.body)
		}
		if a.docRefused == "" {
			t.Errorf("round %d: openapi.yaml accepts a batch with bad lines", round)
		}
		var rep ingestReport
		a.decode(t, &rep)
		if rep.Read != 9 || rep.Refused != len(wantRefused) || len(rep.RefusedLines) != len(wantRefused) || rep.CommittedThroughLine != len(lines) {
			t.Errorf("round %d: report %+v", round, rep)
		}
		var got []int
		for _, r := range rep.RefusedLines {
			got = append(got, r.Line)
			if want, ok := wantRefused[r.Line]; !ok || !strings.Contains(r.Reason, want) {
				t.Errorf("round %d: line %d refused because %q, want %q", round, r.Line, r.Reason, want)
			}
		}
		if !slices.Equal(got, []int{2, 4, 6, 8, 9, 10}) {
			t.Errorf("round %d: refused lines %v", round, got)
		}
		switch round {
		case 1:
			if rep.Recorded != 3 || rep.Duplicates != 0 {
				t.Errorf("first round: %d recorded, %d duplicates, want 3 and 0", rep.Recorded, rep.Duplicates)
			}
		case 2:
			if rep.Recorded != 0 || rep.Duplicates != 3 {
				t.Errorf("second round: %d recorded, %d duplicates, want 0 and 3", rep.Recorded, rep.Duplicates)
			}
		}
		// The good lines are in the log, once each, whatever was refused
		// around them.
		recs := e.search(t, "/api/v1/mailbox-audit-log", url.Values{"mailboxes": {"alice@example.com"}})
		var ops []string
		for _, r := range recs {
			ops = append(ops, fmt.Sprint(r["Operation"]))
			if r["ClientIPAddress"] != "192.0.2.7" {
				t.Errorf("round %d: record %v", round, r)
			}
		}
		slices.Sort(ops)
		if !slices.Equal(ops, []string{"HardDelete", "SoftDelete", "Update"}) {
			t.Errorf("round %d: records %v, want HardDelete, SoftDelete, Update once each", round, ops)
		}
	}

	// A batch of good lines only is 200.
	a := e.must(t, 200, call{method: "POST", path: "/api/v1/activity", role: token.Ingest, ctype: ndjson, body: good("g-4", "Update") + "\n" + good("g-5", "Update")})
	var rep ingestReport
	a.decode(t, &rep)
	if rep.Read != 2 || rep.Recorded != 2 || rep.Refused != 0 {
		t.Errorf("report %+v", rep)
	}
	if a.docRefused != "" {
		t.Errorf("openapi.yaml refuses a good batch: %s", a.docRefused)
	}
}

// TestStoreFailure: when the store fails, a batch is answered 503 with the
// report (nothing committed) and other calls 500, without the detail (which
// names files) that only the server's log may hold.
func TestStoreFailure(t *testing.T) {
	e := newEnv(t, func(s *httpapi.Server) { s.Runner = nil })
	e.mailbox(t, `{"Address": "alice@example.com"}`)
	now := time.Now()
	if err := e.store.Close(); err != nil {
		t.Fatal(err)
	}
	batch := activity("f-1", "Update", "alice@example.com", "alice@example.com", now, nil) + "\n" +
		activity("f-2", "Update", "alice@example.com", "alice@example.com", now, nil) + "\n"
	a := e.do(t, call{method: "POST", path: "/api/v1/activity", role: token.Ingest, ctype: ndjson, body: batch})
	if a.status != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503: %s", a.status, a.body)
	}
	var failed struct {
		Error  struct{ Code, Message string }
		Report ingestReport
	}
	a.decode(t, &failed)
	if failed.Error.Code != "unavailable" || !strings.Contains(failed.Error.Message, "send the batch again") ||
		failed.Report.Read != 2 || failed.Report.CommittedThroughLine != 0 {
		t.Errorf("answer %s", a.body)
	}
	for _, c := range []call{
		{method: "GET", path: "/api/v1/unified-audit-log", role: token.Auditor},
		{method: "POST", path: "/api/v1/mailboxes", role: token.Admin, body: `{"Address": "bob@example.com"}`},
	} {
		a := e.do(t, c)
		if a.status != http.StatusInternalServerError {
			t.Fatalf("%s: status %d, want 500: %s", c, a.status, a.body)
		}
		code, msg := a.apiError(t)
		if code != "internal" || msg != "internal error: the server's log says more" {
			t.Errorf("%s: answer %s", c, a.body)
		}
		for _, leak := range []string{e.dir, "sqlite", ".db", "closed"} {
			if strings.Contains(string(a.body), leak) {
				t.Errorf("%s: the answer mentions %q: %s", c, leak, a.body)
			}
		}
	}
}
