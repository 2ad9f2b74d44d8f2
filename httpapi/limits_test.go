package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailaudit/mailaudit/service"
	"github.com/mailaudit/mailaudit/sqlite"
	"github.com/mailaudit/mailaudit/token"
)

// With every search slot taken, a search waits SearchWait for its turn and
// is then answered 503 saying why; once a slot frees, searches run again.
func TestSearchLimit(t *testing.T) {
	dir := t.TempDir()
	st, err := sqlite.Open(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc, err := service.Open(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	tf := token.Open(filepath.Join(dir, "tokens.json"))
	secret, err := tf.Create("siem", token.Auditor, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Service: svc, Tokens: tf, MaxSearches: 1, SearchWait: 50 * time.Millisecond}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	search := func() (int, string) {
		req, _ := http.NewRequest("GET", ts.URL+"/api/v1/unified-audit-log", nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct{ Error apiError }
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body.Error.Message
	}
	if code, _ := search(); code != http.StatusOK {
		t.Fatalf("a search with a free slot: %d", code)
	}
	s.searches <- struct{}{} // a long search holds the only slot
	code, msg := search()
	if code != http.StatusServiceUnavailable || !strings.Contains(msg, "all 1 search slots are busy") {
		t.Errorf("a search over the limit: %d %q", code, msg)
	}
	<-s.searches
	if code, _ := search(); code != http.StatusOK {
		t.Errorf("after the slot freed: %d", code)
	}
}

// A known path with a method it does not take is 405 naming those it does;
// an unknown path is 404. Both before any token is looked at.
func TestMethodNotAllowed(t *testing.T) {
	ts := httptest.NewServer((&Server{}).Handler())
	defer ts.Close()
	for _, tc := range []struct {
		method, path string
		code         int
		allow        string
	}{
		{"PUT", "/api/v1/mailboxes", http.StatusMethodNotAllowed, "GET, POST, PATCH, DELETE"},
		{"DELETE", "/api/v1/baselines/asd-blueprint", http.StatusMethodNotAllowed, "GET"},
		{"GET", "/api/v1/audit-log-searches/x/result", http.StatusUnauthorized, ""},
		{"GET", "/api/v1/nothing", http.StatusNotFound, ""},
	} {
		req, _ := http.NewRequest(tc.method, ts.URL+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code || resp.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d Allow %q, want %d %q", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Allow"), tc.code, tc.allow)
		}
	}
}
