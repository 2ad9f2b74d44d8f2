package sqlite

import (
	"context"
	"slices"
	"testing"
)

func TestChunkLen(t *testing.T) {
	for _, c := range []struct{ n, full, want int }{
		{500, 200, 200}, {200, 200, 200}, {199, 200, 128}, {128, 200, 128}, {127, 200, 64},
		{3, 200, 2}, {2, 200, 2}, {1, 200, 1}, {1000, 1000, 1000}, {999, 1000, 512},
	} {
		if got := chunkLen(c.n, c.full); got != c.want {
			t.Errorf("chunkLen(%d, %d) = %d, want %d", c.n, c.full, got, c.want)
		}
	}
	// Whatever is left, the lengths chunkLen picks add up to it.
	for n := 1; n <= 1000; n++ {
		left, shapes := n, map[int]bool{}
		for left > 0 {
			k := chunkLen(left, 200)
			shapes[k] = true
			left -= k
		}
		if len(shapes) > 9 {
			t.Fatalf("%d rows took %d statement lengths", n, len(shapes))
		}
	}
}

// openStore opens a new store for a test of the package's insides; the test
// closes it.
func openStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Only the two weeks written last keep their record inserts prepared.
func TestKeepWeekStmts(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	weeks := []string{"record_20260105", "record_20260112", "record_20260119"}
	for _, w := range weeks {
		if _, err := s.db.ExecContext(ctx, `CREATE TABLE `+w+` (k INTEGER PRIMARY KEY)`); err != nil {
			t.Fatal(err)
		}
	}
	prepare := func(w string) {
		s.keepWeekStmts(w)
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if _, err := s.stmt(ctx, tx, `INSERT INTO `+w+` (k) VALUES (?)`); err != nil {
			t.Fatal(err)
		}
	}
	held := func() []string {
		var out []string
		for _, w := range weeks {
			if _, ok := s.prepared[`INSERT INTO `+w+` (k) VALUES (?)`]; ok {
				out = append(out, w)
			}
		}
		return out
	}
	prepare(weeks[0])
	prepare(weeks[1])
	prepare(weeks[0]) // the first week again: now the latest
	prepare(weeks[2])
	if got, want := held(), []string{weeks[0], weeks[2]}; !slices.Equal(got, want) {
		t.Errorf("prepared inserts of %v, want %v", got, want)
	}
	if want := []string{weeks[2], weeks[0]}; !slices.Equal(s.stmtWeeks, want) {
		t.Errorf("stmtWeeks %v, want %v", s.stmtWeeks, want)
	}
}
