package bench

import (
	"context"
	"flag"
	"fmt"
	"sync"
	"testing"
	"time"
)

var (
	httpDuration  = flag.Duration("http.duration", time.Second, "how long each HTTP benchmark measures (mailaudit bench --http takes 5 s)")
	httpMailboxes = flag.Int("http.mailboxes", 1000, "mailboxes of the HTTP benchmarks' workload")
	httpPreload   = flag.Int("http.preload", 100_000, "activities stored before BenchmarkHTTPSearch times searches")
)

// httpWork is the HTTP benchmarks' workload, generated once.
var httpWork struct {
	once sync.Once
	cfg  HTTPConfig
	w    *HTTPWorkload
}

func httpWorkload() (HTTPConfig, *HTTPWorkload) {
	httpWork.once.Do(func() {
		cfg := HTTPDefaults()
		cfg.Duration, cfg.Mailboxes, cfg.Preload = *httpDuration, *httpMailboxes, *httpPreload
		httpWork.cfg, httpWork.w = cfg, NewHTTPWorkload(cfg)
	})
	return httpWork.cfg, httpWork.w
}

// BenchmarkHTTPIngest posts JSON Lines batches to POST /api/v1/activity of a
// daemon on a loopback port, from 1, 4 and 16 concurrent clients, in batches
// of 1, 100 and 1,000 activities; each iteration is one -http.duration of
// ingest on a new daemon and data directory. It reports activities/s,
// requests/s and the request latency (p50, p99), every request answered only
// once its batch is committed (synchronous=FULL).
func BenchmarkHTTPIngest(b *testing.B) {
	cfg, w := httpWorkload()
	for _, clients := range []int{1, 4, 16} {
		for _, batch := range []int{1, 100, 1000} {
			b.Run(fmt.Sprintf("clients=%d/batch=%d", clients, batch), func(b *testing.B) {
				cfg.Dir = b.TempDir()
				for b.Loop() {
					cell, err := HTTPIngestCell(context.Background(), cfg, w, clients, batch)
					if err != nil {
						b.Fatal(err)
					}
					b.ReportMetric(cell.ActivitiesPerS, "activities/s")
					b.ReportMetric(cell.RequestsPerS, "requests/s")
					b.ReportMetric(float64(cell.P50)/1e6, "p50-ms")
					b.ReportMetric(float64(cell.P99)/1e6, "p99-ms")
				}
			})
		}
	}
}

// BenchmarkHTTPSearch times a mailbox search and an actor's unified search
// over HTTP on a store of -http.preload activities, alone and while four
// clients ingest batches of 100.
func BenchmarkHTTPSearch(b *testing.B) {
	cfg, w := httpWorkload()
	cfg.Dir = b.TempDir()
	for b.Loop() {
		s, err := HTTPSearchUnderIngest(context.Background(), cfg, w)
		if err != nil {
			b.Fatal(err)
		}
		for _, m := range []struct {
			name string
			l    Latency
		}{{"mailbox", s.IdleMailbox}, {"unified", s.IdleUnified}, {"mailbox-loaded", s.LoadedMailbox}, {"unified-loaded", s.LoadedUnfd}} {
			b.ReportMetric(float64(m.l.P50)/1e6, m.name+"-p50-ms")
			b.ReportMetric(float64(m.l.P99)/1e6, m.name+"-p99-ms")
		}
		b.ReportMetric(s.LoadedIngestActivitiesPerS, "loaded-ingest-activities/s")
	}
}
