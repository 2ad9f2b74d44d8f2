package dovecot

import (
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
	tl, err := OpenTail(log, Position{})
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
	tl2, err := OpenTail(log, saved)
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
	tl, err := OpenTail(log, Position{})
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
	tl, err = OpenTail(log, saved)
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
	tl, err = OpenTail(log, saved)
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
