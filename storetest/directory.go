package storetest

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mailaudit/mailaudit/audit"
)

func (s *suite) testLoad(t *testing.T) {
	st := s.new(t)
	first := mustLoad(t, st)
	org := first.Dir.Org
	if org.Id == uuid.Nil {
		t.Errorf("a new store's organisation has no Id")
	}
	want := audit.NewOrganization(org.Name)
	want.Id = org.Id
	if d := diff(canon(*org), canon(*want)); len(d) > 0 {
		t.Errorf("a new store's organisation is not audit.NewOrganization's:\n\t%s", strings.Join(d, "\n\t"))
	}
	if org.Profile != "exchange-online" || org.AuditDisabled || org.MailItemsAccessedThrottle != 1000 {
		t.Errorf("a new organisation has Profile %q, AuditDisabled %v, MailItemsAccessedThrottle %d; want exchange-online, false, 1000",
			org.Profile, org.AuditDisabled, org.MailItemsAccessedThrottle)
	}
	if first.Seq != 0 || len(first.Dir.Mailboxes) != 0 || len(first.Dir.Permissions) != 0 || len(first.Dir.Bypasses) != 0 || len(first.Volume) != 0 {
		t.Errorf("a new store has Seq %d, %d mailboxes, %d permissions, %d bypasses, %d volume entries; want all 0",
			first.Seq, len(first.Dir.Mailboxes), len(first.Dir.Permissions), len(first.Dir.Bypasses), len(first.Volume))
	}

	second := mustLoad(t, st)
	if second.Dir.Org.Id != org.Id {
		t.Errorf("the second Load made another organisation: Id %s, then %s; the first Load must save it", org.Id, second.Dir.Org.Id)
	}
	if d := diff(canon(*second.Dir.Org), canon(*org)); len(d) > 0 {
		t.Errorf("the second Load's organisation differs from the first's:\n\t%s", strings.Join(d, "\n\t"))
	}

	if pos, err := st.Position(ctx(t), "dovecot"); err != nil || pos != "" {
		t.Errorf(`Position on a new store = %q, %v; want "", nil`, pos, err)
	}
	key := audit.Event{EventKey: audit.EventKey{Source: "dovecot", Id: "dovecot:1"}, Time: t0}
	if seen, err := st.Seen(ctx(t), []audit.Event{key}); err != nil || seen[key] {
		t.Errorf("Seen on a new store = %v, %v; want nothing seen", seen, err)
	}
	if got := searchAll(t, st, audit.Query{}); len(got) != 0 {
		t.Errorf("Search on a new store found %d records", len(got))
	}
}

func (s *suite) testCommit(t *testing.T) {
	s.run(t, "Organization", func(t *testing.T, st audit.Store, state *audit.State) {
		org := Organization(state.Dir.Org.Id)
		if missing := uncovered([]*audit.Organization{org}); len(missing) > 0 {
			t.Errorf("the fixture leaves organisation fields untested: %v", missing)
		}
		mustCommit(t, st, &audit.Commit{Org: org})
		got := mustLoad(t, st).Dir.Org
		if d := diff(canon(*got), canon(*org)); len(d) > 0 {
			t.Errorf("organisation after Commit:\n\t%s", strings.Join(d, "\n\t"))
		}
		// A commit without Org leaves it.
		f := NewFixture()
		mustCommit(t, st, &audit.Commit{Mailboxes: []*audit.Mailbox{f.Bob}})
		if got := mustLoad(t, st).Dir.Org; !canonEqual(got, org) {
			t.Errorf("a commit without Org changed the organisation to %+v", got)
		}
	})

	s.run(t, "Mailboxes", func(t *testing.T, st audit.Store, _ *audit.State) {
		f := NewFixture()
		if missing := uncovered(f.Mailboxes()); len(missing) > 0 {
			t.Errorf("the fixture leaves mailbox fields untested: %v", missing)
		}
		mustCommit(t, st, &audit.Commit{Mailboxes: f.Mailboxes()})
		checkMailboxes(t, mustLoad(t, st).Dir, f.Mailboxes())

		// Replace by Guid: Alice renamed and reconfigured, Bob removed.
		alice := f.Alice.Clone()
		alice.PrimarySmtpAddress = "alice.liddell@example.com"
		alice.EmailAddresses = []string{"alice@example.org"}
		alice.Alias, alice.DisplayName, alice.Type = "aliddell", "Alice Liddell-Hargreaves", audit.SharedMailbox
		alice.AuditEnabled = false
		alice.Audit = [3]audit.OpSet{audit.Owner: audit.Ops(audit.MailboxLogin), audit.Delegate: 0, audit.Admin: audit.Ops(audit.HardDelete)}
		alice.DefaultAuditSet = audit.AllLogons.Without(audit.Delegate)
		alice.AuditLogAgeLimit = 180 * day
		alice.Attributes = map[string]string{"Department": "Litigation", "CustomAttribute1": "hold"}
		bob := f.Bob.Clone()
		bob.WhenRemoved = t0.Add(-time.Hour)
		mustCommit(t, st, &audit.Commit{Mailboxes: []*audit.Mailbox{alice, bob}})
		want := []*audit.Mailbox{alice, bob, f.Shared, f.Room, f.Carol}
		dir := mustLoad(t, st).Dir
		checkMailboxes(t, dir, want)
		if ms := dir.Lookup("alice@example.org"); len(ms) != 1 || ms[0].Guid != alice.Guid {
			t.Errorf("Load's directory does not resolve Alice's new alias address: %v", ms)
		}
		if ms := dir.Lookup(bob.PrimarySmtpAddress); len(ms) != 0 {
			t.Errorf("Load's directory resolves the removed mailbox %s", bob.PrimarySmtpAddress)
		}
	})

	s.run(t, "Permissions", func(t *testing.T, st audit.Store, _ *audit.State) {
		f := NewFixture()
		grants := []audit.Permission{
			{Mailbox: f.Alice.Guid, User: f.Bob.PrimarySmtpAddress, Rights: audit.FullAccess, WhenCreated: t0.Add(-30*day + 1234567)},
			{Mailbox: f.Alice.Guid, User: f.Bob.PrimarySmtpAddress, Rights: audit.SendOnBehalfRight, WhenCreated: t0.Add(-30 * day)},
			{Mailbox: f.Shared.Guid, User: f.Bob.PrimarySmtpAddress, Rights: audit.SendAsRight, WhenCreated: t0.Add(-20 * day)},
			{Mailbox: f.Shared.Guid, User: "svc-archiver", Rights: audit.FullAccess, WhenCreated: t0.Add(-10 * day)},
		}
		mustCommit(t, st, &audit.Commit{Mailboxes: f.Mailboxes(), AddPermissions: grants})
		checkPermissions(t, mustLoad(t, st).Dir.Permissions, grants)

		mustCommit(t, st, &audit.Commit{RemovePermissions: []audit.Permission{grants[1], grants[3]}})
		checkPermissions(t, mustLoad(t, st).Dir.Permissions, []audit.Permission{grants[0], grants[2]})
	})

	s.run(t, "Bypasses", func(t *testing.T, st audit.Store, _ *audit.State) {
		created := t0.Add(-5*day + 777*time.Microsecond)
		bs := []audit.Bypass{
			{Identity: "svc-backup", Enabled: true, WhenCreated: created, WhenChanged: created},
			{Identity: "journal@example.org", Enabled: true, WhenCreated: t0.Add(-day), WhenChanged: t0.Add(-day)},
		}
		mustCommit(t, st, &audit.Commit{Bypasses: bs})
		checkBypasses(t, mustLoad(t, st).Dir.Bypasses, bs)

		// Update: the first creation time stays, the change time moves.
		upd := audit.Bypass{Identity: "svc-backup", Enabled: false, WhenCreated: t0, WhenChanged: t0.Add(-time.Minute)}
		mustCommit(t, st, &audit.Commit{Bypasses: []audit.Bypass{upd}})
		checkBypasses(t, mustLoad(t, st).Dir.Bypasses, []audit.Bypass{
			{Identity: "svc-backup", Enabled: false, WhenCreated: created, WhenChanged: t0.Add(-time.Minute)},
			bs[1],
		})
	})

	s.run(t, "Volume", func(t *testing.T, st audit.Store, _ *audit.State) {
		f := NewFixture()
		fb := "fb:" + f.Alice.Guid.String() + "|bob@example.org|/calendar"
		ag := "ag:" + f.Shared.Guid.String() + "|bob@example.org|Delegate|198.51.100.23||imap-b0b3|/Inbox"
		th := "th:" + f.Shared.Guid.String()
		mustCommit(t, st, &audit.Commit{Volume: []audit.VolumeEntry{
			{Key: fb, Value: []byte(`{"s":"2026-11-22T09:00:00Z","q":7,"n":1}`)},
			{Key: ag, Value: []byte(`{"s":"2026-11-22T09:58:00Z","r":{"Operation":"MailItemsAccessed"}}`)},
			{Key: th, Value: []byte(`{"t":["2026-11-22T09:58:00Z"]}`)},
		}})
		checkVolume(t, mustLoad(t, st).Volume, map[string]string{
			fb: `{"s":"2026-11-22T09:00:00Z","q":7,"n":1}`,
			ag: `{"s":"2026-11-22T09:58:00Z","r":{"Operation":"MailItemsAccessed"}}`,
			th: `{"t":["2026-11-22T09:58:00Z"]}`,
		})

		// Put replaces, a nil Value deletes; deleting what is not there is no error.
		mustCommit(t, st, &audit.Commit{Volume: []audit.VolumeEntry{
			{Key: fb, Value: []byte(`{"s":"2026-11-22T09:00:00Z","q":7,"n":4}`)},
			{Key: ag},
			{Key: "login:never-stored"},
		}})
		checkVolume(t, mustLoad(t, st).Volume, map[string]string{
			fb: `{"s":"2026-11-22T09:00:00Z","q":7,"n":4}`,
			th: `{"t":["2026-11-22T09:58:00Z"]}`,
		})
	})

	s.run(t, "Positions", func(t *testing.T, st audit.Store, _ *audit.State) {
		mustCommit(t, st, &audit.Commit{Positions: map[string]string{
			"dovecot": "/var/log/dovecot.log:ino=1311:off=48213",
			"postfix": "queue:4Xk2Zb0qJZz9sQP",
		}})
		mustCommit(t, st, &audit.Commit{Positions: map[string]string{"dovecot": "/var/log/dovecot.log:ino=1311:off=50917"}})
		for src, want := range map[string]string{
			"dovecot": "/var/log/dovecot.log:ino=1311:off=50917",
			"postfix": "queue:4Xk2Zb0qJZz9sQP",
			"import":  "",
		} {
			if got, err := st.Position(ctx(t), src); err != nil || got != want {
				t.Errorf("Position(%q) = %q, %v; want %q", src, got, err, want)
			}
		}
	})
}

func canonEqual[T any](got, want T) bool { return len(diff(canon(got), canon(want))) == 0 }

func checkMailboxes(t *testing.T, dir *audit.Directory, want []*audit.Mailbox) {
	t.Helper()
	if len(dir.Mailboxes) != len(want) {
		t.Errorf("Load returned %d mailboxes, want %d", len(dir.Mailboxes), len(want))
	}
	byGuid := map[uuid.UUID]*audit.Mailbox{}
	for _, m := range dir.Mailboxes {
		if byGuid[m.Guid] != nil {
			t.Errorf("Load returned mailbox %s twice", m.Guid)
		}
		byGuid[m.Guid] = m
	}
	for _, w := range want {
		got := byGuid[w.Guid]
		if got == nil {
			t.Errorf("Load lost mailbox %s (%s)", w.PrimarySmtpAddress, w.Guid)
			continue
		}
		if d := diff(canon(*got), canon(*w)); len(d) > 0 {
			t.Errorf("mailbox %s after Load:\n\t%s", w.PrimarySmtpAddress, strings.Join(d, "\n\t"))
		}
		if dir.Mailbox(w.Guid) != got {
			t.Errorf("Load's directory is not indexed: Mailbox(%s) = %v", w.Guid, dir.Mailbox(w.Guid))
		}
		if !w.Removed() {
			if ms := dir.Lookup(w.PrimarySmtpAddress); len(ms) != 1 || ms[0] != got {
				t.Errorf("Load's directory does not resolve %s: %v", w.PrimarySmtpAddress, ms)
			}
		}
	}
}

func checkPermissions(t *testing.T, got, want []audit.Permission) {
	t.Helper()
	order := func(a, b audit.Permission) int {
		return cmp.Or(bytes.Compare(a.Mailbox[:], b.Mailbox[:]), strings.Compare(a.User, b.User), strings.Compare(string(a.Rights), string(b.Rights)))
	}
	got, want = canon(got), canon(want)
	slices.SortFunc(got, order)
	slices.SortFunc(want, order)
	if d := diff(got, want); len(d) > 0 {
		t.Errorf("permissions after Load:\n\t%s", strings.Join(d, "\n\t"))
	}
}

func checkBypasses(t *testing.T, got, want []audit.Bypass) {
	t.Helper()
	order := func(a, b audit.Bypass) int { return strings.Compare(a.Identity, b.Identity) }
	got, want = canon(got), canon(want)
	slices.SortFunc(got, order)
	slices.SortFunc(want, order)
	if d := diff(got, want); len(d) > 0 {
		t.Errorf("bypass associations after Load:\n\t%s", strings.Join(d, "\n\t"))
	}
}

func checkVolume(t *testing.T, got []audit.VolumeEntry, want map[string]string) {
	t.Helper()
	m := map[string]string{}
	for _, e := range got {
		if _, dup := m[e.Key]; dup {
			t.Errorf("Load returned volume entry %q twice", e.Key)
		}
		if e.Value == nil {
			t.Errorf("Load returned volume entry %q with a nil Value", e.Key)
		}
		m[e.Key] = string(e.Value)
	}
	if fmt.Sprint(m) != fmt.Sprint(want) {
		t.Errorf("volume after Load:\n\tgot  %v\n\twant %v", m, want)
	}
}
