package export

import (
	"strings"
	"unicode/utf8"
)

// clean makes a value safe to show on one line of a terminal: it comes from
// a mail client or a message, and a line break, an escape sequence or a
// bidirectional override in it could forge rows or disguise what a row says.
func clean(s string) string {
	i := 0
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if _, bad := viewRune(r, n); bad {
			break
		}
		i += n
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteString(s[:i])
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		r, _ = viewRune(r, n)
		b.WriteRune(r)
		i += n
	}
	return b.String()
}

// viewRune returns what the views print for r and whether that differs
// from r.
func viewRune(r rune, size int) (rune, bool) {
	switch {
	case r == utf8.RuneError && size == 1: // invalid UTF-8
		return utf8.RuneError, true
	case r == '\t' || r == '\n' || r == '\r' || r == '\u2028' || r == '\u2029':
		return ' ', true
	case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
		return utf8.RuneError, true
	case (r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069'):
		return utf8.RuneError, true
	}
	return r, false
}
