// Package backlog measures how fast the Dovecot source catches up on a large
// backlog of Dovecot's audit log, as after mailaudit was down for a while or
// was installed next to a busy server with its log already there.
//
// Generate writes the backlog. Its sessions are the real sessions captured
// from Dovecot 2.3.19 for the translator's golden tests (corpus.txtar, a copy
// of the log sections of ../testdata/*.txtar): logins, reads, folder opens,
// flag changes, moves, deletions, appends, searches, ACL and Sieve changes of
// owners, delegates and administrators, and LMTP deliveries. Each is replayed
// many times, as other users (alice, bob and carol become three of
// Config.Users), with its own session id, process id, client address, UIDs
// and Message-IDs, and at its own time: sessions start at random, their
// lines stretched in time so that about Config.Concurrent of them are open at
// once, and the lines of all sessions are interleaved by time as Dovecot's
// log process writes them. Mix says how often each kind of session comes.
// Sessions last longer than the captured ones (a script's few milliseconds):
// a random pause, Config.Pause on average, comes before each of their lines
// after the first. Every time in a line (the events' start and end times
// too) is moved by the same increasing map, so that what happened before
// what, which the translator relies on, stays as it was captured.
//
// Run reads such a log with dovecot.Source into a new embedded store, as
// `mailaudit serve` does, and times it until the source has committed the
// log's last line.
package backlog

import (
	"bufio"
	_ "embed"
	"fmt"
	"io"
	"math/rand/v2"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/tools/txtar"
)

//go:embed corpus.txtar
var corpusData []byte

// Mix is how often each kind of captured session is replayed, per hundred
// sessions: a mail server's day is mostly deliveries and reads, some folder
// opens and logins of clients that only check for mail, a few flag changes,
// moves and deletions, fewer appends and searches, and rare changes of
// permissions and rules. The names are the golden archives the sessions come
// from.
var Mix = map[string]float64{
	"delivery":                35,
	"mailitemsaccessed":       25,
	"folderbind":              12,
	"mailboxlogin":            8,
	"update":                  6,
	"move":                    4,
	"softdelete":              3,
	"harddelete":              2,
	"create":                  2,
	"searchqueryinitiated":    2,
	"copy":                    1,
	"updatefolderpermissions": 0.5,
	"updateinboxrules":        0.5,
}

// Config sizes a backlog.
type Config struct {
	Lines int       // at least this many lines (whole sessions are written)
	Users int       // mailboxes the sessions are spread across
	Seed  uint64    // the same seed, start and sizes write the same log
	Start time.Time // the time of the first session
	// SessionsPerSecond is how many sessions start per second of log time.
	SessionsPerSecond float64
	// Pause is the mean pause before each line of a session after its
	// first: the client's and the user's time between commands.
	Pause time.Duration
}

// Defaults are the sizes docs/benchmarks.md reports: 300,000 lines over
// 10,000 mailboxes, 50 sessions starting a second, 300 ms pauses, ending
// about now.
func Defaults() Config {
	c := Config{Lines: 300_000, Users: 10_000, Seed: 1, SessionsPerSecond: 50, Pause: 300 * time.Millisecond}
	// About 8 lines a session.
	c.Start = time.Now().UTC().Truncate(time.Minute).Add(-time.Duration(float64(c.Lines) / 8 / c.SessionsPerSecond * float64(time.Second)))
	return c
}

// Stats describe a generated backlog.
type Stats struct {
	Lines, Bytes int64
	Sessions     int
	Users        int // mailboxes acted on
	// Lines by kind: exported events ("stats: {…}"), mail_log lines (save,
	// copy, delete, undelete, expunge, flag_change), login lines
	// ("imap-login: Login: …"), and the rest (disconnections, LMTP's own
	// lines, failed logins, mailbox creations).
	Events, MailLog, Logins, Other int64
	// ByArchive counts the sessions replayed from each golden archive.
	ByArchive map[string]int
	// End is the time of the last line.
	End time.Time
	// Open is how many sessions were open at once, on average.
	Open float64
}

// session is one captured session: its lines in log order.
type session struct {
	archive string
	lines   []string
	start   time.Time
	offsets []time.Duration // from start, never decreasing
	ids     []string        // the session ids in its lines (an LMTP session has one per transaction)
	pids    []string
	names   [3]bool // whether it names alice, bob and carol
}

var (
	stampRe   = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(?:\+0000|Z)`)
	jsonSess  = regexp.MustCompile(`"session":"([^"]+)"`)
	loginSess = regexp.MustCompile(`session=<([^>]+)>`)
	mailProc  = regexp.MustCompile(`^\S+ ([a-z-]+)\(([^)]*)\)<(\d+)><([^>]+)>`)
	lmtpPid   = regexp.MustCompile(`^\S+ lmtp\((\d+)\):`)
	mpidRe    = regexp.MustCompile(`mpid=(\d+)`)
	uidRe     = regexp.MustCompile(`(uid=|"uid":)(\d+)`)
	uidSetRe  = regexp.MustCompile(`\[(COPYUID|APPENDUID) (\d+) ([\d:,]+)(?: ([\d:,]+))?\]`)
	// uidCmdRe finds the UID commands, whose arguments begin with a UID set
	// (argSetRe) that the translator matches with the mail_log lines.
	uidCmdRe = regexp.MustCompile(`"cmd_name":"UID (?:STORE|MOVE|COPY|FETCH|EXPUNGE)"`)
	argSetRe = regexp.MustCompile(`("cmd_(?:human_)?args":")([\d:,]+)`)
	msgidRe  = regexp.MustCompile(`<([^<>@\s]+)@`)
	ripRe    = regexp.MustCompile(`("(?:real_)?remote_ip":"|rip=)127\.0\.0\.1`)
	users    = []string{"alice", "bob", "carol"}
)

const stampLayout = "2006-01-02T15:04:05.000000-0700"

// corpus reads the captured sessions, by archive.
func corpus() (map[string][]*session, error) {
	ar := txtar.Parse(corpusData)
	out := map[string][]*session{}
	for _, f := range ar.Files {
		byKey := map[string]*session{}
		var order []*session
		sc := bufio.NewScanner(strings.NewReader(string(f.Data)))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			key, id, pid := sessionOf(line)
			if key == "" {
				continue // not a session's (Dovecot starting up)
			}
			at, err := time.Parse(stampLayout, line[:strings.IndexByte(line, ' ')])
			if err != nil {
				return nil, fmt.Errorf("backlog: corpus %s: a line without a timestamp: %w", f.Name, err)
			}
			s := byKey[key]
			if s == nil {
				s = &session{archive: f.Name, start: at}
				byKey[key] = s
				order = append(order, s)
			}
			off := at.Sub(s.start)
			if n := len(s.offsets); n > 0 && off < s.offsets[n-1] {
				off = s.offsets[n-1]
			}
			s.lines = append(s.lines, line)
			s.offsets = append(s.offsets, off)
			if id != "" && !contains(s.ids, id) {
				s.ids = append(s.ids, id)
			}
			if pid != "" && !contains(s.pids, pid) {
				s.pids = append(s.pids, pid)
			}
		}
		for _, s := range order {
			all := strings.Join(s.lines, "\n")
			for j, u := range users {
				s.names[j] = strings.Contains(all, u)
			}
		}
		out[f.Name] = order
	}
	for name := range Mix {
		if len(out[name]) == 0 {
			return nil, fmt.Errorf("backlog: the corpus has no session of %s", name)
		}
	}
	return out, nil
}

// sessionOf tells which session a line belongs to: Dovecot's session id,
// except for LMTP, whose lines are grouped by process (its "Disconnect"
// line names no session).
func sessionOf(line string) (key, id, pid string) {
	if m := lmtpPid.FindStringSubmatch(line); m != nil {
		return "lmtp:" + m[1], "", m[1]
	}
	if m := mailProc.FindStringSubmatch(line); m != nil {
		id, _, _ = strings.Cut(m[4], ":") // an LMTP transaction is "<session>:T2"
		if m[1] == "lmtp" {
			return "lmtp:" + m[3], id, m[3]
		}
		return id, id, m[3]
	}
	if m := jsonSess.FindStringSubmatch(line); m != nil {
		return m[1], m[1], ""
	}
	if m := loginSess.FindStringSubmatch(line); m != nil {
		if p := mpidRe.FindStringSubmatch(line); p != nil {
			pid = p[1]
		}
		return m[1], m[1], pid
	}
	return "", "", ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// timed is a line of the backlog with its time and its place among the
// lines of the same time.
type timed struct {
	at   time.Time
	seq  int
	text string
}

// replayed is one session of the backlog: the captured session it replays
// and its lines.
type replayed struct {
	from        *session
	lines       []string
	times       []time.Time // of the lines
	first, last time.Time
	// How it was rewritten: the n-th session, alice, bob and carol as who,
	// the session ids s.ids as ids, UIDs moved up by uidOff, the client's
	// address ip, and every time t as move(t).
	n      int
	who    [3]string
	ids    []string
	uidOff uint64
	ip     string
	move   func(time.Time) time.Time
}

// Generate writes a backlog to w.
func Generate(w io.Writer, cfg Config) (Stats, error) {
	st := Stats{ByArchive: map[string]int{}}
	plan, lines, err := build(cfg)
	if err != nil {
		return st, err
	}
	st.Sessions = len(plan)
	var open time.Duration
	mailboxes := map[string]bool{}
	for _, r := range plan {
		for j, u := range r.who {
			if r.from.names[j] {
				mailboxes[u] = true
			}
		}
		st.ByArchive[r.from.archive]++
		open += r.last.Sub(r.first)
	}
	st.Users = len(mailboxes)
	bw := bufio.NewWriterSize(w, 1<<20)
	for _, l := range lines {
		n, err := bw.WriteString(l.text + "\n")
		if err != nil {
			return st, fmt.Errorf("backlog: writing: %w", err)
		}
		st.Bytes += int64(n)
		st.Lines++
		switch kind(l.text) {
		case "event":
			st.Events++
		case "mail_log":
			st.MailLog++
		case "login":
			st.Logins++
		default:
			st.Other++
		}
	}
	if len(lines) > 0 {
		st.End = lines[len(lines)-1].at
		if span := st.End.Sub(cfg.Start); span > 0 {
			st.Open = float64(open) / float64(span)
		}
	}
	if err := bw.Flush(); err != nil {
		return st, fmt.Errorf("backlog: writing: %w", err)
	}
	return st, nil
}

// build chooses the sessions of a backlog and returns them with all their
// lines in log order.
func build(cfg Config) ([]replayed, []timed, error) {
	sessions, err := corpus()
	if err != nil {
		return nil, nil, err
	}
	if cfg.Users < 3 {
		return nil, nil, fmt.Errorf("backlog: %d users: a delegate session needs three", cfg.Users)
	}
	if cfg.SessionsPerSecond <= 0 || cfg.Pause < 0 {
		return nil, nil, fmt.Errorf("backlog: sessions per second must be positive, pauses not negative")
	}
	names := make([]string, 0, len(Mix))
	for name := range Mix {
		names = append(names, name)
	}
	sort.Strings(names)
	var total float64
	for _, n := range names {
		total += Mix[n]
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x6261636b6c6f67))
	var plan []replayed
	var lines []timed
	at := cfg.Start
	for n := 0; len(lines) < cfg.Lines; n++ {
		pick := rng.Float64() * total
		var name string
		for _, name = range names {
			if pick -= Mix[name]; pick < 0 {
				break
			}
		}
		s := sessions[name][rng.IntN(len(sessions[name]))]
		r := replay(s, n, at, cfg.Pause, rng, cfg.Users)
		plan = append(plan, r)
		for i, text := range r.lines {
			lines = append(lines, timed{at: r.times[i], seq: len(lines), text: text})
		}
		at = at.Add(time.Duration(rng.ExpFloat64() / cfg.SessionsPerSecond * float64(time.Second)))
	}
	sort.Slice(lines, func(i, j int) bool {
		if !lines[i].at.Equal(lines[j].at) {
			return lines[i].at.Before(lines[j].at)
		}
		return lines[i].seq < lines[j].seq
	})
	return plan, lines, nil
}

var mailLogEvents = []string{": save: ", ": copy from ", ": delete: ", ": undelete: ", ": expunge: ", ": flag_change: "}

func kind(line string) string {
	switch {
	case strings.Contains(line, " stats: Info: {"):
		return "event"
	case strings.Contains(line, "-login: Info: Login: "):
		return "login"
	}
	for _, ev := range mailLogEvents {
		if strings.Contains(line, ev) && mailProc.MatchString(line) {
			return "mail_log"
		}
	}
	return "other"
}

// replay rewrites the lines of captured session s as the n-th session of
// the backlog, starting at start.
func replay(s *session, n int, start time.Time, pause time.Duration, rng *rand.Rand, nusers int) replayed {
	// Session ids made of upper-case letters and digits can hold no user
	// name, so the user names are replaced after them safely.
	ids := make([]string, len(s.ids))
	for i := range ids {
		ids[i] = fmt.Sprintf("S%07d%08X", n, rng.Uint32())[:16]
		if i > 0 {
			ids[i] = ids[i][:15] + string(rune('A'+i))
		}
	}
	var who [3]string
	for i := range who {
		for {
			who[i] = fmt.Sprintf("user%05d", rng.IntN(nusers))
			if i == 0 || (who[i] != who[0] && (i == 1 || who[i] != who[1])) {
				break
			}
		}
	}
	pid := strconv.Itoa(1000 + rng.IntN(4_000_000))
	ip := fmt.Sprintf("10.%d.%d.%d", rng.IntN(256), rng.IntN(256), 1+rng.IntN(254))
	uidOff := uint64(rng.IntN(5000))
	// The new time of each line: the captured gap plus a pause, unless the
	// line was written in the same microsecond as the one before it (the
	// copy and expunge lines of one message).
	at := make([]time.Duration, len(s.offsets))
	for i := 1; i < len(at); i++ {
		at[i] = at[i-1]
		if gap := s.offsets[i] - s.offsets[i-1]; gap > 0 {
			at[i] += gap + time.Duration(rng.ExpFloat64()*float64(pause))
		}
	}
	// move maps a captured time to its new time: piecewise linear through
	// the lines' times, unchanged gaps before the first and after the last.
	move := func(t time.Time) time.Time {
		off := t.Sub(s.start)
		i := sort.Search(len(s.offsets), func(i int) bool { return s.offsets[i] > off })
		switch {
		case i == 0:
			return start.Add(off)
		case i == len(s.offsets):
			return start.Add(at[i-1] + off - s.offsets[i-1])
		}
		span := s.offsets[i] - s.offsets[i-1]
		return start.Add(at[i-1] + time.Duration(float64(off-s.offsets[i-1])/float64(span)*float64(at[i]-at[i-1])))
	}
	r := replayed{from: s, lines: make([]string, len(s.lines)), times: make([]time.Time, len(s.lines)),
		n: n, who: who, ids: ids, uidOff: uidOff, ip: ip, move: move}
	for i := range at {
		r.times[i] = start.Add(at[i])
	}
	r.first, r.last = r.times[0], r.times[len(at)-1]
	out := r.lines
	for i, line := range s.lines {
		for j, id := range s.ids {
			line = strings.ReplaceAll(line, id, ids[j])
		}
		for j, u := range users {
			line = strings.ReplaceAll(line, u, who[j])
		}
		for _, p := range s.pids {
			line = strings.ReplaceAll(line, "<"+p+">", "<"+pid+">")
			line = strings.ReplaceAll(line, "("+p+")", "("+pid+")")
			line = strings.ReplaceAll(line, "mpid="+p, "mpid="+pid)
		}
		line = stampRe.ReplaceAllStringFunc(line, func(ts string) string {
			layout := stampLayout
			if strings.HasSuffix(ts, "Z") {
				layout = "2006-01-02T15:04:05.000000Z07:00"
			}
			t, err := time.Parse(layout, ts)
			if err != nil {
				return ts
			}
			return move(t).UTC().Format(layout)
		})
		line = uidRe.ReplaceAllStringFunc(line, func(m string) string {
			sub := uidRe.FindStringSubmatch(m)
			u, _ := strconv.ParseUint(sub[2], 10, 32)
			return sub[1] + strconv.FormatUint(u+uidOff, 10)
		})
		line = uidSetRe.ReplaceAllStringFunc(line, func(m string) string {
			sub := uidSetRe.FindStringSubmatch(m)
			r := "[" + sub[1] + " " + sub[2] + " " + shiftSet(sub[3], uidOff)
			if sub[4] != "" {
				r += " " + shiftSet(sub[4], uidOff)
			}
			return r + "]"
		})
		if uidCmdRe.MatchString(line) {
			line = argSetRe.ReplaceAllStringFunc(line, func(m string) string {
				sub := argSetRe.FindStringSubmatch(m)
				return sub[1] + shiftSet(sub[2], uidOff)
			})
		}
		line = msgidRe.ReplaceAllString(line, "<${1}."+strconv.Itoa(n)+"@")
		line = ripRe.ReplaceAllString(line, "${1}"+ip)
		out[i] = line
	}
	return r
}

// shiftSet adds off to every UID of an IMAP UID set ("1:3,7").
func shiftSet(set string, off uint64) string {
	var b strings.Builder
	start := 0
	for i := 0; i <= len(set); i++ {
		if i < len(set) && set[i] >= '0' && set[i] <= '9' {
			continue
		}
		if i > start {
			u, _ := strconv.ParseUint(set[start:i], 10, 32)
			b.WriteString(strconv.FormatUint(u+off, 10))
		}
		if i < len(set) {
			b.WriteByte(set[i])
		}
		start = i + 1
	}
	return b.String()
}
