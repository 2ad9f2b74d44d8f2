package dovecot

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailaudit/mailaudit/audit"
	"golang.org/x/tools/txtar"
)

var update = flag.Bool("update", false, "rewrite the want.jsonl and errors sections of testdata/*.txtar")

// TestGolden runs the Translator over each testdata/*.txtar archive:
//
//	<description; directives, one per line:>
//	restart: N        after line N, save State, start a new Translator and Restore it
//	forget: N         after line N, start a new Translator without the state
//	flush: DURATION   after the last line, call Flush(DURATION)
//	settle: N         after line N, call Flush(5s) as the source does when it
//	                  reaches the end of the log
//
// The steps after one line (restart, forget, settle) run in the order listed.
//
//	trash: A,B        Options.TrashFolders
//	shared-prefix: P  Options.SharedPrefix
//	hostname: H       Options.Hostname
//	-- log --         real Dovecot log lines (pos "t:<line number>")
//	-- want.jsonl --  the activities, in the order they come, one per line
//	-- errors --      "t:<line>: <error>" for every line Line refused (only if any)
//	-- unknown --     "t:<line>: <event>" for every exported event of a name the
//	                  translator does not use (only if any)
//
// Every activity must also pass audit's own validation, as the engine will
// apply it.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txtar"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no archives: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			ar, err := txtar.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			sec := map[string]*txtar.File{}
			for i := range ar.Files {
				sec[ar.Files[i].Name] = &ar.Files[i]
			}
			if sec["log"] == nil {
				t.Fatal("no log section")
			}
			d := parseDirectives(t, ar.Comment)
			got, errs, unknown := runArchive(t, d, sec["log"].Data)
			if *update {
				var files []txtar.File
				files = append(files, *sec["log"], txtar.File{Name: "want.jsonl", Data: got})
				if len(errs) > 0 {
					files = append(files, txtar.File{Name: "errors", Data: errs})
				}
				if len(unknown) > 0 {
					files = append(files, txtar.File{Name: "unknown", Data: unknown})
				}
				ar.Files = files
				if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			var want, wantErrs, wantUnknown []byte
			if f := sec["want.jsonl"]; f != nil {
				want = f.Data
			}
			if f := sec["errors"]; f != nil {
				wantErrs = f.Data
			}
			if f := sec["unknown"]; f != nil {
				wantUnknown = f.Data
			}
			diffLines(t, "activity", want, got)
			diffLines(t, "errors", wantErrs, errs)
			diffLines(t, "unknown events", wantUnknown, unknown)
		})
	}
}

type directives struct {
	// after are the steps to take after a line ("restart", "forget",
	// "settle"), by line number, in the order listed.
	after map[int][]string
	flush *time.Duration
	opt   Options
}

func parseDirectives(t *testing.T, comment []byte) directives {
	var d directives
	for _, line := range strings.Split(string(comment), "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		switch k {
		case "restart", "forget", "settle":
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("%s: %v", k, err)
			}
			if d.after == nil {
				d.after = map[int][]string{}
			}
			d.after[n] = append(d.after[n], k)
		case "flush":
			f, err := time.ParseDuration(v)
			if err != nil {
				t.Fatalf("flush: %v", err)
			}
			d.flush = &f
		case "trash":
			d.opt.TrashFolders = strings.Split(v, ",")
		case "shared-prefix":
			d.opt.SharedPrefix = v
		case "hostname":
			d.opt.Hostname = v
		}
	}
	return d
}

func runArchive(t *testing.T, d directives, log []byte) (acts, errs, unknown []byte) {
	var ub bytes.Buffer
	newTranslator := func() *Translator {
		tr := NewTranslator(d.opt)
		tr.unknown = func(event, pos string) { fmt.Fprintf(&ub, "%s: %s\n", pos, event) }
		return tr
	}
	tr := newTranslator()
	var out []*audit.Activity
	var eb bytes.Buffer
	lines := bytes.SplitAfter(log, []byte("\n"))
	for i, line := range lines {
		if len(line) == 0 {
			continue
		}
		n := i + 1
		got, err := tr.Line(line, "t:"+strconv.Itoa(n))
		if err != nil {
			fmt.Fprintf(&eb, "t:%d: %v\n", n, err)
		}
		out = append(out, got...)
		for _, step := range d.after[n] {
			switch step {
			case "settle":
				out = append(out, tr.Flush(5*time.Second)...)
			case "forget":
				tr = newTranslator()
			case "restart":
				st, err := tr.State()
				if err != nil {
					t.Fatal(err)
				}
				tr = newTranslator()
				if err := tr.Restore(st); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if d.flush != nil {
		out = append(out, tr.Flush(*d.flush)...)
	}
	var ab bytes.Buffer
	for _, a := range out {
		c := *a
		if err := c.Validate(); err != nil {
			t.Errorf("%s: activity fails validation: %v", a.SourceEventId, err)
		}
		enc := json.NewEncoder(&ab)
		enc.SetEscapeHTML(false) // Message-IDs stay readable
		if err := enc.Encode(a); err != nil {
			t.Fatal(err)
		}
	}
	return ab.Bytes(), eb.Bytes(), ub.Bytes()
}

func diffLines(t *testing.T, what string, want, got []byte) {
	t.Helper()
	if bytes.Equal(bytes.TrimSpace(want), bytes.TrimSpace(got)) {
		return
	}
	w := strings.Split(strings.TrimSpace(string(want)), "\n")
	g := strings.Split(strings.TrimSpace(string(got)), "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			t.Errorf("%s line %d:\nwant %s\n got %s", what, i+1, wl, gl)
		}
	}
	t.Log("run with -update to accept the new output")
}

// BenchmarkLine translates the real lines of the golden archives over and
// over (sessions end and are flushed as in production).
func BenchmarkLine(b *testing.B) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.txtar"))
	var lines [][]byte
	for _, f := range files {
		ar, err := txtar.ParseFile(f)
		if err != nil {
			b.Fatal(err)
		}
		for _, s := range ar.Files {
			if s.Name == "log" {
				lines = append(lines, bytes.SplitAfter(s.Data, []byte("\n"))...)
			}
		}
	}
	tr := NewTranslator(Options{})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l := lines[i%len(lines)]
		tr.Line(l, "b:"+strconv.Itoa(i))
		if i%1000 == 0 {
			tr.Flush(5 * time.Second)
		}
	}
}
