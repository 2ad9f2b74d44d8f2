package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"encoding/xml"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
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

// startRelay starts Postfix on 127.0.0.1:port, delivering to lmtpPort;
// extraMain and extraMaster are appended to main.cf (a later setting
// overrides an earlier one) and master.cf.
func startRelay(t *testing.T, base string, lmtpPort int, extraMain, extraMaster string) *relay {
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
	write("main.cf", main+extraMain)
	write("master.cf", strings.Replace(postfixMaster, "{{.Port}}", "127.0.0.1:"+strconv.Itoa(r.Port), 1)+extraMaster)
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

// searchDaemon is mailaudit serve run with a configuration file of the
// test's, restarted with another to change its relay, and the command line
// pointed at it with an auditor token.
type searchDaemon struct {
	t     *testing.T
	e     *env
	api   int
	token string
	cmd   *exec.Cmd
}

func newSearchDaemon(t *testing.T, e *env) *searchDaemon {
	d := &searchDaemon{t: t, e: e, api: freePort(t)}
	d.token = strings.TrimSpace(e.mailaudit("new-api-token", "legal", "--role", "auditor"))
	t.Cleanup(d.stop)
	return d
}

// config writes a configuration with the [smtp] table given (and more
// tables after it).
func (d *searchDaemon) config(smtp string) string {
	return d.e.write("mailaudit.toml", fmt.Sprintf(`data = %q
seal_interval = "1s"
[log]
format = "text"
[[listen]]
address = "127.0.0.1:%d"
[smtp]
%s
`, d.e.Data, d.api, smtp))
}

// serve (re)starts the daemon with a configuration file.
func (d *searchDaemon) serve(cfg string) {
	d.t.Helper()
	d.stop()
	d.cmd = exec.Command(binary, "serve", "--config", cfg)
	d.cmd.Stdout, d.cmd.Stderr = d.e.logFile("serve.log"), d.e.logFile("serve.log")
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	d.e.waitPort(d.api)
}

func (d *searchDaemon) stop() {
	if d.cmd != nil {
		d.cmd.Process.Signal(os.Interrupt)
		d.cmd.Wait()
		d.cmd = nil
	}
}

func (d *searchDaemon) remote(args ...string) (string, string, error) {
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "MAILAUDIT_SERVER=http://127.0.0.1:"+strconv.Itoa(d.api), "MAILAUDIT_TOKEN="+d.token)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

// search queues a background search and returns its Identity.
func (d *searchDaemon) search(args ...string) string {
	d.t.Helper()
	out, errOut, err := d.remote(append([]string{"new-mailbox-audit-log-search", "-o", "json"}, args...)...)
	if err != nil {
		d.t.Fatalf("new-mailbox-audit-log-search: %v\n%s", err, errOut)
	}
	var queued struct{ Identity string }
	json.Unmarshal([]byte(out), &queued)
	if queued.Identity == "" {
		d.t.Fatalf("no Identity in %s", out)
	}
	return queued.Identity
}

func (d *searchDaemon) state(id string) map[string]any {
	d.t.Helper()
	out, errOut, err := d.remote("get-audit-log-search", id, "-o", "json")
	if err != nil {
		d.t.Fatalf("get-audit-log-search: %v\n%s", err, errOut)
	}
	var s map[string]any
	json.Unmarshal([]byte(out), &s)
	return s
}

// waitState waits for a search to reach a state; Delivering counts once an
// attempt has failed (LastError).
func (d *searchDaemon) waitState(id, want string) map[string]any {
	d.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		s := d.state(id)
		if s["State"] == want && (want != "Delivering" || s["LastError"] != nil) {
			return s
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(d.e.Dir, "serve.log"))
			d.t.Fatalf("search never reached %s: %v\nserve.log:\n%s", want, s, log)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// metrics returns the daemon's /metrics.
func (d *searchDaemon) metrics() string {
	d.t.Helper()
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/metrics", d.api), nil)
	req.Header.Set("Authorization", "Bearer "+d.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// readMail waits for mailaudit's mail to be the newest in a user's INBOX
// and parses it.
func readMail(t *testing.T, e *env, r *relay, user string) (*mail.Message, map[string][]byte) {
	t.Helper()
	var raw []byte
	deadline := time.Now().Add(30 * time.Second)
	for raw == nil {
		raw = fetchNewest(t, e, user)
		if raw == nil && time.Now().After(deadline) {
			t.Fatalf("no mail in %s's INBOX; postfix says:\n%s", user, r.log())
		}
		if raw == nil {
			time.Sleep(200 * time.Millisecond)
		}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return msg, attachments(t, msg)
}

// TestMailedSearch: a background search's result goes from the daemon
// through a real Postfix into a real Dovecot mailbox, where the recipient
// reads it over IMAP; its SearchResult.xml holds exactly what a direct search
// returns. A relay that is down at first only delays it.
func TestMailedSearch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withLMTP)
	e.directory()
	r := startRelay(t, e.Dir, e.LMTPPort, "", "")

	// Activity to find: bob, a delegate, deletes in alice's INBOX; the master
	// user reads it.
	e.deliver("alice", "INBOX", "Merger plans", "<merger@example.org>")
	e.deliver("alice", "INBOX", "Salary review", "<salary@example.org>")
	e.imap("alice", passwords["alice"], step{"setacl", "INBOX", "bob", "lrswite"})

	// The daemon first points at a port where no relay listens: delivery
	// fails and is retried.
	d := newSearchDaemon(t, e)
	down := freePort(t)
	conf := func(relayPort int) string {
		return d.config(fmt.Sprintf(`relay = "127.0.0.1:%d"
from = "mailaudit@example.org"
[[dovecot]]
log = %q`, relayPort, e.AuditLog))
	}
	d.serve(conf(down))
	e.imap("bob", passwords["bob"],
		step{"select", "shared/alice/INBOX"},
		step{"store", "2", "+FLAGS", `(\Deleted)`},
		step{"expunge"},
	)
	e.imap("alice*admin", masterPassword, step{"select", "INBOX"}, step{"fetch", "1"})
	alice := "alice@example.org"
	e.waitRecords(alice, match("Operation=HardDelete", "LogonType=Delegate", "MessageId=<merger@example.org>"), 1)
	// The master user's access too, or the search could run before it is
	// recorded and differ from the direct search below.
	e.waitRecords(alice, match("Operation=FolderBind", "LogonType=Admin"), 1)

	// MailItemsAccessed aggregates are left out: one sealed between the two
	// searches would make them differ.
	const ops = "HardDelete,FolderBind"
	start := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	end := time.Now().UTC().Add(time.Hour).Format(time.RFC3339)
	id := d.search("--name", "Non-owner access to alice", "--mailboxes", "alice",
		"--start-date", start, "--end-date", end, "--logon-types", "Delegate,Admin", "--operations", ops, "--show-details",
		"--status-mail-recipients", "carol@example.org", "--formats", "csv")
	s := d.waitState(id, "Delivering")
	if !strings.Contains(fmt.Sprint(s["LastError"]), "connection refused") || s["DeliveryAttempts"].(float64) != 1 {
		t.Fatalf("with the relay down: %v", s)
	}

	// The daemon restarts pointing at the real relay: the search survives and
	// is delivered on its next attempt, which a restart does not bring
	// forward, so the test lets the wait pass by making it due now.
	d.stop()
	bumpNextAttempt(t, e, id)
	d.serve(conf(r.Port))
	s = d.waitState(id, "Delivered")
	if s["DeliveryAttempts"].(float64) != 2 {
		t.Errorf("delivered after %v attempts, want 2", s["DeliveryAttempts"])
	}

	// carol reads it over IMAP.
	msg, parts := readMail(t, e, r, "carol")
	subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if !strings.Contains(subject, "Non-owner access to alice") {
		t.Errorf("subject %q", subject)
	}
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
	direct, errOut, err := d.remote("search-mailbox-audit-log", "alice", "--start", start, "--end", end, "--logon-types", "Delegate,Admin",
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
	downloaded, _, err := d.remote("get-audit-log-search-result", id)
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

// testPKI makes what an operator would have: a CA, and the relay's key and
// certificate signed by it for 127.0.0.1 and relay.example.test; and another
// CA, which signed nothing the relay presents. Files in dir: ca.pem,
// other-ca.pem, relay.pem (key then certificate, for smtpd_tls_chain_files).
func testPKI(t *testing.T, dir string) (ca, otherCA, chain string) {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(name string, blocks ...*pem.Block) string {
		var b bytes.Buffer
		for _, bl := range blocks {
			pem.Encode(&b, bl)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	now := time.Now()
	newCA := func(name string, serial int64) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
		key := newKey()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		cert, _ := x509.ParseCertificate(der)
		return cert, key, der
	}
	caCert, caKey, caDER := newCA("mailaudit e2e CA", 1)
	_, _, otherDER := newCA("mailaudit e2e other CA", 2)
	key := newKey()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "relay.example.test"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, DNSNames: []string{"relay.example.test"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	ca = write("ca.pem", &pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	otherCA = write("other-ca.pem", &pem.Block{Type: "CERTIFICATE", Bytes: otherDER})
	chain = write("relay.pem", &pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	return ca, otherCA, chain
}

// TestMailedSearchTLS: the daemon configured as an operator would for a
// relay that takes mail only over STARTTLS and only with SASL AUTH (a real
// Postfix with smtpd_sasl_type dovecot, through the test Dovecot), with the
// relay's CA in smtp.ca_cert: the result arrives, and the relay's Received
// header says it came over TLS, authenticated. A result larger than the
// relay's message_size_limit comes as the summary alone, saying how to
// download it, whether the relay says its limit in EHLO SIZE or only refuses
// the message with 552. A wrong password ends the delivery at once
// (535, permanent); a relay certificate the CA did not sign, and a relay
// that does not offer STARTTLS, are retried, saying so; once the
// configuration is corrected they are delivered.
func TestMailedSearchTLS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withLMTP, withSASL)
	e.directory()
	ca, otherCA, chain := testPKI(t, e.Dir)
	noTLS, noSize := freePort(t), freePort(t)
	const sizeLimit = 65536
	r := startRelay(t, e.Dir, e.LMTPPort, fmt.Sprintf(`smtpd_tls_chain_files = %s
smtpd_tls_security_level = may
smtpd_tls_auth_only = yes
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = inet:127.0.0.1:%d
smtpd_sasl_authenticated_header = yes
smtpd_relay_restrictions = permit_sasl_authenticated, reject
message_size_limit = %d
`, chain, e.AuthPort, sizeLimit), fmt.Sprintf(`tlsmgr    unix - - n 1000? 1 tlsmgr
127.0.0.1:%d inet n - n - - smtpd
  -o smtpd_tls_security_level=none
127.0.0.1:%d inet n - n - - smtpd
  -o smtpd_discard_ehlo_keywords=size
`, noTLS, noSize))

	// Activity, ingested before the daemon holds the store: bob deletes in
	// carol's mailbox (a small result) and, a lot, in alice's (one larger
	// than the relay takes).
	var act strings.Builder
	at := time.Now().UTC().Add(-10 * time.Minute)
	line := func(i int, owner, op, subject string) {
		fmt.Fprintf(&act, `{"SourceEventId":"tls-%d","Source":"e2e","CreationTime":%q,"Operation":%q,"UserId":"bob@example.org","MailboxOwnerUPN":%q,"Items":[{"Id":"INBOX:1:%d","InternetMessageId":"<m%d@example.org>","Subject":%q}]}`+"\n",
			i, at.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano), op, owner, i, i, subject)
	}
	for i := range 3 {
		line(i, "carol@example.org", "SoftDelete", fmt.Sprint("carol's message ", i))
	}
	for i := 3; i < 203; i++ {
		line(i, "alice@example.org", "HardDelete", fmt.Sprintf("alice's message %d %s", i, strings.Repeat("x", 400)))
	}
	e.mailaudit("ingest", e.write("activity.jsonl", act.String()))

	password := e.write("relay-password", passwords["svc-backup"]+"\n")
	wrongPassword := e.write("relay-password-wrong", "not-"+passwords["svc-backup"]+"\n")
	d := newSearchDaemon(t, e)
	conf := func(port int, passwordFile, caCert string) string {
		return d.config(fmt.Sprintf(`relay = "127.0.0.1:%d"
from = "mailaudit@example.org"
starttls = "required"
username = "svc-backup"
password_file = %q
ca_cert = %q`, port, passwordFile, caCert))
	}
	start := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	end := time.Now().UTC().Add(time.Hour).Format(time.RFC3339)
	search := func(name, mailbox, to string, more ...string) string {
		return d.search(append([]string{"--name", name, "--mailboxes", mailbox, "--start-date", start, "--end-date", end,
			"--status-mail-recipients", to}, more...)...)
	}

	// Over STARTTLS, authenticated.
	d.serve(conf(r.Port, password, ca))
	small := search("carol, over TLS", "carol", "carol@example.org")
	d.waitState(small, "Delivered")
	msg, parts := readMail(t, e, r, "carol")
	received := strings.Join(msg.Header["Received"], "\n")
	// ESMTPSA or UTF8SMTPSA: S for TLS, A for AUTH (RFC 3848).
	for _, want := range []string{"SMTPSA id", "(Authenticated sender: svc-backup)", "(using TLS"} {
		if !strings.Contains(received, want) {
			t.Errorf("the relay's Received header lacks %q: it did not come over TLS, authenticated:\n%s", want, received)
		}
	}
	// Without --show-details, each entry's summary: no items, no ids.
	xmlResult := string(parts["SearchResult.xml"])
	if n := strings.Count(xmlResult, "<Event "); n != 3 || strings.Contains(xmlResult, "SourceItem") || strings.Contains(xmlResult, "FolderId=") ||
		!strings.Contains(xmlResult, `Operation="SoftDelete"`) || !strings.Contains(xmlResult, `LogonUserDN="`) {
		t.Errorf("SearchResult.xml without --show-details is not the summary of 3 events:\n%s", xmlResult)
	}

	// Larger than the relay's EHLO SIZE: the summary alone, saying why and
	// how to download the result, which is the direct search's.
	big := search("alice, too large", "alice", "alice@example.org", "--show-details")
	d.waitState(big, "Delivered")
	_, parts = readMail(t, e, r, "alice")
	body := string(parts[""])
	if _, ok := parts["SearchResult.xml"]; ok {
		t.Error("a result larger than the relay takes was attached")
	}
	for _, want := range []string{"The result is too large to mail", fmt.Sprintf("the relay takes at most %d", sizeLimit),
		"mailaudit get-audit-log-search-result " + big + " --format xml > SearchResult.xml",
		"GET /api/v1/audit-log-searches/" + big + "/result?format=xml"} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
	downloaded, errOut, err := d.remote("get-audit-log-search-result", big)
	if err != nil {
		t.Fatalf("get-audit-log-search-result: %v\n%s", err, errOut)
	}
	direct, errOut, err := d.remote("search-mailbox-audit-log", "alice", "--start", start, "--end", end, "--show-details",
		"--result-size", "250000", "-o", "xml")
	if err != nil {
		t.Fatalf("direct search: %v\n%s", err, errOut)
	}
	if len(downloaded) <= sizeLimit || downloaded != direct || strings.Count(downloaded, "<SourceItem ") != 200 {
		t.Errorf("the downloaded result (%d bytes, %d items) is not the direct search's (%d bytes)", len(downloaded),
			strings.Count(downloaded, "<SourceItem "), len(direct))
	}
	// As in Exchange, Owner needs --show-details.
	if _, errOut, err := d.remote("new-mailbox-audit-log-search", "--start-date", start, "--end-date", end, "--logon-types", "Owner",
		"--status-mail-recipients", "carol@example.org"); err == nil || !strings.Contains(errOut, "The logon type Owner requires ShowDetails (--show-details)") {
		t.Errorf("Owner without --show-details: %v\n%s", err, errOut)
	}
	if m := d.metrics(); !strings.Contains(m, `mailaudit_search_deliveries_total{outcome="delivered"} 2`) {
		t.Errorf("/metrics does not count 2 deliveries:\n%s", grepLines(m, "search_deliveries"))
	}

	// A relay that does not say its limit in EHLO, and refuses the message
	// with 552 at the end of DATA: the same summary, at once.
	d.serve(conf(noSize, password, ca))
	big552 := search("alice, refused as too large", "alice", "bob@example.org", "--show-details")
	s := d.waitState(big552, "Delivered")
	if s["DeliveryAttempts"].(float64) != 1 {
		t.Errorf("delivered after %v attempts, want 1", s["DeliveryAttempts"])
	}
	_, parts = readMail(t, e, r, "bob")
	if body := string(parts[""]); parts["SearchResult.xml"] != nil || !strings.Contains(body, "the relay refused the mail with it attached (552") {
		t.Errorf("after a 552: attached %t, body:\n%s", parts["SearchResult.xml"] != nil, body)
	}

	// A wrong password: 535, permanent, not retried.
	d.serve(conf(r.Port, wrongPassword, ca))
	refused := search("wrong password", "carol", "carol@example.org")
	s = d.waitState(refused, "DeliveryFailed")
	t.Logf("refused: %s after %v attempt(s): %v", s["State"], s["DeliveryAttempts"], s["LastError"])
	if last := fmt.Sprint(s["LastError"]); !strings.Contains(last, "authenticating as svc-backup") || !strings.Contains(last, "535") ||
		s["DeliveryAttempts"].(float64) != 1 || s["NextAttempt"] != nil {
		t.Errorf("with a wrong password: %v", s)
	}
	if m := d.metrics(); !strings.Contains(m, `mailaudit_search_deliveries_total{outcome="failed"} 1`) {
		t.Errorf("/metrics does not count the failure:\n%s", grepLines(m, "search_deliveries"))
	}

	// The relay's certificate is not signed by the configured CA: retried,
	// naming the certificate problem and the setting.
	d.serve(conf(r.Port, password, otherCA))
	untrusted := search("untrusted relay", "carol", "carol@example.org")
	s = d.waitState(untrusted, "Delivering")
	t.Logf("untrusted: %s after %v attempt(s): %v", s["State"], s["DeliveryAttempts"], s["LastError"])
	if last := fmt.Sprint(s["LastError"]); !strings.Contains(last, "STARTTLS") || !strings.Contains(last, "certificate signed by unknown authority") ||
		!strings.Contains(last, "smtp.ca_cert") || s["NextAttempt"] == nil {
		t.Errorf("with another CA: %v", s)
	}
	if m := d.metrics(); !strings.Contains(m, `mailaudit_search_deliveries_total{outcome="retried"} 1`) {
		t.Errorf("/metrics does not count the retry:\n%s", grepLines(m, "search_deliveries"))
	}

	// starttls = "required" and a relay that does not offer it: retried,
	// saying so; nothing, the password least, went over plain text.
	d.serve(conf(noTLS, password, ca))
	plain := search("relay without STARTTLS", "carol", "carol@example.org")
	s = d.waitState(plain, "Delivering")
	t.Logf("plain: %s after %v attempt(s): %v", s["State"], s["DeliveryAttempts"], s["LastError"])
	if last := fmt.Sprint(s["LastError"]); !strings.Contains(last, `does not offer STARTTLS, which smtp.starttls = "required" asks for`) {
		t.Errorf("with a relay without STARTTLS: %v", s)
	}

	// The configuration corrected, the two retried searches are delivered at
	// their next attempt (made due now); the refused one stays refused.
	d.stop()
	bumpNextAttempt(t, e, untrusted)
	bumpNextAttempt(t, e, plain)
	d.serve(conf(r.Port, password, ca))
	for _, id := range []string{untrusted, plain} {
		if s := d.waitState(id, "Delivered"); s["DeliveryAttempts"].(float64) != 2 {
			t.Errorf("delivered after %v attempts, want 2", s["DeliveryAttempts"])
		}
	}
	if s := d.state(refused); s["State"] != "DeliveryFailed" {
		t.Errorf("the refused search is %v", s["State"])
	}
	if log := r.log(); !strings.Contains(log, "authentication failed") || !strings.Contains(log, "TLS connection established") {
		t.Errorf("postfix's log lacks the refused AUTH or the TLS sessions:\n%s", log)
	}
}

func grepLines(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
