package dovecot

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// exportedEvent is one event as event_exporter writes it with format=json:
//
//	{"event":"imap_command_finished","hostname":"mx1","start_time":"2026-11-22T02:57:34.731822Z",
//	 "end_time":"2026-11-22T02:57:34.735159Z","categories":[…],"fields":{"user":"alice",…}}
//
// exporter_include decides which of event (name), hostname, start_time and
// end_time (timestamps), categories and fields are present. Times are RFC 3339
// strings (format_args=time-rfc3339) or Unix seconds (time-unix).
type exportedEvent struct {
	Name     string
	Hostname string
	Start    time.Time
	End      time.Time
	Fields   map[string]json.RawMessage
}

func decodeEvent(msg string) (*exportedEvent, error) {
	var raw struct {
		Event    *string                    `json:"event"`
		Hostname string                     `json:"hostname"`
		Start    json.RawMessage            `json:"start_time"`
		End      json.RawMessage            `json:"end_time"`
		Fields   map[string]json.RawMessage `json:"fields"`
	}
	dec := json.NewDecoder(strings.NewReader(msg))
	if err := dec.Decode(&raw); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("dovecot event: malformed JSON at byte %d: %v", se.Offset, se)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, errors.New("dovecot event: malformed JSON: the line ends before the object does (cut off?)")
		}
		return nil, fmt.Errorf("dovecot event: %v", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return nil, errors.New("dovecot event: malformed JSON: more than one value on the line")
	}
	if raw.Event == nil || *raw.Event == "" {
		return nil, errors.New("dovecot event without a name: the exporter's exporter_include must contain name")
	}
	e := &exportedEvent{Name: *raw.Event, Hostname: raw.Hostname, Fields: raw.Fields}
	var err error
	if e.Start, err = eventTime(raw.Start); err != nil {
		return nil, fmt.Errorf("dovecot event %s: start_time: %v", e.Name, err)
	}
	if e.End, err = eventTime(raw.End); err != nil {
		return nil, fmt.Errorf("dovecot event %s: end_time: %v", e.Name, err)
	}
	return e, nil
}

func eventTime(b json.RawMessage) (time.Time, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return time.Time{}, nil
	}
	if b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return time.Time{}, err
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time", s)
		}
		return t.UTC(), nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || f < 0 || f > math.MaxInt32*4 {
		return time.Time{}, fmt.Errorf("%s is not a time", b)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(math.Round(frac*1e6))*1000).UTC(), nil
}

// str returns a field as text: a string as it is, a number as written.
func (e *exportedEvent) str(k string) string {
	b, ok := e.Fields[k]
	if !ok || len(b) == 0 {
		return ""
	}
	if b[0] == '"' {
		var s string
		if json.Unmarshal(b, &s) == nil {
			return s
		}
		return ""
	}
	if b[0] == '[' || b[0] == '{' || string(b) == "null" {
		return ""
	}
	return string(b)
}

// strs returns a string-list field (reason_code), or a string as a list of one.
func (e *exportedEvent) strs(k string) []string {
	b, ok := e.Fields[k]
	if !ok || len(b) == 0 {
		return nil
	}
	if b[0] == '[' {
		var l []string
		if json.Unmarshal(b, &l) == nil {
			return l
		}
		return nil
	}
	if s := e.str(k); s != "" {
		return []string{s}
	}
	return nil
}

func (e *exportedEvent) uid(k string) (uint32, bool) {
	n, err := strconv.ParseUint(e.str(k), 10, 32)
	return uint32(n), err == nil && n > 0
}

// need returns an error naming the first missing field, for events whose
// shape the translator depends on.
func (e *exportedEvent) need(keys ...string) error {
	if e.Fields == nil {
		return fmt.Errorf("dovecot event %s has no fields: the exporter's exporter_include must contain fields", e.Name)
	}
	for _, k := range keys {
		if e.str(k) == "" {
			return fmt.Errorf("dovecot event %s without %s", e.Name, k)
		}
	}
	return nil
}

// when is the event's time: when it ended, else when it started, else the
// log line's.
func (e *exportedEvent) when(line time.Time) time.Time {
	switch {
	case !e.End.IsZero():
		return e.End
	case !e.Start.IsZero():
		return e.Start
	}
	return line
}
