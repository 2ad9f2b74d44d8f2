package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mailaudit/mailaudit/token"
)

// An ingest token bound to sources may submit only activity of those
// sources: the others are refused line by line, naming the source, and the
// allowed lines land. A source claiming to be another cannot borrow the
// trust that AdminHintSources gives the other.
func TestIngestTokenBoundToSources(t *testing.T) {
	e := newEnv(t)
	secret, err := e.tokens.Create("mx1-dovecot", token.Ingest, time.Now(), "dovecot")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Hour)
	lines := []string{
		activity("1", "HardDelete", "alice@example.org", "alice@example.org", at, map[string]any{"Source": "dovecot"}),
		activity("2", "HardDelete", "alice@example.org", "alice@example.org", at, map[string]any{"Source": "import"}),
		activity("3", "HardDelete", "admin", "alice@example.org", at, map[string]any{"Source": "milter", "LogonTypeHint": "Admin"}),
	}
	a := e.do(t, call{method: "POST", path: "/api/v1/activity", auth: "Bearer " + secret, ctype: "application/x-ndjson",
		body: strings.Join(lines, "\n") + "\n"})
	if a.status != http.StatusUnprocessableEntity {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	var rep struct {
		Read, Recorded int
		RefusedLines   []struct {
			Line   int
			Reason string
		}
	}
	a.decode(t, &rep)
	if rep.Read != 3 || rep.Recorded != 1 || len(rep.RefusedLines) != 2 || rep.RefusedLines[0].Line != 2 || rep.RefusedLines[1].Line != 3 ||
		rep.RefusedLines[0].Reason != `Source "import" is not one this token may submit (dovecot)` {
		t.Errorf("report %+v", rep)
	}
	recs := e.search(t, "/api/v1/mailbox-audit-log", url.Values{"mailboxes": {"alice@example.org"}, "start": {"-1d"}})
	if len(recs) != 1 {
		t.Errorf("%d records, want the one of the allowed source", len(recs))
	}
	// Only ingest tokens are bound.
	if _, err := e.tokens.Create("x", token.Auditor, time.Now(), "dovecot"); err == nil {
		t.Error("an auditor token was bound to a source")
	}
}
