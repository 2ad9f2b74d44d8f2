package service

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailaudit/mailaudit/audit"
	"github.com/mailaudit/mailaudit/mail"
	"github.com/mailaudit/mailaudit/sqlite"
)

// mailbox records what was "sent" and fails the first failures sends: the
// runner's delivery state machine is under test here; e2e sends through a
// real Postfix.
type mailbox struct {
	mu       sync.Mutex
	failures int
	// refuse, when set, is asked first: a non-nil error is the relay's
	// answer to this message.
	refuse func(*mail.Message) error
	sent   []*mail.Message
	bodies [][]byte
}

func (m *mailbox) Send(_ context.Context, msg *mail.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.refuse != nil {
		if err := m.refuse(msg); err != nil {
			return err
		}
	}
	if m.failures > 0 {
		m.failures--
		return fmt.Errorf("mail: relay 127.0.0.1:25 did not accept the message: %w", &textproto.Error{Code: 451, Msg: "4.3.0 try again later"})
	}
	var b bytes.Buffer
	if err := msg.WriteTo(&b, "mailaudit@example.org"); err != nil {
		return err
	}
	m.sent = append(m.sent, msg)
	m.bodies = append(m.bodies, b.Bytes())
	return nil
}

func openService(t *testing.T, dir string) (*Service, *sqlite.Store) {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := Open(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	svc.ResultsDir = filepath.Join(dir, "data", "searches")
	return svc, st
}

func ingestLines(t *testing.T, svc *Service, lines ...string) {
	t.Helper()
	rep, err := svc.Ingest(context.Background(), strings.NewReader(strings.Join(lines, "\n")), IngestOptions{})
	if err != nil || len(rep.Refused) > 0 {
		t.Fatalf("ingest: %v %+v", err, rep.Refused)
	}
}

func act(id int, user, owner, op string) string {
	return fmt.Sprintf(`{"SourceEventId":"%d","Source":"test","CreationTime":"2026-11-20T09:%02d:00Z","Operation":"%s","UserId":"%s","MailboxOwnerUPN":"%s","Items":[{"Id":"INBOX:1:%d","InternetMessageId":"<m%d@example.org>","Subject":"message %d"}]}`,
		id, id%60, op, user, owner, id, id, id)
}

func TestRunnerRunsAndDelivers(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	svc, st := openService(t, dir)
	defer st.Close()
	ingestLines(t, svc,
		act(1, "alice@example.org", "alice@example.org", "HardDelete"),
		act(2, "bob@example.org", "alice@example.org", "HardDelete"),
		act(3, "bob@example.org", "alice@example.org", "SoftDelete"),
		act(4, "carol@example.org", "carol@example.org", "HardDelete"),
	)
	as, err := svc.NewAuditLogSearch(ctx, "siem", NewAuditLogSearchSpec{
		Name: "alice, non-owners", Mailboxes: []string{"alice"}, LogonTypes: []string{"Delegate"},
		StartDate: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), EndDate: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
		StatusMailRecipients: []string{"legal@example.org", "ciso@example.org"}, Formats: []string{"csv", "XML"}})
	if err != nil {
		t.Fatal(err)
	}
	if as.State != audit.SearchQueued || strings.Join(as.Formats, ",") != "xml,csv" || as.Mailboxes[0] != "alice@example.org" {
		t.Fatalf("queued search: %+v", as)
	}
	mb := &mailbox{failures: 2}
	r := &Runner{Service: svc, Mailer: mb, Backoff: []time.Duration{0, 0, 0}}
	if err := os.MkdirAll(svc.ResultsDir, 0o700); err != nil {
		t.Fatal(err)
	}
	// Three steps: run and fail to deliver, fail again, deliver.
	for i := range 3 {
		if _, err := r.step(ctx); err != nil {
			t.Fatal(err)
		}
		got, _ := svc.AuditLogSearches(ctx, AuditLogSearchQuery{Identity: as.Identity.String()})
		want := []audit.SearchState{audit.SearchDelivering, audit.SearchDelivering, audit.SearchDelivered}[i]
		if got[0].State != want || got[0].DeliveryAttempts != i+1 {
			t.Fatalf("after step %d: %s, %d attempts (%s), want %s", i+1, got[0].State, got[0].DeliveryAttempts, got[0].LastError, want)
		}
		if i < 2 && !strings.Contains(got[0].LastError, `451 "4.3.0 try again later"`) {
			t.Errorf("step %d: LastError %q", i+1, got[0].LastError)
		}
		if i == 2 && (got[0].LastError != "" || got[0].Records != 2 || got[0].DeliveredTime.IsZero()) {
			t.Errorf("delivered: %+v", got[0])
		}
	}
	if len(mb.sent) != 1 {
		t.Fatalf("%d mails sent", len(mb.sent))
	}
	m := mb.sent[0]
	if strings.Join(m.To, ",") != "legal@example.org,ciso@example.org" || !strings.Contains(m.Subject, "alice, non-owners") {
		t.Errorf("mail to %v, subject %q", m.To, m.Subject)
	}
	if len(m.Attachments) != 2 || m.Attachments[0].Name != "SearchResult.xml" || m.Attachments[1].Name != "SearchResult.csv" {
		t.Errorf("attachments %+v", m.Attachments)
	}
	for _, want := range []string{"Records found:   2", "Mailboxes:       alice@example.org", "Logon types:     Delegate", "Submitted by:    siem"} {
		if !strings.Contains(m.Body, want) {
			t.Errorf("body lacks %q:\n%s", want, m.Body)
		}
	}
	// The kept result is the direct search's.
	rc, err := svc.AuditLogSearchResult(ctx, "alice, non-owners", "xml")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	var doc struct {
		Events []struct {
			Operation string `xml:"Operation,attr"`
			LogonType string `xml:"LogonType,attr"`
		} `xml:"Event"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Events) != 2 || doc.Events[0].Operation != "SoftDelete" || doc.Events[1].LogonType != "Delegate" {
		t.Errorf("SearchResult.xml: %+v", doc.Events)
	}
	// The request itself is an admin audit record.
	n := 0
	svc.SearchUnifiedAuditLog(ctx, UnifiedSearch{Start: time.Now().Add(-time.Hour), Operations: []string{"New-MailboxAuditLogSearch"}},
		func(r *audit.Record) error {
			if r.UserId == "siem" && r.ObjectId == as.Identity.String() {
				n++
			}
			return nil
		})
	if n != 1 {
		t.Errorf("%d admin records of the search", n)
	}
}

// A search that was running when the daemon died runs again from the start
// on the next start; one that failed to deliver every time ends
// DeliveryFailed with the last error, and its result stays downloadable.
func TestRunnerRestartAndGiveUp(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	svc, st := openService(t, dir)
	ingestLines(t, svc, act(1, "bob@example.org", "alice@example.org", "HardDelete"))
	as, err := svc.NewAuditLogSearch(ctx, "siem", NewAuditLogSearchSpec{StartDate: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
		EndDate: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), StatusMailRecipients: []string{"legal@example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	// Crashed while running: saved Running, a half-written temporary file.
	as.State = audit.SearchRunning
	if err := st.SaveAuditLogSearch(ctx, as); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(svc.ResultsDir, 0o700)
	os.WriteFile(filepath.Join(svc.ResultsDir, ".result-123"), []byte("<SearchRes"), 0o600)
	st.Close()

	svc, st = openService(t, dir)
	defer st.Close()
	mb := &mailbox{failures: 100}
	r := &Runner{Service: svc, Mailer: mb, Backoff: []time.Duration{0, 0}}
	for range 3 {
		if _, err := r.step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := svc.AuditLogSearches(ctx, AuditLogSearchQuery{})
	if len(got) != 1 || got[0].State != audit.SearchDeliveryFailed || got[0].DeliveryAttempts != 3 || got[0].Records != 1 ||
		!strings.Contains(got[0].LastError, "451") {
		t.Fatalf("after three failed deliveries: %+v", got[0])
	}
	if next, _ := r.step(ctx); !next.IsZero() || len(mb.sent) != 0 {
		t.Error("a failed delivery is retried after giving up")
	}
	rc, err := svc.AuditLogSearchResult(ctx, as.Identity.String(), "xml")
	if err != nil {
		t.Fatalf("result of a DeliveryFailed search: %v", err)
	}
	rc.Close()
}

// No relay: the result is kept, and the search says why it was not mailed.
func TestRunnerWithoutRelay(t *testing.T) {
	ctx := context.Background()
	svc, st := openService(t, t.TempDir())
	defer st.Close()
	if _, err := svc.NewAuditLogSearch(ctx, "siem", NewAuditLogSearchSpec{StartDate: time.Now().Add(-time.Hour), EndDate: time.Now(),
		StatusMailRecipients: []string{"legal@example.org"}}); err != nil {
		t.Fatal(err)
	}
	r := &Runner{Service: svc}
	os.MkdirAll(svc.ResultsDir, 0o700)
	if _, err := r.step(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := svc.AuditLogSearches(ctx, AuditLogSearchQuery{})
	if got[0].State != audit.SearchDeliveryFailed || !strings.Contains(got[0].LastError, "no SMTP relay is configured") {
		t.Errorf("%+v", got[0])
	}
}

func TestNewAuditLogSearchRefuses(t *testing.T) {
	ctx := context.Background()
	svc, st := openService(t, t.TempDir())
	defer st.Close()
	start, end := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 15, 0, 0, 0, 0, time.UTC)
	ok := NewAuditLogSearchSpec{StartDate: start, EndDate: end, StatusMailRecipients: []string{"legal@example.org"}}
	for _, tc := range []struct {
		name   string
		change func(*NewAuditLogSearchSpec)
		code   string
		want   string
	}{
		{"65-character name", func(s *NewAuditLogSearchSpec) { s.Name = strings.Repeat("n", 65) }, audit.EInvalid,
			"Name: The length of the property is too long. The maximum length is 64 and the length of the value provided is 65."},
		{"reversed dates", func(s *NewAuditLogSearchSpec) { s.StartDate, s.EndDate = end, start }, audit.EInvalid,
			"The start date (2026-11-15T00:00:00Z) must be before the end date (2026-11-01T00:00:00Z)."},
		{"no end date", func(s *NewAuditLogSearchSpec) { s.EndDate = time.Time{} }, audit.EInvalid, "StartDate and EndDate are required."},
		{"no recipients", func(s *NewAuditLogSearchSpec) { s.StatusMailRecipients = nil }, audit.EInvalid, "StatusMailRecipients is required"},
		{"bad recipient", func(s *NewAuditLogSearchSpec) { s.StatusMailRecipients = []string{"legal"} }, audit.EInvalid, "'legal' isn't a valid SMTP address."},
		{"unknown mailbox", func(s *NewAuditLogSearchSpec) { s.Mailboxes = []string{"ghost@example.org"} }, audit.ENotFound,
			"The mailbox 'ghost@example.org' couldn't be found."},
		{"unknown logon type", func(s *NewAuditLogSearchSpec) { s.LogonTypes = []string{"Janitor"} }, audit.EInvalid, "Unknown logon type 'Janitor'"},
		{"unknown operation", func(s *NewAuditLogSearchSpec) { s.Operations = []string{"Teleport"} }, audit.EInvalid, "Unknown operation 'Teleport'"},
		{"unknown format", func(s *NewAuditLogSearchSpec) { s.Formats = []string{"pdf"} }, audit.EInvalid, "Unknown result format 'pdf'"},
		{"Owner without ShowDetails", func(s *NewAuditLogSearchSpec) { s.LogonTypes = []string{"Delegate", "owner"} }, audit.EInvalid,
			"The logon type Owner requires ShowDetails (--show-details): owner access is searched only with every entry's full details."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := ok
			tc.change(&spec)
			_, err := svc.NewAuditLogSearch(ctx, "siem", spec)
			if audit.ErrorCode(err) != tc.code || err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v (%s), want %s %q", err, audit.ErrorCode(err), tc.code, tc.want)
			}
		})
	}
	if got, _ := svc.AuditLogSearches(ctx, AuditLogSearchQuery{}); len(got) != 0 {
		t.Errorf("refused searches were saved: %d", len(got))
	}
	spec := ok
	spec.Name = strings.Repeat("n", 64)
	if _, err := svc.NewAuditLogSearch(ctx, "siem", spec); err != nil {
		t.Errorf("a 64-character name: %v", err)
	}
	spec = ok
	spec.LogonTypes, spec.ShowDetails = []string{"Owner"}, true
	if _, err := svc.NewAuditLogSearch(ctx, "siem", spec); err != nil {
		t.Errorf("Owner with ShowDetails: %v", err)
	}
}

// ShowDetails decides what SearchResult.xml holds: without it each entry's
// summary, with it every detail, the items among them.
func TestRunnerShowDetails(t *testing.T) {
	ctx := context.Background()
	svc, st := openService(t, t.TempDir())
	defer st.Close()
	ingestLines(t, svc,
		act(1, "alice@example.org", "alice@example.org", "HardDelete"),
		act(2, "bob@example.org", "alice@example.org", "HardDelete"))
	r := &Runner{Service: svc, Mailer: &mailbox{}}
	os.MkdirAll(svc.ResultsDir, 0o700)
	type event struct {
		Operation     string  `xml:"Operation,attr"`
		LogonType     string  `xml:"LogonType,attr"`
		Owner         string  `xml:"Owner,attr"`
		LogonUserDN   *string `xml:"LogonUserDN,attr"`
		FolderId      *string `xml:"FolderId,attr"`
		InternalLogon *string `xml:"InternalLogonType,attr"`
		Items         []struct {
			Subject string `xml:"Subject,attr"`
		} `xml:"SourceItems>SourceItem"`
	}
	for _, details := range []bool{false, true} {
		name := fmt.Sprintf("details %t", details)
		logonTypes := []string{"Delegate"}
		if details {
			logonTypes = append(logonTypes, "Owner")
		}
		if _, err := svc.NewAuditLogSearch(ctx, "siem", NewAuditLogSearchSpec{Name: name, StartDate: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
			EndDate: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), StatusMailRecipients: []string{"legal@example.org"}, ShowDetails: details,
			LogonTypes: logonTypes}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.step(ctx); err != nil {
			t.Fatal(err)
		}
		rc, err := svc.AuditLogSearchResult(ctx, name, "xml")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		var doc struct {
			Events []event `xml:"Event"`
		}
		if err := xml.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		want := 1 // Delegate only: Owner needs ShowDetails
		if details {
			want = 2
		}
		if len(doc.Events) != want {
			t.Fatalf("%s: %d events, want %d:\n%s", name, len(doc.Events), want, b)
		}
		for _, ev := range doc.Events {
			if ev.Operation != "HardDelete" || ev.Owner != "alice@example.org" || ev.LogonUserDN == nil {
				t.Errorf("%s: the summary attributes are missing: %+v", name, ev)
			}
			hasDetails := ev.FolderId != nil && ev.InternalLogon != nil && len(ev.Items) == 1 && strings.HasPrefix(ev.Items[0].Subject, "message ")
			if hasDetails != details || (!details && (ev.FolderId != nil || len(ev.Items) > 0)) {
				t.Errorf("%s: details in the event: %t (FolderId %v, %d items)", name, hasDetails, ev.FolderId, len(ev.Items))
			}
		}
	}
}

// A permanent refusal (5xx) ends the delivery at once with the relay's
// reply; a temporary one (4xx) and a connection failure are retried. Every
// attempt's outcome is observed (the metrics).
func TestRunnerPermanentRefusal(t *testing.T) {
	ctx := context.Background()
	svc, st := openService(t, t.TempDir())
	defer st.Close()
	ingestLines(t, svc, act(1, "bob@example.org", "alice@example.org", "HardDelete"))
	newSearch := func(name string) *audit.AuditLogSearch {
		as, err := svc.NewAuditLogSearch(ctx, "siem", NewAuditLogSearchSpec{Name: name, StartDate: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
			EndDate: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), StatusMailRecipients: []string{name + "@example.org"}})
		if err != nil {
			t.Fatal(err)
		}
		return as
	}
	newSearch("refused")
	newSearch("deferred")
	newSearch("unreachable")
	mb := &mailbox{refuse: func(m *mail.Message) error {
		switch m.To[0] {
		case "refused@example.org":
			return fmt.Errorf("mail: relay 127.0.0.1:25 refused recipient refused@example.org: %w", &textproto.Error{Code: 550, Msg: "5.1.1 <refused@example.org>: Recipient address rejected: User unknown"})
		case "deferred@example.org":
			return fmt.Errorf("mail: relay 127.0.0.1:25 refused recipient deferred@example.org: %w", &textproto.Error{Code: 450, Msg: "4.2.0 greylisted"})
		default:
			return errors.New("mail: connecting to relay 127.0.0.1:25: dial tcp 127.0.0.1:25: connect: connection refused")
		}
	}}
	var outcomes []string
	r := &Runner{Service: svc, Mailer: mb, Backoff: []time.Duration{0, 0}, Observe: func(o string) { outcomes = append(outcomes, o) }}
	os.MkdirAll(svc.ResultsDir, 0o700)
	for range 3 {
		if _, err := r.step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name     string
		state    audit.SearchState
		attempts int
		err      string
	}{
		{"refused", audit.SearchDeliveryFailed, 1, `550 "5.1.1 <refused@example.org>: Recipient address rejected: User unknown"`},
		{"deferred", audit.SearchDeliveryFailed, 3, `450 "4.2.0 greylisted"`},
		{"unreachable", audit.SearchDeliveryFailed, 3, "connection refused"},
	} {
		got, _ := svc.AuditLogSearches(ctx, AuditLogSearchQuery{Identity: tc.name})
		if got[0].State != tc.state || got[0].DeliveryAttempts != tc.attempts || !strings.Contains(got[0].LastError, tc.err) {
			t.Errorf("%s: %s after %d attempts (%s); want %s after %d, %q", tc.name, got[0].State, got[0].DeliveryAttempts, got[0].LastError,
				tc.state, tc.attempts, tc.err)
		}
	}
	slices.Sort(outcomes)
	if want := "failed,failed,failed,retried,retried,retried,retried"; strings.Join(outcomes, ",") != want {
		t.Errorf("outcomes %v, want %s", outcomes, want)
	}
}

// A mail too large for the relay goes again at once as the summary alone,
// saying why and how to download the result; the search is Delivered.
func TestRunnerTooLarge(t *testing.T) {
	ctx := context.Background()
	svc, st := openService(t, t.TempDir())
	defer st.Close()
	ingestLines(t, svc, act(1, "bob@example.org", "alice@example.org", "HardDelete"))
	as, err := svc.NewAuditLogSearch(ctx, "siem", NewAuditLogSearchSpec{Name: "big", StartDate: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
		EndDate: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), StatusMailRecipients: []string{"legal@example.org"}, Formats: []string{"csv"}})
	if err != nil {
		t.Fatal(err)
	}
	mb := &mailbox{refuse: func(m *mail.Message) error {
		if len(m.Attachments) > 0 {
			return &mail.TooLargeError{Relay: "127.0.0.1:25", Size: 123456, Limit: 10240}
		}
		return nil
	}}
	var outcomes []string
	r := &Runner{Service: svc, Mailer: mb, Observe: func(o string) { outcomes = append(outcomes, o) }}
	os.MkdirAll(svc.ResultsDir, 0o700)
	if _, err := r.step(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := svc.AuditLogSearches(ctx, AuditLogSearchQuery{Identity: "big"})
	if got[0].State != audit.SearchDelivered || got[0].DeliveryAttempts != 1 || strings.Join(outcomes, ",") != "delivered" {
		t.Fatalf("%s after %d attempts (%s), outcomes %v", got[0].State, got[0].DeliveryAttempts, got[0].LastError, outcomes)
	}
	if len(mb.sent) != 1 || len(mb.sent[0].Attachments) != 0 {
		t.Fatalf("sent %d mails, the last with attachments %+v", len(mb.sent), mb.sent)
	}
	body := mb.sent[0].Body
	id := as.Identity.String()
	for _, want := range []string{
		"The result is too large to mail: the mail with it attached would be 123456 bytes, and the relay takes at most 10240.",
		"SearchResult.xml (", "is not attached: download it with",
		"mailaudit get-audit-log-search-result " + id + " --format xml > SearchResult.xml",
		"mailaudit get-audit-log-search-result " + id + " --format csv > SearchResult.csv",
		"GET /api/v1/audit-log-searches/" + id + "/result?format=csv",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
	// Too large even alone: refused for good, not retried.
	as2, _ := svc.NewAuditLogSearch(ctx, "siem", NewAuditLogSearchSpec{Name: "huge", StartDate: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
		EndDate: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), StatusMailRecipients: []string{"legal@example.org"}})
	mb.refuse = func(*mail.Message) error { return &mail.TooLargeError{Relay: "127.0.0.1:25", Size: 5000, Limit: 100} }
	if _, err := r.step(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ = svc.AuditLogSearches(ctx, AuditLogSearchQuery{Identity: as2.Identity.String()})
	if got[0].State != audit.SearchDeliveryFailed || !strings.Contains(got[0].LastError, "takes at most 100") {
		t.Errorf("a summary too large: %s (%s)", got[0].State, got[0].LastError)
	}
}

// Retention deletes the results of searches finished longer ago than the
// age limit and says so on the search; a newer one, or one still being
// delivered, keeps its result.
func TestExpireSearchResults(t *testing.T) {
	ctx := context.Background()
	svc, st := openService(t, t.TempDir())
	defer st.Close()
	ingestLines(t, svc, act(1, "bob@example.org", "alice@example.org", "HardDelete"))
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	svc.Now = func() time.Time { return now }
	mb := &mailbox{refuse: func(m *mail.Message) error {
		if m.To[0] == "stuck@example.org" {
			return &textproto.Error{Code: 451, Msg: "4.3.0 try again later"}
		}
		return nil
	}}
	r := &Runner{Service: svc, Mailer: mb, Backoff: []time.Duration{time.Hour}}
	os.MkdirAll(svc.ResultsDir, 0o700)
	search := func(name string) {
		if _, err := svc.NewAuditLogSearch(ctx, "siem", NewAuditLogSearchSpec{Name: name, StartDate: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
			EndDate: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), StatusMailRecipients: []string{name + "@example.org"}, Formats: []string{"json"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	search("old")
	search("stuck")
	now = t0.Add(20 * 24 * time.Hour)
	search("recent")

	now = t0.Add(31 * 24 * time.Hour)
	if n, err := svc.ExpireSearchResults(ctx, 0); n != 0 || err != nil {
		t.Errorf("age limit 0 expired %d (%v)", n, err)
	}
	n, err := svc.ExpireSearchResults(ctx, 30*24*time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("expired %d searches (%v), want 1", n, err)
	}
	got, _ := svc.AuditLogSearches(ctx, AuditLogSearchQuery{Identity: "old"})
	if !got[0].ResultExpiredTime.Equal(now) || got[0].State != audit.SearchDelivered {
		t.Errorf("old: %s, ResultExpiredTime %v", got[0].State, got[0].ResultExpiredTime)
	}
	for _, format := range []string{"xml", "json"} {
		if _, err := os.Stat(ResultPath(svc.ResultsDir, got[0].Identity, format)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("old: the %s result is still there (%v)", format, err)
		}
		_, err := svc.AuditLogSearchResult(ctx, "old", format)
		if want := "The result of audit log search 'old' expired on 2027-01-01T00:00:00Z and is no longer kept (retention.search_result_age_limit)."; audit.ErrorCode(err) != audit.ENotFound || err.Error() != want {
			t.Errorf("downloading an expired result: %v, want %s", err, want)
		}
	}
	for _, name := range []string{"stuck", "recent"} {
		rc, err := svc.AuditLogSearchResult(ctx, name, "json")
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		rc.Close()
	}
	if n, err := svc.ExpireSearchResults(ctx, 30*24*time.Hour); n != 0 || err != nil {
		t.Errorf("a second run expired %d (%v)", n, err)
	}
}
