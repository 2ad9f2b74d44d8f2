package service

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/mailaudit/mailaudit/audit"
)

var relative = regexp.MustCompile(`^-(\d+)([dhm])$`)

// ParseWhen reads a time of cli.md: RFC 3339, a date (midnight UTC), or a
// relative age such as -7d or -36h.
func ParseWhen(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "now") {
		return now, nil
	}
	if m := relative.FindStringSubmatch(s); m != nil {
		n, _ := strconv.Atoi(m[1])
		unit := map[string]time.Duration{"d": 24 * time.Hour, "h": time.Hour, "m": time.Minute}[m[2]]
		return now.Add(-time.Duration(n) * unit), nil
	}
	t, err := audit.ParseTime(s)
	if err != nil {
		return time.Time{}, audit.Errorf(audit.EInvalid, "'%s' is not a date: use RFC 3339 (2026-11-22T10:00:00Z), a date (2026-11-22) or an age (-7d, -36h).", s)
	}
	return t, nil
}

// Window reads a search's start and end; the default is the last 7 days.
func Window(start, end string, now time.Time) (time.Time, time.Time, error) {
	s, e := now.Add(-7*24*time.Hour), time.Time{}
	var err error
	if start != "" {
		if s, err = ParseWhen(start, now); err != nil {
			return s, e, err
		}
	}
	if end != "" {
		if e, err = ParseWhen(end, now); err != nil {
			return s, e, err
		}
	}
	return s, e, nil
}
