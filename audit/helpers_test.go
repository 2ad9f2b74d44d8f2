package audit

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// t0 is the start of every test scenario.
var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// testDir builds a directory under a profile with the given mailboxes, the
// way the store hands one to the engine: Org from NewOrganization, mailboxes
// from NewMailbox, then Index.
func testDir(profile string, mbs ...*Mailbox) *Directory {
	org := NewOrganization("example.org")
	if profile != "" {
		org.Profile = profile
	}
	d := &Directory{Org: org, Mailboxes: mbs}
	d.Index()
	return d
}

// stdMailboxes are the mailboxes most tests use: the owner alice, the
// delegate bob, carol (another delegate), the administrator admin (a mailbox
// whose actions are Admin only through a trusted hint) and a shared mailbox.
func stdMailboxes() []*Mailbox {
	alice := NewMailbox("alice@example.org", UserMailbox, t0.Add(-time.Hour))
	alice.DisplayName = "Alice Liddell"
	alice.EmailAddresses = []string{"a.liddell@example.org"}
	bob := NewMailbox("bob@example.org", UserMailbox, t0.Add(-time.Hour))
	bob.DisplayName = "Bob Builder"
	bob.EmailAddresses = []string{"builder@example.org"}
	carol := NewMailbox("carol@example.org", UserMailbox, t0.Add(-time.Hour))
	admin := NewMailbox("admin@example.org", UserMailbox, t0.Add(-time.Hour))
	admin.DisplayName = "Mail Admin"
	shared := NewMailbox("shared@example.org", SharedMailbox, t0.Add(-time.Hour))
	group := NewMailbox("team@example.org", GroupMailbox, t0.Add(-time.Hour))
	group.DisplayName = "The Team"
	return []*Mailbox{alice, bob, carol, admin, shared, group}
}

// stdDir is testDir with stdMailboxes; every mailbox is AuditEnabled so that
// off-by-default profiles audit them too.
func stdDir(profile string) *Directory {
	mbs := stdMailboxes()
	for _, m := range mbs {
		m.AuditEnabled = true
	}
	return testDir(profile, mbs...)
}

func mustMailbox(t testing.TB, d *Directory, id string) *Mailbox {
	t.Helper()
	m, err := d.Resolve(id)
	if err != nil {
		t.Fatalf("resolve %s: %v", id, err)
	}
	return m
}

// customise gives a mailbox its own list for a logon type.
func customise(m *Mailbox, lt LogonType, ops ...Operation) {
	m.Audit[lt] = Ops(ops...)
	m.DefaultAuditSet = m.DefaultAuditSet.Without(lt)
}

var eventSeq int

// act builds a valid activity (Validate applied) from the dovecot source.
func act(t testing.TB, op Operation, user, mailbox string, at time.Time, opts ...func(*Activity)) *Activity {
	t.Helper()
	eventSeq++
	a := &Activity{
		SourceEventId:   fmt.Sprintf("ev-%d", eventSeq),
		Source:          "dovecot",
		CreationTime:    Time{at},
		Operation:       op,
		UserId:          user,
		MailboxOwnerUPN: mailbox,
	}
	for _, o := range opts {
		o(a)
	}
	if err := a.Validate(); err != nil {
		t.Fatalf("test activity invalid: %v", err)
	}
	return a
}

func withSource(s string) func(*Activity) { return func(a *Activity) { a.Source = s } }
func asAdmin(a *Activity)                 { a.LogonTypeHint = "Admin" }
func withSession(s string) func(*Activity) {
	return func(a *Activity) { a.SessionId = s }
}
func withIP(ip string) func(*Activity) { return func(a *Activity) { a.ClientIPAddress = ip } }
func withClient(c string) func(*Activity) {
	return func(a *Activity) { a.ClientInfoString = c }
}
func inFolder(path string) func(*Activity) {
	return func(a *Activity) { a.Folder = &Folder{Id: "id:" + path, Path: path} }
}
func withItems(ids ...string) func(*Activity) {
	return func(a *Activity) {
		for _, id := range ids {
			a.Items = append(a.Items, Item{Id: id, Subject: "subject " + id, SizeInBytes: 100})
		}
	}
}
func withProp(name, value string) func(*Activity) {
	return func(a *Activity) { a.OperationProperties = append(a.OperationProperties, NameValue{name, value}) }
}

var (
	bindAccess = withProp("MailAccessType", "Bind")
	syncAccess = withProp("MailAccessType", "Sync")
)

// itemIds lists the item ids of an aggregated record.
func itemIds(r *Record) string {
	var ids []string
	for _, it := range r.Items() {
		ids = append(ids, it.Id)
	}
	return strings.Join(ids, ",")
}

// checkDense checks that records carry the sequence numbers after..after+n.
func checkDense(t testing.TB, after int64, recs []*Record) {
	t.Helper()
	for i, r := range recs {
		if want := after + int64(i) + 1; r.SequenceNumber != want {
			t.Fatalf("record %d (%s) has SequenceNumber %d, want %d", i, r.Operation, r.SequenceNumber, want)
		}
	}
}
