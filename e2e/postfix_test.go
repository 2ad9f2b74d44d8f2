package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"
)

// needPostfix skips a test without Postfix and swaks (scripts/test-deps
// installs them).
func needPostfix(t testing.TB) {
	t.Helper()
	for _, cmd := range []string{"postfix", "swaks"} {
		if _, err := exec.LookPath(cmd); err != nil {
			if _, err := os.Stat("/usr/sbin/" + cmd); err != nil {
				t.Skipf("%s is not installed: run scripts/test-deps", cmd)
			}
		}
	}
	if _, err := user.Lookup("postfix"); err != nil {
		t.Skip("the postfix user is missing: run scripts/test-deps")
	}
}

// postfix is a Postfix instance of the test's own: a configuration, queue
// and data directory under the env's directory, run with postfix -c (no
// postmulti), submission on a loopback port with SASL through the test
// Dovecot, and the settings `mailaudit postfix-config` prints.
type postfix struct {
	e        *env
	Dir      string
	conf     string
	Port     int
	LMTPPort int
	// Config is what postfix-config printed for this Postfix.
	Config string
	// Printed is the part of Config for the template at hand.
	Printed string
	// Cleanup is the cleanup service's command (withVerboseCleanup).
	Cleanup string
}

// withVerboseCleanup runs Postfix's cleanup with -v: it then logs each
// event it sends a milter and each reply, so the log says which messages the
// milter answered at their end (answered).
func withVerboseCleanup(p *postfix) { p.Cleanup = "cleanup -v" }

// newPostfix starts a Postfix; with milter "" its submission service has
// no milter (the benchmark's baseline), otherwise the one at that address.
func newPostfix(e *env, name, milter string, opts ...func(*postfix)) *postfix {
	e.t.Helper()
	needPostfix(e.t)
	p := &postfix{e: e, Dir: filepath.Join(e.Dir, name), Port: freePort(e.t), LMTPPort: e.LMTPPort, Cleanup: "cleanup"}
	for _, o := range opts {
		o(p)
	}
	p.conf = filepath.Join(p.Dir, "conf")
	for _, d := range []string{"conf", "queue", "data"} {
		if err := os.MkdirAll(filepath.Join(p.Dir, d), 0o755); err != nil {
			e.t.Fatal(err)
		}
	}
	// Postfix's daemons run as postfix: they must reach the queue, and own
	// the data directory (master.lock).
	os.Chmod(p.Dir, 0o755)
	if out, err := exec.Command("chown", "postfix", filepath.Join(p.Dir, "data")).CombinedOutput(); err != nil {
		e.t.Fatalf("chown: %v %s", err, out)
	}
	args := []string{"postfix-config", "--service", fmt.Sprintf("127.0.0.1:%d", p.Port),
		"--sasl-path", fmt.Sprintf("inet:127.0.0.1:%d", e.AuthPort), "--require-tls=false"}
	if milter != "" {
		args = append(args, "--milter", milter)
	}
	printed := e.mailaudit(args...)
	p.Config = printed
	mainPart, masterPart, ok := strings.Cut(printed, "# ---- master.cf ----")
	if !ok {
		e.t.Fatalf("postfix-config printed no master.cf part:\n%s", printed)
	}
	if milter == "" {
		// The same Postfix without the milter.
		var lines []string
		for _, l := range strings.Split(masterPart, "\n") {
			if !strings.Contains(l, "smtpd_milters") {
				lines = append(lines, l)
			}
		}
		masterPart = strings.Join(lines, "\n")
	}
	for _, f := range [][2]string{{"main.cf", mainPart}, {"master.cf", masterPart}} {
		file, part := f[0], f[1]
		tmpl := template.Must(template.ParseFiles("testdata/postfix-" + file + ".tmpl"))
		p.Printed = part
		var b bytes.Buffer
		if err := tmpl.Execute(&b, p); err != nil {
			e.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p.conf, file), b.Bytes(), 0o644); err != nil {
			e.t.Fatal(err)
		}
	}
	if out, err := exec.Command("postfix", "-c", p.conf, "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(p.Dir, "maillog"))
		e.t.Fatalf("postfix start: %v\n%s\n%s", err, out, log)
	}
	e.t.Cleanup(p.stop)
	e.waitPort(p.Port)
	return p
}

func (p *postfix) stop() {
	exec.Command("postfix", "-c", p.conf, "stop").Run()
	// postfix stop returns before master has gone; status says when it has
	// (it tests master's lock).
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if exec.Command("postfix", "-c", p.conf, "status").Run() != nil {
			return
		}
	}
	exec.Command("postfix", "-c", p.conf, "abort").Run()
}

func (p *postfix) maillog() string {
	b, _ := os.ReadFile(filepath.Join(p.Dir, "maillog"))
	return string(b)
}

// sent waits for Postfix to log the message to rcpt as sent (delivered).
func (p *postfix) sent(queueID, rcpt string) {
	p.e.t.Helper()
	re := regexp.MustCompile(regexp.QuoteMeta(queueID) + `: to=<` + regexp.QuoteMeta(rcpt) + `>.*status=sent`)
	for deadline := time.Now().Add(20 * time.Second); !re.MatchString(p.maillog()); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			p.e.t.Fatalf("Postfix did not deliver %s to %s:\n%s", queueID, rcpt, p.maillog())
		}
	}
}

// smtpMsg is a message for testdata/smtp.py (and, through the same
// fields, for swaks).
type smtpMsg struct {
	ID        string      `json:"id"`
	Login     string      `json:"login"`
	Password  string      `json:"password"`
	Authzid   string      `json:"authzid,omitempty"`
	From      string      `json:"from"`
	Rcpts     []string    `json:"rcpts"`
	Headers   [][2]string `json:"headers"`
	BodyBytes int         `json:"body_bytes,omitempty"`
	// DataFile, when set, is the whole message to send (dataFile).
	DataFile string `json:"data_file,omitempty"`
	// Timeout, when set, is how long in seconds the client waits for any
	// one reply before it gives up and the message fails.
	Timeout float64 `json:"timeout,omitempty"`
	// Pause, when set, makes smtp.py report "paused" after RCPT and wait
	// for this file to exist before DATA.
	Pause string `json:"pause,omitempty"`
}

// smtpResult is what a client reports of one message.
type smtpResult struct {
	ID      string  `json:"id"`
	Start   float64 `json:"start"`
	End     float64 `json:"end"`
	Code    int     `json:"code"`
	Reply   string  `json:"reply"`
	QueueID string  `json:"queue_id"`
	Error   string  `json:"error"`
	Paused  bool    `json:"paused"`
}

func (r smtpResult) ok() bool { return r.Error == "" && r.Code == 250 && r.QueueID != "" }

// message builds a message from login with a Message-ID of its own.
func message(id, login, envFrom, headerFrom, sender string, rcpts ...string) smtpMsg {
	h := [][2]string{{"From", headerFrom}, {"To", strings.Join(rcpts, ", ")}, {"Subject", "test " + id},
		{"Message-ID", msgID(id)}, {"Date", time.Now().Format(time.RFC1123Z)}}
	if sender != "" {
		h = append(h, [2]string{"Sender", sender})
	}
	return smtpMsg{ID: id, Login: login, Password: passwords[login], From: envFrom, Rcpts: rcpts, Headers: h}
}

func msgID(id string) string { return "<" + id + "@client.example.net>" }

// dataFile writes the message (headers, a blank line, a body of about
// BodyBytes in 76-byte lines, as smtp.py makes one) to a file, so that every
// client sends the very same bytes.
func (p *postfix) dataFile(m smtpMsg) string {
	p.e.t.Helper()
	var b bytes.Buffer
	for _, h := range m.Headers {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	b.WriteString("\r\nHello.\r\n")
	line := strings.Repeat("x", 74) + "\r\n"
	for n := len("Hello.\r\n"); n+len(line) <= m.BodyBytes; n += len(line) {
		b.WriteString(line)
	}
	path := filepath.Join(p.Dir, "msg-"+m.ID+".eml")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		p.e.t.Fatal(err)
	}
	return path
}

// A submitter is an SMTP client: it submits one message and reports what
// Postfix answered. The cases of the tests run with each.
type submitter struct {
	name   string
	submit func(p *postfix, m smtpMsg) smtpResult
}

var submitters = []submitter{{"swaks", (*postfix).swaks}, {"smtplib", (*postfix).smtplib}}

// smtplib submits a message with testdata/smtp.py.
func (p *postfix) smtplib(m smtpMsg) smtpResult {
	p.e.t.Helper()
	if m.DataFile == "" {
		m.DataFile = p.dataFile(m)
	}
	var got []smtpResult
	p.smtpStream([]smtpMsg{m}, func(r smtpResult) { got = append(got, r) })
	if len(got) != 1 {
		p.e.t.Fatalf("smtp.py reported %d results for one message", len(got))
	}
	return got[0]
}

var swaksQueued = regexp.MustCompile(`<-  250 (2\.0\.0 Ok: queued as (\S+))`)

// swaks submits a message with swaks: SASL PLAIN, the envelope, and the
// message from dataFile. swaks cannot send PLAIN's authorisation identity,
// so it has no master-user logins.
func (p *postfix) swaks(m smtpMsg) smtpResult {
	p.e.t.Helper()
	if m.Authzid != "" {
		p.e.t.Fatalf("message %s: swaks has no PLAIN authorisation identity", m.ID)
	}
	if m.Pause != "" {
		p.e.t.Fatalf("message %s: swaks cannot pause before DATA", m.ID)
	}
	args := []string{"--server", fmt.Sprintf("127.0.0.1:%d", p.Port), "--auth", "PLAIN",
		"--auth-user", m.Login, "--auth-password", m.Password, "--helo", "client.example.net",
		"--from", m.From, "--to", strings.Join(m.Rcpts, ","), "--data", "@" + p.dataFile(m), "--suppress-data"}
	if m.Timeout > 0 {
		args = append(args, "--timeout", fmt.Sprintf("%ds", int(math.Ceil(m.Timeout))))
	}
	r := smtpResult{ID: m.ID, Start: epoch(time.Now())}
	out, err := exec.Command("swaks", args...).CombinedOutput()
	r.End = epoch(time.Now())
	if q := swaksQueued.FindSubmatch(out); err == nil && q != nil {
		r.Code, r.Reply, r.QueueID = 250, string(q[1]), string(q[2])
		return r
	}
	var why []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "<**") || strings.HasPrefix(l, "***") {
			why = append(why, l)
		}
	}
	r.Error = fmt.Sprintf("swaks: %v: %s", err, strings.Join(why, " | "))
	return r
}

// smtpStream runs testdata/smtp.py, handing each result to each as it comes.
func (p *postfix) smtpStream(msgs []smtpMsg, each func(smtpResult)) {
	p.e.t.Helper()
	in, _ := json.Marshal(msgs)
	cmd := exec.Command("python3", "testdata/smtp.py", "127.0.0.1", strconv.Itoa(p.Port))
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		p.e.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		p.e.t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var r smtpResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			p.e.t.Fatalf("smtp.py: %v: %s", err, sc.Text())
		}
		each(r)
	}
	if err := cmd.Wait(); err != nil {
		p.e.t.Fatalf("smtp.py: %v\n%s", err, stderr.String())
	}
}

// smtp sends messages with smtp.py and returns their results, failing on
// any refusal.
func (p *postfix) smtp(msgs ...smtpMsg) map[string]smtpResult {
	p.e.t.Helper()
	res := map[string]smtpResult{}
	p.smtpStream(msgs, func(r smtpResult) {
		if !r.ok() {
			p.e.t.Fatalf("message %s: %d %s %s\n%s", r.ID, r.Code, r.Reply, r.Error, p.maillog())
		}
		res[r.ID] = r
	})
	return res
}

// inMailbox waits for a message to be in a user's Dovecot INBOX.
func (e *env) inMailbox(user, id string) {
	e.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, _ := exec.Command("doveadm", "-c", e.conf, "search", "-u", user, "mailbox", "INBOX", "header", "message-id", msgID(id)).Output()
		if len(bytes.TrimSpace(out)) > 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s never reached %s's INBOX", msgID(id), user)
		}
	}
}

func prop(r record, name string) string {
	props, _ := r["OperationProperties"].([]any)
	for _, p := range props {
		if m, ok := p.(map[string]any); ok && m["Name"] == name {
			s, _ := m["Value"].(string)
			return s
		}
	}
	return ""
}

// hasProp reports whether a record carries a property, whatever its value.
func hasProp(r record, name string) bool {
	props, _ := r["OperationProperties"].([]any)
	for _, p := range props {
		if m, ok := p.(map[string]any); ok && m["Name"] == name {
			return true
		}
	}
	return false
}

func withMessageID(id string) func(record) bool {
	return func(r record) bool { return strings.Contains(messageIDs(r), msgID(id)) }
}

// postfixEnv is a Dovecot with LMTP and SASL, the directory of the tests,
// mailaudit serve with the milter, and a Postfix using it.
func postfixEnv(t *testing.T, opts ...func(*postfix)) (*env, *postfix, string) {
	return postfixEnvServing(t, nil, opts...)
}

// postfixEnvServing is postfixEnv with more arguments for serve.
func postfixEnvServing(t *testing.T, serveArgs []string, opts ...func(*postfix)) (*env, *postfix, string) {
	needPostfix(t)
	e := newEnv(t, withLMTP, withSASL)
	milter := fmt.Sprintf("inet:127.0.0.1:%d", freePort(t))
	e.serveArgs = append([]string{"--milter", milter, "--hostname", "mx.example.org"}, serveArgs...)
	for _, u := range []string{"alice", "bob", "carol"} {
		e.mailaudit("new-mailbox", u+"@example.org")
	}
	e.mailaudit("new-mailbox", "shared@example.org", "--type", "SharedMailbox")
	e.mailaudit("add-mailbox-permission", "shared@example.org", "--user", "bob", "--access-rights", "SendAs")
	e.mailaudit("add-mailbox-permission", "alice@example.org", "--user", "bob", "--access-rights", "SendOnBehalf")
	e.mailaudit("add-mailbox-permission", "alice@example.org", "--user", "carol", "--access-rights", "FullAccess")
	p := newPostfix(e, "postfix", milter, opts...)
	e.startServe()
	return e, p, milter
}

// engineProps are the OperationProperties the engine decides on a send
// (audit/send.go); a case names the ones its record must carry, and the
// record must carry no other.
var engineProps = []string{"GrantRequired", "GrantHeld", "GrantsHeld", "SenderIsLogin", "FromIsMailbox", "SendWithoutGrant"}

// A postfixCase is one kind of submission and the record it must make.
type postfixCase struct {
	id      string
	msg     func(id string) smtpMsg
	mailbox string // where the record must be, and only there
	op      string
	user    string
	logon   float64           // 0 Owner, 2 Delegate
	props   map[string]string // the engine's properties on the record
	check   func(t *testing.T, r record)
}

func expectProp(name, want string) func(t *testing.T, r record) {
	return func(t *testing.T, r record) {
		t.Helper()
		if got := prop(r, name); got != want {
			t.Errorf("%s %q, want %q", name, got, want)
		}
	}
}

func expectField(name, want string) func(t *testing.T, r record) {
	return func(t *testing.T, r record) {
		t.Helper()
		if got := r.str(name); got != want {
			t.Errorf("%s %q, want %q", name, got, want)
		}
	}
}

func checks(fs ...func(t *testing.T, r record)) func(t *testing.T, r record) {
	return func(t *testing.T, r record) {
		t.Helper()
		for _, f := range fs {
			f(t, r)
		}
	}
}

// postfixCases are the submissions of TestPostfixSends, each made with
// every submitter.
var postfixCases = []postfixCase{
	{id: "own", msg: func(id string) smtpMsg {
		return message(id, "alice", "alice@example.org", "Alice <alice@example.org>", "", "bob@example.org")
	}, mailbox: "alice@example.org", op: "Send", user: "alice@example.org", logon: 0,
		check: func(t *testing.T, r record) {
			if r.str("SendAsUserSmtp") != "" || r.str("SendOnBehalfOfUserSmtp") != "" {
				t.Errorf("the owner's Send names someone sent as: %q %q", r.str("SendAsUserSmtp"), r.str("SendOnBehalfOfUserSmtp"))
			}
		}},
	{id: "multi", msg: func(id string) smtpMsg {
		return message(id, "bob", "bob@example.org", "bob@example.org", "",
			"alice@example.org", "carol@example.org", "x@example.net", "y@example.net")
	}, mailbox: "bob@example.org", op: "Send", user: "bob@example.org", logon: 0,
		check: checks(expectProp("Recipients", "alice@example.org,carol@example.org,x@example.net,y@example.net"),
			expectProp("RecipientCount", "4"))},
	{id: "asgrant", msg: func(id string) smtpMsg {
		return message(id, "bob", "shared@example.org", "Shared <shared@example.org>", "", "x@example.net")
	}, mailbox: "shared@example.org", op: "SendAs", user: "bob@example.org", logon: 2,
		props: map[string]string{"GrantRequired": "SendAs", "GrantHeld": "True", "GrantsHeld": "SendAs"},
		check: expectField("SendAsUserSmtp", "shared@example.org")},
	{id: "asnogrant", msg: func(id string) smtpMsg {
		return message(id, "carol", "shared@example.org", "shared@example.org", "", "x@example.net")
	}, mailbox: "shared@example.org", op: "SendAs", user: "carol@example.org", logon: 2,
		props: map[string]string{"GrantRequired": "SendAs", "GrantHeld": "False", "GrantsHeld": "None", "SendWithoutGrant": "True"},
		check: expectField("SendAsUserSmtp", "shared@example.org")},
	{id: "behalf", msg: func(id string) smtpMsg {
		return message(id, "bob", "bob@example.org", "Alice <alice@example.org>", "Bob <bob@example.org>", "x@example.net")
	}, mailbox: "alice@example.org", op: "SendOnBehalf", user: "bob@example.org", logon: 2,
		props: map[string]string{"GrantRequired": "SendOnBehalf", "GrantHeld": "True", "GrantsHeld": "SendOnBehalf", "SenderIsLogin": "True"},
		check: checks(expectField("SendOnBehalfOfUserSmtp", "alice@example.org"), expectProp("HeaderSender", "bob@example.org"))},
	// Bob holds SendOnBehalf on Alice's mailbox, but names Carol as the one
	// who sent: no grant covers that.
	{id: "behalf-third", msg: func(id string) smtpMsg {
		return message(id, "bob", "bob@example.org", "Alice <alice@example.org>", "Carol <carol@example.org>", "x@example.net")
	}, mailbox: "alice@example.org", op: "SendOnBehalf", user: "bob@example.org", logon: 2,
		props: map[string]string{"GrantRequired": "SendOnBehalf", "GrantHeld": "True", "GrantsHeld": "SendOnBehalf",
			"SenderIsLogin": "False", "SendWithoutGrant": "True"},
		check: checks(expectField("SendOnBehalfOfUserSmtp", "alice@example.org"), expectProp("HeaderSender", "carol@example.org"))},
	// What smtpd_sender_login_maps cannot see: the envelope is carol's
	// own, the From header is alice's.
	{id: "forged", msg: func(id string) smtpMsg {
		return message(id, "carol", "carol@example.org", "Alice <alice@example.org>", "", "x@example.net")
	}, mailbox: "alice@example.org", op: "SendAs", user: "carol@example.org", logon: 2,
		props: map[string]string{"GrantRequired": "SendAs", "GrantHeld": "False", "GrantsHeld": "FullAccess", "SendWithoutGrant": "True"},
		check: checks(expectProp("EnvelopeFrom", "carol@example.org"), expectField("SendAsUserSmtp", "alice@example.org"))},
	// A From that is no mailbox here: on carol's own mailbox, flagged, and
	// no mailbox for the address.
	{id: "forged-external", msg: func(id string) smtpMsg {
		return message(id, "carol", "carol@example.org", "Chief Executive <ceo@bank.example>", "", "x@example.net")
	}, mailbox: "carol@example.org", op: "Send", user: "carol@example.org", logon: 0,
		props: map[string]string{"GrantRequired": "SendAs", "GrantHeld": "False", "GrantsHeld": "None",
			"FromIsMailbox": "False", "SendWithoutGrant": "True"},
		check: checks(expectField("SendAsUserSmtp", "ceo@bank.example"), expectProp("HeaderFrom", "ceo@bank.example"))},
	{id: "big", msg: func(id string) smtpMsg {
		m := message(id, "alice", "alice@example.org", "Alice <alice@example.org>", "", "bob@example.org")
		m.BodyBytes = 20 << 20
		return m
	}, mailbox: "alice@example.org", op: "Send", user: "alice@example.org", logon: 0,
		check: func(t *testing.T, r record) {
			item, _ := r["Item"].(map[string]any)
			if size, _ := item["SizeInBytes"].(float64); size < 20<<20 || size > 21<<20 {
				t.Errorf("SizeInBytes %v", item["SizeInBytes"])
			}
		}},
}

// TestPostfixSends submits with real clients (each case with swaks and
// with python's smtplib) through a real Postfix (SASL by the real Dovecot)
// and finds each message once, in the audit log of the mailbox it must be
// on, with the logon type, operation and the engine's flags.
func TestPostfixSends(t *testing.T) {
	e, p, _ := postfixEnv(t)

	queued := map[string]string{} // message id → queue id
	for _, s := range submitters {
		for _, c := range postfixCases {
			id := c.id + "-" + s.name
			r := s.submit(p, c.msg(id))
			if !r.ok() {
				t.Fatalf("%s: %d %s %s\n%s", id, r.Code, r.Reply, r.Error, p.maillog())
			}
			queued[id] = r.QueueID
		}
		// Postfix still refuses an envelope sender the login does not
		// own: that is its job, not the milter's.
		r := s.submit(p, message("refused-"+s.name, "carol", "bob@example.org", "bob@example.org", "", "x@example.net"))
		if r.ok() || !strings.Contains(r.Error, "not owned by user carol") {
			t.Errorf("%s: an envelope sender carol does not own: %+v", s.name, r)
		}
	}
	// The blind spot docs/postfix.md names: a Dovecot master user's SASL
	// login arrives as the user it logs in as. (smtplib only: swaks cannot
	// send an authorisation identity.)
	master := message("master", "admin", "alice@example.org", "alice@example.org", "", "carol@example.org")
	master.Authzid, master.Password = "alice", masterPassword
	r := p.smtplib(master)
	if !r.ok() {
		t.Fatalf("master: %+v", r)
	}
	queued["master"] = r.QueueID
	cases := append([]postfixCase(nil), postfixCases...)

	mailboxes := []string{"alice@example.org", "bob@example.org", "carol@example.org", "shared@example.org"}
	// Wait for the last message, then take each mailbox's log once.
	e.waitRecords("alice@example.org", withMessageID("master"), 1)
	logs := map[string][]record{}
	for _, m := range mailboxes {
		logs[m] = e.search(m)
	}
	// where lists the mailboxes a message's records are on, one entry per
	// record.
	where := func(id string) (on []string, recs []record) {
		for _, m := range mailboxes {
			for _, r := range logs[m] {
				if strings.Contains(messageIDs(r), msgID(id)) {
					on, recs = append(on, m), append(recs, r)
				}
			}
		}
		return on, recs
	}
	assert := func(t *testing.T, c postfixCase, id string) {
		on, recs := where(id)
		if len(recs) != 1 || on[0] != c.mailbox {
			t.Fatalf("records on %v, want one on %s", on, c.mailbox)
		}
		r := recs[0]
		logon, _ := r["LogonType"].(float64)
		if r.str("Operation") != c.op || r.str("UserId") != c.user || logon != c.logon {
			t.Errorf("%s by %s, LogonType %v; want %s by %s, %v", r.str("Operation"), r.str("UserId"), logon, c.op, c.user, c.logon)
		}
		for _, name := range engineProps {
			want, ok := c.props[name]
			if got := prop(r, name); got != want || hasProp(r, name) != ok {
				t.Errorf("%s %q (present %v), want %q (present %v)", name, got, hasProp(r, name), want, ok)
			}
		}
		if r.str("ClientIPAddress") != "127.0.0.1" || r.str("OriginatingServer") != "mx.example.org" ||
			prop(r, "QueueId") != queued[id] || r.str("SourceEventId") != "" && r.str("SourceEventId") != queued[id] {
			t.Errorf("client %q, server %q, queue id %q (Postfix said %s)", r.str("ClientIPAddress"), r.str("OriginatingServer"), prop(r, "QueueId"), queued[id])
		}
		if c.check != nil {
			c.check(t, r)
		}
	}
	for _, s := range submitters {
		for _, c := range cases {
			t.Run(s.name+"/"+c.id, func(t *testing.T) { assert(t, c, c.id+"-"+s.name) })
		}
		if on, _ := where("refused-" + s.name); len(on) != 0 {
			t.Errorf("%s: the refused message is recorded on %v", s.name, on)
		}
	}
	t.Run("smtplib/master", func(t *testing.T) {
		assert(t, postfixCase{mailbox: "alice@example.org", op: "Send", user: "alice@example.org", logon: 0}, "master")
	})

	// The forged address did not become a mailbox.
	if out, _, err := e.run("get-mailbox", "ceo@bank.example"); err == nil {
		t.Errorf("a mailbox for the forged From: %s", out)
	}
	// The mail itself went on: into Dovecot's mailboxes, big ones included.
	for _, s := range submitters {
		e.inMailbox("bob", "own-"+s.name)
		e.inMailbox("bob", "big-"+s.name)
		e.inMailbox("carol", "multi-"+s.name)
		p.sent(queued["multi-"+s.name], "x@example.net")
	}
	e.inMailbox("carol", "master")
}
