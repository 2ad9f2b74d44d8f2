package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// directory creates the mailboxes of the test users and audits everything
// each logon type can be audited for, so that every row of the mapping
// table shows.
func (e *env) directory() {
	for _, u := range []string{"alice", "bob", "carol"} {
		e.mailaudit("new-mailbox", u+"@example.org")
	}
	e.mailaudit("set-mailbox", "--filter", "AuditEnabled -eq $false",
		"--audit-owner-add", "MailboxLogin,SearchQueryInitiated,Move,Create",
		"--audit-delegate-add", "FolderBind,Move",
		"--audit-admin-add", "FolderBind,Copy,Move")
}

func folderPath(r record) string {
	if f, ok := r["Folder"].(map[string]any); ok {
		p, _ := f["Path"].(string)
		return p
	}
	if fs, ok := r["Folders"].([]any); ok && len(fs) > 0 {
		p, _ := fs[0].(map[string]any)["Path"].(string)
		return p
	}
	return ""
}

func messageIDs(r record) string {
	var ids []string
	collect := func(items []any) {
		for _, it := range items {
			if m, ok := it.(map[string]any); ok {
				if id, ok := m["InternetMessageId"].(string); ok {
					ids = append(ids, id)
				}
			}
		}
	}
	if it, ok := r["Item"].(map[string]any); ok {
		collect([]any{it})
	}
	if items, ok := r["AffectedItems"].([]any); ok {
		collect(items)
	}
	if fs, ok := r["Folders"].([]any); ok {
		for _, f := range fs {
			if items, ok := f.(map[string]any)["FolderItems"].([]any); ok {
				collect(items)
			}
		}
	}
	return strings.Join(ids, ",")
}

// match builds a predicate on records from "Field=value" pairs; Folder and
// MessageId look into the folder and the items.
func match(pairs ...string) func(record) bool {
	return func(r record) bool {
		for _, p := range pairs {
			k, v, _ := strings.Cut(p, "=")
			var got string
			switch k {
			case "Folder":
				got = folderPath(r)
			case "MessageId":
				if !strings.Contains(messageIDs(r), v) {
					return false
				}
				continue
			case "LogonType":
				lt, _ := r["LogonType"].(float64)
				got = map[float64]string{0: "Owner", 1: "Admin", 2: "Delegate"}[lt]
			default:
				got = fmt.Sprint(r[k])
			}
			if !strings.EqualFold(got, v) {
				return false
			}
		}
		return true
	}
}

// TestMapping walks the mapping table of spec/dovecot.md with real clients,
// for owner, delegate and administrator, and finds each action's record.
func TestMapping(t *testing.T) {
	// It waits two minutes for MailItemsAccessed aggregates, as TestClients
	// does: in parallel, the wait is paid once.
	t.Parallel()
	e := newEnv(t)
	e.directory()
	e.startServe()
	defer e.stopServe()
	e.deliver("alice", "INBOX", "Board minutes", "<board@example.org>")
	e.deliver("alice", "INBOX", "Payroll", "<payroll@example.org>")
	e.deliver("alice", "INBOX", "Lunch", "<lunch@example.org>")

	// The owner, with a client that says who it is.
	e.imap("alice", passwords["alice"],
		step{"id", "neomutt", "20220429"},
		step{"select", "INBOX"},
		step{"fetch", "2"},
		step{"search", "SUBJECT", `"Payroll"`},
		step{"store", "3", "+FLAGS", `(\Flagged)`},
		step{"append", "Drafts", "Subject: draft\r\nMessage-ID: <draft@example.org>\r\n\r\nx\r\n"},
		step{"setacl", "INBOX", "bob", "lrswite"},
		step{"setacl", "Archive", "bob", "lrswite"},
	)
	alice := "alice@example.org"
	owner := []string{"LogonType=Owner", "UserId=" + alice, "MailboxOwnerUPN=" + alice}
	for _, c := range []struct {
		name string
		want []string
	}{
		{"MailboxLogin", []string{"Operation=MailboxLogin", "ClientInfoString=Client=IMAP4;name=neomutt;version=20220429", "ClientIPAddress=127.0.0.1"}},
		{"SearchQueryInitiated", []string{"Operation=SearchQueryInitiated"}},
		{"Update", []string{"Operation=Update", "MessageId=<payroll@example.org>"}},
		{"Create", []string{"Operation=Create", "MessageId=<draft@example.org>"}},
		{"UpdateFolderPermissions", []string{"Operation=UpdateFolderPermissions", "Folder=/Inbox"}},
	} {
		t.Run("owner/"+c.name, func(t *testing.T) {
			e.t = t
			e.waitRecords(alice, match(append(owner, c.want...)...), 1)
		})
	}
	e.t = t

	// The delegate, through the shared namespace: a folder that is not
	// there (a failed command), then reads, moves, deletes.
	res := e.imap("bob", passwords["bob"],
		step{"select", "shared/alice/Secret"},
		step{"select", "shared/alice/INBOX"},
		step{"fetch", "1"},
		step{"move", "1", "shared/alice/Archive"},
		step{"store", "2", "+FLAGS", `(\Deleted)`},
		step{"expunge"},
	)
	if res[0][1] != "NO" {
		t.Fatalf("selecting a missing folder: %v", res[0])
	}
	bob := []string{"LogonType=Delegate", "UserId=bob@example.org", "MailboxOwnerUPN=" + alice}
	for _, c := range []struct {
		name string
		want []string
	}{
		{"Failed", []string{"Operation=FolderBind", "ResultStatus=Failed"}},
		{"FolderBind", []string{"Operation=FolderBind", "ResultStatus=Succeeded", "Folder=/Inbox"}},
		{"Move", []string{"Operation=Move", "MessageId=<q1@example.org>"}},
		{"SoftDelete", []string{"Operation=SoftDelete", "MessageId=<board@example.org>"}},
		{"HardDelete", []string{"Operation=HardDelete", "MessageId=<board@example.org>"}},
	} {
		t.Run("delegate/"+c.name, func(t *testing.T) {
			e.t = t
			recs := e.waitRecords(alice, match(append(bob, c.want...)...), 1)
			if c.name == "HardDelete" && len(recs) != 1 {
				t.Errorf("%d HardDelete records for one deletion, want 1", len(recs))
			}
		})
	}
	e.t = t

	// An administrator, through a master-user login, reads, copies and
	// moves to the trash.
	e.imap("alice*admin", masterPassword,
		step{"select", "INBOX"},
		step{"fetch", "3"},
		step{"copy", "3", "Archive"},
		step{"move", "3", "Trash"},
	)
	admin := []string{"LogonType=Admin", "UserId=admin", "MailboxOwnerUPN=" + alice}
	for _, c := range []struct {
		name string
		want []string
	}{
		{"FolderBind", []string{"Operation=FolderBind"}},
		{"Copy", []string{"Operation=Copy", "MessageId=<payroll@example.org>"}},
		{"MoveToDeletedItems", []string{"Operation=MoveToDeletedItems", "MessageId=<payroll@example.org>"}},
	} {
		t.Run("admin/"+c.name, func(t *testing.T) {
			e.t = t
			e.waitRecords(alice, match(append(admin, c.want...)...), 1)
		})
	}
	e.t = t

	// Reads are aggregated over two minutes (as in Exchange) before they are
	// recorded: look for them last.
	for _, c := range []struct {
		name string
		want []string
	}{
		// Dovecot's read event names the message by folder and UID only.
		{"owner/MailItemsAccessed", append(owner, "Operation=MailItemsAccessed", "Folder=/Inbox")},
		{"delegate/MailItemsAccessed", append(bob, "Operation=MailItemsAccessed", "Folder=/Inbox")},
		{"admin/MailItemsAccessed", append(admin, "Operation=MailItemsAccessed", "Folder=/Inbox")},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			e.waitRecordsFor(3*time.Minute, alice, match(c.want...), 1)
		})
	}
	e.t = t

	// Inbox rules over ManageSieve: saving a script and activating it.
	e.sieve("alice", passwords["alice"], step{"put", "forward", `redirect "x@evil.example";`}, step{"activate", "forward"})
	t.Run("owner/UpdateInboxRules", func(t *testing.T) {
		e.t = t
		e.waitRecords(alice, match(append(owner, "Operation=UpdateInboxRules")...), 2)
	})
	e.t = t
}

// TestNotAudited: a bypassed account and an action the profile does not
// audit leave no record; the others still do.
func TestNotAudited(t *testing.T) {
	e := newEnv(t)
	for _, u := range []string{"alice", "bob"} {
		e.mailaudit("new-mailbox", u+"@example.org")
	}
	e.mailaudit("set-mailbox-audit-bypass-association", "svc-backup", "--audit-bypass-enabled=true")
	e.mailaudit("set-mailbox", "alice", "--audit-owner-add", "MailboxLogin")
	e.startServe()
	defer e.stopServe()
	// svc-backup reads alice's mail as a delegate (the ACL lets it).
	e.imap("alice", passwords["alice"], step{"setacl", "INBOX", "svc-backup", "lr"})
	e.imap("svc-backup", passwords["svc-backup"], step{"select", "shared/alice/INBOX"}, step{"fetch", "1"})
	// Owner SELECTs are not auditable in exchange-online (FolderBind is not
	// valid for Owner).
	e.imap("alice", passwords["alice"], step{"select", "INBOX"})
	e.waitRecords("alice@example.org", match("Operation=MailboxLogin"), 2)
	for _, r := range e.search("alice@example.org") {
		if strings.Contains(fmt.Sprint(r["UserId"]), "svc-backup") {
			t.Errorf("a record of the bypassed account: %v", r)
		}
		if r.str("Operation") == "FolderBind" {
			t.Errorf("an owner FolderBind was recorded: %v", r)
		}
	}
}

// TestNoLossNoDuplicates kills the daemon in the middle of a busy session,
// rotates the log while it is down, restarts it, and checks that every
// action the client took is recorded exactly once.
func TestNoLossNoDuplicates(t *testing.T) {
	e := newEnv(t)
	e.directory()
	e.startServe()
	const rounds = 40
	var steps []step
	for i := 0; i < rounds; i++ {
		steps = append(steps, step{"append", "Drafts", fmt.Sprintf("Subject: d%d\r\nMessage-ID: <d%d@example.org>\r\n\r\nx\r\n", i, i)})
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.imap("alice", passwords["alice"], steps[:rounds/2]...)
	}()
	time.Sleep(150 * time.Millisecond)
	e.killServe()
	<-done
	// Rotate the log by rename while mailaudit is down, and go on writing.
	if err := os.Rename(e.AuditLog, e.AuditLog+".1"); err != nil {
		t.Fatal(err)
	}
	e.write("audit.log", "")
	os.Chmod(e.AuditLog, 0o666)
	if out, err := exec.Command("doveadm", "-c", e.conf, "log", "reopen").CombinedOutput(); err != nil {
		t.Fatalf("doveadm log reopen: %v: %s", err, out)
	}
	e.imap("alice", passwords["alice"], steps[rounds/2:]...)
	e.startServe()
	defer e.stopServe()
	recs := e.waitRecords("alice@example.org", match("Operation=Create"), rounds)
	seen := map[string]int{}
	for _, r := range recs {
		seen[messageIDs(r)]++
	}
	for i := 0; i < rounds; i++ {
		if id := fmt.Sprintf("<d%d@example.org>", i); seen[id] != 1 {
			t.Errorf("%s recorded %d times, want once", id, seen[id])
		}
	}
	if len(recs) != rounds {
		t.Errorf("%d Create records, want %d", len(recs), rounds)
	}
}

// TestBadLines: malformed and unknown lines in the log, and a log that does
// not exist yet, are reported and the source carries on.
func TestBadLines(t *testing.T) {
	e := newEnv(t)
	e.directory()
	os.Remove(e.AuditLog)
	e.startServe()
	defer e.stopServe()
	time.Sleep(300 * time.Millisecond)
	e.write("audit.log", "")
	os.Chmod(e.AuditLog, 0o666)
	exec.Command("doveadm", "-c", e.conf, "log", "reopen").Run()
	f, err := os.OpenFile(e.AuditLog, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, `Nov 22 10:00:00 stats: Info: {"event":"imap_command_finished","fields":{`)
	f.Close()
	e.imap("alice", passwords["alice"], step{"append", "Drafts", "Subject: after\r\nMessage-ID: <after@example.org>\r\n\r\nx\r\n"})
	e.waitRecords("alice@example.org", match("Operation=Create", "MessageId=<after@example.org>"), 1)
	log, _ := os.ReadFile(filepath.Join(e.Dir, "serve.log"))
	for _, want := range []string{"waiting for the Dovecot log", "skipping a log line"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("serve.log does not say %q:\n%s", want, log)
		}
	}
}
