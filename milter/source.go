package milter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gomilter "github.com/emersion/go-milter"
	"golang.org/x/sys/unix"

	"github.com/mailaudit/mailaudit/audit"
)

// Sink takes the activity the source read from its spool together with the
// spool position reached, in one transaction (the daemon's service).
type Sink interface {
	Ingest(ctx context.Context, acts []*audit.Activity, positions map[string]string) error
	Position(ctx context.Context, key string) (string, error)
}

// Defaults of Source.
const (
	DefaultAppendTimeout = 5 * time.Second
	DefaultBatch         = 1000
	DefaultFeedInterval  = 200 * time.Millisecond
	// DefaultDrainTimeout bounds how long a stopping source goes on
	// feeding the store what is spooled; what is left is read at the next
	// start.
	DefaultDrainTimeout = 5 * time.Second
	// settleTimeout bounds how long a stopping source waits for messages
	// whose end it has seen to be spooled and answered.
	settleTimeout = 5 * time.Second
)

// Protocol is what the milter asks Postfix for: no HELO, unknown commands
// or DATA events, and no reply to any event but the end of the message, so
// a message costs Postfix one round trip to the milter. It requests no
// actions: Postfix will not let it change a message.
const Protocol = gomilter.OptNoHelo | gomilter.OptNoUnknown | gomilter.OptNoData |
	gomilter.OptNoConnReply | gomilter.OptNoMailReply | gomilter.OptNoRcptReply |
	gomilter.OptNoHeaderReply | gomilter.OptNoEOHReply | gomilter.OptNoBodyReply

// Source is the Postfix milter: it serves Postfix on Listen, writes what each
// submitted message means to its spool before answering, and feeds the
// spool to the Sink.
type Source struct {
	// Listen is where Postfix connects: "inet:HOST:PORT", "unix:PATH" (or
	// "local:PATH", or a bare absolute PATH) as in Postfix's smtpd_milters,
	// or "HOST:PORT".
	Listen string
	// Spool is the spool directory (see the package comment).
	Spool string
	// Hostname, when set, is the OriginatingServer of the activity; else
	// Postfix's myhostname is.
	Hostname string
	Sink     Sink
	Log      *slog.Logger
	// AppendTimeout bounds how long a message waits for its record to reach
	// the disk before the milter lets it through anyway (and logs it);
	// DefaultAppendTimeout if 0.
	AppendTimeout time.Duration
	// Batch caps the activities committed in one transaction.
	Batch int
	// SegmentSize is the spool's segment size (DefaultSegmentSize if 0).
	SegmentSize int64
	// Durability is what the milter waits for before it answers Postfix
	// (Disk if zero; see Durability).
	Durability Durability
	// DrainTimeout: DefaultDrainTimeout if 0.
	DrainTimeout time.Duration
	// FeedInterval is the least time between two commits of a busy spool
	// (DefaultFeedInterval if 0): records reach the store within it.
	FeedInterval time.Duration
	// Skipped, when set, is told of every message the milter saw but could
	// not spool (logged either way).
	Skipped func()
	// Lag, when set, is told after each commit how many spool bytes are
	// still to be committed.
	Lag func(bytes int64)

	ln    net.Listener
	spool *Spool

	mu       sync.Mutex
	conns    map[net.Conn]bool
	inflight int // messages between their end and their answer
	stopping bool

	unauthenticated atomic.Int64
	spooled         atomic.Int64
}

// Key is the name the spool position is saved under.
func (s *Source) Key() string {
	abs, err := filepath.Abs(s.Spool)
	if err != nil {
		abs = s.Spool
	}
	return "milter:" + abs
}

// ParseListen reads a milter address into a network and an address for
// net.Listen.
func ParseListen(addr string) (network, address string, err error) {
	a := strings.TrimSpace(addr)
	switch {
	case strings.HasPrefix(a, "inet:"):
		network, address = "tcp", strings.TrimPrefix(a, "inet:")
	case strings.HasPrefix(a, "unix:"), strings.HasPrefix(a, "local:"):
		network, address = "unix", a[strings.IndexByte(a, ':')+1:]
	case strings.HasPrefix(a, "/"):
		network, address = "unix", a
	default:
		network, address = "tcp", a
	}
	if network == "tcp" {
		if _, _, err := net.SplitHostPort(address); err != nil {
			return "", "", fmt.Errorf("%q is not a milter address (inet:HOST:PORT or unix:PATH)", addr)
		}
	} else if !filepath.IsAbs(address) {
		return "", "", fmt.Errorf("%q: a milter socket needs an absolute path", addr)
	}
	return network, address, nil
}

// PostfixAddress is the address as Postfix's smtpd_milters writes it.
func PostfixAddress(addr string) (string, error) {
	network, address, err := ParseListen(addr)
	if err != nil {
		return "", err
	}
	if network == "unix" {
		return "unix:" + address, nil
	}
	return "inet:" + address, nil
}

// Open opens the spool and starts listening, so that start-up errors (an
// address in use, a spool that cannot be written) come before Run.
func (s *Source) Open() error {
	network, address, err := ParseListen(s.Listen)
	if err != nil {
		return fmt.Errorf("milter: %w", err)
	}
	sp, err := OpenSpool(s.Spool, SpoolOptions{SegmentSize: s.SegmentSize, Durability: s.Durability})
	if err != nil {
		return fmt.Errorf("milter %s: %w", s.Listen, err)
	}
	if network == "unix" {
		removeStaleSocket(address)
	}
	ln, err := net.Listen(network, address)
	if err != nil {
		sp.Close()
		return fmt.Errorf("milter %s: %w", s.Listen, err)
	}
	if network == "unix" {
		// Postfix's smtpd runs as its own user: access is controlled by the
		// directory the socket is in (docs/postfix.md).
		os.Chmod(address, 0o666)
	}
	s.spool, s.ln = sp, ln
	s.conns = map[net.Conn]bool{}
	return nil
}

// Close releases what Open took, for a source that will not Run (the
// daemon failing to start).
func (s *Source) Close() {
	if s.ln != nil {
		s.ln.Close()
	}
	if s.spool != nil {
		s.spool.Close()
	}
}

// removeStaleSocket removes a socket file nothing listens on any more (left
// by a process that was killed), and nothing else.
func removeStaleSocket(path string) {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode()&os.ModeSocket == 0 {
		return
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return
	}
	os.Remove(path)
}

// Addr is the address the milter listens on (after Open).
func (s *Source) Addr() net.Addr { return s.ln.Addr() }

// Run serves Postfix and feeds the spool to the sink until ctx ends. Then it
// stops taking connections (Postfix goes on without the milter, as
// milter_default_action = accept says), waits a moment for messages whose
// end it has seen, closes the remaining connections, and commits what is
// spooled before it returns.
func (s *Source) Run(ctx context.Context) error {
	if s.ln == nil {
		if err := s.Open(); err != nil {
			return err
		}
	}
	log := s.log()
	if s.AppendTimeout == 0 {
		s.AppendTimeout = DefaultAppendTimeout
	}
	if s.Batch == 0 {
		s.Batch = DefaultBatch
	}
	if s.DrainTimeout == 0 {
		s.DrainTimeout = DefaultDrainTimeout
	}
	if s.FeedInterval == 0 {
		s.FeedInterval = DefaultFeedInterval
	}
	start, err := s.startPosition(ctx)
	if err != nil {
		s.ln.Close()
		s.spool.Close()
		return err
	}
	log.Info("milter listening", "listen", s.Listen, "spool", s.spool.Dir(), "direct_io", s.spool.Direct(), "durability", s.Durability.String(), "from", start.String())

	srv := &gomilter.Server{
		NewMilter: func() gomilter.Milter {
			return &session{src: s, conn: map[string]string{}, macros: map[string]string{}}
		},
		Protocol: Protocol,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(trackListener{s.ln, s}) }()

	feedCtx, stopFeed := context.WithCancel(context.WithoutCancel(ctx))
	defer stopFeed()
	fed := make(chan error, 1)
	drain := make(chan struct{})
	go func() { fed <- s.feed(feedCtx, start, drain) }()

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-served:
		runErr = fmt.Errorf("milter %s: %w", s.Listen, err)
	case err := <-fed:
		runErr = err
		fed <- err
	}

	// Stop: no new connections, let messages at their end be answered, then
	// cut the rest (Postfix lets them through).
	s.ln.Close()
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	deadline := time.Now().Add(settleTimeout)
	for s.busy() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	s.mu.Lock()
	var open []net.Conn
	for c := range s.conns {
		open = append(open, c)
	}
	s.mu.Unlock()
	for _, c := range open {
		c.Close() // takes s.mu to forget itself
	}
	s.spool.Close()
	// Commit what is spooled, for a while; the rest waits in the spool.
	close(drain)
	t := time.AfterFunc(s.DrainTimeout, stopFeed)
	defer t.Stop()
	if err := <-fed; err != nil && runErr == nil && !errors.Is(err, context.Canceled) {
		runErr = err
	}
	log.Info("milter stopped", "listen", s.Listen, "spooled", s.spooled.Load(), "unauthenticated", s.unauthenticated.Load())
	return runErr
}

func (s *Source) log() *slog.Logger {
	if s.Log == nil {
		return slog.Default()
	}
	return s.Log
}

func (s *Source) busy() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inflight > 0
}

// startPosition is where the feeder starts: after what was committed, or at
// the oldest segment.
func (s *Source) startPosition(ctx context.Context) (Pos, error) {
	raw, err := s.Sink.Position(ctx, s.Key())
	if err != nil {
		return Pos{}, fmt.Errorf("milter: reading the saved position of %s: %w", s.Spool, err)
	}
	if raw == "" {
		return s.spool.First()
	}
	p, err := ParsePos(raw)
	if err != nil {
		return Pos{}, fmt.Errorf("milter: the saved position of %s is damaged: %w", s.Spool, err)
	}
	if err := s.spool.Release(p); err != nil {
		return Pos{}, err
	}
	return p, nil
}

// feed commits spooled records to the sink in order, with the position
// after them, until ctx ends, or, once drain is closed, until everything
// durable is committed. A failing store pauses it: the same records are
// offered again, so nothing is skipped (and SourceEventId removes the
// duplicates a crash between commit and position cannot make anyway, since
// both are one transaction).
func (s *Source) feed(ctx context.Context, p Pos, drain <-chan struct{}) error {
	log := s.log()
	backoff := 100 * time.Millisecond
	for {
		recs, next, damaged, err := s.spool.Read(p, s.Batch)
		if damaged != "" {
			log.Error("milter spool damaged", "detail", damaged)
		}
		if err != nil {
			log.Error("reading the milter spool", "error", err)
			if !sleep(ctx, time.Second) {
				return nil
			}
			continue
		}
		if len(recs) > 0 || next != p {
			acts := make([]*audit.Activity, 0, len(recs))
			for _, r := range recs {
				a, err := audit.ParseActivity(r)
				if err != nil {
					// Only this package writes the spool: a record it cannot
					// read back is a bug, reported rather than retried forever.
					log.Error("skipping a milter spool record", "error", err)
					continue
				}
				acts = append(acts, a)
			}
			for {
				err := s.Sink.Ingest(ctx, acts, map[string]string{s.Key(): next.String()})
				if err == nil {
					break
				}
				if ctx.Err() != nil {
					return nil
				}
				log.Error("committing milter activity; will retry", "error", err, "position", p.String())
				if !sleep(ctx, backoff) {
					return nil
				}
				backoff = min(2*backoff, 5*time.Second)
			}
			backoff = 100 * time.Millisecond
			if next.Seg != p.Seg {
				if err := s.spool.Release(next); err != nil {
					log.Warn("removing committed milter spool segments", "error", err)
				}
			}
			p = next
			if s.Lag != nil {
				s.Lag(s.spool.Behind(p))
			}
			if len(recs) < s.Batch {
				// Gather what comes in the next moment into one commit:
				// every commit is a disk flush of the store, which would
				// otherwise come once per message and queue the spool's
				// writes (the ones Postfix waits for) behind it.
				select {
				case <-ctx.Done():
					return nil
				case <-drain:
				case <-time.After(s.FeedInterval):
				}
			}
			continue
		}
		select {
		case <-drain:
			if !p.Before(s.spool.Durable()) {
				return nil
			}
		default:
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.spool.Notify():
		case <-drain:
		case <-time.After(time.Second):
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// trackListener keeps the open connections, to close them at shutdown.
type trackListener struct {
	net.Listener
	src *Source
}

func (l trackListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		if errors.Is(err, net.ErrClosed) {
			// Closed by Run: go-milter's Serve returns it; Run is already
			// stopping and does not read it.
			return nil, err
		}
		return nil, err
	}
	tc := &trackedConn{Conn: c, src: l.src}
	if t, ok := c.(*net.TCPConn); ok {
		tc.raw, _ = t.SyscallConn()
	}
	l.src.mu.Lock()
	stopping := l.src.stopping
	if !stopping {
		l.src.conns[tc] = true
	}
	l.src.mu.Unlock()
	if stopping {
		c.Close()
	}
	return tc, nil
}

type trackedConn struct {
	net.Conn
	src  *Source
	once sync.Once
	raw  syscall.RawConn // TCP only
}

// Read reads, and on TCP asks for the next ACK to go out at once. Postfix
// sends most events without waiting for a reply (the Protocol options
// above), in small writes with Nagle's algorithm on; an event written while
// the previous one is unacknowledged waits for the ACK, and Linux delays
// ACKs it has nothing to send with by up to 40 ms. Quick ACKs keep Postfix's
// writes flowing. (TCP_QUICKACK does not stick: it is set after each read.)
func (c *trackedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if c.raw != nil {
		c.raw.Control(func(fd uintptr) {
			unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 1)
		})
	}
	return n, err
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.src.mu.Lock()
		delete(c.src.conns, c)
		c.src.mu.Unlock()
	})
	return c.Conn.Close()
}

// session is one Postfix connection to the milter (one SMTP session, any
// number of messages). go-milter makes a new one after a final answer;
// answering "continue" at the end of each message (which Postfix takes as
// accept) keeps it, so the connection's details reach every message.
type session struct {
	src *Source
	// conn holds the macros of the connect stage; macros those of the
	// message (go-milter hands each callback only the last packet's).
	conn, macros map[string]string
	connAddr     string
	msg          Message
	headerBytes  int64
	bodyBytes    int64
}

func (x *session) merge(m *gomilter.Modifier, into map[string]string) {
	if m == nil {
		return
	}
	for k, v := range m.Macros {
		if v != "" {
			into[k] = v
		}
	}
}

func (x *session) macro(name string) string {
	if v := x.macros[name]; v != "" {
		return v
	}
	return x.conn[name]
}

func (x *session) reset() {
	x.msg = Message{}
	x.headerBytes, x.bodyBytes = 0, 0
	clear(x.macros)
}

// The callbacks return no response: Postfix was told (Protocol) not to wait
// for one, except at the end of the message.

func (x *session) Connect(host, family string, port uint16, addr net.IP, m *gomilter.Modifier) (gomilter.Response, error) {
	x.merge(m, x.conn)
	if addr != nil {
		x.connAddr = addr.String()
	}
	return nil, nil
}

func (x *session) Helo(name string, m *gomilter.Modifier) (gomilter.Response, error) {
	return nil, nil
}

func (x *session) MailFrom(from string, m *gomilter.Modifier) (gomilter.Response, error) {
	x.reset()
	x.merge(m, x.macros)
	x.msg.EnvelopeFrom = from
	return nil, nil
}

func (x *session) RcptTo(rcpt string, m *gomilter.Modifier) (gomilter.Response, error) {
	x.merge(m, x.macros)
	x.msg.Recipients = append(x.msg.Recipients, rcpt)
	return nil, nil
}

func (x *session) Header(name, value string, m *gomilter.Modifier) (gomilter.Response, error) {
	x.headerBytes += int64(len(name) + len(value) + 4) // "Name: value\r\n"
	var field *string
	switch textproto.CanonicalMIMEHeaderKey(name) {
	case "From":
		field = &x.msg.From
	case "Sender":
		field = &x.msg.Sender
	case "Message-Id":
		field = &x.msg.MessageId
	case "Subject":
		field = &x.msg.Subject
	}
	if field != nil && *field == "" {
		*field = clip(value)
	}
	return nil, nil
}

func (x *session) Headers(h textproto.MIMEHeader, m *gomilter.Modifier) (gomilter.Response, error) {
	x.merge(m, x.macros)
	return nil, nil
}

func (x *session) BodyChunk(chunk []byte, m *gomilter.Modifier) (gomilter.Response, error) {
	x.bodyBytes += int64(len(chunk))
	return nil, nil
}

// Body is the end of the message: the record goes to the spool, and only
// once it is on disk does Postfix get its answer. Whatever happens, the
// answer lets the message through.
func (x *session) Body(m *gomilter.Modifier) (gomilter.Response, error) {
	s := x.src
	s.mu.Lock()
	s.inflight++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inflight--
		s.mu.Unlock()
		x.reset()
	}()
	x.merge(m, x.macros)
	x.msg.At = time.Now()
	x.msg.Login = x.macro("{auth_authen}")
	x.msg.AuthType = x.macro("{auth_type}")
	x.msg.QueueId = x.macro("i")
	x.msg.Server = x.macro("j")
	x.msg.ClientAddr = x.macro("{client_addr}")
	if x.msg.ClientAddr == "" {
		x.msg.ClientAddr = x.connAddr
	}
	if x.headerBytes > 0 {
		x.msg.Size = x.headerBytes + 2 + x.bodyBytes // the blank line after the headers
	} else {
		x.msg.Size = x.bodyBytes
	}
	a, err := Activity(&x.msg, s.Hostname)
	switch {
	case errors.Is(err, ErrUnauthenticated):
		s.unauthenticated.Add(1)
		return gomilter.RespContinue, nil
	case err != nil:
		s.lost(x.msg.QueueId, fmt.Errorf("the message cannot be described as activity: %w", err))
		return gomilter.RespContinue, nil
	}
	rec, err := json.Marshal(a)
	if err == nil {
		// The callback may run while the session goes on to its next
		// message: it gets the queue id, not the session.
		queueId := x.msg.QueueId
		err = s.spool.Append(rec, s.AppendTimeout, func() {
			s.log().Warn("milter: the disk has not confirmed a submitted message's record in time; Postfix lets the message through at its own time limit, and the record is kept if the disk confirms it later",
				"queue_id", queueId, "waited", s.AppendTimeout.String())
		})
	}
	if err != nil {
		s.lost(x.msg.QueueId, err)
		return gomilter.RespContinue, nil
	}
	s.spooled.Add(1)
	return gomilter.RespContinue, nil
}

func (x *session) Abort(m *gomilter.Modifier) error {
	x.reset()
	return nil
}

// lost reports a message let through without a durable record.
func (s *Source) lost(queueId string, err error) {
	s.log().Error("milter: a submitted message is not recorded", "queue_id", queueId, "error", err)
	if s.Skipped != nil {
		s.Skipped()
	}
}
