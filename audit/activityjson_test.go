package audit

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// jsonVariants are lines in the shapes the fast path must decode as
// encoding/json does, or leave to it.
func jsonVariants() []string {
	lines := []string{
		validLine,
		// encoding/json's own output escapes <, > and &.
		`{"SourceEventId":"1:211","Source":"synth","CreationTime":"2026-08-24T00:00:07.776Z","Operation":"MailItemsAccessed","UserId":"user00001@example.org","MailboxOwnerUPN":"user00001@example.org","ResultStatus":"Succeeded","ClientIPAddress":"198.51.100.1","ClientInfoString":"Client=IMAP4;name=neomutt;version=20220429","SessionId":"kh5ZQPJvlFjlKL/T","Folder":{"Path":"/Inbox"},"Items":[{"Id":"Inbox:1795316229:1","InternetMessageId":"\u003ca9c4eaea.4960@mail.example.org\u003e","Subject":"R\u00e9sum\u00e9 \u0026 more","SizeInBytes":74870}],"OperationProperties":[{"Name":"MailAccessType","Value":"Bind"}]}`,
		`{"SourceEventId":"e","Source":"s","CreationTime":"2026-11-22T10:00:00Z","Operation":"SearchQueryInitiated","UserId":"u@x","MailboxOwnerUPN":"u@x","OperationProperties":[{"Name":"SearchQuery","Value":"SUBJECT \"Quarte\" \\ \/ \b\f\n\r\t"}]}`,
		` { "sourceeventid" : "e" , "SOURCE":"s",` + "\n\t" + `"CreationTime":"2026-11-22T10:00:00+02:00","operation":" update ","UserId":"Ünïcödé@x","MailboxOwnerUPN":"u@x","Items":[],"OperationProperties":[],"Folder":{},"ExternalAccess":true,"DestFolder":{"Id":"","Path":"/Trash"}} `,
		`{"SourceEventId":"e","Source":"s","CreationTime":"2026-11-22T10:00:00Z","Operation":"Update","UserId":"u","MailboxOwnerUPN":"u","Items":[{"SizeInBytes":-0},{"SizeInBytes":9223372036854775807},{"ParentFolder":{"Path":"/a"}}]}`,
		`{"SourceEventId":"e","Source":"s","CreationTime":"2026-11-22T10:00:00Z","Operation":"Send","UserId":"u","MailboxOwnerUPN":"u","SendAsUserSmtp":"a@x","SendOnBehalfOfUserSmtp":"b@x","DestMailboxOwnerUPN":"c@x","LogonTypeHint":"Admin","ClientProcessName":"p","ClientVersion":"1","ClientMachineName":"m","OriginatingServer":"o","ExternalAccess":false}`,
	}
	// Each change of a value, a name or the syntax, on the valid line.
	mutations := []struct{ from, to string }{
		{`"SessionId":"s1"`, `"SessionId":null`},
		{`"Folder":{"Id":"f1","Path":"/Inbox"}`, `"Folder":null`},
		{`"Folder":{"Id":"f1","Path":"/Inbox"}`, `"Folder":{"Id":"f1","Path":"/Inbox"},"Folder":{"Path":"/Other"}`},
		{`"SessionId":"s1"`, `"SessionId":"s1","sessionid":"s2"`},
		{`"SessionId":"s1"`, `"SeſſionId":"s1"`},
		{`"SessionId":"s1"`, `"Session\u0049d":"s1"`},
		{`"SessionId":"s1"`, `"SessionId":"s\ud83d\ude00"`},
		{`"SessionId":"s1"`, `"SessionId":"s\ud83d"`},
		{`"SessionId":"s1"`, "\"SessionId\":\"s\xff\""},
		{`"SessionId":"s1"`, "\"SessionId\":\"s\x01\""},
		{`"SessionId":"s1"`, `"SessionId":"s\u00"`},
		{`"SessionId":"s1"`, `"SessionId":"s\x"`},
		{`"SessionId":"s1"`, `"SessionId":1`},
		{`"SizeInBytes":462`, `"SizeInBytes":4.0`},
		{`"SizeInBytes":462`, `"SizeInBytes":4e2`},
		{`"SizeInBytes":462`, `"SizeInBytes":0462`},
		{`"SizeInBytes":462`, `"SizeInBytes":99999999999999999999`},
		{`"SizeInBytes":462`, `"SizeInBytes":-`},
		{`"SizeInBytes":462`, `"SizeInBytes":"462"`},
		{`"SizeInBytes":462`, `"SizeInBytes":462,"ParentFolder":{"Path":"/a"}`},
		{`"SessionId":"s1"`, `"ExternalAccess":truex`},
		{`"SessionId":"s1"`, `"ExternalAccess":tru`},
		{`"SessionId":"s1"`, `"ExternalAccess":"true"`},
		{`"Operation":"MoveToDeletedItems"`, `"Operation":"Nothing"`},
		{`"CreationTime":"2026-11-22T10:00:00Z"`, `"CreationTime":"yesterday"`},
		{`"CreationTime":"2026-11-22T10:00:00Z"`, `"CreationTime":null`},
		{`"Items":[`, `"Items":[null,`},
		{`"Items":[`, `"Items":{`},
		{`}]}`, `}],}`},
		{`{"SourceEventId"`, `{,"SourceEventId"`},
		{`"SessionId":"s1"`, `"SessionId" "s1"`},
		{`"SessionId":"s1"`, `"AVeryLongFieldNameThatIsLongerThanAnyKnownField":"s1"`},
	}
	for _, m := range mutations {
		if !strings.Contains(validLine, m.from) {
			panic(m.from)
		}
		lines = append(lines, strings.Replace(validLine, m.from, m.to, 1))
	}
	lines = append(lines, validLine+validLine, validLine+" x", validLine[:len(validLine)-1], "{}", "{", `{"a":1}`)
	return lines
}

// checkSameAsReference fails when the fast path takes a line and decodes it
// otherwise than encoding/json.
func checkSameAsReference(t *testing.T, line string) bool {
	var fast, ref Activity
	ok := decodeActivity([]byte(line), &fast)
	err := decodeReference([]byte(line), &ref)
	if ok && err != nil {
		t.Errorf("fast path took a line encoding/json refuses (%v): %s", err, line)
	}
	if ok && !reflect.DeepEqual(fast, ref) {
		t.Errorf("fast path and encoding/json differ on %s:\n%+v\n%+v", line, fast, ref)
	}
	return ok
}

func TestDecodeActivitySameAsReference(t *testing.T) {
	for _, line := range jsonVariants() {
		checkSameAsReference(t, line)
	}
	// The lines sources write must take the fast path, or it is no use.
	for _, line := range jsonVariants()[:6] {
		if !decodeActivity([]byte(line), &Activity{}) {
			t.Errorf("fast path refused %s", line)
		}
	}
	// And ParseActivity gives encoding/json's messages whichever path runs.
	if _, err := ParseActivity([]byte(strings.Replace(validLine, `"SessionId":"s1"`, `"SessionId":1`, 1))); err == nil || !strings.Contains(err.Error(), "SessionId must be a string") {
		t.Errorf("error %v", err)
	}
}

func FuzzDecodeActivity(f *testing.F) {
	for _, line := range jsonVariants() {
		f.Add(line)
	}
	f.Fuzz(func(t *testing.T, line string) { checkSameAsReference(t, line) })
}

func BenchmarkParseActivity(b *testing.B) {
	line := []byte(jsonVariants()[1])
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			if _, err := ParseActivity(line); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			var a Activity
			if err := decodeReference(line, &a); err != nil || a.Validate() != nil {
				b.Fatal(err)
			}
		}
	})
}

// plain agrees with a byte-by-byte check for every byte at every place of
// an eight-byte word and of the tail.
func TestPlain(t *testing.T) {
	naive := func(b []byte) bool {
		for _, c := range b {
			if c < 0x20 || c >= 0x80 || c == '\\' {
				return false
			}
		}
		return true
	}
	for n := 0; n <= 19; n++ {
		for at := 0; at < n; at++ {
			for c := 0; c < 256; c++ {
				b := []byte(strings.Repeat("a", n))
				b[at] = byte(c)
				if got, want := plain(b), naive(b); got != want {
					t.Fatalf("plain(%q) = %v, want %v", b, got, want)
				}
			}
		}
	}
	// Neighbours of the edges next to each other, where borrows could carry.
	edges := []byte{0x00, 0x01, 0x1f, 0x20, 0x21, 0x5b, 0x5c, 0x5d, 0x7f, 0x80, 0xff, 'a'}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		b := make([]byte, r.IntN(24))
		for i := range b {
			b[i] = edges[r.IntN(len(edges))]
			if r.IntN(3) > 0 {
				b[i] = 'a' + byte(r.IntN(26))
			}
		}
		if got, want := plain(b), naive(b); got != want {
			t.Fatalf("plain(%q) = %v, want %v", b, got, want)
		}
	}
}
