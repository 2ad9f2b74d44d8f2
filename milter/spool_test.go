package milter

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// modes runs a test with O_DIRECT|O_DSYNC writes (Disk), O_DIRECT alone
// (Device), write+fdatasync (Disk without O_DIRECT) and write alone
// (Process).
func modes(t *testing.T, f func(t *testing.T)) {
	for _, m := range []struct {
		name       string
		direct     bool
		durability Durability
	}{{"direct", true, Disk}, {"device", true, Device}, {"fdatasync", false, Disk}, {"process", true, Process}} {
		t.Run(m.name, func(t *testing.T) {
			oldDirect, oldDurability := useDirect, durability
			useDirect, durability = m.direct, m.durability
			defer func() { useDirect, durability = oldDirect, oldDurability }()
			f(t)
		})
	}
}

// durability is the mode modes runs a test in.
var durability Durability

func rec(i int) []byte {
	// Records of varied length, so that they straddle block boundaries.
	return []byte(fmt.Sprintf(`{"n":%d,"pad":%q}`, i, strings.Repeat("x", (i*37)%900)))
}

// readAll reads every record from p to the durable end.
func readAll(t *testing.T, s *Spool, p Pos) ([]string, Pos) {
	t.Helper()
	var out []string
	for {
		recs, next, damaged, err := s.Read(p, 7)
		if err != nil || damaged != "" {
			t.Fatalf("read at %s: %v %s", p, err, damaged)
		}
		for _, r := range recs {
			out = append(out, string(r))
		}
		if len(recs) == 0 && next == p {
			return out, p
		}
		p = next
	}
}

func TestSpoolAppendRead(t *testing.T) {
	modes(t, func(t *testing.T) {
		dir := t.TempDir()
		// Small segments: the records cross several.
		s, err := OpenSpool(dir, SpoolOptions{SegmentSize: 64 << 10, Durability: durability})
		if err != nil {
			t.Fatal(err)
		}
		if s.Direct() != (useDirect && durability != Process) {
			t.Fatalf("Direct() = %v", s.Direct())
		}
		first, _ := s.First()
		var want []string
		for i := range 300 {
			if err := s.Append(rec(i), 0, nil); err != nil {
				t.Fatal(err)
			}
			want = append(want, string(rec(i)))
		}
		got, end := readAll(t, s, first)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("read %d records back, want %d (first differing: %v)", len(got), len(want), firstDiff(got, want))
		}
		if end != s.Durable() || end.Seg <= first.Seg {
			t.Errorf("read up to %s, durable %s, started %s: the records should span segments", end, s.Durable(), first)
		}
		// Reading from a middle position gives the rest.
		recs, mid, _, _ := s.Read(first, 10)
		if len(recs) != 10 {
			t.Fatalf("%d records", len(recs))
		}
		rest, _ := readAll(t, s, mid)
		if len(rest) != 290 || rest[0] != want[10] {
			t.Errorf("from %s: %d records, first %.20q", mid, len(rest), rest[0])
		}
		// Release keeps the segment being read and those after it.
		if err := s.Release(end); err != nil {
			t.Fatal(err)
		}
		segs, _ := listSegments(dir)
		if len(segs) != 1 || segs[0] != end.Seg {
			t.Errorf("segments after release %v, want [%d]", segs, end.Seg)
		}
		if s.Behind(end) != 0 || s.Behind(first) == 0 {
			t.Errorf("Behind: %d at the end, %d at the start", s.Behind(end), s.Behind(first))
		}
		s.Close()
		if err := s.Append(rec(1), 0, nil); err != ErrSpoolClosed {
			t.Errorf("append after close: %v", err)
		}
	})
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("#%d %.30q vs %.30q", i, a[i], b[i])
		}
	}
	return "length"
}

// Concurrent appends are group-committed; every one is read back once.
func TestSpoolConcurrentAppends(t *testing.T) {
	modes(t, func(t *testing.T) {
		s, err := OpenSpool(t.TempDir(), SpoolOptions{SegmentSize: 256 << 10, Durability: durability})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		first, _ := s.First()
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 100 {
					if err := s.Append(rec(w*1000+i), 0, nil); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		got, _ := readAll(t, s, first)
		seen := map[string]int{}
		for _, r := range got {
			seen[r]++
		}
		for w := range 8 {
			for i := range 100 {
				if n := seen[string(rec(w*1000+i))]; n != 1 {
					t.Fatalf("record %d/%d read %d times", w, i, n)
				}
			}
		}
		if len(got) != 800 {
			t.Errorf("%d records", len(got))
		}
	})
}

// A restart writes a new segment; what the old ones hold is still read,
// from the saved position on.
func TestSpoolReopen(t *testing.T) {
	modes(t, func(t *testing.T) {
		dir := t.TempDir()
		s, _ := OpenSpool(dir, SpoolOptions{Durability: durability})
		first, _ := s.First()
		for i := range 5 {
			s.Append(rec(i), 0, nil)
		}
		recs, saved, _, _ := s.Read(first, 2) // "committed" two
		s.Close()
		if len(recs) != 2 {
			t.Fatal(len(recs))
		}
		s2, err := OpenSpool(dir, SpoolOptions{Durability: durability})
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		if s2.Durable().Seg != first.Seg+1 {
			t.Errorf("reopened spool writes segment %d, want %d", s2.Durable().Seg, first.Seg+1)
		}
		s2.Append(rec(5), 0, nil)
		got, _ := readAll(t, s2, saved)
		want := []string{string(rec(2)), string(rec(3)), string(rec(4)), string(rec(5))}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("after reopening from %s: %d records %.60q", saved, len(got), got)
		}
	})
}

// What a crash can leave behind: a record cut short at the end of a
// segment (its write was never confirmed), a damaged record, a prefilled
// segment still under its temporary name.
func TestSpoolDamage(t *testing.T) {
	cases := []struct {
		name    string
		tail    func(valid []byte) []byte // bytes written after the valid records
		damaged string
		n       int // records read
	}{
		{"clean end", func(v []byte) []byte { return nil }, "", 3},
		{"a record cut short by zeros", func(v []byte) []byte { return []byte(`0badc0de {"n":9,"pad`) }, "a record cut short", 3},
		{"a record failing its checksum", func(v []byte) []byte { return append(encodeRecord([]byte(`{"n":9}`))[:12], []byte("X\"}\n")...) }, "fails its checksum", 3},
		{"a line that is not a record", func(v []byte) []byte { return []byte("hello\n") }, "fails its checksum", 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			s, _ := OpenSpool(dir, SpoolOptions{Durability: durability})
			first, _ := s.First()
			for i := range 3 {
				s.Append(rec(i), 0, nil)
			}
			end := s.Durable()
			s.Close()
			name := filepath.Join(dir, fmt.Sprintf("%016d.spool", first.Seg))
			f, err := os.OpenFile(name, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			valid := []byte{}
			if _, err := f.WriteAt(c.tail(valid), end.Off); err != nil {
				t.Fatal(err)
			}
			f.Close()
			os.WriteFile(filepath.Join(dir, "0000000000000009.spool.tmp"), []byte("half"), 0o600)

			s2, err := OpenSpool(dir, SpoolOptions{Durability: durability})
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			if _, err := os.Stat(filepath.Join(dir, "0000000000000009.spool.tmp")); !os.IsNotExist(err) {
				t.Errorf("a temporary segment was left: %v", err)
			}
			s2.Append([]byte(`{"after":true}`), 0, nil)
			var got [][]byte
			var damaged string
			p := first
			for {
				recs, next, d, err := s2.Read(p, 100)
				if err != nil {
					t.Fatal(err)
				}
				if d != "" {
					damaged = d
				}
				got = append(got, recs...)
				if next == p {
					break
				}
				p = next
			}
			if len(got) != c.n+1 || !bytes.Equal(got[len(got)-1], []byte(`{"after":true}`)) {
				t.Errorf("read %d records (%q), want %d and the new one", len(got), got, c.n)
			}
			if c.damaged == "" && damaged != "" || !strings.Contains(damaged, c.damaged) {
				t.Errorf("damage %q, want %q", damaged, c.damaged)
			}
		})
	}
}

func TestPos(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Pos
		ok   bool
	}{
		{"3:4096", Pos{3, 4096}, true},
		{"0:0", Pos{}, true},
		{"3", Pos{}, false},
		{"3:-1", Pos{}, false},
		{"x:1", Pos{}, false},
		{"", Pos{}, false},
	} {
		p, err := ParsePos(c.in)
		if (err == nil) != c.ok || c.ok && (p != c.want || p.String() != c.in) {
			t.Errorf("ParsePos(%q) = %v, %v", c.in, p, err)
		}
	}
	if !(Pos{1, 9}).Before(Pos{2, 0}) || (Pos{2, 0}).Before(Pos{1, 9}) || (Pos{2, 3}).Before(Pos{2, 3}) {
		t.Error("Before")
	}
}

func TestSpoolRefusesBadRecords(t *testing.T) {
	s, _ := OpenSpool(t.TempDir(), SpoolOptions{Durability: durability})
	defer s.Close()
	for _, r := range [][]byte{[]byte("a\nb"), make([]byte, maxRecord+1)} {
		if err := s.Append(r, 0, nil); err == nil {
			t.Errorf("a record of %d bytes was taken", len(r))
		}
	}
}

// TestSpoolSlowDisk: with the disk holding a write up, the append that
// writes waits for it and says so after its timeout; those queued behind it
// give up with ErrSpoolSlow after their own, and past maxQueued bytes one is
// refused at once; the queued records are written once the disk answers.
func TestSpoolSlowDisk(t *testing.T) {
	modes(t, func(t *testing.T) {
		hang := make(chan struct{})
		var once sync.Once
		release := func() { once.Do(func() { close(hang) }) }
		defer release()
		writeHook = func() { <-hang }
		defer func() { writeHook = nil }()
		s, err := OpenSpool(t.TempDir(), SpoolOptions{Durability: durability})
		if err != nil {
			t.Fatal(err)
		}
		start := s.Durable()
		said := make(chan struct{})
		first := make(chan error, 1)
		go func() { first <- s.Append(rec(1), 20*time.Millisecond, func() { close(said) }) }()
		select { // the first append writes, and says it waits past its timeout
		case <-said:
		case err := <-first:
			t.Fatalf("the append the disk holds up returned (%v) and did not say it waited", err)
		case <-time.After(time.Minute):
			t.Fatal("the append the disk holds up did not say it waited")
		}
		select {
		case err := <-first:
			t.Fatalf("the append the disk holds up returned (%v)", err)
		default:
		}
		if err := s.Append(rec(2), 20*time.Millisecond, func() { t.Error("an append that does not write was told it writes slowly") }); !errors.Is(err, ErrSpoolSlow) {
			t.Errorf("an append behind the hung write: %v, want ErrSpoolSlow", err)
		}
		// What waits is bounded: past maxQueued bytes, a record is refused.
		oldMax := maxQueued
		maxQueued = len(encodeRecord(rec(2))) + len(encodeRecord(rec(3)))
		defer func() { maxQueued = oldMax }()
		if err := s.Append(rec(3), time.Millisecond, nil); !errors.Is(err, ErrSpoolSlow) {
			t.Errorf("a second append behind the hung write: %v, want ErrSpoolSlow", err)
		}
		if err := s.Append(rec(4), time.Millisecond, nil); !errors.Is(err, ErrSpoolBacklog) {
			t.Errorf("an append past the bound: %v, want ErrSpoolBacklog", err)
		}
		release()
		if err := <-first; err != nil {
			t.Errorf("the append that waited for the disk: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		got, _ := readAll(t, s, start)
		if want := []string{string(rec(1)), string(rec(2)), string(rec(3))}; !slices.Equal(got, want) {
			t.Errorf("records after the disk answered: %q, want %q", got, want)
		}
	})
}

// TestSpoolCloseWhilePreparing: Close while the next segment is still being
// prepared in the background returns, and the records are there.
func TestSpoolCloseWhilePreparing(t *testing.T) {
	old := useDirect
	useDirect = false
	defer func() { useDirect = old }()
	dir := t.TempDir()
	// Large segments take a while to prepare; records of 1.04 MB pass half of
	// one, which starts the next one's preparation, in 33 appends.
	s, err := OpenSpool(dir, SpoolOptions{SegmentSize: 64 << 20, Durability: Process})
	if err != nil {
		t.Fatal(err)
	}
	start := s.Durable()
	big := []byte(`{"pad":"` + strings.Repeat("x", 1_040_000) + `"}`)
	for range 33 {
		if err := s.Append(big, 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Close did not return while the next segment was being prepared")
	}
	if got, _ := readAll(t, s, start); len(got) != 33 {
		t.Errorf("%d records after Close, want 33", len(got))
	}
}
