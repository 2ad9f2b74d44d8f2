package dovecot

import (
	"regexp"
	"strings"

	"github.com/mailaudit/mailaudit/audit"
)

// sharedNS recognises folder names under a shared namespace and reads the
// owner from them. The prefix is the namespace's prefix setting, with its
// variables escaped as in dovecot.conf ("shared/%%u/") or not ("shared/%u/"):
// %u (or %{user}) is the owner's full user name, %n the user part and %d the
// domain, so "shared/%%d/%%n/" names alice@example.org's Archive
// "shared/example.org/alice/Archive".
type sharedNS struct {
	re    *regexp.Regexp
	parts []byte // the variable of each capture group: 'u', 'n' or 'd'
}

var nsVar = regexp.MustCompile(`%%?(?:\{(user|username|domain)\}|([und]))`)

func newSharedNS(prefix string) *sharedNS {
	if prefix == "" {
		prefix = DefaultSharedPrefix
	}
	locs := nsVar.FindAllStringSubmatchIndex(prefix, -1)
	if len(locs) == 0 {
		return nil // no owner in the name: a public namespace, not shared
	}
	ns := &sharedNS{}
	var re strings.Builder
	re.WriteString("^")
	last := 0
	for _, l := range locs {
		re.WriteString(regexp.QuoteMeta(prefix[last:l[0]]))
		v := byte('u')
		switch {
		case l[2] >= 0:
			v = map[string]byte{"user": 'u', "username": 'n', "domain": 'd'}[prefix[l[2]:l[3]]]
		default:
			v = prefix[l[4]]
		}
		// An owner part runs up to the character that follows it in the
		// prefix (the hierarchy separator, usually).
		stop := "/"
		if l[1] < len(prefix) {
			stop = prefix[l[1] : l[1]+1]
		}
		re.WriteString("([^" + regexp.QuoteMeta(stop) + "]+)")
		ns.parts = append(ns.parts, v)
		last = l[1]
	}
	tail := prefix[last:]
	// The namespace's own INBOX is listed without the trailing separator
	// ("shared/alice"), so the separator at the end is optional.
	if tail != "" {
		sep := tail[len(tail)-1:]
		re.WriteString(regexp.QuoteMeta(strings.TrimSuffix(tail, sep)))
		re.WriteString("(?:" + regexp.QuoteMeta(sep) + "(.*))?$")
	} else {
		re.WriteString("(.*)$")
	}
	var err error
	if ns.re, err = regexp.Compile(re.String()); err != nil {
		return nil
	}
	return ns
}

// split returns the owner and the owner's own name of a folder under the
// shared namespace; ok is false for any other folder.
func (ns *sharedNS) split(name string) (owner, rel string, ok bool) {
	if ns == nil {
		return "", "", false
	}
	m := ns.re.FindStringSubmatch(name)
	if m == nil {
		return "", "", false
	}
	var u, n, d string
	for i, v := range ns.parts {
		switch v {
		case 'u':
			u = m[i+1]
		case 'n':
			n = m[i+1]
		case 'd':
			d = m[i+1]
		}
	}
	switch {
	case u != "":
		owner = u
	case n != "" && d != "":
		owner = n + "@" + d
	default:
		owner = n + d
	}
	rel = m[len(m)-1]
	if rel == "" {
		rel = "INBOX"
	}
	return owner, rel, true
}

// folderPath is the Exchange-like path of a folder named as its owner sees
// it: "/" + the name, INBOX (any case, and as the top of a hierarchy) shown
// as "/Inbox".
func folderPath(rel string) string {
	if len(rel) >= 5 && strings.EqualFold(rel[:5], "INBOX") && (len(rel) == 5 || rel[5] == '/' || rel[5] == '.') {
		return "/Inbox" + rel[5:]
	}
	return "/" + rel
}

// place is a folder with its mailbox.
type place struct {
	Owner string
	Rel   string // the folder's name in its owner's mailbox ("INBOX", "Archive")
}

func (p place) folder() *audit.Folder {
	return &audit.Folder{Id: p.Rel, Path: folderPath(p.Rel)}
}

// itemID is "<folder>:<uid>". Dovecot logs no UIDVALIDITY with a message
// (only COPYUID and APPENDUID replies carry one, for the destination), so
// the same message gets the same Id in every activity only without it.
func (p place) itemID(uid uint32) string {
	if uid == 0 {
		return ""
	}
	return p.Rel + ":" + uitoa(uid)
}

// locate tells whose folder a Dovecot folder name is, for a session of user.
func (t *Translator) locate(user, name string) place {
	if owner, rel, ok := t.shared.split(name); ok {
		return place{Owner: owner, Rel: rel}
	}
	return place{Owner: user, Rel: name}
}

// isTrash reports whether a folder is a Deleted Items folder: one of
// Options.TrashFolders, also under an "INBOX/" or "INBOX." prefix. Special-use
// \Trash cannot be told: Dovecot logs neither the namespace's special_use
// settings nor the USE options of CREATE (its cmd_args holds the name only).
func (t *Translator) isTrash(p place) bool {
	name := strings.ToLower(p.Rel)
	if t.trash[name] {
		return true
	}
	for _, pre := range []string{"inbox/", "inbox."} {
		if rest, ok := strings.CutPrefix(name, pre); ok && t.trash[rest] {
			return true
		}
	}
	return false
}
