package dovecot

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func postedEvent(name string, end time.Time) string {
	return fmt.Sprintf(`{"event":%q,"hostname":"vm","start_time":%q,"end_time":%q,"fields":{"user":"alice","session":"s1","mailbox":"INBOX","uid":1}}`,
		name, end.Add(-time.Millisecond).Format(time.RFC3339Nano), end.Format(time.RFC3339Nano))
}

// TestEventSpool: events are spooled in the order they ended, as lines the
// translator reads as it reads the log; what is not an event is refused.
func TestEventSpool(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.log")
	spool, err := OpenEventSpool(path, 200*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 22, 2, 57, 34, 0, time.UTC)
	// Arriving out of order, as Dovecot's stats process sends them.
	for _, tc := range []struct {
		body string
		err  string
	}{
		{postedEvent("imap_command_finished", t0.Add(3*time.Millisecond)), ""},
		{postedEvent("mail_opened", t0.Add(time.Millisecond)), ""},
		{"{\n" + postedEvent("mail_expunged", t0.Add(2*time.Millisecond))[1:], ""},
		{`{"event":"mail_opened"`, "malformed JSON"},
		{`{"hostname":"vm"}`, "without a name"},
		{`[1,2]`, "dovecot event"},
	} {
		err := spool.Add([]byte(tc.body))
		if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("Add(%.50s) = %v, want %q", tc.body, err, tc.err)
		}
	}
	if err := spool.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	var names []string
	for _, line := range lines {
		l, ok := parseLogLine([]byte(line), nil)
		if !ok || l.Service != "stats" || l.Level != "Info" {
			t.Fatalf("spooled line not read as the log transport's: %q", line)
		}
		e, err := decodeEvent(l.Msg)
		if err != nil {
			t.Fatalf("spooled line %q: %v", line, err)
		}
		if !l.Time.Equal(e.End) {
			t.Errorf("line time %v, event end %v", l.Time, e.End)
		}
		names = append(names, e.Name)
	}
	if got := strings.Join(names, ","); got != "mail_opened,mail_expunged,imap_command_finished" {
		t.Errorf("spooled in the order %s, want the order they ended", got)
	}
}

// spoolOne writes one event to the spool at path.
func spoolOne(t *testing.T, path string) {
	t.Helper()
	spool, err := OpenEventSpool(path, 10*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := spool.Add([]byte(postedEvent("mail_opened", time.Now()))); err != nil {
		t.Fatal(err)
	}
	if err := spool.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestEventSpoolRotates: past EventSpoolMax the spool is renamed to
// SPOOL.1 and a new one begun, as a log rotated by rename.
func TestEventSpoolRotates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.log")
	if err := os.WriteFile(path, make([]byte, EventSpoolMax-10), 0o640); err != nil {
		t.Fatal(err)
	}
	spoolOne(t, path)
	old, err1 := os.Stat(path + ".1")
	cur, err2 := os.ReadFile(path)
	if err1 != nil || err2 != nil || old.Size() != EventSpoolMax-10 || !strings.Contains(string(cur), `"mail_opened"`) {
		t.Errorf("after rotation: %v %v, old %v, new %q", err1, err2, old, cur)
	}
}

// TestEventSpoolKeepsUnread: a rotated spool that is still there has not
// been read to its end: the spool grows on rather than rotate over it, and
// the reader removes it once it reads another file.
func TestEventSpoolKeepsUnread(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.log")
	if err := os.WriteFile(path+".1", []byte("unread\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, make([]byte, EventSpoolMax-10), 0o640); err != nil {
		t.Fatal(err)
	}
	spoolOne(t, path)
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.Stat(path)
	if string(old) != "unread\n" || cur.Size() <= EventSpoolMax-10 {
		t.Fatalf("rotated over an unread file: .1 %q, spool %d bytes", old, cur.Size())
	}
	st, _ := os.Stat(path + ".1")
	if err := RemoveFinished(path, inode(st)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".1"); err != nil {
		t.Errorf("removed while the reader is still in it: %v", err)
	}
	if err := RemoveFinished(path, inode(cur)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".1"); !os.IsNotExist(err) {
		t.Errorf("not removed once the reader is in the new file: %v", err)
	}
}
