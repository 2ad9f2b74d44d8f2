package e2e

import (
	"bufio"
	"fmt"
	"math/rand/v2"
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

// milterLog is what Postfix's log (with withVerboseCleanup) says of the
// milter's part in each message.
type milterLog struct {
	// answered holds the queue ids whose end-of-message event the milter
	// answered: Postfix accepted them with the milter's answer.
	answered map[string]bool
	// failed holds the queue ids whose session or cleanup logged a milter
	// failure (could not connect, a timeout, a connection lost), with the
	// first such warning: Postfix went on without the milter
	// (default_action=accept).
	failed map[string]string
}

var (
	logLine    = regexp.MustCompile(`^\S+ +\d+ [\d:]+ \S+ \S+/(smtpd|cleanup)\[(\d+)\]: (.*)$`)
	eobEvent   = regexp.MustCompile(`^event: SMFIC_BODYEOB; macros: i=(\S+)`)
	cleanupQID = regexp.MustCompile(`^([0-9A-Za-z]+): message-id=`)
	smtpdQID   = regexp.MustCompile(`^([0-9A-Za-z]+): client=`)
)

// parseMilterLog reads Postfix's log. A cleanup process handles one message
// at a time and logs, with -v, each event it sends the milter and each reply
// it reads: the reply after the SMFIC_BODYEOB event of queue id Q is the
// milter's answer to Q's end. A smtpd process handles one session at a time
// (from "connect from" to "disconnect from"), whose milter failures it
// logs.
func parseMilterLog(log string, milter string) milterLog {
	ml := milterLog{answered: map[string]bool{}, failed: map[string]string{}}
	fail := func(q, why string) {
		if _, ok := ml.failed[q]; !ok {
			ml.failed[q] = why
		}
	}
	current := map[string]string{} // cleanup pid → its message's queue id
	eob := map[string]string{}     // cleanup pid → the queue id whose end awaits the answer
	type session struct {
		failed string
		qids   []string
	}
	sessions := map[string]*session{} // smtpd pid → its session
	warning := "warning: milter " + milter + ":"
	connectFailed := "warning: connect to Milter service " + milter + ":"
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		m := logLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		pid, text := m[2], m[3]
		failure := strings.HasPrefix(text, warning) || strings.HasPrefix(text, connectFailed)
		if m[1] == "cleanup" {
			switch {
			case cleanupQID.MatchString(text):
				current[pid] = cleanupQID.FindStringSubmatch(text)[1]
			case eobEvent.MatchString(text):
				eob[pid] = eobEvent.FindStringSubmatch(text)[1]
			case strings.HasPrefix(text, "reply: SMFIR_") && eob[pid] != "":
				ml.answered[eob[pid]] = true
				eob[pid] = ""
			case failure:
				fail(current[pid], "cleanup: "+text)
				eob[pid] = ""
			}
			continue
		}
		switch s := sessions[pid]; {
		case strings.HasPrefix(text, "connect from "):
			sessions[pid] = &session{}
		case s == nil:
		case failure && s.failed == "":
			s.failed = "smtpd: " + text
		case smtpdQID.MatchString(text):
			s.qids = append(s.qids, smtpdQID.FindStringSubmatch(text)[1])
		case strings.HasPrefix(text, "disconnect from "):
			if s.failed != "" {
				for _, q := range s.qids {
					fail(q, s.failed)
				}
			}
			delete(sessions, pid)
		}
	}
	return ml
}

// TestPostfixWithoutMailaudit: mailaudit stopped, and killed in the middle
// of a stream of submissions. Mail flows either way. Which messages must be
// recorded is Postfix's own log's to say: every message Postfix accepted
// with the milter's answer at its end is recorded exactly once; those it
// accepted while the milter was down (default_action=accept) are delivered,
// and may not be recorded. It runs with the milter's default durability
// (disk) and with device, which a kill must not make any weaker.
func TestPostfixWithoutMailaudit(t *testing.T) {
	for _, durability := range []string{"disk", "device"} {
		t.Run(durability, func(t *testing.T) { testPostfixWithoutMailaudit(t, durability) })
	}
}

func testPostfixWithoutMailaudit(t *testing.T, durability string) {
	e, p, milter := postfixEnvServing(t, []string{"--milter-durability", durability}, withVerboseCleanup)
	// The milter says how it runs once it reads its spool, which may be
	// after serve says it is serving.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(e.serveLog(), `"durability":"`+durability+`"`); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("serve does not say it runs with durability %s:\n%s", durability, e.serveLog())
		}
	}

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

	// Killed mid-stream and restarted once Postfix has accepted something
	// without it.
	e.startServe()
	refusedBefore := strings.Count(p.maillog(), "connect to Milter service "+milter)
	const n = 120
	var msgs []smtpMsg
	for i := range n {
		msgs = append(msgs, message(fmt.Sprintf("s%03d", i), "alice", "alice@example.org", "alice@example.org", "", "bob@example.org"))
	}
	var results []smtpResult
	restarted := make(chan struct{})
	p.smtpStream(msgs, func(r smtpResult) {
		if !r.ok() {
			t.Errorf("message %s not accepted: %d %s %s", r.ID, r.Code, r.Reply, r.Error)
		}
		results = append(results, r)
		if len(results) == 20 {
			go func() {
				defer close(restarted)
				// At any point of the next message: between sessions, in
				// the negotiation, in the middle of a message or right
				// after its answer. The log says which it was.
				time.Sleep(time.Duration(rand.IntN(30)) * time.Millisecond)
				e.killServe()
				// Meanwhile Postfix goes on without the milter.
				for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
					if strings.Count(p.maillog(), "connect to Milter service "+milter) > refusedBefore {
						break
					}
				}
				e.startServe()
			}()
		}
	})
	<-restarted
	// A last few for sure after the restart.
	var last []smtpMsg
	for i := range 10 {
		last = append(last, message(fmt.Sprintf("t%03d", i), "alice", "alice@example.org", "alice@example.org", "", "bob@example.org"))
	}
	for _, m := range last {
		results = append(results, p.smtp(m)[m.ID])
	}

	// Postfix's word on each accepted message.
	ml := parseMilterLog(p.maillog(), milter)
	var answered, down []smtpResult
	for _, r := range results {
		if ml.answered[r.QueueID] {
			answered = append(answered, r)
			continue
		}
		down = append(down, r)
		// Not answered, so Postfix must have logged why.
		if ml.failed[r.QueueID] == "" {
			t.Errorf("%s (%s): accepted without the milter's answer, and no milter failure logged for it", r.ID, r.QueueID)
		}
	}

	// Everything answered is recorded, once.
	e.waitRecordsFor(30*time.Second, "alice@example.org", func(rec record) bool {
		for _, r := range answered {
			if prop(rec, "QueueId") == r.QueueID {
				return true
			}
		}
		return false
	}, len(answered))
	time.Sleep(time.Second) // anything still in the spool has had its chance
	count := map[string]int{}
	for _, rec := range e.search("alice@example.org") {
		if strings.HasSuffix(messageIDs(rec), "@client.example.net>") {
			count[prop(rec, "QueueId")]++
		}
	}
	for q, c := range count {
		if c > 1 {
			t.Errorf("queue id %s recorded %d times", q, c)
		}
	}
	for _, r := range answered {
		if count[r.QueueID] != 1 {
			t.Errorf("%s (%s), answered by the milter, recorded %d times", r.ID, r.QueueID, count[r.QueueID])
		}
	}
	// The rest went through without mailaudit: delivered all the same.
	var downIDs []string
	recordedDown := 0
	for _, r := range down {
		p.sent(r.QueueID, "bob@example.org")
		downIDs = append(downIDs, fmt.Sprintf("%s=%s (%s)", r.ID, r.QueueID, ml.failed[r.QueueID]))
		recordedDown += count[r.QueueID]
	}
	t.Logf("%d messages: %d answered by the milter (all recorded once); %d accepted while it was down, delivered (%d of them recorded all the same):\n%s",
		len(results), len(answered), len(down), recordedDown, strings.Join(downIDs, "\n"))
	if len(down) == 0 {
		t.Error("no message was accepted while the milter was down: the stream did not straddle the kill")
	}
	if len(answered) == 0 || !ml.answered[results[0].QueueID] || !ml.answered[results[len(results)-1].QueueID] {
		t.Errorf("the milter did not answer both before the kill and after the restart (%d answered)", len(answered))
	}
	// The message sent while mailaudit was stopped was never seen: it is not
	// recorded (docs/postfix.md).
	for _, rec := range e.search("bob@example.org") {
		if strings.Contains(messageIDs(rec), msgID("while-stopped")) {
			t.Error("a message sent while mailaudit was stopped is recorded")
		}
	}
}
