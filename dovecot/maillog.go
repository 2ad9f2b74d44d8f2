package dovecot

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// mailLogRec is one mail_log plugin line about one message, e.g.
//
//	copy from INBOX: box=Archive, uid=9, msgid=<…>, size=406, subject=Invoice 8, flags=()
//	expunge: box=INBOX, uid=8, msgid=<…>, size=406, subject=Invoice 8, flags=()
//
// In a copy line uid is the message's new UID in box (the destination); Src is
// the folder it came from. Every other line names the message where it is.
type mailLogRec struct {
	Pos     string    `json:"pos"`
	Time    time.Time `json:"time"`
	Coarse  bool      `json:"coarse,omitempty"`
	Kind    string    `json:"kind"` // copy expunge delete undelete flag_change save
	Src     string    `json:"src,omitempty"`
	Box     string    `json:"box"`
	UID     uint32    `json:"uid,omitempty"`
	MsgID   string    `json:"msgid,omitempty"`
	Subject string    `json:"subject,omitempty"`
	Size    int64     `json:"size,omitempty"`
	Flags   string    `json:"flags,omitempty"`
}

// mailLogKinds are the per-message mail_log events ("append" is the 1.x name
// of "save").
var mailLogKinds = map[string]string{
	"delete": "delete", "undelete": "undelete", "expunge": "expunge",
	"save": "save", "append": "save", "flag_change": "flag_change",
}

// isMailboxLogMsg reports mail_log's folder lines, which mailaudit does not
// audit (folder operations are not mailbox-audit operations).
func isMailboxLogMsg(msg string) bool {
	return strings.HasPrefix(msg, "Mailbox created: ") || strings.HasPrefix(msg, "Mailbox deleted: ") ||
		strings.HasPrefix(msg, "Mailbox renamed: ")
}

// parseMailLog reads a mail_log message. ok is false when msg is not a
// mail_log message at all; err is set when it is one but cannot be read.
func parseMailLog(msg string) (r mailLogRec, ok bool, err error) {
	var fields string
	if rest, found := strings.CutPrefix(msg, "copy from "); found {
		// "copy from <src>: box=<dest>, …"; the source name may hold ": ".
		i := strings.LastIndex(rest, ": box=")
		if i < 0 {
			return r, true, fmt.Errorf("mail_log copy line without \": box=\": %.80q", msg)
		}
		r.Kind, r.Src, fields = "copy", rest[:i], rest[i+2:]
	} else {
		name, rest, found := strings.Cut(msg, ": ")
		kind, known := mailLogKinds[name]
		if !found || !known {
			return r, false, nil
		}
		r.Kind, fields = kind, rest
	}
	kv := splitMailLogFields(fields)
	box, has := kv["box"]
	if !has {
		return r, true, fmt.Errorf("mail_log %s line without box= (mail_log_fields must include box and uid): %.80q", r.Kind, msg)
	}
	r.Box = box
	if v, has := kv["uid"]; has {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return r, true, fmt.Errorf("mail_log %s line with bad uid %q", r.Kind, v)
		}
		r.UID = uint32(n)
	}
	r.MsgID = kv["msgid"]
	r.Subject = kv["subject"]
	r.Flags = kv["flags"]
	if v, has := kv["size"]; has {
		r.Size, _ = strconv.ParseInt(v, 10, 64) // mail_log writes "size=" empty when the size is unknown
	}
	return r, true, nil
}

// mailLogKeys is the order in which mail_log writes its fields (fixed in the
// plugin whatever the order of mail_log_fields).
var mailLogKeys = []string{"box", "uid", "msgid", "size", "vsize", "from", "subject", "flags"}

// splitMailLogFields splits "box=X, uid=N, msgid=<…>, …, subject=S, flags=(…)".
// Values are not quoted, and box, msgid, from and subject come from users or
// from the outside world and can hold ", key=" themselves. The fields are
// always in mailLogKeys order, so a separator counts only when its key comes
// after the previous key; and flags, the last field and the only one that
// never holds a comma, is cut from the right, so a subject that says
// ", flags=(…)" cannot shorten the subject or fake the flags.
func splitMailLogFields(s string) map[string]string {
	kv := map[string]string{}
	if i := strings.LastIndex(s, "flags=("); i >= 0 && (i == 0 || strings.HasSuffix(s[:i], ", ")) && strings.HasSuffix(s, ")") &&
		!strings.Contains(s[i:], ", ") {
		kv["flags"] = s[i+len("flags="):]
		s = strings.TrimSuffix(s[:i], ", ")
		if i == 0 {
			s = ""
		}
	}
	order := func(k string) int {
		for i, m := range mailLogKeys {
			if m == k {
				return i
			}
		}
		return -1
	}
	cur, curOrder, start := "", -1, 0
	// Find the first key at the start.
	for _, k := range mailLogKeys[:len(mailLogKeys)-1] {
		if strings.HasPrefix(s, k+"=") {
			cur, curOrder, start = k, order(k), len(k)+1
			break
		}
	}
	if cur == "" {
		return kv
	}
	pos := start
	for {
		i := strings.Index(s[pos:], ", ")
		if i < 0 {
			kv[cur] = s[start:]
			return kv
		}
		at := pos + i
		next := s[at+2:]
		eq := strings.IndexByte(next, '=')
		// A Message-ID in angle brackets ends with its ">".
		closed := cur != "msgid" || !strings.HasPrefix(s[start:], "<") || s[at-1] == '>'
		if eq > 0 && closed {
			if o := order(next[:eq]); o > curOrder && o < len(mailLogKeys)-1 {
				kv[cur] = s[start:at]
				cur, curOrder = next[:eq], o
				start = at + 2 + eq + 1
				pos = start
				continue
			}
		}
		pos = at + 2
	}
}
