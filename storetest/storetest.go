// Package storetest is the conformance suite of audit.Store: every store
// (sqlite, postgres) runs it from its own tests,
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) audit.Store { … a new, empty store … })
//	}
//
// and passes it unchanged. The suite checks behaviour only through the
// interface, against fixtures of a small organisation built in Go (fixture.go)
// and a reference implementation of audit.Query in plain Go (model.go).
//
// What the suite takes as the contract, beyond the comments of audit.Store:
//
//   - Load comes first. Each subtest calls Load on its new store before
//     anything else, as audit's services do.
//   - CreationTime is kept to the millisecond at least; records are compared
//     after truncating every time to the millisecond. Nil and empty slices
//     and maps are the same.
//   - Sequence numbers are never reused: Load's Seq is the highest number ever
//     committed, even after retention deleted that record.
//   - Admin records (RecordType 1) belong to no mailbox: a Query's Mailboxes
//     and LogonTypes never match them, whatever their MailboxGuid.
//   - A Query with UserIds carries the mailboxes of those accounts in
//     UserMailboxes, as the services fill it; the answer is the records whose
//     UserId is one of UserIds (case-insensitively).
//   - A page holds Limit records unless it is the last, which returns the
//     cursor "".
//
// Fill and Verify are exported for a store's own persistence tests: fill a
// store, close it, open it again and verify that everything is still there.
package storetest

import (
	"context"
	"testing"

	"github.com/mailaudit/mailaudit/audit"
)

// Run runs the conformance suite against stores made by open. open is called
// once per subtest and must return a new, empty store; the suite closes it.
func Run(t *testing.T, open func(t *testing.T) audit.Store) {
	s := &suite{open: open}
	t.Run("Load", s.testLoad)
	t.Run("Commit", s.testCommit)
	t.Run("Records", s.testRecords)
	t.Run("Counts", s.testCounts)
	t.Run("Seen", s.testSeen)
	t.Run("Search", s.testSearch)
	t.Run("Retain", s.testRetain)
	t.Run("Concurrency", s.testConcurrency)
	t.Run("AuditLogSearches", s.testAuditLogSearches)
	t.Run("FillVerify", func(t *testing.T) {
		st := s.new(t)
		Verify(t, st, Fill(t, st))
	})
}

type suite struct {
	open func(t *testing.T) audit.Store
}

// new opens a new store that is closed when the test ends.
func (s *suite) new(t *testing.T) audit.Store {
	t.Helper()
	st := s.open(t)
	if st == nil {
		t.Fatal("open returned a nil store")
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return st
}

// run subtests each get a store of their own, already loaded.
func (s *suite) run(t *testing.T, name string, f func(t *testing.T, st audit.Store, state *audit.State)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		st := s.new(t)
		f(t, st, mustLoad(t, st))
	})
}

func mustLoad(t testing.TB, st audit.Store) *audit.State {
	t.Helper()
	state, err := st.Load(ctx(t))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if state == nil || state.Dir == nil || state.Dir.Org == nil {
		t.Fatalf("Load returned %+v: want a state with a directory and an organisation", state)
	}
	return state
}

func mustCommit(t testing.TB, st audit.Store, c *audit.Commit) {
	t.Helper()
	if err := st.Commit(ctx(t), c); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

// searchAll returns every record matching q (whatever q.Limit says, it is
// read page by page) and checks that the pages are consistent.
func searchAll(t testing.TB, st audit.Store, q audit.Query) []*audit.Record {
	t.Helper()
	var out []*audit.Record
	for page := 0; ; page++ {
		if page > 10000 {
			t.Fatalf("Search %+v: more than 10000 pages", q)
		}
		var got []*audit.Record
		next, err := st.Search(ctx(t), &q, func(r *audit.Record) error {
			got = append(got, r)
			return nil
		})
		if err != nil {
			t.Fatalf("Search %s: %v", describe(&q), err)
		}
		if q.Limit > 0 && len(got) > q.Limit {
			t.Fatalf("Search %s: %d records on a page, more than Limit %d", describe(&q), len(got), q.Limit)
		}
		if next != "" && q.Limit > 0 && len(got) < q.Limit {
			t.Fatalf("Search %s: a page of %d records (Limit %d) with a next cursor %q", describe(&q), len(got), q.Limit, next)
		}
		if next != "" && len(got) == 0 {
			t.Fatalf("Search %s: an empty page with a next cursor %q", describe(&q), next)
		}
		if next != "" && q.Limit == 0 {
			t.Fatalf("Search %s: Limit 0 returned a next cursor %q", describe(&q), next)
		}
		out = append(out, got...)
		if next == "" {
			return out
		}
		q.Cursor = next
	}
}

func seqs(rs []*audit.Record) []int64 {
	out := make([]int64, len(rs))
	for i, r := range rs {
		out[i] = r.SequenceNumber
	}
	return out
}

func ctx(t testing.TB) context.Context { return t.Context() }
