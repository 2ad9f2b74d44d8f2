package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Folder is a folder acted in, by store id and path.
type Folder struct {
	Id   string `json:"Id,omitempty"`
	Path string `json:"Path,omitempty"`
}

// Item is a message or other item acted on.
type Item struct {
	Id                string  `json:"Id,omitempty"`
	InternetMessageId string  `json:"InternetMessageId,omitempty"`
	Subject           string  `json:"Subject,omitempty"`
	SizeInBytes       int64   `json:"SizeInBytes,omitempty"`
	ParentFolder      *Folder `json:"ParentFolder,omitempty"`
}

// NameValue is one of OperationProperties or Parameters.
type NameValue struct {
	Name  string `json:"Name"`
	Value string `json:"Value"`
}

// Activity is what a source saw an account do to a mailbox (records.md). The
// engine decides everything a client could lie about: the logon type, whether
// the mailbox is audited, the record's Id and RecordType.
type Activity struct {
	SourceEventId          string      `json:"SourceEventId"`
	Source                 string      `json:"Source"`
	CreationTime           Time        `json:"CreationTime"`
	Operation              Operation   `json:"Operation"`
	UserId                 string      `json:"UserId"`
	MailboxOwnerUPN        string      `json:"MailboxOwnerUPN"`
	ResultStatus           string      `json:"ResultStatus,omitempty"`
	LogonTypeHint          string      `json:"LogonTypeHint,omitempty"`
	ExternalAccess         bool        `json:"ExternalAccess,omitempty"`
	ClientIPAddress        string      `json:"ClientIPAddress,omitempty"`
	ClientInfoString       string      `json:"ClientInfoString,omitempty"`
	ClientProcessName      string      `json:"ClientProcessName,omitempty"`
	ClientVersion          string      `json:"ClientVersion,omitempty"`
	ClientMachineName      string      `json:"ClientMachineName,omitempty"`
	SessionId              string      `json:"SessionId,omitempty"`
	OriginatingServer      string      `json:"OriginatingServer,omitempty"`
	Folder                 *Folder     `json:"Folder,omitempty"`
	DestFolder             *Folder     `json:"DestFolder,omitempty"`
	DestMailboxOwnerUPN    string      `json:"DestMailboxOwnerUPN,omitempty"`
	Items                  []Item      `json:"Items,omitempty"`
	SendAsUserSmtp         string      `json:"SendAsUserSmtp,omitempty"`
	SendOnBehalfOfUserSmtp string      `json:"SendOnBehalfOfUserSmtp,omitempty"`
	OperationProperties    []NameValue `json:"OperationProperties,omitempty"`
}

// Result statuses of mailbox records.
const (
	Succeeded          = "Succeeded"
	PartiallySucceeded = "PartiallySucceeded"
	Failed             = "Failed"
)

// Property returns the value of an OperationProperties entry.
func (a *Activity) Property(name string) string {
	for _, p := range a.OperationProperties {
		if strings.EqualFold(p.Name, name) {
			return p.Value
		}
	}
	return ""
}

// ParseActivity decodes one JSON activity and checks it. The error names the
// field at fault, fit to print after a line number.
func ParseActivity(line []byte) (*Activity, error) {
	if len(line) == 0 || line[0] != '{' {
		return nil, errors.New("not a JSON object: an activity is one object per line")
	}
	a := &Activity{}
	if !decodeActivity(line, a) {
		*a = Activity{}
		if err := decodeReference(line, a); err != nil {
			return nil, err
		}
	}
	if err := a.Validate(); err != nil {
		return nil, err
	}
	return a, nil
}

// decodeReference decodes a line with encoding/json, whose results and
// messages the fast path (decodeActivity) follows.
func decodeReference(line []byte, a *Activity) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(a); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return errors.New("more than one JSON value on the line")
	}
	return nil
}

func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		return fmt.Errorf("%s must be %s, not %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
	case errors.As(err, &se):
		return fmt.Errorf("malformed JSON at byte %d: %v", se.Offset, se)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return fmt.Errorf("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	case errors.Is(err, errors.New("EOF")) || err.Error() == "EOF" || err.Error() == "unexpected EOF":
		return errors.New("malformed JSON: the line ends before the object does")
	}
	return errors.New(strings.TrimPrefix(err.Error(), "json: "))
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice":
		return "an array"
	case "struct", "ptr", "map":
		return "an object"
	}
	return "a number"
}

// Validate checks required fields and enumerations.
func (a *Activity) Validate() error {
	var missing []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"SourceEventId", a.SourceEventId != ""},
		{"Source", a.Source != ""},
		{"CreationTime", !a.CreationTime.IsZero()},
		{"Operation", a.Operation != OpNone},
		{"UserId", strings.TrimSpace(a.UserId) != ""},
		{"MailboxOwnerUPN", strings.TrimSpace(a.MailboxOwnerUPN) != ""},
	} {
		if !f.set {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing required field %s", strings.Join(missing, ", "))
	}
	switch a.ResultStatus {
	case "":
		a.ResultStatus = Succeeded
	case Succeeded, PartiallySucceeded, Failed:
	default:
		return fmt.Errorf("ResultStatus must be Succeeded, PartiallySucceeded or Failed, not %q", a.ResultStatus)
	}
	if a.LogonTypeHint != "" && !strings.EqualFold(a.LogonTypeHint, "Admin") {
		return fmt.Errorf("LogonTypeHint can only be Admin, not %q", a.LogonTypeHint)
	}
	if at := a.Property("MailAccessType"); at != "" && !strings.EqualFold(at, "Bind") && !strings.EqualFold(at, "Sync") {
		return fmt.Errorf("MailAccessType must be Bind or Sync, not %q", at)
	}
	return nil
}

// Time is a point in time read from RFC 3339, where a zone-less time is UTC.
type Time struct{ time.Time }

var zoneless = []string{"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05", "2006-01-02"}

// ParseTime reads RFC 3339 or a zone-less time (UTC).
func ParseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	for _, layout := range zoneless {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a valid time (use RFC 3339, e.g. 2026-11-22T10:00:00Z)", s)
}

// UnmarshalJSON reads a time string.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil // as encoding/json does: null leaves the field unset
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("CreationTime must be a string")
	}
	v, err := ParseTime(s)
	if err != nil {
		return fmt.Errorf("CreationTime %v", err)
	}
	t.Time = v
	return nil
}

// MarshalJSON writes RFC 3339 in UTC.
func (t Time) MarshalJSON() ([]byte, error) {
	return json.Marshal(t.UTC().Format(time.RFC3339Nano))
}
