package e2e

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/mailaudit/mailaudit/audit"
	"github.com/mailaudit/mailaudit/service"
	"github.com/mailaudit/mailaudit/sqlite"
)

var freshnessActions = flag.Int("freshness.actions", 2000, "IMAP actions BenchmarkFreshness times")

// BenchmarkFreshness times, for each of a few thousand IMAP actions (APPENDs
// of messages with their own Message-IDs), the delay from the server's
// tagged reply to the action's record being searchable. It reports p50 and
// p99 in milliseconds. The store is watched in-process, read-only, every
// 2 ms, so the figures include up to 2 ms of watching.
func BenchmarkFreshness(b *testing.B) {
	for b.Loop() {
		e := newEnv(b)
		e.directory()
		e.startServe()
		n := *freshnessActions
		var steps []step
		for i := 0; i < n; i++ {
			steps = append(steps, step{"append", "Drafts", fmt.Sprintf("Subject: f%d\r\nMessage-ID: <f%d@example.org>\r\n\r\nx\r\n", i, i)})
		}
		seen := make(chan map[string]time.Time)
		ctx, cancel := context.WithCancel(context.Background())
		go func() { seen <- watch(ctx, e.Data, n) }()
		res := e.imap("alice", passwords["alice"], steps...)
		got := <-seen
		cancel()
		e.stopServe()
		var delays []time.Duration
		for i, r := range res {
			sec, _ := strconv.ParseFloat(r[3], 64)
			replied := time.Unix(0, int64(sec*1e9))
			if at, ok := got[fmt.Sprintf("<f%d@example.org>", i)]; ok {
				delays = append(delays, at.Sub(replied))
			}
		}
		if len(delays) < n {
			b.Fatalf("%d of %d actions became searchable", len(delays), n)
		}
		sort.Slice(delays, func(i, j int) bool { return delays[i] < delays[j] })
		ms := func(q float64) float64 {
			return float64(delays[min(len(delays)-1, int(q*float64(len(delays))))]) / 1e6
		}
		b.ReportMetric(ms(0.50), "p50-ms")
		b.ReportMetric(ms(0.99), "p99-ms")
		b.ReportMetric(float64(len(delays)), "actions")
	}
}

var errSeen = errors.New("seen before")

// watch polls the store until n Create records are there and returns when
// each Message-ID was first seen.
func watch(ctx context.Context, data string, n int) map[string]time.Time {
	seen := map[string]time.Time{}
	var svc *service.Service
	deadline := time.Now().Add(5 * time.Minute)
	for len(seen) < n && time.Now().Before(deadline) && ctx.Err() == nil {
		if svc == nil {
			st, err := sqlite.Open(data)
			if err == nil {
				if svc, err = service.Open(ctx, st); err != nil {
					st.Close()
					svc = nil
				}
			}
		}
		if svc != nil {
			now := time.Now()
			// Newest first: stop at the first record seen before.
			svc.SearchUnifiedAuditLog(ctx, service.UnifiedSearch{Start: now.Add(-time.Hour), Operations: []string{"Create"}, ResultSize: 0},
				func(r *audit.Record) error {
					for _, it := range r.Items() {
						if _, ok := seen[it.InternetMessageId]; ok {
							return errSeen
						}
						seen[it.InternetMessageId] = now
					}
					return nil
				})
		}
		time.Sleep(2 * time.Millisecond)
	}
	if svc != nil {
		svc.Store().Close()
	}
	return seen
}
