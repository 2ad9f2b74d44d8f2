package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mailaudit/mailaudit/audit"
)

func (s *suite) testRecords(t *testing.T) {
	s.run(t, "RoundTrip", func(t *testing.T, st audit.Store, _ *audit.State) {
		f := NewFixture()
		var records []*audit.Record
		for i, kind := range f.Kinds() {
			records = append(records, kind(t0.Add(-time.Duration(i)*time.Minute+sub(i+1))))
		}
		// Admin records with and without a mailbox, twice each.
		records = append(records, f.AdminSetMailbox(t0.Add(time.Second)), f.AdminSetOrganizationConfig(t0.Add(2*time.Second)))
		f.Seq(records...)
		if missing := uncovered(records); len(missing) > 0 {
			t.Errorf("the fixtures leave record fields untested: %v", missing)
		}
		// Records refer to mailboxes committed earlier (Alice, Bob, Carol)
		// or in the same commit (Shared, Room).
		mustCommit(t, st, &audit.Commit{Mailboxes: []*audit.Mailbox{f.Alice, f.Bob, f.Carol}})
		mustCommit(t, st, &audit.Commit{Mailboxes: []*audit.Mailbox{f.Shared, f.Room}, Records: records})

		got := searchAll(t, st, audit.Query{})
		sameRecords(t, "Search after Commit", got, expect(&audit.Query{}, records))
		if seq := mustLoad(t, st).Seq; seq != f.LastSeq() {
			t.Errorf("Load().Seq = %d after committing records 1 to %d", seq, f.LastSeq())
		}
		for _, r := range got {
			if r.IsAdmin() {
				continue
			}
			if r.MailboxGuid == uuid.Nil {
				t.Errorf("mailbox record %d came back without its MailboxGuid", r.SequenceNumber)
			}
		}
	})

	s.run(t, "AppendOnly", func(t *testing.T, st audit.Store, before *audit.State) {
		f := NewFixture()
		fail := func(what string, c *audit.Commit) {
			t.Helper()
			if err := st.Commit(ctx(t), c); err == nil {
				t.Fatalf("a commit whose records %s succeeded", what)
			}
		}
		good := f.Seq(f.OwnerUpdate(t0.Add(-3*time.Minute)), f.DelegateSoftDelete(t0.Add(-2*time.Minute)), f.AdminSetMailbox(t0.Add(-time.Minute)))
		// Everything a commit can carry, with records that start at 2 on an
		// empty log: none of it may be written.
		bad := []*audit.Record{f.OwnerUpdate(t0), f.FolderBind(t0.Add(time.Second))}
		bad[0].SequenceNumber, bad[1].SequenceNumber = 2, 3
		org := Organization(before.Dir.Org.Id)
		event := audit.Event{EventKey: audit.EventKey{Source: "dovecot", Id: bad[0].SourceEventId}, Time: t0}
		fail("start at 2 on an empty log", &audit.Commit{
			Org:            org,
			Mailboxes:      []*audit.Mailbox{f.Alice, f.Bob},
			AddPermissions: []audit.Permission{{Mailbox: f.Alice.Guid, User: f.Bob.PrimarySmtpAddress, Rights: audit.FullAccess, WhenCreated: t0}},
			Bypasses:       []audit.Bypass{{Identity: "svc-backup", Enabled: true, WhenCreated: t0, WhenChanged: t0}},
			Records:        bad,
			Counts:         map[int64]int{3: 5},
			Volume:         []audit.VolumeEntry{{Key: "login:imap-7f3a", Value: []byte(`"2026-11-22T10:00:00Z"`)}},
			Events:         []audit.Event{event},
			Positions:      map[string]string{"dovecot": "/var/log/dovecot.log:off=1"},
		})
		nothingWritten := func(when string) {
			t.Helper()
			after := mustLoad(t, st)
			if !canonEqual(after.Dir.Org, before.Dir.Org) {
				t.Errorf("%s: the organisation was written: %+v", when, after.Dir.Org)
			}
			if len(after.Dir.Mailboxes) != 0 || len(after.Dir.Permissions) != 0 || len(after.Dir.Bypasses) != 0 || len(after.Volume) != 0 || after.Seq != 0 {
				t.Errorf("%s: the store holds %d mailboxes, %d permissions, %d bypasses, %d volume entries and Seq %d; want nothing",
					when, len(after.Dir.Mailboxes), len(after.Dir.Permissions), len(after.Dir.Bypasses), len(after.Volume), after.Seq)
			}
			if seen, err := st.Seen(ctx(t), []audit.Event{event}); err != nil || seen[event] {
				t.Errorf("%s: Seen = %v, %v; the activity key was written", when, seen, err)
			}
			if pos, err := st.Position(ctx(t), "dovecot"); err != nil || pos != "" {
				t.Errorf("%s: Position = %q, %v; the position was written", when, pos, err)
			}
			if got := searchAll(t, st, audit.Query{}); len(got) != 0 {
				t.Errorf("%s: Search found records %v", when, seqs(got))
			}
		}
		nothingWritten("after a failed commit")

		// The same mailboxes, strings and activity, now right.
		mustCommit(t, st, &audit.Commit{Mailboxes: []*audit.Mailbox{f.Alice, f.Bob}, Records: good, Events: []audit.Event{event}})
		sameRecords(t, "Search after a failed commit and a good one", searchAll(t, st, audit.Query{}), expect(&audit.Query{}, good))

		for _, c := range []struct {
			what string
			seqs []int64
		}{
			{"repeat the last sequence number", []int64{3}},
			{"restart at 1", []int64{1, 2}},
			{"leave a gap before them", []int64{5}},
			{"leave a gap between them", []int64{4, 6}},
			{"repeat a number between them", []int64{4, 4}},
			{"go backwards", []int64{5, 4}},
		} {
			var rs []*audit.Record
			for i, seq := range c.seqs {
				r := f.OwnerUpdate(t0.Add(time.Duration(i+1) * time.Second))
				r.SequenceNumber = seq
				rs = append(rs, r)
			}
			fail(c.what, &audit.Commit{Records: rs, Volume: []audit.VolumeEntry{{Key: "login:" + c.what, Value: []byte(`"2026-11-22T10:00:00Z"`)}},
				Mailboxes: []*audit.Mailbox{f.Shared}})
			sameRecords(t, fmt.Sprintf("Search after a commit whose records %s", c.what), searchAll(t, st, audit.Query{}), expect(&audit.Query{}, good))
			after := mustLoad(t, st)
			if after.Seq != 3 || len(after.Volume) != 0 || len(after.Dir.Mailboxes) != 2 {
				t.Errorf("after a commit whose records %s: Seq %d, %d volume entries, %d mailboxes; want 3, 0, 2",
					c.what, after.Seq, len(after.Volume), len(after.Dir.Mailboxes))
			}
		}

		next := f.Seq(f.SendAs(t0.Add(time.Minute)))
		mustCommit(t, st, &audit.Commit{Mailboxes: []*audit.Mailbox{f.Shared}, Records: next})
		sameRecords(t, "Search after the failed commits and a good one", searchAll(t, st, audit.Query{}), expect(&audit.Query{}, append(good, next...)))
		if seq := mustLoad(t, st).Seq; seq != 4 {
			t.Errorf("Load().Seq = %d, want 4", seq)
		}
	})
}

func (s *suite) testCounts(t *testing.T) {
	s.run(t, "", func(t *testing.T, st audit.Store, _ *audit.State) {
		f := NewFixture()
		bind := f.FolderBind(t0.Add(-time.Hour))
		other := f.FolderBind(t0.Add(-50 * time.Minute))
		agg := f.MailItemsAccessed(t0.Add(-40 * time.Minute))
		records := f.Seq(bind, other, agg)
		mustCommit(t, st, &audit.Commit{Mailboxes: f.Mailboxes(), Records: records})

		// Later binds are counted into the first record, in a later commit;
		// a record can also be counted in the commit that appends it.
		late := f.Seq(f.FolderBind(t0.Add(-30 * time.Minute)))
		mustCommit(t, st, &audit.Commit{Counts: map[int64]int{bind.SequenceNumber: 4}})
		mustCommit(t, st, &audit.Commit{Records: late, Counts: map[int64]int{bind.SequenceNumber: 6, late[0].SequenceNumber: 2}})

		want := map[int64]int{bind.SequenceNumber: 6, other.SequenceNumber: 1, agg.SequenceNumber: 3, late[0].SequenceNumber: 2}
		got := searchAll(t, st, audit.Query{})
		if len(got) != len(want) {
			t.Fatalf("Search found %d records, want %d", len(got), len(want))
		}
		for _, r := range got {
			if r.OperationCount != want[r.SequenceNumber] {
				t.Errorf("record %d (%s) has OperationCount %d, want %d", r.SequenceNumber, r.Operation, r.OperationCount, want[r.SequenceNumber])
			}
		}
		// Counts change nothing else.
		bind.OperationCount, late[0].OperationCount = 6, 2
		sameRecords(t, "Search after Counts", got, expect(&audit.Query{}, append(records, late...)))
	})
}

func (s *suite) testSeen(t *testing.T) {
	s.run(t, "", func(t *testing.T, st audit.Store, _ *audit.State) {
		ev := func(src, id string, at time.Time) audit.Event {
			return audit.Event{EventKey: audit.EventKey{Source: src, Id: id}, Time: eventTime(at)}
		}
		committed := []audit.Event{
			ev("dovecot", "dovecot:00000001", t0),
			ev("dovecot", "dovecot:00000002", t0.Add(time.Second)),
			ev("api", "req-4711", t0.Add(-time.Hour+250*time.Millisecond)),
			ev("postfix", "4Xk2Zb0qJZz9sQP", t0.Add(-36*time.Hour)),
			ev("postfix", "4Xk2Zb0qJZz9sQP", t0.Add(-35*time.Hour)), // the same key at another time
		}
		mustCommit(t, st, &audit.Commit{Events: committed[:2]})
		mustCommit(t, st, &audit.Commit{Events: committed[2:]})

		others := []audit.Event{
			ev("dovecot", "dovecot:00000003", t0),                              // another id
			ev("api", "dovecot:00000001", t0),                                  // another source
			ev("postfix", "req-4711", t0.Add(-time.Hour+250*time.Millisecond)), // another source
			ev("req-4711", "api", t0.Add(-time.Hour+250*time.Millisecond)),     // swapped
			ev("dovecot", "DOVECOT:00000001", t0),                              // ids are case-sensitive
			ev("dovecot", "", t0),
			ev("", "dovecot:00000001", t0),
			ev("dovecot", "dovecot:00000001", t0.Add(time.Millisecond)), // another time
			ev("api", "req-4711", t0.Add(-time.Hour)),
		}
		seen, err := st.Seen(ctx(t), append(append([]audit.Event(nil), committed...), others...))
		if err != nil {
			t.Fatalf("Seen: %v", err)
		}
		for _, e := range committed {
			if !seen[e] {
				t.Errorf("Seen does not report committed activity %+v", e)
			}
		}
		for _, e := range others {
			if seen[e] {
				t.Errorf("Seen reports activity %+v, which was never committed", e)
			}
		}
		if seen, err := st.Seen(ctx(t), nil); err != nil || len(seen) != 0 {
			t.Errorf("Seen(nil) = %v, %v; want nothing", seen, err)
		}
	})
}

// eventTime is an activity's time as the services key it: UTC, to the
// millisecond.
func eventTime(at time.Time) time.Time { return at.UTC().Truncate(time.Millisecond) }
