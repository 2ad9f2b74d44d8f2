package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailaudit/mailaudit/audit"
	"github.com/mailaudit/mailaudit/sqlite"
	"github.com/mailaudit/mailaudit/synth"
)

// mountTmpfs mounts a tmpfs of the given size on a new directory: a real
// small disk that fills up, or that can be made read-only, without faking
// the store. It needs root (CI and the dev machines run as root).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

func remount(t *testing.T, dir, opts string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,"+opts, dir).CombinedOutput(); err != nil {
		t.Fatalf("remount %s: %v: %s", opts, err, out)
	}
}

func runCLI(t *testing.T, stdin []byte, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(context.Background(), args, bytes.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// workload is n activities as JSON Lines.
func workload(t *testing.T, n int) []byte {
	var b bytes.Buffer
	g := synth.New(7)
	err := g.Workload(n, 200, 7, time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), func(a *audit.Activity) error {
		line, err := json.Marshal(a)
		b.Write(line)
		b.WriteByte('\n')
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func countRecords(t *testing.T, data string) int {
	t.Helper()
	code, out, errs := runCLI(t, nil, "--data", data, "search-unified-audit-log", "--start", "2026-01-01",
		"--result-size", "unlimited", "--record-type", "2,3,50,101", "-o", "json")
	if code != 0 {
		t.Fatalf("search: exit %d: %s", code, errs)
	}
	return strings.Count(out, "\n")
}

// TestDiskFull fills a real small disk during ingest: the error names the
// problem, the report says up to which line everything is stored, nothing
// is half-written, and re-running the same input once there is room records
// exactly what a run with room would have.
func TestDiskFull(t *testing.T) {
	small := mountTmpfs(t, "3m")
	input := workload(t, 60000)

	code, out, errs := runCLI(t, input, "--data", small, "ingest", "--batch", "2000", "-")
	if code != ExitInternal {
		t.Fatalf("ingest on a full disk: exit %d, want %d\nstdout: %s\nstderr: %s", code, ExitInternal, out, errs)
	}
	if !strings.Contains(errs, "is full") || !strings.Contains(errs, "Everything up to line") {
		t.Fatalf("message does not name the problem and the progress:\n%s", errs)
	}
	// No search here: a search seals the aggregates whose window has passed
	// by the wall clock, which would make the retry differ from a clean run.
	if !regexp.MustCompile(`recorded +[1-9]`).MatchString(out) {
		t.Fatalf("nothing was stored before the disk filled:\n%s", out)
	}

	remount(t, small, "size=256m")
	code, out, errs = runCLI(t, input, "--data", small, "ingest", "--batch", "2000", "-")
	if code != 0 {
		t.Fatalf("ingest after freeing space: exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "duplicates") {
		t.Fatalf("no report: %s", out)
	}

	roomy := t.TempDir()
	if code, _, errs := runCLI(t, input, "--data", roomy, "ingest", "--batch", "2000", "-"); code != 0 {
		t.Fatalf("ingest with room: %s", errs)
	}
	if got, want := countRecords(t, small), countRecords(t, roomy); got != want {
		t.Fatalf("after the retry the store holds %d records; a run with room holds %d", got, want)
	}
}

// TestReadOnlyData: a data directory on a read-only file system gets a clear
// message, and nothing is lost.
func TestReadOnlyData(t *testing.T) {
	dir := mountTmpfs(t, "16m")
	data := filepath.Join(dir, "data")
	input := workload(t, 500)
	if code, _, errs := runCLI(t, input, "--data", data, "ingest", "-"); code != 0 {
		t.Fatalf("ingest: %s", errs)
	}
	before := countRecords(t, data)
	remount(t, dir, "ro")
	defer remount(t, dir, "rw")

	code, _, errs := runCLI(t, workload(t, 600), "--data", data, "ingest", "-")
	if code != ExitInternal || !strings.Contains(errs, "read-only") {
		t.Fatalf("ingest into a read-only directory: exit %d, stderr:\n%s", code, errs)
	}
	code, _, errs = runCLI(t, nil, "--data", data, "new-mailbox", "zed@example.org")
	if code != ExitInternal || !strings.Contains(errs, "read-only") {
		t.Fatalf("new-mailbox in a read-only directory: exit %d, stderr:\n%s", code, errs)
	}
	remount(t, dir, "rw")
	if after := countRecords(t, data); after != before {
		t.Fatalf("records changed from %d to %d", before, after)
	}
}

// TestOneWriter: while one process holds a data directory, another can
// search it but not change it, and is told who holds it.
func TestOneWriter(t *testing.T) {
	data := t.TempDir()
	if code, _, errs := runCLI(t, workload(t, 300), "--data", data, "ingest", "-"); code != 0 {
		t.Fatalf("ingest: %s", errs)
	}
	holder, err := sqlite.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()

	code, _, errs := runCLI(t, nil, "--data", data, "new-mailbox", "zed@example.org")
	if code != ExitInternal || !strings.Contains(errs, "in use by another mailaudit process (pid "+strconv.Itoa(os.Getpid())+")") {
		t.Fatalf("new-mailbox while another process writes: exit %d, stderr:\n%s", code, errs)
	}
	code, out, errs := runCLI(t, nil, "--data", data, "search-mailbox-audit-log", "--start", "2026-01-01", "-o", "json")
	if code != 0 || strings.Count(out, "\n") == 0 {
		t.Fatalf("search while another process writes: exit %d, %d lines, stderr:\n%s", code, strings.Count(out, "\n"), errs)
	}
}

// TestReadOnlyUnfinishedLog: a read-only copy whose write-ahead log still
// holds commits is refused, rather than searched without them.
func TestReadOnlyUnfinishedLog(t *testing.T) {
	dir := mountTmpfs(t, "16m")
	src := t.TempDir()
	st, err := sqlite.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Copy while the store is open: its commits are still in the log.
	for _, name := range []string{sqlite.FileName, sqlite.FileName + "-wal"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		if name == sqlite.FileName+"-wal" && len(b) == 0 {
			t.Fatal("the write-ahead log is empty; the test needs one with commits")
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	remount(t, dir, "ro")
	defer remount(t, dir, "rw")
	code, _, errs := runCLI(t, nil, "--data", dir, "get-mailbox")
	if code != ExitInternal || !strings.Contains(errs, "write-ahead log") || !strings.Contains(errs, "copy the directory somewhere writable") {
		t.Fatalf("read-only copy with an unfinished log: exit %d, stderr:\n%s", code, errs)
	}
}
