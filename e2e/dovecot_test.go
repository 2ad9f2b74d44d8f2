package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
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

// match builds a predicate on records from "Field=value" pairs; Folder,
// DestFolder, MessageId and ItemId look into the folders and the items.
func match(pairs ...string) func(record) bool {
	return func(r record) bool {
		for _, p := range pairs {
			k, v, _ := strings.Cut(p, "=")
			var got string
			switch k {
			case "Folder":
				got = folderPath(r)
			case "DestFolder":
				d, _ := r["DestFolder"].(map[string]any)
				got, _ = d["Path"].(string)
			case "MessageId":
				if !strings.Contains(messageIDs(r), v) {
					return false
				}
				continue
			case "ItemId":
				if !slices.ContainsFunc(items(r), func(it map[string]any) bool { return it["Id"] == v }) {
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

// mcase is one record a step of a scenario must have made.
type mcase struct {
	name string
	want []string // match pairs, besides the logon type's
	n    int      // how many such records exactly (0: at least one)
}

// expect waits for each case's record on the mailbox, as a subtest named
// prefix/name.
func (e *env) expect(t *testing.T, mailbox, prefix string, base []string, cases []mcase) {
	t.Helper()
	for _, c := range cases {
		t.Run(prefix+"/"+c.name, func(t *testing.T) {
			e.t = t
			recs := e.waitRecords(mailbox, match(append(slices.Clone(base), c.want...)...), max(c.n, 1))
			if c.n > 0 && len(recs) != c.n {
				t.Errorf("%d records, want %d: %v", len(recs), c.n, summaries(recs))
			}
		})
	}
	e.t = t
}

// TestMapping walks the mapping table of spec/dovecot.md with real clients,
// for owner, delegate and administrator (a master-user login, and doveadm),
// and finds each action's record: every operation each logon type can be
// audited for under exchange-online, with the right mailbox, logon type,
// actor, folder and Message-ID, and Failed records of refused commands.
// What Dovecot cannot show is in docs/dovecot.md's blind spots.
func TestMapping(t *testing.T) {
	// It waits two minutes for MailItemsAccessed aggregates, as TestClients
	// does: in parallel, the wait is paid once.
	t.Parallel()
	e := newEnv(t)
	e.directory()
	// A site whose clients call the trash Papierkorb: with the list given,
	// Deleted Messages (a default) is no trash folder any more.
	e.serveArgs = []string{"--dovecot-trash-folders", "Trash,Papierkorb"}
	e.startServe()
	defer e.stopServe()
	// alice's INBOX, by UID (q1, uid 1, is newEnv's).
	for _, m := range []struct{ subject, id string }{
		{"Board minutes", "<board@example.org>"},      // 2
		{"Payroll", "<payroll@example.org>"},          // 3
		{"Lunch", "<lunch@example.org>"},              // 4
		{"Contract", "<owner-move@example.org>"},      // 5
		{"Spam", "<owner-trash@example.org>"},         // 6
		{"Old news", "<owner-delete@example.org>"},    // 7
		{"Werbung", "<owner-papierkorb@example.org>"}, // 8
		{"Newsletter", "<owner-notrash@example.org>"}, // 9
		{"Ad", "<bob-trash@example.org>"},             // 10
		{"Audit", "<admin-move@example.org>"},         // 11
		{"Evidence", "<admin-delete@example.org>"},    // 12
		{"Kept", "<admin-failed@example.org>"},        // 13
		{"Purged", "<doveadm@example.org>"},           // 14
		{"Filed", "<doveadm-move@example.org>"},       // 15
	} {
		e.deliver("alice", "INBOX", m.subject, m.id)
	}

	// The owner, with a client that says who it is.
	res := e.imap("alice", passwords["alice"],
		step{"id", "neomutt", "20220429"},
		step{"select", "INBOX"},
		step{"fetch", "2"},
		step{"search", "SUBJECT", `"Payroll"`},
		step{"store", "3", "+FLAGS", `(\Flagged)`},
		step{"append", "Drafts", "Subject: draft\r\nMessage-ID: <draft@example.org>\r\n\r\nx\r\n"},
		step{"setacl", "INBOX", "bob", "lrswite"},
		step{"setacl", "Archive", "bob", "lrswitea"},
		step{"setacl", "Trash", "bob", "lrswite"},
		step{"move", "5", "Archive"},
		step{"move", "6", "Trash"},
		step{"store", "7", "+FLAGS", `(\Deleted)`},
		step{"expunge"},
		step{"create", "Papierkorb"},
		step{"move", "8", "Papierkorb"},
		step{"create", `"Deleted Messages"`},
		step{"move", "9", `"Deleted Messages"`},
		// Refused: a folder that is not there, a search Dovecot cannot parse.
		step{"append", "Nowhere", "Subject: lost\r\nMessage-ID: <lost@example.org>\r\n\r\nx\r\n"},
		step{"search", "NOSUCHKEY", "x"},
	)
	wantResults(t, res, append(slices.Repeat([]string{"OK"}, 16), "NO", "NO")...)
	owner := []string{"LogonType=Owner", "UserId=" + alice, "MailboxOwnerUPN=" + alice}
	e.expect(t, alice, "owner", owner, []mcase{
		{"MailboxLogin", []string{"Operation=MailboxLogin", "ClientInfoString=Client=IMAP4;name=neomutt;version=20220429", "ClientIPAddress=127.0.0.1"}, 1},
		{"SearchQueryInitiated", []string{"Operation=SearchQueryInitiated", "ResultStatus=Succeeded", "Folder=/Inbox"}, 1},
		{"Update", []string{"Operation=Update", "Folder=/Inbox", "MessageId=<payroll@example.org>"}, 1},
		{"Create", []string{"Operation=Create", "Folder=/Drafts", "MessageId=<draft@example.org>"}, 1},
		{"UpdateFolderPermissions", []string{"Operation=UpdateFolderPermissions", "ResultStatus=Succeeded", "Folder=/Inbox"}, 1},
		{"Move", []string{"Operation=Move", "Folder=/Inbox", "DestFolder=/Archive", "MessageId=<owner-move@example.org>"}, 1},
		{"MoveToDeletedItems", []string{"Operation=MoveToDeletedItems", "Folder=/Inbox", "DestFolder=/Trash", "MessageId=<owner-trash@example.org>"}, 1},
		{"SoftDelete", []string{"Operation=SoftDelete", "Folder=/Inbox", "MessageId=<owner-delete@example.org>"}, 1},
		{"HardDelete", []string{"Operation=HardDelete", "Folder=/Inbox", "MessageId=<owner-delete@example.org>"}, 1},
		// serve --dovecot-trash-folders: the site's name is trash, a
		// default left out of the list is not.
		{"MoveToDeletedItems/trash_folders", []string{"Operation=MoveToDeletedItems", "DestFolder=/Papierkorb", "MessageId=<owner-papierkorb@example.org>"}, 1},
		{"Move/not in trash_folders", []string{"Operation=Move", "DestFolder=/Deleted Messages", "MessageId=<owner-notrash@example.org>"}, 1},
		{"Create/Failed", []string{"Operation=Create", "ResultStatus=Failed", "Folder=/Nowhere"}, 1},
		{"SearchQueryInitiated/Failed", []string{"Operation=SearchQueryInitiated", "ResultStatus=Failed", "Folder=/Inbox"}, 1},
	})

	// The delegate, through the shared namespace: a folder that is not
	// there (a failed command), then reads, moves, deletes, flags, writes,
	// shares, and what alice did not allow him.
	res = e.imap("bob", passwords["bob"],
		step{"select", "shared/alice/Secret"},
		step{"select", "shared/alice/INBOX"},
		step{"fetch", "1"},
		step{"move", "1", "shared/alice/Archive"},
		step{"store", "2", "+FLAGS", `(\Deleted)`},
		step{"expunge"},
		step{"store", "4", "+FLAGS", `(\Flagged)`},
		step{"move", "10", "shared/alice/Trash"},
		step{"append", "shared/alice/INBOX", "Subject: by bob\r\nMessage-ID: <bob-append@example.org>\r\n\r\nx\r\n"},
		step{"setacl", "shared/alice/Archive", "carol", "lr"},
		// Refused: no administer right on the INBOX; a STORE Dovecot
		// cannot parse (its event names no folder: the selected one's).
		step{"setacl", "shared/alice/INBOX", "carol", "lr"},
		step{"store", "4", "+FLAGS", `(\Seen`},
	)
	wantResults(t, res, "NO", "OK", "OK", "OK", "OK", "OK", "OK", "OK", "OK", "OK", "NO", "NO")
	bobD := []string{"LogonType=Delegate", "UserId=" + bob, "MailboxOwnerUPN=" + alice}
	e.expect(t, alice, "delegate", bobD, []mcase{
		{"FolderBind/Failed", []string{"Operation=FolderBind", "ResultStatus=Failed", "Folder=/Secret"}, 1},
		{"FolderBind", []string{"Operation=FolderBind", "ResultStatus=Succeeded", "Folder=/Inbox"}, 1},
		{"Move", []string{"Operation=Move", "Folder=/Inbox", "DestFolder=/Archive", "MessageId=<q1@example.org>"}, 1},
		{"SoftDelete", []string{"Operation=SoftDelete", "Folder=/Inbox", "MessageId=<board@example.org>"}, 1},
		{"HardDelete", []string{"Operation=HardDelete", "Folder=/Inbox", "MessageId=<board@example.org>"}, 1},
		{"Update", []string{"Operation=Update", "ResultStatus=Succeeded", "Folder=/Inbox", "MessageId=<lunch@example.org>"}, 1},
		{"MoveToDeletedItems", []string{"Operation=MoveToDeletedItems", "Folder=/Inbox", "DestFolder=/Trash", "MessageId=<bob-trash@example.org>"}, 1},
		{"Create", []string{"Operation=Create", "Folder=/Inbox", "MessageId=<bob-append@example.org>"}, 1},
		{"UpdateFolderPermissions", []string{"Operation=UpdateFolderPermissions", "ResultStatus=Succeeded", "Folder=/Archive"}, 1},
		{"UpdateFolderPermissions/Failed", []string{"Operation=UpdateFolderPermissions", "ResultStatus=Failed", "Folder=/Inbox"}, 1},
		{"Update/Failed", []string{"Operation=Update", "ResultStatus=Failed", "Folder=/Inbox"}, 1},
	})

	// An administrator, through a master-user login, reads, copies, moves,
	// flags, deletes, writes and shares; and a move to a folder that is
	// not there.
	res = e.imap("alice*admin", masterPassword,
		step{"select", "INBOX"},
		step{"fetch", "3"},
		step{"copy", "3", "Archive"},
		step{"move", "3", "Trash"},
		step{"move", "11", "Archive"},
		step{"store", "12", "+FLAGS", `(\Flagged)`},
		step{"store", "12", "+FLAGS", `(\Deleted)`},
		step{"expunge"},
		step{"append", "Drafts", "Subject: by admin\r\nMessage-ID: <admin-append@example.org>\r\n\r\nx\r\n"},
		step{"setacl", "Archive", "carol", "lrs"},
		step{"move", "13", "Nowhere"},
	)
	wantResults(t, res, "OK", "OK", "OK", "OK", "OK", "OK", "OK", "OK", "OK", "OK", "NO")
	admin := []string{"LogonType=Admin", "UserId=admin", "MailboxOwnerUPN=" + alice}
	e.expect(t, alice, "admin", admin, []mcase{
		{"FolderBind", []string{"Operation=FolderBind", "Folder=/Inbox"}, 1},
		{"Copy", []string{"Operation=Copy", "Folder=/Inbox", "DestFolder=/Archive", "MessageId=<payroll@example.org>"}, 1},
		{"MoveToDeletedItems", []string{"Operation=MoveToDeletedItems", "Folder=/Inbox", "DestFolder=/Trash", "MessageId=<payroll@example.org>"}, 1},
		{"Move", []string{"Operation=Move", "ResultStatus=Succeeded", "Folder=/Inbox", "DestFolder=/Archive", "MessageId=<admin-move@example.org>"}, 1},
		{"Update", []string{"Operation=Update", "Folder=/Inbox", "MessageId=<admin-delete@example.org>"}, 1},
		{"SoftDelete", []string{"Operation=SoftDelete", "Folder=/Inbox", "MessageId=<admin-delete@example.org>"}, 1},
		{"HardDelete", []string{"Operation=HardDelete", "Folder=/Inbox", "MessageId=<admin-delete@example.org>"}, 1},
		{"Create", []string{"Operation=Create", "Folder=/Drafts", "MessageId=<admin-append@example.org>"}, 1},
		{"UpdateFolderPermissions", []string{"Operation=UpdateFolderPermissions", "Folder=/Archive"}, 1},
		{"Move/Failed", []string{"Operation=Move", "ResultStatus=Failed", "Folder=/Inbox", "DestFolder=/Nowhere"}, 1},
	})

	// doveadm, run as root on the server, reads and purges a message, and
	// moves one. Dovecot's events of doveadm name the message by folder and
	// UID only, and a move's destination not at all.
	e.doveadm("fetch", "-u", "alice", "text", "mailbox", "INBOX", "uid", "14")
	e.doveadm("expunge", "-u", "alice", "mailbox", "INBOX", "uid", "14")
	e.doveadm("move", "-u", "alice", "Archive", "mailbox", "INBOX", "uid", "15")
	doveadm := []string{"LogonType=Admin", "UserId=doveadm", "MailboxOwnerUPN=" + alice}
	e.expect(t, alice, "doveadm", doveadm, []mcase{
		{"HardDelete", []string{"Operation=HardDelete", "Folder=/Inbox", "ItemId=INBOX:14"}, 1},
		{"Move", []string{"Operation=Move", "Folder=/Inbox", "ItemId=INBOX:15"}, 1},
	})

	// Inbox rules over ManageSieve: saving a script and activating it, a
	// script that does not compile, and the administrator through a
	// master-user login.
	if res := e.sieve("alice", passwords["alice"], step{"put", "forward", `redirect "x@evil.example";`}, step{"activate", "forward"}, step{"put", "broken", "this is not sieve"}); res[2][1] != "NO" {
		t.Fatalf("a script that does not compile was taken: %v", res)
	}
	e.sieve("alice*admin", masterPassword, step{"put", "legal-hold", "keep;"}, step{"activate", "legal-hold"})
	e.expect(t, alice, "owner", owner, []mcase{
		{"UpdateInboxRules", []string{"Operation=UpdateInboxRules", "ResultStatus=Succeeded"}, 2},
		{"UpdateInboxRules/Failed", []string{"Operation=UpdateInboxRules", "ResultStatus=Failed"}, 1},
	})
	e.expect(t, alice, "admin", admin, []mcase{
		{"UpdateInboxRules", []string{"Operation=UpdateInboxRules", "ResultStatus=Succeeded"}, 2},
	})

	// Reads are aggregated over two minutes (as in Exchange) before they are
	// recorded: look for them last. Dovecot's read event names the message
	// by folder and UID only.
	e.waitRecordsFor(3*time.Minute, alice, match(append(slices.Clone(doveadm), "Operation=MailItemsAccessed", "Folder=/Inbox", "ItemId=INBOX:14")...), 1)
	e.expect(t, alice, "reads", nil, []mcase{
		{"owner/MailItemsAccessed", append(slices.Clone(owner), "Operation=MailItemsAccessed", "Folder=/Inbox", "ItemId=INBOX:2"), 1},
		{"delegate/MailItemsAccessed", append(slices.Clone(bobD), "Operation=MailItemsAccessed", "Folder=/Inbox", "ItemId=INBOX:1"), 1},
		{"admin/MailItemsAccessed", append(slices.Clone(admin), "Operation=MailItemsAccessed", "Folder=/Inbox", "ItemId=INBOX:3"), 1},
		{"doveadm/MailItemsAccessed", append(slices.Clone(doveadm), "Operation=MailItemsAccessed", "Folder=/Inbox", "ItemId=INBOX:14"), 1},
	})

	// Nothing of all this landed on the actors' own mailboxes: bob's has
	// his login only, carol (a member in ACLs) has none.
	for mbx, want := range map[string][]string{bob: {"MailboxLogin Owner bob@example.org"}, carol: nil} {
		if got := summaries(e.search(mbx)); !slices.Equal(got, want) {
			t.Errorf("records of %s: %q, want %q", mbx, got, want)
		}
	}
}

// wantResults checks the result (OK, NO) of each client step.
func wantResults(t *testing.T, res [][]string, want ...string) {
	t.Helper()
	var got []string
	for _, r := range res {
		if r[0] != "id" {
			got = append(got, r[1])
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("the client's results %v, want %v:\n%v", got, want, res)
	}
}

// doveadm runs doveadm on the test Dovecot, as an administrator on the
// server does.
func (e *env) doveadm(args ...string) string {
	e.t.Helper()
	out, err := exec.Command("doveadm", append([]string{"-c", e.conf}, args...)...).CombinedOutput()
	if err != nil {
		e.t.Fatalf("doveadm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestNotAudited: what policy says not to record leaves no record, side by
// side with a control that policy says to record, and absence is checked only
// once a later record (a sentinel) is searchable, so that a record still on
// its way cannot pass for one not made. First a bypassed account and a
// delegate delete a message each in alice's INBOX (SoftDelete, audited for
// delegates by default); then, under exchange-2019 (auditing off unless a
// mailbox's AuditEnabled), the same delegate deletes in an audited mailbox
// and in one that is not, the owner deletes (no owner default there), the
// delegate moves (valid, not a default), and an administrator reads, which
// that profile records as MessageBind, one record per message.
func TestNotAudited(t *testing.T) {
	e := newEnv(t)
	for _, u := range []string{"alice", "bob", "carol"} {
		e.mailaudit("new-mailbox", u+"@example.org")
	}
	e.mailaudit("set-mailbox-audit-bypass-association", "svc-backup", "--audit-bypass-enabled=true")
	token := strings.TrimSpace(e.mailaudit("new-api-token", "e2e-metrics", "--role", "auditor"))
	// alice's INBOX, by UID (q1, uid 1, is newEnv's); carol's.
	for _, m := range []struct{ user, id string }{
		{"alice", "<backup-deletes@example.org>"}, // 2
		{"alice", "<bob-deletes@example.org>"},    // 3
		{"alice", "<sentinel-1@example.org>"},     // 4
		{"alice", "<bob-deletes-2@example.org>"},  // 5
		{"alice", "<alice-deletes@example.org>"},  // 6
		{"alice", "<bob-moves@example.org>"},      // 7
		{"alice", "<read-1@example.org>"},         // 8
		{"alice", "<read-2@example.org>"},         // 9
		{"alice", "<sentinel-2@example.org>"},     // 10
		{"carol", "<bob-deletes-carol@example.org>"},
	} {
		e.deliver(m.user, "INBOX", "Message "+m.id, m.id)
	}
	e.startServe()
	e.imap("alice", passwords["alice"], step{"setacl", "INBOX", "svc-backup", "lrswite"}, step{"setacl", "INBOX", "bob", "lrswite"})
	del := func(login, password, folder, uid string) {
		e.t.Helper()
		wantResults(t, e.imap(login, password, step{"select", folder}, step{"store", uid, "+FLAGS", `(\Deleted)`}), "OK", "OK")
	}
	softDelete := func(actor, msgid string) func(record) bool {
		return match("Operation=SoftDelete", "UserId="+actor, "MessageId="+msgid)
	}

	t.Run("bypass", func(t *testing.T) {
		e.t = t
		del("svc-backup", passwords["svc-backup"], "shared/alice/INBOX", "2")
		del("bob", passwords["bob"], "shared/alice/INBOX", "3")
		del("bob", passwords["bob"], "shared/alice/INBOX", "4")
		e.waitRecords(alice, softDelete(bob, "<sentinel-1@example.org>"), 1)
		recs := e.search(alice)
		if n := countMatching(recs, softDelete(bob, "<bob-deletes@example.org>")); n != 1 {
			t.Errorf("the control delegate's SoftDelete: %d records, want 1", n)
		}
		for _, r := range recs {
			if strings.Contains(fmt.Sprint(r["UserId"]), "svc-backup") || strings.Contains(messageIDs(r), "backup-deletes") {
				t.Errorf("a record of the bypassed account: %s", summary(r))
			}
		}
		// Its activity did reach the engine, which left it out for the
		// bypass: its login, its SELECT and its STORE.
		if n := e.metric(token, "mailaudit_activity_not_audited_total", `reason="actor bypassed"`); n != 3 {
			t.Errorf("%v activities not audited for the bypass, want 3 (login, SELECT, STORE)", n)
		}
	})
	e.t = t

	// exchange-2019: only alice's mailbox is audited, her administrators'
	// lists with MessageBind.
	e.stopServe()
	e.mailaudit("set-organization-config", "--audit-profile", "exchange-2019")
	e.mailaudit("set-mailbox", "alice", "--audit-enabled=true", "--audit-admin-add", "MessageBind")
	e.startServe()
	defer e.stopServe()
	t.Run("exchange-2019", func(t *testing.T) {
		e.t = t
		// Not recorded either: carol's mailbox is not AuditEnabled.
		e.imap("carol", passwords["carol"], step{"setacl", "INBOX", "bob", "lrswite"})
		del("bob", passwords["bob"], "shared/alice/INBOX", "5")
		del("bob", passwords["bob"], "shared/carol/INBOX", "1")
		del("alice", passwords["alice"], "INBOX", "6")
		wantResults(t, e.imap("bob", passwords["bob"], step{"select", "shared/alice/INBOX"}, step{"move", "7", "shared/alice/INBOX"}), "OK", "OK")
		wantResults(t, e.imap("alice*admin", masterPassword, step{"select", "INBOX"}, step{"fetch", "8:9"}), "OK", "OK")
		del("bob", passwords["bob"], "shared/alice/INBOX", "10")
		e.waitRecords(alice, softDelete(bob, "<sentinel-2@example.org>"), 1)
		recs := e.search(alice)
		for _, c := range []struct {
			what string
			want func(record) bool
			n    int
		}{
			{"the delegate's SoftDelete in the audited mailbox", softDelete(bob, "<bob-deletes-2@example.org>"), 1},
			{"the owner's SoftDelete (no owner default in exchange-2019)", softDelete(alice, "<alice-deletes@example.org>"), 0},
			{"the delegate's Move (valid, not a default)", match("Operation=Move", "UserId="+bob), 0},
			{"the administrator's read of message 8, as MessageBind", match("Operation=MessageBind", "LogonType=Admin", "UserId=admin", "Folder=/Inbox", "ItemId=INBOX:8"), 1},
			{"the administrator's read of message 9, as MessageBind", match("Operation=MessageBind", "LogonType=Admin", "UserId=admin", "Folder=/Inbox", "ItemId=INBOX:9"), 1},
			{"a MailItemsAccessed record (not in exchange-2019)", match("Operation=MailItemsAccessed"), 0},
		} {
			if n := countMatching(recs, c.want); n != c.n {
				t.Errorf("%s: %d records, want %d", c.what, n, c.n)
			}
		}
		for _, r := range recs {
			if r.str("Operation") == "MessageBind" && len(items(r)) != 1 {
				t.Errorf("a MessageBind record of %d messages, want one each: %s", len(items(r)), summary(r))
			}
		}
		if got := summaries(e.search(carol)); len(got) != 0 {
			t.Errorf("carol's mailbox is not AuditEnabled, and has records: %q", got)
		}
	})
	e.t = t
}

func countMatching(recs []record, want func(record) bool) int {
	n := 0
	for _, r := range recs {
		if want(r) {
			n++
		}
	}
	return n
}

// metric is the sum of a metric's samples whose labels hold every one of
// labels, as the daemon's /metrics says it (with an auditor's token).
func (e *env) metric(token, name string, labels ...string) float64 {
	e.t.Helper()
	log, _ := os.ReadFile(filepath.Join(e.Dir, "serve.log"))
	var addr string
	for _, line := range strings.Split(string(log), "\n") {
		var l struct {
			Msg    string
			Listen []string
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "mailaudit serving" && len(l.Listen) > 0 {
			addr = l.Listen[0]
		}
	}
	if addr == "" {
		e.t.Fatalf("serve.log does not say where the daemon listens:\n%s", log)
	}
	req, _ := http.NewRequest("GET", "http://"+addr+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET /metrics: %s: %s", resp.Status, body)
	}
	var sum float64
	for _, line := range strings.Split(string(body), "\n") {
		// Label values hold spaces: the value is after the last one.
		i := strings.LastIndexByte(line, ' ')
		if i < 0 || !strings.HasPrefix(line, name+"{") {
			continue
		}
		sample, value := line[:i], line[i+1:]
		held := true
		for _, l := range labels {
			held = held && strings.Contains(sample, l)
		}
		if v, err := strconv.ParseFloat(value, 64); held && err == nil {
			sum += v
		}
	}
	return sum
}

// TestNoLossNoDuplicates: an owner and an administrator (a master-user
// login) work in alice's INBOX in two long sessions: APPEND, MOVE, STORE
// \Deleted and EXPUNGE, STORE of a flag, COPY. The daemon is killed
// (SIGKILL) twice, each time once some of their records are searchable and
// while the sessions go on; while it is down the sessions go on, and the log
// is rotated: by rename the first time, copied and truncated in place (as
// logrotate's copytruncate) the second, and written again past the position
// the daemon had reached. The sessions outlive both kills. In the end every
// action the clients took is recorded exactly once, the administrator's as
// Admin, and nothing else is.
func TestNoLossNoDuplicates(t *testing.T) {
	e := newEnv(t)
	e.directory()
	// alice's INBOX: messages m0… at UID 2… (q1 is UID 1).
	const messages = 200
	for i := range messages {
		e.deliver("alice", "INBOX", fmt.Sprintf("m%d", i), fmt.Sprintf("<m%d@example.org>", i))
	}
	e.startServe()
	defer e.stopServe()
	owner := e.openIMAP("alice", passwords["alice"])
	admin := e.openIMAP("alice*admin", masterPassword)
	defer owner.close()
	defer admin.close()

	// want counts the records the clients' actions must make, by summary.
	want := map[string]int{}
	msg := func(i int) (uid, id string) { return strconv.Itoa(i + 2), fmt.Sprintf("<m%d@example.org>", i) }
	ownerRec := func(op, id string) string { return op + " Owner " + alice + " " + id }
	adminRec := func(op, id string) string { return op + " Admin admin " + id }
	do := func(s *imapSession, st step, records ...string) {
		if res := s.do(st); res[1] != "OK" {
			t.Errorf("%s %v: %v", s.login, st, res)
			return
		}
		for _, r := range records {
			want[r]++
		}
	}
	do(owner, step{"select", "INBOX"}, ownerRec("MailboxLogin", ""))
	do(admin, step{"select", "INBOX"}, adminRec("FolderBind", ""))
	next, rounds := 0, 0
	// round is one round of both clients' work on four messages.
	round := func() bool {
		if next+4 > messages {
			t.Errorf("the test ran out of messages after %d rounds", rounds)
			return false
		}
		draft := fmt.Sprintf("<draft%d@example.org>", rounds)
		do(owner, step{"append", "Drafts", "Subject: draft\r\nMessage-ID: " + draft + "\r\n\r\nx\r\n"}, ownerRec("Create", draft))
		uid, id := msg(next)
		do(owner, step{"move", uid, "Archive"}, ownerRec("Move", id))
		uid, id = msg(next + 1)
		do(owner, step{"store", uid, "+FLAGS", `(\Deleted)`}, ownerRec("SoftDelete", id))
		do(owner, step{"expunge"}, ownerRec("HardDelete", id))
		uid, id = msg(next + 2)
		do(admin, step{"store", uid, "+FLAGS", `(\Flagged)`}, adminRec("Update", id))
		do(admin, step{"move", uid, "Archive"}, adminRec("Move", id))
		uid, id = msg(next + 3)
		do(admin, step{"copy", uid, "Archive"}, adminRec("Copy", id))
		next += 4
		rounds++
		return true
	}
	// busy runs rounds until stopped; stop returns once the round in
	// flight is done, and reports whether the clients were still busy.
	busy := func() (stop func() bool) {
		quit, done := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-quit:
					return
				default:
				}
				if !round() {
					return
				}
			}
		}()
		return func() bool {
			select {
			case <-done:
				return false
			default:
			}
			close(quit)
			<-done
			return true
		}
	}
	creates := func() int {
		return countMatching(e.search(alice), match("Operation=Create"))
	}
	// killBusy waits until the daemon has caught up with the clients, lets
	// them work, and kills it once it has recorded some of that work while
	// they go on.
	killBusy := func() {
		t.Helper()
		caughtUp := 0
		for k, n := range want {
			if strings.HasPrefix(k, "Create ") {
				caughtUp += n
			}
		}
		e.waitRecords(alice, match("Operation=Create"), caughtUp)
		stop := busy()
		for deadline := time.Now().Add(20 * time.Second); creates() < caughtUp+2; {
			if time.Now().After(deadline) {
				stop()
				t.Fatalf("no records of the busy sessions:\n%s", e.serveLog())
			}
			time.Sleep(20 * time.Millisecond)
		}
		e.killServe()
		if !stop() {
			t.Fatalf("the clients had stopped before the kill (out of messages after %d rounds?)", rounds)
		}
	}

	// Kill 1; down: rounds, and two rotations by rename as logrotate makes
	// them with compress and delaycompress, each followed by rounds: the
	// file the daemon was in is compressed at the second.
	killBusy()
	t.Logf("killed after %d rounds", rounds)
	round()
	rotate := func() {
		t.Helper()
		older := false
		if _, err := os.Stat(e.AuditLog + ".1"); err == nil {
			if err := os.Rename(e.AuditLog+".1", e.AuditLog+".2"); err != nil {
				t.Fatal(err)
			}
			older = true
		}
		if err := os.Rename(e.AuditLog, e.AuditLog+".1"); err != nil {
			t.Fatal(err)
		}
		e.write("audit.log", "")
		os.Chmod(e.AuditLog, 0o666)
		e.doveadm("log", "reopen")
		if older {
			if out, err := exec.Command("gzip", e.AuditLog+".2").CombinedOutput(); err != nil {
				t.Fatalf("gzip: %v: %s", err, out)
			}
		}
	}
	rotate()
	round()
	rotate()
	round()
	e.startServe()

	// Kill 2; down: a round, copy and truncation in place, and the
	// owner's APPENDs until the log is longer again than where the daemon
	// was.
	killBusy()
	t.Logf("killed again after %d rounds", rounds)
	round()
	at := e.quietLogSize()
	copyTruncate(t, e.AuditLog, e.AuditLog+"-copy")
	for i := 0; e.logSize() <= at; i++ {
		draft := fmt.Sprintf("<regrow%d@example.org>", i)
		do(owner, step{"append", "Drafts", "Subject: again\r\nMessage-ID: " + draft + "\r\n\r\nx\r\n"}, ownerRec("Create", draft))
	}
	e.startServe()
	round()
	round()
	owner.close()
	admin.close()
	if t.Failed() {
		t.FailNow()
	}

	total := 0
	for _, n := range want {
		total += n
	}
	// Wait for all of it, but not fatally: the comparison below names
	// what is missing or doubled, which a bare count would not.
	for deadline := time.Now().Add(time.Minute); len(e.search(alice)) < total && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
	}
	// A sentinel after all of it: whatever was to come has come.
	e.imap("alice", passwords["alice"], step{"append", "Drafts", "Subject: last\r\nMessage-ID: <sentinel@example.org>\r\n\r\nx\r\n"})
	e.waitRecords(alice, match("Operation=Create", "MessageId=<sentinel@example.org>"), 1)
	got := map[string]int{}
	for _, r := range e.search(alice) {
		if messageIDs(r) == "<sentinel@example.org>" {
			continue
		}
		lt, _ := r["LogonType"].(float64)
		got[r.str("Operation")+" "+map[float64]string{0: "Owner", 1: "Admin", 2: "Delegate"}[lt]+" "+r.str("UserId")+" "+messageIDs(r)]++
	}
	// The sentinel's session logged in too.
	want[ownerRec("MailboxLogin", "")]++
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: recorded %d times, want %d", k, got[k], n)
		}
	}
	for k, n := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: recorded %d times, and no client did it", k, n)
		}
	}
	t.Logf("%d rounds of 7 actions in two sessions across two kills, two rotations (one compressing) and a copytruncate: %d records", rounds, total)
}

// copyTruncate does what logrotate's copytruncate does: copy the log, then
// truncate it in place.
func copyTruncate(t *testing.T, log, to string) {
	t.Helper()
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(log, 0); err != nil {
		t.Fatal(err)
	}
}

// quietLogSize waits until Dovecot has written what it was writing into the
// audit log (its events come through the stats process, after the command's
// reply) and returns the log's size.
func (e *env) quietLogSize() int64 {
	e.t.Helper()
	size := int64(-1)
	for {
		st, err := os.Stat(e.AuditLog)
		if err != nil {
			e.t.Fatal(err)
		}
		if st.Size() == size {
			return size
		}
		size = st.Size()
		time.Sleep(300 * time.Millisecond)
	}
}

func (e *env) logSize() int64 {
	e.t.Helper()
	st, err := os.Stat(e.AuditLog)
	if err != nil {
		e.t.Fatal(err)
	}
	return st.Size()
}

func (e *env) serveLog() string {
	log, _ := os.ReadFile(filepath.Join(e.Dir, "serve.log"))
	return string(log)
}

// imapSession is an IMAP session the test drives step by step
// (testdata/imap.py --session).
type imapSession struct {
	e     *env
	login string
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Scanner
	done  bool
}

func (e *env) openIMAP(login, password string) *imapSession {
	e.t.Helper()
	cmd := exec.Command("python3", "testdata/imap.py", "127.0.0.1", strconv.Itoa(e.IMAPPort), login, password, "--session")
	in, err := cmd.StdinPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	cmd.Stderr = e.logFile("imap-session.stderr")
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	return &imapSession{e: e, login: login, cmd: cmd, in: in, out: bufio.NewScanner(out)}
}

// do runs one step and returns its result ([verb, OK|NO, reply, time]); a
// session that broke answers NO.
func (s *imapSession) do(st step) []string {
	line, _ := json.Marshal(st)
	if _, err := s.in.Write(append(line, '\n')); err != nil {
		return []string{st[0], "NO", "the session is gone: " + err.Error(), ""}
	}
	if !s.out.Scan() {
		return []string{st[0], "NO", "the session is gone", ""}
	}
	var res []string
	if err := json.Unmarshal(s.out.Bytes(), &res); err != nil || len(res) < 2 {
		return []string{st[0], "NO", "bad answer: " + s.out.Text(), ""}
	}
	return res
}

// close logs out and waits for the client to end.
func (s *imapSession) close() {
	if s.done {
		return
	}
	s.done = true
	s.in.Close()
	if err := s.cmd.Wait(); err != nil {
		s.e.t.Errorf("imap.py --session as %s: %v", s.login, err)
	}
}

// TestBadLines: a log that does not exist yet, malformed lines, events of
// names mailaudit does not use and a log that goes missing while the daemon
// runs are each said (the unknown names once each, and counted) and the
// source carries on.
func TestBadLines(t *testing.T) {
	e := newEnv(t)
	e.directory()
	token := strings.TrimSpace(e.mailaudit("new-api-token", "e2e-metrics", "--role", "auditor"))
	os.Remove(e.AuditLog)
	e.startServe()
	defer e.stopServe()
	e.waitLog("waiting for the Dovecot log", 1)
	e.write("audit.log", "")
	os.Chmod(e.AuditLog, 0o666)
	e.doveadm("log", "reopen")
	appendLine := func(line string) {
		f, err := os.OpenFile(e.AuditLog, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		fmt.Fprintln(f, line)
	}
	now := func() string { return time.Now().UTC().Format("2006-01-02T15:04:05.000000-0700") }
	appendLine(`Nov 22 10:00:00 stats: Info: {"event":"imap_command_finished","fields":{`)
	// Pigeonhole's own event, and one no Dovecot 2.3 has (as an upgrade
	// could bring).
	for _, name := range []string{"sieve_script_activated", "mail_metadata_accessed", "sieve_script_activated"} {
		appendLine(now() + ` stats: Info: {"event":"` + name + `","hostname":"vm","fields":{"user":"alice","session":"x"}}`)
	}
	create := func(id string) {
		e.t.Helper()
		e.imap("alice", passwords["alice"], step{"append", "Drafts", "Subject: " + id + "\r\nMessage-ID: " + id + "\r\n\r\nx\r\n"})
	}
	create("<after@example.org>")
	e.waitRecords(alice, match("Operation=Create", "MessageId=<after@example.org>"), 1)
	for _, want := range []string{"waiting for the Dovecot log", "skipping a log line"} {
		e.waitLog(want, 1)
	}
	for _, c := range []struct {
		name string
		n    float64
	}{{"sieve_script_activated", 2}, {"mail_metadata_accessed", 1}} {
		if got := e.waitLog(`"event":"`+c.name+`"`, 1); got != 1 {
			t.Errorf("serve.log names the unknown event %s %d times, want once", c.name, got)
		}
		if got := e.metric(token, "mailaudit_source_unknown_events_total", `event="`+c.name+`"`); got != c.n {
			t.Errorf("mailaudit_source_unknown_events_total{event=%q} = %v, want %v", c.name, got, c.n)
		}
	}

	// The log goes (renamed, and Dovecot not told): Dovecot writes on into
	// the renamed file, which the daemon reads on; it says once that the log
	// is missing, and once that it is back.
	if err := os.Rename(e.AuditLog, e.AuditLog+".1"); err != nil {
		t.Fatal(err)
	}
	e.waitLog("the Dovecot log is missing", 1)
	create("<while-missing@example.org>")
	e.waitRecords(alice, match("Operation=Create", "MessageId=<while-missing@example.org>"), 1)
	e.write("audit.log", "")
	os.Chmod(e.AuditLog, 0o666)
	e.doveadm("log", "reopen")
	e.waitLog("the Dovecot log is back", 1)
	create("<back@example.org>")
	e.waitRecords(alice, match("Operation=Create", "MessageId=<back@example.org>"), 1)
	for _, msg := range []string{"the Dovecot log is missing", "the Dovecot log is back"} {
		if got := e.waitLog(msg, 1); got != 1 {
			t.Errorf("serve.log says %q %d times, want once", msg, got)
		}
	}
}

// waitLog waits until serve.log holds s at least n times, and returns how
// many times it does.
func (e *env) waitLog(s string, n int) int {
	e.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; {
		log, _ := os.ReadFile(filepath.Join(e.Dir, "serve.log"))
		if got := strings.Count(string(log), s); got >= n || time.Now().After(deadline) {
			if got < n {
				e.t.Fatalf("serve.log says %q %d times, want %d:\n%s", s, got, n, log)
			}
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}
