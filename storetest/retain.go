package storetest

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mailaudit/mailaudit/audit"
)

func (s *suite) testRetain(t *testing.T) {
	s.run(t, "AgeLimits", func(t *testing.T, st audit.Store, state *audit.State) {
		f := NewFixture()
		org := Organization(state.Dir.Org.Id)
		org.AdminAuditLogAgeLimit = 60 * day
		org.AdminAuditLogAgeLimitKept, org.AdminAuditLogAgeLimitKeptUntil = 0, time.Time{}
		// Age limits: Alice and Bob 90 days, Shared 30, Room 180, Carol
		// (removed) 7, admin records 60.
		mustCommit(t, st, &audit.Commit{Org: org, Mailboxes: f.Mailboxes()})
		now := t0

		var records []*audit.Record
		add := func(kind func(time.Time) *audit.Record, ages ...time.Duration) {
			for _, age := range ages {
				records = append(records, kind(now.Add(-age)))
			}
		}
		add(f.OwnerUpdate, 200*day, 91*day, 90*day+time.Millisecond, 90*day, 90*day-time.Millisecond, 30*day, day)
		add(f.SendAs, 100*day, 31*day, 30*day, 29*day, time.Hour)
		add(f.ExternalLogin, 181*day, 180*day, 10*day)
		add(f.RemovedMailboxLogin, 40*day, 8*day, 7*day, 6*day)
		add(f.AdminSetMailbox, 100*day, 61*day, 60*day, 59*day, 2*day) // goes by the admin limit, not Alice's
		add(f.AdminSetOrganizationConfig, 365*day, 60*day+time.Second, 30*day)
		add(f.OwnerUpdate, 95*day) // late import: the newest sequence number expires
		f.Seq(records...)
		mustCommit(t, st, &audit.Commit{Records: records[:10]})
		mustCommit(t, st, &audit.Commit{Records: records[10:]})

		// A count on a record that expires and on one that stays.
		counted := map[int64]int{records[0].SequenceNumber: 7, records[6].SequenceNumber: 3}
		mustCommit(t, st, &audit.Commit{Counts: counted})
		for seq, n := range counted {
			records[seq-1].OperationCount = n
		}

		events := map[time.Duration]audit.Event{}
		var evs []audit.Event
		for _, age := range []time.Duration{400 * day, 181 * day, 180 * day, 100 * day, day} {
			e := audit.Event{EventKey: audit.EventKey{Source: "dovecot", Id: "dovecot:" + age.String()}, Time: now.Add(-age)}
			events[age] = e
			evs = append(evs, e)
		}
		mustCommit(t, st, &audit.Commit{Events: evs})

		dir := mustLoad(t, st).Dir
		r := audit.RetentionAt(dir, now)
		if cut, ok := r.Mailboxes[f.Carol.Guid]; !ok || !cut.Equal(now.Add(-7*day)) {
			t.Fatalf("RetentionAt over the loaded directory: the removed mailbox's cut-off is %v, %v", cut, ok)
		}
		var kept []*audit.Record
		expired := 0
		for _, rec := range records {
			cut := r.Admin
			if !rec.IsAdmin() {
				cut = r.Mailboxes[rec.MailboxGuid]
			}
			if rec.CreationTime.Before(cut) {
				expired++
			} else {
				kept = append(kept, rec)
			}
		}
		if last := records[len(records)-1]; !last.CreationTime.Before(r.Mailboxes[last.MailboxGuid]) {
			t.Fatal("bad fixture: the last record does not expire")
		}

		n, err := st.Retain(ctx(t), r)
		if err != nil {
			t.Fatalf("Retain: %v", err)
		}
		if n != int64(expired) {
			t.Errorf("Retain deleted %d, want %d", n, expired)
		}
		sameRecords(t, "Search after Retain", searchAll(t, st, audit.Query{}), expect(&audit.Query{}, kept))

		seen, err := st.Seen(ctx(t), []audit.Event{events[400*day], events[181*day], events[180*day], events[100*day], events[day]})
		if err != nil {
			t.Fatalf("Seen: %v", err)
		}
		for age, k := range events {
			if want := age <= 180*day; seen[k] != want {
				t.Errorf("after Retain with Events %s ago, Seen(event of %s ago) = %v, want %v", now.Sub(r.Events), age, seen[k], want)
			}
		}

		// Retention never renumbers, and numbers are never used again.
		if seq := mustLoad(t, st).Seq; seq != f.LastSeq() {
			t.Errorf("Load().Seq = %d after Retain deleted the newest record, want %d: sequence numbers must never be reused", seq, f.LastSeq())
		}
		next := f.Seq(f.SendAs(now))
		mustCommit(t, st, &audit.Commit{Records: next})
		kept = append(kept, next...)
		sameRecords(t, "Search after Retain and another Commit", searchAll(t, st, audit.Query{}), expect(&audit.Query{}, kept))

		if n, err := st.Retain(ctx(t), r); err != nil || n != 0 {
			t.Errorf("Retain again = %d, %v; want 0, nil", n, err)
		}
	})

	s.run(t, "OnlyWhatIsListed", func(t *testing.T, st audit.Store, _ *audit.State) {
		f := NewFixture()
		all := f.Corpus(corpusStart, corpusStep, 30)
		old := audit.Event{EventKey: audit.EventKey{Source: "api", Id: "old"}, Time: t0.Add(-400 * day)}
		mustCommit(t, st, &audit.Commit{Mailboxes: f.Mailboxes(), Records: all,
			Events: []audit.Event{old}})
		// Only Shared's records go: no admin cut-off, no event cut-off, and
		// mailboxes not listed keep everything.
		n, err := st.Retain(ctx(t), audit.Retention{Mailboxes: map[uuid.UUID]time.Time{f.Shared.Guid: t0, uuid.New(): t0}})
		if err != nil {
			t.Fatalf("Retain: %v", err)
		}
		var kept []*audit.Record
		for _, r := range all {
			if r.IsAdmin() || r.MailboxGuid != f.Shared.Guid {
				kept = append(kept, r)
			}
		}
		if n != int64(len(all)-len(kept)) || n == 0 {
			t.Errorf("Retain deleted %d, want %d", n, len(all)-len(kept))
		}
		sameRecords(t, "Search after Retain", searchAll(t, st, audit.Query{}), expect(&audit.Query{}, kept))
		if seen, err := st.Seen(ctx(t), []audit.Event{old}); err != nil || !seen[old] {
			t.Errorf("Retain without an Events cut-off forgot an activity key: %v, %v", seen, err)
		}
	})

	s.run(t, "EverythingExpired", func(t *testing.T, st audit.Store, _ *audit.State) {
		f := NewFixture()
		all := f.Corpus(corpusStart, corpusStep, 10)
		mustCommit(t, st, &audit.Commit{Mailboxes: f.Mailboxes(), Records: all})
		mustCommit(t, st, &audit.Commit{Counts: map[int64]int{9: 42, 10: 43}})
		r := audit.RetentionAt(mustLoad(t, st).Dir, t0.Add(10000*day))
		if n, err := st.Retain(ctx(t), r); err != nil || n != 10 {
			t.Fatalf("Retain = %d, %v; want 10, nil", n, err)
		}
		if got := searchAll(t, st, audit.Query{}); len(got) != 0 {
			t.Fatalf("Search after everything expired found %v", seqs(got))
		}
		if seq := mustLoad(t, st).Seq; seq != 10 {
			t.Errorf("Load().Seq = %d after every record expired, want 10: sequence numbers must never be reused", seq)
		}
		restart := f.OwnerUpdate(t0)
		restart.SequenceNumber = 1
		if err := st.Commit(ctx(t), &audit.Commit{Records: []*audit.Record{restart}}); err == nil {
			t.Errorf("a commit reusing sequence number 1 after retention succeeded")
		}
		next := f.Seq(f.FolderBind(t0), f.OwnerUpdate(t0.Add(time.Second)))
		mustCommit(t, st, &audit.Commit{Records: next})
		// The new records are new: no count of an expired record sticks to them.
		sameRecords(t, "Search after everything expired and another Commit", searchAll(t, st, audit.Query{}), expect(&audit.Query{}, next))
	})
}
