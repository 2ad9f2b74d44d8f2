package sqlite

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mailaudit/mailaudit/audit"
)

// memStrings is the str table in memory.
type memStrings struct {
	ids  map[string]int64
	strs []string
}

func (m *memStrings) id(s string) int64 {
	if s == "" {
		return 0
	}
	if id, ok := m.ids[s]; ok {
		return id
	}
	m.strs = append(m.strs, s)
	m.ids[s] = int64(len(m.strs))
	return int64(len(m.strs))
}

func (m *memStrings) str(id int64) (string, error) {
	if id < 1 || int(id) > len(m.strs) {
		return "", fmt.Errorf("no string %d", id)
	}
	return m.strs[id-1], nil
}

// TestCodecRoundTrip encodes records whose fields take the shortcuts of the
// codec (or just miss them) and decodes them back.
func TestCodecRoundTrip(t *testing.T) {
	g := uuid.MustParse("9f0c3c1e-3b7a-4a52-8d1e-0a6c2b7d5e11")
	base := audit.Record{RecordType: audit.ExchangeItem, CreationTime: time.UnixMilli(1795316229123).UTC(), Operation: "Update",
		ResultStatus: audit.Succeeded, UserId: "alice@example.org", UserKey: g.String(), MailboxGuid: g,
		MailboxOwnerUPN: "alice@example.org", LogonUserDisplayName: "Alice", SessionId: "kh5ZQPJvlFjlKL/T",
		Source: "dovecot", SourceEventId: "1234:5678"}
	variants := map[string]func(r *audit.Record){
		"as is":                    func(r *audit.Record) {},
		"empty result":             func(r *audit.Record) { r.ResultStatus = "" },
		"failed":                   func(r *audit.Record) { r.ResultStatus = audit.Failed },
		"delegate":                 func(r *audit.Record) { r.UserId, r.UserKey = "bob@example.org", "bob-key" },
		"owner differs in case":    func(r *audit.Record) { r.MailboxOwnerUPN = "Alice@example.org" },
		"no owner":                 func(r *audit.Record) { r.MailboxOwnerUPN = "" },
		"UserKey upper case":       func(r *audit.Record) { r.UserKey = "9F0C3C1E-3B7A-4A52-8D1E-0A6C2B7D5E11" },
		"no mailbox, guid-ish key": func(r *audit.Record) { r.MailboxGuid, r.UserKey = uuid.Nil, uuid.Nil.String() },
		"session not base64":       func(r *audit.Record) { r.SessionId = "web-41" },
		"session short":            func(r *audit.Record) { r.SessionId = "abc" },
		"session padded":           func(r *audit.Record) { r.SessionId = "abc=" },
		"session with loose bits":  func(r *audit.Record) { r.SessionId = "abcdefghijklmnoq" + "R" + "x" },
		"session url alphabet":     func(r *audit.Record) { r.SessionId = "kh5ZQPJvlFjlKL_T" },
		"session empty":            func(r *audit.Record) { r.SessionId = "" },
		"event id zero":            func(r *audit.Record) { r.SourceEventId = "1234:0" },
		"event id leading zero":    func(r *audit.Record) { r.SourceEventId = "1234:05678" },
		"event id no prefix":       func(r *audit.Record) { r.SourceEventId = ":5678" },
		"event id two colons":      func(r *audit.Record) { r.SourceEventId = "a:b:18446744073709551615" },
		"event id too large":       func(r *audit.Record) { r.SourceEventId = "a:18446744073709551616" },
		"event id suffix":          func(r *audit.Record) { r.SourceEventId = "1234:5678#2" },
		"properties short": func(r *audit.Record) {
			r.OperationProperties = []audit.NameValue{{Name: "MailAccessType", Value: "Bind"}, {Name: "IsThrottled", Value: "False"}}
		},
		"properties empty values": func(r *audit.Record) {
			r.OperationProperties = []audit.NameValue{{Name: "", Value: ""}, {Name: "A", Value: ""}}
		},
		"properties long value": func(r *audit.Record) {
			r.OperationProperties = []audit.NameValue{{Name: "A", Value: "b"}, {Name: "SearchQuery", Value: "from:bob invoice 2026"}}
		},
		"properties NUL": func(r *audit.Record) {
			r.OperationProperties = []audit.NameValue{{Name: "A\x00", Value: "b"}, {Name: "C", Value: "d\x00"}}
		},
		"one item":       func(r *audit.Record) { r.Item = &audit.Item{Id: "INBOX:1795316229:17", Subject: "Hi"} },
		"affected items": func(r *audit.Record) { r.AffectedItems = []audit.Item{{Id: "a"}, {InternetMessageId: "<x@y>"}} },
		"admin, no display name": func(r *audit.Record) {
			r.RecordType, r.LogonUserDisplayName, r.ResultStatus = audit.ExchangeAdmin, "", "True"
		},
		"display name is the UserId": func(r *audit.Record) { r.LogonUserDisplayName = r.UserId },
		"object the item":            func(r *audit.Record) { r.Item, r.ObjectId = &audit.Item{Id: "i1"}, "i1" },
		"object the folder":          func(r *audit.Record) { r.Folder, r.ObjectId = &audit.Folder{Path: "/Inbox"}, "/Inbox" },
		"object the owner":           func(r *audit.Record) { r.ObjectId = r.MailboxOwnerUPN },
		"object empty":               func(r *audit.Record) { r.Folder, r.ObjectId = &audit.Folder{Path: "/Inbox"}, "" },
		"object the item, not folder": func(r *audit.Record) {
			r.Folder, r.AffectedItems, r.ObjectId = &audit.Folder{Path: "/Inbox"}, []audit.Item{{Id: "a"}, {Id: "b"}}, "a"
		},
		"object other":      func(r *audit.Record) { r.ObjectId = "something else" },
		"aggregated, one":   func(r *audit.Record) { r.RecordType, r.OperationCount = audit.ExchangeItemAggregated, 1 },
		"aggregated, none":  func(r *audit.Record) { r.RecordType, r.OperationCount = audit.ExchangeItemAggregated, 0 },
		"aggregated, seven": func(r *audit.Record) { r.RecordType, r.OperationCount = audit.ExchangeItemAggregated, 7 },
		"count on an item":  func(r *audit.Record) { r.OperationCount = 3 },
		"aggregated folders": func(r *audit.Record) {
			r.RecordType, r.OperationCount = audit.ExchangeItemAggregated, 2
			r.Folders = []audit.AggregatedFolder{{Path: "/Inbox", FolderItems: []audit.Item{{Id: "x:1"}}}, {Path: "/Sent", FolderItems: []audit.Item{}}}
			r.ObjectId = "/Inbox"
		},
	}
	for name, change := range variants {
		t.Run(name, func(t *testing.T) {
			in := base
			change(&in)
			m := &memStrings{ids: map[string]int64{}}
			data, err := encode(&in, m)
			if err != nil {
				t.Fatal(err)
			}
			// The columns scan sets before decoding.
			out := audit.Record{RecordType: in.RecordType, CreationTime: in.CreationTime, Operation: in.Operation, UserId: in.UserId}
			if !in.IsAdmin() {
				out.MailboxGuid = in.MailboxGuid
			}
			if err := decode(data, &out, m); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(in, out) {
				t.Errorf("round trip changed the record:\n in %+v\nout %+v", in, out)
			}
		})
	}
}
