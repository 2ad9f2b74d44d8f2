package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mailaudit/mailaudit/sqlite"
)

// TestDemo: the demo builds its store and replaces its own on a second run,
// but never deletes a store it did not make or one another process has
// open, and never sends its made-up organisation to a daemon.
func TestDemo(t *testing.T) {
	// A daemon that MAILAUDIT_SERVER names must not be used: none listens
	// here, so a step that went there would fail.
	t.Setenv("MAILAUDIT_SERVER", "http://127.0.0.1:1")
	dir := filepath.Join(t.TempDir(), "demo")
	for run := 1; run <= 2; run++ {
		code, out, stderr := runCLI(t, nil, "demo", "--dir", dir)
		if code != ExitOK {
			t.Fatalf("demo run %d: exit %d: %s", run, code, stderr)
		}
		if !strings.Contains(out, "$ mailaudit --data "+dir+" search-unified-audit-log --ip-addresses 203.0.113.66") ||
			!strings.Contains(out, "Set-MailboxAuditBypassAssociation") {
			t.Errorf("demo run %d printed:\n%s", run, out)
		}
	}
	// The second run replaced the first: one organisation, made once.
	code, out, _ := runCLI(t, nil, "--server=", "--data", dir, "search-unified-audit-log", "--record-type", "1", "--operations", "New-Mailbox", "--start", "-2d", "-o", "csv")
	if code != ExitOK || strings.Count(out, ",New-Mailbox,") != 5 {
		t.Errorf("New-Mailbox records after two demos (exit %d):\n%s", code, out)
	}

	// Someone's store, not a demo's.
	other := t.TempDir()
	if code, _, stderr := runCLI(t, nil, "--server=", "--data", other, "new-mailbox", "alice@example.org"); code != ExitOK {
		t.Fatal(stderr)
	}
	code, _, stderr := runCLI(t, nil, "demo", "--dir", other)
	if code != ExitRefused || !strings.Contains(stderr, "holds a store that no demo made") {
		t.Errorf("demo over another store: exit %d, %q", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(other, sqlite.FileName)); err != nil {
		t.Errorf("the other store is gone: %v", err)
	}

	// A demo's store that a process has open (holds the lock).
	f, err := os.OpenFile(filepath.Join(dir, sqlite.LockName), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCLI(t, nil, "demo", "--dir", dir)
	if code == ExitOK || !strings.Contains(stderr, "is in use by pid") {
		t.Errorf("demo over a store in use: exit %d, %q", code, stderr)
	}
	unix.Flock(int(f.Fd()), unix.LOCK_UN)

	if code, _, stderr := runCLI(t, nil, "--server", "http://127.0.0.1:1", "demo", "--dir", dir); code != ExitUsage {
		t.Errorf("demo --server: exit %d, %q", code, stderr)
	}
}
