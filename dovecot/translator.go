package dovecot

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mailaudit/mailaudit/audit"
)

// Options configure a Translator.
type Options struct {
	Source       string   // activity Source, default "dovecot"
	SharedPrefix string   // as in ConfigOptions; the translator derives the owner of "shared/<owner>/Folder" from it
	TrashFolders []string // folders whose destination makes a move MoveToDeletedItems; default Trash, Deleted Items, Deleted Messages (case-insensitive); a folder with special-use \Trash if the log tells it (Dovecot 2.3 never does: list such folders here)
	Hostname     string   // OriginatingServer
}

// DefaultTrashFolders are the Deleted Items folders of common clients.
var DefaultTrashFolders = []string{"Trash", "Deleted Items", "Deleted Messages"}

// Translator turns Dovecot log lines into activity. It keeps per-session state (user, master user from auth events, client IP, IMAP ID, selected mailbox, commands awaiting their mail_log lines). It is not safe for concurrent use.
type Translator struct {
	opt    Options
	shared *sharedNS
	trash  map[string]bool
	st     trState
	// unknown, when set, is told of each exported event whose name the
	// translator does not use, with the line's position (Source logs and
	// counts them).
	unknown func(event, pos string)
}

// trState is everything State saves.
type trState struct {
	Version int       `json:"version"`
	Now     time.Time `json:"now"` // the latest time seen in the log
	// Sessions by Dovecot session id.
	Sessions map[string]*sessionState `json:"sessions"`
}

const stateVersion = 1

// sessionState is what the translator knows of one Dovecot session (one IMAP,
// POP3 or ManageSieve connection, or one doveadm command per user).
type sessionState struct {
	User     string `json:"user,omitempty"`   // the session's user: the mailbox owner unless a folder says otherwise
	Master   string `json:"master,omitempty"` // master user of a master-user login
	Service  string `json:"service,omitempty"`
	RemoteIP string `json:"remote_ip,omitempty"`
	Client   string `json:"client,omitempty"` // IMAP ID name
	Version  string `json:"client_version,omitempty"`
	Host     string `json:"host,omitempty"`
	LoggedIn bool   `json:"logged_in,omitempty"` // MailboxLogin done
	// Selected is the folder the last SELECT or EXAMINE opened: the folder
	// of a command whose event names none (one refused as BAD before its
	// arguments were read).
	Selected string `json:"selected,omitempty"`
	// Last is the latest time anything of the session was seen; Ended is when
	// it ended (zero while it runs).
	Last  time.Time `json:"last"`
	Ended time.Time `json:"ended,omitzero"`
	// mail_log lines and mail_expunged events no command has claimed yet,
	// and commands waiting for mail_log lines that have not come.
	Lines    []*mailLogRec  `json:"lines,omitempty"`
	Expunged []*expungedRec `json:"expunged,omitempty"`
	Held     []*commandRec  `json:"held,omitempty"`
}

// expungedRec is one mail_expunged event.
type expungedRec struct {
	Pos     string    `json:"pos"`
	Time    time.Time `json:"time"`
	Mailbox string    `json:"mailbox"`
	UID     uint32    `json:"uid"`
	Cmd     string    `json:"cmd,omitempty"`    // cmd_name, when the event was sent inside the command
	Reason  string    `json:"reason,omitempty"` // first reason_code
}

// commandRec is one finished IMAP command with the mail_log lines and
// mail_expunged events it claimed.
type commandRec struct {
	Pos     string         `json:"pos"`
	Name    string         `json:"name"`
	Args    string         `json:"args,omitempty"`
	Mailbox string         `json:"mailbox,omitempty"`
	State   string         `json:"state,omitempty"`
	Reply   string         `json:"reply,omitempty"`
	Start   time.Time      `json:"start"`
	End     time.Time      `json:"end"`
	Host    string         `json:"host,omitempty"`
	Lines   []*mailLogRec  `json:"lines,omitempty"`
	Exp     []*expungedRec `json:"exp,omitempty"`
	// Waited is set on a held STORE when the source has reached the end of
	// the log once since it was held (see Flush).
	Waited bool `json:"waited,omitempty"`
	// Logged is when the command's event reached the log (the line's
	// time), for a held STORE (see tooLate).
	Logged time.Time `json:"logged,omitzero"`
	// store is the STORE's arguments, read when first needed.
	store *storeArgs
}

// Session bookkeeping, in log time.
const (
	// endedGrace keeps an ended session this long, for its events that the
	// stats process writes after the session's "Disconnected" line.
	endedGrace = 5 * time.Minute
	// idleLimit forgets a session that showed nothing this long and never
	// ended (a process that died). IMAP sessions idle (IDLE is not exported)
	// for hours, and forgetting one loses its master user.
	idleLimit = 7 * 24 * time.Hour
)

// NewTranslator returns a Translator with no sessions.
func NewTranslator(o Options) *Translator {
	if o.Source == "" {
		o.Source = "dovecot"
	}
	if o.SharedPrefix == "" {
		o.SharedPrefix = DefaultSharedPrefix
	}
	if o.TrashFolders == nil {
		o.TrashFolders = DefaultTrashFolders
	}
	t := &Translator{opt: o, shared: newSharedNS(o.SharedPrefix), trash: map[string]bool{}}
	for _, f := range o.TrashFolders {
		t.trash[strings.ToLower(f)] = true
	}
	t.st = trState{Version: stateVersion, Sessions: map[string]*sessionState{}}
	return t
}

// Line handles one log line. pos is the line's stable, unique position in the log (e.g. "1234:5678" = inode:offset), used for SourceEventId so that re-reading the same line yields the same id. It returns the activities the line completes (often none; some lines complete activity begun by earlier ones). A line that is not for mailaudit (other log output) is ignored without error. A line that should be for mailaudit but is malformed (bad JSON after the events prefix, unknown event shape) returns an error naming the problem; the translator stays usable.
func (t *Translator) Line(line []byte, pos string) ([]*audit.Activity, error) {
	l, ok := parseLogLine(line, t.yearOf)
	if !ok {
		return nil, nil
	}
	t.advance(l.Time)
	switch {
	case l.Service == "stats":
		if !strings.HasPrefix(l.Msg, "{") {
			return nil, nil // the stats process's own messages
		}
		e, err := decodeEvent(l.Msg)
		if err != nil {
			return nil, err
		}
		t.advance(e.End)
		return t.event(e, l, pos)
	case strings.HasSuffix(l.Service, "-login"):
		t.loginLine(l)
		return nil, nil
	case mailServices[l.Service] && l.Session != "":
		return t.mailProcessLine(l, pos)
	}
	return nil, nil
}

// mailServices are the processes whose lines carry a session the translator
// follows. lmtp (deliveries) is not one of them: deliveries are not audited.
var mailServices = map[string]bool{"imap": true, "pop3": true, "doveadm": true, "managesieve": true, "submission": true}

func (t *Translator) advance(tm time.Time) {
	if tm.After(t.st.Now) {
		t.st.Now = tm
	}
}

// yearOf completes a timestamp without a year (Dovecot's default
// "%b %d %H:%M:%S") from the latest time seen: a month well after the
// current one is last year's.
func (t *Translator) yearOf(m time.Month) int {
	now := t.st.Now
	if now.IsZero() {
		now = time.Now()
	}
	if m > now.Month()+1 {
		return now.Year() - 1
	}
	return now.Year()
}

func (t *Translator) session(id string) *sessionState {
	s := t.st.Sessions[id]
	if s == nil {
		s = &sessionState{}
		t.st.Sessions[id] = s
	}
	return s
}

// touch notes a sign of life of the session at tm (zero: the latest time).
func (t *Translator) touch(s *sessionState, tm time.Time) {
	if tm.IsZero() {
		tm = t.st.Now
	}
	if tm.After(s.Last) {
		s.Last = tm
	}
}

// fromEvent fills the session from the fields every mail process event has.
func (t *Translator) fromEvent(s *sessionState, e *exportedEvent, line time.Time) {
	if u := e.str("user"); u != "" && s.User == "" {
		s.User = u
	}
	if ip := e.str("remote_ip"); ip != "" {
		s.RemoteIP = ip
	}
	if e.Hostname != "" {
		s.Host = e.Hostname
	}
	t.touch(s, e.when(line))
}

func (t *Translator) event(e *exportedEvent, l logLine, pos string) ([]*audit.Activity, error) {
	switch e.Name {
	case "imap_command_finished":
		if err := e.need("session", "cmd_name"); err != nil {
			return nil, err
		}
		return t.imapCommand(e, l, pos), nil
	case "mail_opened":
		if err := e.need("session", "mailbox", "uid"); err != nil {
			return nil, err
		}
		return t.mailOpened(e, l, pos), nil
	case "mail_expunged":
		if err := e.need("session", "mailbox", "uid"); err != nil {
			return nil, err
		}
		t.mailExpunged(e, l, pos)
		return nil, nil
	case "auth_request_finished":
		if e.Fields == nil {
			return nil, e.need()
		}
		return t.authFinished(e, l, pos), nil
	case "mail_user_session_finished":
		if err := e.need("session"); err != nil {
			return nil, err
		}
		return t.sessionFinished(e, l), nil
	case "managesieve_command_finished":
		if err := e.need("session", "cmd_name"); err != nil {
			return nil, err
		}
		return t.sieveCommand(e, l, pos), nil
	}
	// Any other event is not for mailaudit: the log can carry the
	// administrator's own exports, and later Dovecot versions add events.
	// Not an error, but said: it may also be an event renamed by a Dovecot
	// upgrade, whose activity is then missing.
	if t.unknown != nil {
		t.unknown(e.Name, pos)
	}
	return nil, nil
}

// ---- logins and sessions ----

// loginServices are the auth services whose success is a MailboxLogin.
// (smtp is Postfix asking for SMTP AUTH: no session, not a mailbox login.)
var loginServices = map[string]bool{"imap": true, "pop3": true, "sieve": true, "submission": true}

func (t *Translator) authFinished(e *exportedEvent, l logLine, pos string) []*audit.Activity {
	sid, svc := e.str("session"), e.str("service")
	if e.str("success") != "yes" || !loginServices[svc] || sid == "" || e.str("user") == "" {
		return nil
	}
	s := t.session(sid)
	s.User = e.str("user") // the auth result is authoritative for the session user
	if m := e.str("master_user"); m != "" {
		s.Master = m
	}
	s.Service = svc
	if id := parseIDList(e.str("client_id")); len(id) > 0 {
		s.Client, s.Version = id["name"], id["version"]
	}
	t.fromEvent(s, e, l.Time)
	if s.LoggedIn {
		return nil
	}
	s.LoggedIn = true
	a := t.activity(sid, s, audit.MailboxLogin, s.User, e.when(l.Time), pos, e.Hostname)
	return []*audit.Activity{a}
}

// loginLine reads "imap-login: Login: user=<alice>, …, rip=…, session=<…>":
// the session's user and client address when no auth event told them (it
// never creates activity: the auth event does, and knows the master user).
func (t *Translator) loginLine(l logLine) {
	rest, ok := strings.CutPrefix(l.Msg, "Login: ")
	if !ok {
		return
	}
	kv := map[string]string{}
	for _, f := range strings.Split(rest, ", ") {
		if k, v, ok := strings.Cut(f, "="); ok {
			kv[k] = strings.TrimSuffix(strings.TrimPrefix(v, "<"), ">")
		}
	}
	sid := kv["session"]
	if sid == "" {
		return
	}
	s := t.session(sid)
	if s.User == "" {
		s.User = kv["user"]
	}
	if s.RemoteIP == "" {
		s.RemoteIP = kv["rip"]
	}
	if s.Service == "" {
		s.Service = strings.TrimSuffix(l.Service, "-login")
	}
	t.touch(s, l.Time)
}

func (t *Translator) sessionFinished(e *exportedEvent, l logLine) []*audit.Activity {
	sid := e.str("session")
	s := t.st.Sessions[sid]
	if s == nil {
		return nil
	}
	t.fromEvent(s, e, l.Time)
	// The process has ended: its mail_log lines were written before this
	// event was sent, so whatever is still unclaimed will stay so.
	out := t.releaseHeld(sid, s, func(*commandRec) bool { return true })
	out = append(out, t.sweep(sid, s, func(time.Time, bool) bool { return true })...)
	s.Ended = e.when(l.Time)
	return out
}

// mailProcessLine handles a line of an imap, pop3, doveadm, managesieve or
// submission process: mail_log lines, and the end of the session.
func (t *Translator) mailProcessLine(l logLine, pos string) ([]*audit.Activity, error) {
	sid := l.Session
	s := t.session(sid)
	if s.User == "" {
		s.User = l.User
	}
	if s.Service == "" {
		s.Service = l.Service
	}
	if m := l.Fields["master"]; m != "" {
		s.Master = m
	}
	t.touch(s, l.Time)
	if strings.HasPrefix(l.Msg, "Disconnected") {
		if s.Ended.IsZero() {
			s.Ended = l.Time
			if s.Ended.IsZero() {
				s.Ended = t.st.Now
			}
		}
		// The process writes its lines to the log process down one pipe,
		// in order: after its last line, no held command has more to come.
		return t.releaseHeld(sid, s, func(*commandRec) bool { return true }), nil
	}
	if l.Service == "managesieve" || l.Service == "submission" || isMailboxLogMsg(l.Msg) {
		return nil, nil
	}
	r, ok, err := parseMailLog(l.Msg)
	if err != nil || !ok {
		return nil, err
	}
	r.Pos, r.Time, r.Coarse = pos, l.Time, l.Coarse
	if r.Time.IsZero() {
		if t.st.Now.IsZero() {
			return nil, fmt.Errorf("mail_log line without a timestamp we can read (set log_timestamp as mailaudit's configuration does)")
		}
		r.Time, r.Coarse = t.st.Now, true
	}
	// A command waiting for this line takes it; otherwise the line waits for
	// its command's event, which the stats process writes after it.
	for i, c := range s.Held {
		if !t.accepts(c, &r) || before(r.Time, r.Coarse, c.Start) || c.tooLate(&r) {
			continue
		}
		c.Lines = append(c.Lines, &r)
		if !c.complete() {
			return nil, nil
		}
		s.Held = append(s.Held[:i], s.Held[i+1:]...)
		return t.commandActivities(sid, s, c, pos), nil
	}
	s.Lines = append(s.Lines, &r)
	return nil, nil
}

// ---- IMAP commands ----

func (t *Translator) imapCommand(e *exportedEvent, l logLine, pos string) []*audit.Activity {
	sid := e.str("session")
	s := t.session(sid)
	t.fromEvent(s, e, l.Time)
	if s.Service == "" {
		s.Service = "imap"
	}
	c := &commandRec{
		Pos: pos, Name: strings.ToUpper(e.str("cmd_name")), Args: e.str("cmd_args"),
		Mailbox: e.str("mailbox"), State: strings.ToUpper(e.str("tagged_reply_state")),
		Reply: e.str("tagged_reply"), Start: e.Start, End: e.when(l.Time), Host: e.Hostname,
	}
	if c.Start.IsZero() {
		c.Start = c.End
	}
	if c.Mailbox == "" && mailboxFirst[c.Name] {
		// SETACL and DELETEACL have no mailbox field; a failed command may
		// not have one either.
		if toks := imapTokens(c.Args); len(toks) > 0 {
			c.Mailbox = mailboxArg(toks[0])
		}
	}
	switch {
	case c.Name == "SELECT" || c.Name == "EXAMINE":
		// A SELECT that fails leaves no folder selected (RFC 3501 6.3.1).
		s.Selected = ""
		if c.State == "OK" {
			s.Selected = c.Mailbox
		}
	case c.Name == "CLOSE" && c.State == "OK":
		s.Selected = ""
	case c.Mailbox == "" && !mailboxFirst[c.Name]:
		c.Mailbox = s.Selected
	}
	if lineBacked[c.Name] && c.State == "OK" {
		t.claim(s, c)
	}
	// What is still unclaimed and older than this command belongs to no
	// command that is still to come.
	out := t.sweep(sid, s, func(tm time.Time, coarse bool) bool { return before(tm, coarse, c.Start) })
	switch {
	case c.Name == "ID":
		if id := parseIDList(c.Args); len(id) > 0 {
			s.Client, s.Version = id["name"], id["version"]
		}
	case lineBacked[c.Name]:
		// A STORE waits only when none of its lines came before its event:
		// its lines come together, so one that has some has them all, and
		// one held back could take a later command's lines.
		if c.State == "OK" && !c.complete() && (!isStore(c.Name) || len(c.Lines) == 0) {
			c.Logged = l.Time
			s.Held = append(s.Held, c)
			break
		}
		out = append(out, t.commandActivities(sid, s, c, pos)...)
	default:
		if a := t.simpleCommand(sid, s, c); a != nil {
			out = append(out, a)
		}
	}
	return out
}

// mailboxFirst are the commands whose first argument is a folder.
var mailboxFirst = map[string]bool{"SELECT": true, "EXAMINE": true, "SETACL": true, "DELETEACL": true, "APPEND": true, "DELETE": true}

// lineBacked are the commands whose activity comes from mail_log lines.
var lineBacked = map[string]bool{
	"COPY": true, "UID COPY": true, "MOVE": true, "UID MOVE": true,
	"STORE": true, "UID STORE": true, "APPEND": true,
	"EXPUNGE": true, "UID EXPUNGE": true, "CLOSE": true, "DELETE": true,
}

func isMove(n string) bool  { return n == "MOVE" || n == "UID MOVE" }
func isCopy(n string) bool  { return n == "COPY" || n == "UID COPY" }
func isStore(n string) bool { return n == "STORE" || n == "UID STORE" }
func isExpunging(n string) bool {
	return n == "EXPUNGE" || n == "UID EXPUNGE" || n == "CLOSE" || n == "DELETE"
}

// dest is the destination folder of COPY and MOVE.
func (c *commandRec) dest() string {
	if toks := imapTokens(c.Args); len(toks) >= 2 {
		return mailboxArg(toks[len(toks)-1])
	}
	return ""
}

// want is how many mail_log lines the command should have made, as its reply
// or its mail_expunged events tell; 0 when unknown.
func (c *commandRec) want() int {
	switch {
	case isCopy(c.Name):
		_, dst, _ := copyUID(c.Reply)
		return len(dst)
	case c.Name == "APPEND":
		uids, _ := appendUID(c.Reply)
		return len(uids)
	case isMove(c.Name) || isExpunging(c.Name):
		return len(c.Exp)
	}
	return 0
}

func (c *commandRec) count(kind string) int {
	n := 0
	for _, r := range c.Lines {
		if r.Kind == kind {
			n++
		}
	}
	return n
}

// lateLine is how long after a STORE's event one of its own lines can reach
// the log. Both are stamped by Dovecot's log process as they arrive; a line
// the imap process wrote before the event came through the stats process
// arrives within microseconds of it (15 µs in the captured case), while a
// later command's line needs a round trip to the client first.
const lateLine = 20 * time.Millisecond

// tooLate reports whether a line reached the log too long after a held
// STORE's event to be one of its own.
func (c *commandRec) tooLate(r *mailLogRec) bool {
	return isStore(c.Name) && !r.Coarse && !c.Logged.IsZero() && r.Time.Sub(c.Logged) > lateLine
}

// complete reports whether the command has all the mail_log lines it will
// get. A STORE logs a line only for the messages whose flags it changed, so
// its reply says nothing of how many: it is complete once each message its
// set names has a line, and otherwise waits (see Flush).
func (c *commandRec) complete() bool {
	if !isStore(c.Name) {
		return c.have() >= c.want()
	}
	st := c.storeArgs()
	if st.count == 0 || len(c.Lines) < st.count {
		return false
	}
	seen := make(map[uint32]bool, len(c.Lines))
	for _, r := range c.Lines {
		seen[r.UID] = true
	}
	if st.uids == nil {
		return len(seen) >= st.count
	}
	for _, u := range st.uids {
		if !seen[u] {
			return false
		}
	}
	return true
}

func (c *commandRec) storeArgs() *storeArgs {
	if c.store == nil {
		st := parseStore(c.Name == "UID STORE", c.Args)
		c.store = &st
	}
	return c.store
}

func (c *commandRec) have() int {
	switch {
	case isCopy(c.Name):
		return c.count("copy")
	case c.Name == "APPEND":
		return c.count("save")
	case isMove(c.Name):
		// Both halves: a MOVE emitted on its copy line alone would leave its
		// expunge line to be taken for a HardDelete.
		return min(c.count("copy"), c.count("expunge"))
	case isExpunging(c.Name):
		return c.count("expunge")
	}
	return 0
}

// before reports whether a record's time is surely before start: with
// whole-second timestamps, only when its whole second ended before start.
func before(tm time.Time, coarse bool, start time.Time) bool {
	if coarse {
		return !tm.Add(time.Second).After(start)
	}
	return tm.Before(start)
}

func containsUID(l []uint32, u uint32) bool {
	for _, x := range l {
		if x == u {
			return true
		}
	}
	return false
}

func (c *commandRec) expUIDs() []uint32 {
	var l []uint32
	for _, ev := range c.Exp {
		l = append(l, ev.UID)
	}
	return l
}

// accepts reports whether a mail_log line can be one of the command's: the
// right kind in the right folder, and one of the messages its reply or its
// mail_expunged events name when they name any.
func (t *Translator) accepts(c *commandRec, r *mailLogRec) bool {
	switch {
	case isCopy(c.Name):
		if r.Kind != "copy" || r.Src != c.Mailbox || (c.dest() != "" && r.Box != c.dest()) {
			return false
		}
		if _, dst, ok := copyUID(c.Reply); ok {
			return containsUID(dst, r.UID)
		}
		return true
	case isMove(c.Name):
		switch r.Kind {
		case "copy":
			if r.Src != c.Mailbox || (c.dest() != "" && r.Box != c.dest()) {
				return false
			}
			return len(c.Exp) == 0 || c.count("copy") < len(c.Exp)
		case "expunge":
			return r.Box == c.Mailbox && (len(c.Exp) == 0 || containsUID(c.expUIDs(), r.UID))
		}
		return false
	case isExpunging(c.Name):
		return r.Kind == "expunge" && r.Box == c.Mailbox && (len(c.Exp) == 0 || containsUID(c.expUIDs(), r.UID))
	case isStore(c.Name):
		return (r.Kind == "delete" || r.Kind == "undelete" || r.Kind == "flag_change") && r.Box == c.Mailbox &&
			c.storeArgs().admits(r.Kind, r.UID, r.Flags)
	case c.Name == "APPEND":
		if r.Kind != "save" || r.Box != c.Mailbox {
			return false
		}
		if uids, ok := appendUID(c.Reply); ok {
			return containsUID(uids, r.UID)
		}
		return true
	}
	return false
}

// claim moves the session's unclaimed mail_expunged events and mail_log
// lines that are the command's into it. Those sent before the command began
// are not.
func (t *Translator) claim(s *sessionState, c *commandRec) {
	if isMove(c.Name) || isExpunging(c.Name) {
		keep := s.Expunged[:0]
		for _, ev := range s.Expunged {
			if ev.Mailbox == c.Mailbox && (ev.Cmd == "" || ev.Cmd == c.Name) && !before(ev.Time, false, c.Start) &&
				!strings.HasPrefix(ev.Reason, "doveadm:") {
				c.Exp = append(c.Exp, ev)
			} else {
				keep = append(keep, ev)
			}
		}
		s.Expunged = keep
	}
	keep := s.Lines[:0]
	for _, r := range s.Lines {
		if !before(r.Time, r.Coarse, c.Start) && t.accepts(c, r) {
			c.Lines = append(c.Lines, r)
		} else {
			keep = append(keep, r)
		}
	}
	s.Lines = keep
}

// releaseHeld emits the held commands for which due is true, with what they
// have: their lines did not come. Their SourceEventId is their own event's.
func (t *Translator) releaseHeld(sid string, s *sessionState, due func(*commandRec) bool) []*audit.Activity {
	var out []*audit.Activity
	keep := s.Held[:0]
	for _, c := range s.Held {
		if due(c) {
			out = append(out, t.commandActivities(sid, s, c, c.Pos)...)
		} else {
			keep = append(keep, c)
		}
	}
	s.Held = keep
	return out
}

// simpleCommand is the activity of a command that needs no mail_log line.
func (t *Translator) simpleCommand(sid string, s *sessionState, c *commandRec) *audit.Activity {
	var op audit.Operation
	var props []audit.NameValue
	switch c.Name {
	case "SELECT", "EXAMINE":
		op = audit.FolderBind
	case "SEARCH", "UID SEARCH":
		op = audit.SearchQueryInitiated
		props = []audit.NameValue{{Name: "SearchQuery", Value: c.Args}}
	case "SETACL", "DELETEACL":
		op = audit.UpdateFolderPermissions
		toks := imapTokens(c.Args)
		if len(toks) >= 2 {
			props = append(props, audit.NameValue{Name: "Member", Value: toks[1]})
		}
		if c.Name == "SETACL" && len(toks) >= 3 {
			props = append(props, audit.NameValue{Name: "Rights", Value: toks[2]})
		}
	default:
		return nil
	}
	if c.Mailbox == "" {
		return nil // a BAD command without a folder: nothing to say whose
	}
	p := t.locate(s.User, c.Mailbox)
	a := t.activity(sid, s, op, p.Owner, c.End, c.Pos, c.Host)
	a.Folder = p.folder()
	a.OperationProperties = props
	a.ResultStatus = result(c.State)
	return a
}

func result(state string) string {
	if state == "OK" {
		return audit.Succeeded
	}
	return audit.Failed
}

// commandActivities builds the activity of a line-backed command from what
// it claimed. pos is the line that completes it.
func (t *Translator) commandActivities(sid string, s *sessionState, c *commandRec, pos string) []*audit.Activity {
	if c.Mailbox == "" && c.State != "OK" {
		return nil // refused before it named a folder, with none selected: nothing says whose
	}
	src := t.locate(s.User, c.Mailbox)
	mk := func(op audit.Operation, p place) *audit.Activity {
		a := t.activity(sid, s, op, p.Owner, c.End, pos, c.Host)
		a.Folder = p.folder()
		a.ResultStatus = result(c.State)
		return a
	}
	var out []*audit.Activity
	switch {
	case isCopy(c.Name), isMove(c.Name):
		dst := t.locate(s.User, c.dest())
		if c.dest() == "" && len(c.Lines) > 0 {
			dst = t.locate(s.User, c.Lines[0].Box)
		}
		op := audit.Copy
		if isMove(c.Name) {
			op = audit.Move
			if t.isTrash(dst) {
				op = audit.MoveToDeletedItems
			}
		}
		a := mk(op, src)
		a.DestFolder = dst.folder()
		if dst.Owner != "" && !strings.EqualFold(dst.Owner, src.Owner) {
			a.DestMailboxOwnerUPN = dst.Owner
		}
		if c.State == "OK" {
			if isCopy(c.Name) {
				a.Items = copyItems(c, src)
			} else {
				a.Items = moveItems(c, src)
			}
			if len(a.Items) == 0 {
				return nil
			}
		}
		out = append(out, a)
	case isStore(c.Name):
		if c.State != "OK" {
			op := audit.Update
			if up := strings.ToUpper(c.Args); strings.Contains(up, "+FLAGS") && strings.Contains(up, `\DELETED`) {
				op = audit.SoftDelete
			}
			return []*audit.Activity{mk(op, src)}
		}
		change := c.Args
		if toks := imapTokens(c.Args); len(toks) > 1 {
			change = strings.TrimSpace(strings.TrimPrefix(c.Args, toks[0]))
		}
		var del *audit.Activity
		updates := map[uint32]*audit.Activity{}
		for _, r := range c.Lines {
			switch r.Kind {
			case "delete":
				if del == nil {
					del = mk(audit.SoftDelete, src)
					out = append(out, del)
				}
				del.Items = append(del.Items, item(r, src, r.UID))
			case "undelete", "flag_change":
				// A STORE of flags and keywords logs a line for each: one
				// Update per message, with the flags it ended with.
				u := updates[r.UID]
				if u == nil {
					u = mk(audit.Update, src)
					u.Items = []audit.Item{item(r, src, r.UID)}
					updates[r.UID] = u
					out = append(out, u)
				}
				u.OperationProperties = []audit.NameValue{{Name: "Flags", Value: r.Flags}, {Name: "FlagsChange", Value: change}}
			}
		}
	case isExpunging(c.Name):
		if c.State != "OK" {
			if c.Name == "EXPUNGE" || c.Name == "UID EXPUNGE" {
				out = append(out, mk(audit.HardDelete, src))
			}
			break
		}
		a := mk(audit.HardDelete, src)
		for _, r := range c.Lines {
			a.Items = append(a.Items, item(r, src, r.UID))
		}
		if len(a.Items) == 0 {
			for _, ev := range c.Exp {
				a.Items = append(a.Items, audit.Item{Id: src.itemID(ev.UID), ParentFolder: src.folder()})
			}
		}
		if len(a.Items) > 0 {
			out = append(out, a)
		}
	case c.Name == "APPEND":
		if c.State != "OK" {
			return []*audit.Activity{mk(audit.Create, src)}
		}
		for _, r := range c.Lines {
			a := mk(audit.Create, src)
			a.Items = []audit.Item{item(r, src, r.UID)}
			out = append(out, a)
		}
		if len(out) == 0 {
			uids, _ := appendUID(c.Reply)
			for _, u := range uids {
				a := mk(audit.Create, src)
				a.Items = []audit.Item{{Id: src.itemID(u), ParentFolder: src.folder()}}
				out = append(out, a)
			}
		}
	}
	number(out, pos)
	return out
}

// copyItems are a COPY's messages, named by their source UID (COPYUID maps
// the destination UID of each mail_log line back to it).
func copyItems(c *commandRec, src place) []audit.Item {
	srcUIDs, dstUIDs, mapped := copyUID(c.Reply)
	var items []audit.Item
	for _, r := range c.Lines {
		var u uint32
		for i, d := range dstUIDs {
			if d == r.UID {
				u = srcUIDs[i]
			}
		}
		items = append(items, item(r, src, u))
	}
	if len(items) == 0 && mapped {
		for _, u := range srcUIDs {
			items = append(items, audit.Item{Id: src.itemID(u), ParentFolder: src.folder()})
		}
	}
	return items
}

// moveItems are a MOVE's messages: its expunge lines name them in the
// source; without those, its copy lines (in order with its mail_expunged
// events for the UIDs), and without any line, the events alone.
func moveItems(c *commandRec, src place) []audit.Item {
	var items []audit.Item
	for _, r := range c.Lines {
		if r.Kind == "expunge" {
			items = append(items, item(r, src, r.UID))
		}
	}
	if len(items) > 0 {
		return items
	}
	i := 0
	for _, r := range c.Lines {
		if r.Kind != "copy" {
			continue
		}
		var u uint32
		if len(c.Exp) == c.count("copy") {
			u = c.Exp[i].UID
		}
		i++
		items = append(items, item(r, src, u))
	}
	if len(items) > 0 {
		return items
	}
	for _, ev := range c.Exp {
		items = append(items, audit.Item{Id: src.itemID(ev.UID), ParentFolder: src.folder()})
	}
	return items
}

func item(r *mailLogRec, p place, uid uint32) audit.Item {
	return audit.Item{Id: p.itemID(uid), InternetMessageId: r.MsgID, Subject: r.Subject, SizeInBytes: r.Size, ParentFolder: p.folder()}
}

// number gives the activities one line completes distinct SourceEventIds.
func number(acts []*audit.Activity, pos string) {
	if len(acts) < 2 {
		for _, a := range acts {
			a.SourceEventId = pos
		}
		return
	}
	for i, a := range acts {
		a.SourceEventId = pos + "#" + strconv.Itoa(i+1)
	}
}

// ---- unclaimed lines ----

// sweep takes the unclaimed lines and mail_expunged events that due says no
// command will claim any more and makes activity of them on their own: the
// lines of POP3 and doveadm (which have no command events), of commands whose
// event was lost, and late lines. A flag_change alone is dropped: it is
// usually the implicit \Seen of a body FETCH, and nothing tells an explicit
// STORE apart without its command.
func (t *Translator) sweep(sid string, s *sessionState, due func(time.Time, bool) bool) []*audit.Activity {
	var lines []*mailLogRec
	keepL := s.Lines[:0]
	for _, r := range s.Lines {
		if due(r.Time, r.Coarse) {
			lines = append(lines, r)
		} else {
			keepL = append(keepL, r)
		}
	}
	s.Lines = keepL
	var evs []*expungedRec
	keepE := s.Expunged[:0]
	for _, ev := range s.Expunged {
		if due(ev.Time, false) {
			evs = append(evs, ev)
		} else {
			keepE = append(keepE, ev)
		}
	}
	s.Expunged = keepE
	if len(lines) == 0 && len(evs) == 0 {
		return nil
	}
	return t.orphans(sid, s, lines, evs)
}

type orphanGroup struct {
	op        audit.Operation
	src, dst  place
	hasDst    bool
	items     []audit.Item
	pos       string
	tm        time.Time
	props     []audit.NameValue
	groupable bool
}

func (t *Translator) orphans(sid string, s *sessionState, lines []*mailLogRec, evs []*expungedRec) []*audit.Activity {
	var groups []*orphanGroup
	add := func(op audit.Operation, src place, dst *place, it audit.Item, pos string, tm time.Time, groupable bool) {
		if groupable {
			for _, g := range groups {
				if g.groupable && g.op == op && g.src == src && (dst == nil || g.dst == *dst) {
					g.items = append(g.items, it)
					g.pos, g.tm = pos, tm
					return
				}
			}
		}
		g := &orphanGroup{op: op, src: src, items: []audit.Item{it}, pos: pos, tm: tm, groupable: groupable}
		if dst != nil {
			g.dst, g.hasDst = *dst, true
		}
		groups = append(groups, g)
	}
	used := map[*mailLogRec]bool{}
	expunged := map[string]bool{} // mailbox NUL uid of expunge lines
	for _, r := range lines {
		if r.Kind == "expunge" {
			expunged[r.Box+"\x00"+uitoa(r.UID)] = true
		}
	}
	for _, r := range lines {
		if used[r] {
			continue
		}
		p := t.locate(s.User, r.Box)
		switch r.Kind {
		case "copy":
			src := t.locate(s.User, r.Src)
			// A copy whose source message was expunged alongside is a move.
			var pair *mailLogRec
			for _, e := range lines {
				if e.Kind == "expunge" && !used[e] && e.Box == r.Src && r.MsgID != "" && e.MsgID == r.MsgID {
					pair = e
					break
				}
			}
			if pair != nil {
				used[pair] = true
				op := audit.Move
				if t.isTrash(p) {
					op = audit.MoveToDeletedItems
				}
				add(op, src, &p, item(pair, src, pair.UID), r.Pos, r.Time, true)
			} else {
				add(audit.Copy, src, &p, item(r, src, 0), r.Pos, r.Time, true)
			}
		case "expunge":
			add(audit.HardDelete, p, nil, item(r, p, r.UID), r.Pos, r.Time, true)
		case "delete":
			add(audit.SoftDelete, p, nil, item(r, p, r.UID), r.Pos, r.Time, true)
		case "undelete":
			add(audit.Update, p, nil, item(r, p, r.UID), r.Pos, r.Time, false)
			groups[len(groups)-1].props = []audit.NameValue{{Name: "Flags", Value: r.Flags}}
		case "save":
			add(audit.Create, p, nil, item(r, p, r.UID), r.Pos, r.Time, false)
		}
	}
	for _, ev := range evs {
		if expunged[ev.Mailbox+"\x00"+uitoa(ev.UID)] {
			continue // the mail_log line said it, with more
		}
		p := t.locate(s.User, ev.Mailbox)
		op := audit.HardDelete
		if ev.Reason == "doveadm:cmd_move" {
			op = audit.Move // doveadm move: the copy is not logged, the destination is unknown
		}
		add(op, p, nil, audit.Item{Id: p.itemID(ev.UID), ParentFolder: p.folder()}, ev.Pos, ev.Time, true)
	}
	var out []*audit.Activity
	for _, g := range groups {
		a := t.activity(sid, s, g.op, g.src.Owner, g.tm, g.pos, "")
		a.Folder = g.src.folder()
		if g.hasDst {
			a.DestFolder = g.dst.folder()
			if !strings.EqualFold(g.dst.Owner, g.src.Owner) {
				a.DestMailboxOwnerUPN = g.dst.Owner
			}
		}
		a.Items = g.items
		a.OperationProperties = g.props
		out = append(out, a)
	}
	return out
}

// ---- events that are activity on their own ----

func (t *Translator) mailOpened(e *exportedEvent, l logLine, pos string) []*audit.Activity {
	bind, doveadm := false, false
	for _, rc := range e.strs("reason_code") {
		switch rc {
		case "imap:fetch_body":
			bind = true
		case "doveadm:cmd_fetch":
			bind, doveadm = true, true
		}
	}
	if !bind {
		return nil // headers, SEARCH, delivery: not a read of the message
	}
	sid := e.str("session")
	s := t.session(sid)
	if doveadm {
		s.Service = "doveadm"
	}
	t.fromEvent(s, e, l.Time)
	uid, _ := e.uid("uid")
	p := t.locate(s.User, e.str("mailbox"))
	a := t.activity(sid, s, audit.MailItemsAccessed, p.Owner, e.when(l.Time), pos, e.Hostname)
	a.Folder = p.folder()
	a.Items = []audit.Item{{Id: p.itemID(uid), ParentFolder: p.folder()}}
	a.OperationProperties = []audit.NameValue{{Name: "MailAccessType", Value: "Bind"}}
	return []*audit.Activity{a}
}

func (t *Translator) mailExpunged(e *exportedEvent, l logLine, pos string) {
	sid := e.str("session")
	s := t.session(sid)
	ev := &expungedRec{Pos: pos, Time: e.when(l.Time), Mailbox: e.str("mailbox"), Cmd: strings.ToUpper(e.str("cmd_name"))}
	ev.UID, _ = e.uid("uid")
	if rc := e.strs("reason_code"); len(rc) > 0 {
		ev.Reason = rc[0]
		if strings.HasPrefix(rc[0], "doveadm:") {
			s.Service = "doveadm"
		}
	}
	t.fromEvent(s, e, l.Time)
	s.Expunged = append(s.Expunged, ev)
}

func (t *Translator) sieveCommand(e *exportedEvent, l logLine, pos string) []*audit.Activity {
	name := strings.ToUpper(e.str("cmd_name"))
	switch name {
	case "PUTSCRIPT", "SETACTIVE", "DELETESCRIPT", "RENAMESCRIPT":
	default:
		return nil // reading scripts is not a change of rules
	}
	sid := e.str("session")
	s := t.session(sid)
	if s.Service == "" || s.Service == "managesieve" {
		s.Service = "sieve"
	}
	t.fromEvent(s, e, l.Time)
	a := t.activity(sid, s, audit.UpdateInboxRules, s.User, e.when(l.Time), pos, e.Hostname)
	if e.str("error") != "" {
		a.ResultStatus = audit.Failed
	}
	rule := e.str("script_name")
	if name == "RENAMESCRIPT" {
		rule = e.str("old_script_name")
	}
	if rule == "" && name != "SETACTIVE" {
		// The event names the script only after parsing the arguments.
		if toks := imapTokens(e.str("cmd_args")); len(toks) > 0 {
			rule = toks[0]
		}
	}
	if rule != "" {
		a.OperationProperties = append(a.OperationProperties, audit.NameValue{Name: "RuleName", Value: rule})
	}
	a.OperationProperties = append(a.OperationProperties, audit.NameValue{Name: "RuleOperation", Value: name})
	if n := e.str("new_script_name"); name == "RENAMESCRIPT" && n != "" {
		a.OperationProperties = append(a.OperationProperties, audit.NameValue{Name: "NewRuleName", Value: n})
	}
	return []*audit.Activity{a}
}

// ---- activity ----

// actor is who acts in a session: the master user of a master-user login,
// "doveadm" for doveadm, else the session's user.
func actor(s *sessionState) (user, hint string) {
	switch {
	case s.Master != "":
		return s.Master, "Admin"
	case s.Service == "doveadm":
		return "doveadm", "Admin"
	}
	return s.User, ""
}

var clientNames = map[string]string{
	"imap": "IMAP4", "pop3": "POP3", "sieve": "ManageSieve", "managesieve": "ManageSieve",
	"submission": "Submission", "doveadm": "doveadm",
}

func (t *Translator) activity(sid string, s *sessionState, op audit.Operation, owner string, tm time.Time, pos, host string) *audit.Activity {
	user, hint := actor(s)
	if tm.IsZero() {
		tm = t.st.Now
	}
	a := &audit.Activity{
		SourceEventId:   pos,
		Source:          t.opt.Source,
		CreationTime:    audit.Time{Time: tm.UTC()},
		Operation:       op,
		UserId:          user,
		MailboxOwnerUPN: owner,
		ResultStatus:    audit.Succeeded,
		LogonTypeHint:   hint,
		ClientIPAddress: s.RemoteIP,
		SessionId:       sid,
	}
	if c := clientNames[s.Service]; c != "" {
		a.ClientInfoString = "Client=" + c
		if s.Client != "" {
			a.ClientInfoString += ";name=" + s.Client
			a.ClientProcessName = s.Client
		}
		if s.Version != "" {
			a.ClientInfoString += ";version=" + s.Version
			a.ClientVersion = s.Version
		}
	}
	switch {
	case t.opt.Hostname != "":
		a.OriginatingServer = t.opt.Hostname
	case host != "":
		a.OriginatingServer = host
	default:
		a.OriginatingServer = s.Host
	}
	return a
}

func uitoa(u uint32) string { return strconv.FormatUint(uint64(u), 10) }

// ---- Flush, State, Restore ----

// Flush returns activity held back waiting for lines that did not come (e.g. a MOVE whose mail_log lines were lost) once it is older than `older`, relative to the latest line time seen. Call it each time the end of the log is reached, and after each batch of a backlog.
//
// A STORE waits for its lines only until the second call after it: its lines
// reach the log before its event or just after it (the event goes through
// the stats process), and it may have changed nothing, so there is no count
// to wait for. Waiting one read of the log more lets a line the log process
// wrote a moment after the event join it, without holding every STORE back
// by `older`.
func (t *Translator) Flush(older time.Duration) []*audit.Activity {
	now := t.st.Now
	cut := now.Add(-older)
	var out []*audit.Activity
	for sid, s := range t.st.Sessions {
		gone := !s.Last.After(now.Add(-idleLimit)) ||
			(!s.Ended.IsZero() && !s.Ended.After(now.Add(-max(older, endedGrace))))
		if len(s.Held) > 0 {
			out = append(out, t.releaseHeld(sid, s, func(c *commandRec) bool {
				if isStore(c.Name) && !c.Waited {
					c.Waited = true
					return gone || !c.End.After(cut)
				}
				return gone || !c.End.After(cut) || isStore(c.Name)
			})...)
		}
		if len(s.Lines) > 0 || len(s.Expunged) > 0 {
			out = append(out, t.sweep(sid, s, func(tm time.Time, _ bool) bool { return gone || !tm.After(cut) })...)
		}
		if gone {
			delete(t.st.Sessions, sid)
		}
	}
	// Map order is random: order by time, then by id, for a stable result.
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreationTime.Equal(out[j].CreationTime.Time) {
			return out[i].CreationTime.Before(out[j].CreationTime.Time)
		}
		return out[i].SourceEventId < out[j].SourceEventId
	})
	return out
}
