package httpapi_test

import (
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailaudit/mailaudit/httpapi"
	"github.com/mailaudit/mailaudit/token"
)

// TestDovecotEvents: Dovecot posts with the token as a basic-authentication
// password; each event is checked, and what is taken reaches the spool.
func TestDovecotEvents(t *testing.T) {
	e := newEnv(t)
	basic := func(secret string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte("dovecot:"+secret))
	}
	bound, err := e.tokens.Create("milter-only", token.Ingest, time.Now(), "postfix")
	if err != nil {
		t.Fatal(err)
	}
	event := `{"event":"imap_command_finished","hostname":"vm","end_time":"2026-11-22T02:57:34.735159Z","fields":{"user":"alice","session":"s1","cmd_name":"SELECT"}}`
	for _, tc := range []struct {
		name, auth, body string
		want             int
		says             string
	}{
		{"basic ingest token", basic(e.secrets[token.Ingest]), event, http.StatusNoContent, ""},
		{"bearer ingest token", "Bearer " + e.secrets[token.Ingest], event, http.StatusNoContent, ""},
		{"basic wrong token", basic("mat_" + strings.Repeat("A", 43)), event, http.StatusUnauthorized, "authentication required"},
		{"basic auditor token", basic(e.secrets[token.Auditor]), event, http.StatusForbidden, ""},
		{"token bound to another source", basic(bound), event, http.StatusForbidden, "Dovecot's events"},
		{"not JSON", basic(e.secrets[token.Ingest]), `{"event":`, http.StatusBadRequest, "malformed JSON"},
		{"no event name", basic(e.secrets[token.Ingest]), `{"fields":{}}`, http.StatusBadRequest, "without a name"},
		{"too large", basic(e.secrets[token.Ingest]), `{"event":"x","hostname":"` + strings.Repeat("h", 300<<10) + `"}`, http.StatusRequestEntityTooLarge, "over the limit of 262144 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := e.do(t, call{method: "POST", path: "/api/v1/dovecot/events", auth: tc.auth, ctype: "application/json", body: tc.body})
			if a.status != tc.want || !strings.Contains(string(a.body), tc.says) {
				t.Errorf("status %d, want %d: %s", a.status, tc.want, a.body)
			}
		})
	}
	// Basic authentication is taken only where Dovecot needs it.
	if a := e.do(t, call{method: "GET", path: "/api/v1/organization", auth: basic(e.secrets[token.Admin])}); a.status != http.StatusUnauthorized {
		t.Errorf("basic authentication elsewhere: %d %s", a.status, a.body)
	}
	e.srv.Close()
	b, _ := os.ReadFile(filepath.Join(e.dir, "dovecot-events.log"))
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(string(b), "imap_command_finished") < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		b, _ = os.ReadFile(filepath.Join(e.dir, "dovecot-events.log"))
	}
	if n := strings.Count(string(b), " stats: Info: "+event); n != 2 {
		t.Errorf("the spool holds %d of the 2 events taken:\n%s", n, b)
	}
}

// A daemon without an http-post Dovecot source says so.
func TestDovecotEventsOff(t *testing.T) {
	e := newEnv(t, func(s *httpapi.Server) { s.DovecotEvents = nil })
	a := e.do(t, call{method: "POST", path: "/api/v1/dovecot/events", role: token.Ingest, ctype: "application/json", body: `{"event":"x"}`})
	if a.status != http.StatusNotFound || !strings.Contains(string(a.body), `events = \"http-post\"`) {
		t.Errorf("status %d: %s", a.status, a.body)
	}
}
