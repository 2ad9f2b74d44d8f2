package audit

import (
	"testing"
	"time"
)

func TestParseAgeLimit(t *testing.T) {
	day := 24 * time.Hour
	good := []struct {
		in   string
		want time.Duration
		out  string
	}{
		{"180.00:00:00", 180 * day, "180.00:00:00"},
		{"180", 180 * day, "180.00:00:00"},
		{"2160h", 90 * day, "90.00:00:00"},
		{"00:00:00", 0, "0.00:00:00"},
		{"0", 0, "0.00:00:00"},
		{"0h", 0, "0.00:00:00"},
		{"1.02:03:04", day + 2*time.Hour + 3*time.Minute + 4*time.Second, "1.02:03:04"},
		{"90.00:00:00", 90 * day, "90.00:00:00"},
		{"12:30:00", 12*time.Hour + 30*time.Minute, "0.12:30:00"},
		{"365", 365 * day, "365.00:00:00"},
		{"1h30m", 90 * time.Minute, "0.01:30:00"},
		{"1.5s", time.Second, "0.00:00:01"},
		{"24855", 24855 * day, "24855.00:00:00"},
	}
	for _, c := range good {
		got, err := ParseAgeLimit(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseAgeLimit(%q) = %v, %v, want %v", c.in, got, err, c.want)
			continue
		}
		if f := FormatAgeLimit(got); f != c.out {
			t.Errorf("FormatAgeLimit(%v) = %q, want %q", got, f, c.out)
		}
		// What FormatAgeLimit prints reads back to the same limit.
		if back, err := ParseAgeLimit(FormatAgeLimit(got)); err != nil || back != got {
			t.Errorf("round trip of %q: %v, %v", c.in, back, err)
		}
	}
	bad := []string{
		"-1", "abc", "1.25:00:00", "1.00:60:00", "1.00:00:60", "24856", "99999999999999999999",
		"99999999999999999999.00:00:00", "24855.00:00:01", "1000000h", "-1h", "-1.00:00:00",
		"", "1.5", "90d", "1:2:3", "1.2.03:00:00", " 180",
	}
	for _, in := range bad {
		_, err := ParseAgeLimit(in)
		want := "Cannot convert '" + in + "' to an age limit. Use dd.hh:mm:ss (180.00:00:00), a number of days (180) or a duration (2160h)."
		if err == nil || err.Error() != want || ErrorCode(err) != EInvalid {
			t.Errorf("ParseAgeLimit(%q) = %v, want %q", in, err, want)
		}
	}
	if got := FormatAgeLimit(DefaultAgeLimit); got != "90.00:00:00" {
		t.Errorf("FormatAgeLimit(DefaultAgeLimit) = %q", got)
	}
}
