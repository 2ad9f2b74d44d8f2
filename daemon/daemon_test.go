package daemon

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mailaudit/mailaudit/audit"
	"github.com/mailaudit/mailaudit/config"
	"github.com/mailaudit/mailaudit/httpapi"
	"github.com/mailaudit/mailaudit/service"
	"github.com/mailaudit/mailaudit/sqlite"
	"github.com/mailaudit/mailaudit/token"
)

// running is a daemon started by a test.
type running struct {
	addr   string
	cancel context.CancelFunc
	done   chan error
	logs   *lockedWriter
	tokens map[token.Role]string
}

func start(t *testing.T, cfg config.Config) *running {
	t.Helper()
	r := &running{done: make(chan error, 1), logs: &lockedWriter{w: &bytes.Buffer{}}, tokens: map[token.Role]string{}}
	tf := token.Open(cfg.TokensPath())
	for _, role := range token.Roles {
		s, err := tf.Create("t-"+string(role), role, time.Now())
		if err != nil && !strings.Contains(err.Error(), "exists already") {
			t.Fatal(err)
		}
		r.tokens[role] = s
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	addr := make(chan string, 1)
	d := &Daemon{Config: &cfg, Log: slog.New(slog.NewJSONHandler(r.logs, nil)), Listening: func(a []string) { addr <- a[0] }}
	go func() { r.done <- d.Run(ctx) }()
	select {
	case r.addr = <-addr:
	case err := <-r.done:
		cancel()
		t.Fatalf("the daemon did not start: %v", err)
	}
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t *testing.T) {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	if err := <-r.done; err != nil {
		t.Errorf("the daemon stopped with %v", err)
	}
}

// lockedWriter lets the daemon's goroutines share the log buffer.
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func testConfig(t *testing.T) config.Config {
	cfg := config.Defaults()
	cfg.Data = filepath.Join(t.TempDir(), "data")
	cfg.Listen = []config.Listener{{Address: "127.0.0.1:0"}}
	return cfg
}

func activity(i int) string {
	return fmt.Sprintf(`{"SourceEventId":"e%d","Source":"test","CreationTime":"2026-11-20T09:%02d:%02dZ","Operation":"HardDelete","UserId":"alice@example.org","MailboxOwnerUPN":"alice@example.org","Items":[{"Id":"INBOX:1:%d","Subject":"m%d"}]}`, i, (i/60)%60, i%60, i, i)
}

func countRecords(t *testing.T, data string) int {
	t.Helper()
	st, err := sqlite.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc, err := service.Open(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	_, err = svc.SearchMailboxAuditLog(context.Background(), service.MailboxSearch{
		Start: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
		ResultSize: service.MailboxSearchMax}, func(*audit.Record) error { n++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// SIGTERM while a batch is on its way: the daemon waits for it, commits it,
// answers 200, and only then stops. Nothing acknowledged is lost.
func TestShutdownFinishesBatchInFlight(t *testing.T) {
	cfg := testConfig(t)
	d := start(t, cfg)
	const n = 3000
	var body bytes.Buffer
	for i := range n {
		body.WriteString(activity(i) + "\n")
	}
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", "http://"+d.addr+"/api/v1/activity", pr)
	req.Header.Set("Authorization", "Bearer "+d.tokens[token.Ingest])
	type answer struct {
		code int
		rep  service.IngestReport
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			got <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		var a answer
		a.code = resp.StatusCode
		a.err = json.NewDecoder(resp.Body).Decode(&a.rep)
		got <- a
	}()
	half := body.Len() / 2
	if _, err := pw.Write(body.Bytes()[:half]); err != nil {
		t.Fatal(err)
	}
	// The request is being read: now the daemon is told to stop.
	time.Sleep(100 * time.Millisecond)
	d.cancel()
	stopped := d.done
	d.cancel = nil
	if _, err := pw.Write(body.Bytes()[half:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	a := <-got
	if a.err != nil || a.code != http.StatusOK || a.rep.Recorded != n {
		t.Fatalf("answer during shutdown: %d %+v %v", a.code, a.rep, a.err)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if got := countRecords(t, cfg.Data); got != n {
		t.Errorf("%d records stored, %d acknowledged", got, n)
	}
	if !strings.Contains(d.logs.String(), "finishing requests in flight") {
		t.Errorf("no shutdown message in the log:\n%s", d.logs)
	}
}

func TestReadyHealthMetrics(t *testing.T) {
	cfg := testConfig(t)
	d := start(t, cfg)
	get := func(path, tok string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+d.addr+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz", ""); code != 200 {
		t.Errorf("/healthz %d", code)
	}
	if code, _ := get("/readyz", ""); code != 200 {
		t.Errorf("/readyz %d", code)
	}
	// Some activity and a search, so the metrics have something to say.
	req, _ := http.NewRequest("POST", "http://"+d.addr+"/api/v1/activity", strings.NewReader(activity(1)+"\n"+activity(2)+"\nnot json\n"))
	req.Header.Set("Authorization", "Bearer "+d.tokens[token.Ingest])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if code, _ := get("/api/v1/mailbox-audit-log?mailboxes=alice@example.org&start=2026-11-01", d.tokens[token.Auditor]); code != 200 {
		t.Errorf("search %d", code)
	}
	if code, _ := get("/metrics", ""); code != 401 {
		t.Errorf("/metrics without a token: %d, want 401", code)
	}
	code, body := get("/metrics", d.tokens[token.Auditor])
	if code != 200 {
		t.Fatalf("/metrics %d", code)
	}
	for _, want := range []string{
		`mailaudit_activity_read_total{source="api:t-ingest"} 3`,
		`mailaudit_activity_recorded_total{source="api:t-ingest"} 2`,
		`mailaudit_activity_refused_total{source="api:t-ingest"} 1`,
		`mailaudit_search_duration_seconds_count{search="mailbox"} 1`,
		`mailaudit_http_requests_total{code="422",route="POST /api/v1/activity"} 1`,
		"mailaudit_store_bytes ",
		// Exported before the first background search is mailed.
		`mailaudit_search_deliveries_total{outcome="failed"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// No secret in the log.
	for _, s := range d.tokens {
		if strings.Contains(d.logs.String(), s) {
			t.Error("a token appears in the log")
		}
	}
}

// A port in use is an error at start that names the address.
func TestListenerInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg := testConfig(t)
	cfg.Listen = []config.Listener{{Address: l.Addr().String()}}
	err = (&Daemon{Config: &cfg, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), l.Addr().String()) || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("err = %v", err)
	}
}

// TLS: the API over HTTPS, and the client trusting the daemon's CA with
// --ca-cert; a plain HTTP client gets nothing from a TLS listener.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	caFile, certFile, keyFile := writeCerts(t, dir)
	cfg := testConfig(t)
	cfg.Listen = []config.Listener{{Address: "127.0.0.1:0", TLSCert: certFile, TLSKey: keyFile}}
	d := start(t, cfg)

	c, err := httpapi.NewClient("https://"+d.addr, d.tokens[token.Admin], caFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.NewMailbox(ctx, "", service.NewMailboxSpec{Address: "alice@example.org"}); err != nil {
		t.Fatal(err)
	}
	ms, err := c.Mailboxes(ctx, service.MailboxQuery{})
	if err != nil || len(ms) != 1 || ms[0].PrimarySmtpAddress != "alice@example.org" {
		t.Fatalf("over TLS: %v %v", ms, err)
	}
	// Without the CA the certificate is not trusted.
	untrusting, _ := httpapi.NewClient("https://"+d.addr, d.tokens[token.Admin], "")
	if _, err := untrusting.Mailboxes(ctx, service.MailboxQuery{}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a client without the CA: %v", err)
	}
	// Plain HTTP to the TLS port is refused.
	resp, err := http.Get("http://" + d.addr + "/healthz")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP was served on a TLS listener")
		}
	}
	// A missing key file is a start-up error naming the listener.
	bad := testConfig(t)
	bad.Listen = []config.Listener{{Address: "127.0.0.1:0", TLSCert: certFile, TLSKey: filepath.Join(dir, "missing.pem")}}
	err = (&Daemon{Config: &bad, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "TLS certificate") {
		t.Errorf("missing key: %v", err)
	}
}

// writeCerts makes a CA and a certificate for 127.0.0.1 signed by it.
func writeCerts(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("cert.pem", "CERTIFICATE", der), write("key.pem", "EC PRIVATE KEY", keyDER)
}

// retentionRuns counts the Start-AuditRetention records in data.
func retentionRuns(t *testing.T, data string) int {
	t.Helper()
	st, err := sqlite.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n := 0
	if _, err := st.Search(context.Background(), &audit.Query{RecordTypes: []audit.RecordType{audit.ExchangeAdmin},
		Operations: []string{"Start-AuditRetention"}}, func(*audit.Record) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// Retention is due an interval after it last ran, also across restarts: a
// new store's first run is at start, a restart within the interval does not
// run it again, one after the interval does.
func TestRetentionSchedule(t *testing.T) {
	cfg := testConfig(t)
	cfg.Retention.Interval = config.Duration(time.Hour)
	atLeast := func(want int) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); retentionRuns(t, cfg.Data) < want; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d retention runs, want %d", retentionRuns(t, cfg.Data), want)
			}
		}
	}
	r := start(t, cfg)
	atLeast(1) // at start: it never ran
	r.stop(t)

	r = start(t, cfg)
	restarted := time.Now()
	var sched struct {
		Msg  string
		Last string `json:"last_run"`
		Next string `json:"next_run"`
	}
	for deadline := time.Now().Add(10 * time.Second); sched.Msg == ""; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no schedule logged: %s", r.logs)
		}
		for _, line := range strings.Split(r.logs.String(), "\n") {
			if strings.Contains(line, `"retention scheduled"`) {
				json.Unmarshal([]byte(line), &sched)
			}
		}
	}
	r.stop(t)
	last, err1 := time.Parse(time.RFC3339Nano, sched.Last)
	next, err2 := time.Parse(time.RFC3339Nano, sched.Next)
	if err1 != nil || err2 != nil || !next.Equal(last.Add(time.Hour)) || next.Before(restarted.Add(50*time.Minute)) {
		t.Errorf("after a restart within the interval: last run %q, next %q; want the next an hour after the last (%v, %v)", sched.Last, sched.Next, err1, err2)
	}
	if n := retentionRuns(t, cfg.Data); n != 1 {
		t.Errorf("a restart within the interval ran retention again: %d runs", n)
	}

	// An interval shorter than the time since the last run: due at once.
	cfg.Retention.Interval = config.Duration(time.Millisecond)
	time.Sleep(5 * time.Millisecond)
	r = start(t, cfg)
	atLeast(2)
	r.stop(t)
}

// The retention run deletes background search results older than
// retention.search_result_age_limit, and get-audit-log-search says so.
func TestRetentionExpiresSearchResults(t *testing.T) {
	cfg := testConfig(t)
	ctx := context.Background()
	st, err := sqlite.Open(cfg.Data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := service.Open(ctx, st); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(cfg.Data, "searches")
	os.MkdirAll(dir, 0o700)
	now := time.Now().UTC()
	var old, recent string
	for i, done := range []time.Time{now.Add(-40 * 24 * time.Hour), now.Add(-time.Hour)} {
		as := &audit.AuditLogSearch{Identity: uuid.New(), Name: fmt.Sprint("search ", i), CreationTime: done.Add(-time.Minute),
			StartDate: done.Add(-time.Hour), EndDate: done, StatusMailRecipients: []string{"legal@example.org"}, Formats: []string{"xml"},
			State: audit.SearchDelivered, CompletedTime: done, DeliveredTime: done, DeliveryAttempts: 1}
		if err := st.SaveAuditLogSearch(ctx, as); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(service.ResultPath(dir, as.Identity, "xml"), []byte("<SearchResults/>\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		old, recent = recent, as.Identity.String()
	}
	st.Close()

	r := start(t, cfg) // a new store: retention runs at start
	var got []httpapi.AuditLogSearchJSON
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		req, _ := http.NewRequest("GET", "http://"+r.addr+"/api/v1/audit-log-searches?identity="+old, nil)
		req.Header.Set("Authorization", "Bearer "+r.tokens[token.Auditor])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got = nil
		json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if len(got) == 1 && got[0].ResultExpiredTime != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the old result never expired: %+v\n%s", got, r.logs)
		}
	}
	if got[0].State != audit.SearchDelivered {
		t.Errorf("an expired search is %s", got[0].State)
	}
	if _, err := os.Stat(filepath.Join(dir, old+".xml")); !os.IsNotExist(err) {
		t.Errorf("the old result is still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, recent+".xml")); err != nil {
		t.Errorf("the recent result: %v", err)
	}
	r.stop(t)
	// The retention run's admin record says what it expired.
	st, err = sqlite.Open(cfg.Data)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var params []audit.NameValue
	if _, err := st.Search(ctx, &audit.Query{RecordTypes: []audit.RecordType{audit.ExchangeAdmin}, Operations: []string{"Start-AuditRetention"}, Limit: 1},
		func(rec *audit.Record) error { params = rec.Parameters; return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(params, audit.NameValue{Name: "SearchResultsExpired", Value: "1"}) {
		t.Errorf("the retention run's record: %v", params)
	}
}
