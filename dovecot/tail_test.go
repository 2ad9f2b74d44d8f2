package dovecot

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// drain reads every line available now.
func drain(t *testing.T, tl *Tail) []Line {
	t.Helper()
	var out []Line
	for {
		l, err := tl.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, l)
	}
}

// drainFiles reads what is there through n files (with RotationGrace 0,
// each drain finishes one and moves on to the next).
func drainFiles(t *testing.T, tl *Tail, n int) string {
	t.Helper()
	var got string
	for range n {
		got += texts(drain(t, tl))
	}
	return got
}

func texts(lines []Line) string {
	var b strings.Builder
	for _, l := range lines {
		b.Write(l.Text)
		b.WriteByte('|')
	}
	return b.String()
}

func TestTail(t *testing.T) {
	RotationGrace = 50 * time.Millisecond
	dir := t.TempDir()
	log := filepath.Join(dir, "audit.log")
	appendFile(t, log, "one\ntwo\nthr")
	tl, err := OpenTail(log, Position{}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	if got := texts(drain(t, tl)); got != "one|two|" {
		t.Fatalf("first read = %q", got)
	}
	// The partial line is returned once whole.
	appendFile(t, log, "ee\nfour\n")
	lines := drain(t, tl)
	if got := texts(lines); got != "three|four|" {
		t.Fatalf("after the line was finished = %q", got)
	}
	if lines[0].At.Off != 8 || lines[1].Next.Off != 19 {
		t.Fatalf("positions: %+v", lines)
	}
	saved := tl.Position()

	// Resume from a saved position: nothing twice.
	appendFile(t, log, "five\n")
	tl2, err := OpenTail(log, saved, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := texts(drain(t, tl2)); got != "five|" {
		t.Fatalf("resumed read = %q", got)
	}
	tl2.Close()

	// Rotation by rename while reading: the old file is finished (also what
	// is written to it after the rename), then the new one is read.
	drain(t, tl)
	if err := os.Rename(log, log+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, log+".1", "six\n")
	appendFile(t, log, "seven\n")
	got := texts(drain(t, tl))
	time.Sleep(2 * RotationGrace)
	got += texts(drain(t, tl))
	if got != "six|seven|" {
		t.Fatalf("across a rotation = %q", got)
	}

	// Truncation: start again from the beginning.
	if err := os.Truncate(log, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, log, "8\n")
	if got := texts(drain(t, tl)); got != "8|" {
		t.Fatalf("after truncation = %q", got)
	}
}

// TestTailResumeAfterRotation: the log was rotated while mailaudit was
// down: the rest of the renamed file is read first, then the new one.
func TestTailResumeAfterRotation(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "audit.log")
	appendFile(t, log, "a\nb\n")
	tl, err := OpenTail(log, Position{}, "")
	if err != nil {
		t.Fatal(err)
	}
	drain(t, tl)
	saved := tl.Position()
	tl.Close()

	appendFile(t, log, "c\n")
	if err := os.Rename(log, log+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, log, "d\n")
	RotationGrace = 0
	tl, err = OpenTail(log, saved, "")
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	got := texts(drain(t, tl))
	got += texts(drain(t, tl))
	if got != "c|d|" || tl.Gap != "" {
		t.Fatalf("resume after rotation = %q (gap %q)", got, tl.Gap)
	}

	// The rotated file is gone too: the gap is reported, the new file read.
	tl.Close()
	os.Remove(log + ".1")
	tl, err = OpenTail(log, saved, "")
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	if got := texts(drain(t, tl)); got != "d|" || !strings.Contains(tl.Gap, "gone") {
		t.Fatalf("resume after the rotated file was removed = %q (gap %q)", got, tl.Gap)
	}
}

func TestParsePosition(t *testing.T) {
	for _, c := range []struct {
		in string
		ok bool
	}{{"12:34", true}, {"0:0", true}, {"12", false}, {"a:1", false}, {"1:-1", false}, {"", false}} {
		p, err := ParsePosition(c.in)
		if (err == nil) != c.ok || c.ok && p.String() != c.in {
			t.Errorf("ParsePosition(%q) = %v, %v", c.in, p, err)
		}
	}
}

// copyTruncate does what logrotate's copytruncate does: copy the log beside
// it, then truncate it in place.
func copyTruncate(t *testing.T, log, to string) {
	t.Helper()
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(log, 0); err != nil {
		t.Fatal(err)
	}
}

// TestTailCopyTruncate: the log was copied and truncated in place, and
// written again, while it was not read (mailaudit down) or between two
// looks at it: the rest of the copy is read first, then the log from its
// start, whether it has grown past the position again or not. Without a
// copy the loss is said.
func TestTailCopyTruncate(t *testing.T) {
	RotationGrace = 0
	// Lines as long as Dovecot's, so that the regrown log passes the
	// position.
	line := func(s string) string { return strings.Repeat(s, 60) + "\n" }
	for _, c := range []struct {
		name     string
		again    string // written to the log after the truncation
		copy     bool
		down     bool // truncated while the tail was closed
		want     string
		wantGap  bool
		wantNote bool
	}{
		{"down, regrown past the position", line("c") + line("d") + line("e"), true, true, line("b") + line("c") + line("d") + line("e"), false, true},
		{"down, regrown less", line("c"), true, true, line("b") + line("c"), false, true},
		{"down, no copy", line("c") + line("d") + line("e"), false, true, line("c") + line("d") + line("e"), true, false},
		{"while read, regrown past the position", line("c") + line("d") + line("e"), true, false, line("b") + line("c") + line("d") + line("e"), false, true},
		{"while read, no copy", line("c") + line("d") + line("e"), false, false, line("c") + line("d") + line("e"), true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			log := filepath.Join(dir, "audit.log")
			appendFile(t, log, line("a"))
			tl, err := OpenTail(log, Position{}, "")
			if err != nil {
				t.Fatal(err)
			}
			defer func() { tl.Close() }()
			drain(t, tl)
			pos, check := tl.Position(), tl.Check()
			// Written after the position, then copied away with the rest.
			appendFile(t, log, line("b"))
			if c.down {
				tl.Close()
			}
			if c.copy {
				copyTruncate(t, log, log+".1")
			} else if err := os.Truncate(log, 0); err != nil {
				t.Fatal(err)
			}
			appendFile(t, log, c.again)
			if c.down {
				if tl, err = OpenTail(log, pos, check); err != nil {
					t.Fatal(err)
				}
			}
			var got strings.Builder
			var gap, note string
			for range 3 {
				for _, l := range drain(t, tl) {
					got.Write(l.Text)
					got.WriteByte('\n')
				}
				gap, note = gap+tl.Gap, note+tl.Note
				tl.Gap, tl.Note = "", ""
			}
			if got.String() != c.want {
				t.Errorf("read %q, want %q", got.String(), c.want)
			}
			if (gap != "") != c.wantGap || (note != "") != c.wantNote {
				t.Errorf("gap %q, note %q", gap, note)
			}
		})
	}
}

// A position saved without a check (before there was one) is trusted.
func TestTailWithoutCheck(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "audit.log")
	appendFile(t, log, "a\nb\n")
	tl, err := OpenTail(log, Position{Ino: inodeOf(t, log), Off: 2}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	if got := texts(drain(t, tl)); got != "b|" || tl.Gap != "" {
		t.Errorf("read %q, gap %q", got, tl.Gap)
	}
}

func inodeOf(t *testing.T, path string) uint64 {
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return inode(st)
}

// gzipFile does what logrotate's compress does: name.gz, and name removed.
func gzipFile(t *testing.T, name string) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	w.Write(b)
	w.Close()
	if err := os.WriteFile(name+".gz", z.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Remove(name)
}

// TestTailResumeAfterRotations: the log was rotated twice while mailaudit was
// down. The rest of the file the position was in is read, then the file
// rotated after it, then the log; older rotated files and compressed ones
// are not read. With the saved file compressed since, the rest of it is
// read from the compressed file, found by the position's check.
func TestTailResumeAfterRotations(t *testing.T) {
	RotationGrace = 0
	for _, tt := range []struct {
		name           string
		first, second  string // the names of the two rotated files at the end
		compressFirst  bool   // the first one then compressed (delaycompress)
		want, wantWhat string
	}{
		{"numbered", ".2", ".1", false, "c|d|e|f|", "rotated 2 times"},
		{"dateext", "-20261203", "-20261204", false, "c|d|e|f|", "rotated 2 times"},
		{"delaycompress", ".2", ".1", true, "c|d|e|f|", "compressed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			log := filepath.Join(dir, "audit.log")
			// Older rotations, read long ago, and a compressed one.
			appendFile(t, log+".7", "old\n")
			appendFile(t, log+".6.gz", "not text\n")
			past := time.Now().Add(-time.Hour)
			os.Chtimes(log+".7", past, past)
			appendFile(t, log, "a\nb\n")
			tl, err := OpenTail(log, Position{}, "")
			if err != nil {
				t.Fatal(err)
			}
			drain(t, tl)
			saved, check := tl.Position(), tl.Check()
			tl.Close()

			// Down: written, rotated, written, rotated again, written.
			rename := func(from, to string) {
				t.Helper()
				if err := os.Rename(from, to); err != nil {
					t.Fatal(err)
				}
			}
			appendFile(t, log, "c\n")
			rename(log, log+".tmp")
			appendFile(t, log, "d\ne\n")
			// Distinct modification times, in the order written.
			os.Chtimes(log+".tmp", past.Add(time.Minute), past.Add(time.Minute))
			// As logrotate does: rename, create the new log, then compress.
			rename(log+".tmp", log+tt.first)
			rename(log, log+tt.second)
			appendFile(t, log, "f\n")
			if tt.compressFirst {
				gzipFile(t, log+tt.first)
			}

			// The last line read was written at the start of the hour.
			tl, err = OpenTailSince(log, saved, check, past.Add(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			defer tl.Close()
			what := tl.Note + tl.Gap
			got := drainFiles(t, tl, 5)
			if got != tt.want || !strings.Contains(what, tt.wantWhat) {
				t.Fatalf("resume after two rotations = %q (said %q), want %q (saying %q)", got, what, tt.want, tt.wantWhat)
			}
		})
	}
}

// TestTailInCompressedFile: a position inside a compressed rotated file (a
// restart while it was read) is resumed there; a damaged one and one too
// short for the position are errors, not lines.
func TestTailInCompressedFile(t *testing.T) {
	RotationGrace = 0
	dir := t.TempDir()
	log := filepath.Join(dir, "audit.log")
	appendFile(t, log+".1", "one\ntwo\nthree\nfour\nfive")
	gzipFile(t, log+".1")
	appendFile(t, log, "six\n")
	gz := log + ".1.gz"
	ino := inodeOf(t, gz)
	tl, err := OpenTail(log, Position{Ino: ino, Off: 4}, "")
	if err != nil {
		t.Fatal(err)
	}
	first, _ := tl.Next()
	second, _ := tl.Next()
	if string(first.Text) != "two" || string(second.Text) != "three" {
		t.Fatalf("from offset 4 of the compressed file: %q, %q", first.Text, second.Text)
	}
	pos, check := tl.Position(), tl.Check()
	tl.Close()
	tl, err = OpenTail(log, pos, check)
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	got := drainFiles(t, tl, 3)
	// "five" was never finished with a newline.
	if got != "four|six|" {
		t.Fatalf("resumed in the compressed file = %q", got)
	}

	// A compressed file that cannot be read up to the position is a gap,
	// not an error that would stop the source: the log is read.
	os.WriteFile(filepath.Join(dir, "bad.log.1.gz"), []byte("not gzip"), 0o644)
	appendFile(t, filepath.Join(dir, "bad.log"), "x\n")
	bad, err := OpenTail(filepath.Join(dir, "bad.log"), Position{Ino: inodeOf(t, filepath.Join(dir, "bad.log.1.gz")), Off: 1}, "")
	if err != nil || texts(drain(t, bad)) != "x|" || bad.Gap == "" {
		t.Errorf("a damaged compressed file: %v, gap %q", err, bad.Gap)
	}
	bad.Close()
	past, err := OpenTail(log, Position{Ino: ino, Off: 1000}, "")
	if err != nil || texts(drain(t, past)) != "six|" || past.Gap == "" {
		t.Errorf("a position past the end of a compressed file: %v, gap %q", err, past.Gap)
	}
	past.Close()

	// Damaged after the position: the rest is a gap, and the log is read.
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	w.Write([]byte("p\nq\n" + strings.Repeat("r", 100000) + "\ns\n"))
	w.Close()
	cut := z.Bytes()[:z.Len()/2]
	os.WriteFile(filepath.Join(dir, "cut.log.1.gz"), cut, 0o644)
	appendFile(t, filepath.Join(dir, "cut.log"), "t\n")
	tc, err := OpenTail(filepath.Join(dir, "cut.log"), Position{Ino: inodeOf(t, filepath.Join(dir, "cut.log.1.gz")), Off: 2}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	got = ""
	gap := ""
	for range 3 {
		got += texts(drain(t, tc))
		gap += tc.Gap
	}
	if got != "q|t|" || !strings.Contains(gap, "damaged") {
		t.Errorf("a compressed file damaged after the position: %q, gap %q", got, gap)
	}
}

// TestTailInodeReused: the saved file was removed and its inode given to
// another file. That file is not read from the saved offset; the rest of
// the saved file is read from where it went (compressed), found by the
// position's check.
func TestTailInodeReused(t *testing.T) {
	RotationGrace = 0
	for _, where := range []string{"rotated", "log"} {
		t.Run(where, func(t *testing.T) {
			dir := t.TempDir()
			log := filepath.Join(dir, "audit.log")
			// The saved file's bytes, compressed since.
			appendFile(t, log+".2", "a\nb\nc\n")
			check := checkAt(log+".2", 4)
			gzipFile(t, log+".2")
			// Another file, with the inode the position names.
			appendFile(t, log+".1", "other1\nother2\n")
			appendFile(t, log, "new\n")
			ino := inodeOf(t, log+".1")
			// The other file is a rotated one written since: read too.
			want := "c|other1|other2|new|"
			if where == "log" {
				ino = inodeOf(t, log)
			}
			since := time.Now().Add(-time.Minute)
			tl, err := OpenTailSince(log, Position{Ino: ino, Off: 4}, check, since)
			if err != nil {
				t.Fatal(err)
			}
			defer tl.Close()
			got := drainFiles(t, tl, 4)
			if got != want || !strings.Contains(tl.Note+tl.Gap, "compressed") {
				t.Errorf("inode reused by the %s: %q (said %q %q), want %q", where, got, tl.Note, tl.Gap, want)
			}
		})
	}
}
