package bench

import (
	"context"
	"flag"
	"sync"
	"testing"
	"time"

	"github.com/mailaudit/mailaudit/audit"
	"github.com/mailaudit/mailaudit/service"
	"github.com/mailaudit/mailaudit/sqlite"
	"github.com/mailaudit/mailaudit/synth"
)

var (
	activities = flag.Int("activities", 1_000_000, "activities in the benchmark workload")
	mailboxes  = flag.Int("mailboxes", 10_000, "mailboxes in the benchmark workload")
)

// BenchmarkIngest ingests the whole workload (by default a million activities
// across ten thousand mailboxes over 90 days) through the engine into a new
// SQLite store with synchronous=FULL, once per iteration. It reports
// activities/s and bytes on disk per record.
func BenchmarkIngest(b *testing.B) { benchmarkIngest(b, false) }

// BenchmarkIngestParsed is BenchmarkIngest from decoded activities, as a
// source hands them over: the engine and the store without the JSON.
func BenchmarkIngestParsed(b *testing.B) { benchmarkIngest(b, true) }

func benchmarkIngest(b *testing.B, parsed bool) {
	cfg := Defaults("")
	cfg.Activities, cfg.Mailboxes, cfg.Parsed = *activities, *mailboxes, parsed
	lines, err := Generate(cfg)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		cfg.Dir = b.TempDir()
		res, _, st, err := IngestLines(context.Background(), cfg, lines)
		if err != nil {
			b.Fatal(err)
		}
		st.Close()
		b.ReportMetric(res.ActivitiesPerS, "activities/s")
		b.ReportMetric(float64(res.Config.Activities)/res.IngestCPU.Seconds(), "activities/cpu-s")
		b.ReportMetric(res.BytesPerRecord, "bytes/record")
		b.ReportMetric(float64(res.Recorded), "records")
	}
}

// shared is one store of the full workload, built once for the search
// benchmarks.
var shared struct {
	once sync.Once
	svc  *service.Service
	st   *sqlite.Store
	err  error
}

func store(b *testing.B) *service.Service {
	shared.once.Do(func() {
		cfg := Defaults(b.TempDir())
		cfg.Activities, cfg.Mailboxes = *activities, *mailboxes
		_, shared.svc, shared.st, shared.err = Ingest(context.Background(), cfg)
	})
	if shared.err != nil {
		b.Fatal(shared.err)
	}
	return shared.svc
}

// BenchmarkSearchMailbox90d is search-mailbox-audit-log on one mailbox over
// 90 days (the newest 1000 records), at the workload's size.
func BenchmarkSearchMailbox90d(b *testing.B) {
	svc := store(b)
	i := 0
	for b.Loop() {
		i++
		_, err := svc.SearchMailboxAuditLog(context.Background(), service.MailboxSearch{
			Identities: []string{synth.Address(i*7919%*mailboxes, "example.org")},
			Start:      end.Add(-90 * 24 * time.Hour), End: end, ResultSize: service.MailboxSearchDefault,
		}, func(*audit.Record) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSearchActor90d is search-unified-audit-log for one actor across
// every mailbox over 90 days.
func BenchmarkSearchActor90d(b *testing.B) {
	svc := store(b)
	i := 0
	for b.Loop() {
		i++
		_, err := svc.SearchUnifiedAuditLog(context.Background(), service.UnifiedSearch{
			UserIds: []string{synth.Address(i*7919%*mailboxes, "example.org")},
			Start:   end.Add(-90 * 24 * time.Hour), End: end, ResultSize: service.UnifiedSearchDefault,
		}, func(*audit.Record) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
	}
}
