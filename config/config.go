// Package config reads the configuration file of mailaudit serve (TOML).
// docs/configuration.md documents every setting; Example below is the file
// with every default, and the tests hold the two together.
//
// A file is refused as a whole, at start, with the line and the reason: an
// unknown key (a typo would otherwise silently leave a default in force), a
// value of the wrong type, a duration or size that does not parse, a TLS
// certificate without its key.
package config

import (
	"bufio"
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Example is a configuration file with every setting at its default, with
// comments: what docs/configuration.md shows and an administrator starts from.
//
//go:embed example.toml
var Example string

// Config is everything mailaudit serve does.
type Config struct {
	// Data is the data directory of the embedded store.
	Data string `toml:"data"`
	// Tokens is the API tokens file; default <data>/tokens.json.
	Tokens string `toml:"tokens"`
	// Hostname is recorded as OriginatingServer of captured activity.
	Hostname string `toml:"hostname"`
	// SealInterval is how often MailItemsAccessed aggregates whose window
	// ended are sealed into records.
	SealInterval Duration `toml:"seal_interval"`

	Log       Log        `toml:"log"`
	Listen    []Listener `toml:"listen"`
	Limits    Limits     `toml:"limits"`
	Retention Retention  `toml:"retention"`
	SMTP      SMTP       `toml:"smtp"`
	Dovecot   []Dovecot  `toml:"dovecot"`
	Milter    []Milter   `toml:"milter"`
}

// SMTP is the relay background searches' results are mailed through.
type SMTP struct {
	// Relay is host:port; empty: results are not mailed (and background
	// searches are refused, since they must name recipients).
	Relay string `toml:"relay"`
	// From is the sender of the mail.
	From string `toml:"from"`
	// Username authenticates (AUTH PLAIN, over TLS or to localhost only);
	// the password is read from PasswordFile so it stays out of this file.
	Username     string `toml:"username"`
	PasswordFile string `toml:"password_file"`
	// StartTLS is required, opportunistic or none.
	StartTLS string `toml:"starttls"`
	// CACert is a PEM file of the CA that signs the relay's certificate.
	CACert string `toml:"ca_cert"`
	// MaxAttachmentBytes is the largest result attached to a mail.
	MaxAttachmentBytes Size `toml:"max_attachment_bytes"`
}

// Log is the daemon's own log, on standard error.
type Log struct {
	// Format is json or text.
	Format string `toml:"format"`
	// Level is debug, info, warn or error.
	Level string `toml:"level"`
}

// Listener is one address the HTTP API listens on; with a certificate and a
// key it speaks TLS.
type Listener struct {
	Address string `toml:"address"`
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
}

// TLS reports whether the listener speaks TLS.
func (l Listener) TLS() bool { return l.TLSCert != "" }

// Limits protect the daemon from its clients.
type Limits struct {
	// MaxRequestBytes caps a request body (an ingest batch).
	MaxRequestBytes Size `toml:"max_request_bytes"`
	// MaxConcurrentSearches caps the searches running at once; more wait.
	MaxConcurrentSearches int `toml:"max_concurrent_searches"`
	// SearchQueueTimeout is how long a search waits for its turn before it
	// is answered 503.
	SearchQueueTimeout Duration `toml:"search_queue_timeout"`
	// ShutdownTimeout is how long SIGTERM waits for requests in flight.
	ShutdownTimeout Duration `toml:"shutdown_timeout"`
}

// Retention is when every mailbox's AuditLogAgeLimit is applied.
type Retention struct {
	// Interval between runs; 0 turns scheduled retention off.
	Interval Duration `toml:"interval"`
	// SearchResultAgeLimit is how long a finished background search's
	// result is kept after it completed; each run deletes older ones. 0
	// keeps them until they are deleted by hand.
	SearchResultAgeLimit Duration `toml:"search_result_age_limit"`
}

// Dovecot is one Dovecot audit log to capture (see dovecot-config).
type Dovecot struct {
	Log          string `toml:"log"`
	SharedPrefix string `toml:"shared_prefix"`
	// TrashFolders are the folders (case-insensitive) whose being a MOVE's
	// destination makes it MoveToDeletedItems; empty: Trash, Deleted Items
	// and Deleted Messages. Dovecot 2.3 does not log special-use \Trash, so
	// a site whose clients use another name lists it here.
	TrashFolders []string `toml:"trash_folders"`
	// Events is how Dovecot's exported events arrive: "log" (the default:
	// in the log file, with the mail_log lines) or "http-post" (POSTed to
	// the API's /api/v1/dovecot/events with an ingest token, spooled in the
	// data directory and read beside the log). http-post is lossy: Dovecot
	// drops what it cannot deliver at once.
	Events string `toml:"events"`
}

// Milter is one Postfix milter listener (see postfix-config): Send, SendAs
// and SendOnBehalf from the Postfix services that use it.
type Milter struct {
	// Listen is where Postfix connects: "inet:HOST:PORT", or "unix:PATH"
	// for a socket, as Postfix's smtpd_milters writes it.
	Listen string `toml:"listen"`
	// Spool is the directory where each message's activity is made durable
	// before Postfix is answered; default <data>/milter/<listen>.
	Spool string `toml:"spool"`
	// Durability is what Postfix waits for: "disk" (the record is on
	// stable storage; the default), "device" (written to the storage device
	// without flushing its cache: safe from a crash of mailaudit or of the
	// kernel, and from a power cut once Postfix syncs its queue file on the
	// same device) or "process" (written to the spool file, not flushed:
	// safe from a crash of mailaudit, not of the machine). See
	// docs/postfix.md.
	Durability string `toml:"durability"`
}

// MilterSpool is the spool directory of a milter listener.
func (c *Config) MilterSpool(m Milter) string {
	if m.Spool != "" {
		return m.Spool
	}
	name := []byte(m.Listen)
	for i, b := range name {
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '.' || b == '-') {
			name[i] = '_'
		}
	}
	return filepath.Join(c.Data, "milter", string(name))
}

// Defaults is the configuration of a file that sets nothing.
func Defaults() Config {
	return Config{
		Data:         "/var/lib/mailaudit",
		SealInterval: Duration(10 * time.Second),
		Log:          Log{Format: "json", Level: "info"},
		Listen:       []Listener{{Address: "127.0.0.1:8425"}},
		Limits: Limits{
			MaxRequestBytes:       32 << 20,
			MaxConcurrentSearches: 4,
			SearchQueueTimeout:    Duration(10 * time.Second),
			ShutdownTimeout:       Duration(30 * time.Second),
		},
		Retention: Retention{Interval: Duration(24 * time.Hour), SearchResultAgeLimit: Duration(30 * 24 * time.Hour)},
		SMTP:      SMTP{From: "mailaudit@localhost", StartTLS: "opportunistic", MaxAttachmentBytes: 20 << 20},
	}
}

// TokensPath is where the tokens file is.
func (c *Config) TokensPath() string {
	if c.Tokens != "" {
		return c.Tokens
	}
	return filepath.Join(c.Data, "tokens.json")
}

// Load reads a configuration file over the defaults.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("config: %s:%w", path, err)
	}
	return c, nil
}

// Error is a refused configuration: the line (0 when the mistake is not on
// one line) and the reason.
type Error struct {
	Line   int
	Reason string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%d: %s", e.Line, e.Reason)
	}
	return " " + e.Reason
}

var lineRE = regexp.MustCompile(`^line (\d+) \(last key "([^"]*)"\): (.*)$`)

// Parse reads a configuration from TOML text over the defaults.
func Parse(b []byte) (*Config, error) {
	c := Defaults()
	// Arrays of tables replace the defaults rather than add to them.
	c.Listen = nil
	md, err := toml.NewDecoder(bytes.NewReader(b)).Decode(&c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			reason := pe.Message
			if pe.LastKey != "" {
				reason = pe.LastKey + ": " + reason
			}
			return nil, &Error{Line: pe.Position.Line, Reason: reason}
		}
		// Type mismatches come as plain errors: "toml: line 3 (last key
		// \"data\"): incompatible types: …".
		msg := strings.TrimPrefix(err.Error(), "toml: ")
		if m := lineRE.FindStringSubmatch(msg); m != nil {
			n, _ := strconv.Atoi(m[1])
			return nil, &Error{Line: n, Reason: m[2] + ": " + m[3]}
		}
		return nil, &Error{Reason: msg}
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, &Error{Line: keyLine(b, und[0]), Reason: fmt.Sprintf("unknown setting %q (docs/configuration.md lists them)", und[0].String())}
	}
	if !md.IsDefined("listen") {
		c.Listen = Defaults().Listen
	}
	if err := c.validate(b); err != nil {
		return nil, err
	}
	return &c, nil
}

// Check validates a configuration that flags changed.
func (c *Config) Check() error {
	if err := c.validate(nil); err != nil {
		return errors.New(err.(*Error).Reason)
	}
	return nil
}

func (c *Config) validate(b []byte) error {
	bad := func(key, format string, args ...any) error {
		return &Error{Line: keyLine(b, strings.Split(key, ".")), Reason: key + ": " + fmt.Sprintf(format, args...)}
	}
	if c.Data == "" {
		return bad("data", "the data directory must be set")
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		return bad("log.format", "%q is not json or text", c.Log.Format)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return bad("log.level", "%q is not debug, info, warn or error", c.Log.Level)
	}
	for _, l := range c.Listen {
		if _, _, err := net.SplitHostPort(l.Address); err != nil {
			return bad("listen.address", "%q is not host:port", l.Address)
		}
		if (l.TLSCert == "") != (l.TLSKey == "") {
			return bad("listen.tls_cert", "a TLS listener needs both tls_cert and tls_key (%s)", l.Address)
		}
	}
	if c.Limits.MaxRequestBytes < 1<<10 {
		return bad("limits.max_request_bytes", "at least 1KiB, not %d bytes", c.Limits.MaxRequestBytes)
	}
	if c.Limits.MaxConcurrentSearches < 1 {
		return bad("limits.max_concurrent_searches", "at least 1, not %d", c.Limits.MaxConcurrentSearches)
	}
	if c.SealInterval <= 0 {
		return bad("seal_interval", "must be positive")
	}
	if c.Retention.Interval < 0 {
		return bad("retention.interval", "must not be negative")
	}
	if c.Retention.SearchResultAgeLimit < 0 {
		return bad("retention.search_result_age_limit", "must not be negative")
	}
	switch c.SMTP.StartTLS {
	case "required", "opportunistic", "none":
	default:
		return bad("smtp.starttls", "%q is not required, opportunistic or none", c.SMTP.StartTLS)
	}
	if c.SMTP.Relay != "" {
		if _, _, err := net.SplitHostPort(c.SMTP.Relay); err != nil {
			return bad("smtp.relay", "%q is not host:port", c.SMTP.Relay)
		}
	}
	if c.SMTP.Username != "" && c.SMTP.PasswordFile == "" {
		return bad("smtp.username", "authentication needs smtp.password_file too")
	}
	if !strings.Contains(c.SMTP.From, "@") {
		return bad("smtp.from", "%q is not a mail address", c.SMTP.From)
	}
	posted := 0
	for _, d := range c.Dovecot {
		if d.Log == "" {
			return bad("dovecot.log", "every [[dovecot]] needs the path of its log")
		}
		switch d.Events {
		case "", "log":
		case "http-post":
			if posted++; posted > 1 {
				return bad("dovecot.events", "only one [[dovecot]] can take events over HTTP (they all arrive at /api/v1/dovecot/events)")
			}
			if len(c.Listen) == 0 {
				return bad("dovecot.events", "http-post needs a [[listen]] address for Dovecot to post to")
			}
		default:
			return bad("dovecot.events", "%q is not log or http-post", d.Events)
		}
		for _, f := range d.TrashFolders {
			if strings.TrimSpace(f) == "" {
				return bad("dovecot.trash_folders", "a folder name must not be empty")
			}
		}
	}
	spools := map[string]bool{}
	for _, m := range c.Milter {
		if !validMilterAddress(m.Listen) {
			return bad("milter.listen", "%q is not a milter address (inet:HOST:PORT or unix:/PATH)", m.Listen)
		}
		switch m.Durability {
		case "", "disk", "device", "process":
		default:
			return bad("milter.durability", "%q is not disk, device or process", m.Durability)
		}
		if sp := filepath.Clean(c.MilterSpool(m)); spools[sp] {
			return bad("milter.spool", "two [[milter]] tables share the spool %s", sp)
		} else {
			spools[sp] = true
		}
	}
	return nil
}

// validMilterAddress accepts what the milter listens on: inet:HOST:PORT (or
// HOST:PORT), unix:/PATH, local:/PATH or /PATH.
func validMilterAddress(a string) bool {
	for _, p := range []string{"unix:", "local:"} {
		if rest, ok := strings.CutPrefix(a, p); ok {
			return filepath.IsAbs(rest)
		}
	}
	if filepath.IsAbs(a) {
		return true
	}
	_, _, err := net.SplitHostPort(strings.TrimPrefix(a, "inet:"))
	return err == nil
}

// keyLine finds the line that sets key, for messages about values the TOML
// parser accepted but mailaudit does not. BurntSushi/toml keeps key positions
// private, so this scans the text: the key's last part at the start of a
// line after its table's header; a table itself, or a key its table lacks,
// is found at the header.
func keyLine(b []byte, key toml.Key) int {
	if len(key) == 0 {
		return 0
	}
	full := key.String()
	last := key[len(key)-1]
	table := strings.Join(key[:len(key)-1], ".")
	inTable, header := table == "", 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if strings.HasPrefix(line, "[") {
			name := strings.TrimSpace(strings.Trim(line, "[]"))
			if name == full {
				return n
			}
			if inTable = name == table; inTable && header == 0 {
				header = n
			}
			continue
		}
		if !inTable {
			continue
		}
		if k, _, ok := strings.Cut(line, "="); ok && strings.Trim(strings.TrimSpace(k), `"'`) == last {
			return n
		}
	}
	return header
}

// Duration is a Go duration in the file: "10s", "24h", "1h30m".
type Duration time.Duration

// UnmarshalText reads a duration.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration (like 10s, 15m, 24h)", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes a duration.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Size is a size in bytes: a number, or with a unit: "512KiB", "32MiB", "1GiB".
type Size int64

// UnmarshalText reads a size.
func (s *Size) UnmarshalText(b []byte) error {
	str := strings.TrimSpace(string(b))
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(str, u.suffix) {
			str, mult = strings.TrimSpace(strings.TrimSuffix(str, u.suffix)), u.mult
			break
		}
	}
	var n int64
	if _, err := fmt.Sscanf(str, "%d", &n); err != nil || n < 0 || fmt.Sprint(n) != str {
		return fmt.Errorf("%q is not a size (like 1048576, 512KiB, 32MiB)", b)
	}
	*s = Size(n * mult)
	return nil
}
