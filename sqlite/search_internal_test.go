package sqlite

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/mailaudit/mailaudit/audit"
	"github.com/mailaudit/mailaudit/storetest"
)

// Searches of more shapes than the statement cache holds still find what
// they should, and the cache stays within its bound.
func TestSearchStmtsBounded(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	if _, err := s.Load(ctx); err != nil {
		t.Fatal(err)
	}
	f := storetest.NewFixture()
	// Three weeks of records, so that a search visits several statements.
	records := f.Corpus(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC), 7*time.Hour, 60)
	if err := s.Commit(ctx, &audit.Commit{Mailboxes: f.Mailboxes(), Records: records}); err != nil {
		t.Fatal(err)
	}
	seqs := func(q audit.Query) []int64 {
		t.Helper()
		var out []int64
		if _, err := s.Search(ctx, &q, func(r *audit.Record) error {
			out = append(out, r.SequenceNumber)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	var types []audit.RecordType
	for _, r := range records {
		if !slices.Contains(types, r.RecordType) {
			types = append(types, r.RecordType)
		}
	}
	want := seqs(audit.Query{Limit: 1000})
	if len(want) != len(records) {
		t.Fatalf("%d records found, want %d", len(want), len(records))
	}
	kept, evicted := 0, false
	for n := 1; n <= 2*maxSearchStmts/3; n++ {
		// Every record type and n more of the first: a new text each time.
		q := audit.Query{RecordTypes: slices.Clone(types), Limit: 1000}
		for range n {
			q.RecordTypes = append(q.RecordTypes, types[0])
		}
		for range 2 { // the second time from the cache
			if got := seqs(q); !slices.Equal(got, want) {
				t.Fatalf("with %d more types: %d records, want %d", n, len(got), len(want))
			}
		}
		if len(s.searchStmts) > maxSearchStmts {
			t.Fatalf("%d search statements kept, over the bound of %d", len(s.searchStmts), maxSearchStmts)
		}
		if len(s.searchStmts) < kept {
			evicted = true
		}
		kept = len(s.searchStmts)
	}
	if !evicted {
		t.Errorf("the searches never filled the cache: the test tests nothing")
	}
}
