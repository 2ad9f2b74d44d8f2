package audit

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

const validLine = `{"SourceEventId":"dovecot-1","Source":"dovecot","CreationTime":"2026-11-22T10:00:00Z",` +
	`"Operation":"MoveToDeletedItems","UserId":"alice@example.org","MailboxOwnerUPN":"alice@example.org",` +
	`"ClientIPAddress":"192.0.2.7","ClientInfoString":"Client=IMAP4;name=neomutt;version=20220429","SessionId":"s1",` +
	`"Folder":{"Id":"f1","Path":"/Inbox"},"DestFolder":{"Path":"/Trash"},` +
	`"Items":[{"Id":"INBOX:1795316229:17","InternetMessageId":"<m1@example.org>","Subject":"Hello","SizeInBytes":462,"ParentFolder":{"Path":"/Inbox"}}],` +
	`"OperationProperties":[{"Name":"MailAccessType","Value":"Bind"}]}`

// line builds an activity line from the valid one with fields replaced
// (a nil value removes the field).
func activityLine(t *testing.T, changes map[string]any) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(validLine), &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range changes {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseActivityValid(t *testing.T) {
	a, err := ParseActivity([]byte(validLine))
	if err != nil {
		t.Fatal(err)
	}
	if a.SourceEventId != "dovecot-1" || a.Source != "dovecot" || a.Operation != MoveToDeletedItems ||
		a.UserId != "alice@example.org" || a.MailboxOwnerUPN != "alice@example.org" || a.SessionId != "s1" ||
		a.ClientIPAddress != "192.0.2.7" || a.Folder.Path != "/Inbox" || a.DestFolder.Path != "/Trash" ||
		len(a.Items) != 1 || a.Items[0].SizeInBytes != 462 || a.Items[0].ParentFolder.Path != "/Inbox" {
		t.Errorf("parsed %+v", a)
	}
	if !a.CreationTime.Equal(t0) || a.CreationTime.Location() != time.UTC {
		t.Errorf("CreationTime = %v", a.CreationTime)
	}
	if a.ResultStatus != Succeeded {
		t.Errorf("ResultStatus defaults to %q", a.ResultStatus)
	}
	if a.Property("mailaccesstype") != "Bind" || a.Property("Missing") != "" {
		t.Errorf("Property lookups wrong")
	}
	// The case-insensitive names and the other statuses.
	for _, c := range []struct {
		changes map[string]any
		check   func(*Activity) bool
	}{
		{map[string]any{"Operation": "addfolderpermissions"}, func(a *Activity) bool { return a.Operation == UpdateFolderPermissions }},
		{map[string]any{"Operation": "MAILITEMSACCESSED"}, func(a *Activity) bool { return a.Operation == MailItemsAccessed }},
		{map[string]any{"ResultStatus": "Failed"}, func(a *Activity) bool { return a.ResultStatus == Failed }},
		{map[string]any{"ResultStatus": "PartiallySucceeded"}, func(a *Activity) bool { return a.ResultStatus == PartiallySucceeded }},
		{map[string]any{"LogonTypeHint": "Admin"}, func(a *Activity) bool { return a.LogonTypeHint == "Admin" }},
		{map[string]any{"LogonTypeHint": "admin"}, func(a *Activity) bool { return a.LogonTypeHint == "admin" }},
		{map[string]any{"ExternalAccess": true}, func(a *Activity) bool { return a.ExternalAccess }},
		{map[string]any{"OperationProperties": []map[string]string{{"Name": "MailAccessType", "Value": "sync"}}}, func(a *Activity) bool { return a.Property("MailAccessType") == "sync" }},
		{map[string]any{"CreationTime": "2026-11-22T10:00:00"}, func(a *Activity) bool { return a.CreationTime.Equal(t0) && a.CreationTime.Location() == time.UTC }},
		{map[string]any{"CreationTime": "2026-11-22T10:00:00.5"}, func(a *Activity) bool { return a.CreationTime.Equal(t0.Add(500 * time.Millisecond)) }},
		{map[string]any{"CreationTime": "2026-11-22 10:00:00"}, func(a *Activity) bool { return a.CreationTime.Equal(t0) }},
		{map[string]any{"CreationTime": "2026-11-22T12:00:00+02:00"}, func(a *Activity) bool { return a.CreationTime.Equal(t0) && a.CreationTime.Location() == time.UTC }},
		{map[string]any{"CreationTime": "2026-11-22T10:00:00.123456789Z"}, func(a *Activity) bool { return a.CreationTime.Nanosecond() == 123456789 }},
	} {
		a, err := ParseActivity(activityLine(t, c.changes))
		if err != nil || !c.check(a) {
			t.Errorf("%v: %+v, %v", c.changes, a, err)
		}
	}
}

func TestParseActivityErrors(t *testing.T) {
	cases := []struct {
		name string
		line []byte
		// every substring must appear in the error message
		want []string
	}{
		{"malformed JSON", []byte(`{"SourceEventId": "x",,}`), []string{"malformed JSON"}},
		{"not an object", []byte(`nonsense`), []string{"JSON"}},
		{"an array", []byte(`[1]`), []string{"JSON"}},
		{"truncated", []byte(`{"SourceEventId": "x"`), []string{"malformed JSON"}},
		{"empty line", []byte(``), []string{"JSON"}},
		{"two values", []byte(validLine + validLine), []string{"more than one JSON value"}},
		{"unknown field", activityLine(t, map[string]any{"Colour": "red"}), []string{"unknown field", "Colour"}},
		{"unknown nested field", activityLine(t, map[string]any{"Folder": map[string]any{"Path": "/x", "Size": 1}}), []string{"unknown field", "Size"}},
		{"UserId a number", activityLine(t, map[string]any{"UserId": 5}), []string{"UserId", "must be a string"}},
		{"ExternalAccess a string", activityLine(t, map[string]any{"ExternalAccess": "yes"}), []string{"ExternalAccess", "true or false"}},
		{"Items an object", activityLine(t, map[string]any{"Items": map[string]any{"Id": "x"}}), []string{"Items", "must be an array"}},
		{"Folder a string", activityLine(t, map[string]any{"Folder": "/Inbox"}), []string{"Folder", "must be an object"}},
		{"SizeInBytes a string", activityLine(t, map[string]any{"Items": []any{map[string]any{"Id": "x", "SizeInBytes": "big"}}}), []string{"SizeInBytes", "must be a number"}},
		{"property value a number", activityLine(t, map[string]any{"OperationProperties": []any{map[string]any{"Name": "RuleName", "Value": 1}}}), []string{"Value", "must be a string"}},
		{"Operation a number", activityLine(t, map[string]any{"Operation": 3}), []string{"Operation", "must be a string"}},
		{"CreationTime a number", activityLine(t, map[string]any{"CreationTime": 1764000000}), []string{"CreationTime", "must be a string"}},
		{"unknown operation", activityLine(t, map[string]any{"Operation": "ReadMessage"}), []string{"unknown operation", `"ReadMessage"`}},
		{"None is no operation", activityLine(t, map[string]any{"Operation": "None"}), []string{"unknown operation", `"None"`}},
		{"bad time", activityLine(t, map[string]any{"CreationTime": "yesterday"}), []string{"CreationTime", `"yesterday"`, "not a valid time"}},
		{"bad time zone", activityLine(t, map[string]any{"CreationTime": "2026-11-22T10:00:00 CET"}), []string{"CreationTime", "not a valid time"}},
		{"bad month", activityLine(t, map[string]any{"CreationTime": "2026-13-22T10:00:00Z"}), []string{"CreationTime", "not a valid time"}},
		{"missing SourceEventId", activityLine(t, map[string]any{"SourceEventId": nil}), []string{"missing required field SourceEventId"}},
		{"missing Source", activityLine(t, map[string]any{"Source": nil}), []string{"missing required field Source"}},
		{"missing CreationTime", activityLine(t, map[string]any{"CreationTime": nil}), []string{"missing required field CreationTime"}},
		{"missing Operation", activityLine(t, map[string]any{"Operation": nil}), []string{"missing required field Operation"}},
		{"missing UserId", activityLine(t, map[string]any{"UserId": nil}), []string{"missing required field UserId"}},
		{"blank UserId", activityLine(t, map[string]any{"UserId": "  "}), []string{"missing required field UserId"}},
		{"missing MailboxOwnerUPN", activityLine(t, map[string]any{"MailboxOwnerUPN": nil}), []string{"missing required field MailboxOwnerUPN"}},
		{"several missing", activityLine(t, map[string]any{"Source": nil, "UserId": nil}), []string{"missing required field", "Source", "UserId"}},
		{"empty object", []byte(`{}`), []string{"missing required field", "SourceEventId", "Source", "CreationTime", "Operation", "UserId", "MailboxOwnerUPN"}},
		{"null Operation", activityLine(t, map[string]any{"Operation": json.RawMessage("null")}), []string{"missing required field Operation"}},
		{"null CreationTime", activityLine(t, map[string]any{"CreationTime": json.RawMessage("null")}), []string{"missing required field CreationTime"}},
		{"bad ResultStatus", activityLine(t, map[string]any{"ResultStatus": "True"}), []string{"ResultStatus", "Succeeded, PartiallySucceeded or Failed", `"True"`}},
		{"ResultStatus case", activityLine(t, map[string]any{"ResultStatus": "succeeded"}), []string{"ResultStatus"}},
		{"bad LogonTypeHint", activityLine(t, map[string]any{"LogonTypeHint": "Owner"}), []string{"LogonTypeHint", "only be Admin", `"Owner"`}},
		{"Delegate LogonTypeHint", activityLine(t, map[string]any{"LogonTypeHint": "Delegate"}), []string{"LogonTypeHint", `"Delegate"`}},
		{"bad MailAccessType", activityLine(t, map[string]any{"OperationProperties": []any{map[string]any{"Name": "MailAccessType", "Value": "Peek"}}}), []string{"MailAccessType", "Bind or Sync", `"Peek"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, err := ParseActivity(c.line)
			if err == nil {
				t.Fatalf("accepted: %+v", a)
			}
			if a != nil {
				t.Errorf("returned an activity with the error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.HasPrefix(err.Error(), "json:") {
				t.Errorf("error %q leaks the json package's prefix", err)
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	for _, in := range []string{"2026-11-22T10:00:00Z", "2026-11-22T10:00:00", "2026-11-22 10:00:00", "2026-11-22T11:00:00+01:00", "2026-11-22T10:00:00.000Z"} {
		got, err := ParseTime(in)
		if err != nil || !got.Equal(t0) || got.Location() != time.UTC {
			t.Errorf("ParseTime(%q) = %v, %v", in, got, err)
		}
	}
	if got, err := ParseTime("2026-11-22"); err != nil || !got.Equal(time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("ParseTime(date) = %v, %v", got, err)
	}
	b, _ := json.Marshal(Time{time.Date(2026, 11, 22, 11, 0, 0, 0, time.FixedZone("CET", 3600))})
	if string(b) != `"2026-11-22T10:00:00Z"` {
		t.Errorf("Time marshals as %s", b)
	}
}
