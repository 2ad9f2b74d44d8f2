// Package bench measures mailaudit on a generated organisation: ingest
// through the engine into the store, the searches an auditor runs, and the
// bytes on disk per record. `mailaudit bench` and the go test benchmarks of
// this package both use it; docs/benchmarks.md records their figures.
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"syscall"
	"time"

	"github.com/mailaudit/mailaudit/audit"
	"github.com/mailaudit/mailaudit/service"
	"github.com/mailaudit/mailaudit/sqlite"
	"github.com/mailaudit/mailaudit/synth"
)

// Config sizes a run.
type Config struct {
	Dir        string // data directory (must be empty or absent)
	Activities int
	Mailboxes  int
	Days       int
	Batch      int
	Searches   int // searches per kind
	Seed       uint64
	// CPUProfile, when set, is where a CPU profile of the ingest goes.
	CPUProfile string
	// Parsed feeds the engine activities already decoded, as a source
	// does, instead of JSON Lines as `mailaudit ingest` reads them.
	Parsed bool
}

// Defaults are the sizes the issue sets: a million activities across ten
// thousand mailboxes over ninety days.
func Defaults(dir string) Config {
	return Config{Dir: dir, Activities: 1_000_000, Mailboxes: 10_000, Days: 90, Batch: service.DefaultBatch, Searches: 500, Seed: 1}
}

// Result holds the figures of a run.
type Result struct {
	Config         Config
	IngestDuration time.Duration
	// IngestCPU is the CPU time (user and system) the process spent on the
	// ingest: on a shared machine it varies less than IngestDuration.
	IngestCPU      time.Duration
	Recorded       int64 // records in the store
	ActivitiesPerS float64
	BytesOnDisk    int64
	BytesPerRecord float64
	Mailbox90d     Latency // one mailbox, 90 days, newest 1000
	Actor90d       Latency // one actor across every mailbox, 90 days
	GoVersion      string
	CPU            string
}

// Latency summarises search times.
type Latency struct {
	N             int
	P50, P99, Max time.Duration
	MeanRows      float64
}

// end is where the workload's days end.
var end = time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)

// Generate makes the workload as JSON Lines.
func Generate(cfg Config) ([]byte, error) {
	var lines bytes.Buffer
	g := synth.New(cfg.Seed)
	enc := json.NewEncoder(&lines)
	err := g.Workload(cfg.Activities, cfg.Mailboxes, cfg.Days, end, func(a *audit.Activity) error { return enc.Encode(a) })
	return lines.Bytes(), err
}

// Ingest generates the workload and ingests it through the service, as
// `mailaudit ingest` does, timing the ingest alone.
func Ingest(ctx context.Context, cfg Config) (*Result, *service.Service, *sqlite.Store, error) {
	lines, err := Generate(cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	return IngestLines(ctx, cfg, lines)
}

// IngestLines ingests generated lines into a new store in cfg.Dir.
func IngestLines(ctx context.Context, cfg Config, lines []byte) (*Result, *service.Service, *sqlite.Store, error) {
	st, err := sqlite.Open(cfg.Dir)
	if err != nil {
		return nil, nil, nil, err
	}
	svc, err := service.Open(ctx, st)
	if err != nil {
		st.Close()
		return nil, nil, nil, err
	}
	svc.Now = func() time.Time { return end }
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return nil, nil, nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, nil, nil, err
		}
	}
	var acts []*audit.Activity
	if cfg.Parsed {
		for _, line := range bytes.Split(bytes.TrimSpace(lines), []byte("\n")) {
			a, err := audit.ParseActivity(line)
			if err != nil {
				return nil, nil, nil, err
			}
			acts = append(acts, a)
		}
	}
	start, cpuStart := time.Now(), cpuTime()
	var rep *service.IngestReport
	if cfg.Parsed {
		rep = &service.IngestReport{}
		for i := 0; i < len(acts); i += cfg.Batch {
			r, err := svc.IngestActivities(ctx, acts[i:min(i+cfg.Batch, len(acts))], nil)
			if err != nil {
				return nil, nil, nil, err
			}
			rep.Read += r.Read
		}
		err = svc.Flush(ctx)
	} else {
		rep, err = svc.Ingest(ctx, bytes.NewReader(lines), service.IngestOptions{Batch: cfg.Batch})
	}
	pprof.StopCPUProfile()
	if err != nil {
		st.Close()
		return nil, nil, nil, err
	}
	d, cpu := time.Since(start), cpuTime()-cpuStart
	if len(rep.Refused) > 0 {
		st.Close()
		return nil, nil, nil, fmt.Errorf("bench: %d generated lines refused: line %d: %s", len(rep.Refused), rep.Refused[0].Line, rep.Refused[0].Reason)
	}
	res := &Result{Config: cfg, IngestDuration: d, IngestCPU: cpu, ActivitiesPerS: float64(rep.Read) / d.Seconds(),
		GoVersion: runtime.Version(), CPU: cpuModel()}
	if err := st.Checkpoint(ctx); err != nil {
		st.Close()
		return nil, nil, nil, err
	}
	res.BytesOnDisk = dirSize(cfg.Dir)
	if res.Recorded, err = st.Count(ctx); err != nil {
		st.Close()
		return nil, nil, nil, err
	}
	res.BytesPerRecord = float64(res.BytesOnDisk) / float64(res.Recorded)
	return res, svc, st, nil
}

// Searches times the two searches on a store Ingest filled.
func Searches(ctx context.Context, svc *service.Service, res *Result) error {
	cfg := res.Config
	r := rand.New(rand.NewPCG(cfg.Seed, 99))
	start := end.Add(-90 * 24 * time.Hour)
	var err error
	res.Mailbox90d, err = measure(cfg.Searches, func() (int, error) {
		n := 0
		_, err := svc.SearchMailboxAuditLog(ctx, service.MailboxSearch{
			Identities: []string{synth.Address(r.IntN(cfg.Mailboxes), "example.org")},
			Start:      start, End: end, ResultSize: service.MailboxSearchDefault,
		}, func(*audit.Record) error { n++; return nil })
		return n, err
	})
	if err != nil {
		return err
	}
	res.Actor90d, err = measure(cfg.Searches, func() (int, error) {
		n := 0
		_, err := svc.SearchUnifiedAuditLog(ctx, service.UnifiedSearch{
			UserIds: []string{synth.Address(r.IntN(cfg.Mailboxes), "example.org")},
			Start:   start, End: end, ResultSize: service.UnifiedSearchDefault,
		}, func(*audit.Record) error { n++; return nil })
		return n, err
	})
	return err
}

func measure(n int, f func() (int, error)) (Latency, error) {
	times := make([]time.Duration, 0, n)
	rows := 0
	for range n {
		t := time.Now()
		k, err := f()
		if err != nil {
			return Latency{}, err
		}
		times = append(times, time.Since(t))
		rows += k
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	at := func(q float64) time.Duration { return times[min(len(times)-1, int(q*float64(len(times))))] }
	return Latency{N: n, P50: at(0.50), P99: at(0.99), Max: times[len(times)-1], MeanRows: float64(rows) / float64(n)}, nil
}

// cpuTime is the CPU time the process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func dirSize(dir string) int64 {
	var total int64
	filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			total += info.Size()
		}
		return nil
	})
	return total
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && bytes.Equal(bytes.TrimSpace(k), []byte("model name")) {
			return fmt.Sprintf("%s (%d cores)", bytes.TrimSpace(v), runtime.NumCPU())
		}
	}
	return runtime.GOARCH
}

// Print writes the figures as docs/benchmarks.md shows them.
func (r *Result) Print(w io.Writer) {
	c := r.Config
	fmt.Fprintf(w, "workload: %d activities, %d mailboxes, %d days, batches of %d\n", c.Activities, c.Mailboxes, c.Days, c.Batch)
	fmt.Fprintf(w, "machine: %s, %s\n", r.CPU, r.GoVersion)
	from := "JSON Lines"
	if c.Parsed {
		from = "decoded activities"
	}
	fmt.Fprintf(w, "ingest from %s: %.0f activities/s (%s for %d activities, synchronous=FULL)\n", from, r.ActivitiesPerS, r.IngestDuration.Round(time.Millisecond), c.Activities)
	if r.IngestCPU > 0 {
		fmt.Fprintf(w, "ingest CPU time: %s, %.0f activities per CPU-second (GOMAXPROCS %d)\n", r.IngestCPU.Round(time.Millisecond), float64(c.Activities)/r.IngestCPU.Seconds(), runtime.GOMAXPROCS(0))
	}
	fmt.Fprintf(w, "records: %d, %d bytes on disk, %.0f bytes/record\n", r.Recorded, r.BytesOnDisk, r.BytesPerRecord)
	for _, s := range []struct {
		name string
		l    Latency
	}{{"one mailbox, 90 days", r.Mailbox90d}, {"one actor, all mailboxes, 90 days", r.Actor90d}} {
		if s.l.N == 0 {
			continue
		}
		fmt.Fprintf(w, "search %s: p50 %s, p99 %s, max %s over %d searches (%.0f rows each)\n",
			s.name, s.l.P50.Round(time.Microsecond), s.l.P99.Round(time.Microsecond), s.l.Max.Round(time.Microsecond), s.l.N, s.l.MeanRows)
	}
}
