package backlog

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/tools/txtar"

	"github.com/mailaudit/mailaudit/audit"
	"github.com/mailaudit/mailaudit/dovecot"
)

var (
	update       = flag.Bool("update", false, "rewrite corpus.txtar from ../testdata")
	backlogLines = flag.Int("backlog.lines", Defaults().Lines, "lines of the backlog BenchmarkBacklog catches up on")
)

// TestCorpus: corpus.txtar is the log sections of the golden archives that
// Mix names, as they are in ../testdata (go test -update rewrites it).
func TestCorpus(t *testing.T) {
	names := make([]string, 0, len(Mix))
	for n := range Mix {
		names = append(names, n)
	}
	sort.Strings(names)
	want := &txtar.Archive{Comment: []byte("The log sections of the golden archives in ../testdata that Mix names: real lines of\nDovecot 2.3.19, replayed by Generate. Rewritten by go test -run TestCorpus -update.\n")}
	for _, n := range names {
		ar, err := txtar.ParseFile(filepath.Join("..", "testdata", n+".txtar"))
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(ar.Files, func(f txtar.File) bool { return f.Name == "log" })
		if i < 0 {
			t.Fatalf("%s has no log section", n)
		}
		want.Files = append(want.Files, txtar.File{Name: n, Data: ar.Files[i].Data})
	}
	data := txtar.Format(want)
	if *update {
		if err := os.WriteFile("corpus.txtar", data, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(data, corpusData) {
		t.Fatal("corpus.txtar differs from the golden archives: run go test -run TestCorpus -update")
	}
}

func small() Config {
	return Config{Lines: 6000, Users: 40, Seed: 7, Start: time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC), SessionsPerSecond: 20, Pause: 300 * time.Millisecond}
}

// TestGenerate: the same configuration writes the same log; every line is
// dated within the backlog; the lines are in time order, as Dovecot's log
// process writes them; and each kind of session was replayed.
func TestGenerate(t *testing.T) {
	cfg := small()
	var a, b bytes.Buffer
	st, err := Generate(&a, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(&b, cfg); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two runs with the same seed wrote different logs")
	}
	lines := strings.Split(strings.TrimSuffix(a.String(), "\n"), "\n")
	if int64(len(lines)) != st.Lines || st.Lines < int64(cfg.Lines) {
		t.Errorf("%d lines written, Stats says %d, asked for at least %d", len(lines), st.Lines, cfg.Lines)
	}
	if st.Events+st.MailLog+st.Logins+st.Other != st.Lines || st.Events == 0 || st.MailLog == 0 || st.Logins == 0 {
		t.Errorf("lines by kind: %+v", st)
	}
	var prev time.Time
	for i, l := range lines {
		at, err := time.Parse(stampLayout, l[:strings.IndexByte(l, ' ')])
		if err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if at.Before(prev) {
			t.Fatalf("line %d is older than the line before it:\n%s", i+1, l)
		}
		prev = at
		// Every time in a line (the events' start and end too) was moved
		// into the backlog; a capture's time left behind would be hours off.
		for _, ts := range stampRe.FindAllString(l, -1) {
			tt, _ := time.Parse(time.RFC3339Nano, strings.Replace(ts, "+0000", "Z", 1))
			if tt.Before(cfg.Start.Add(-time.Hour)) || tt.After(st.End.Add(time.Second)) {
				t.Fatalf("line %d has the time %s, outside the backlog (%s to %s):\n%s", i+1, ts, cfg.Start, st.End, l)
			}
		}
		for _, u := range users {
			if strings.Contains(l, u) {
				t.Fatalf("line %d still names the captured user %s:\n%s", i+1, u, l)
			}
		}
	}
	for name := range Mix {
		if st.ByArchive[name] == 0 {
			t.Errorf("no session of %s in %d sessions", name, st.Sessions)
		}
	}
}

// TestReplayMeansTheSame: each replayed session makes the activities of
// the captured session it replays, as another user, in another session, at
// another time, on other UIDs and Message-IDs, and nothing else; and the
// interleaved backlog makes exactly the activities of its sessions each
// translated alone.
func TestReplayMeansTheSame(t *testing.T) {
	plan, lines, err := build(small())
	if err != nil {
		t.Fatal(err)
	}
	translate := func(lines []string) []*audit.Activity {
		t.Helper()
		tr := dovecot.NewTranslator(dovecot.Options{})
		var out []*audit.Activity
		for j, l := range lines {
			acts, err := tr.Line([]byte(l), fmt.Sprint(j))
			if err != nil {
				t.Fatalf("line %d: %v\n%s", j+1, err, l)
			}
			out = append(out, acts...)
		}
		return append(out, tr.Flush(0)...)
	}
	var want []string
	for i, r := range plan {
		got := describe(translate(r.lines), nil)
		orig := describe(translate(r.from.lines), &r)
		sort.Strings(got)
		sort.Strings(orig)
		if !slices.Equal(got, orig) {
			t.Fatalf("session %d replays one of %s but means something else:\n%s", i, r.from.archive, firstDiff(got, orig))
		}
		want = append(want, got...)
	}
	if len(want) == 0 {
		t.Fatal("the sessions make no activity")
	}
	var all []string
	for _, l := range lines {
		all = append(all, l.text)
	}
	got := describe(translate(all), nil)
	sort.Strings(want)
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("the backlog makes %d activities, its sessions alone %d; the differences:\n%s", len(got), len(want), firstDiff(got, want))
	}
}

var msgidLocal = regexp.MustCompile(`^<([^<>@]+)@`)

// describe is what replaying a session must keep. With r, it describes the
// activities of r's captured session as r should have rewritten them.
func describe(acts []*audit.Activity, r *replayed) []string {
	same := func(s string) string { return s }
	user, session, ip, uid, msgid, at := same, same, same, same, same, func(t time.Time) time.Time { return t }
	if r != nil {
		users := strings.NewReplacer("alice", r.who[0], "bob", r.who[1], "carol", r.who[2])
		user = users.Replace
		session = func(s string) string {
			if i := slices.Index(r.from.ids, s); i >= 0 {
				return r.ids[i]
			}
			return s
		}
		ip = func(s string) string { return strings.ReplaceAll(s, "127.0.0.1", r.ip) }
		uid = func(id string) string {
			folder, n, ok := strings.Cut(id, ":")
			u, err := strconv.ParseUint(n, 10, 32)
			if !ok || err != nil {
				return id
			}
			return folder + ":" + strconv.FormatUint(u+r.uidOff, 10)
		}
		msgid = func(s string) string {
			return users.Replace(msgidLocal.ReplaceAllString(s, "<${1}."+strconv.Itoa(r.n)+"@"))
		}
		at = r.move
	}
	var out []string
	for _, a := range acts {
		var items []string
		for _, it := range a.Items {
			items = append(items, uid(it.Id)+msgid(it.InternetMessageId))
		}
		folder := ""
		if a.Folder != nil {
			folder = a.Folder.Path
		}
		out = append(out, strings.Join([]string{a.Operation.String(), user(a.UserId), a.LogonTypeHint, user(a.MailboxOwnerUPN),
			session(a.SessionId), ip(a.ClientIPAddress), a.ResultStatus, folder, strings.Join(items, ","),
			at(a.CreationTime.Time).Truncate(time.Microsecond).UTC().Format(time.RFC3339Nano)}, " "))
	}
	return out
}

func firstDiff(got, want []string) string {
	var b strings.Builder
	for _, g := range got {
		if !slices.Contains(want, g) {
			fmt.Fprintf(&b, "+ %s\n", g)
		}
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			fmt.Fprintf(&b, "- %s\n", w)
		}
	}
	return b.String()
}

// TestRun catches up on a small backlog into a real store: it returns once
// the last line is committed, having handed over every activity the
// translator makes of the log.
func TestRun(t *testing.T) {
	cfg := small()
	cfg.Start = time.Now().UTC().Add(-time.Hour)
	path := filepath.Join(t.TempDir(), "audit.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := Generate(f, cfg)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	tr := dovecot.NewTranslator(dovecot.Options{})
	var want int
	// The source flushes what it holds back, by the log's time, after each
	// batch and at the end of the log.
	const batch, hold = 5000, 5 * time.Second // dovecot.Source's defaults
	for i, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		acts, err := tr.Line([]byte(l), fmt.Sprint(i))
		if err != nil {
			t.Fatal(err)
		}
		want += len(acts)
		if (i+1)%batch == 0 {
			want += len(tr.Flush(hold))
		}
	}
	want += len(tr.Flush(hold))

	res, err := Run(context.Background(), path, filepath.Join(t.TempDir(), "data"), st.Lines)
	if err != nil {
		t.Fatal(err)
	}
	if res.Activities != want {
		t.Errorf("the source handed over %d activities, the translator makes %d of the log", res.Activities, want)
	}
	if res.Lines != st.Lines || res.Bytes != st.Bytes {
		t.Errorf("Result counts %d lines, %d bytes; the log has %d, %d", res.Lines, res.Bytes, st.Lines, st.Bytes)
	}
	if res.Records == 0 || res.Recorded == 0 || res.CPU <= 0 {
		t.Errorf("nothing recorded: %+v", res)
	}
}

// TestBench: what `mailaudit bench --dovecot-backlog` prints, and the log
// and store it keeps when asked to.
func TestBench(t *testing.T) {
	cfg := small()
	cfg.Start = time.Now().UTC().Add(-time.Hour)
	dir := filepath.Join(t.TempDir(), "bench")
	var out bytes.Buffer
	if err := Bench(context.Background(), &out, dir, true, cfg, ""); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Dovecot backlog: 60", "lines/s", "records in the store", "kept in " + dir} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the output does not say %q:\n%s", want, out.String())
		}
	}
	for _, f := range []string{"dovecot-audit.log", "data"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("not kept: %v", err)
		}
	}
	if err := Bench(context.Background(), &out, dir, true, cfg, ""); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("a second run into the same directory: %v", err)
	}
}

// TestCatchUpForgetsEndedSessions: what the source saves with each batch
// (its position and the sessions it keeps) does not grow with the backlog:
// sessions that ended are forgotten by the log's time while catching up, as
// they are when the source keeps up. Both backlogs span more than the five
// minutes an ended session is kept; one is three times the other.
func TestCatchUpForgetsEndedSessions(t *testing.T) {
	saved := func(lines int) int {
		cfg := small()
		cfg.Lines, cfg.SessionsPerSecond, cfg.Start = lines, 2, time.Now().UTC().Add(-2*time.Hour)
		path := filepath.Join(t.TempDir(), "audit.log")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		st, err := Generate(f, cfg)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if span := st.End.Sub(cfg.Start); span < 6*time.Minute {
			t.Fatalf("the backlog spans %s only", span)
		}
		res, err := Run(context.Background(), path, filepath.Join(t.TempDir(), "data"), st.Lines)
		if err != nil {
			t.Fatal(err)
		}
		return res.MaxSaved
	}
	short, long := saved(6000), saved(18000)
	if float64(long) > 1.5*float64(short) {
		t.Errorf("the largest saved position grew from %d bytes to %d with three times the backlog", short, long)
	}
}

// BenchmarkBacklog times the Dovecot source catching up on a generated
// backlog (-backlog.lines, default 300,000) into a new store, and reports
// lines/s. The log is generated once, before the timing.
func BenchmarkBacklog(b *testing.B) {
	cfg := Defaults()
	cfg.Lines = *backlogLines
	path := filepath.Join(b.TempDir(), "audit.log")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	st, err := Generate(f, cfg)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		b.Fatal(err)
	}
	var res *Result
	for b.Loop() {
		b.StopTimer()
		dir := filepath.Join(b.TempDir(), "data")
		b.StartTimer()
		if res, err = Run(context.Background(), path, dir, st.Lines); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(res.LinesPerS, "lines/s")
	b.ReportMetric(float64(res.Bytes)/1e6/res.Duration.Seconds(), "MB/s")
	b.ReportMetric(float64(res.Lines)/res.CPU.Seconds(), "lines/cpu-s")
	b.ReportMetric(float64(res.Activities), "activities")
	b.ReportMetric(float64(res.Records), "records")
}
