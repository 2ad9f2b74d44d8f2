package export

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode"

	"github.com/google/uuid"
	"github.com/mailaudit/mailaudit/audit"
	"golang.org/x/tools/txtar"
)

var update = flag.Bool("update", false, "rewrite golden files")

// testOptions are the options every golden case is rendered with.
var testOptions = Options{
	OrganizationId:   "8d9e5f0a-3b7c-4e2d-9f61-0c2a7b4e1d35",
	OrganizationName: "example.org",
}

// goldenOutputs are the files of a golden archive after records.json, in
// the order -update writes them.
var goldenOutputs = []struct {
	file, format     string
	details, summary bool
}{
	{"json", "json", false, false},
	{"m365", "m365", false, false},
	{"csv", "csv", false, false},
	{"xml", "xml", false, false},
	{"xml-summary", "xml", false, true},
	{"table", "table", false, false},
	{"list", "list", false, false},
	{"list-details", "list", true, false},
}

// A golden case is a txtar archive: a comment saying what it covers, the
// input records in records.json (audit.Record's own field names, objects one
// after another), and the expected output of every format.
type goldenCase struct {
	name    string
	path    string
	archive *txtar.Archive
	records []*audit.Record
}

func loadCases(t *testing.T) []goldenCase {
	t.Helper()
	paths, err := filepath.Glob("testdata/*.txtar")
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no golden files in testdata")
	}
	var cases []goldenCase
	for _, path := range paths {
		ar, err := txtar.ParseFile(path)
		if err != nil {
			t.Fatal(err)
		}
		c := goldenCase{name: strings.TrimSuffix(filepath.Base(path), ".txtar"), path: path, archive: ar}
		input := file(ar, "records.json")
		if input == nil {
			t.Fatalf("%s: no records.json", path)
		}
		dec := json.NewDecoder(bytes.NewReader(input))
		dec.DisallowUnknownFields()
		for dec.More() {
			r := new(audit.Record)
			if err := dec.Decode(r); err != nil {
				t.Fatalf("%s: records.json: %v", path, err)
			}
			c.records = append(c.records, r)
		}
		cases = append(cases, c)
	}
	return cases
}

func file(ar *txtar.Archive, name string) []byte {
	for _, f := range ar.Files {
		if f.Name == name {
			return f.Data
		}
	}
	return nil
}

func render(t testing.TB, format string, opt Options, records []*audit.Record) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := New(format, &buf, opt)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range records {
		if err := w.Write(r); err != nil {
			t.Fatalf("%s: Write: %v", format, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("%s: Close: %v", format, err)
	}
	return buf.Bytes()
}

func TestGolden(t *testing.T) {
	for _, c := range loadCases(t) {
		t.Run(c.name, func(t *testing.T) {
			got := map[string][]byte{}
			for _, o := range goldenOutputs {
				opt := testOptions
				opt.ShowDetails, opt.Summary = o.details, o.summary
				got[o.file] = render(t, o.format, opt, c.records)
			}
			if *update {
				ar := &txtar.Archive{Comment: c.archive.Comment}
				ar.Files = append(ar.Files, txtar.File{Name: "records.json", Data: file(c.archive, "records.json")})
				for _, o := range goldenOutputs {
					ar.Files = append(ar.Files, txtar.File{Name: o.file, Data: got[o.file]})
				}
				if err := os.WriteFile(c.path, txtar.Format(ar), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			for _, o := range goldenOutputs {
				want := file(c.archive, o.file)
				if want == nil {
					t.Errorf("%s: no %q section (run go test -update)", c.path, o.file)
					continue
				}
				if !bytes.Equal(got[o.file], want) {
					t.Errorf("%s: %s output differs from the golden file (go test -update rewrites it):\n%s",
						c.path, o.file, firstDiff(string(want), string(got[o.file])))
				}
			}
		})
	}
}

// firstDiff shows the first line where got departs from want.
func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g || i >= len(wl) || i >= len(gl) {
			return fmt.Sprintf("line %d:\nwant %q\ngot  %q", i+1, w, g)
		}
	}
	return "(no line differs)"
}

// TestGoldenCoverage keeps the golden cases covering what they claim to, so
// that editing a fixture cannot silently drop a case the formats must handle.
func TestGoldenCoverage(t *testing.T) {
	var all []*audit.Record
	for _, c := range loadCases(t) {
		all = append(all, c.records...)
	}
	has := func(what string, pred func(r *audit.Record) bool) {
		for _, r := range all {
			if pred(r) {
				return
			}
		}
		t.Errorf("no golden case has %s", what)
	}
	has("an owner MailboxLogin", func(r *audit.Record) bool {
		return r.Operation == "MailboxLogin" && r.LogonType == audit.Owner
	})
	has("a delegate SoftDelete group record with two items and hard subjects", func(r *audit.Record) bool {
		if r.Operation != "SoftDelete" || r.LogonType != audit.Delegate || r.RecordType != audit.ExchangeItemGroup || len(r.AffectedItems) != 2 {
			return false
		}
		s := r.AffectedItems[0].Subject + r.AffectedItems[1].Subject
		return strings.ContainsAny(s, `"`) && strings.Contains(s, "<") && strings.Contains(s, "&") &&
			strings.Contains(s, ",") && strings.Contains(s, "\n")
	})
	has("an admin aggregated MailItemsAccessed record", func(r *audit.Record) bool {
		return r.RecordType == audit.ExchangeItemAggregated && r.LogonType == audit.Admin &&
			len(r.Folders) > 1 && r.OperationCount > 1 && len(r.OperationProperties) > 0
	})
	has("a SearchQueryInitiated record", func(r *audit.Record) bool { return r.Operation == "SearchQueryInitiated" })
	has("a SendAs item record", func(r *audit.Record) bool {
		return r.Operation == "SendAs" && r.Item != nil && r.SendAsUserSmtp != ""
	})
	has("a cross-mailbox Move", func(r *audit.Record) bool { return r.Operation == "Move" && r.CrossMailboxOperation })
	has("an admin audit record", func(r *audit.Record) bool {
		return r.IsAdmin() && len(r.Parameters) > 0 && len(r.ModifiedProperties) > 0
	})
	has("ExternalAccess", func(r *audit.Record) bool { return r.ExternalAccess })
	has("a subject with U+0001", func(r *audit.Record) bool {
		for it := range sourceItems(r) {
			if strings.ContainsRune(it.Subject, 1) {
				return true
			}
		}
		return false
	})
}

func TestJSONLines(t *testing.T) {
	for _, c := range loadCases(t) {
		out := render(t, "json", testOptions, c.records)
		lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
		if len(lines) != len(c.records) {
			t.Fatalf("%s: %d lines for %d records", c.name, len(lines), len(c.records))
		}
		org := uuid.MustParse(testOptions.OrganizationId)
		for i, line := range lines {
			one, err := JSON(c.records[i], testOptions)
			if err != nil {
				t.Fatal(err)
			}
			if string(one) != line {
				t.Errorf("%s: JSON() and the json writer differ:\n%s\n%s", c.name, one, line)
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("%s: line %d: %v", c.name, i+1, err)
			}
			if want := audit.RecordID(org, c.records[i].SequenceNumber).String(); m["Id"] != want {
				t.Errorf("%s: Id = %v, want %s", c.name, m["Id"], want)
			}
			if m["Version"] != 1.0 || m["Workload"] != "Exchange" || m["OrganizationName"] != "example.org" {
				t.Errorf("%s: common fields wrong: %s", c.name, line)
			}
			if _, ok := m["ExternalAccess"]; !ok {
				t.Errorf("%s: no ExternalAccess: %s", c.name, line)
			}
			_, hasLogon := m["LogonType"]
			if hasLogon == c.records[i].IsAdmin() {
				t.Errorf("%s: LogonType present = %v for RecordType %d", c.name, hasLogon, c.records[i].RecordType)
			}
			for _, internal := range []string{"Source", "SourceEventId"} {
				if _, ok := m[internal]; ok {
					t.Errorf("%s: internal field %s in json", c.name, internal)
				}
			}
		}
	}
}

func TestM365(t *testing.T) {
	for _, c := range loadCases(t) {
		js := strings.Split(string(render(t, "json", testOptions, c.records)), "\n")
		ms := strings.Split(string(render(t, "m365", testOptions, c.records)), "\n")
		for i := range c.records {
			var j, m map[string]any
			if err := json.Unmarshal([]byte(js[i]), &j); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(ms[i]), &m); err != nil {
				t.Fatal(err)
			}
			want := c.records[i].CreationTime.UTC().Format("2006-01-02T15:04:05")
			if m["CreationTime"] != want {
				t.Errorf("%s: m365 CreationTime = %v, want %s", c.name, m["CreationTime"], want)
			}
			delete(j, "CreationTime")
			delete(m, "CreationTime")
			if !reflect.DeepEqual(j, m) {
				t.Errorf("%s: m365 differs from json in more than CreationTime", c.name)
			}
		}
	}
}

func TestCSVParsesBack(t *testing.T) {
	for _, c := range loadCases(t) {
		rows, err := csv.NewReader(bytes.NewReader(render(t, "csv", testOptions, c.records))).ReadAll()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(rows) != len(c.records)+1 {
			t.Fatalf("%s: %d rows for %d records", c.name, len(rows), len(c.records))
		}
		if got := strings.Join(rows[0], ","); got != "CreationDate,UserIds,Operations,AuditData" {
			t.Errorf("%s: header %q", c.name, got)
		}
		lines := strings.Split(string(render(t, "json", testOptions, c.records)), "\n")
		for i, row := range rows[1:] {
			r := c.records[i]
			if row[1] != r.UserId || row[2] != r.Operation {
				t.Errorf("%s: row %d: UserIds, Operations = %q, %q", c.name, i+1, row[1], row[2])
			}
			var fromCSV, fromJSON any
			if err := json.Unmarshal([]byte(row[3]), &fromCSV); err != nil {
				t.Fatalf("%s: row %d: AuditData: %v", c.name, i+1, err)
			}
			if err := json.Unmarshal([]byte(lines[i]), &fromJSON); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(fromCSV, fromJSON) {
				t.Errorf("%s: row %d: AuditData differs from the json output:\n%s\n%s", c.name, i+1, row[3], lines[i])
			}
		}
	}
}

// xmlResults is SearchResult.xml as a reader of Exchange's format would
// decode it.
type xmlResults struct {
	XMLName xml.Name `xml:"SearchResults"`
	Events  []struct {
		Owner          string                         `xml:",attr"`
		Operation      string                         `xml:",attr"`
		LogonType      string                         `xml:",attr"`
		LogonUserDN    string                         `xml:",attr"`
		FolderPathName string                         `xml:",attr"`
		ClientInfoStr  string                         `xml:"ClientInfoString,attr"`
		CrossMailboxOp string                         `xml:"CrossMailboxOperation,attr"`
		SourceItems    []xmlItem                      `xml:"SourceItems>SourceItem"`
		Parameters     []struct{ Name, Value string } `xml:"CmdletParameters>Parameter"`
		ModifiedProps  []struct {
			Name     string `xml:",attr"`
			NewValue string `xml:",attr"`
		} `xml:"ModifiedProperties>Property"`
	} `xml:"Event"`
}

type xmlItem struct {
	Id             string `xml:",attr"`
	Subject        string `xml:",attr"`
	FolderPathName string `xml:",attr"`
}

// xmlSafe is what a string becomes after a trip through the xml format.
func xmlSafe(s string) string {
	var b strings.Builder
	for _, r := range s {
		if !xmlChar(r) || r == unicode.ReplacementChar {
			r = unicode.ReplacementChar
		}
		b.WriteRune(r)
	}
	return b.String()
}

func TestXMLParses(t *testing.T) {
	for _, c := range loadCases(t) {
		out := render(t, "xml", testOptions, c.records)
		var doc xmlResults
		if err := xml.Unmarshal(out, &doc); err != nil {
			t.Fatalf("%s: %v\n%s", c.name, err, out)
		}
		if len(doc.Events) != len(c.records) {
			t.Fatalf("%s: %d events for %d records", c.name, len(doc.Events), len(c.records))
		}
		for i, r := range c.records {
			ev := doc.Events[i]
			if ev.Operation != r.Operation {
				t.Errorf("%s: Operation %q", c.name, ev.Operation)
			}
			if r.IsAdmin() {
				if ev.Owner != r.ObjectId || ev.LogonUserDN != r.UserId ||
					len(ev.Parameters) != len(r.Parameters) || len(ev.ModifiedProps) != len(r.ModifiedProperties) {
					t.Errorf("%s: admin event %+v", c.name, ev)
				}
				continue
			}
			if ev.Owner != r.MailboxOwnerUPN || ev.LogonType != r.LogonType.String() ||
				ev.ClientInfoStr != xmlSafe(r.ClientInfoString) || ev.CrossMailboxOp != fmt.Sprint(r.CrossMailboxOperation) {
				t.Errorf("%s: event %+v", c.name, ev)
			}
			var want []xmlItem
			for it, folder := range sourceItems(r) {
				want = append(want, xmlItem{Id: it.Id, Subject: xmlSafe(it.Subject), FolderPathName: folder})
			}
			if !reflect.DeepEqual(ev.SourceItems, want) {
				t.Errorf("%s: SourceItems\n got %q\nwant %q", c.name, ev.SourceItems, want)
			}
		}
	}
}

// FuzzXMLEscape checks that any string survives as an attribute value: the
// document parses and the value reads back as the string, with only the
// characters XML cannot carry replaced.
func FuzzXMLEscape(f *testing.F) {
	for _, s := range []string{"", `a"b'c<d>e&f`, "line\nbreak\r\ttab", "\x00\x01\x1b\x7f", "\xff\xfe bad utf-8", "\uFFFE\uFFFF", "ok 😀 é", "]]>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var b bytes.Buffer
		b.WriteString("<e")
		attr(&b, "v", s)
		b.WriteString("/>")
		var e struct {
			V string `xml:"v,attr"`
		}
		if err := xml.Unmarshal(b.Bytes(), &e); err != nil {
			t.Fatalf("%q: %v: %s", s, err, b.Bytes())
		}
		if want := xmlSafe(s); e.V != want {
			t.Fatalf("%q read back as %q, want %q", s, e.V, want)
		}
	})
}

// TestViewsClean checks that nothing a message or client sends reaches a
// terminal as a control or reordering character.
func TestViewsClean(t *testing.T) {
	r := &audit.Record{
		RecordType:      audit.ExchangeItem,
		Operation:       "Update",
		MailboxOwnerUPN: "a\u202eb@example.org",
		Item:            &audit.Item{Subject: "x\x1b[2Jy\r\nz\x85\xff"},
	}
	for _, format := range []string{"table", "list"} {
		for _, details := range []bool{false, true} {
			out := render(t, format, Options{ShowDetails: details}, []*audit.Record{r})
			for _, c := range string(out) {
				if c != '\n' && (unicode.IsControl(c) || c == '\u202e') {
					t.Errorf("%s: %U in output:\n%s", format, c, out)
				}
			}
		}
	}
	if got := clean("x\x1b[2Jy\r\nz\u2066\xff"); got != "x\uFFFD[2Jy  z\uFFFD\uFFFD" {
		t.Errorf("clean = %q", got)
	}
	if s := "plain ascii, é"; clean(s) != s {
		t.Errorf("clean changed %q", s)
	}
}

func TestTableKeepsColumns(t *testing.T) {
	base := audit.Record{
		RecordType: audit.ExchangeItem, Operation: "Update", ResultStatus: "Succeeded",
		MailboxOwnerUPN: "alice@example.org", LogonUserDisplayName: "Alice",
	}
	var records []*audit.Record
	for i := range tableBlock + 20 {
		r := base
		r.SequenceNumber = int64(i + 1)
		if i == tableBlock+5 {
			// After the widths are set: cut, not widened.
			r.MailboxOwnerUPN = "a-much-longer-address@example.org"
		}
		if i == 3 {
			// Within the first block but past the cap.
			r.LogonUserDisplayName = strings.Repeat("N", tableMaxWidth+10)
		}
		records = append(records, &r)
	}
	out := string(render(t, "table", Options{}, records))
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(records)+2 {
		t.Fatalf("%d lines for %d records", len(lines), len(records))
	}
	col := strings.Index(lines[0], "LogonUserDisplayName")
	for i, line := range lines[2:] {
		if got := strings.Index(line, "Alice"); got >= 0 && len([]rune(line[:got])) != col {
			t.Fatalf("row %d: display name at %d, header at %d:\n%s", i, got, col, out)
		}
	}
	if !strings.Contains(out, "a-much-longer-ad…  Alice") {
		t.Errorf("late wide value not cut to its column:\n%s", lines[tableBlock+7])
	}
	if !strings.Contains(out, strings.Repeat("N", tableMaxWidth-1)+"…\n") {
		t.Errorf("value past the cap not cut:\n%s", lines[5])
	}
}

func TestEmpty(t *testing.T) {
	for _, format := range Formats() {
		out := render(t, format, testOptions, nil)
		switch format {
		case "xml":
			var doc xmlResults
			if err := xml.Unmarshal(out, &doc); err != nil || len(doc.Events) != 0 {
				t.Errorf("xml with no records: %v\n%s", err, out)
			}
		case "csv":
			if string(out) != "CreationDate,UserIds,Operations,AuditData\n" {
				t.Errorf("csv with no records: %q", out)
			}
		default:
			if len(out) != 0 {
				t.Errorf("%s with no records: %q", format, out)
			}
		}
	}
}

func TestNew(t *testing.T) {
	_, err := New("yaml", io.Discard, Options{})
	if err == nil {
		t.Fatal("New accepted yaml")
	}
	for _, want := range append([]string{`"yaml"`}, Formats()...) {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	f := Formats()
	f[0] = "changed"
	if Formats()[0] == "changed" {
		t.Error("Formats returns its own slice")
	}
	for _, format := range Formats() {
		w, err := New(format, io.Discard, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(nil); !errors.Is(err, errNilRecord) {
			t.Errorf("%s: Write(nil) = %v", format, err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := w.Write(&audit.Record{}); !errors.Is(err, errClosed) {
			t.Errorf("%s: Write after Close = %v", format, err)
		}
	}
}

func TestNoOrganizationGUID(t *testing.T) {
	r := &audit.Record{SequenceNumber: 1, RecordType: audit.ExchangeItem, Operation: "Update"}
	b, err := JSON(r, Options{OrganizationId: "not-a-guid"})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m["Id"]; ok {
		t.Errorf("Id without an organisation GUID: %s", b)
	}
	if m["OrganizationId"] != "not-a-guid" {
		t.Errorf("OrganizationId not kept: %s", b)
	}
}

// failWriter fails every write, to check errors surface on the record.
type failWriter struct{}

var errDisk = errors.New("disk full")

func (failWriter) Write([]byte) (int, error) { return 0, errDisk }

func TestWriteErrors(t *testing.T) {
	r := &audit.Record{RecordType: audit.ExchangeItem, Operation: "Update"}
	for _, format := range Formats() {
		w, _ := New(format, failWriter{}, Options{})
		err := w.Write(r)
		if format == "table" {
			// The table holds its first rows; the error comes with them.
			err = w.Close()
		}
		if !errors.Is(err, errDisk) {
			t.Errorf("%s: error %v, want %v", format, err, errDisk)
		}
	}
}
