package sqlite

import (
	"fmt"
	"reflect"
	"strings"
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

func (m *memStrings) idOf(b []byte) int64 { return m.id(string(b)) }

func (m *memStrings) str(id int64) (string, error) {
	if id < 1 || int(id) > len(m.strs) {
		return "", fmt.Errorf("no string %d", id)
	}
	return m.strs[id-1], nil
}

// codecVariants are records whose fields take the shortcuts of the codec (or
// just miss them).
func codecVariants() (audit.Record, map[string]func(r *audit.Record)) {
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
		"everything": func(r *audit.Record) {
			r.RecordType, r.ResultStatus, r.UserType = audit.ExchangeAdmin, "False", audit.UserTypeAdmin
			r.ClientIPAddress, r.ClientInfoString, r.ClientProcessName, r.ClientVersion, r.ClientMachineName = "192.0.2.1", "c", "p", "v", "m"
			r.OriginatingServer, r.DestMailboxOwnerUPN, r.CrossMailboxOperation = "srv", "carol@example.org", true
			r.DestMailboxId = uuid.MustParse("00000000-0000-4000-8000-000000000001")
			r.Folder, r.DestFolder = &audit.Folder{Id: "f", Path: "/a"}, &audit.Folder{Path: "/b"}
			r.AffectedItems = []audit.Item{{Id: "x", InternetMessageId: "<a@b>", Subject: "s", SizeInBytes: 1 << 40,
				ParentFolder: &audit.Folder{Id: "p", Path: "/p"}}, {SizeInBytes: -5}}
			r.OperationProperties = []audit.NameValue{{Name: "Q", Value: "a long value, longer than sixteen"}}
			r.Parameters = []audit.NameValue{{Name: "Identity", Value: "alice"}, {Name: "Long", Value: "a long value, longer than sixteen"}}
			r.ModifiedProperties = []audit.ModifiedProperty{{Name: "AuditEnabled", OldValue: "False", NewValue: "True"}}
			r.SendAsUserSmtp, r.SendOnBehalfOfUserSmtp, r.ObjectId = "d@x", "e@x", "something else"
			r.OperationCount, r.SourceEventId, r.SessionId = 70000, "not numbered", "x"
		},
	}
	return base, variants
}

// TestCodecRoundTrip encodes the variants and decodes them back.
func TestCodecRoundTrip(t *testing.T) {
	base, variants := codecVariants()
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
			out := audit.Record{RecordType: in.RecordType, CreationTime: in.CreationTime, Operation: in.Operation, UserId: in.UserId,
				LogonType: in.LogonType, ExternalAccess: in.ExternalAccess, ClientIPAddress: in.ClientIPAddress}
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

// TestRowEncodingSameAsCBOR checks appendRow against the library's encoding
// of the same rows, byte for byte.
func TestRowEncodingSameAsCBOR(t *testing.T) {
	base, variants := codecVariants()
	for name, change := range variants {
		in := base
		change(&in)
		var w row
		if err := toRow(&in, &memStrings{ids: map[string]int64{}}, &w); err != nil {
			t.Fatal(err)
		}
		check(t, name, &w)
	}
	big := bigRow()
	check(t, "big", &big)
}

// bigRow has more than 23 entries, and every kind of value.
func bigRow() row {
	return row{Result: 3, UserKey: 1 << 20, UserType: 2, DisplayName: 300, Owner: 70000, MailboxGuid: make([]byte, 16),
		ClientInfo: 1, ProcessName: 2, Version: 3, Machine: 4, Session: string(make([]byte, 300)), Server: 5,
		Folder: &folderRow{Id: "f"}, DestFolder: &folderRow{}, Cross: true, DestMailbox: []byte{1}, DestOwner: 6,
		Items:   []itemRow{{Id: "i", Parent: &folderRow{Path: 1}}, {}},
		Folders: []aggRow{{Id: "a", Path: 2, Items: []itemRow{{IdPrefix: 3, IdNum: 1 << 33}}}, {}},
		OpCount: -2, Props: []nvRow{{Name: 1, Value: "v"}, {Pair: 2}}, ObjectId: "o", ObjectIs: 4,
		Params: []nvRow{{}}, Mods: []modRow{{Name: 1, Old: "a", New: "b"}}, SendAs: "s", SendOnBehalf: "b",
		Source: 7, SourceEvent: "e", NoDisplayName: true, Same: 3, PropList: 8, SourcePrefix: 9, SourceNum: 1<<64 - 1,
		SessionBin: []byte{1, 2, 3}, Item: &itemRow{Subject: "x", Size: -1 << 40}}
}

func check(t *testing.T, name string, w *row) {
	t.Helper()
	want, err := encMode.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	if got := appendRow([]byte("prefix"), w)[len("prefix"):]; string(got) != string(want) {
		t.Errorf("%s: appendRow\n%x\ncbor.Marshal\n%x", name, got, want)
	}
}

func TestIsGuidText(t *testing.T) {
	g := uuid.MustParse("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d")
	for _, c := range []struct {
		s    string
		want bool
	}{
		{g.String(), true},
		{strings.ToUpper(g.String()), false}, // kept as written
		{"0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4e", false},
		{"0a1b2c3d4e5f4a6b8c7d9e0f1a2b3c4d", false},
		{"", false},
	} {
		if got := isGuidText(c.s, g); got != c.want {
			t.Errorf("isGuidText(%q) = %v, want %v", c.s, got, c.want)
		}
	}
}
