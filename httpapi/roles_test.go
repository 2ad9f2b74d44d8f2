package httpapi_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mailaudit/mailaudit/httpapi"
	"github.com/mailaudit/mailaudit/token"
)

// wantMatrix is the role matrix as issue 4 and the docs state it, written
// out by hand: a role granted by mistake, or an endpoint added without a
// decision about its roles, fails TestRoleMatrixIsAsDocumented.
var wantMatrix = map[string][]token.Role{
	"POST /api/v1/activity":                            {token.Ingest},
	"POST /api/v1/dovecot/events":                      {token.Ingest},
	"GET /api/v1/mailbox-audit-log":                    {token.Auditor},
	"GET /api/v1/unified-audit-log":                    {token.Auditor},
	"GET /api/v1/admin-audit-log":                      {token.Auditor},
	"GET /api/v1/organization":                         {token.Admin, token.Auditor},
	"PATCH /api/v1/organization":                       {token.Admin},
	"GET /api/v1/mailboxes":                            {token.Admin, token.Auditor},
	"POST /api/v1/mailboxes":                           {token.Admin},
	"PATCH /api/v1/mailboxes":                          {token.Admin},
	"DELETE /api/v1/mailboxes":                         {token.Admin},
	"GET /api/v1/permissions":                          {token.Admin, token.Auditor},
	"POST /api/v1/permissions":                         {token.Admin},
	"DELETE /api/v1/permissions":                       {token.Admin},
	"GET /api/v1/bypass-associations":                  {token.Admin, token.Auditor},
	"PATCH /api/v1/bypass-associations":                {token.Admin},
	"GET /api/v1/baselines/{name}":                     {token.Admin, token.Auditor},
	"POST /api/v1/baselines/{name}/apply":              {token.Admin},
	"POST /api/v1/retention":                           {token.Admin},
	"GET /metrics":                                     {token.Admin, token.Auditor},
	"POST /api/v1/audit-log-searches":                  {token.Auditor},
	"GET /api/v1/audit-log-searches":                   {token.Auditor},
	"GET /api/v1/audit-log-searches/{identity}/result": {token.Auditor},
	"GET /api/v1/reports/non-owner-mailbox-access":     {token.Auditor},
	"GET /api/v1/reports/mailbox-audit-configuration":  {token.Auditor},
}

// public are the operations that need no token.
var public = []string{"GET /healthz", "GET /readyz", "GET /api/v1/openapi.yaml"}

func key(ep httpapi.Endpoint) string { return ep.Method + " " + ep.Path }

func roleNames(rs []token.Role) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, string(r))
	}
	sort.Strings(out)
	return out
}

func TestRoleMatrixIsAsDocumented(t *testing.T) {
	got := map[string][]token.Role{}
	for _, ep := range httpapi.Endpoints() {
		if _, dup := got[key(ep)]; dup {
			t.Errorf("%s is listed twice", key(ep))
		}
		got[key(ep)] = ep.Roles
		want, ok := wantMatrix[key(ep)]
		if !ok {
			t.Errorf("%s: an endpoint the expected matrix does not know (roles %v): decide its roles and add it", key(ep), ep.Roles)
			continue
		}
		if !slices.Equal(roleNames(ep.Roles), roleNames(want)) {
			t.Errorf("%s: roles %v, want %v", key(ep), roleNames(ep.Roles), roleNames(want))
		}
	}
	for k := range wantMatrix {
		if _, ok := got[k]; !ok {
			t.Errorf("%s: in the expected matrix but not served", k)
		}
	}
	// Least privilege: ingest writes activity and nothing else, and nothing
	// but auditor reads the audit log.
	for k, roles := range got {
		if slices.Contains(roles, token.Ingest) && k != "POST /api/v1/activity" && k != "POST /api/v1/dovecot/events" {
			t.Errorf("%s: the ingest role may call it", k)
		}
		if strings.Contains(k, "audit-log") && !slices.Equal(roleNames(roles), []string{"auditor"}) {
			t.Errorf("%s: an audit log search open to %v", k, roleNames(roles))
		}
	}
}

// TestDocumentCoversEndpoints: every served endpoint is an operation of
// openapi.yaml with the same roles, and every operation of the document is
// served.
func TestDocumentCoversEndpoints(t *testing.T) {
	d, _ := loadDoc(t)
	if len(d.Security) != 1 || d.Security[0]["bearer"] == nil {
		t.Errorf("the document's default security is %v, want bearer", d.Security)
	}
	served := map[string]httpapi.Endpoint{}
	for _, ep := range httpapi.Endpoints() {
		served[key(ep)] = ep
	}
	documented := map[string]bool{}
	for path, item := range d.Paths.Map() {
		for method, op := range item.Operations() {
			k := method + " " + path
			documented[k] = true
			ep, isServed := served[k]
			isPublic := slices.Contains(public, k)
			switch {
			case isPublic:
				if op.Security == nil || len(*op.Security) != 0 {
					t.Errorf("%s: needs no token, but the document does not say so (security: [])", k)
				}
				if _, ok := op.Extensions["x-roles"]; ok {
					t.Errorf("%s: needs no token, but the document lists roles", k)
				}
			case !isServed:
				t.Errorf("%s: in openapi.yaml but not served", k)
			default:
				if op.Security != nil && (len(*op.Security) == 0 || (*op.Security)[0]["bearer"] == nil) {
					t.Errorf("%s: overrides the bearer security", k)
				}
				raw, _ := op.Extensions["x-roles"].([]any)
				var docRoles []string
				for _, r := range raw {
					docRoles = append(docRoles, fmt.Sprint(r))
				}
				sort.Strings(docRoles)
				if !slices.Equal(docRoles, roleNames(ep.Roles)) {
					t.Errorf("%s: x-roles %v, but the server allows %v", k, docRoles, roleNames(ep.Roles))
				}
				for _, r := range roleNames(ep.Roles) {
					if !strings.Contains(op.Description, r) {
						t.Errorf("%s: the description does not name role %s", k, r)
					}
				}
				if op.Responses.Value("200") == nil && op.Responses.Value("201") == nil && op.Responses.Value("204") == nil {
					t.Errorf("%s: no success documented", k)
				}
				for _, status := range []string{"401", "403"} {
					if op.Responses.Value(status) == nil {
						t.Errorf("%s: no %s response documented", k, status)
					}
				}
			}
		}
	}
	for k := range served {
		if !documented[k] {
			t.Errorf("%s: served but not in openapi.yaml", k)
		}
	}
	for _, k := range public {
		if !documented[k] {
			t.Errorf("%s: served without a token but not in openapi.yaml", k)
		}
	}
}

// sample is a well-formed request to an endpoint, and what an allowed role
// gets for it.
type sample struct {
	path  string // with path parameters filled in; the endpoint's own if ""
	query url.Values
	ctype string
	body  string
	want  int
}

// samples gives each endpoint a request that succeeds for an allowed role.
// An endpoint without one is still walked (with an empty request), and
// TestRoleMatrixIsAsDocumented fails for it.
func samples(now time.Time, searchID string) map[string]sample {
	return map[string]sample{
		"POST /api/v1/activity": {ctype: ndjson, want: 200,
			body: activity("m-1", "Update", "alice@example.com", "alice@example.com", now.Add(-time.Hour), nil) + "\n"},
		"POST /api/v1/dovecot/events": {ctype: "application/json", want: 204,
			body: `{"event":"mail_opened","hostname":"vm","end_time":"` + now.UTC().Format(time.RFC3339Nano) + `","fields":{"user":"alice","session":"s1","mailbox":"INBOX","uid":1}}`},
		"GET /api/v1/mailbox-audit-log":       {query: url.Values{"mailboxes": {"alice@example.com"}}, want: 200},
		"GET /api/v1/unified-audit-log":       {query: url.Values{"result-size": {"10"}}, want: 200},
		"GET /api/v1/admin-audit-log":         {query: url.Values{"operations": {"New-Mailbox"}}, want: 200},
		"GET /api/v1/organization":            {want: 200},
		"PATCH /api/v1/organization":          {body: `{"AuditDisabled": false}`, want: 200},
		"GET /api/v1/mailboxes":               {query: url.Values{"type": {"UserMailbox"}}, want: 200},
		"POST /api/v1/mailboxes":              {body: `{"Address": "carol@example.com", "Type": "SharedMailbox", "Attributes": {"Department": "Legal"}}`, want: 201},
		"PATCH /api/v1/mailboxes":             {query: url.Values{"identity": {"alice@example.com"}}, body: `{"AuditOwnerAdd": ["MailboxLogin"]}`, want: 200},
		"DELETE /api/v1/mailboxes":            {query: url.Values{"identity": {"gone@example.com"}}, want: 200},
		"GET /api/v1/permissions":             {query: url.Values{"identity": {"alice@example.com"}}, want: 200},
		"POST /api/v1/permissions":            {body: `{"Identity": "alice@example.com", "User": "svc-send", "AccessRights": "SendAs"}`, want: 200},
		"DELETE /api/v1/permissions":          {query: url.Values{"identity": {"alice@example.com"}, "user": {"bob@example.com"}, "access-rights": {"FullAccess"}}, want: 200},
		"GET /api/v1/bypass-associations":     {want: 200},
		"PATCH /api/v1/bypass-associations":   {query: url.Values{"identity": {"svc-backup"}}, body: `{"AuditBypassEnabled": false}`, want: 200},
		"GET /api/v1/baselines/{name}":        {path: "/api/v1/baselines/asd-blueprint", want: 200},
		"POST /api/v1/baselines/{name}/apply": {path: "/api/v1/baselines/asd-blueprint/apply", want: 200},
		"POST /api/v1/retention":              {want: 200},
		"GET /metrics":                        {want: 200},
		"POST /api/v1/audit-log-searches": {want: 201,
			body: `{"Mailboxes": ["alice@example.com"], "StartDate": "-7d", "EndDate": "now", "StatusMailRecipients": ["soc@example.com"]}`},
		"GET /api/v1/audit-log-searches": {query: url.Values{"created-after": {"-1d"}}, want: 200},
		"GET /api/v1/audit-log-searches/{identity}/result": {path: "/api/v1/audit-log-searches/" + searchID + "/result",
			query: url.Values{"format": {"csv"}}, want: 200},
		"GET /api/v1/reports/non-owner-mailbox-access": {query: url.Values{"start": {"-30d"}, "access-type": {"All non-owners"}, "entries": {"true"}},
			want: 200},
		"GET /api/v1/reports/mailbox-audit-configuration": {query: url.Values{"type": {"UserMailbox"}}, want: 200},
	}
}

// seed gives the matrix's samples something to act on, and returns the
// Identity of a finished background search.
func seed(t *testing.T, e *env) string {
	t.Helper()
	for _, addr := range []string{"alice@example.com", "bob@example.com", "gone@example.com"} {
		e.mailbox(t, fmt.Sprintf(`{"Address": %q}`, addr))
	}
	e.must(t, 200, call{method: "POST", path: "/api/v1/permissions", role: token.Admin,
		body: `{"Identity": "alice@example.com", "User": "bob@example.com", "AccessRights": "FullAccess"}`})
	e.must(t, 200, call{method: "PATCH", path: "/api/v1/bypass-associations", role: token.Admin,
		query: url.Values{"identity": {"svc-backup"}}, body: `{"AuditBypassEnabled": true}`})
	a := e.must(t, 201, call{method: "POST", path: "/api/v1/audit-log-searches", role: token.Auditor,
		body: `{"Name": "seed", "StartDate": "-1d", "EndDate": "now", "StatusMailRecipients": ["soc@example.com"], "Formats": ["csv", "json"]}`})
	var as struct{ Identity string }
	a.decode(t, &as)
	e.searchDone(t, as.Identity)
	return as.Identity
}

// leaks lists what an answer to a refused request must not mention.
func (e *env) leaks(path string) []string {
	out := []string{path, e.dir, "tokens.json"}
	for _, r := range token.Roles {
		out = append(out, string(r), tokenNames[r], e.secrets[r])
	}
	return out
}

// TestRoleMatrix walks every endpoint × {no token, wrong token, admin,
// auditor, ingest} over HTTP.
func TestRoleMatrix(t *testing.T) {
	e := newEnv(t)
	smp := samples(time.Now(), seed(t, e))
	type caller struct {
		name string
		role token.Role
		auth string
	}
	callers := []caller{
		{name: "no token"},
		{name: "wrong token", auth: "Bearer mat_" + strings.Repeat("A", 43)},
		{name: "admin", role: token.Admin},
		{name: "auditor", role: token.Auditor},
		{name: "ingest", role: token.Ingest},
	}
	var unauthorized []byte
	for _, ep := range httpapi.Endpoints() {
		s, ok := smp[key(ep)]
		if !ok {
			t.Errorf("%s: no sample request; walked with an empty one", key(ep))
		}
		path := s.path
		if path == "" {
			path = ep.Path
		}
		for _, c := range callers {
			t.Run(key(ep)+"/"+c.name, func(t *testing.T) {
				a := e.do(t, call{method: ep.Method, path: path, query: s.query, role: c.role, auth: c.auth, ctype: s.ctype, body: s.body})
				// The expected matrix decides, so that a role granted by
				// mistake is caught over HTTP too; an endpoint it does not
				// know yet is held to its own roles.
				roles, known := wantMatrix[key(ep)]
				if !known {
					roles = ep.Roles
				}
				allowed := c.role != "" && slices.Contains(roles, c.role)
				switch {
				case c.role == "":
					if a.status != http.StatusUnauthorized {
						t.Fatalf("status %d, want 401: %s", a.status, a.body)
					}
					if code, _ := a.apiError(t); code != "unauthorized" {
						t.Errorf("code %q, want unauthorized", code)
					}
					if !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer ") {
						t.Errorf("WWW-Authenticate %q", a.header.Get("WWW-Authenticate"))
					}
					// Every 401 says the same, whatever the endpoint and
					// whatever was wrong with the token.
					if unauthorized == nil {
						unauthorized = a.body
					} else if !bytes.Equal(a.body, unauthorized) {
						t.Errorf("this 401 says %s, another said %s", a.body, unauthorized)
					}
					for _, leak := range append(e.leaks(path), "role") {
						if strings.Contains(strings.ToLower(string(a.body)+a.header.Get("WWW-Authenticate")), strings.ToLower(leak)) {
							t.Errorf("the 401 mentions %q: %s", leak, a.body)
						}
					}
				case !allowed:
					if a.status != http.StatusForbidden {
						t.Fatalf("status %d, want 403: %s", a.status, a.body)
					}
					if code, _ := a.apiError(t); code != "forbidden" {
						t.Errorf("code %q, want forbidden", code)
					}
					for _, leak := range e.leaks(path) {
						if strings.Contains(strings.ToLower(string(a.body)), strings.ToLower(leak)) {
							t.Errorf("the 403 mentions %q: %s", leak, a.body)
						}
					}
				default:
					if a.status == http.StatusUnauthorized || a.status == http.StatusForbidden {
						t.Fatalf("role %s is allowed but got %d: %s", c.role, a.status, a.body)
					}
					if s.want != 0 && a.status != s.want {
						t.Errorf("status %d, want %d: %s", a.status, s.want, a.body)
					}
					if a.docRefused != "" {
						t.Errorf("openapi.yaml refuses the sample request: %s", a.docRefused)
					}
				}
			})
		}
	}
	// Every endpoint was answered, and each answer was checked against the
	// document.
	e.srv.Close()
	e.v.mu.Lock()
	defer e.v.mu.Unlock()
	for _, ep := range httpapi.Endpoints() {
		st := e.v.seen[key(ep)]
		for _, code := range []int{401, 403} {
			if !st[code] && !(code == 403 && len(ep.Roles) == len(token.Roles)) {
				t.Errorf("%s: no %d answer was checked", key(ep), code)
			}
		}
	}
}

// TestUnauthorizedVariants: however a token is wrong, the answer is the
// same 401.
func TestUnauthorizedVariants(t *testing.T) {
	e := newEnv(t)
	revoked, err := e.tokens.Create("tok-revoked", token.Admin, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.tokens.Revoke("tok-revoked"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, auth string }{
		{"revoked token", "Bearer " + revoked},
		{"unknown token", "Bearer mat_" + strings.Repeat("x", 43)},
		{"not a token", "Bearer hunter2"},
		{"empty bearer", "Bearer "},
		{"basic auth", "Basic YWRtaW46YWRtaW4="},
		{"token without scheme", e.secrets[token.Admin]},
		{"token as another scheme", "Token " + e.secrets[token.Admin]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := e.do(t, call{method: "GET", path: "/api/v1/organization", auth: tc.auth})
			if a.status != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401: %s", a.status, a.body)
			}
			if code, msg := a.apiError(t); code != "unauthorized" || msg != "authentication required" {
				t.Errorf("answer %s", a.body)
			}
			for _, leak := range append(e.leaks("/api/v1/organization"), "tok-revoked", "role", "revoked") {
				if strings.Contains(strings.ToLower(string(a.body)), strings.ToLower(leak)) {
					t.Errorf("the 401 mentions %q: %s", leak, a.body)
				}
			}
		})
	}
	// The scheme is case-insensitive (RFC 9110), and the token still works
	// when written so.
	e.must(t, 200, call{method: "GET", path: "/api/v1/organization", auth: "bearer " + e.secrets[token.Admin]})
}

// TestPublicEndpoints: health, readiness and the document need no token.
func TestPublicEndpoints(t *testing.T) {
	ready := true
	e := newEnv(t, func(s *httpapi.Server) {
		s.Ready = func() error {
			if !ready {
				return fmt.Errorf("not ready: starting or stopping")
			}
			return nil
		}
	})
	e.must(t, 200, call{method: "GET", path: "/healthz"})
	e.must(t, 200, call{method: "GET", path: "/readyz"})
	a := e.must(t, 200, call{method: "GET", path: "/api/v1/openapi.yaml"})
	if !bytes.Equal(a.body, httpapi.OpenAPI) || len(a.body) == 0 {
		t.Errorf("the served document is not openapi.yaml (%d bytes)", len(a.body))
	}
	ready = false
	a = e.must(t, 503, call{method: "GET", path: "/readyz"})
	if code, msg := a.apiError(t); code != "unavailable" || !strings.Contains(msg, "not ready") {
		t.Errorf("answer %s", a.body)
	}
}

// TestMetricsNotCollected: a server without metrics answers 404, as
// documented.
func TestMetricsNotCollected(t *testing.T) {
	e := newEnv(t, func(s *httpapi.Server) { s.Metrics = nil })
	a := e.must(t, 404, call{method: "GET", path: "/metrics", role: token.Auditor})
	if code, _ := a.apiError(t); code != "not_found" {
		t.Errorf("answer %s", a.body)
	}
}
