package e2e

import (
	"flag"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gomilter "github.com/emersion/go-milter"
	"golang.org/x/sys/unix"

	"github.com/mailaudit/mailaudit/milter"
)

var (
	milterMessages = flag.Int("milter.messages", 1000, "messages BenchmarkPostfixMilter submits to each Postfix per client count")
	milterClients  = flag.String("milter.clients", "1,8", "concurrent SMTP clients of BenchmarkPostfixMilter, a run per value")
	milterSocket   = flag.String("milter.socket", "inet", "how Postfix reaches the milter in BenchmarkPostfixMilter: inet (loopback TCP) or unix")
)

// BenchmarkPostfixMilter measures the delay mailaudit's milter adds to a
// submission. Real Postfix instances, identical but for the milter on the
// submission service, take the same messages from SMTP clients that
// alternate between them, so that all see the same machine at the same
// moments:
//
//   - without milter;
//   - a no-op milter (answers at once, same protocol options): what
//     Postfix's milter mechanics cost before mailaudit does anything;
//   - mailaudit serve's milter, durability "disk" (the default);
//   - mailaudit serve's milter, durability "device";
//   - mailaudit serve's milter, durability "process".
//
// The Postfix settings are those postfix-config prints. Each message has
// its own connection with SASL PLAIN (through the test Dovecot), one
// recipient in a domain Postfix discards, and a 2 KB body. Timed: from the
// end of DATA (the final dot) to Postfix's 250 reply, and the whole
// transaction from connect to the reply to QUIT.
//
//	go test -run '^$' -bench PostfixMilter -benchtime 1x ./e2e -milter.messages 2000
func BenchmarkPostfixMilter(b *testing.B) {
	needPostfix(b)
	e := newEnv(b, withLMTP, withSASL)
	listen := map[string]string{}
	var conf strings.Builder
	for _, d := range []string{"disk", "device", "process"} {
		listen[d] = fmt.Sprintf("inet:127.0.0.1:%d", freePort(b))
		if *milterSocket == "unix" {
			listen[d] = "unix:" + filepath.Join(e.Dir, d+".sock")
		}
		fmt.Fprintf(&conf, "[[milter]]\nlisten = %q\ndurability = %q\n\n", listen[d], d)
	}
	e.serveArgs = []string{"--config", e.write("mailaudit.toml", conf.String())}
	e.mailaudit("new-mailbox", "alice@example.org")
	targets := []struct {
		name string
		p    *postfix
	}{
		{"without milter", newPostfix(e, "bare", "")},
		{"no-op milter", newPostfix(e, "noop", noopMilter(b))},
		{"mailaudit, durability disk", newPostfix(e, "disk", listen["disk"])},
		{"mailaudit, durability device", newPostfix(e, "device", listen["device"])},
		{"mailaudit, durability process", newPostfix(e, "process", listen["process"])},
	}
	e.startServe()
	var all []*postfix
	for _, t := range targets {
		all = append(all, t.p)
	}

	var clients []int
	for _, c := range strings.Split(*milterClients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 {
			b.Fatalf("-milter.clients: %q", c)
		}
		clients = append(clients, n)
	}
	body := "Hello.\r\n" + strings.Repeat(strings.Repeat("x", 74)+"\r\n", 2048/76)
	for range b.N {
		fmt.Printf("\n| clients | submission service | end of data → 250: p50 | p90 | p99 | added p50 | added p99 | whole transaction: p50 | p99 |\n|--:|---|--:|--:|--:|--:|--:|--:|--:|\n")
		for _, c := range clients {
			// Warm up (process pools, the milters' first connections).
			submitAll(b, all, 2, 20, body)
			res := submitAll(b, all, c, *milterMessages, body)
			base, _ := res[0].percentiles()
			for i, t := range targets {
				eod, whole := res[i].percentiles()
				added := func(k int) string {
					if i == 0 {
						return "–"
					}
					return ms(eod[k] - base[k])
				}
				fmt.Printf("| %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", c, t.name, ms(eod[0]), ms(eod[1]), ms(eod[2]), added(0), added(2), ms(whole[0]), ms(whole[2]))
				if c == clients[0] && i >= 2 {
					d := strings.TrimPrefix(t.name, "mailaudit, durability ")
					b.ReportMetric(seconds(eod[0]-base[0])*1000, "added-p50-ms-"+d)
					b.ReportMetric(seconds(eod[2]-base[2])*1000, "added-p99-ms-"+d)
				}
			}
		}
	}
	b.StopTimer()
	// Not a timing check: the milters saw every message they were sent.
	want := 0
	for _, c := range clients {
		want += 3 * (20 + c*(*milterMessages/c))
	}
	recs := e.waitRecordsFor(60*time.Second, "alice@example.org", func(r record) bool { return r.str("Operation") == "Send" }, want*b.N)
	b.Logf("%d Send records", len(recs))
}

// timings are one Postfix's measurements.
type timings struct {
	mu       sync.Mutex
	eod, all []time.Duration
}

func (t *timings) percentiles() (eod, all [3]time.Duration) {
	pick := func(d []time.Duration) [3]time.Duration {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return [3]time.Duration{d[len(d)/2], d[len(d)*90/100], d[len(d)*99/100]}
	}
	return pick(t.eod), pick(t.all)
}

// submitAll submits n messages to each Postfix from c clients, each client
// alternating between them (in turns, so neither is always first).
func submitAll(b *testing.B, to []*postfix, c, n int, body string) []*timings {
	res := make([]*timings, len(to))
	for i := range res {
		res[i] = &timings{}
	}
	var wg sync.WaitGroup
	per := n / c
	for w := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				for k := range to {
					j := (k + i + w) % len(to)
					eod, all, err := submit(to[j].Port, body)
					if err != nil {
						b.Error(err)
						return
					}
					res[j].mu.Lock()
					res[j].eod = append(res[j].eod, eod)
					res[j].all = append(res[j].all, all)
					res[j].mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	return res
}

// submit sends one message as alice over a connection of its own.
func submit(port int, body string) (eod, all time.Duration, err error) {
	start := time.Now()
	c, err := smtp.Dial(fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	if err := c.Hello("client.example.net"); err != nil {
		return 0, 0, err
	}
	// net/smtp sends PLAIN without TLS only to localhost, which this is.
	if err := c.Auth(smtp.PlainAuth("", "alice", passwords["alice"], "127.0.0.1")); err != nil {
		return 0, 0, fmt.Errorf("auth: %w", err)
	}
	if err := c.Mail("alice@example.org"); err != nil {
		return 0, 0, err
	}
	if err := c.Rcpt("x@example.net"); err != nil {
		return 0, 0, err
	}
	w, err := c.Data()
	if err != nil {
		return 0, 0, err
	}
	id := fmt.Sprintf("<bench%d@client.example.net>", start.UnixNano())
	fmt.Fprintf(w, "From: alice@example.org\r\nTo: x@example.net\r\nSubject: benchmark\r\nMessage-ID: %s\r\n\r\n%s", id, body)
	t := time.Now()
	// Close sends the final dot and reads the reply: 250 once Postfix has
	// the message (and the milter has answered).
	if err := w.Close(); err != nil {
		return 0, 0, fmt.Errorf("end of data: %w", err)
	}
	eod = time.Since(t)
	if err := c.Quit(); err != nil {
		return 0, 0, err
	}
	return eod, time.Since(start), nil
}

func ms(d time.Duration) string { return strconv.FormatFloat(seconds(d)*1000, 'f', 2, 64) + " ms" }

func seconds(d time.Duration) float64 { return d.Seconds() }

// noopMilter serves a milter that answers every message at once, in the
// test process.
func noopMilter(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	srv := &gomilter.Server{NewMilter: func() gomilter.Milter { return noop{} }, Protocol: milter.Protocol}
	go srv.Serve(quickAckListener{ln})
	return "inet:" + ln.Addr().String()
}

// quickAckListener does what the milter does on TCP (milter/source.go,
// trackedConn.Read): quick ACKs after each read, without which Postfix's
// unanswered events stall on delayed ACKs.
type quickAckListener struct{ net.Listener }

func (l quickAckListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		return nil, err
	}
	return quickAckConn{c, raw}, nil
}

type quickAckConn struct {
	net.Conn
	raw syscall.RawConn
}

func (c quickAckConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.raw.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 1) })
	return n, err
}

// noop returns no response where Postfix expects none (milter.Protocol),
// and continue at the end of a message.
type noop struct{}

func (noop) Connect(string, string, uint16, net.IP, *gomilter.Modifier) (gomilter.Response, error) {
	return nil, nil
}
func (noop) Helo(string, *gomilter.Modifier) (gomilter.Response, error)     { return nil, nil }
func (noop) MailFrom(string, *gomilter.Modifier) (gomilter.Response, error) { return nil, nil }
func (noop) RcptTo(string, *gomilter.Modifier) (gomilter.Response, error)   { return nil, nil }
func (noop) Header(string, string, *gomilter.Modifier) (gomilter.Response, error) {
	return nil, nil
}
func (noop) Headers(textproto.MIMEHeader, *gomilter.Modifier) (gomilter.Response, error) {
	return nil, nil
}
func (noop) BodyChunk([]byte, *gomilter.Modifier) (gomilter.Response, error) { return nil, nil }
func (noop) Body(*gomilter.Modifier) (gomilter.Response, error)              { return gomilter.RespContinue, nil }
func (noop) Abort(*gomilter.Modifier) error                                  { return nil }
