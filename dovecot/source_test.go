package dovecot

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailaudit/mailaudit/audit"
)

// memSink keeps what a Source commits.
type memSink struct {
	mu        sync.Mutex
	acts      []*audit.Activity
	positions map[string]string
}

func (m *memSink) Ingest(_ context.Context, acts []*audit.Activity, positions map[string]string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.acts = append(m.acts, acts...)
	if m.positions == nil {
		m.positions = map[string]string{}
	}
	for k, v := range positions {
		m.positions[k] = v
	}
	return nil
}

func (m *memSink) Position(_ context.Context, key string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.positions[key], nil
}

func (m *memSink) operations() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ops []string
	for _, a := range m.acts {
		ops = append(ops, a.Operation.String())
	}
	return ops
}

// syncBuffer is a log the test reads while the source writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// eventually polls cond until it holds, or fails the test.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("still not: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSourceSays: events of names the translator does not use are logged
// once per name and each counted; a log that goes missing is said once when
// it has been missing for MissingGrace and once when it is back; and the
// source carries on.
func TestSourceSays(t *testing.T) {
	defer func(g time.Duration) { RotationGrace = g }(RotationGrace)
	RotationGrace = 20 * time.Millisecond
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	appendFile(t, path, "")
	var logBuf syncBuffer
	sink := &memSink{}
	counted := map[string]int{}
	var mu sync.Mutex
	src := &Source{Path: path, Translator: NewTranslator(Options{}), Sink: sink, Poll: 5 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(&logBuf, nil)),
		// Long enough that the rotation at the end (a rename, then a new
		// file) is not taken for a missing log on a busy machine.
		MissingGrace: 400 * time.Millisecond,
		Unknown:      func(ev string) { mu.Lock(); counted[ev]++; mu.Unlock() },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- src.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	unknown := func(name string) string {
		return `2026-11-22T04:56:32.669284+0000 stats: Info: {"event":"` + name + `","fields":{"session":"s1"}}` + "\n"
	}
	sieve := func(session, cmd string) string {
		return `2026-11-22T04:56:33.000000+0000 stats: Info: {"event":"managesieve_command_finished","start_time":"2026-11-22T04:56:32.9Z","end_time":"2026-11-22T04:56:33Z","fields":{"user":"alice","session":"` + session + `","cmd_name":"` + cmd + `","cmd_args":"\"rules\"","script_name":"rules"}}` + "\n"
	}
	appendFile(t, path, unknown("sieve_script_activated")+unknown("sieve_script_activated")+unknown("managesieve_command_started")+sieve("s1", "PUTSCRIPT"))
	eventually(t, "the PUTSCRIPT after the unknown events is recorded", func() bool { return len(sink.operations()) == 1 })
	mu.Lock()
	if counted["sieve_script_activated"] != 2 || counted["managesieve_command_started"] != 1 || len(counted) != 2 {
		t.Errorf("counted %v, want sieve_script_activated 2, managesieve_command_started 1", counted)
	}
	mu.Unlock()
	for _, name := range []string{"sieve_script_activated", "managesieve_command_started"} {
		if n := strings.Count(logBuf.String(), "event="+name); n != 1 {
			t.Errorf("%s logged %d times, want once:\n%s", name, n, logBuf.String())
		}
	}

	// The log goes: said once, after MissingGrace.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the source says the log is missing", func() bool { return strings.Contains(logBuf.String(), "the Dovecot log is missing") })
	time.Sleep(3 * src.MissingGrace)
	if n := strings.Count(logBuf.String(), "the Dovecot log is missing"); n != 1 {
		t.Errorf("said %d times that the log is missing, want once", n)
	}
	if strings.Contains(logBuf.String(), "the Dovecot log is back") {
		t.Error("the log is said to be back before it is")
	}
	// It comes back: said once; what is written there is read.
	appendFile(t, path, sieve("s2", "SETACTIVE"))
	eventually(t, "the source says the log is back", func() bool { return strings.Contains(logBuf.String(), "the Dovecot log is back") })
	eventually(t, "the SETACTIVE in the new log is recorded", func() bool { return len(sink.operations()) == 2 })
	time.Sleep(3 * src.MissingGrace)
	if n := strings.Count(logBuf.String(), "the Dovecot log is back"); n != 1 {
		t.Errorf("said %d times that the log is back, want once", n)
	}

	// A rename followed at once by a new file is a rotation: nothing said.
	if err := os.Rename(path, path+".2"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, sieve("s3", "SETACTIVE"))
	eventually(t, "the SETACTIVE after the rotation is recorded", func() bool { return len(sink.operations()) == 3 })
	if n := strings.Count(logBuf.String(), "the Dovecot log is missing"); n != 1 {
		t.Errorf("a rotation was said to be a missing log:\n%s", logBuf.String())
	}
}
