package sqlite

import (
	"encoding/hex"
	"fmt"
	"math"
	"reflect"
	"testing"

	"github.com/mailaudit/mailaudit/audit"
)

// decoderRows are rows of every shape the encoder writes: the codec's
// variants, the big row, and rows with what those leave out (several
// aggregated folders with items in folders, item ids and Message-IDs in
// parts, every kind of name and value, extreme integers).
func decoderRows(t testing.TB) map[string]row {
	rows := map[string]row{"big": bigRow(), "empty": {}}
	base, variants := codecVariants()
	for name, change := range variants {
		in := base
		change(&in)
		var w row
		if err := toRow(&in, &memStrings{ids: map[string]int64{}}, &w); err != nil {
			t.Fatal(err)
		}
		rows[name] = w
	}
	rows["aggregated folders, items in parts"] = row{Result: 0, Same: sameOwner | sameUserKey, OpCount: 4,
		Folders: []aggRow{
			{Id: "f1", Path: 3, Items: []itemRow{{IdPrefix: 4, IdNum: 17, MsgLocal: "a.b", MsgDomain: 5, Size: 1234}, {Id: "raw", MsgId: "odd"}}},
			{Path: 6, Items: []itemRow{{Subject: "héllo ✓", Parent: &folderRow{Id: "p", Path: 7}}}},
			{Id: "empty"},
		},
		PropList: 8, SourcePrefix: 9, SourceNum: 42}
	rows["names and values"] = row{Props: []nvRow{{Pair: 1}, {Name: 2, Value: "long value, longer than sixteen"}, {Name: 3}},
		Params: []nvRow{{Pair: 4}, {Name: 5, Value: "v"}}, Mods: []modRow{{Name: 6, Old: "a"}, {Name: 7, New: "b"}, {Name: 8}}}
	rows["extreme integers"] = row{Result: math.MaxInt64, UserKey: math.MinInt64, UserType: -1, DisplayName: -24, Owner: -25,
		ClientInfo: 23, ProcessName: 24, Version: 255, Machine: 256, Server: 65535, DestOwner: 65536, Source: 1<<32 - 1,
		OpCount: math.MinInt32, ObjectIs: 1 << 32, Same: -1 << 40, PropList: -1 << 32, SourcePrefix: -(1 << 32) - 1,
		SourceNum: math.MaxUint64, Item: &itemRow{IdNum: math.MaxUint64, Size: math.MinInt64, IdPrefix: math.MaxInt64}}
	rows["strings of every length"] = row{Session: string(make([]byte, 23)), ObjectId: string(make([]byte, 24)),
		SendAs: string(make([]byte, 255)), SendOnBehalf: string(make([]byte, 256)), SourceEvent: string(make([]byte, 65536)),
		MailboxGuid: make([]byte, 16), DestMailbox: make([]byte, 300), SessionBin: []byte{0}}
	many := row{}
	for i := range 300 {
		many.Items = append(many.Items, itemRow{IdPrefix: int64(i + 1), IdNum: uint64(i)})
	}
	rows["300 items"] = many
	return rows
}

// widen writes data's heads (of major types 0 to 5: integers, keys, lengths)
// with arguments of width bytes (1, 2, 4 or 8) where the argument fits, as
// an encoder other than appendRow might.
func widen(t testing.TB, data []byte, width int) []byte {
	var out []byte
	var item func()
	item = func() {
		if len(data) == 0 {
			t.Fatal("widen: truncated")
		}
		if data[0]>>5 == 7 { // simple values: one byte
			out, data = append(out, data[0]), data[1:]
			return
		}
		d := rowDecoder{b: data}
		major, n := d.head()
		if d.bad {
			t.Fatalf("widen: bad head %x", data[0])
		}
		data = data[d.off:]
		switch {
		case width == 1 && n <= math.MaxUint8:
			out = append(out, major|24, byte(n))
		case width <= 2 && n <= math.MaxUint16:
			out = append(out, major|25, byte(n>>8), byte(n))
		case width <= 4 && n <= math.MaxUint32:
			out = append(out, major|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
		default:
			out = append(out, major|27, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
		}
		switch major {
		case cborBytes, cborText:
			out, data = append(out, data[:n]...), data[n:]
		case cborArray:
			for range n {
				item()
			}
		case cborMap:
			for range 2 * n {
				item()
			}
		}
	}
	item()
	if len(data) != 0 {
		t.Fatal("widen: trailing data")
	}
	return out
}

// sameAsLibrary checks that readRow decodes data as the library does: the
// same row, and an error when, and only when, the library fails.
func sameAsLibrary(t *testing.T, data []byte) {
	t.Helper()
	var want row
	wantErr := decMode.Unmarshal(data, &want)
	var got row
	err := readRow(data, &got)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%x: readRow error %v, library error %v", data, err, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%x: readRow\n%+v\nlibrary\n%+v", data, got, want)
	}
}

// TestRowDecodingSameAsCBOR checks decodeRow against the library on rows of
// every shape, with heads of every width: it must read them all itself, into
// the rows the library reads.
func TestRowDecodingSameAsCBOR(t *testing.T) {
	for name, w := range decoderRows(t) {
		data := appendRow(nil, &w)
		for _, width := range []int{0, 1, 2, 4, 8} {
			enc := data
			if width > 0 {
				enc = widen(t, data, width)
			}
			t.Run(fmt.Sprintf("%s, width %d", name, width), func(t *testing.T) {
				var want, got row
				if err := decMode.Unmarshal(enc, &want); err != nil {
					t.Fatal(err)
				}
				if !decodeRow(enc, &got) {
					t.Fatalf("decodeRow left %x to the library", enc)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("decodeRow\n%+v\nlibrary\n%+v", got, want)
				}
			})
		}
	}
}

// TestRowDecodingEmptyValues: values the encoders leave out, but which the
// library reads, decodeRow reads the same: empty strings and arrays (not nil),
// false, zero.
func TestRowDecodingEmptyValues(t *testing.T) {
	for _, c := range []struct{ name, hex string }{
		{"empty byte strings", "a306401040182440"},
		{"empty text", "a30b601760181b60"},
		{"empty arrays", "a5138014801680181980181a80"},
		{"empty maps", "a30da00ea01825a0"},
		{"empty folder items", "a11481a10380"},
		{"false", "a20ff4181ff4"},
		{"zero", "a301000200182300"},
	} {
		t.Run(c.name, func(t *testing.T) {
			data, err := hex.DecodeString(c.hex)
			if err != nil {
				t.Fatal(err)
			}
			var want, got row
			if err := decMode.Unmarshal(data, &want); err != nil {
				t.Fatal(err)
			}
			if !decodeRow(data, &got) {
				t.Fatalf("decodeRow left %x to the library", data)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decodeRow\n%#v\nlibrary\n%#v", got, want)
			}
		})
	}
}

// TestRowDecodingFallback: what decodeRow does not read is left to the
// library, which decodes it (or fails) as ever.
func TestRowDecodingFallback(t *testing.T) {
	w := bigRow()
	full := appendRow(nil, &w)
	for _, c := range []struct{ name, hex string }{
		{"unknown key", "a2186301" + "0201"},
		{"key 18, ItemsIn, no longer written", "a2" + "1280" + "0201"},
		{"text key", "a1613101"},
		{"negative key", "a12001"},
		{"repeated key", "a3010101020201"},
		{"repeated key in a folder", "a10da2020102" + "02"},
		{"indefinite map", "bf0101ff"},
		{"indefinite text", "a10b7f6161ff"},
		{"indefinite array", "a1139fa0ff"},
		{"tag", "a101c101"},
		{"self-described CBOR", "d9d9f7a10101"},
		{"float for an integer", "a101f93c00"},
		{"null folder", "a10df6"},
		{"null", "f6"},
		{"undefined for a string", "a10bf7"},
		{"not a map", "8101"},
		{"integer for a bool", "a10f01"},
		{"bytes for a string", "a10b4161"},
		{"string for bytes", "a1066161"},
		{"invalid UTF-8", "a10b61ff"},
		{"invalid UTF-8 in an item", "a11825a10362c328"},
		{"int64 overflow", "a1011b8000000000000000"},
		{"negative overflow", "a1013b8000000000000000"},
		{"negative for an unsigned", "a1182320"},
		{"array longer than the data", "a1139b0000000100000000"},
		{"more pairs than the data", "b9ffff01"},
		{"map head truncated", "b9ff"},
		{"reserved additional information", "a1011c"},
		{"empty", ""},
		{"trailing data", hex.EncodeToString(full) + "00"},
		{"truncated", hex.EncodeToString(full[:len(full)-1])},
		{"two rows", "a0a0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			data, err := hex.DecodeString(c.hex)
			if err != nil {
				t.Fatal(err)
			}
			var got row
			if decodeRow(data, &got) {
				t.Errorf("decodeRow read %x itself", data)
			}
			sameAsLibrary(t, data)
		})
	}
	// Old records with key 18 still decode, through the library.
	var old row
	if err := readRow([]byte{0xa2, 0x12, 0x80, 0x02, 0x05}, &old); err != nil || old.UserKey != 5 {
		t.Errorf("a row with key 18: %+v, %v", old, err)
	}
}

// FuzzRowDecoding: whatever the bytes, readRow decodes them as the library
// does, and decodeRow reads only what the library reads without error.
func FuzzRowDecoding(f *testing.F) {
	for _, w := range decoderRows(f) {
		data := appendRow(nil, &w)
		if len(data) < 4096 {
			f.Add(data)
			f.Add(widen(f, data, 2))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var got row
		if decodeRow(data, &got) {
			var want row
			if err := decMode.Unmarshal(data, &want); err != nil {
				t.Fatalf("%x: decodeRow read what the library refuses: %v", data, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%x: decodeRow\n%+v\nlibrary\n%+v", data, got, want)
			}
		}
		sameAsLibrary(t, data)
	})
}

// TestDecodeKeepsNoBytes: decode may be given a buffer that is reused for the
// next record (sql.RawBytes), so the record must share none of its bytes.
func TestDecodeKeepsNoBytes(t *testing.T) {
	base, variants := codecVariants()
	for _, name := range []string{"everything", "as is", "admin, no display name"} {
		in := base
		variants[name](&in)
		m := &memStrings{ids: map[string]int64{}}
		data, err := encode(&in, m)
		if err != nil {
			t.Fatal(err)
		}
		var want, got audit.Record
		for _, r := range []*audit.Record{&want, &got} {
			*r = audit.Record{RecordType: in.RecordType, UserId: in.UserId, MailboxGuid: in.MailboxGuid}
		}
		if err := decode(append([]byte(nil), data...), &want, m); err != nil {
			t.Fatal(err)
		}
		if err := decode(data, &got, m); err != nil {
			t.Fatal(err)
		}
		for i := range data {
			data[i] = 0xff
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: the record changed with the buffer:\n%+v\n%+v", name, want, got)
		}
	}
}

// BenchmarkRowDecoding compares decodeRow with the library on a delegate's
// record with a folder, an item and properties.
func BenchmarkRowDecoding(b *testing.B) {
	base, variants := codecVariants()
	in := base
	variants["delegate"](&in)
	in.Folder = &audit.Folder{Path: "/Inbox"}
	in.Item = &audit.Item{Id: "INBOX:1795316229:17", InternetMessageId: "<a1b2@example.org>", Subject: "Quarterly figures", SizeInBytes: 40210}
	in.OperationProperties = []audit.NameValue{{Name: "MailAccessType", Value: "Bind"}, {Name: "IsThrottled", Value: "False"}}
	in.ClientIPAddress, in.ClientInfoString = "192.0.2.7", "Client=IMAP4;Thunderbird"
	var w row
	if err := toRow(&in, &memStrings{ids: map[string]int64{}}, &w); err != nil {
		b.Fatal(err)
	}
	data := appendRow(nil, &w)
	b.Run("decodeRow", func(b *testing.B) {
		for b.Loop() {
			var w row
			if !decodeRow(data, &w) {
				b.Fatal("left to the library")
			}
		}
	})
	b.Run("library", func(b *testing.B) {
		for b.Loop() {
			var w row
			if err := decMode.Unmarshal(data, &w); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// A body an earlier version wrote with text that is not UTF-8 is read as it
// is: one such record must not make every search that reaches it fail.
func TestDecodeInvalidUTF8(t *testing.T) {
	body := []byte{cborMap | 1, 11, cborText | 3, 'a', 0xff, 'b'} // {Session: "a\xffb"}
	var r audit.Record
	if err := decode(body, &r, &memStrings{ids: map[string]int64{}}); err != nil || r.SessionId != "a\xffb" {
		t.Errorf("decode = %v, SessionId %q", err, r.SessionId)
	}
	// And none is written: the encoder keeps it as U+FFFD.
	m := beginMap(nil)
	m.text(11, "a\xffb")
	if got := string(m.end()); got != string([]byte{cborMap | 1, 11, cborText | 5})+"a\uFFFDb" {
		t.Errorf("encoded %q", got)
	}
}
