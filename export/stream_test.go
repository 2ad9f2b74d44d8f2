package export

import (
	"io"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/mailaudit/mailaudit/audit"
)

// streamRecord is a typical group record: two items, a folder, a client.
func streamRecord() *audit.Record {
	return &audit.Record{
		RecordType:           audit.ExchangeItemGroup,
		CreationTime:         time.Date(2026, 11, 22, 10, 5, 17, 500_000_000, time.UTC),
		Operation:            "SoftDelete",
		ResultStatus:         audit.Succeeded,
		UserId:               "bob@example.org",
		UserKey:              "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d",
		LogonType:            audit.Delegate,
		LogonUserDisplayName: "Bob Stone",
		MailboxGuid:          uuid.MustParse("0b7c9a52-1f3e-4d6a-8c21-5e9f4a3b2c10"),
		MailboxOwnerUPN:      "alice@example.org",
		ClientIPAddress:      "2001:db8::5",
		ClientInfoString:     "Client=IMAP4;name=Thunderbird;version=128.3.1",
		SessionId:            "imap-9d2e11",
		OriginatingServer:    "mx1.example.org",
		Folder:               &audit.Folder{Id: "INBOX", Path: "/Inbox"},
		AffectedItems: []audit.Item{
			{Id: "INBOX:1795316229:17", InternetMessageId: "<a1@mail.example.net>", Subject: `Re: "Q4" <draft> & budget`, SizeInBytes: 4621},
			{Id: "INBOX:1795316229:18", InternetMessageId: "<b2@mail.example.net>", Subject: "Lunch, Friday?", SizeInBytes: 1803},
		},
		ObjectId:      "/Inbox",
		Source:        "dovecot",
		SourceEventId: "dovecot:mx1:1732269917:4",
	}
}

func liveHeap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// TestStreaming writes many distinct records through every writer and checks
// that the live heap does not grow with them. A writer that kept its records
// (or anything per record) would hold some 17 MB or more; the bound is far above
// noise and far below that. json and xml, the formats of bulk exports, get
// 100,000 records; the others a quarter of that, to keep the test quick.
func TestStreaming(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100,000 records")
	}
	base := streamRecord()
	for _, format := range Formats() {
		n := 25_000
		if format == "json" || format == "xml" {
			n = 100_000
		}
		t.Run(format, func(t *testing.T) {
			w, err := New(format, io.Discard, testOptions)
			if err != nil {
				t.Fatal(err)
			}
			write := func(from, to int) {
				for i := from; i < to; i++ {
					// A fresh copy each time, so that keeping it would cost
					// memory rather than alias the same record.
					r := *base
					r.SequenceNumber = int64(i + 1)
					r.AffectedItems = slices.Clone(base.AffectedItems)
					if err := w.Write(&r); err != nil {
						t.Fatal(err)
					}
				}
			}
			write(0, 1000) // past the table's first block and any warm-up
			before := liveHeap()
			write(1000, n)
			after := liveHeap()
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			runtime.KeepAlive(w)
			if grew := after - before; grew > 8<<20 {
				t.Errorf("live heap grew by %d bytes over %d records", grew, n-1000)
			}
		})
	}
}

func benchmarkWrite(b *testing.B, format string) {
	w, err := New(format, io.Discard, testOptions)
	if err != nil {
		b.Fatal(err)
	}
	r := streamRecord()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.SequenceNumber = int64(i + 1)
		if err := w.Write(r); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkWriteJSON(b *testing.B)  { benchmarkWrite(b, "json") }
func BenchmarkWriteXML(b *testing.B)   { benchmarkWrite(b, "xml") }
func BenchmarkWriteCSV(b *testing.B)   { benchmarkWrite(b, "csv") }
func BenchmarkWriteTable(b *testing.B) { benchmarkWrite(b, "table") }
func BenchmarkWriteList(b *testing.B)  { benchmarkWrite(b, "list") }
