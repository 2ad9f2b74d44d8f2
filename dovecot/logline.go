package dovecot

import (
	"bytes"
	"strings"
	"time"
)

// logLine is one Dovecot log line split into its parts:
//
//	2026-11-22T04:56:20.071799+0000 imap(alice)<24067><wzdTTNZgoLt/AAAB><auth_user=alice master=>: Info: copy from INBOX: box=Archive, …
//	└─ timestamp ─────────────────┘ └svc┘└user┘└pid┘ └session──────┘ └─ key=value … ──────────┘  └level┘ └─ message
type logLine struct {
	Time    time.Time // zero when the line has no timestamp we know
	Coarse  bool      // the timestamp has whole seconds only
	Service string    // "imap", "stats", "imap-login", "lmtp", "doveadm", "master", …
	User    string    // from "svc(user)"; a pid for processes without a user
	Session string    // from the prefix's <session>
	Fields  map[string]string
	Level   string // Info, Warning, Error, … ("" for syslog, which carries no level)
	Msg     string
}

var levels = []string{"Info", "Warning", "Error", "Fatal", "Panic", "Debug"}

// parseLogLine splits a line. It reports false for a line that has no
// "service: " part at all (not a Dovecot log line).
func parseLogLine(b []byte, year func(time.Month) int) (logLine, bool) {
	var l logLine
	s := string(bytes.TrimRight(b, "\r\n"))
	l.Time, l.Coarse, s = parseTimestamp(s, year)
	s = stripSyslogTag(s)
	i := strings.Index(s, ": ")
	if i <= 0 {
		return l, false
	}
	prefix, rest := s[:i], s[i+2:]
	if !parsePrefix(prefix, &l) {
		return l, false
	}
	for _, lv := range levels {
		if strings.HasPrefix(rest, lv+": ") {
			l.Level, rest = lv, rest[len(lv)+2:]
			break
		}
	}
	l.Msg = rest
	return l, true
}

// parsePrefix reads "svc", "svc(user)", "svc(user)<pid><session><k=v k=v>".
func parsePrefix(p string, l *logLine) bool {
	j := strings.IndexAny(p, "(<")
	if j < 0 {
		j = len(p)
	}
	l.Service = p[:j]
	if l.Service == "" || strings.ContainsAny(l.Service, " \t") {
		return false
	}
	p = p[j:]
	if strings.HasPrefix(p, "(") {
		k := strings.IndexByte(p, ')')
		if k < 0 {
			return false
		}
		l.User, p = p[1:k], p[k+1:]
	}
	for strings.HasPrefix(p, "<") {
		k := strings.IndexByte(p, '>')
		if k < 0 {
			return false
		}
		g := p[1:k]
		p = p[k+1:]
		switch {
		case g != "" && strings.Trim(g, "0123456789") == "":
			// pid
		case strings.Contains(g, "="):
			// mailaudit's mail_log_prefix: <auth_user=bob master=>
			if l.Fields == nil {
				l.Fields = map[string]string{}
			}
			for _, kv := range strings.Fields(g) {
				if k, v, ok := strings.Cut(kv, "="); ok {
					l.Fields[k] = v
				}
			}
		case l.Session == "":
			l.Session = g
		}
	}
	return p == ""
}

// Timestamp layouts, most specific first. Dovecot's log_timestamp is strftime;
// the first is what Config sets, the RFC 3339 ones are what rsyslog writes, and
// the last two are Dovecot's default "%b %d %H:%M:%S " and syslog's.
var tsLayouts = []struct {
	layout string
	coarse bool
	year   bool // the layout has a year
}{
	{"2006-01-02T15:04:05.999999999-0700", false, true},
	{"2006-01-02T15:04:05.999999999Z07:00", false, true},
	{"2006-01-02T15:04:05-0700", true, true},
	{"2006-01-02T15:04:05Z07:00", true, true},
	{"2006-01-02 15:04:05.999999999", false, true},
	{"2006-01-02 15:04:05", true, true},
	{"Jan 02 15:04:05", true, false},
	{"Jan _2 15:04:05", true, false},
}

func parseTimestamp(s string, year func(time.Month) int) (time.Time, bool, string) {
	if s == "" {
		return time.Time{}, false, s
	}
	if c := s[0]; c >= '0' && c <= '9' {
		// ISO-like: one token, or "date time" for the zone-less form.
		end := strings.IndexByte(s, ' ')
		if end > 0 && end == 10 { // "2006-01-02 15:04:05…"
			if e2 := strings.IndexByte(s[end+1:], ' '); e2 > 0 {
				end = end + 1 + e2
			}
		}
		if end < 0 {
			return time.Time{}, false, s
		}
		tok := s[:end]
		for _, f := range tsLayouts {
			if !f.year {
				continue
			}
			if t, err := time.Parse(f.layout, tok); err == nil {
				return t, f.coarse && !strings.Contains(tok, "."), s[end+1:]
			}
		}
		return time.Time{}, false, s
	}
	if len(s) >= 16 && s[3] == ' ' {
		for _, f := range tsLayouts {
			if f.year {
				continue
			}
			if t, err := time.ParseInLocation(f.layout, s[:15], time.Local); err == nil {
				t = time.Date(year(t.Month()), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.Local)
				return t, true, s[16:]
			}
		}
	}
	return time.Time{}, false, s
}

// stripSyslogTag removes "host dovecot: " or "dovecot[123]: " that syslog puts
// between the timestamp and Dovecot's own prefix.
func stripSyslogTag(s string) string {
	isTag := func(tok string) bool {
		tok = strings.TrimSuffix(tok, ":")
		if i := strings.IndexByte(tok, '['); i > 0 && strings.HasSuffix(tok, "]") {
			tok = tok[:i]
		}
		return tok == "dovecot"
	}
	f := strings.SplitN(s, " ", 3)
	switch {
	case len(f) >= 2 && strings.HasSuffix(f[0], ":") && isTag(f[0]):
		return s[len(f[0])+1:]
	case len(f) == 3 && strings.HasSuffix(f[1], ":") && isTag(f[1]):
		return f[2]
	}
	return s
}
