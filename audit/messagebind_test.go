package audit

import (
	"strings"
	"testing"
	"time"
)

// TestMessageBind: under a profile without MailItemsAccessed, a read (a
// MailItemsAccessed Bind) is recorded as MessageBind, one record per message,
// when the logon type's list has MessageBind; under exchange-online it stays
// MailItemsAccessed, aggregated.
func TestMessageBind(t *testing.T) {
	type rec struct {
		op, objectId string
		items        int
	}
	for _, c := range []struct {
		name    string
		profile string
		// setup changes alice's mailbox.
		setup func(*Mailbox)
		lt    LogonType
		opts  []func(*Activity)
		// twice: the same read again a minute later, same context.
		twice bool
		want  Decision
		// recs are the records Take returns (after Advance past every
		// window).
		recs []rec
	}{
		{name: "exchange-2019 admin, MessageBind in the list: one record per message",
			profile: "exchange-2019", setup: func(m *Mailbox) { customise(m, Admin, MessageBind) }, lt: Admin,
			opts: []func(*Activity){bindAccess, inFolder("/Inbox"), withItems("INBOX:1", "INBOX:2", "INBOX:3")},
			want: Decision{Outcome: Recorded, LogonType: Admin},
			recs: []rec{{"MessageBind", "INBOX:1", 1}, {"MessageBind", "INBOX:2", 1}, {"MessageBind", "INBOX:3", 1}}},
		{name: "the older form is not de-duplicated: the same messages read again are recorded again",
			profile: "exchange-2019", setup: func(m *Mailbox) { customise(m, Admin, MessageBind) }, lt: Admin,
			opts:  []func(*Activity){inFolder("/Inbox"), withItems("INBOX:1")},
			twice: true,
			want:  Decision{Outcome: Recorded, LogonType: Admin},
			recs:  []rec{{"MessageBind", "INBOX:1", 1}, {"MessageBind", "INBOX:1", 1}}},
		{name: "a read naming no message is one record of its folder",
			profile: "exchange-online-2019", setup: func(m *Mailbox) { customise(m, Admin, MessageBind) }, lt: Admin,
			opts: []func(*Activity){bindAccess, inFolder("/Archive")},
			want: Decision{Outcome: Recorded, LogonType: Admin},
			recs: []rec{{"MessageBind", "/Archive", 0}}},
		{name: "exchange-2016 admin, MessageBind in the list",
			profile: "exchange-2016", setup: func(m *Mailbox) { customise(m, Admin, MessageBind) }, lt: Admin,
			opts: []func(*Activity){bindAccess, withItems("INBOX:7", "INBOX:8")},
			want: Decision{Outcome: Recorded, LogonType: Admin},
			recs: []rec{{"MessageBind", "INBOX:7", 1}, {"MessageBind", "INBOX:8", 1}}},
		{name: "exchange-2019 admin by default: MessageBind is not in the default list",
			profile: "exchange-2019", lt: Admin,
			opts: []func(*Activity){bindAccess, withItems("INBOX:1")},
			want: Decision{Outcome: NotAudited, Reason: ReasonNotInList, LogonType: Admin}},
		{name: "exchange-2019 delegate: MessageBind is valid for Admin only",
			profile: "exchange-2019", setup: func(m *Mailbox) { customise(m, Delegate, MessageBind) }, lt: Delegate,
			opts: []func(*Activity){bindAccess, withItems("INBOX:1")},
			want: Decision{Outcome: NotAudited, Reason: ReasonNotInList, LogonType: Delegate}},
		{name: "exchange-2019 owner",
			profile: "exchange-2019", setup: func(m *Mailbox) { customise(m, Owner, MessageBind) }, lt: Owner,
			opts: []func(*Activity){bindAccess, withItems("INBOX:1")},
			want: Decision{Outcome: NotAudited, Reason: ReasonNotInList, LogonType: Owner}},
		{name: "a Sync has no older form",
			profile: "exchange-2019", setup: func(m *Mailbox) { customise(m, Admin, MessageBind) }, lt: Admin,
			opts: []func(*Activity){syncAccess, inFolder("/Inbox")},
			want: Decision{Outcome: NotAudited, Reason: ReasonNotInList, LogonType: Admin}},
		{name: "exchange-2019, mailbox not AuditEnabled",
			profile: "exchange-2019", setup: func(m *Mailbox) { customise(m, Admin, MessageBind); m.AuditEnabled = false }, lt: Admin,
			opts: []func(*Activity){bindAccess, withItems("INBOX:1")},
			want: Decision{Outcome: NotAudited, Reason: ReasonMailboxOff, LogonType: Admin}},
		{name: "exchange-online admin: MailItemsAccessed, and the same messages read again are not listed again",
			profile: "exchange-online", lt: Admin,
			opts:  []func(*Activity){bindAccess, inFolder("/Inbox"), withItems("INBOX:1", "INBOX:2")},
			twice: true,
			want:  Decision{Outcome: NotAudited, Reason: ReasonItemSeen, LogonType: Admin},
			recs:  []rec{{"MailItemsAccessed", "/Inbox", 2}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := stdDir(c.profile)
			alice := mustMailbox(t, d, "alice")
			if c.setup != nil {
				c.setup(alice)
			}
			e := NewEngine(d, NewVolume(), 0)
			user, opts := actorFor(c.lt)
			opts = append(append(opts, withSession("s1")), c.opts...)
			got := e.Decide(act(t, MailItemsAccessed, user, "alice@example.org", t0, opts...))
			if c.twice {
				got = e.Decide(act(t, MailItemsAccessed, user, "alice@example.org", t0.Add(time.Minute), opts...))
			}
			if got != c.want {
				t.Errorf("Decide = %v, want %v", got, c.want)
			}
			e.Advance(t0.Add(time.Hour))
			out := e.Take()
			if len(out.Records) != len(c.recs) {
				t.Fatalf("%d records, want %d: %+v", len(out.Records), len(c.recs), out.Records)
			}
			for i, r := range out.Records {
				w := c.recs[i]
				n := len(r.AffectedItems)
				if r.Item != nil {
					n++
				}
				if r.Operation == "MailItemsAccessed" {
					n = len(r.Folders[0].FolderItems)
				}
				if r.Operation != w.op || r.ObjectId != w.objectId || n != w.items {
					t.Errorf("record %d: %s %s with %d items, want %s %s with %d", i, r.Operation, r.ObjectId, n, w.op, w.objectId, w.items)
				}
				if r.Operation != "MessageBind" {
					continue
				}
				// The older form is an item record of its own, without the
				// MailItemsAccessed properties.
				if r.RecordType != ExchangeItem || r.OperationCount != 0 || r.LogonType != c.lt || r.SourceEventId == "" {
					t.Errorf("record %d: type %v, count %d, logon type %v, event %q", i, r.RecordType, r.OperationCount, r.LogonType, r.SourceEventId)
				}
				for _, p := range r.OperationProperties {
					if strings.EqualFold(p.Name, "MailAccessType") || p.Name == "IsThrottled" {
						t.Errorf("record %d has %s=%s", i, p.Name, p.Value)
					}
				}
				if r.Item != nil && (r.Item.Subject != "subject "+r.Item.Id || r.Item.SizeInBytes != 100) {
					t.Errorf("record %d: item %+v", i, *r.Item)
				}
			}
		})
	}
}

// MessageBind does not count towards the MailItemsAccessed throttle, and the
// throttle does not stop it: those are MailItemsAccessed's volume controls.
func TestMessageBindNotThrottled(t *testing.T) {
	d := stdDir("exchange-2019")
	d.Org.MailItemsAccessedThrottle = 2
	customise(mustMailbox(t, d, "alice"), Admin, MessageBind)
	e := NewEngine(d, NewVolume(), 0)
	for i := range 5 {
		got := e.Decide(act(t, MailItemsAccessed, "admin@example.org", "alice@example.org", t0.Add(time.Duration(i)*time.Second),
			asAdmin, bindAccess, withItems("INBOX:1")))
		if got.Outcome != Recorded {
			t.Fatalf("read %d: %v", i, got)
		}
	}
	out := e.Take()
	if len(out.Records) != 5 {
		t.Errorf("%d records for 5 reads, want 5", len(out.Records))
	}
	for _, r := range out.Records {
		if r.Operation != "MessageBind" {
			t.Errorf("a %s record", r.Operation)
		}
	}
}
