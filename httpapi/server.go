// Package httpapi is mailaudit's HTTP API: the server that mailaudit serve
// runs, and the client that the command line uses with --server. openapi.yaml
// (served at /api/v1/openapi.yaml) describes every endpoint; the tests check
// the server's answers against it.
//
// Every call under /api/v1 except the description itself carries
// "Authorization: Bearer <token>" (POST /api/v1/dovecot/events also takes the
// token as the password of basic authentication, which is what Dovecot's
// event exporter can send). A missing, malformed or unknown token is
// answered 401, a token whose role may not make the call 403, and neither
// says more than that. The roles (package token): admin changes the directory
// and audit configuration and reads it; auditor reads the audit log and the
// configuration; ingest writes activity.
//
// Errors are JSON: {"error": {"code": "invalid", "message": "…"}}, with the
// codes of package audit and the statuses of status(). Searches stream
// {"records": [ <records as the json format writes them> ], "next": "<cursor>"};
// a search that fails after it started ends the object with "error" instead
// of "next".
package httpapi

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mailaudit/mailaudit/audit"
	"github.com/mailaudit/mailaudit/export"
	"github.com/mailaudit/mailaudit/metrics"
	"github.com/mailaudit/mailaudit/service"
	"github.com/mailaudit/mailaudit/token"
)

// OpenAPI is the API's description.
//
//go:embed openapi.yaml
var OpenAPI []byte

// Server answers the API over one service.
type Server struct {
	Service *service.Service
	Tokens  *token.File
	Log     *slog.Logger
	Metrics *metrics.Metrics
	// MaxRequestBytes caps a request body.
	MaxRequestBytes int64
	// MaxSearches caps the searches running at once; SearchWait is how long a
	// search waits for its turn before it is answered 503.
	MaxSearches int
	SearchWait  time.Duration
	// Ready says whether the daemon can take work (nil: yes).
	Ready func() error
	// Runner runs background searches; nil: they are refused.
	Runner *service.Runner
	// DovecotEvents takes the events Dovecot posts (event_exporter transport
	// http-post); nil: the daemon takes none.
	DovecotEvents interface{ Add(event []byte) error }

	searches chan struct{}
}

// principal is who called: the token's name and role.
type principal struct {
	name    string
	role    token.Role
	sources []string
}

type handler func(w http.ResponseWriter, r *http.Request, p principal) error

// route is one endpoint and the roles that may call it.
type route struct {
	method, path string
	roles        []token.Role
	h            handler
	// basic also takes the token as the password of HTTP basic
	// authentication, the only kind a client such as Dovecot's event
	// exporter can send.
	basic bool
}

// Routes lists every authenticated endpoint with its roles: the role matrix
// that docs/api.md prints and the tests walk.
func (s *Server) routes() []route {
	admin := []token.Role{token.Admin}
	read := []token.Role{token.Admin, token.Auditor}
	auditor := []token.Role{token.Auditor}
	ingest := []token.Role{token.Ingest}
	routes := []route{
		{"POST", "/api/v1/activity", ingest, s.ingest, false},
		{"POST", "/api/v1/dovecot/events", ingest, s.dovecotEvent, true},
		{"GET", "/api/v1/mailbox-audit-log", auditor, s.searchMailbox, false},
		{"GET", "/api/v1/unified-audit-log", auditor, s.searchUnified, false},
		{"GET", "/api/v1/admin-audit-log", auditor, s.searchAdmin, false},
		{"GET", "/api/v1/organization", read, s.getOrganization, false},
		{"PATCH", "/api/v1/organization", admin, s.setOrganization, false},
		{"GET", "/api/v1/mailboxes", read, s.getMailboxes, false},
		{"POST", "/api/v1/mailboxes", admin, s.newMailbox, false},
		{"PATCH", "/api/v1/mailboxes", admin, s.setMailbox, false},
		{"DELETE", "/api/v1/mailboxes", admin, s.removeMailbox, false},
		{"GET", "/api/v1/permissions", read, s.getPermissions, false},
		{"POST", "/api/v1/permissions", admin, s.addPermission, false},
		{"DELETE", "/api/v1/permissions", admin, s.removePermission, false},
		{"GET", "/api/v1/bypass-associations", read, s.getBypass, false},
		{"PATCH", "/api/v1/bypass-associations", admin, s.setBypass, false},
		{"GET", "/api/v1/baselines/{name}", read, s.testBaseline, false},
		{"POST", "/api/v1/baselines/{name}/apply", admin, s.setBaseline, false},
		{"POST", "/api/v1/retention", admin, s.retention, false},
		{"GET", "/metrics", read, s.metrics, false},
	}
	routes = append(routes, s.auditLogSearchRoutes()...)
	routes = append(routes, s.reportRoutes()...)
	return routes
}

// Endpoint is a route as the role matrix lists it.
type Endpoint struct {
	Method, Path string
	Roles        []token.Role
}

// Endpoints lists the authenticated endpoints and their roles.
func Endpoints() []Endpoint {
	var out []Endpoint
	for _, r := range (&Server{}).routes() {
		out = append(out, Endpoint{r.method, r.path, r.roles})
	}
	return out
}

// Handler returns the API.
func (s *Server) Handler() http.Handler {
	if s.Log == nil {
		s.Log = slog.Default()
	}
	if s.MaxRequestBytes == 0 {
		s.MaxRequestBytes = 32 << 20
	}
	if s.MaxSearches == 0 {
		s.MaxSearches = 4
	}
	s.searches = make(chan struct{}, s.MaxSearches)
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		mux.Handle(rt.method+" "+rt.path, s.authorize(rt))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if s.Ready != nil {
			if err := s.Ready(); err != nil {
				writeError(w, http.StatusServiceUnavailable, "unavailable", err.Error())
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.HandleFunc("GET /api/v1/openapi.yaml", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		w.Write(OpenAPI)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, rt := range s.routes() {
			if pathMatches(rt.path, r.URL.Path) {
				allow = append(allow, rt.method)
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, http.StatusMethodNotAllowed, audit.EInvalid, fmt.Sprintf("%s %s: this endpoint takes %s", r.Method, r.URL.Path, strings.Join(allow, ", ")))
			return
		}
		writeError(w, http.StatusNotFound, audit.ENotFound, fmt.Sprintf("no endpoint %s %s; see /api/v1/openapi.yaml", r.Method, r.URL.Path))
	})
	return mux
}

// pathMatches reports whether path fits a route's pattern, whose {name}
// segments match any one segment.
func pathMatches(pattern, path string) bool {
	ps, segs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(segs) {
		return false
	}
	for i, p := range ps {
		if !strings.HasPrefix(p, "{") && p != segs[i] {
			return false
		}
	}
	return true
}

// authorize checks the token and its role before the handler runs.
func (s *Server) authorize(rt route) http.Handler {
	name := rt.method + " " + rt.path
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusWriter{ResponseWriter: w}
		defer func() { s.Metrics.Request(name, rec.status()) }()
		// The scheme is case-insensitive (RFC 9110, section 11.1).
		scheme, secret, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if rt.basic && strings.EqualFold(scheme, "Basic") {
			_, secret, ok = r.BasicAuth()
			scheme = "Bearer"
		}
		if !ok || !strings.EqualFold(scheme, "Bearer") || s.Tokens == nil {
			rec.Header().Set("WWW-Authenticate", `Bearer realm="mailaudit"`)
			writeError(rec, http.StatusUnauthorized, "unauthorized", "authentication required")
			return
		}
		t, err := s.Tokens.Authenticate(strings.TrimSpace(secret))
		if err != nil {
			if !errors.Is(err, token.ErrUnknown) {
				// The tokens file is unreadable: the operator must hear why,
				// the caller must not.
				s.Log.Error("authenticating a request", "error", err)
			}
			rec.Header().Set("WWW-Authenticate", `Bearer realm="mailaudit", error="invalid_token"`)
			writeError(rec, http.StatusUnauthorized, "unauthorized", "authentication required")
			return
		}
		allowed := false
		for _, role := range rt.roles {
			allowed = allowed || role == t.Role
		}
		if !allowed {
			writeError(rec, http.StatusForbidden, "forbidden", "this token's role may not do this")
			return
		}
		if err := rt.h(rec, r, principal{t.Name, t.Role, t.Sources}); err != nil {
			s.fail(rec, r, err)
		}
	})
}

// statusWriter remembers the status, for the request counter.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// httpError is an error that knows its status.
type httpError struct {
	status int
	code   string
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{http.StatusBadRequest, audit.EInvalid, fmt.Sprintf(format, args...)}
}

// status maps the application's error codes to HTTP statuses: the one place
// where that is decided.
func status(code string) int {
	switch code {
	case audit.EInvalid:
		return http.StatusBadRequest
	case audit.ENotFound:
		return http.StatusNotFound
	case audit.EConflict:
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

// fail answers an error. Internal errors are logged and answered without
// their detail, which may name files and databases.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	if errors.As(err, &he) {
		writeError(w, he.status, he.code, he.msg)
		return
	}
	code := audit.ErrorCode(err)
	if code == audit.EInternal {
		s.Log.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		writeError(w, http.StatusInternalServerError, code, "internal error: the server's log says more")
		return
	}
	writeError(w, status(code), code, err.Error())
}

type errorBody struct {
	Error apiError `json:"error"`
}

type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorBody{apiError{code, msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// body reads a request body within the size limit.
func (s *Server) body(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	return s.bodyUpTo(w, r, s.MaxRequestBytes)
}

// bodyUpTo reads a request body of at most limit bytes.
func (s *Server) bodyUpTo(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, &httpError{http.StatusRequestEntityTooLarge, audit.EInvalid,
			fmt.Sprintf("request body of %d bytes is over the limit of %d bytes; send smaller batches", r.ContentLength, limit)}
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, &httpError{http.StatusRequestEntityTooLarge, audit.EInvalid,
			fmt.Sprintf("request body is over the limit of %d bytes; send smaller batches", limit)}
	}
	if err != nil {
		return nil, badRequest("reading the request body: %v", err)
	}
	return b, nil
}

// decode reads a JSON request body into v, refusing unknown fields so that
// a misspelt setting is not silently ignored.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) error {
	b, err := s.body(w, r)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.EOF):
			return badRequest("the request needs a JSON body")
		case errors.Is(err, io.ErrUnexpectedEOF):
			return badRequest("malformed JSON: the body ends before the JSON value does")
		case errors.As(err, &se):
			return badRequest("malformed JSON at byte %d: %v", se.Offset, err)
		case errors.As(err, &te) && te.Field == "":
			return badRequest("the request body must be a JSON object, not %s", te.Value)
		case errors.As(err, &te):
			return badRequest("field %s must be %s, not %s", te.Field, jsonKind(te.Type), te.Value)
		}
		return badRequest("%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return badRequest("the request body holds more than one JSON value")
	}
	return nil
}

// jsonKind names what a JSON value of Go type t looks like, for messages
// that must not name Go types.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	}
	return "a number"
}

// query reads the query parameters, refusing those the endpoint does not
// know.
type query struct {
	v   url.Values
	err error
}

func newQuery(r *http.Request, known ...string) *query {
	q := &query{v: r.URL.Query()}
	for k := range q.v {
		ok := false
		for _, n := range known {
			ok = ok || k == n
		}
		if !ok && q.err == nil {
			q.err = badRequest("unknown query parameter %q (this endpoint takes: %s)", k, strings.Join(known, ", "))
		}
	}
	return q
}

func (q *query) str(name string) string { return q.v.Get(name) }

// list reads a parameter given repeatedly, comma-separated, or both.
func (q *query) list(name string) []string {
	var out []string
	for _, v := range q.v[name] {
		for _, part := range strings.Split(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

func (q *query) boolean(name string) bool {
	v := q.v.Get(name)
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil && q.err == nil {
		q.err = badRequest("query parameter %s: %q is not true or false", name, v)
	}
	return b
}

func (q *query) integer(name string, def int) int {
	v := q.v.Get(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil && q.err == nil {
		q.err = badRequest("query parameter %s: %q is not a number", name, v)
	}
	return n
}

func (q *query) mailboxes() service.MailboxQuery {
	return service.MailboxQuery{Identity: q.str("identity"), Filter: q.str("filter"), Types: q.list("type")}
}

// maxEventBytes bounds one event Dovecot posts (Dovecot's are a few hundred
// bytes).
const maxEventBytes = 256 << 10

// dovecotEvent takes one event that Dovecot's event exporter posted
// (transport = http-post): the body is the event's JSON, as the log
// transport would write it. It is spooled for the Dovecot source, which
// reads it beside the log; Dovecot neither retries nor reads the answer's
// body, so the answer only says whether it was taken.
func (s *Server) dovecotEvent(w http.ResponseWriter, r *http.Request, p principal) error {
	if s.DovecotEvents == nil {
		return audit.Errorf(audit.ENotFound, "this daemon takes no Dovecot events over HTTP: set events = \"http-post\" in its [[dovecot]] section")
	}
	if len(p.sources) > 0 && !slices.Contains(p.sources, "dovecot") {
		writeError(w, http.StatusForbidden, "forbidden", "this token may not submit Dovecot's events")
		return nil
	}
	b, err := s.bodyUpTo(w, r, maxEventBytes)
	if err != nil {
		return err
	}
	if err := s.DovecotEvents.Add(b); err != nil {
		s.Metrics.Refused("api:dovecot", 1)
		if audit.ErrorCode(err) == audit.EInvalid {
			return err
		}
		s.Log.Error("a Dovecot event was refused", "error", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", err.Error())
		return nil
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ingest takes a JSON Lines batch. The answer comes once the batch is
// committed: 200 when every line was taken, 422 when some were refused (the
// others are stored all the same; the report lists the refused lines), 503
// when the store failed (the report says up to which line the batch is
// stored; sending it again is safe).
func (s *Server) ingest(w http.ResponseWriter, r *http.Request, p principal) error {
	if err := newQuery(r).err; err != nil {
		return err
	}
	// The whole batch is read before anything is stored, so a batch over the
	// size limit is refused whole rather than stored in part.
	b, err := s.body(w, r)
	if err != nil {
		return err
	}
	// A client that hangs up does not cancel a batch half-way: SIGTERM
	// waits for it instead.
	ctx := context.WithoutCancel(r.Context())
	opt := service.IngestOptions{}
	if len(p.sources) > 0 {
		opt.Check = func(a *audit.Activity) error {
			if !slices.Contains(p.sources, a.Source) {
				return fmt.Errorf("Source %q is not one this token may submit (%s)", a.Source, strings.Join(p.sources, ", "))
			}
			return nil
		}
	}
	rep, err := s.Service.Ingest(ctx, bytes.NewReader(b), opt)
	s.Metrics.Ingested("api:"+p.name, rep)
	if err != nil {
		s.Log.Error("ingest failed", "token", p.name, "committed_through_line", rep.Committed, "error", err)
		writeJSON(w, http.StatusServiceUnavailable, struct {
			Error  apiError              `json:"error"`
			Report *service.IngestReport `json:"report"`
		}{apiError{"unavailable", fmt.Sprintf("the store failed; lines up to %d are stored, send the batch again (duplicates are skipped)", rep.Committed)}, rep})
		return nil
	}
	code := http.StatusOK
	if len(rep.Refused) > 0 {
		code = http.StatusUnprocessableEntity
	}
	writeJSON(w, code, rep)
	return nil
}

// acquire waits for a search slot.
func (s *Server) acquire(ctx context.Context) (func(), error) {
	t := time.NewTimer(s.SearchWait)
	defer t.Stop()
	select {
	case s.searches <- struct{}{}:
		return func() { <-s.searches }, nil
	case <-t.C:
		return nil, &httpError{http.StatusServiceUnavailable, "unavailable",
			fmt.Sprintf("all %d search slots are busy (limits.max_concurrent_searches); try again shortly", cap(s.searches))}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *Server) window(q *query) (time.Time, time.Time, error) {
	start, end, err := service.Window(q.str("start"), q.str("end"), time.Now())
	return start, end, err
}

func (s *Server) searchMailbox(w http.ResponseWriter, r *http.Request, _ principal) error {
	q := newQuery(r, "mailboxes", "start", "end", "operations", "logon-types", "external-access", "result-size", "cursor")
	p := service.MailboxSearch{Identities: q.list("mailboxes"), Operations: q.list("operations"), LogonTypes: q.list("logon-types"),
		ExternalAccess: q.boolean("external-access"), ResultSize: q.integer("result-size", service.MailboxSearchDefault), Cursor: q.str("cursor")}
	if q.err != nil {
		return q.err
	}
	var err error
	if p.Start, p.End, err = s.window(q); err != nil {
		return err
	}
	return s.stream(w, r, "mailbox", func(fn func(*audit.Record) error) (string, error) {
		return s.Service.SearchMailboxAuditLog(r.Context(), p, fn)
	})
}

func (s *Server) unifiedQuery(r *http.Request) (service.UnifiedSearch, *query) {
	q := newQuery(r, "start", "end", "operations", "user-ids", "object-ids", "ip-addresses", "free-text", "record-type", "result-size", "cursor")
	p := service.UnifiedSearch{Operations: q.list("operations"), UserIds: q.list("user-ids"), ObjectIds: q.list("object-ids"),
		IPAddresses: q.list("ip-addresses"), FreeText: q.str("free-text"), Cursor: q.str("cursor")}
	for _, t := range q.list("record-type") {
		n, err := strconv.Atoi(t)
		if err != nil && q.err == nil {
			q.err = badRequest("query parameter record-type: %q is not a number", t)
		}
		p.RecordTypes = append(p.RecordTypes, n)
	}
	switch size := q.str("result-size"); size {
	case "":
		p.ResultSize = service.UnifiedSearchDefault
	case "unlimited":
		p.ResultSize = 0
	default:
		p.ResultSize = q.integer("result-size", 0)
		if p.ResultSize == 0 && q.err == nil {
			q.err = badRequest("query parameter result-size: a positive number or unlimited, not 0")
		}
	}
	return p, q
}

func (s *Server) searchUnified(w http.ResponseWriter, r *http.Request, _ principal) error {
	p, q := s.unifiedQuery(r)
	if q.err != nil {
		return q.err
	}
	var err error
	if p.Start, p.End, err = s.window(q); err != nil {
		return err
	}
	return s.stream(w, r, "unified", func(fn func(*audit.Record) error) (string, error) {
		return s.Service.SearchUnifiedAuditLog(r.Context(), p, fn)
	})
}

// searchAdmin is the unified search over admin audit records only
// (Search-AdminAuditLog).
func (s *Server) searchAdmin(w http.ResponseWriter, r *http.Request, _ principal) error {
	p, q := s.unifiedQuery(r)
	if q.err != nil {
		return q.err
	}
	if len(p.RecordTypes) > 0 {
		return badRequest("query parameter record-type does not apply: this endpoint returns admin audit records (type 1) only")
	}
	p.RecordTypes = []int{int(audit.ExchangeAdmin)}
	var err error
	if p.Start, p.End, err = s.window(q); err != nil {
		return err
	}
	return s.stream(w, r, "admin", func(fn func(*audit.Record) error) (string, error) {
		return s.Service.SearchUnifiedAuditLog(r.Context(), p, fn)
	})
}

// stream answers a search. Errors found before the first record get their
// own status; once records flow the status is sent, so a later failure ends
// the object with "error".
func (s *Server) stream(w http.ResponseWriter, r *http.Request, kind string, search func(func(*audit.Record) error) (string, error)) error {
	release, err := s.acquire(r.Context())
	if err != nil {
		return err
	}
	defer release()
	began := time.Now()
	defer func() { s.Metrics.Searched(kind, time.Since(began)) }()
	// Aggregates whose window ended are sealed first, so the search sees
	// them, as the command line's searches do.
	if err := s.Service.TryFlush(r.Context()); err != nil {
		s.Log.Warn("sealing aggregates before a search", "error", err)
	}
	org := s.Service.Organization()
	opt := export.Options{OrganizationId: org.Id.String(), OrganizationName: org.Name}
	started := false
	start := func() {
		if !started {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, `{"records":[`)
			started = true
		}
	}
	n := 0
	next, err := search(func(rec *audit.Record) error {
		b, err := export.JSON(rec, opt)
		if err != nil {
			return err
		}
		start()
		if n > 0 {
			io.WriteString(w, ",")
		}
		io.WriteString(w, "\n")
		n++
		_, err = w.Write(b)
		return err
	})
	if err != nil && !started {
		return err
	}
	start()
	if err != nil {
		s.Log.Error("search failed after it started", "error", err)
		b, _ := json.Marshal(apiError{audit.ErrorCode(err), "the search failed part-way; the server's log says why"})
		fmt.Fprintf(w, "\n],\"error\":%s}\n", b)
		return nil
	}
	nb, _ := json.Marshal(next)
	fmt.Fprintf(w, "\n],\"next\":%s}\n", nb)
	return nil
}

func (s *Server) getOrganization(w http.ResponseWriter, r *http.Request, _ principal) error {
	if err := newQuery(r).err; err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, service.OrganizationView(s.Service.Organization()))
	return nil
}

// OrgChange is the body of PATCH /api/v1/organization: the parameters of
// set-organization-config; absent fields are left as they are.
type OrgChange struct {
	AuditDisabled             *bool             `json:",omitempty"`
	AuditProfile              *string           `json:",omitempty"`
	MailItemsAccessedThrottle *int              `json:",omitempty"`
	AdminAuditLogAgeLimit     string            `json:",omitempty"`
	AdminHintSources          []string          `json:",omitempty"`
	Name                      *string           `json:",omitempty"`
	Parameters                []audit.NameValue `json:",omitempty"`
}

// OrgResult answers a change to the organisation.
type OrgResult struct {
	Result   ResultJSON
	Warnings []string `json:",omitempty"`
}

func (s *Server) setOrganization(w http.ResponseWriter, r *http.Request, p principal) error {
	var in OrgChange
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	ch := service.OrgChange{AuditDisabled: in.AuditDisabled, Profile: in.AuditProfile, MailItemsAccessedThrottle: in.MailItemsAccessedThrottle,
		AdminAuditLogAgeLimit: in.AdminAuditLogAgeLimit, AdminHintSources: in.AdminHintSources, Name: in.Name}
	res, warnings, err := s.Service.SetOrganization(r.Context(), p.name, ch, parameters(in.Parameters, in))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, OrgResult{s.resultJSON(res), warnings})
	return nil
}

// parameters are what the admin audit record lists as the call's
// parameters: those the command line sent (named as the cmdlet's), or else
// the body's fields.
func parameters(given []audit.NameValue, body any) []audit.NameValue {
	if len(given) > 0 {
		return given
	}
	b, _ := json.Marshal(body)
	var m map[string]json.RawMessage
	json.Unmarshal(b, &m)
	var out []audit.NameValue
	for k, v := range m {
		if k == "Parameters" {
			continue
		}
		var str string
		if json.Unmarshal(v, &str) != nil {
			str = string(v)
		}
		out = append(out, audit.NameValue{Name: k, Value: str})
	}
	sortNameValues(out)
	return out
}

func (s *Server) getMailboxes(w http.ResponseWriter, r *http.Request, _ principal) error {
	q := newQuery(r, "identity", "filter", "type")
	if q.err != nil {
		return q.err
	}
	ms, err := s.Service.Mailboxes(q.mailboxes())
	if err != nil {
		return err
	}
	prof := s.Service.Profile()
	out := make([]service.Object, 0, len(ms))
	for _, m := range ms {
		out = append(out, service.MailboxView(prof, m))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// NewMailbox is the body of POST /api/v1/mailboxes.
type NewMailbox struct {
	Address        string
	DisplayName    string            `json:",omitempty"`
	Alias          string            `json:",omitempty"`
	Type           string            `json:",omitempty"`
	Attributes     map[string]string `json:",omitempty"`
	EmailAddresses []string          `json:",omitempty"`
}

func (s *Server) newMailbox(w http.ResponseWriter, r *http.Request, p principal) error {
	var in NewMailbox
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	m, err := s.Service.NewMailbox(r.Context(), p.name, service.NewMailboxSpec(in))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, service.MailboxView(s.Service.Profile(), m))
	return nil
}

// MailboxChange is the body of PATCH /api/v1/mailboxes: set-mailbox's
// parameters. A list replaces the mailbox's; ...Add and ...Remove change it;
// ["None"] empties it. Absent fields are left as they are.
type MailboxChange struct {
	AuditEnabled         *bool             `json:",omitempty"`
	AuditAdmin           []string          `json:",omitempty"`
	AuditAdminAdd        []string          `json:",omitempty"`
	AuditAdminRemove     []string          `json:",omitempty"`
	AuditDelegate        []string          `json:",omitempty"`
	AuditDelegateAdd     []string          `json:",omitempty"`
	AuditDelegateRemove  []string          `json:",omitempty"`
	AuditOwner           []string          `json:",omitempty"`
	AuditOwnerAdd        []string          `json:",omitempty"`
	AuditOwnerRemove     []string          `json:",omitempty"`
	DefaultAuditSet      []string          `json:",omitempty"`
	AuditLogAgeLimit     string            `json:",omitempty"`
	DisplayName          *string           `json:",omitempty"`
	Alias                *string           `json:",omitempty"`
	Attributes           map[string]string `json:",omitempty"`
	AddEmailAddresses    []string          `json:",omitempty"`
	RemoveEmailAddresses []string          `json:",omitempty"`
	Parameters           []audit.NameValue `json:",omitempty"`
}

func (c *MailboxChange) change() audit.MailboxChange {
	ch := audit.MailboxChange{AuditEnabled: c.AuditEnabled, DefaultAuditSet: c.DefaultAuditSet, AuditLogAgeLimit: c.AuditLogAgeLimit,
		DisplayName: c.DisplayName, Alias: c.Alias, Attributes: c.Attributes, AddEmailAddresses: c.AddEmailAddresses, RemoveEmailAddrs: c.RemoveEmailAddresses}
	ch.Lists[audit.Admin] = audit.ListChange{Replace: c.AuditAdmin, Add: c.AuditAdminAdd, Remove: c.AuditAdminRemove}
	ch.Lists[audit.Delegate] = audit.ListChange{Replace: c.AuditDelegate, Add: c.AuditDelegateAdd, Remove: c.AuditDelegateRemove}
	ch.Lists[audit.Owner] = audit.ListChange{Replace: c.AuditOwner, Add: c.AuditOwnerAdd, Remove: c.AuditOwnerRemove}
	return ch
}

func fromChange(ch audit.MailboxChange, params []audit.NameValue) MailboxChange {
	l := ch.Lists
	return MailboxChange{AuditEnabled: ch.AuditEnabled,
		AuditAdmin: l[audit.Admin].Replace, AuditAdminAdd: l[audit.Admin].Add, AuditAdminRemove: l[audit.Admin].Remove,
		AuditDelegate: l[audit.Delegate].Replace, AuditDelegateAdd: l[audit.Delegate].Add, AuditDelegateRemove: l[audit.Delegate].Remove,
		AuditOwner: l[audit.Owner].Replace, AuditOwnerAdd: l[audit.Owner].Add, AuditOwnerRemove: l[audit.Owner].Remove,
		DefaultAuditSet: ch.DefaultAuditSet, AuditLogAgeLimit: ch.AuditLogAgeLimit, DisplayName: ch.DisplayName, Alias: ch.Alias,
		Attributes: ch.Attributes, AddEmailAddresses: ch.AddEmailAddresses, RemoveEmailAddresses: ch.RemoveEmailAddrs, Parameters: params}
}

// targets refuses a mailbox query that selects nothing explicitly: a PATCH
// or DELETE without identity, filter or type would act on every mailbox.
func targets(q *query) (service.MailboxQuery, error) {
	mq := q.mailboxes()
	if q.err != nil {
		return mq, q.err
	}
	switch {
	case mq.Identity != "" && (mq.Filter != "" || len(mq.Types) > 0):
		return mq, badRequest("give either identity, or filter and/or type, not both")
	case mq.Identity == "" && mq.Filter == "" && len(mq.Types) == 0:
		return mq, badRequest("give identity, or filter and/or type, to select mailboxes")
	}
	return mq, nil
}

func (s *Server) setMailbox(w http.ResponseWriter, r *http.Request, p principal) error {
	mq, err := targets(newQuery(r, "identity", "filter", "type"))
	if err != nil {
		return err
	}
	var in MailboxChange
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	params := in.Parameters
	if len(params) == 0 {
		params = parameters(nil, in)
		if mq.Identity != "" {
			params = append([]audit.NameValue{{Name: "Identity", Value: mq.Identity}}, params...)
		}
	}
	results, err := s.Service.SetMailbox(r.Context(), p.name, mq, in.change(), params)
	return s.writeResults(w, results, err)
}

func (s *Server) removeMailbox(w http.ResponseWriter, r *http.Request, p principal) error {
	mq, err := targets(newQuery(r, "identity", "filter", "type"))
	if err != nil {
		return err
	}
	results, err := s.Service.RemoveMailbox(r.Context(), p.name, mq)
	return s.writeResults(w, results, err)
}

// ResultJSON is what a change did to one object.
type ResultJSON struct {
	Object   string
	Modified []audit.ModifiedProperty `json:",omitempty"`
	Warning  string                   `json:",omitempty"`
	Error    *apiError                `json:",omitempty"`
	// Mailbox is the mailbox as the change left it, when the object is one.
	Mailbox json.RawMessage `json:",omitempty"`
}

func (s *Server) resultJSON(r service.Result) ResultJSON {
	out := ResultJSON{Object: r.Object, Modified: r.Modified, Warning: r.Warning}
	if r.Mailbox != nil {
		out.Mailbox, _ = service.MailboxView(s.Service.Profile(), r.Mailbox).MarshalJSON()
	}
	if r.Err != nil {
		out.Error = &apiError{audit.ErrorCode(r.Err), r.Err.Error()}
	}
	return out
}

// writeResults answers a change to several objects: 200 with what happened
// to each, even when some were refused, as Exchange's pipelines go on past a
// refused object.
func (s *Server) writeResults(w http.ResponseWriter, results []service.Result, err error) error {
	if err != nil {
		return err
	}
	out := make([]ResultJSON, 0, len(results))
	for _, r := range results {
		out = append(out, s.resultJSON(r))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getPermissions(w http.ResponseWriter, r *http.Request, _ principal) error {
	q := newQuery(r, "identity")
	if q.err != nil {
		return q.err
	}
	ps, err := s.Service.Permissions(q.str("identity"))
	if err != nil {
		return err
	}
	out := make([]service.Object, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.View())
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// Grant is the body of POST /api/v1/permissions.
type Grant struct {
	Identity     string
	User         string
	AccessRights string
}

func (s *Server) addPermission(w http.ResponseWriter, r *http.Request, p principal) error {
	if err := newQuery(r).err; err != nil {
		return err
	}
	var in Grant
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	if err := required("field", "Identity", in.Identity, "User", in.User, "AccessRights", in.AccessRights); err != nil {
		return err
	}
	res, err := s.Service.AddPermission(r.Context(), p.name, in.Identity, in.User, in.AccessRights)
	return s.writeResults(w, []service.Result{res}, err)
}

func (s *Server) removePermission(w http.ResponseWriter, r *http.Request, p principal) error {
	q := newQuery(r, "identity", "user", "access-rights")
	if q.err != nil {
		return q.err
	}
	if err := required("query parameter", "identity", q.str("identity"), "user", q.str("user"), "access-rights", q.str("access-rights")); err != nil {
		return err
	}
	res, err := s.Service.RemovePermission(r.Context(), p.name, q.str("identity"), q.str("user"), q.str("access-rights"))
	return s.writeResults(w, []service.Result{res}, err)
}

// required refuses a request that leaves out one of the named values
// (given as name, value pairs): without it the service would look for a
// mailbox called "" and answer 404, which names the wrong problem.
func required(what string, pairs ...string) error {
	var missing []string
	for i := 0; i+1 < len(pairs); i += 2 {
		if strings.TrimSpace(pairs[i+1]) == "" {
			missing = append(missing, pairs[i])
		}
	}
	switch len(missing) {
	case 0:
		return nil
	case 1:
		return badRequest("%s %s is required", what, missing[0])
	}
	return badRequest("%ss %s are required", what, strings.Join(missing, ", "))
}

func (s *Server) getBypass(w http.ResponseWriter, r *http.Request, _ principal) error {
	q := newQuery(r, "identity")
	if q.err != nil {
		return q.err
	}
	bs, err := s.Service.Bypasses(q.str("identity"))
	if err != nil {
		return err
	}
	out := make([]service.Object, 0, len(bs))
	for _, b := range bs {
		out = append(out, service.BypassView(b))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// BypassChange is the body of PATCH /api/v1/bypass-associations.
type BypassChange struct {
	AuditBypassEnabled *bool
}

func (s *Server) setBypass(w http.ResponseWriter, r *http.Request, p principal) error {
	mq, err := targets(newQuery(r, "identity", "filter", "type"))
	if err != nil {
		return err
	}
	var in BypassChange
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	if in.AuditBypassEnabled == nil {
		return badRequest("AuditBypassEnabled is required (true or false)")
	}
	results, err := s.Service.SetBypass(r.Context(), p.name, mq, *in.AuditBypassEnabled)
	return s.writeResults(w, results, err)
}

// BaselineJSON is one mailbox compared with a baseline.
type BaselineJSON struct {
	Mailbox string
	Diffs   []DiffJSON
}

// DiffJSON is one logon type's difference from a baseline.
type DiffJSON struct {
	LogonType      string
	Missing        []string
	Extra          []string
	Refused        []string
	RefusedBecause string `json:",omitempty"`
}

func (s *Server) testBaseline(w http.ResponseWriter, r *http.Request, _ principal) error {
	if err := newQuery(r).err; err != nil {
		return err
	}
	results, err := s.Service.TestBaseline(r.PathValue("name"))
	if err != nil {
		return err
	}
	out := make([]BaselineJSON, 0, len(results))
	for _, res := range results {
		b := BaselineJSON{Mailbox: res.Mailbox.PrimarySmtpAddress, Diffs: []DiffJSON{}}
		for _, d := range res.Diffs {
			b.Diffs = append(b.Diffs, DiffJSON{d.LogonType.String(), d.Missing.Names(), d.Extra.Names(), d.Refused.Names(), d.Reason})
		}
		out = append(out, b)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) setBaseline(w http.ResponseWriter, r *http.Request, p principal) error {
	if err := newQuery(r).err; err != nil {
		return err
	}
	results, err := s.Service.SetBaseline(r.Context(), p.name, r.PathValue("name"))
	return s.writeResults(w, results, err)
}

// RetentionResult answers POST /api/v1/retention.
type RetentionResult struct {
	RecordsDeleted int64
}

func (s *Server) retention(w http.ResponseWriter, r *http.Request, p principal) error {
	if err := newQuery(r).err; err != nil {
		return err
	}
	n, err := s.Service.Retain(r.Context(), p.name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, RetentionResult{n})
	return nil
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request, _ principal) error {
	if s.Metrics == nil {
		return &httpError{http.StatusNotFound, audit.ENotFound, "metrics are not collected"}
	}
	s.Metrics.Handler().ServeHTTP(w, r)
	return nil
}

func sortNameValues(nv []audit.NameValue) {
	sort.Slice(nv, func(i, j int) bool { return nv[i].Name < nv[j].Name })
}
