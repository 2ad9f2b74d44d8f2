package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPostedEvents: Dovecot posts its events to serve's API (event_exporter
// transport = http-post, as dovecot-config --events-url prints it, with an
// ingest token as the password of basic authentication), while the mail_log
// and login lines still come through the log file; the records are those of
// the log transport, joined across the two: the right mailbox, logon type,
// actor, folder and Message-ID.
func TestPostedEvents(t *testing.T) {
	e := newEnv(t, withPostedEvents)
	e.directory()
	e.startServe()
	defer e.stopServe()
	e.deliver("alice", "INBOX", "Posted one", "<posted1@example.org>") // 2
	e.deliver("alice", "INBOX", "Posted two", "<posted2@example.org>") // 3

	res := e.imap("alice", passwords["alice"],
		step{"select", "INBOX"},
		step{"store", "2", "+FLAGS", `(\Deleted)`},
		step{"expunge"},
		step{"move", "3", "Trash"},
		step{"append", "Drafts", "Subject: posted draft\r\nMessage-ID: <posted-draft@example.org>\r\n\r\nx\r\n"},
		step{"setacl", "INBOX", "bob", "lrswite"},
	)
	wantResults(t, res, "OK", "OK", "OK", "OK", "OK", "OK")
	res = e.imap("bob", passwords["bob"],
		step{"select", "shared/alice/INBOX"},
		step{"store", "1", "+FLAGS", `(\Deleted)`},
	)
	wantResults(t, res, "OK", "OK")
	res = e.imap("alice*admin", masterPassword,
		step{"select", "INBOX"},
		step{"store", "1", "+FLAGS", `(\Flagged)`},
	)
	wantResults(t, res, "OK", "OK")

	owner := []string{"LogonType=Owner", "UserId=" + alice}
	e.expect(t, alice, "owner", owner, []mcase{
		{"SoftDelete", []string{"Operation=SoftDelete", "Folder=/Inbox", "MessageId=<posted1@example.org>"}, 1},
		{"HardDelete", []string{"Operation=HardDelete", "Folder=/Inbox", "MessageId=<posted1@example.org>"}, 1},
		{"MoveToDeletedItems", []string{"Operation=MoveToDeletedItems", "Folder=/Inbox", "DestFolder=/Trash", "MessageId=<posted2@example.org>"}, 1},
		{"Create", []string{"Operation=Create", "Folder=/Drafts", "MessageId=<posted-draft@example.org>"}, 1},
		{"UpdateFolderPermissions", []string{"Operation=UpdateFolderPermissions", "Folder=/Inbox"}, 1},
		{"MailboxLogin", []string{"Operation=MailboxLogin", "ClientIPAddress=127.0.0.1"}, 0},
	})
	e.expect(t, alice, "delegate", []string{"LogonType=Delegate", "UserId=bob@example.org"}, []mcase{
		{"SoftDelete", []string{"Operation=SoftDelete", "Folder=/Inbox", "MessageId=<q1@example.org>"}, 1},
	})
	e.expect(t, alice, "admin", []string{"LogonType=Admin", "UserId=admin"}, []mcase{
		{"Update", []string{"Operation=Update", "Folder=/Inbox", "MessageId=<q1@example.org>"}, 1},
	})

	// The posted events went through the API and its token; another token
	// or none is refused, and so is a body that is no event.
	post := func(user, pass, body string) int {
		req, _ := http.NewRequest("POST", fmt.Sprintf("http://127.0.0.1:%d/api/v1/dovecot/events", e.APIPort), strings.NewReader(body))
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post("", "", `{"event":"mail_opened"}`); got != http.StatusUnauthorized {
		t.Errorf("no credentials: %d", got)
	}
	if got := post("dovecot", "mat_"+strings.Repeat("B", 43), `{"event":"mail_opened"}`); got != http.StatusUnauthorized {
		t.Errorf("a wrong token: %d", got)
	}
	if got := post("dovecot", e.eventsToken, `{"hostname":"vm"}`); got != http.StatusBadRequest {
		t.Errorf("a body that is no event: %d", got)
	}
	// The events came over HTTP, not through the log.
	logged, _ := os.ReadFile(e.AuditLog)
	spooled, _ := os.ReadFile(filepath.Join(e.Data, "dovecot-events.log"))
	if n := strings.Count(string(logged), " stats: Info: {"); n != 0 {
		t.Errorf("the Dovecot log has %d events: they should have been posted", n)
	}
	if n := strings.Count(string(spooled), " stats: Info: {\"event\":\"imap_command_finished\""); n < 8 {
		t.Errorf("the spool has %d command events, want the 8 commands' at least:\n%s", n, spooled)
	}
	if !strings.Contains(e.serveLog(), `"reading the events Dovecot posts"`) {
		t.Errorf("serve did not say it reads the posted events:\n%s", e.serveLog())
	}
}
