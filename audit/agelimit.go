package audit

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// maxAgeLimit bounds AuditLogAgeLimit at 68 years, the largest whole-second
// TimeSpan Exchange's EnhancedTimeSpan takes.
const maxAgeLimit = 24855 * 24 * time.Hour

var timeSpan = regexp.MustCompile(`^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})$`)

// ParseAgeLimit reads an age limit: Exchange's `dd.hh:mm:ss` (or `hh:mm:ss`),
// a bare number of days, or a Go duration such as `2160h`.
func ParseAgeLimit(s string) (time.Duration, error) {
	bad := func() (time.Duration, error) {
		return 0, Errorf(EInvalid, "Cannot convert '%s' to an age limit. Use dd.hh:mm:ss (180.00:00:00), a number of days (180) or a duration (2160h).", s)
	}
	var d time.Duration
	if m := timeSpan.FindStringSubmatch(s); m != nil {
		var days int64
		if m[1] != "" {
			var err error
			if days, err = strconv.ParseInt(m[1], 10, 64); err != nil {
				return bad()
			}
		}
		h, _ := strconv.Atoi(m[2])
		mi, _ := strconv.Atoi(m[3])
		sec, _ := strconv.Atoi(m[4])
		if h > 23 || mi > 59 || sec > 59 || days > int64(maxAgeLimit/(24*time.Hour)) {
			return bad()
		}
		d = time.Duration(days)*24*time.Hour + time.Duration(h)*time.Hour + time.Duration(mi)*time.Minute + time.Duration(sec)*time.Second
	} else if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		if n > uint64(maxAgeLimit/(24*time.Hour)) {
			return bad()
		}
		d = time.Duration(n) * 24 * time.Hour
	} else if g, err := time.ParseDuration(s); err == nil && g >= 0 {
		d = g
	} else {
		return bad()
	}
	if d > maxAgeLimit {
		return bad()
	}
	return d.Truncate(time.Second), nil
}

// FormatAgeLimit writes an age limit as Exchange prints it: `90.00:00:00`.
func FormatAgeLimit(d time.Duration) string {
	s := int64(d / time.Second)
	return fmt.Sprintf("%d.%02d:%02d:%02d", s/86400, s/3600%24, s/60%60, s%60)
}
