package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestClients drives the test Dovecot with curl (imap:// URLs, one command
// or a few per connection, as scripts use it) and with mbsync (a Maildir
// synchronised both ways, as a desktop set-up does), and checks that each
// step adds exactly the audit records it should: no more, no fewer.
//
// Reads become MailItemsAccessed records only when their two-minute
// aggregation window ends, so the test runs in parallel with TestMapping,
// which waits for the same window: the wait is paid once.
func TestClients(t *testing.T) {
	for _, cmd := range []string{"curl", "mbsync"} {
		if _, err := exec.LookPath(cmd); err != nil {
			t.Skipf("%s is not installed: run scripts/test-deps", cmd)
		}
	}
	t.Parallel()
	e := newEnv(t)
	e.directory()
	// alice's INBOX: q1 (uid 1, from newEnv), board 2, payroll 3, lunch 4.
	e.deliver("alice", "INBOX", "Board minutes", "<board@example.org>")
	e.deliver("alice", "INBOX", "Payroll", "<payroll@example.org>")
	e.deliver("alice", "INBOX", "Lunch", "<lunch@example.org>")
	// carol's: c1 and c2 in the INBOX, c3 in Archive.
	e.deliver("carol", "INBOX", "Contract", "<c1@example.org>")
	e.deliver("carol", "INBOX", "Invoice", "<c2@example.org>")
	e.deliver("carol", "Archive", "Old contract", "<c3@example.org>")
	e.startServe()
	defer e.stopServe()
	l := &ledger{e: e, seen: map[string]bool{}, all: map[string][]string{}, counts: map[string]int{}}

	t.Run("curl", func(t *testing.T) { l.on(t); curlSteps(t, e, l) })
	t.Run("mbsync", func(t *testing.T) { l.on(t); mbsyncSteps(t, e, l) })
	l.on(t)

	// Every read above, aggregated per session and folder. mbsync
	// downloads whole folders, which Exchange would record as Sync; Dovecot
	// does not tell a synchronisation apart (see dovecot/doc.go), so these
	// are Bind records listing every message downloaded.
	t.Run("MailItemsAccessed", func(t *testing.T) {
		l.on(t)
		l.within = 3 * time.Minute
		l.expect("reads", map[string][]string{
			alice: {
				"MailItemsAccessed Owner alice@example.org /Inbox INBOX:1 Bind",
				"MailItemsAccessed Delegate bob@example.org /Inbox INBOX:2 Bind",
				"MailItemsAccessed Admin admin /Archive Archive:1 Bind",
			},
			carol: {
				"MailItemsAccessed Owner carol@example.org /Inbox INBOX:1 INBOX:2 Bind x2",
				"MailItemsAccessed Owner carol@example.org /Archive Archive:1 Bind",
				"MailItemsAccessed Delegate bob@example.org /Inbox INBOX:1 Bind",
			},
		})
	})
	l.on(t)

	// Nothing came later, and the delegates' repeated folder opens were
	// counted into their first record.
	t.Run("final", func(t *testing.T) {
		l.on(t)
		for mbx, want := range l.all {
			want = slices.Clone(want)
			for i, w := range want {
				if c, ok := l.counts[mbx+" "+w]; ok {
					want[i] = fmt.Sprintf("%s x%d", w, c)
				}
			}
			got := summaries(e.search(mbx))
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("records of %s:\n%s\nwant:\n%s", mbx, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		}
	})
}

const (
	alice = "alice@example.org"
	bob   = "bob@example.org"
	carol = "carol@example.org"
)

// curlSteps: each row is one curl run, one IMAP connection unless the row
// chains URLs with --next (curl then reuses the connection: one session).
func curlSteps(t *testing.T, e *env, l *ledger) {
	base := fmt.Sprintf("imap://127.0.0.1:%d", e.IMAPPort)
	draft := e.write("draft.eml", "From: alice@example.org\r\nSubject: Draft by curl\r\nMessage-ID: <curl-draft@example.org>\r\n\r\nx\r\n")
	asAlice := []string{"-u", "alice:" + passwords["alice"]}
	asBob := []string{"-u", "bob:" + passwords["bob"]}
	asAdmin := []string{"-u", "alice*admin:" + masterPassword}
	args := func(url string, as []string, more ...string) []string {
		return append(append([]string{base + url}, as...), more...)
	}
	login := "MailboxLogin Owner alice@example.org"
	bobLogin := "MailboxLogin Owner bob@example.org"
	for _, s := range []struct {
		name string
		args []string
		exit int    // curl's exit status
		out  string // in curl's output
		want map[string][]string
	}{
		{"owner/SETACL", args("/", asAlice, "-X", "SETACL INBOX bob lrswite"), 0, "",
			map[string][]string{alice: {login, "UpdateFolderPermissions Owner alice@example.org /Inbox"}}},
		// The read is aggregated: it shows in the MailItemsAccessed step.
		{"owner/FETCH", args("/INBOX;UID=1", asAlice), 0, "Message-ID: <q1@example.org>",
			map[string][]string{alice: {login}}},
		{"owner/SEARCH", args("/INBOX?SUBJECT%20Payroll", asAlice), 0, "* SEARCH 3",
			map[string][]string{alice: {login, "SearchQueryInitiated Owner alice@example.org /Inbox"}}},
		{"owner/APPEND", args("/Drafts", asAlice, "-T", draft), 0, "",
			map[string][]string{alice: {login, "Create Owner alice@example.org /Drafts Drafts:1<curl-draft@example.org>"}}},
		{"owner/STORE", args("/INBOX", asAlice, "-X", `UID STORE 4 +FLAGS (\Flagged)`), 0, "",
			map[string][]string{alice: {login, "Update Owner alice@example.org /Inbox INBOX:4<lunch@example.org>"}}},
		{"owner/LIST", args("/", asAlice), 0, `"/" Archive`,
			map[string][]string{alice: {login}}},
		// A delegate's opens of a folder are one record a day, counted.
		{"delegate/EXAMINE", args("/", asBob, "-X", "EXAMINE shared/alice/INBOX"), 0, "",
			map[string][]string{alice: {"FolderBind Delegate bob@example.org /Inbox"}, bob: {bobLogin}}},
		{"delegate/FETCH", args("/shared/alice/INBOX;UID=2", asBob), 0, "Message-ID: <board@example.org>",
			map[string][]string{alice: nil, bob: {bobLogin}}},
		{"delegate/STORE+EXPUNGE", append(args("/shared/alice/INBOX", asBob, "-X", `UID STORE 2 +FLAGS (\Deleted)`),
			append([]string{"--next"}, args("/shared/alice/INBOX", asBob, "-X", "UID EXPUNGE 2")...)...), 0, "",
			map[string][]string{alice: {
				"SoftDelete Delegate bob@example.org /Inbox INBOX:2<board@example.org>",
				"HardDelete Delegate bob@example.org /Inbox INBOX:2<board@example.org>",
			}, bob: {bobLogin}}},
		// curl reports a failed SELECT as a denied login (67).
		{"delegate/missing folder", args("/shared/alice/Secret;UID=1", asBob), 67, "",
			map[string][]string{alice: {"FolderBind Delegate bob@example.org /Secret Failed"}, bob: {bobLogin}}},
		// A master-user login is the administrator's: no MailboxLogin.
		{"admin/COPY", args("/INBOX", asAdmin, "-X", "UID COPY 1 Archive"), 0, "",
			map[string][]string{alice: {
				"FolderBind Admin admin /Inbox",
				"Copy Admin admin /Inbox ->/Archive INBOX:1<q1@example.org>",
			}}},
		{"admin/MOVE", args("/INBOX", asAdmin, "-X", "UID MOVE 3 Trash"), 0, "",
			map[string][]string{alice: {
				"FolderBind Admin admin /Inbox",
				"MoveToDeletedItems Admin admin /Inbox ->/Trash INBOX:3<payroll@example.org>",
			}}},
		// curl reports a failed custom command as 21 (QUOTE error).
		{"admin/COPY failed", args("/INBOX", asAdmin, "-X", "UID COPY 4 Nowhere"), 21, "",
			map[string][]string{alice: {"FolderBind Admin admin /Inbox", "Copy Admin admin /Inbox ->/Nowhere Failed"}}},
		{"admin/FETCH", args("/Archive;UID=1", asAdmin), 0, "Message-ID: <q1@example.org>",
			map[string][]string{alice: {"FolderBind Admin admin /Archive"}}},
	} {
		t.Run(s.name, func(t *testing.T) {
			l.on(t)
			out, code := e.curl(s.args...)
			if code != s.exit {
				t.Fatalf("curl %s: exit status %d, want %d\n%s", strings.Join(s.args, " "), code, s.exit, out)
			}
			if !strings.Contains(out, s.out) {
				t.Fatalf("curl %s: output without %q:\n%s", strings.Join(s.args, " "), s.out, out)
			}
			l.expect(s.name, s.want)
		})
		l.on(t)
	}
	// bob opened alice's INBOX in three sessions; the missing folder is
	// another folder.
	l.count(alice, "FolderBind Delegate bob@example.org /Inbox", 3)
}

// mbsyncSteps: carol synchronises her mailbox into a local Maildir, changes
// it there and pushes the changes back; then bob does the same with the
// INBOX carol shares with him.
func mbsyncSteps(t *testing.T, e *env, l *ledger) {
	res := e.imap("carol", passwords["carol"], step{"setacl", "INBOX", "bob", "lrswite"})
	if res[0][1] != "OK" {
		t.Fatalf("SETACL: %v", res[0])
	}
	l.expect("SETACL", map[string][]string{carol: {
		"MailboxLogin Owner carol@example.org",
		"UpdateFolderPermissions Owner carol@example.org /Inbox",
	}})
	local := filepath.Join(e.Dir, "maildir")
	for _, d := range []string{"carol", "bob"} {
		if err := os.MkdirAll(filepath.Join(local, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	rc := e.write("mbsyncrc", fmt.Sprintf(`# Plain-text LOGIN: the test Dovecot is on loopback without TLS.
IMAPAccount carol
Host 127.0.0.1
Port %[1]d
User carol
Pass %[2]s
SSLType None
AuthMechs LOGIN

IMAPStore carol-far
Account carol

MaildirStore carol-near
Path %[3]s/carol/
Inbox %[3]s/carol/INBOX
SubFolders Verbatim

Channel carol
Far :carol-far:
Near :carol-near:
Patterns *
Create Near
Expunge Both
Sync All
SyncState *

IMAPAccount bob
Host 127.0.0.1
Port %[1]d
User bob
Pass %[4]s
SSLType None
AuthMechs LOGIN

IMAPStore bob-far
Account bob

MaildirStore bob-near
Path %[3]s/bob/
Inbox %[3]s/bob/INBOX
SubFolders Verbatim

# carol's INBOX as bob sees it: "shared/carol", the shared namespace's INBOX.
Channel bob
Far :bob-far:shared/carol
Near :bob-near:carol
Create Near
Expunge Both
Sync All
SyncState *
`, e.IMAPPort, passwords["carol"], local, passwords["bob"]))
	mbsync := func(channel string) {
		out, err := exec.Command("mbsync", "-c", rc, channel).CombinedOutput()
		if err != nil {
			l.t.Fatalf("mbsync %s: %v\n%s", channel, err, out)
		}
	}
	carolLogin := "MailboxLogin Owner carol@example.org"

	t.Run("owner/pull", func(t *testing.T) {
		l.on(t)
		mbsync("carol")
		for folder, ids := range map[string][]string{"INBOX": {"<c1@example.org>", "<c2@example.org>"}, "Archive": {"<c3@example.org>"}, "Drafts": nil, "Trash": nil} {
			if got := maildirIDs(t, filepath.Join(local, "carol", folder)); !slices.Equal(got, ids) {
				t.Errorf("local %s holds %v, want %v", folder, got, ids)
			}
		}
		// carol opens her own folders: FolderBind is not audited for owners.
		l.expect("pull", map[string][]string{carol: {carolLogin}})
	})
	t.Run("owner/push", func(t *testing.T) {
		l.on(t)
		// Flag c1, delete c2, write a draft: mbsync stores the flags, expunges
		// and appends.
		inbox := filepath.Join(local, "carol", "INBOX")
		rename(t, maildirFile(t, inbox, "<c1@example.org>"), func(name string) string { return name + "F" })
		if err := os.Remove(maildirFile(t, inbox, "<c2@example.org>")); err != nil {
			t.Fatal(err)
		}
		msg := "From: carol@example.org\r\nSubject: Reply\r\nMessage-ID: <c4@example.org>\r\n\r\nx\r\n"
		if err := os.WriteFile(filepath.Join(local, "carol", "Drafts", "new", "1.draft.local"), []byte(msg), 0o644); err != nil {
			t.Fatal(err)
		}
		mbsync("carol")
		l.expect("push", map[string][]string{carol: {
			carolLogin,
			"Update Owner carol@example.org /Inbox INBOX:1<c1@example.org>",
			"SoftDelete Owner carol@example.org /Inbox INBOX:2<c2@example.org>",
			"HardDelete Owner carol@example.org /Inbox INBOX:2<c2@example.org>",
			"Create Owner carol@example.org /Drafts Drafts:1<c4@example.org>",
		}})
	})
	t.Run("delegate/pull", func(t *testing.T) {
		l.on(t)
		mbsync("bob")
		if got := maildirIDs(t, filepath.Join(local, "bob", "carol")); !slices.Equal(got, []string{"<c1@example.org>"}) {
			t.Errorf("bob's copy of carol's INBOX holds %v, want c1", got)
		}
		l.expect("delegate pull", map[string][]string{
			carol: {"FolderBind Delegate bob@example.org /Inbox"},
			bob:   {"MailboxLogin Owner bob@example.org"},
		})
	})
	t.Run("delegate/push", func(t *testing.T) {
		l.on(t)
		if err := os.Remove(maildirFile(t, filepath.Join(local, "bob", "carol"), "<c1@example.org>")); err != nil {
			t.Fatal(err)
		}
		mbsync("bob")
		l.expect("delegate push", map[string][]string{
			carol: {
				"SoftDelete Delegate bob@example.org /Inbox INBOX:1<c1@example.org>",
				"HardDelete Delegate bob@example.org /Inbox INBOX:1<c1@example.org>",
			},
			bob: {"MailboxLogin Owner bob@example.org"},
		})
	})
	l.on(t)
	l.count(carol, "FolderBind Delegate bob@example.org /Inbox", 2)
}

// curl runs curl on the test Dovecot and returns its output and exit status.
func (e *env) curl(args ...string) (string, int) {
	e.t.Helper()
	cmd := exec.Command("curl", append([]string{"-sS", "--max-time", "20"}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &ee):
		return out.String(), ee.ExitCode()
	}
	e.t.Fatalf("running curl: %v", err)
	return "", 0
}

// maildirIDs lists the Message-IDs of a local Maildir folder, sorted.
func maildirIDs(t *testing.T, dir string) []string {
	t.Helper()
	var ids []string
	for _, sub := range []string{"new", "cur"} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatalf("reading the local Maildir: %v", err)
		}
		for _, ent := range entries {
			b, err := os.ReadFile(filepath.Join(dir, sub, ent.Name()))
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "Message-ID: "); ok {
					ids = append(ids, strings.TrimSpace(v))
				}
			}
		}
	}
	slices.Sort(ids)
	return ids
}

// maildirFile finds the local file of a message.
func maildirFile(t *testing.T, dir, msgid string) string {
	t.Helper()
	for _, sub := range []string{"new", "cur"} {
		entries, _ := os.ReadDir(filepath.Join(dir, sub))
		for _, ent := range entries {
			path := filepath.Join(dir, sub, ent.Name())
			if b, err := os.ReadFile(path); err == nil && bytes.Contains(b, []byte("Message-ID: "+msgid)) {
				return path
			}
		}
	}
	t.Fatalf("no message %s in %s", msgid, dir)
	return ""
}

func rename(t *testing.T, path string, to func(string) string) {
	t.Helper()
	if err := os.Rename(path, filepath.Join(filepath.Dir(path), to(filepath.Base(path)))); err != nil {
		t.Fatal(err)
	}
}

// ledger follows the records of mailboxes, so that each step is checked
// for the records it added, and the whole test for all of them.
type ledger struct {
	e      *env
	t      *testing.T
	seen   map[string]bool     // record ids already accounted for
	all    map[string][]string // every expected summary, by mailbox
	counts map[string]int      // OperationCount expected at the end, by mailbox and summary
	within time.Duration       // how long a step's records may take
}

// expect waits until each mailbox has as many new records as want lists
// for it, then checks that they are exactly those (as summaries, in any
// order). A mailbox with no want is checked for having no new record.
func (l *ledger) expect(step string, want map[string][]string) {
	l.t.Helper()
	wait := l.within
	if wait == 0 {
		wait = 20 * time.Second
	}
	deadline := time.Now().Add(wait)
	for mbx, w := range want {
		l.all[mbx] = append(l.all[mbx], w...)
		var fresh []record
		for {
			fresh = fresh[:0]
			for _, r := range l.e.search(mbx) {
				if !l.seen[r.str("Id")] {
					fresh = append(fresh, r)
				}
			}
			if len(fresh) >= len(w) || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		got := summaries(fresh)
		w = slices.Clone(w)
		slices.Sort(got)
		slices.Sort(w)
		if !slices.Equal(got, w) {
			log, _ := os.ReadFile(filepath.Join(l.e.Dir, "serve.log"))
			l.t.Errorf("%s: new records of %s:\n%s\nwant:\n%s\nserve.log:\n%s", step, mbx, strings.Join(got, "\n"), strings.Join(w, "\n"), log)
		}
		for _, r := range fresh {
			l.seen[r.str("Id")] = true
		}
	}
}

// on makes failures of the env and the ledger those of t, a subtest.
func (l *ledger) on(t *testing.T) { l.t, l.e.t = t, t }

// count says how many operations a record that counts them (a delegate's
// FolderBind) should have counted by the end.
func (l *ledger) count(mailbox, summary string, n int) { l.counts[mailbox+" "+summary] = n }

func summaries(recs []record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = summary(r)
	}
	return out
}

// summary is what the tests check of a record: operation, logon type,
// actor, folder and destination, items (id and Message-ID), a result other
// than Succeeded, the access type of a read and a count above one.
func summary(r record) string {
	lt, _ := r["LogonType"].(float64)
	parts := []string{r.str("Operation"), map[float64]string{0: "Owner", 1: "Admin", 2: "Delegate"}[lt], r.str("UserId")}
	if p := folderPath(r); p != "" {
		parts = append(parts, p)
	}
	if d, ok := r["DestFolder"].(map[string]any); ok {
		parts = append(parts, fmt.Sprintf("->%v", d["Path"]))
	}
	for _, it := range items(r) {
		s, _ := it["Id"].(string)
		if id, _ := it["InternetMessageId"].(string); id != "" {
			s += id
		}
		parts = append(parts, s)
	}
	if s := r.str("ResultStatus"); s != "Succeeded" {
		parts = append(parts, s)
	}
	if props, ok := r["OperationProperties"].([]any); ok {
		for _, p := range props {
			if m, ok := p.(map[string]any); ok && m["Name"] == "MailAccessType" {
				parts = append(parts, fmt.Sprint(m["Value"]))
			}
		}
	}
	if n, ok := r["OperationCount"].(float64); ok && n > 1 {
		parts = append(parts, fmt.Sprintf("x%d", int(n)))
	}
	return strings.Join(parts, " ")
}

// items are a record's items wherever the record keeps them.
func items(r record) []map[string]any {
	var out []map[string]any
	add := func(v any) {
		if m, ok := v.(map[string]any); ok {
			out = append(out, m)
		}
	}
	add(r["Item"])
	if its, ok := r["AffectedItems"].([]any); ok {
		for _, it := range its {
			add(it)
		}
	}
	if fs, ok := r["Folders"].([]any); ok {
		for _, f := range fs {
			if its, ok := f.(map[string]any)["FolderItems"].([]any); ok {
				for _, it := range its {
					add(it)
				}
			}
		}
	}
	return out
}
