package dovecot

import (
	"encoding/base64"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// imapTokens splits IMAP command arguments as imap_command_finished's cmd_args
// shows them: atoms, "quoted strings" (unquoted here), parenthesised lists
// (kept whole, with their parentheses) and literals, which Dovecot elides to
// "<N byte literal>" (kept whole; their text is not in the log).
func imapTokens(s string) []string {
	var out []string
	for {
		s = strings.TrimLeft(s, " ")
		if s == "" {
			return out
		}
		switch s[0] {
		case '"':
			var b strings.Builder
			i := 1
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
			}
			out = append(out, b.String())
			if i < len(s) {
				i++
			}
			s = s[i:]
		case '(':
			depth, i, inq := 0, 0, false
			for ; i < len(s); i++ {
				c := s[i]
				switch {
				case inq && c == '\\':
					i++
				case c == '"':
					inq = !inq
				case !inq && c == '(':
					depth++
				case !inq && c == ')':
					depth--
				}
				if depth == 0 {
					break
				}
			}
			if i < len(s) {
				i++
			}
			out = append(out, s[:i])
			s = s[i:]
		case '<':
			// "<107 byte literal>"; anything else starting with '<' is an atom.
			if i := strings.Index(s, " byte literal>"); i > 1 && strings.Trim(s[1:i], "0123456789") == "" {
				out = append(out, s[:i+len(" byte literal>")])
				s = s[i+len(" byte literal>"):]
				continue
			}
			i := strings.IndexByte(s, ' ')
			if i < 0 {
				i = len(s)
			}
			out = append(out, s[:i])
			s = s[i:]
		default:
			i := strings.IndexByte(s, ' ')
			if i < 0 {
				i = len(s)
			}
			out = append(out, s[:i])
			s = s[i:]
		}
	}
}

// isElided reports a token that stood for a literal Dovecot did not log.
func isElided(tok string) bool {
	return strings.HasPrefix(tok, "<") && strings.HasSuffix(tok, " byte literal>")
}

// decodeMUTF7 turns an IMAP mailbox name from modified UTF-7 (RFC 3501
// 5.1.3), as a client sends it, into UTF-8, as Dovecot's events and mail_log
// name it. A name that is not valid modified UTF-7 is returned as it is (a
// client that enabled UTF8=ACCEPT sends UTF-8).
func decodeMUTF7(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '&' {
			b.WriteByte(c)
			i++
			continue
		}
		j := strings.IndexByte(s[i+1:], '-')
		if j < 0 {
			return s
		}
		enc := s[i+1 : i+1+j]
		i += j + 2
		if enc == "" {
			b.WriteByte('&')
			continue
		}
		raw, err := base64.RawStdEncoding.DecodeString(strings.ReplaceAll(enc, ",", "/"))
		if err != nil || len(raw)%2 != 0 {
			return s
		}
		u := make([]uint16, len(raw)/2)
		for k := range u {
			u[k] = uint16(raw[2*k])<<8 | uint16(raw[2*k+1])
		}
		for _, r := range utf16.Decode(u) {
			if r == utf8.RuneError {
				return s
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}

// mailboxArg reads a mailbox name argument.
func mailboxArg(tok string) string {
	if isElided(tok) {
		return ""
	}
	return decodeMUTF7(tok)
}

// parseIDList reads an IMAP ID parameter list, as the ID command's cmd_args
// ("(\"name\" \"mutt\" …)") or the auth events' client_id ("\"name\" \"mutt\" …")
// show it, into lower-case keys.
func parseIDList(s string) map[string]string {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "(") && strings.HasSuffix(s, ")") {
		s = s[1 : len(s)-1]
	}
	toks := imapTokens(s)
	m := map[string]string{}
	for i := 0; i+1 < len(toks); i += 2 {
		if strings.EqualFold(toks[i+1], "NIL") {
			continue
		}
		m[strings.ToLower(toks[i])] = toks[i+1]
	}
	return m
}

// maxUIDSet bounds the UIDs a response code may expand to, so a huge range
// cannot exhaust memory.
const maxUIDSet = 100000

// parseUIDSet expands "5:7,9" into 5 6 7 9. ok is false for anything else.
func parseUIDSet(s string) ([]uint32, bool) {
	var out []uint32
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, ":")
		a, err := strconv.ParseUint(lo, 10, 32)
		if err != nil {
			return nil, false
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 32); err != nil {
				return nil, false
			}
			if b < a {
				a, b = b, a
			}
		}
		if uint64(len(out))+b-a+1 > maxUIDSet {
			return nil, false
		}
		for u := a; u <= b; u++ {
			out = append(out, uint32(u))
		}
	}
	return out, true
}

// respCode finds "[NAME args]" in a tagged reply and returns its arguments.
func respCode(reply, name string) []string {
	i := strings.Index(reply, "["+name+" ")
	if i < 0 {
		return nil
	}
	rest := reply[i+len(name)+2:]
	j := strings.IndexByte(rest, ']')
	if j < 0 {
		return nil
	}
	return strings.Fields(rest[:j])
}

// copyUID reads "[COPYUID <uidvalidity> <source uids> <destination uids>]"
// (RFC 4315), which Dovecot puts in COPY's tagged reply (MOVE sends it
// untagged, so it is not in the event).
func copyUID(reply string) (src, dst []uint32, ok bool) {
	f := respCode(reply, "COPYUID")
	if len(f) != 3 {
		return nil, nil, false
	}
	src, ok1 := parseUIDSet(f[1])
	dst, ok2 := parseUIDSet(f[2])
	if !ok1 || !ok2 || len(src) != len(dst) {
		return nil, nil, false
	}
	return src, dst, true
}

// appendUID reads "[APPENDUID <uidvalidity> <uids>]".
func appendUID(reply string) ([]uint32, bool) {
	f := respCode(reply, "APPENDUID")
	if len(f) != 2 {
		return nil, false
	}
	return parseUIDSet(f[1])
}

// storeArgs is what a STORE's arguments ask (RFC 3501 6.4.6, with RFC 7162's
// UNCHANGEDSINCE modifier): which messages, and how their flags change.
type storeArgs struct {
	// uids are the messages of a UID STORE; nil when not known (a STORE by
	// sequence numbers, or a set with '*').
	uids []uint32
	// count is how many messages the set names; 0 when not known.
	count int
	// op is '+' (add), '-' (remove) or 0 (replace).
	op byte
	// deleted tells whether \Deleted is among the flags; others are the
	// other flags and keywords, lower-cased.
	deleted bool
	others  []string
	// ok is false when the arguments could not be read.
	ok bool
}

// parseStore reads the arguments of a STORE or UID STORE ("4 +FLAGS
// (\Flagged)", "1:3 (UNCHANGEDSINCE 9) -FLAGS.SILENT \Seen").
func parseStore(uid bool, args string) storeArgs {
	toks := imapTokens(args)
	var st storeArgs
	if len(toks) < 2 {
		return st
	}
	if set, ok := parseUIDSet(toks[0]); ok {
		st.count = len(set)
		if uid {
			st.uids = set
		}
	}
	i := 1
	for ; i < len(toks); i++ {
		item := strings.TrimSuffix(strings.ToUpper(toks[i]), ".SILENT")
		if item == "FLAGS" || item == "+FLAGS" || item == "-FLAGS" {
			if item[0] != 'F' {
				st.op = item[0]
			}
			break
		}
	}
	if i == len(toks) {
		return st
	}
	// The flags are a parenthesised list, or flags one by one.
	var flags []string
	for _, tok := range toks[i+1:] {
		flags = append(flags, strings.Fields(strings.Trim(tok, "()"))...)
	}
	for _, f := range flags {
		if strings.EqualFold(f, `\Deleted`) {
			st.deleted = true
		} else {
			st.others = append(st.others, strings.ToLower(f))
		}
	}
	st.ok = true
	return st
}

// admits reports whether a mail_log line of the STORE's folder can be the
// STORE's: one of its messages, and a change its flags can make. mail_log
// logs a change of \Deleted as delete or undelete and any other change as
// flag_change with the flags the message ended with; flags and keywords can
// come in two lines, so the first may show only some of those added.
func (st storeArgs) admits(kind string, uid uint32, flags string) bool {
	if st.uids != nil && !containsUID(st.uids, uid) {
		return false
	}
	if !st.ok {
		return true
	}
	switch kind {
	case "delete":
		return st.op != '-' && st.deleted
	case "undelete":
		return (st.op == '-' && st.deleted) || (st.op == 0 && !st.deleted)
	case "flag_change":
		if st.op == 0 {
			return true
		}
		has := map[string]bool{}
		for _, f := range strings.Fields(strings.Trim(flags, "()")) {
			has[strings.ToLower(f)] = true
		}
		for _, f := range st.others {
			if has[f] == (st.op == '+') {
				return true
			}
		}
		return false
	}
	return false
}
