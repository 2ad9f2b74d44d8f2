package milter

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gomilter "github.com/emersion/go-milter"

	"github.com/mailaudit/mailaudit/audit"
	"github.com/mailaudit/mailaudit/service"
	"github.com/mailaudit/mailaudit/sqlite"
)

// storeSink is the daemon's sink over a real service and SQLite store;
// failures, when set, fails that many commits first (fault injection).
type storeSink struct {
	svc      *service.Service
	failures atomic.Int32
	commits  atomic.Int32
}

func (k *storeSink) Ingest(ctx context.Context, acts []*audit.Activity, positions map[string]string) error {
	if k.failures.Add(-1) >= 0 {
		return errors.New("injected: the store is down")
	}
	_, err := k.svc.IngestActivities(ctx, acts, positions)
	if err == nil {
		k.commits.Add(1)
	}
	return err
}

func (k *storeSink) Position(ctx context.Context, key string) (string, error) {
	return k.svc.Position(ctx, key)
}

// newStore opens a store with mailboxes alice, bob and shared, and bob's
// SendAs grant on shared.
func newStore(t *testing.T) *storeSink {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "data"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc, err := service.Open(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, m := range []string{"alice@example.org", "bob@example.org", "shared@example.org"} {
		if _, err := svc.NewMailbox(ctx, "test", service.NewMailboxSpec{Address: m}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.AddPermission(ctx, "test", "shared@example.org", "bob", "SendAs"); err != nil {
		t.Fatal(err)
	}
	return &storeSink{svc: svc}
}

// running is a Source serving on a loopback port.
type running struct {
	src  *Source
	stop func() error
}

func start(t *testing.T, sink Sink, spool string, edit ...func(*Source)) *running {
	t.Helper()
	src := &Source{Listen: "inet:127.0.0.1:0", Spool: spool, Sink: sink, DrainTimeout: 500 * time.Millisecond, Hostname: "mx.test"}
	for _, e := range edit {
		e(src)
	}
	if err := src.Open(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	var once sync.Once
	var err error
	r := &running{src: src, stop: func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}}
	t.Cleanup(func() { r.stop() })
	return r
}

// message is what a test client submits.
type message struct {
	login, from, sender, subject string
	rcpts                        []string
}

// client is a real milter client (go-milter's, as Postfix would talk):
// one session, any number of messages.
type client struct {
	t *testing.T
	s *gomilter.ClientSession
	n int
}

func dial(t *testing.T, addr net.Addr) *client {
	t.Helper()
	c := gomilter.NewClientWithOptions(addr.Network(), addr.String(), gomilter.ClientOptions{
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second,
		// Offer every action: the milter must take none.
		ActionMask: gomilter.OptAddHeader | gomilter.OptChangeBody | gomilter.OptAddRcpt | gomilter.OptRemoveRcpt | gomilter.OptChangeHeader | gomilter.OptQuarantine,
	})
	s, err := c.Session()
	if err != nil {
		t.Fatal(err)
	}
	if s.ActionOpts != 0 {
		t.Errorf("the milter asked for actions %b: it must only observe", s.ActionOpts)
	}
	if err := s.Macros(gomilter.CodeConn, "j", "mx.example.org"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Conn("client.example.net", gomilter.FamilyInet, 40000, "198.51.100.9"); err != nil {
		t.Fatal(err)
	}
	return &client{t: t, s: s}
}

// send submits one message and returns its queue id; the milter's answer
// must let it through unchanged.
func (c *client) send(m message) (string, error) {
	c.n++
	qid := fmt.Sprintf("Q%d%x", c.n, time.Now().UnixNano())
	s := c.s
	if m.login != "" {
		if err := s.Macros(gomilter.CodeMail, "{auth_authen}", m.login, "{auth_type}", "PLAIN"); err != nil {
			return "", err
		}
	}
	if _, err := s.Mail("<"+m.from+">", nil); err != nil {
		return "", err
	}
	for _, r := range m.rcpts {
		if _, err := s.Rcpt("<"+r+">", nil); err != nil {
			return "", err
		}
	}
	hdrs := [][2]string{{"From", m.from}, {"To", strings.Join(m.rcpts, ", ")}, {"Subject", m.subject}, {"Message-ID", "<" + qid + "@example.org>"}}
	if m.sender != "" {
		hdrs = append(hdrs, [2]string{"Sender", m.sender})
	}
	for _, h := range hdrs {
		if _, err := s.HeaderField(h[0], h[1]); err != nil {
			return "", err
		}
	}
	if err := s.Macros(gomilter.CodeEOH, "i", qid); err != nil {
		return "", err
	}
	if _, err := s.HeaderEnd(); err != nil {
		return "", err
	}
	if _, err := s.BodyChunk([]byte("Hello.\r\n")); err != nil {
		return "", err
	}
	if err := s.Macros(gomilter.CodeEOB, "i", qid); err != nil {
		return "", err
	}
	mods, act, err := s.End()
	if err != nil {
		return "", err
	}
	if len(mods) != 0 || (act.Code != gomilter.ActContinue && act.Code != gomilter.ActAccept) {
		c.t.Errorf("the milter answered %c with %d changes: it must accept unchanged", act.Code, len(mods))
	}
	return qid, nil
}

// records returns the mailbox records of the store, by queue id.
func records(t *testing.T, sink *storeSink, mailbox string) map[string][]*audit.Record {
	t.Helper()
	out := map[string][]*audit.Record{}
	_, err := sink.svc.SearchMailboxAuditLog(context.Background(), service.MailboxSearch{
		Identities: []string{mailbox}, Start: time.Now().Add(-time.Hour), End: time.Now().Add(time.Hour), ResultSize: 10000,
	}, func(r *audit.Record) error {
		for _, p := range r.OperationProperties {
			if p.Name == "QueueId" {
				out[p.Value] = append(out[p.Value], r)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// waitFor polls until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSourceRecordsSends(t *testing.T) {
	sink := newStore(t)
	r := start(t, sink, t.TempDir())
	c := dial(t, r.src.Addr())
	cases := []struct {
		msg      message
		mailbox  string
		op       string
		logon    audit.LogonType
		grant    string // GrantHeld, "" for none
		recorded bool
	}{
		{message{login: "alice", from: "alice@example.org", subject: "own", rcpts: []string{"x@example.net"}}, "alice@example.org", "Send", audit.Owner, "", true},
		{message{login: "bob", from: "shared@example.org", subject: "as shared", rcpts: []string{"x@example.net", "y@example.net"}}, "shared@example.org", "SendAs", audit.Delegate, "True", true},
		{message{login: "bob", from: "alice@example.org", subject: "forged", rcpts: []string{"x@example.net"}}, "alice@example.org", "SendAs", audit.Delegate, "False", true},
		{message{login: "bob", from: "alice@example.org", sender: "bob@example.org", subject: "for alice", rcpts: []string{"x@example.net"}}, "alice@example.org", "SendOnBehalf", audit.Delegate, "False", true},
		{message{from: "someone@example.net", subject: "inbound", rcpts: []string{"alice@example.org"}}, "alice@example.org", "", 0, "", false},
	}
	qids := make([]string, len(cases))
	for i, cs := range cases {
		// All in one SMTP session: the connection's details reach every
		// message.
		qid, err := c.send(cs.msg)
		if err != nil {
			t.Fatal(err)
		}
		qids[i] = qid
	}
	c.s.Close()
	waitFor(t, "the records", func() bool {
		return len(records(t, sink, "shared@example.org")) == 1 && len(records(t, sink, "alice@example.org")) == 3
	})
	for i, cs := range cases {
		recs := records(t, sink, cs.mailbox)[qids[i]]
		if !cs.recorded {
			if len(recs) != 0 {
				t.Errorf("%s: recorded %d times, want never", cs.msg.subject, len(recs))
			}
			continue
		}
		if len(recs) != 1 {
			t.Errorf("%s: %d records, want 1", cs.msg.subject, len(recs))
			continue
		}
		rec := recs[0]
		held := ""
		for _, p := range rec.OperationProperties {
			if p.Name == "GrantHeld" {
				held = p.Value
			}
		}
		if rec.Operation != cs.op || rec.LogonType != cs.logon || held != cs.grant {
			t.Errorf("%s: %s by %s (%s), GrantHeld %q; want %s (%s), %q", cs.msg.subject, rec.Operation, rec.UserId, rec.LogonType, held, cs.op, cs.logon, cs.grant)
		}
		if rec.ClientIPAddress != "198.51.100.9" || rec.OriginatingServer != "mx.test" || rec.Item == nil || rec.Item.Subject != cs.msg.subject || rec.Item.SizeInBytes == 0 {
			t.Errorf("%s: client %q, server %q, item %+v", cs.msg.subject, rec.ClientIPAddress, rec.OriginatingServer, rec.Item)
		}
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if n := r.src.unauthenticated.Load(); n != 1 {
		t.Errorf("%d unauthenticated messages counted, want 1", n)
	}
}

// The store being down does not hold mail up: the milter answers once the
// record is spooled, and the records reach the store when it is back.
func TestSourceStoreDown(t *testing.T) {
	sink := newStore(t)
	sink.failures.Store(3)
	r := start(t, sink, t.TempDir())
	c := dial(t, r.src.Addr())
	var qids []string
	for i := range 5 {
		began := time.Now()
		qid, err := c.send(message{login: "alice", from: "alice@example.org", subject: fmt.Sprint(i), rcpts: []string{"x@example.net"}})
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(began); d > 2*time.Second {
			t.Errorf("message %d took %v while the store was down", i, d)
		}
		qids = append(qids, qid)
	}
	waitFor(t, "the store to catch up", func() bool { return len(records(t, sink, "alice@example.org")) == 5 })
	for _, q := range qids {
		if n := len(records(t, sink, "alice@example.org")[q]); n != 1 {
			t.Errorf("%s recorded %d times", q, n)
		}
	}
	if sink.failures.Load() >= 0 {
		t.Errorf("the injected failures were not all met")
	}
}

// What was spooled while the store could not take it is committed by the
// next run, once, and the spent segments are deleted.
func TestSourceRestart(t *testing.T) {
	spool := t.TempDir()
	sink := newStore(t)
	sink.failures.Store(1 << 30) // down for the whole first run
	r := start(t, sink, spool)
	c := dial(t, r.src.Addr())
	var qids []string
	for i := range 20 {
		qid, err := c.send(message{login: "bob", from: "shared@example.org", subject: fmt.Sprint(i), rcpts: []string{"x@example.net"}})
		if err != nil {
			t.Fatal(err)
		}
		qids = append(qids, qid)
	}
	c.s.Close()
	began := time.Now()
	r.stop()
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("stopping took %v", d)
	}
	if sink.commits.Load() != 0 {
		t.Fatal("the store took records while it was down")
	}

	sink.failures.Store(0)
	r2 := start(t, sink, spool)
	waitFor(t, "the spooled records", func() bool { return len(records(t, sink, "shared@example.org")) == 20 })
	for _, q := range qids {
		if n := len(records(t, sink, "shared@example.org")[q]); n != 1 {
			t.Errorf("%s recorded %d times", q, n)
		}
	}
	r2.stop()
	// A third run finds nothing new, and only its own segment is left
	// besides the one it wrote in.
	r3 := start(t, sink, spool)
	time.Sleep(200 * time.Millisecond)
	r3.stop()
	if n := len(records(t, sink, "shared@example.org")); n != 20 {
		t.Errorf("%d records after a third run, want 20", n)
	}
	segs, _ := listSegments(spool)
	if len(segs) > 2 {
		t.Errorf("segments left: %v", segs)
	}
}

// Stopping closes connections still open: Postfix goes on without the
// milter (milter_default_action = accept).
func TestSourceStopClosesConnections(t *testing.T) {
	sink := newStore(t)
	r := start(t, sink, t.TempDir())
	c := dial(t, r.src.Addr())
	if _, err := c.send(message{login: "alice", from: "alice@example.org", rcpts: []string{"x@example.net"}}); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(began); d > 3*time.Second {
		t.Errorf("stopping with an idle connection took %v", d)
	}
	if _, err := c.send(message{login: "alice", from: "alice@example.org", rcpts: []string{"x@example.net"}}); err == nil {
		t.Error("the connection is still served after stopping")
	}
	if _, err := net.DialTimeout("tcp", r.src.Addr().String(), time.Second); err == nil {
		t.Error("still listening after stopping")
	}
	// The message it answered is recorded.
	if n := len(records(t, sink, "alice@example.org")); n != 1 {
		t.Errorf("%d records, want 1", n)
	}
}

func TestSourceUnixSocket(t *testing.T) {
	sink := newStore(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "milter.sock")
	// A socket file left by a killed process is replaced.
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	r := start(t, sink, filepath.Join(dir, "spool"), func(s *Source) { s.Listen = "unix:" + sock })
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o666 {
		t.Fatalf("socket %v, %v", fi, err)
	}
	c := dial(t, &net.UnixAddr{Name: sock, Net: "unix"})
	if _, err := c.send(message{login: "alice", from: "alice@example.org", rcpts: []string{"x@example.net"}}); err != nil {
		t.Fatal(err)
	}
	c.s.Close()
	waitFor(t, "the record", func() bool { return len(records(t, sink, "alice@example.org")) == 1 })
	r.stop()
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("the socket is left after stopping: %v", err)
	}
}

func TestParseListen(t *testing.T) {
	for _, c := range []struct {
		in, network, address, postfix string
	}{
		{"inet:127.0.0.1:8891", "tcp", "127.0.0.1:8891", "inet:127.0.0.1:8891"},
		{"127.0.0.1:8891", "tcp", "127.0.0.1:8891", "inet:127.0.0.1:8891"},
		{"inet:[::1]:8891", "tcp", "[::1]:8891", "inet:[::1]:8891"},
		{"unix:/run/mailaudit/milter.sock", "unix", "/run/mailaudit/milter.sock", "unix:/run/mailaudit/milter.sock"},
		{"local:/run/m.sock", "unix", "/run/m.sock", "unix:/run/m.sock"},
		{"/run/m.sock", "unix", "/run/m.sock", "unix:/run/m.sock"},
		{"unix:relative.sock", "", "", ""},
		{"inet:8891", "", "", ""},
		{"", "", "", ""},
	} {
		n, a, err := ParseListen(c.in)
		p, _ := PostfixAddress(c.in)
		if (err != nil) != (c.network == "") || n != c.network || a != c.address || p != c.postfix {
			t.Errorf("ParseListen(%q) = %q %q %v, Postfix %q", c.in, n, a, err, p)
		}
	}
}
