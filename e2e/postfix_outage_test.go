package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func epoch(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// milterTimeouts reads the time limits postfix-config printed for the
// milter (its smtpd_milters entry).
func (p *postfix) milterTimeouts() (connect, command, content time.Duration) {
	p.e.t.Helper()
	line := regexp.MustCompile(`(?m)^  -o \{ smtpd_milters = \{ .*\} \}$`).FindString(p.Config)
	get := func(name string) time.Duration {
		m := regexp.MustCompile(name + `=(\d+)s`).FindStringSubmatch(line)
		if m == nil {
			p.e.t.Fatalf("postfix-config printed no %s for the milter:\n%s", name, p.Config)
		}
		n, _ := strconv.Atoi(m[1])
		return time.Duration(n) * time.Second
	}
	return get("connect_timeout"), get("command_timeout"), get("content_timeout")
}

// TestPostfixMilterHung: mailaudit alive but not answering (SIGSTOP), as a
// daemon that is swapping or deadlocked is. Postfix connects (the kernel
// still accepts connections on the daemon's socket) and waits, but only as
// long as the limits postfix-config prints; then it goes on without the
// milter for the rest of the session. A hung milter therefore costs a
// session at most one of the limits, the first to expire: each client here
// waits for any one reply at most the largest of them plus a few seconds,
// so with Postfix's defaults (30s to connect, 300s for content) the session
// would fail. What is asserted is the outcome: the message is accepted
// (250, a queue id) and delivered.
func TestPostfixMilterHung(t *testing.T) {
	e, p, milter := postfixEnv(t)
	connect, command, content := p.milterTimeouts()
	bound := max(connect, command, content) + 5*time.Second
	if bound >= 30*time.Second {
		t.Fatalf("the printed limits (%v, %v, %v) are no shorter than Postfix's default connect timeout: this test could not fail", connect, command, content)
	}
	pid := e.serve.Process.Pid
	stop := func() {
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
	}
	cont := func() {
		if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGCONT) })
	accepted := func(r smtpResult) {
		t.Helper()
		if !r.ok() {
			t.Fatalf("message %s with mailaudit hung: %d %s %s (clients wait %v for a reply)\n%s", r.ID, r.Code, r.Reply, r.Error, bound, p.maillog())
		}
		e.inMailbox("bob", r.ID)
		p.sent(r.QueueID, "bob@example.org")
	}

	// Hung before the session: the kernel accepts Postfix's connection,
	// Postfix waits command_timeout for the negotiation's answer, then goes
	// on without the milter.
	for _, s := range submitters {
		stop()
		m := message("hung-"+s.name, "alice", "alice@example.org", "alice@example.org", "", "bob@example.org")
		m.Timeout = bound.Seconds()
		accepted(s.submit(p, m))
		cont()
	}
	if n := strings.Count(p.maillog(), "milter "+milter+": can't read SMFIC_OPTNEG reply packet header: Connection timed out"); n < len(submitters) {
		t.Errorf("Postfix timed out negotiating with the hung milter %d times, want %d:\n%s", n, len(submitters), p.maillog())
	}

	// Hung in the middle of a session, after the negotiation and the
	// envelope: Postfix waits content_timeout for the answer at the end of
	// the message. (smtplib: swaks cannot pause.)
	m := message("hung-mid", "alice", "alice@example.org", "alice@example.org", "", "bob@example.org")
	m.Timeout = bound.Seconds()
	m.Pause = filepath.Join(e.Dir, "resume-hung-mid")
	var res []smtpResult
	p.smtpStream([]smtpMsg{m}, func(r smtpResult) {
		if r.Paused {
			stop()
			if err := os.WriteFile(m.Pause, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		res = append(res, r)
	})
	if len(res) != 1 {
		t.Fatalf("%d results for hung-mid", len(res))
	}
	accepted(res[0])
	cont()
	if !strings.Contains(p.maillog(), "milter "+milter+": can't read SMFIC_BODYEOB reply packet header: Connection timed out") {
		t.Errorf("Postfix did not time out waiting for the end-of-message answer:\n%s", p.maillog())
	}

	// Resumed, the daemon answers again, and records.
	q := p.smtp(message("after-hang", "alice", "alice@example.org", "alice@example.org", "", "bob@example.org"))["after-hang"]
	recs := e.waitRecords("alice@example.org", withMessageID("after-hang"), 1)
	if len(recs) != 1 || prop(recs[0], "QueueId") != q.QueueID {
		t.Errorf("after the hang: %d records of after-hang", len(recs))
	}
	// What the milter had read of hung-mid before it stopped was its whole
	// message: resumed, it may have spooled it though Postfix had gone on.
	// Never twice.
	for _, id := range []string{"hung-swaks", "hung-smtplib", "hung-mid"} {
		n := 0
		for _, r := range e.search("alice@example.org") {
			if strings.Contains(messageIDs(r), msgID(id)) {
				n++
			}
		}
		if n > 1 {
			t.Errorf("%s recorded %d times", id, n)
		}
		t.Logf("%s: %d record(s)", id, n)
	}
}

// TestPostfixWithoutMailaudit: mailaudit stopped, and killed in the middle
// of a stream of submissions. Mail flows either way; every message Postfix
// accepted while the milter answered is recorded exactly once.
func TestPostfixWithoutMailaudit(t *testing.T) {
	e, p, milter := postfixEnv(t)

	// Stopped: Postfix delivers as usual (milter_default_action = accept).
	e.stopServe()
	r := p.swaks(message("while-stopped", "bob", "bob@example.org", "bob@example.org", "", "alice@example.org"))
	if !r.ok() {
		t.Fatalf("with mailaudit stopped: %+v\n%s", r, p.maillog())
	}
	e.inMailbox("alice", "while-stopped")
	p.sent(r.QueueID, "alice@example.org")
	if !strings.Contains(p.maillog(), "connect to Milter service "+milter) {
		t.Errorf("Postfix did not try the milter:\n%s", p.maillog())
	}

	// Killed mid-stream and restarted.
	e.startServe()
	const n = 120
	var msgs []smtpMsg
	for i := range n {
		msgs = append(msgs, message(fmt.Sprintf("s%03d", i), "alice", "alice@example.org", "alice@example.org", "", "x@example.net"))
	}
	var results []smtpResult
	var killedAt, readyAt float64
	restarted := make(chan struct{})
	p.smtpStream(msgs, func(r smtpResult) {
		if r.Error != "" || r.Code != 250 {
			t.Errorf("message %s not accepted: %d %s %s", r.ID, r.Code, r.Reply, r.Error)
		}
		results = append(results, r)
		if len(results) == 20 {
			killedAt = epoch(time.Now())
			e.killServe()
			// Meanwhile Postfix goes on without the milter.
			go func() {
				time.Sleep(300 * time.Millisecond)
				e.startServe()
				readyAt = epoch(time.Now())
				close(restarted)
			}()
		}
	})
	<-restarted
	// A last few for sure after the restart.
	for i := range 10 {
		msgs[i] = message(fmt.Sprintf("t%03d", i), "alice", "alice@example.org", "alice@example.org", "", "x@example.net")
	}
	for _, r := range p.smtp(msgs[:10]...) {
		results = append(results, r)
	}

	var must []string
	maybe := 0
	for _, r := range results {
		if r.End < killedAt || r.Start > readyAt {
			must = append(must, r.ID)
		} else {
			maybe++
		}
	}
	isStream := func(r record) bool {
		ids := messageIDs(r)
		return strings.Contains(ids, "@client.example.net>") && (strings.Contains(ids, "<s") || strings.Contains(ids, "<t"))
	}
	e.waitRecordsFor(30*time.Second, "alice@example.org", func(r record) bool {
		for _, id := range must {
			if strings.Contains(messageIDs(r), msgID(id)) {
				return true
			}
		}
		return false
	}, len(must))
	time.Sleep(time.Second) // anything still in the spool has had its chance
	count := map[string]int{}
	for _, r := range e.search("alice@example.org") {
		if isStream(r) {
			count[strings.Trim(messageIDs(r), "<>")]++
		}
	}
	for id, c := range count {
		if c > 1 {
			t.Errorf("%s recorded %d times", id, c)
		}
	}
	for _, id := range must {
		if count[strings.Trim(msgID(id), "<>")] != 1 {
			t.Errorf("%s, answered by the milter, recorded %d times", id, count[strings.Trim(msgID(id), "<>")])
		}
	}
	t.Logf("%d messages: %d answered by the milter (all recorded once), %d around the kill and restart (%d of all recorded)",
		len(results), len(must), maybe, len(count))
	if len(must) < 30 {
		t.Errorf("only %d messages were answered by the milter: the stream did not straddle the kill", len(must))
	}
	// The message sent while mailaudit was stopped was never seen: it is not
	// recorded (docs/postfix.md).
	for _, r := range e.search("bob@example.org") {
		if strings.Contains(messageIDs(r), msgID("while-stopped")) {
			t.Error("a message sent while mailaudit was stopped is recorded")
		}
	}
}
