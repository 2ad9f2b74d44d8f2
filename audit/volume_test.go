package audit

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// step is one thing that happens to an engine: an activity and the decision
// expected for it, or (with a nil activity) Advance to a time.
type vstep struct {
	a       *Activity
	want    Decision
	advance time.Time
}

// run applies steps, checking each decision.
func runSteps(t *testing.T, e *Engine, steps []vstep) {
	t.Helper()
	for i, s := range steps {
		if s.a == nil {
			e.Advance(s.advance)
			continue
		}
		if got := e.Decide(s.a); got != s.want {
			t.Fatalf("step %d (%s by %s at %s): %v, want %v", i, s.a.Operation, s.a.UserId,
				s.a.CreationTime.Sub(t0), got, s.want)
		}
	}
}

func recorded(lt LogonType) Decision   { return Decision{Outcome: Recorded, LogonType: lt} }
func aggregated(lt LogonType) Decision { return Decision{Outcome: Aggregated, LogonType: lt} }
func notAudited(reason string, lt LogonType) Decision {
	return Decision{Outcome: NotAudited, Reason: reason, LogonType: lt}
}

func TestDelegateFolderBind(t *testing.T) {
	d := stdDir("exchange-online")
	for _, id := range []string{"alice", "shared"} {
		m := mustMailbox(t, d, id)
		customise(m, Delegate, FolderBind, Update)
		customise(m, Admin, FolderBind, Update)
	}
	e := NewEngine(d, NewVolume(), 0)
	fb := func(user, mailbox, folder string, at time.Duration, opts ...func(*Activity)) *Activity {
		return act(t, FolderBind, user, mailbox, t0.Add(at), append(opts, inFolder(folder))...)
	}

	runSteps(t, e, []vstep{{a: fb("bob", "alice", "/Inbox", 0), want: recorded(Delegate)}})
	out := e.Take()
	if len(out.Records) != 1 || out.Records[0].SequenceNumber != 1 || out.Records[0].OperationCount != 1 || len(out.Counts) != 0 {
		t.Fatalf("first bind: %d records, counts %v", len(out.Records), out.Counts)
	}
	if r := out.Records[0]; r.Folder.Path != "/Inbox" || r.RecordType != ExchangeItem || r.ObjectId != "/Inbox" {
		t.Errorf("FolderBind record: %+v", r)
	}

	// Later binds in the window are counted into record 1, whichever
	// identity of the delegate is used.
	runSteps(t, e, []vstep{
		{a: fb("bob", "alice", "/Inbox", time.Hour), want: aggregated(Delegate)},
		{a: fb("bob@example.org", "alice", "/Inbox", 2*time.Hour), want: aggregated(Delegate)},
	})
	if out = e.Take(); len(out.Records) != 0 || fmt.Sprint(out.Counts) != "map[1:3]" {
		t.Fatalf("counted binds: %d records, counts %v", len(out.Records), out.Counts)
	}

	// Another folder, another delegate, another mailbox: records of their own.
	runSteps(t, e, []vstep{
		{a: fb("bob", "alice", "/Sent", 3*time.Hour), want: recorded(Delegate)},
		{a: fb("carol", "alice", "/Inbox", 3*time.Hour), want: recorded(Delegate)},
		{a: fb("bob", "shared", "/Inbox", 3*time.Hour), want: recorded(Delegate)},
		{a: fb("bob", "alice", "/Sent", 4*time.Hour), want: aggregated(Delegate)},
		{a: fb("bob", "alice", "/Inbox", 24*time.Hour-time.Second), want: aggregated(Delegate)},
	})
	out = e.Take()
	checkDense(t, 1, out.Records)
	if len(out.Records) != 3 || fmt.Sprint(out.Counts) != "map[1:4 2:2]" {
		t.Fatalf("%d records, counts %v", len(out.Records), out.Counts)
	}

	// 24 hours after the first: a new record, and counting starts again.
	runSteps(t, e, []vstep{
		{a: fb("bob", "alice", "/Inbox", 24*time.Hour), want: recorded(Delegate)},
		{a: fb("bob", "alice", "/Inbox", 25*time.Hour), want: aggregated(Delegate)},
	})
	out = e.Take()
	if len(out.Records) != 1 || out.Records[0].SequenceNumber != 5 || fmt.Sprint(out.Counts) != "map[5:2]" {
		t.Fatalf("after 24h: %d records, counts %v", len(out.Records), out.Counts)
	}

	// Advance past the window forgets it: the next bind is recorded.
	e.Advance(t0.Add(49 * time.Hour))
	runSteps(t, e, []vstep{{a: fb("bob", "alice", "/Inbox", 49*time.Hour), want: recorded(Delegate)}})

	// Admin FolderBind is not limited; Owner FolderBind is not an operation.
	runSteps(t, e, []vstep{
		{a: fb("admin", "alice", "/Inbox", 50*time.Hour, asAdmin), want: recorded(Admin)},
		{a: fb("admin", "alice", "/Inbox", 50*time.Hour+time.Minute, asAdmin), want: recorded(Admin)},
		{a: fb("admin", "alice", "/Inbox", 50*time.Hour+2*time.Minute, asAdmin), want: recorded(Admin)},
		{a: fb("alice", "alice", "/Inbox", 50*time.Hour), want: notAudited(ReasonNotInList, Owner)},
	})
	out = e.Take()
	checkDense(t, 5, out.Records)
	if len(out.Records) != 4 || len(out.Counts) != 0 {
		t.Fatalf("admin binds: %d records, counts %v", len(out.Records), out.Counts)
	}
	for _, r := range out.Records[1:] {
		if r.OperationCount > 1 {
			t.Errorf("admin FolderBind counted: %d", r.OperationCount)
		}
	}

	// exchange-2019 audits Admin FolderBind by default, each one.
	d = stdDir("exchange-2019")
	e = NewEngine(d, NewVolume(), 0)
	for i := 0; i < 3; i++ {
		runSteps(t, e, []vstep{{a: fb("admin", "alice", "/Inbox", time.Duration(i)*time.Minute, asAdmin), want: recorded(Admin)}})
	}
	if out := e.Take(); len(out.Records) != 3 {
		t.Errorf("exchange-2019 admin binds: %d records", len(out.Records))
	}
}

// bindCtx is the session context of the MailItemsAccessed tests.
func bindCtx(opts ...func(*Activity)) []func(*Activity) {
	return append([]func(*Activity){bindAccess, inFolder("/Inbox"), withSession("s1"), withIP("192.0.2.1"), withClient("Client=IMAP4;name=neomutt")}, opts...)
}

func bindAct(t *testing.T, user, mailbox string, at time.Duration, items []string, opts ...func(*Activity)) *Activity {
	return act(t, MailItemsAccessed, user, mailbox, t0.Add(at), append(bindCtx(opts...), withItems(items...))...)
}

func itemList(s ...string) []string { return s }

func TestMailItemsAccessedAggregation(t *testing.T) {
	d := stdDir("exchange-online")
	e := NewEngine(d, NewVolume(), 0)

	runSteps(t, e, []vstep{
		{a: bindAct(t, "alice", "alice", 0, itemList("m1")), want: recorded(Owner)},
		{a: bindAct(t, "alice", "alice", 30*time.Second, itemList("m2")), want: aggregated(Owner)},
		{a: bindAct(t, "alice", "alice", 90*time.Second, itemList("m3", "m4")), want: aggregated(Owner)},
	})
	if out := e.Take(); len(out.Records) != 0 || e.Vol.Open() != 1 {
		t.Fatalf("open aggregate emitted early: %d records, %d open", len(out.Records), e.Vol.Open())
	}
	e.Advance(t0.Add(2*time.Minute - time.Nanosecond))
	if out := e.Take(); len(out.Records) != 0 {
		t.Fatalf("sealed before the window ended")
	}
	e.Advance(t0.Add(2 * time.Minute))
	out := e.Take()
	if len(out.Records) != 1 || e.Vol.Open() != 0 {
		t.Fatalf("after the window: %d records, %d open", len(out.Records), e.Vol.Open())
	}
	r := out.Records[0]
	if r.RecordType != ExchangeItemAggregated || itemIds(r) != "m1,m2,m3,m4" || r.OperationCount != 3 ||
		r.Property("MailAccessType") != "Bind" || r.Property("IsThrottled") != "False" ||
		!r.CreationTime.Equal(t0) || len(r.Folders) != 1 || r.Folders[0].Path != "/Inbox" || r.Folders[0].Id != "id:/Inbox" ||
		r.SequenceNumber != 1 || r.SessionId != "s1" || r.ClientIPAddress != "192.0.2.1" {
		t.Errorf("aggregated record: %+v", r)
	}

	// A context change opens a record of its own.
	at := 10 * time.Minute
	runSteps(t, e, []vstep{
		{a: bindAct(t, "alice", "alice", at, itemList("m10")), want: recorded(Owner)},
		{a: bindAct(t, "alice", "alice", at, itemList("m11"), withIP("198.51.100.9")), want: recorded(Owner)},
		{a: bindAct(t, "alice", "alice", at, itemList("m12"), withSession("s2")), want: recorded(Owner)},
		{a: bindAct(t, "alice", "alice", at, itemList("m13"), inFolder("/Archive")), want: recorded(Owner)},
		{a: bindAct(t, "alice", "alice", at, itemList("m14"), withClient("Client=REST")), want: recorded(Owner)},
		{a: bindAct(t, "bob", "alice", at, itemList("m15")), want: recorded(Delegate)},
		{a: bindAct(t, "admin", "alice", at, itemList("m16"), asAdmin), want: recorded(Admin)},
		{a: bindAct(t, "alice", "bob", at, itemList("m17")), want: recorded(Delegate)},
		{a: bindAct(t, "alice", "alice", at+30*time.Second, itemList("m18")), want: aggregated(Owner)},
		{a: bindAct(t, "ALICE@example.org", "alice", at+40*time.Second, itemList("m19")), want: aggregated(Owner)},
	})
	if e.Vol.Open() != 8 {
		t.Errorf("%d open aggregates, want 8", e.Vol.Open())
	}
	e.Advance(t0.Add(at + 2*time.Minute))
	out = e.Take()
	checkDense(t, 1, out.Records)
	var got []string
	for _, r := range out.Records {
		got = append(got, itemIds(r))
	}
	sort.Strings(got)
	if strings.Join(got, " ") != "m10,m18,m19 m11 m12 m13 m14 m15 m16 m17" {
		t.Errorf("records per context: %v", got)
	}

	// The same item bound again by the same context within the hour is not
	// listed; another context lists it; after the hour it is listed again.
	at = 20 * time.Minute
	runSteps(t, e, []vstep{
		{a: bindAct(t, "alice", "alice", at, itemList("m1")), want: notAudited(ReasonItemSeen, Owner)},
		{a: bindAct(t, "alice", "alice", at, itemList("m1", "m2")), want: notAudited(ReasonItemSeen, Owner)},
		{a: bindAct(t, "alice", "alice", at, itemList("m1"), withIP("203.0.113.5")), want: recorded(Owner)},
		{a: bindAct(t, "alice", "alice", at, itemList("m1", "m20")), want: recorded(Owner)},
		{a: bindAct(t, "alice", "alice", at+30*time.Second, itemList("m20")), want: notAudited(ReasonItemSeen, Owner)},
		{a: bindAct(t, "alice", "alice", at+40*time.Second, itemList("m20", "m21")), want: aggregated(Owner)},
		{a: bindAct(t, "alice", "alice", time.Hour-time.Second, itemList("m1")), want: notAudited(ReasonItemSeen, Owner)},
		{a: bindAct(t, "alice", "alice", time.Hour, itemList("m1")), want: recorded(Owner)},
		// m2 (bound at 30s) is listed again, m3 (bound at 90s) not yet.
		{a: bindAct(t, "alice", "alice", time.Hour+time.Minute, itemList("m2", "m3")), want: aggregated(Owner)},
	})
	e.Advance(t0.Add(2 * time.Hour))
	out = e.Take()
	got = nil
	for _, r := range out.Records {
		got = append(got, itemIds(r)+"/"+r.ClientIPAddress)
	}
	// The m20 aggregate is sealed by the next bind of its context (at 1h),
	// the others by Advance in the order their windows started.
	if strings.Join(got, " ") != "m20,m21/192.0.2.1 m1/203.0.113.5 m1,m2/192.0.2.1" {
		t.Errorf("dedup records: %v", got)
	}

	// Sync: one record per activity, at once, never aggregated.
	runSteps(t, e, []vstep{
		{a: act(t, MailItemsAccessed, "alice", "alice", t0.Add(3*time.Hour), syncAccess, inFolder("/Inbox"), withSession("s1")), want: recorded(Owner)},
		{a: act(t, MailItemsAccessed, "alice", "alice", t0.Add(3*time.Hour), syncAccess, inFolder("/Inbox"), withSession("s1")), want: recorded(Owner)},
		{a: act(t, MailItemsAccessed, "alice", "alice", t0.Add(3*time.Hour), withProp("MailAccessType", "sync"), inFolder("/Sent")), want: recorded(Owner)},
	})
	out = e.Take()
	if len(out.Records) != 3 || e.Vol.Open() != 0 {
		t.Fatalf("sync: %d records, %d open", len(out.Records), e.Vol.Open())
	}
	for _, r := range out.Records {
		if r.RecordType != ExchangeItemAggregated || r.Property("MailAccessType") != "Sync" || r.Property("IsThrottled") != "False" || r.OperationCount != 1 {
			t.Errorf("sync record: %+v", r)
		}
	}
	if out.Records[2].Folders[0].Path != "/Sent" {
		t.Errorf("sync folder %v", out.Records[2].Folders)
	}
}

// A bind without MailAccessType is a Bind.
func TestMailItemsAccessedDefaultsToBind(t *testing.T) {
	d := stdDir("exchange-online")
	e := NewEngine(d, NewVolume(), 0)
	runSteps(t, e, []vstep{
		{a: act(t, MailItemsAccessed, "alice", "alice", t0, inFolder("/Inbox"), withItems("m1")), want: recorded(Owner)},
		{a: act(t, MailItemsAccessed, "alice", "alice", t0.Add(time.Second), inFolder("/Inbox"), withItems("m2")), want: aggregated(Owner)},
	})
	e.Advance(t0.Add(time.Hour))
	out := e.Take()
	if len(out.Records) != 1 || out.Records[0].Property("MailAccessType") != "Bind" || itemIds(out.Records[0]) != "m1,m2" {
		t.Errorf("records %+v", out.Records)
	}
}

func TestMailItemsAccessedThrottle(t *testing.T) {
	d := stdDir("exchange-online")
	d.Org.MailItemsAccessedThrottle = 5
	e := NewEngine(d, NewVolume(), 0)
	var steps []vstep
	// Five records in five windows.
	for i := 0; i < 5; i++ {
		steps = append(steps, vstep{a: bindAct(t, "alice", "alice", time.Duration(i)*3*time.Minute, itemList(fmt.Sprintf("i%d", i))), want: recorded(Owner)})
	}
	runSteps(t, e, steps)
	if out := e.Take(); len(out.Records) != 4 {
		t.Fatalf("%d records before the throttle, want 4 sealed", len(out.Records))
	}
	// The next bind marks the start of the throttle.
	runSteps(t, e, []vstep{{a: bindAct(t, "alice", "alice", 15*time.Minute, itemList("i5")), want: recorded(Owner)}})
	out := e.Take()
	checkDense(t, 4, out.Records)
	if len(out.Records) != 2 {
		t.Fatalf("%d records at the throttle, want the fifth and the marker", len(out.Records))
	}
	if r := out.Records[0]; r.Property("IsThrottled") != "False" || itemIds(r) != "i4" {
		t.Errorf("fifth record %+v", r)
	}
	marker := out.Records[1]
	if marker.Property("IsThrottled") != "True" || marker.Property("MailAccessType") != "Bind" || itemIds(marker) != "i5" ||
		marker.RecordType != ExchangeItemAggregated || !marker.CreationTime.Equal(t0.Add(15*time.Minute)) {
		t.Errorf("throttle marker %+v", marker)
	}
	if e.Vol.Open() != 0 {
		t.Errorf("the marker left an aggregate open")
	}
	start := 15 * time.Minute
	runSteps(t, e, []vstep{
		{a: bindAct(t, "alice", "alice", start+time.Minute, itemList("i6")), want: notAudited(ReasonThrottled, Owner)},
		{a: bindAct(t, "bob", "alice", start+time.Minute, itemList("i7"), withIP("198.51.100.1")), want: notAudited(ReasonThrottled, Delegate)},
		{a: bindAct(t, "admin", "alice", start+time.Minute, itemList("i8"), asAdmin), want: notAudited(ReasonThrottled, Admin)},
		// Other operations, Sync and other mailboxes are not throttled.
		{a: act(t, Update, "alice", "alice", t0.Add(start+2*time.Minute)), want: recorded(Owner)},
		{a: act(t, HardDelete, "bob", "alice", t0.Add(start+2*time.Minute)), want: recorded(Delegate)},
		{a: act(t, MailItemsAccessed, "alice", "alice", t0.Add(start+2*time.Minute), syncAccess, inFolder("/Inbox")), want: recorded(Owner)},
		{a: bindAct(t, "bob", "bob", start+2*time.Minute, itemList("b1")), want: recorded(Owner)},
		{a: bindAct(t, "alice", "alice", start+24*time.Hour-time.Second, itemList("i9")), want: notAudited(ReasonThrottled, Owner)},
		// 24 hours after the marker binds are recorded again.
		{a: bindAct(t, "alice", "alice", start+24*time.Hour, itemList("i10")), want: recorded(Owner)},
		{a: bindAct(t, "alice", "alice", start+24*time.Hour+time.Second, itemList("i11")), want: aggregated(Owner)},
	})
	e.Advance(t0.Add(start + 25*time.Hour))
	out = e.Take()
	checkDense(t, 6, out.Records)
	var got []string
	for _, r := range out.Records {
		got = append(got, r.Operation+":"+r.Property("MailAccessType")+":"+r.Property("IsThrottled")+":"+itemIds(r))
	}
	want := "Update::: HardDelete::: MailItemsAccessed:Sync:False: MailItemsAccessed:Bind:False:b1 MailItemsAccessed:Bind:False:i10,i11"
	if strings.Join(got, " ") != want {
		t.Errorf("records\n %s\nwant\n %s", strings.Join(got, " "), want)
	}
}

// The default threshold is 1,000 records in 24 hours (also when unset).
func TestMailItemsAccessedThrottleDefault(t *testing.T) {
	for _, limit := range []int{1000, 0} {
		d := stdDir("exchange-online")
		d.Org.MailItemsAccessedThrottle = limit
		e := NewEngine(d, NewVolume(), 0)
		for i := 0; i < 1000; i++ {
			a := bindAct(t, "alice", "alice", time.Duration(i)*time.Second, itemList("m"), withSession(fmt.Sprint("s", i)))
			if got := e.Decide(a); got != recorded(Owner) {
				t.Fatalf("limit %d: bind %d: %v", limit, i, got)
			}
		}
		a := bindAct(t, "alice", "alice", 1000*time.Second, itemList("m"), withSession("last"))
		if got := e.Decide(a); got != recorded(Owner) {
			t.Fatalf("limit %d: marker: %v", limit, got)
		}
		out := e.Take()
		if n := len(out.Records); n == 0 || out.Records[n-1].Property("IsThrottled") != "True" {
			t.Fatalf("limit %d: no throttle marker after 1,000 records", limit)
		}
		if got := e.Decide(bindAct(t, "alice", "alice", 1001*time.Second, itemList("m"), withSession("later"))); got != notAudited(ReasonThrottled, Owner) {
			t.Errorf("limit %d: after the marker: %v", limit, got)
		}
	}
}

func TestMailboxLoginOncePerSession(t *testing.T) {
	d := stdDir("exchange-online")
	customise(mustMailbox(t, d, "alice"), Owner, MailboxLogin, Update)
	e := NewEngine(d, NewVolume(), 0)
	login := func(user string, at time.Duration, opts ...func(*Activity)) *Activity {
		return act(t, MailboxLogin, user, "alice", t0.Add(at), opts...)
	}
	runSteps(t, e, []vstep{
		{a: login("alice", 0, withSession("s1")), want: recorded(Owner)},
		{a: login("alice", 5*time.Minute, withSession("s1")), want: notAudited(ReasonSessionLogged, Owner)},
		{a: login("alice", 6*time.Minute, withSession("s2")), want: recorded(Owner)},
		{a: login("alice", 7*time.Minute), want: recorded(Owner)},
		{a: login("alice", 8*time.Minute), want: recorded(Owner)},
		{a: login("bob", 9*time.Minute, withSession("s3")), want: notAudited(ReasonNotInList, Delegate)},
		{a: act(t, Update, "alice", "alice", t0.Add(10*time.Minute), withSession("s1")), want: recorded(Owner)},
	})
	out := e.Take()
	checkDense(t, 0, out.Records)
	if len(out.Records) != 5 {
		t.Errorf("%d records", len(out.Records))
	}
	// The session is another mailbox's own.
	customise(mustMailbox(t, d, "bob"), Owner, MailboxLogin)
	runSteps(t, e, []vstep{{a: act(t, MailboxLogin, "bob", "bob", t0.Add(11*time.Minute), withSession("s1")), want: recorded(Owner)}})
}

// A long scenario through all the volume controls; sequence numbers over all
// outputs are dense and increasing.
func volumeScenario(t *testing.T) (*Directory, []vstep) {
	d := stdDir("exchange-online")
	d.Org.MailItemsAccessedThrottle = 4
	alice := mustMailbox(t, d, "alice")
	customise(alice, Owner, MailboxLogin, MailItemsAccessed, Update)
	customise(alice, Delegate, FolderBind, MailItemsAccessed, Update)
	m := func(d time.Duration) time.Time { return t0.Add(d) }
	fb := func(at time.Duration) *Activity {
		return act(t, FolderBind, "bob", "alice", m(at), inFolder("/Inbox"))
	}
	login := func(at time.Duration) *Activity {
		return act(t, MailboxLogin, "alice", "alice", m(at), withSession("s1"))
	}
	steps := []vstep{
		{a: login(0), want: recorded(Owner)},
		{a: fb(0), want: recorded(Delegate)},
		{a: bindAct(t, "alice", "alice", 10*time.Second, itemList("m1")), want: recorded(Owner)},
		{a: bindAct(t, "alice", "alice", 30*time.Second, itemList("m2")), want: aggregated(Owner)},
		{a: fb(40 * time.Second), want: aggregated(Delegate)},
		{a: login(50 * time.Second), want: notAudited(ReasonSessionLogged, Owner)},
		{a: bindAct(t, "alice", "alice", 60*time.Second, itemList("m1")), want: notAudited(ReasonItemSeen, Owner)},
		{advance: m(3 * time.Minute)},
		{a: bindAct(t, "alice", "alice", 4*time.Minute, itemList("m3")), want: recorded(Owner)},
		{a: bindAct(t, "bob", "alice", 4*time.Minute, itemList("m1")), want: recorded(Delegate)},
		{a: bindAct(t, "alice", "alice", 5*time.Minute, itemList("m1", "m4")), want: aggregated(Owner)},
		{a: bindAct(t, "alice", "alice", 7*time.Minute, itemList("m5")), want: recorded(Owner)},
		{a: act(t, MailItemsAccessed, "alice", "alice", m(8*time.Minute), syncAccess, inFolder("/Inbox")), want: recorded(Owner)},
		{a: bindAct(t, "alice", "alice", 10*time.Minute, itemList("m6")), want: recorded(Owner)}, // the throttle marker
		{a: bindAct(t, "alice", "alice", 11*time.Minute, itemList("m7")), want: notAudited(ReasonThrottled, Owner)},
		{a: act(t, Update, "bob", "alice", m(12*time.Minute)), want: recorded(Delegate)},
		{a: fb(time.Hour), want: aggregated(Delegate)},
		{advance: m(2 * time.Hour)},
		{a: bindAct(t, "alice", "alice", 10*time.Minute+24*time.Hour, itemList("m1")), want: recorded(Owner)},
		{a: bindAct(t, "alice", "alice", 11*time.Minute+24*time.Hour, itemList("m1", "m8")), want: aggregated(Owner)},
		{a: fb(25 * time.Hour), want: recorded(Delegate)},
		{a: fb(26 * time.Hour), want: aggregated(Delegate)},
		{a: login(25 * time.Hour), want: recorded(Owner)},
		{advance: m(27 * time.Hour)},
		{a: bindAct(t, "alice", "alice", 28*time.Hour, itemList("m9")), want: recorded(Owner)},
		{advance: m(30 * time.Hour)},
	}
	for i, s := range steps {
		if s.a != nil {
			s.a.SourceEventId = fmt.Sprintf("scenario-%d", i)
		}
	}
	return d, steps
}

func TestVolumeScenarioSequence(t *testing.T) {
	d, steps := volumeScenario(t)
	e := NewEngine(d, NewVolume(), 7)
	var all []*Record
	for i := range steps {
		runSteps(t, e, steps[i:i+1])
		all = append(all, e.Take().Records...)
	}
	checkDense(t, 7, all)
	var got []string
	for _, r := range all {
		s := r.Operation
		if ids := itemIds(r); ids != "" {
			s += "[" + ids + "]"
		}
		if r.Property("IsThrottled") == "True" {
			s += "!"
		}
		got = append(got, s)
	}
	// Records come in the order they are sealed: alice's aggregates when her
	// next bind comes after the window, bob's and the last ones by Advance.
	want := "MailboxLogin FolderBind MailItemsAccessed[m1,m2] MailItemsAccessed[m3,m4] MailItemsAccessed " +
		"MailItemsAccessed[m5] MailItemsAccessed[m6]! Update MailItemsAccessed[m1] " +
		"FolderBind MailboxLogin MailItemsAccessed[m1,m8] MailItemsAccessed[m9]"
	if strings.Join(got, " ") != want {
		t.Errorf("records\n %s\nwant\n %s", strings.Join(got, " "), want)
	}
}

func cloneDir(d *Directory) *Directory {
	org := *d.Org
	c := &Directory{Org: &org, Bypasses: append([]Bypass(nil), d.Bypasses...), Permissions: append([]Permission(nil), d.Permissions...)}
	for _, m := range d.Mailboxes {
		c.Mailboxes = append(c.Mailboxes, m.Clone())
	}
	c.Index()
	return c
}

// result is everything an engine produced, in a comparable form.
type result struct {
	records []string
	counts  map[int64]int
}

func (r *result) add(out Output) {
	for _, rec := range out.Records {
		b, err := json.Marshal(rec)
		if err != nil {
			panic(err)
		}
		r.records = append(r.records, string(b))
	}
	for seq, n := range out.Counts {
		if r.counts == nil {
			r.counts = map[int64]int{}
		}
		r.counts[seq] = n
	}
}

// kvStore keeps volume entries as a store would: a nil value deletes.
type kvStore map[string][]byte

func (s kvStore) apply(entries []VolumeEntry) {
	for _, e := range entries {
		if e.Value == nil {
			delete(s, e.Key)
		} else {
			s[e.Key] = e.Value
		}
	}
}

func (s kvStore) entries() []VolumeEntry {
	var out []VolumeEntry
	for k, v := range s {
		out = append(out, VolumeEntry{Key: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// TestVolumeRoundTrip stops the engine after every step of the scenario,
// persists its volume state through Changes, loads it into a fresh Volume
// and engine, and checks that the rest of the run decides and records exactly
// what an engine that never stopped does.
func TestVolumeRoundTrip(t *testing.T) {
	base, steps := volumeScenario(t)
	var want result
	ref := NewEngine(cloneDir(base), NewVolume(), 0)
	for i := range steps {
		runSteps(t, ref, steps[i:i+1])
		want.add(ref.Take())
	}
	for k := 0; k <= len(steps); k++ {
		t.Run(fmt.Sprint("restart after step ", k), func(t *testing.T) {
			var got result
			store := kvStore{}
			var log []*Record // the records the store holds
			e := NewEngine(cloneDir(base), NewVolume(), 0)
			for i := 0; i < k; i++ {
				runSteps(t, e, steps[i:i+1])
				out := e.Take()
				store.apply(out.Volume)
				got.add(out)
				log = append(log, out.Records...)
			}
			if left := e.Vol.Changes(); len(left) != 0 {
				t.Fatalf("Take left %d volume changes", len(left))
			}
			vol := NewVolume()
			if err := vol.Load(store.entries()); err != nil {
				t.Fatalf("Load: %v", err)
			}
			// As the service does: the store's records, newest first.
			slices.Reverse(log)
			vol.Recount(slices.Values(log))
			e = NewEngine(cloneDir(e.Dir), vol, e.Seq)
			for i := k; i < len(steps); i++ {
				runSteps(t, e, steps[i:i+1])
				out := e.Take()
				store.apply(out.Volume)
				got.add(out)
			}
			if len(got.records) != len(want.records) {
				t.Fatalf("%d records, want %d", len(got.records), len(want.records))
			}
			for i := range got.records {
				if got.records[i] != want.records[i] {
					t.Errorf("record %d:\n %s\nwant\n %s", i, got.records[i], want.records[i])
				}
			}
			if fmt.Sprint(got.counts) != fmt.Sprint(want.counts) {
				t.Errorf("counts %v, want %v", got.counts, want.counts)
			}
		})
	}
	// At the end of the scenario every window has closed and the state is
	// empty again: nothing is kept for ever. The throttles go once activity
	// has moved on a day.
	ref.Advance(t0.Add(100 * time.Hour))
	ref.Decide(act(t, Update, "alice", "alice", t0.Add(100*time.Hour)))
	ref.Advance(t0.Add(100 * time.Hour))
	store := kvStore{}
	store.apply(ref.Take().Volume)
	if ref.Vol.Open() != 0 || len(ref.Vol.folderBinds) != 0 || len(ref.Vol.seen) != 0 || len(ref.Vol.throttles) != 0 || len(ref.Vol.logins) != 0 {
		t.Errorf("volume state left after every window closed")
	}
}

func TestVolumeLoadErrors(t *testing.T) {
	for _, e := range []VolumeEntry{
		{Key: "xx:1", Value: []byte(`{}`)},
		{Key: "fb:k", Value: []byte(`{`)},
		{Key: "ag:k", Value: []byte(`{}`)},
		{Key: "login:k", Value: []byte(`"yesterday"`)},
	} {
		err := NewVolume().Load([]VolumeEntry{e})
		if err == nil || !strings.Contains(err.Error(), e.Key) {
			t.Errorf("Load(%s) = %v", e.Key, err)
		}
	}
	// Changes reports each touched entry once and then nothing.
	d := stdDir("exchange-online")
	e := NewEngine(d, NewVolume(), 0)
	e.Decide(bindAct(t, "alice", "alice", 0, itemList("m1")))
	ch := e.Vol.Changes()
	var keys []string
	for _, c := range ch {
		keys = append(keys, c.Key[:strings.IndexByte(c.Key, ':')])
		if c.Value == nil {
			t.Errorf("entry %s has no value", c.Key)
		}
	}
	sort.Strings(keys)
	if strings.Join(keys, ",") != "ag,seen" || len(e.Vol.Changes()) != 0 {
		t.Errorf("Changes kinds %v", keys)
	}
	// Throttles saved by earlier versions are read as nothing and deleted.
	v := NewVolume()
	old := VolumeEntry{Key: "th:" + mustMailbox(t, d, "alice").Guid.String(), Value: []byte(`{"t":["2026-01-05T10:00:00Z"]}`)}
	if err := v.Load([]VolumeEntry{old}); err != nil {
		t.Fatalf("Load(%s) = %v", old.Key, err)
	}
	if len(v.throttles) != 0 {
		t.Errorf("an old throttle entry was loaded: %v", v.throttles)
	}
	if ch := v.Changes(); len(ch) != 1 || ch[0].Key != old.Key || ch[0].Value != nil {
		t.Errorf("Changes after an old throttle entry: %+v, want its deletion", ch)
	}
}

// An aggregated record names what it covers as other records do: its one
// item, else its folder (several items), else the mailbox.
func TestAggregatedObjectId(t *testing.T) {
	d := stdDir("exchange-online")
	e := NewEngine(d, NewVolume(), 0)
	runSteps(t, e, []vstep{
		// one item: the item
		{a: bindAct(t, "alice", "alice", 0, itemList("m1")), want: recorded(Owner)},
		// several items over several binds: the folder
		{a: bindAct(t, "alice", "alice", 0, itemList("m2"), withSession("s2")), want: recorded(Owner)},
		{a: bindAct(t, "alice", "alice", time.Second, itemList("m3"), withSession("s2")), want: aggregated(Owner)},
		// two items of which one was seen: the one listed
		{a: bindAct(t, "alice", "alice", 0, itemList("m2", "m4"), withSession("s2"), withIP("198.51.100.1")), want: recorded(Owner)},
		{a: bindAct(t, "alice", "alice", 0, itemList("m1", "m5"), withSession("s3")), want: recorded(Owner)},
		{a: bindAct(t, "alice", "alice", 3*time.Minute, itemList("m1", "m6"), withSession("s3")), want: recorded(Owner)},
	})
	e.Advance(t0.Add(time.Hour))
	var got []string
	for _, r := range e.Take().Records {
		got = append(got, itemIds(r)+"="+r.ObjectId)
	}
	// s3's first aggregate is sealed by its next bind, the rest by Advance.
	want := "m1,m5=/Inbox m1=m1 m2,m3=/Inbox m2,m4=/Inbox m6=m6"
	if strings.Join(got, " ") != want {
		t.Errorf("ObjectIds\n %s\nwant\n %s", strings.Join(got, " "), want)
	}
}

// Recount counts every MailItemsAccessed record, Bind and Sync, of each
// mailbox, and the open aggregates, and takes the throttle's end from a record
// marked IsThrottled; other operations do not count. Counting again replaces.
func TestVolumeRecount(t *testing.T) {
	d := stdDir("exchange-online")
	alice, bob := mustMailbox(t, d, "alice").Guid, mustMailbox(t, d, "bob").Guid
	rec := func(g uuid.UUID, op Operation, at time.Duration, props ...NameValue) *Record {
		return &Record{MailboxGuid: g, Operation: op.String(), CreationTime: t0.Add(at), OperationProperties: props}
	}
	bind := NameValue{Name: "MailAccessType", Value: "Bind"}
	sync := NameValue{Name: "MailAccessType", Value: "Sync"}
	throttled := NameValue{Name: "IsThrottled", Value: "True"}
	// Newest first, as the store returns them.
	records := []*Record{
		rec(alice, MailItemsAccessed, 2*time.Hour, bind, throttled),
		rec(alice, Update, 90*time.Minute),
		rec(alice, MailItemsAccessed, time.Hour, bind, NameValue{Name: "IsThrottled", Value: "False"}),
		rec(alice, MailItemsAccessed, 30*time.Minute, sync),
		rec(bob, MailItemsAccessed, 0, bind),
		rec(alice, MailItemsAccessed, 0, bind),
	}
	v := NewVolume()
	v.aggregates["ctx"] = &aggregate{Start: t0.Add(3 * time.Hour), Record: rec(alice, MailItemsAccessed, 3*time.Hour, bind)}
	for range 2 {
		v.Recount(slices.Values(records))
		var got []string
		for _, at := range v.throttles[alice].Times {
			got = append(got, at.Sub(t0).String())
		}
		if want := "0s 30m0s 1h0m0s 2h0m0s 3h0m0s"; strings.Join(got, " ") != want {
			t.Errorf("alice's throttle counts %v, want %s", got, want)
		}
		if until := v.throttles[alice].Until; !until.Equal(t0.Add(26 * time.Hour)) {
			t.Errorf("alice's throttle ends at %v, want 24 hours after the marked record", until)
		}
		if th := v.throttles[bob]; th == nil || len(th.Times) != 1 || !th.Until.IsZero() {
			t.Errorf("bob's throttle %+v, want one record and no end", th)
		}
	}
}
