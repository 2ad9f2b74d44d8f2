package httpapi_test

// The harness: a real httpapi.Server over a real SQLite store and a real
// tokens file, served over real HTTP by httptest, with every exchange checked
// against openapi.yaml on the server side, so that the client's requests are
// checked as well as the tests' own.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/mailaudit/mailaudit/audit"
	"github.com/mailaudit/mailaudit/dovecot"
	"github.com/mailaudit/mailaudit/httpapi"
	"github.com/mailaudit/mailaudit/mail"
	"github.com/mailaudit/mailaudit/metrics"
	"github.com/mailaudit/mailaudit/service"
	"github.com/mailaudit/mailaudit/sqlite"
	"github.com/mailaudit/mailaudit/token"
)

// tokenNames are the names the test tokens are created under; no answer to
// a refused request may mention them.
var tokenNames = map[token.Role]string{
	token.Admin:   "tok-alpha",
	token.Auditor: "tok-bravo",
	token.Ingest:  "tok-charlie",
}

const ndjson = "application/x-ndjson"

var (
	docOnce   sync.Once
	doc       *openapi3.T
	docRouter routers.Router
	docErr    error
)

// loadDoc loads and validates openapi.yaml once.
func loadDoc(t testing.TB) (*openapi3.T, routers.Router) {
	t.Helper()
	docOnce.Do(func() {
		openapi3.DefineStringFormatValidator("uuid",
			openapi3.NewRegexpFormatValidator(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`))
		openapi3filter.RegisterBodyDecoder(ndjson, ndjsonDecoder)
		openapi3filter.RegisterBodyDecoder("application/xml", xmlDecoder)
		l := openapi3.NewLoader()
		doc, docErr = l.LoadFromData(httpapi.OpenAPI)
		if docErr == nil {
			docErr = doc.Validate(context.Background())
		}
		if docErr == nil {
			docRouter, docErr = gorillamux.NewRouter(doc)
		}
	})
	if docErr != nil {
		t.Fatalf("openapi.yaml: %v", docErr)
	}
	return doc, docRouter
}

// ndjsonDecoder reads a JSON Lines body whose schema is that of one line:
// every non-blank line must be valid JSON that the schema accepts. It returns
// the last line, which the filter checks against the schema once more. A
// body described as a string (a file to download) is returned whole, once
// each of its lines is found to be JSON.
func ndjsonDecoder(body io.Reader, _ http.Header, schema *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
	if schema.Value.Type.Is("string") {
		b, err := io.ReadAll(body)
		if err != nil {
			return nil, err
		}
		for i, line := range strings.Split(string(b), "\n") {
			if strings.TrimSpace(line) != "" && !json.Valid([]byte(line)) {
				return nil, fmt.Errorf("line %d is not JSON", i+1)
			}
		}
		return string(b), nil
	}
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var last any
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var v any
		if err := json.Unmarshal(line, &v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if err := schema.Value.VisitJSON(v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		last = v
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if last == nil {
		return nil, errors.New("no activity in the batch")
	}
	return last, nil
}

// xmlDecoder reads an XML body described as a string: it must be well-formed.
func xmlDecoder(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	dec := xml.NewDecoder(bytes.NewReader(b))
	for {
		_, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return string(b), nil
		}
		if err != nil {
			return nil, fmt.Errorf("not well-formed XML: %w", err)
		}
	}
}

// validator checks every exchange that reaches the server against the
// document: the response always (its status must be documented for the
// operation, its body must match), and the request, whose verdict it sends
// back in a header. A request the document refuses must not be answered
// with a success.
type validator struct {
	router routers.Router
	opts   *openapi3filter.Options

	mu       sync.Mutex
	problems []string
	checked  int
	seen     map[string]map[int]bool // "METHOD /path template" → statuses answered
}

// docVerdict is the response header that carries the document's verdict on
// the request: "" when it accepts the request.
const docVerdict = "X-Test-Openapi-Request-Error"

func newValidator(t testing.TB) *validator {
	_, r := loadDoc(t)
	return &validator{router: r, seen: map[string]map[int]bool{}, opts: &openapi3filter.Options{
		AuthenticationFunc:    bearerPresent,
		SkipSettingDefaults:   true,
		IncludeResponseStatus: true,
		MultiError:            true,
	}}
}

// bearerPresent is the document's security as a client can check it: a
// credential of the scheme the operation asks for is there (whether it is a
// good one is the server's to say).
func bearerPresent(_ context.Context, ai *openapi3filter.AuthenticationInput) error {
	want := "Bearer"
	if ai.SecuritySchemeName == "basic" {
		want = "Basic"
	}
	scheme, cred, ok := strings.Cut(ai.RequestValidationInput.Request.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, want) || strings.TrimSpace(cred) == "" {
		return errors.New("no " + strings.ToLower(want) + " credentials")
	}
	return nil
}

func (v *validator) problem(format string, args ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.problems = append(v.problems, fmt.Sprintf(format, args...))
}

type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (v *validator) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			v.problem("%s %s: reading the request: %v", r.Method, r.URL, err)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		vr := r.Clone(context.Background())
		vr.Body = io.NopCloser(bytes.NewReader(body))
		route, params, ferr := v.router.FindRoute(vr)
		var in *openapi3filter.RequestValidationInput
		if ferr == nil {
			in = &openapi3filter.RequestValidationInput{Request: vr, PathParams: params, Route: route, Options: v.opts}
			if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
				w.Header().Set(docVerdict, oneLine(err.Error()))
			}
		}
		rec := &recorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		if ferr != nil {
			v.problem("%s %s (answered %d): not an operation of openapi.yaml: %v", r.Method, r.URL.Path, rec.status, ferr)
			return
		}
		if verdict := w.Header().Get(docVerdict); verdict != "" && rec.status < 400 {
			v.problem("%s %s: openapi.yaml refuses the request (%s) but the server answered %d", r.Method, r.URL, verdict, rec.status)
		}
		err = openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
			RequestValidationInput: in,
			Status:                 rec.status,
			Header:                 w.Header(),
			Body:                   io.NopCloser(bytes.NewReader(rec.body.Bytes())),
			Options:                v.opts,
		})
		if err != nil {
			b := rec.body.String()
			if len(b) > 600 {
				b = b[:600] + "…"
			}
			v.problem("%s %s: the %d answer does not match openapi.yaml: %v\nbody: %s", r.Method, r.URL, rec.status, err, b)
		}
		v.mu.Lock()
		v.checked++
		op := route.Method + " " + route.Path
		if v.seen[op] == nil {
			v.seen[op] = map[int]bool{}
		}
		v.seen[op][rec.status] = true
		v.mu.Unlock()
		coverage.Lock()
		coverage.seen[op+" "+strconv.Itoa(rec.status)] = true
		coverage.Unlock()
	})
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}

// report fails t with every problem found; it runs once the server has
// answered every request.
func (v *validator) report(t testing.TB) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, p := range v.problems {
		t.Errorf("openapi: %s", p)
	}
	v.problems = nil
}

// coverage collects the statuses answered by every operation in every test,
// so that TestMain can list, with -v, the documented answers no test saw.
var coverage = struct {
	sync.Mutex
	seen map[string]bool
}{seen: map[string]bool{}}

func TestMain(m *testing.M) {
	code := m.Run()
	if testing.Verbose() && docErr == nil && doc != nil {
		var unseen []string
		for path, item := range doc.Paths.Map() {
			for method, op := range item.Operations() {
				for status := range op.Responses.Map() {
					if !coverage.seen[method+" "+path+" "+status] {
						unseen = append(unseen, method+" "+path+" "+status)
					}
				}
			}
		}
		sort.Strings(unseen)
		fmt.Printf("documented answers no test saw (%d):\n  %s\n", len(unseen), strings.Join(unseen, "\n  "))
	}
	os.Exit(code)
}

// env is one server with its store, service and tokens.
type env struct {
	t       *testing.T
	api     *httpapi.Server
	svc     *service.Service
	srv     *httptest.Server
	v       *validator
	tokens  *token.File
	secrets map[token.Role]string
	dir     string
	runner  *service.Runner
	mailer  *mailbag
	store   *sqlite.Store
}

// mailbag is an SMTP relay that takes every message.
type mailbag struct {
	mu   sync.Mutex
	sent []*mail.Message
}

func (m *mailbag) Send(_ context.Context, msg *mail.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, msg)
	return nil
}

// searchDone waits until the background search id has run and been
// delivered, and returns it.
func (e *env) searchDone(t *testing.T, id string) *audit.AuditLogSearch {
	t.Helper()
	for range 3000 {
		found, err := e.svc.AuditLogSearches(context.Background(), service.AuditLogSearchQuery{Identity: id})
		if err != nil {
			t.Fatal(err)
		}
		if len(found) == 1 && !found[0].State.Pending() {
			if found[0].State != audit.SearchDelivered {
				t.Fatalf("search %s: %s: %s", id, found[0].State, found[0].LastError)
			}
			return found[0]
		}
		e.runner.Wake()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("search %s did not finish", id)
	return nil
}

func newEnv(t *testing.T, configure ...func(*httpapi.Server)) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc, err := service.Open(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, svc: svc, store: st, dir: dir, tokens: token.Open(filepath.Join(dir, "tokens.json")), secrets: map[token.Role]string{}}
	for _, role := range token.Roles {
		secret, err := e.tokens.Create(tokenNames[role], role, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		e.secrets[role] = secret
	}
	svc.ResultsDir = filepath.Join(dir, "data", "searches")
	e.mailer = &mailbag{}
	e.runner = &service.Runner{Service: svc, Mailer: e.mailer, Log: slog.New(slog.DiscardHandler)}
	e.api = &httpapi.Server{
		Service:    svc,
		Runner:     e.runner,
		Tokens:     e.tokens,
		Log:        slog.New(slog.DiscardHandler),
		Metrics:    metrics.New(func() int64 { return 0 }),
		SearchWait: 5 * time.Second,
	}
	spool, err := dovecot.OpenEventSpool(filepath.Join(dir, "dovecot-events.log"), 0, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { spool.Close() })
	e.api.DovecotEvents = spool
	for _, c := range configure {
		c(e.api)
	}
	if e.api.Runner != nil {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := e.runner.Run(ctx); err != nil {
				t.Errorf("the search runner: %v", err)
			}
		}()
		t.Cleanup(func() { cancel(); <-done })
	}
	e.v = newValidator(t)
	e.srv = httptest.NewServer(e.v.wrap(e.api.Handler()))
	t.Cleanup(func() {
		e.srv.Close()
		e.v.report(t)
	})
	return e
}

// call is one request.
type call struct {
	method, path string
	query        url.Values
	role         token.Role // whose token goes in the request; "" none
	auth         string     // the Authorization header, instead of role's
	ctype        string
	body         string
	chunked      bool // send the body without a Content-Length
}

// answer is what the server said.
type answer struct {
	status int
	header http.Header
	body   []byte
	// docRefused is why openapi.yaml refuses the request ("" if it accepts it).
	docRefused string
}

func (c call) String() string {
	s := c.method + " " + c.path
	if len(c.query) > 0 {
		s += "?" + c.query.Encode()
	}
	return s
}

func (e *env) do(t *testing.T, c call) answer {
	t.Helper()
	u := e.srv.URL + c.path
	if len(c.query) > 0 {
		u += "?" + c.query.Encode()
	}
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
		if c.chunked {
			body = io.MultiReader(body) // hides the length
		}
	}
	req, err := http.NewRequest(c.method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if c.chunked {
		req.ContentLength = -1
	}
	switch {
	case c.auth != "":
		req.Header.Set("Authorization", c.auth)
	case c.role != "":
		req.Header.Set("Authorization", "Bearer "+e.secrets[c.role])
	}
	if c.ctype == "" && c.body != "" {
		c.ctype = "application/json"
	}
	if c.ctype != "" {
		req.Header.Set("Content-Type", c.ctype)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s: %v", c, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: reading the answer: %v", c, err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b, docRefused: resp.Header.Get(docVerdict)}
}

// must does a request that must succeed with status want.
func (e *env) must(t *testing.T, want int, c call) answer {
	t.Helper()
	a := e.do(t, c)
	if a.status != want {
		t.Fatalf("%s: status %d, want %d: %s", c, a.status, want, a.body)
	}
	return a
}

// apiError reads an error body.
func (a answer) apiError(t *testing.T) (code, message string) {
	t.Helper()
	var eb struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(a.body, &eb); err != nil || eb.Error.Code == "" {
		t.Fatalf("status %d: not an error body (%v): %s", a.status, err, a.body)
	}
	return eb.Error.Code, eb.Error.Message
}

func (a answer) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("status %d: %v: %s", a.status, err, a.body)
	}
}

// activity is one line of activity; extra adds or overrides fields.
func activity(id, op, user, mailbox string, at time.Time, extra map[string]any) string {
	m := map[string]any{
		"SourceEventId":   id,
		"Source":          "api",
		"CreationTime":    at.UTC().Format(time.RFC3339Nano),
		"Operation":       op,
		"UserId":          user,
		"MailboxOwnerUPN": mailbox,
	}
	for k, v := range extra {
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// mailbox creates a mailbox through the API.
func (e *env) mailbox(t *testing.T, body string) {
	t.Helper()
	e.must(t, http.StatusCreated, call{method: "POST", path: "/api/v1/mailboxes", role: token.Admin, body: body})
}

// search pages through a search as an auditor and returns every record.
func (e *env) search(t *testing.T, path string, q url.Values) []map[string]any {
	t.Helper()
	var all []map[string]any
	q = cloneValues(q)
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("the cursor does not end")
		}
		a := e.must(t, http.StatusOK, call{method: "GET", path: path, query: q, role: token.Auditor})
		var page struct {
			Records []map[string]any `json:"records"`
			Next    *string          `json:"next"`
			Error   any              `json:"error"`
		}
		a.decode(t, &page)
		if page.Error != nil || page.Next == nil {
			t.Fatalf("%s: the page ends without a cursor: %s", path, a.body)
		}
		all = append(all, page.Records...)
		if *page.Next == "" {
			return all
		}
		q.Set("cursor", *page.Next)
	}
}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}
