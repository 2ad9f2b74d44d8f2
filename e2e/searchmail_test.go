package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// relay is a real Postfix, started in a directory of the test's, relaying
// mail for example.org into the test Dovecot over LMTP.
type relay struct {
	dir  string
	Port int
}

const postfixMaster = `{{.Port}}      inet n - n - - smtpd
pickup    unix n - n 60 1 pickup
cleanup   unix n - n - 0 cleanup
qmgr      unix n - n 300 1 qmgr
rewrite   unix - - n - - trivial-rewrite
bounce    unix - - n - 0 bounce
defer     unix - - n - 0 bounce
trace     unix - - n - 0 bounce
verify    unix - - n - 1 verify
flush     unix n - n 1000? 0 flush
proxymap  unix - - n - - proxymap
smtp      unix - - n - - smtp
relay     unix - - n - - smtp
showq     unix n - n - - showq
error     unix - - n - - error
retry     unix - - n - - error
discard   unix - - n - - discard
lmtp      unix - - n - - lmtp
anvil     unix - - n - 1 anvil
scache    unix - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
`

// startRelay starts Postfix on 127.0.0.1:port, delivering to lmtpPort.
func startRelay(t *testing.T, base string, lmtpPort int) *relay {
	t.Helper()
	if _, err := exec.LookPath("postfix"); err != nil {
		t.Skip("postfix is not installed: run scripts/test-deps")
	}
	r := &relay{dir: filepath.Join(base, "postfix"), Port: freePort(t)}
	for _, d := range []string{"conf", "queue", "data"} {
		if err := os.MkdirAll(filepath.Join(r.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Postfix keeps its locks and caches as its own user.
	if err := exec.Command("chown", "postfix", filepath.Join(r.dir, "data")).Run(); err != nil {
		t.Fatal(err)
	}
	main := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %[1]s/queue
data_directory = %[1]s/data
mail_owner = postfix
setgid_group = postdrop
myhostname = relay.example.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
virtual_mailbox_domains = example.org
virtual_transport = lmtp:inet:127.0.0.1:%[2]d
maillog_file = %[1]s/postfix.log
maillog_file_prefixes = %[1]s
alias_maps =
alias_database =
local_recipient_maps =
message_size_limit = 52428800
biff = no
`, r.dir, lmtpPort)
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(r.dir, "conf", name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("main.cf", main)
	write("master.cf", strings.Replace(postfixMaster, "{{.Port}}", "127.0.0.1:"+strconv.Itoa(r.Port), 1))
	if out, err := exec.Command("postfix", "-c", filepath.Join(r.dir, "conf"), "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(r.dir, "postfix.log"))
		t.Fatalf("postfix start: %v\n%s\n%s", err, out, log)
	}
	t.Cleanup(func() { exec.Command("postfix", "-c", filepath.Join(r.dir, "conf"), "stop").Run() })
	(&env{t: t}).waitPort(r.Port)
	return r
}

func (r *relay) log() string {
	b, _ := os.ReadFile(filepath.Join(r.dir, "postfix.log"))
	return string(b)
}

// TestMailedSearch: a background search's result goes from the daemon
// through a real Postfix into a real Dovecot mailbox, where the recipient
// reads it over IMAP; its SearchResult.xml holds exactly what a direct search
// returns. A relay that is down at first only delays it.
func TestMailedSearch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withLMTP)
	e.directory()
	r := startRelay(t, e.Dir, e.LMTPPort)

	// Activity to find: bob, a delegate, deletes in alice's INBOX; the master
	// user reads it.
	e.deliver("alice", "INBOX", "Merger plans", "<merger@example.org>")
	e.deliver("alice", "INBOX", "Salary review", "<salary@example.org>")
	e.imap("alice", passwords["alice"], step{"setacl", "INBOX", "bob", "lrswite"})

	// The daemon first points at a port where no relay listens: delivery
	// fails and is retried.
	api := freePort(t)
	down := freePort(t)
	conf := func(relayPort int) string {
		return e.write("mailaudit.toml", fmt.Sprintf(`data = %q
seal_interval = "1s"
[log]
format = "text"
[[listen]]
address = "127.0.0.1:%d"
[smtp]
relay = "127.0.0.1:%d"
from = "mailaudit@example.org"
[[dovecot]]
log = %q
`, e.Data, api, relayPort, e.AuditLog))
	}
	auditor := strings.TrimSpace(e.mailaudit("new-api-token", "legal", "--role", "auditor"))
	serve := func(cfg string) *exec.Cmd {
		cmd := exec.Command(binary, "serve", "--config", cfg)
		cmd.Stdout, cmd.Stderr = e.logFile("serve.log"), e.logFile("serve.log")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		e.waitPort(api)
		return cmd
	}
	daemon := serve(conf(down))
	e.imap("bob", passwords["bob"],
		step{"select", "shared/alice/INBOX"},
		step{"store", "2", "+FLAGS", `(\Deleted)`},
		step{"expunge"},
	)
	e.imap("alice*admin", masterPassword, step{"select", "INBOX"}, step{"fetch", "1"})
	alice := "alice@example.org"
	e.waitRecords(alice, match("Operation=HardDelete", "LogonType=Delegate", "MessageId=<merger@example.org>"), 1)

	remote := func(args ...string) (string, string, error) {
		cmd := exec.Command(binary, args...)
		cmd.Env = append(os.Environ(), "MAILAUDIT_SERVER=http://127.0.0.1:"+strconv.Itoa(api), "MAILAUDIT_TOKEN="+auditor)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		return out.String(), errOut.String(), err
	}
	// MailItemsAccessed aggregates are left out: one sealed between the two
	// searches would make them differ.
	const ops = "HardDelete,FolderBind"
	start := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	end := time.Now().UTC().Add(time.Hour).Format(time.RFC3339)
	out, errOut, err := remote("new-mailbox-audit-log-search", "--name", "Non-owner access to alice", "--mailboxes", "alice",
		"--start-date", start, "--end-date", end, "--logon-types", "Delegate,Admin", "--operations", ops, "--show-details",
		"--status-mail-recipients", "carol@example.org", "--formats", "csv", "-o", "json")
	if err != nil {
		t.Fatalf("new-mailbox-audit-log-search: %v\n%s", err, errOut)
	}
	var queued struct{ Identity, State string }
	json.Unmarshal([]byte(out), &queued)
	if queued.Identity == "" {
		t.Fatalf("no Identity in %s", out)
	}
	state := func() map[string]any {
		out, errOut, err := remote("get-audit-log-search", queued.Identity, "-o", "json")
		if err != nil {
			t.Fatalf("get-audit-log-search: %v\n%s", err, errOut)
		}
		var s map[string]any
		json.Unmarshal([]byte(out), &s)
		return s
	}
	waitState := func(want string) map[string]any {
		deadline := time.Now().Add(60 * time.Second)
		for {
			s := state()
			if s["State"] == want && (want != "Delivering" || s["LastError"] != nil) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("search never reached %s: %v", want, s)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	s := waitState("Delivering")
	if !strings.Contains(fmt.Sprint(s["LastError"]), "connection refused") || s["DeliveryAttempts"].(float64) != 1 {
		t.Fatalf("with the relay down: %v", s)
	}

	// The daemon restarts pointing at the real relay: the search survives and
	// is delivered on its next attempt, which a restart does not bring
	// forward, so the test lets the wait pass by making it due now.
	daemon.Process.Signal(os.Interrupt)
	daemon.Wait()
	bumpNextAttempt(t, e, queued.Identity)
	daemon = serve(conf(r.Port))
	defer func() { daemon.Process.Signal(os.Interrupt); daemon.Wait() }()
	s = waitState("Delivered")
	if s["DeliveryAttempts"].(float64) != 2 {
		t.Errorf("delivered after %v attempts, want 2", s["DeliveryAttempts"])
	}

	// carol reads it over IMAP.
	var raw []byte
	deadline := time.Now().Add(30 * time.Second)
	for raw == nil {
		raw = fetchNewest(t, e, "carol")
		if raw == nil && time.Now().After(deadline) {
			t.Fatalf("no mail in carol's INBOX; postfix says:\n%s", r.log())
		}
		if raw == nil {
			time.Sleep(200 * time.Millisecond)
		}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if !strings.Contains(subject, "Non-owner access to alice") {
		t.Errorf("subject %q", subject)
	}
	parts := attachments(t, msg)
	body := string(parts[""])
	for _, want := range []string{"Mailboxes:       alice@example.org", "Logon types:     Delegate, Admin", "Submitted by:    legal"} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
	if _, ok := parts["SearchResult.csv"]; !ok {
		t.Error("no SearchResult.csv attached")
	}

	// SearchResult.xml holds what a direct search returns, in its order.
	var doc struct {
		XMLName xml.Name `xml:"SearchResults"`
		Events  []struct {
			Operation       string `xml:"Operation,attr"`
			LogonType       string `xml:"LogonType,attr"`
			MailboxOwnerUPN string `xml:"MailboxOwnerUPN,attr"`
			LastAccessed    string `xml:"LastAccessed,attr"`
		} `xml:"Event"`
	}
	if err := xml.Unmarshal(parts["SearchResult.xml"], &doc); err != nil {
		t.Fatalf("SearchResult.xml: %v\n%s", err, parts["SearchResult.xml"])
	}
	direct, errOut, err := remote("search-mailbox-audit-log", "alice", "--start", start, "--end", end, "--logon-types", "Delegate,Admin",
		"--operations", ops, "--result-size", "250000", "-o", "xml")
	if err != nil {
		t.Fatalf("direct search: %v\n%s", err, errOut)
	}
	if string(parts["SearchResult.xml"]) != direct {
		t.Errorf("SearchResult.xml differs from the direct search:\n%s\nwant\n%s", parts["SearchResult.xml"], direct)
	}
	var got []string
	for _, ev := range doc.Events {
		got = append(got, ev.LogonType+":"+ev.Operation)
		if ev.MailboxOwnerUPN != alice {
			t.Errorf("an event of %s", ev.MailboxOwnerUPN)
		}
	}
	if !contains(got, "Delegate:HardDelete") || !contains(got, "Admin:FolderBind") {
		t.Errorf("events %v lack the delegate's deletion or the admin's access", got)
	}
	// And it can be downloaded, the same.
	downloaded, _, err := remote("get-audit-log-search-result", queued.Identity)
	if err != nil || downloaded != direct {
		t.Errorf("downloaded result differs (%v)", err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// bumpNextAttempt makes a search's next delivery attempt due now, with the
// daemon stopped, through the store the daemon keeps it in.
func bumpNextAttempt(t *testing.T, e *env, id string) {
	t.Helper()
	cmd := exec.Command("python3", "-c", `
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
data, = db.execute("SELECT data FROM search WHERE id = ?", (sys.argv[2],)).fetchone()
s = json.loads(data)
s["NextAttempt"] = "2000-01-01T00:00:00Z"
db.execute("UPDATE search SET data = ? WHERE id = ?", (json.dumps(s), sys.argv[2]))
db.commit()
`, filepath.Join(e.Data, "mailaudit.db"), id)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bumping the next attempt: %v\n%s", err, out)
	}
}

// fetchNewest reads the newest message of a user's INBOX over IMAP, as the
// recipient's mail client would; nil when the INBOX is empty.
func fetchNewest(t *testing.T, e *env, user string) []byte {
	t.Helper()
	cmd := exec.Command("python3", "-c", `
import imaplib, sys, base64
imap = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
imap.login(sys.argv[2], sys.argv[3])
typ, data = imap.select("INBOX", readonly=True)
n = int(data[0])
if n == 0:
    sys.exit(0)
typ, data = imap.fetch(str(n), "(BODY.PEEK[])")
sys.stdout.write(base64.b64encode(data[0][1]).decode())
imap.logout()
`, strconv.Itoa(e.IMAPPort), user, passwords[user])
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("reading %s's INBOX: %v", user, err)
	}
	if len(out) == 0 {
		return nil
	}
	raw, err := base64.StdEncoding.DecodeString(string(out))
	if err != nil {
		t.Fatal(err)
	}
	// The only message carol gets here is mailaudit's.
	if !bytes.Contains(raw, []byte("mailaudit")) {
		return nil
	}
	return raw
}

// attachments returns a message's parts by file name ("" for the body),
// decoded.
func attachments(t *testing.T, msg *mail.Message) map[string][]byte {
	t.Helper()
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		if p.Header.Get("Content-Transfer-Encoding") == "base64" {
			if b, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(b)), "")); err != nil {
				t.Fatal(err)
			}
		}
		out[p.FileName()] = b
	}
	return out
}
