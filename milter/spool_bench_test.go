package milter

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/mailaudit/mailaudit/audit"
	"github.com/mailaudit/mailaudit/service"
	"github.com/mailaudit/mailaudit/sqlite"
)

// The ways to make a message's activity durable before answering Postfix,
// timed per message (docs/benchmarks.md): the spool with O_DIRECT|O_DSYNC
// (what the milter does), the spool with O_DIRECT alone (durability =
// "device"), the spool with write+fdatasync (its fallback without
// O_DIRECT), the spool written to the page cache (durability = "process"),
// and committing each activity straight to the store. writers is how many SMTP
// sessions end a message at the same time.
//
//	go test -run '^$' -bench Durable -benchtime 2000x ./milter
func BenchmarkDurable(b *testing.B) {
	a, err := Activity(&Message{At: time.Now(), Login: "bob", QueueId: "4Xq9Lk1", EnvelopeFrom: "shared@example.org",
		From: "shared@example.org", Recipients: []string{"x@example.net"}, MessageId: "<m@example.org>", Subject: "Quarterly figures", Size: 4000}, "")
	if err != nil {
		b.Fatal(err)
	}
	rec, _ := json.Marshal(a)
	for _, writers := range []int{1, 8} {
		for _, way := range []string{"spool-odirect", "spool-device", "spool-fdatasync", "spool-process", "store-commit"} {
			b.Run(fmt.Sprintf("%s/writers=%d", way, writers), func(b *testing.B) {
				var write func(i int) error
				switch way {
				case "store-commit":
					st, err := sqlite.Open(filepath.Join(b.TempDir(), "data"))
					if err != nil {
						b.Fatal(err)
					}
					defer st.Close()
					svc, err := service.Open(context.Background(), st)
					if err != nil {
						b.Fatal(err)
					}
					write = func(i int) error {
						c := *a
						c.SourceEventId = fmt.Sprint(i)
						_, err := svc.IngestActivities(context.Background(), []*audit.Activity{&c}, nil)
						return err
					}
				default:
					old := useDirect
					useDirect = way != "spool-fdatasync"
					d := map[string]Durability{"spool-device": Device, "spool-process": Process}[way]
					s, err := OpenSpool(b.TempDir(), SpoolOptions{Durability: d})
					useDirect = old
					if err != nil {
						b.Fatal(err)
					}
					defer s.Close()
					write = func(int) error { return s.Append(rec, 0, nil) }
				}
				lat := make([]time.Duration, b.N)
				var wg sync.WaitGroup
				next := make(chan int, b.N)
				for i := range b.N {
					next <- i
				}
				close(next)
				b.ResetTimer()
				for range writers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := range next {
							t := time.Now()
							if err := write(i); err != nil {
								b.Error(err)
								return
							}
							lat[i] = time.Since(t)
						}
					}()
				}
				wg.Wait()
				b.StopTimer()
				sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			})
		}
	}
}
