package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/mailaudit/mailaudit/audit"
	"github.com/mailaudit/mailaudit/export"
	"github.com/mailaudit/mailaudit/service"
)

// Client calls a daemon's API with one token. Its methods answer as the
// service's do, with the same types, so the command line prints the same
// whether it runs locally or with --server. The actor arguments are there to
// match the service: the daemon names the token in its admin records.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
	// IngestBatch is how many lines go into one request.
	IngestBatch int
}

// NewClient makes a client for the daemon at rawURL. caFile, when set, is a
// PEM file of the certificates that may sign the daemon's TLS certificate
// (for a private CA); otherwise the system's roots are used.
func NewClient(rawURL, token, caFile string) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(rawURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, audit.Errorf(audit.EInvalid, "--server %q is not an http:// or https:// URL", rawURL)
	}
	if token == "" {
		return nil, audit.Errorf(audit.EInvalid, "--server needs a token: --token or MAILAUDIT_TOKEN (mailaudit new-api-token makes one)")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("httpapi: reading the CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, audit.Errorf(audit.EInvalid, "%s holds no PEM certificate", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &Client{base: u, token: token, http: &http.Client{Transport: tr}, IngestBatch: service.DefaultBatch}, nil
}

// call sends a request and checks the status. A 2xx answer's body is left
// to the caller; any other is turned into the error it describes.
func (c *Client) call(ctx context.Context, method, path string, q url.Values, body any) (*http.Response, error) {
	resp, err := c.do(ctx, method, path, q, body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, responseError(resp)
}

// do sends a request.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body any) (*http.Response, error) {
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case []byte:
		rd, ctype = bytes.NewReader(b), "application/x-ndjson"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		rd, ctype = bytes.NewReader(j), "application/json"
	}
	// path comes escaped (url.PathEscape on its variable parts).
	u := *c.base
	u.RawPath = c.base.EscapedPath() + path
	u.Path, _ = url.PathUnescape(u.RawPath)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("mailaudit server %s: %w", c.base.Host, err)
	}
	return resp, nil
}

// responseError turns an error answer back into the application error it
// stands for, so that exit codes are the same as in local mode.
func responseError(resp *http.Response) error {
	var eb errorBody
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if json.Unmarshal(b, &eb) != nil || eb.Error.Message == "" {
		return fmt.Errorf("mailaudit server: %s", resp.Status)
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		return fmt.Errorf("mailaudit server: %s: the token is missing, wrong or revoked", eb.Error.Message)
	case http.StatusForbidden:
		return fmt.Errorf("mailaudit server: %s (a token of another role is needed)", eb.Error.Message)
	}
	switch eb.Error.Code {
	case audit.EInvalid, audit.ENotFound, audit.EConflict:
		return audit.Errorf(eb.Error.Code, "%s", eb.Error.Message)
	}
	return fmt.Errorf("mailaudit server: %s", eb.Error.Message)
}

// get decodes a 2xx JSON answer into v.
func (c *Client) get(ctx context.Context, method, path string, q url.Values, body, v any) error {
	resp, err := c.call(ctx, method, path, q, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("mailaudit server: reading the answer to %s %s: %w", method, path, err)
	}
	return nil
}

func mailboxQuery(q service.MailboxQuery) url.Values {
	v := url.Values{}
	if q.Identity != "" {
		v.Set("identity", q.Identity)
	}
	if q.Filter != "" {
		v.Set("filter", q.Filter)
	}
	if len(q.Types) > 0 {
		v.Set("type", strings.Join(q.Types, ","))
	}
	return v
}

// orgJSON reads get-organization-config's object.
type orgJSON struct {
	Name                      string
	Guid                      uuid.UUID
	AuditDisabled             bool
	AuditProfile              string
	MailItemsAccessedThrottle int
	AdminAuditLogAgeLimit     string
	AdminHintSources          []string
}

// Organization reads the organisation settings.
func (c *Client) Organization(ctx context.Context) (audit.Organization, error) {
	var o orgJSON
	if err := c.get(ctx, "GET", "/api/v1/organization", nil, nil, &o); err != nil {
		return audit.Organization{}, err
	}
	age, err := audit.ParseAgeLimit(o.AdminAuditLogAgeLimit)
	if err != nil {
		return audit.Organization{}, fmt.Errorf("mailaudit server: AdminAuditLogAgeLimit: %w", err)
	}
	return audit.Organization{Id: o.Guid, Name: o.Name, AuditDisabled: o.AuditDisabled, Profile: o.AuditProfile,
		MailItemsAccessedThrottle: o.MailItemsAccessedThrottle, AdminAuditLogAgeLimit: age, AdminHintSources: o.AdminHintSources}, nil
}

// mailboxJSON reads get-mailbox's object; Attributes holds the rest.
type mailboxJSON struct {
	Guid                 uuid.UUID
	PrimarySmtpAddress   string
	Alias                string
	DisplayName          string
	RecipientTypeDetails string
	AuditEnabled         bool
	AuditAdmin           []string
	AuditDelegate        []string
	AuditOwner           []string
	DefaultAuditSet      []string
	AuditLogAgeLimit     string
	WhenCreated          time.Time
	WhenRemoved          time.Time
	EmailAddresses       []string
}

// mailboxFromView rebuilds a mailbox from its view. A logon type in
// DefaultAuditSet shows the profile's list, not its own (which is not sent);
// it is rebuilt as that list, which shows the same.
func mailboxFromView(raw json.RawMessage) (*audit.Mailbox, error) {
	var v mailboxJSON
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	var all map[string]any
	if err := json.Unmarshal(raw, &all); err != nil {
		return nil, err
	}
	m := &audit.Mailbox{Guid: v.Guid, PrimarySmtpAddress: v.PrimarySmtpAddress, EmailAddresses: v.EmailAddresses, Alias: v.Alias,
		DisplayName: v.DisplayName, Type: audit.RecipientType(v.RecipientTypeDetails), AuditEnabled: v.AuditEnabled,
		WhenCreated: v.WhenCreated, WhenRemoved: v.WhenRemoved, Attributes: map[string]string{}}
	var err error
	if m.AuditLogAgeLimit, err = audit.ParseAgeLimit(v.AuditLogAgeLimit); err != nil {
		return nil, fmt.Errorf("AuditLogAgeLimit: %w", err)
	}
	if m.DefaultAuditSet, err = audit.ParseLogonSet(v.DefaultAuditSet); err != nil {
		return nil, fmt.Errorf("DefaultAuditSet: %w", err)
	}
	for lt, names := range map[audit.LogonType][]string{audit.Admin: v.AuditAdmin, audit.Delegate: v.AuditDelegate, audit.Owner: v.AuditOwner} {
		if m.Audit[lt], err = opSet(names); err != nil {
			return nil, err
		}
	}
	for _, a := range audit.Attributes {
		if s, ok := all[a].(string); ok {
			m.Attributes[a] = s
		}
	}
	return m, nil
}

func opSet(names []string) (audit.OpSet, error) {
	var ops []audit.Operation
	for _, n := range names {
		op, ok := audit.ParseOperation(n)
		if !ok {
			return 0, fmt.Errorf("unknown operation %q", n)
		}
		ops = append(ops, op)
	}
	return audit.Ops(ops...), nil
}

func (c *Client) mailboxes(ctx context.Context, method, path string, q url.Values, body any) ([]*audit.Mailbox, error) {
	var raws []json.RawMessage
	if err := c.get(ctx, method, path, q, body, &raws); err != nil {
		return nil, err
	}
	out := make([]*audit.Mailbox, 0, len(raws))
	for _, raw := range raws {
		m, err := mailboxFromView(raw)
		if err != nil {
			return nil, fmt.Errorf("mailaudit server: reading a mailbox: %w", err)
		}
		out = append(out, m)
	}
	return out, nil
}

// NewMailbox creates a mailbox.
func (c *Client) NewMailbox(ctx context.Context, _ string, spec service.NewMailboxSpec) (*audit.Mailbox, error) {
	var raw json.RawMessage
	if err := c.get(ctx, "POST", "/api/v1/mailboxes", nil, NewMailbox(spec), &raw); err != nil {
		return nil, err
	}
	m, err := mailboxFromView(raw)
	if err != nil {
		return nil, fmt.Errorf("mailaudit server: reading the mailbox: %w", err)
	}
	return m, nil
}

// Mailboxes lists the mailboxes a query selects.
func (c *Client) Mailboxes(ctx context.Context, q service.MailboxQuery) ([]*audit.Mailbox, error) {
	return c.mailboxes(ctx, "GET", "/api/v1/mailboxes", mailboxQuery(q), nil)
}

func (c *Client) results(ctx context.Context, method, path string, q url.Values, body any) ([]service.Result, error) {
	var rs []ResultJSON
	if err := c.get(ctx, method, path, q, body, &rs); err != nil {
		return nil, err
	}
	out := make([]service.Result, 0, len(rs))
	for _, r := range rs {
		res := r.result()
		if len(r.Mailbox) > 0 {
			m, err := mailboxFromView(r.Mailbox)
			if err != nil {
				return nil, fmt.Errorf("mailaudit server: reading a mailbox: %w", err)
			}
			res.Mailbox = m
		}
		out = append(out, res)
	}
	return out, nil
}

func (r ResultJSON) result() service.Result {
	res := service.Result{Object: r.Object, Modified: r.Modified, Warning: r.Warning}
	if r.Error != nil {
		res.Err = audit.Errorf(r.Error.Code, "%s", r.Error.Message)
	}
	return res
}

func one(rs []service.Result, err error) (service.Result, error) {
	if err != nil {
		return service.Result{}, err
	}
	if len(rs) != 1 {
		return service.Result{}, fmt.Errorf("mailaudit server: %d results where one was expected", len(rs))
	}
	return rs[0], nil
}

// SetMailbox changes the mailboxes a query selects.
func (c *Client) SetMailbox(ctx context.Context, _ string, q service.MailboxQuery, ch audit.MailboxChange, params []audit.NameValue) ([]service.Result, error) {
	return c.results(ctx, "PATCH", "/api/v1/mailboxes", mailboxQuery(q), fromChange(ch, params))
}

// RemoveMailbox removes the mailboxes a query selects.
func (c *Client) RemoveMailbox(ctx context.Context, _ string, q service.MailboxQuery) ([]service.Result, error) {
	return c.results(ctx, "DELETE", "/api/v1/mailboxes", mailboxQuery(q), nil)
}

// AddPermission grants a right.
func (c *Client) AddPermission(ctx context.Context, _ string, identity, user, rights string) (service.Result, error) {
	return one(c.results(ctx, "POST", "/api/v1/permissions", nil, Grant{identity, user, rights}))
}

// RemovePermission takes a right back.
func (c *Client) RemovePermission(ctx context.Context, _ string, identity, user, rights string) (service.Result, error) {
	q := url.Values{"identity": {identity}, "user": {user}, "access-rights": {rights}}
	return one(c.results(ctx, "DELETE", "/api/v1/permissions", q, nil))
}

type permissionJSON struct {
	Identity     string
	User         string
	AccessRights audit.AccessRight
	WhenCreated  time.Time
}

// Permissions lists grants.
func (c *Client) Permissions(ctx context.Context, identity string) ([]service.PermissionView, error) {
	q := url.Values{}
	if identity != "" {
		q.Set("identity", identity)
	}
	var ps []permissionJSON
	if err := c.get(ctx, "GET", "/api/v1/permissions", q, nil, &ps); err != nil {
		return nil, err
	}
	out := make([]service.PermissionView, 0, len(ps))
	for _, p := range ps {
		out = append(out, service.PermissionView{Identity: p.Identity, User: p.User,
			Permission: audit.Permission{User: p.User, Rights: p.AccessRights, WhenCreated: p.WhenCreated}})
	}
	return out, nil
}

// SetOrganization changes organisation settings.
func (c *Client) SetOrganization(ctx context.Context, _ string, ch service.OrgChange, params []audit.NameValue) (service.Result, []string, error) {
	body := OrgChange{AuditDisabled: ch.AuditDisabled, AuditProfile: ch.Profile, MailItemsAccessedThrottle: ch.MailItemsAccessedThrottle,
		AdminAuditLogAgeLimit: ch.AdminAuditLogAgeLimit, AdminHintSources: ch.AdminHintSources, Name: ch.Name, Parameters: params}
	var out OrgResult
	if err := c.get(ctx, "PATCH", "/api/v1/organization", nil, body, &out); err != nil {
		return service.Result{}, nil, err
	}
	res := out.Result.result()
	return res, out.Warnings, nil
}

type bypassJSON struct {
	Name               string
	AuditBypassEnabled bool
	WhenCreated        time.Time
	WhenChanged        time.Time
}

// Bypasses lists bypass associations.
func (c *Client) Bypasses(ctx context.Context, identity string) ([]audit.Bypass, error) {
	q := url.Values{}
	if identity != "" {
		q.Set("identity", identity)
	}
	var bs []bypassJSON
	if err := c.get(ctx, "GET", "/api/v1/bypass-associations", q, nil, &bs); err != nil {
		return nil, err
	}
	out := make([]audit.Bypass, 0, len(bs))
	for _, b := range bs {
		out = append(out, audit.Bypass{Identity: b.Name, Enabled: b.AuditBypassEnabled, WhenCreated: b.WhenCreated, WhenChanged: b.WhenChanged})
	}
	return out, nil
}

// SetBypass sets bypass associations.
func (c *Client) SetBypass(ctx context.Context, _ string, q service.MailboxQuery, enabled bool) ([]service.Result, error) {
	return c.results(ctx, "PATCH", "/api/v1/bypass-associations", mailboxQuery(q), BypassChange{&enabled})
}

// TestBaseline compares every mailbox with a baseline.
func (c *Client) TestBaseline(ctx context.Context, name string) ([]service.BaselineResult, error) {
	var bs []BaselineJSON
	if err := c.get(ctx, "GET", "/api/v1/baselines/"+url.PathEscape(name), nil, nil, &bs); err != nil {
		return nil, err
	}
	out := make([]service.BaselineResult, 0, len(bs))
	for _, b := range bs {
		r := service.BaselineResult{Mailbox: &audit.Mailbox{PrimarySmtpAddress: b.Mailbox}}
		for _, d := range b.Diffs {
			lt, ok := audit.ParseLogonType(d.LogonType)
			if !ok {
				return nil, fmt.Errorf("mailaudit server: unknown logon type %q", d.LogonType)
			}
			diff := audit.BaselineDiff{LogonType: lt, Reason: d.RefusedBecause}
			var err error
			if diff.Missing, err = opSet(d.Missing); err == nil {
				if diff.Extra, err = opSet(d.Extra); err == nil {
					diff.Refused, err = opSet(d.Refused)
				}
			}
			if err != nil {
				return nil, fmt.Errorf("mailaudit server: %w", err)
			}
			r.Diffs = append(r.Diffs, diff)
		}
		out = append(out, r)
	}
	return out, nil
}

// SetBaseline applies a baseline.
func (c *Client) SetBaseline(ctx context.Context, _ string, name string) ([]service.Result, error) {
	return c.results(ctx, "POST", "/api/v1/baselines/"+url.PathEscape(name)+"/apply", nil, nil)
}

// Ingest sends JSON Lines in batches of opt.Batch lines (else IngestBatch;
// and at most 8 MiB, under the daemon's default body limit), each committed
// before the next is sent. Line numbers in the report are the input's.
// When a batch fails, the report says up to which line everything is
// stored, as the local ingest's does.
func (c *Client) Ingest(ctx context.Context, in io.Reader, opt service.IngestOptions) (*service.IngestReport, error) {
	size := c.IngestBatch
	if opt.Batch > 0 {
		size = opt.Batch
	}
	total := &service.IngestReport{}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<16), 1<<20+2)
	var batch bytes.Buffer
	lines, offset := 0, 0
	send := func() error {
		if lines == 0 {
			return nil
		}
		rep, err := c.ingestBatch(ctx, batch.Bytes())
		if rep != nil {
			merge(total, rep, offset)
		}
		if err != nil {
			if rep != nil {
				total.Committed = offset + rep.Committed
			}
			return err
		}
		total.Committed = offset + lines
		offset += lines
		lines = 0
		batch.Reset()
		return nil
	}
	for sc.Scan() {
		batch.Write(sc.Bytes())
		batch.WriteByte('\n')
		lines++
		if lines >= size || batch.Len() > 8<<20 {
			if err := send(); err != nil {
				return total, err
			}
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("line %d is longer than 1 MiB", offset+lines+1)
		}
		return total, fmt.Errorf("ingest: reading: %w", err)
	}
	return total, send()
}

func (c *Client) ingestBatch(ctx context.Context, body []byte) (*service.IngestReport, error) {
	resp, err := c.do(ctx, "POST", "/api/v1/activity", nil, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK, http.StatusUnprocessableEntity:
		// 422: some lines were refused, the others are stored.
		var rep service.IngestReport
		if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
			return nil, fmt.Errorf("mailaudit server: reading the ingest report: %w", err)
		}
		return &rep, nil
	case http.StatusServiceUnavailable:
		var failed struct {
			Error  apiError
			Report *service.IngestReport
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		if json.Unmarshal(b, &failed) == nil && failed.Report != nil {
			return failed.Report, fmt.Errorf("mailaudit server: %s", failed.Error.Message)
		}
		resp.Body = io.NopCloser(bytes.NewReader(b))
	}
	return nil, responseError(resp)
}

func merge(total, rep *service.IngestReport, offset int) {
	total.Read += rep.Read
	total.Recorded += rep.Recorded
	total.Aggregated += rep.Aggregated
	total.NotAudited += rep.NotAudited
	total.Duplicates += rep.Duplicates
	for k, v := range rep.Reasons {
		if total.Reasons == nil {
			total.Reasons = map[string]int{}
		}
		total.Reasons[k] += v
	}
	for _, r := range rep.Refused {
		total.Refused = append(total.Refused, service.Refusal{Line: r.Line + offset, Reason: r.Reason})
	}
}

// Flush does nothing: the daemon seals aggregates before every search.
func (c *Client) Flush(context.Context) error { return nil }

// stream reads a search's answer, record by record.
func (c *Client) stream(ctx context.Context, path string, q url.Values, fn func(*audit.Record) error) (string, error) {
	resp, err := c.call(ctx, "GET", path, q, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(bufio.NewReaderSize(resp.Body, 1<<16))
	bad := func(err error) (string, error) {
		return "", fmt.Errorf("mailaudit server: reading search results: %w", err)
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return bad(fmt.Errorf("not a JSON object (%v)", err))
	}
	next := ""
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return bad(err)
		}
		switch t {
		case "records":
			if t, err := dec.Token(); err != nil || t != json.Delim('[') {
				return bad(fmt.Errorf("records is not an array (%v)", err))
			}
			for dec.More() {
				var raw json.RawMessage
				if err := dec.Decode(&raw); err != nil {
					return bad(err)
				}
				r, err := export.ParseJSON(raw)
				if err != nil {
					return bad(err)
				}
				if err := fn(r); err != nil {
					return "", err
				}
			}
			if _, err := dec.Token(); err != nil {
				return bad(err)
			}
		case "next":
			if err := dec.Decode(&next); err != nil {
				return bad(err)
			}
		case "error":
			var e apiError
			if err := dec.Decode(&e); err != nil {
				return bad(err)
			}
			return "", fmt.Errorf("mailaudit server: %s", e.Message)
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return bad(err)
			}
		}
	}
	return next, nil
}

func setList(q url.Values, name string, values []string) {
	if len(values) > 0 {
		q.Set(name, strings.Join(values, ","))
	}
}

func setWindow(q url.Values, start, end time.Time) {
	if !start.IsZero() {
		q.Set("start", start.UTC().Format(time.RFC3339Nano))
	}
	if !end.IsZero() {
		q.Set("end", end.UTC().Format(time.RFC3339Nano))
	}
}

// SearchMailboxAuditLog searches mailboxes' records.
func (c *Client) SearchMailboxAuditLog(ctx context.Context, p service.MailboxSearch, fn func(*audit.Record) error) (string, error) {
	q := url.Values{}
	setWindow(q, p.Start, p.End)
	setList(q, "mailboxes", p.Identities)
	setList(q, "operations", p.Operations)
	setList(q, "logon-types", p.LogonTypes)
	if p.ExternalAccess {
		q.Set("external-access", "true")
	}
	q.Set("result-size", strconv.Itoa(p.ResultSize))
	if p.Cursor != "" {
		q.Set("cursor", p.Cursor)
	}
	return c.stream(ctx, "/api/v1/mailbox-audit-log", q, fn)
}

// SearchUnifiedAuditLog searches every record.
func (c *Client) SearchUnifiedAuditLog(ctx context.Context, p service.UnifiedSearch, fn func(*audit.Record) error) (string, error) {
	q := url.Values{}
	setWindow(q, p.Start, p.End)
	setList(q, "operations", p.Operations)
	setList(q, "user-ids", p.UserIds)
	setList(q, "object-ids", p.ObjectIds)
	setList(q, "ip-addresses", p.IPAddresses)
	if p.FreeText != "" {
		q.Set("free-text", p.FreeText)
	}
	var types []string
	for _, t := range p.RecordTypes {
		types = append(types, strconv.Itoa(t))
	}
	setList(q, "record-type", types)
	if p.ResultSize == 0 {
		q.Set("result-size", "unlimited")
	} else {
		q.Set("result-size", strconv.Itoa(p.ResultSize))
	}
	if p.Cursor != "" {
		q.Set("cursor", p.Cursor)
	}
	return c.stream(ctx, "/api/v1/unified-audit-log", q, fn)
}

// Retain runs retention now.
func (c *Client) Retain(ctx context.Context, _ string) (int64, error) {
	var out RetentionResult
	err := c.get(ctx, "POST", "/api/v1/retention", nil, nil, &out)
	return out.RecordsDeleted, err
}
