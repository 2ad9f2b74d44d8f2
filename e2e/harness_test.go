package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"
)

// binary is mailaudit, built once for every test.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mailaudit-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "mailaudit")
	if out, err := exec.Command("go", "build", "-o", binary, "../cmd/mailaudit").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building mailaudit: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// need skips a test that cannot run here, saying why; scripts/test-deps
// installs what it needs.
func need(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a test Dovecot needs root (it switches to the mail user); run the tests as root")
	}
	for _, cmd := range []string{"dovecot", "doveadm", "python3"} {
		if _, err := exec.LookPath(cmd); err != nil {
			t.Skipf("%s is not installed: run scripts/test-deps", cmd)
		}
	}
	if _, err := user.Lookup("mailaudit-vmail"); err != nil {
		t.Skip("the user mailaudit-vmail is missing: run scripts/test-deps")
	}
}

// Users of the test Dovecot and their passwords; admin is a master user.
var passwords = map[string]string{"alice": "alicepw", "bob": "bobpw", "carol": "carolpw", "svc-backup": "backuppw"}

const masterPassword = "adminpw"

// env is one test's Dovecot and mailaudit.
type env struct {
	t         testing.TB
	Dir       string
	IMAPPort  int
	SievePort int
	// LMTPPort, when set (withLMTP), is where Dovecot takes deliveries.
	LMTPPort int
	// AuthPort, when set (withSASL), is where Dovecot answers SASL
	// requests from Postfix.
	AuthPort int
	// serveArgs are more flags for mailaudit serve; configArgs for
	// mailaudit dovecot-config.
	serveArgs, configArgs []string
	// APIPort, when set (withPostedEvents), is where serve's API listens
	// for the events Dovecot posts, with eventsToken.
	APIPort     int
	eventsToken string
	conf        string
	AuditLog    string
	Data        string
	dovecot     *exec.Cmd
	serve       *exec.Cmd
	serves      int // how many times serve started
}

// withLMTP makes the test Dovecot take deliveries over LMTP on loopback.
func withLMTP(e *env) { e.LMTPPort = freePort(e.t) }

// withSASL makes the test Dovecot authenticate for Postfix (smtpd_sasl_type
// dovecot) on loopback.
func withSASL(e *env) { e.AuthPort = freePort(e.t) }

// withPostedEvents makes the test Dovecot POST its events to serve's API
// (dovecot-config --events-url, with an ingest token of its own) rather than
// write them into the log, and serve take them (--dovecot-events http-post).
func withPostedEvents(e *env) {
	e.APIPort = freePort(e.t)
	tok := strings.TrimSpace(e.mailaudit("new-api-token", "dovecot-events", "--role", "ingest", "--sources", "dovecot"))
	e.eventsToken = tok
	e.configArgs = append(e.configArgs, "--events-url",
		fmt.Sprintf("http://dovecot:%s@127.0.0.1:%d/api/v1/dovecot/events", tok, e.APIPort))
	e.serveArgs = append(e.serveArgs, "--dovecot-events", "http-post", "--listen", fmt.Sprintf("127.0.0.1:%d", e.APIPort))
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// newEnv starts a Dovecot configured with what mailaudit dovecot-config
// prints, with users alice, bob, carol and svc-backup, a master user admin,
// and a message in alice's INBOX.
func newEnv(t testing.TB, opts ...func(*env)) *env {
	need(t)
	dir, err := os.MkdirTemp("", "mailaudit-e2e-dovecot-")
	if err != nil {
		t.Fatal(err)
	}
	// The mail user must reach the mail below it.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, Dir: dir, IMAPPort: freePort(t), SievePort: freePort(t),
		AuditLog: filepath.Join(dir, "audit.log"), Data: filepath.Join(dir, "data")}
	for _, o := range opts {
		o(e)
	}
	t.Cleanup(func() { e.stop(); os.RemoveAll(dir) })

	var users, masters strings.Builder
	for u, pw := range passwords {
		fmt.Fprintf(&users, "%s:{PLAIN}%s::::::\n", u, pw)
	}
	fmt.Fprintf(&masters, "admin:{PLAIN}%s::::::\n", masterPassword)
	e.write("users", users.String())
	e.write("masters", masters.String())
	// The master user may read every mailbox: its access is what is audited.
	e.write("global-acl", "* user=admin lrwstipekxa\n")
	for _, d := range []string{"run", "mail", "shared"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	vmail, _ := user.Lookup("mailaudit-vmail")
	uid, _ := strconv.Atoi(vmail.Uid)
	gid, _ := strconv.Atoi(vmail.Gid)
	for _, d := range []string{"mail", "shared"} {
		os.Chown(filepath.Join(dir, d), uid, gid)
	}
	// Dovecot writes the audit log as its log user: let it.
	e.write("audit.log", "")
	os.Chmod(e.AuditLog, 0o666)

	e.write("mailaudit.conf", e.mailaudit(append([]string{"dovecot-config", "--log-path", e.AuditLog}, e.configArgs...)...))
	tmpl := template.Must(template.ParseFiles("testdata/dovecot.conf.tmpl"))
	var conf bytes.Buffer
	if err := tmpl.Execute(&conf, e); err != nil {
		t.Fatal(err)
	}
	e.conf = e.write("dovecot.conf", conf.String())

	e.dovecot = exec.Command("dovecot", "-F", "-c", e.conf)
	e.dovecot.Stdout, e.dovecot.Stderr = e.logFile("dovecot.stdout"), e.logFile("dovecot.stdout")
	if err := e.dovecot.Start(); err != nil {
		t.Fatalf("starting dovecot: %v", err)
	}
	e.waitPort(e.IMAPPort)
	e.waitPort(e.SievePort)
	if e.LMTPPort != 0 {
		e.waitPort(e.LMTPPort)
	}
	if e.AuthPort != 0 {
		e.waitPort(e.AuthPort)
	}
	e.deliver("alice", "INBOX", "Quarterly report", "<q1@example.org>")
	return e
}

func (e *env) write(name, text string) string {
	path := filepath.Join(e.Dir, name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return path
}

func (e *env) logFile(name string) *os.File {
	f, err := os.OpenFile(filepath.Join(e.Dir, name), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { f.Close() })
	return f
}

func (e *env) waitPort(port int) {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(e.Dir, "dovecot.log"))
	out, _ := os.ReadFile(filepath.Join(e.Dir, "dovecot.stdout"))
	e.t.Fatalf("dovecot did not listen on %d:\n%s\n%s", port, out, log)
}

func (e *env) stop() {
	e.stopServe()
	if e.dovecot != nil && e.dovecot.Process != nil {
		exec.Command("doveadm", "-c", e.conf, "stop").Run()
		done := make(chan struct{})
		go func() { e.dovecot.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			e.dovecot.Process.Kill()
		}
	}
}

// deliver puts a message into a mailbox with doveadm, as a delivery would:
// deliveries are not audited.
func (e *env) deliver(user, folder, subject, msgid string) {
	msg := fmt.Sprintf("From: sender@example.org\r\nTo: %s@example.org\r\nSubject: %s\r\nMessage-ID: %s\r\n\r\nHello.\r\n", user, subject, msgid)
	cmd := exec.Command("doveadm", "-c", e.conf, "save", "-u", user, "-m", folder)
	cmd.Stdin = strings.NewReader(msg)
	if out, err := cmd.CombinedOutput(); err != nil {
		e.t.Fatalf("doveadm save: %v\n%s", err, out)
	}
}

// mailaudit runs the mailaudit command line on the test's data and returns
// its standard output; a failure fails the test.
func (e *env) mailaudit(args ...string) string {
	e.t.Helper()
	out, errOut, err := e.run(args...)
	if err != nil {
		e.t.Fatalf("mailaudit %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

func (e *env) run(args ...string) (string, string, error) {
	cmd := exec.Command(binary, append([]string{"--data", e.Data}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

// startServe runs mailaudit serve on the test's Dovecot log.
func (e *env) startServe() {
	e.serve = exec.Command(binary, append([]string{"--data", e.Data, "serve", "--dovecot-log", e.AuditLog, "--seal-interval", "1s", "--listen", "127.0.0.1:0"}, e.serveArgs...)...)
	e.serve.Stdout, e.serve.Stderr = e.logFile("serve.log"), e.logFile("serve.log")
	if err := e.serve.Start(); err != nil {
		e.t.Fatal(err)
	}
	// Until it has the data directory, another process could take it.
	deadline := time.Now().Add(15 * time.Second)
	for {
		log, _ := os.ReadFile(filepath.Join(e.Dir, "serve.log"))
		if bytes.Count(log, []byte("mailaudit serving")) > e.serves {
			e.serves++
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("mailaudit serve did not start:\n%s", log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stopServe stops the daemon as a service manager does, with SIGTERM.
func (e *env) stopServe() {
	if e.serve == nil || e.serve.Process == nil {
		return
	}
	e.serve.Process.Signal(syscall.SIGTERM)
	e.serve.Wait()
	e.serve = nil
}

// killServe kills the daemon outright.
func (e *env) killServe() {
	e.serve.Process.Kill()
	e.serve.Wait()
	e.serve = nil
}

// step is one step of a client script (see testdata/imap.py).
type step []string

// imap runs steps as user over IMAP and returns each step's result.
func (e *env) imap(login, password string, steps ...step) [][]string {
	return e.python("testdata/imap.py", e.IMAPPort, login, password, steps)
}

// sieve runs ManageSieve steps (see testdata/managesieve.py).
func (e *env) sieve(login, password string, steps ...step) [][]string {
	return e.python("testdata/managesieve.py", e.SievePort, login, password, steps)
}

func (e *env) python(script string, port int, login, password string, steps []step) [][]string {
	e.t.Helper()
	in, _ := json.Marshal(steps)
	cmd := exec.Command("python3", script, "127.0.0.1", strconv.Itoa(port), login, password)
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		e.t.Fatalf("%s as %s: %v\n%s", script, login, err, stderr)
	}
	var res [][]string
	if err := json.Unmarshal(bytes.TrimSpace(out), &res); err != nil {
		e.t.Fatalf("%s: %v: %s", script, err, out)
	}
	return res
}

// record is an audit record as search-mailbox-audit-log -o json prints it.
type record map[string]any

func (r record) str(key string) string { s, _ := r[key].(string); return s }

// search returns a mailbox's audit records, newest first.
func (e *env) search(mailbox string, args ...string) []record {
	e.t.Helper()
	out := e.mailaudit(append([]string{"search-mailbox-audit-log", mailbox, "--start", "-1d", "--result-size", "250000", "-o", "json"}, args...)...)
	var recs []record
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			e.t.Fatalf("search output: %v: %s", err, sc.Text())
		}
		recs = append(recs, r)
	}
	return recs
}

// waitRecords polls until the mailbox has records matching want (or fails
// after a deadline), and returns the matching ones.
func (e *env) waitRecords(mailbox string, want func(record) bool, n int) []record {
	e.t.Helper()
	return e.waitRecordsFor(20*time.Second, mailbox, want, n)
}

func (e *env) waitRecordsFor(wait time.Duration, mailbox string, want func(record) bool, n int) []record {
	e.t.Helper()
	deadline := time.Now().Add(wait)
	for {
		var got []record
		for _, r := range e.search(mailbox) {
			if want(r) {
				got = append(got, r)
			}
		}
		if len(got) >= n || time.Now().After(deadline) {
			if len(got) < n {
				log, _ := os.ReadFile(filepath.Join(e.Dir, "serve.log"))
				e.t.Fatalf("%d matching records on %s, want %d\nserve.log:\n%s", len(got), mailbox, n, log)
			}
			return got
		}
		time.Sleep(200 * time.Millisecond)
	}
}
