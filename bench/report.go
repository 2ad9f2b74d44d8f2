package bench

import (
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/mailaudit/mailaudit/audit"
	"github.com/mailaudit/mailaudit/service"
	"github.com/mailaudit/mailaudit/sqlite"
	"github.com/mailaudit/mailaudit/synth"
)

// ReportConfig sizes the non-owner access report benchmark: a store of about
// ten million records (a 10,000-mailbox organisation over 90 days), and the
// report over its last two weeks.
type ReportConfig struct {
	// Dir is the data directory. A store already there is reused as it is,
	// so that the report can be timed again without building it again.
	Dir        string
	Activities int
	Mailboxes  int
	Days       int
	Batch      int
	Seed       uint64
	// Window is the report's period, ending where the workload ends.
	Window time.Duration
	// Runs is how many times each report is timed.
	Runs int
	// Progress, when set, hears how the build goes.
	Progress io.Writer
}

// ReportDefaults are the sizes: 12,900,000 activities make about
// ten million records across 10,000 mailboxes over 90 days.
func ReportDefaults(dir string) ReportConfig {
	return ReportConfig{Dir: dir, Activities: 12_900_000, Mailboxes: 10_000, Days: 90, Batch: service.DefaultBatch, Seed: 1,
		Window: 14 * 24 * time.Hour, Runs: 5}
}

// ReportEnd is where the report workload's days end.
var ReportEnd = end

// nonOwnerKind sorts a session that is not the owner's into delegate (7 in
// 10), administrator through a trusted source (2 in 10) and the operator's
// staff (1 in 10), by its session id, so that every activity of a session is
// of one kind.
func nonOwnerKind(session string) int {
	h := fnv.New32a()
	h.Write([]byte(session))
	return int(h.Sum32() % 10)
}

// reportWorkload is synth.Workload with administrators and external access
// among the non-owner sessions (synth.Workload's are all delegates).
func reportWorkload(cfg ReportConfig, fn func(*audit.Activity) error) error {
	g := synth.New(cfg.Seed)
	return g.Workload(cfg.Activities, cfg.Mailboxes, cfg.Days, end, func(a *audit.Activity) error {
		if a.UserId != a.MailboxOwnerUPN {
			switch nonOwnerKind(a.SessionId) {
			case 0, 1:
				a.Source, a.LogonTypeHint = "import", "Admin" // a trusted source: an eDiscovery export
			case 2:
				a.ExternalAccess = true
			}
		}
		return fn(a)
	})
}

// BuildResult describes the store a report benchmark runs on.
type BuildResult struct {
	Built    bool // false: an existing store was reused
	Duration time.Duration
	Records  int64
	Bytes    int64
}

// BuildReportStore opens the store in cfg.Dir, building it first when it is
// empty: the workload is generated and ingested as decoded activities in
// batches (the fastest path, as a source hands activity over), without ever
// holding it whole in memory.
func BuildReportStore(ctx context.Context, cfg ReportConfig) (*service.Service, *sqlite.Store, BuildResult, error) {
	var res BuildResult
	st, err := sqlite.Open(cfg.Dir)
	if err != nil {
		return nil, nil, res, err
	}
	fail := func(err error) (*service.Service, *sqlite.Store, BuildResult, error) {
		st.Close()
		return nil, nil, res, err
	}
	svc, err := service.Open(ctx, st)
	if err != nil {
		return fail(err)
	}
	svc.Now = func() time.Time { return end }
	if res.Records, err = st.Count(ctx); err != nil {
		return fail(err)
	}
	if res.Records == 0 {
		res.Built = true
		began := time.Now()
		batch := make([]*audit.Activity, 0, cfg.Batch)
		n := 0
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			rep, err := svc.IngestActivities(ctx, batch, nil)
			if err == nil && len(rep.Refused) > 0 {
				err = fmt.Errorf("bench: generated activity refused: %s", rep.Refused[0].Reason)
			}
			n += len(batch)
			batch = batch[:0]
			if cfg.Progress != nil && n%(50*cfg.Batch) == 0 {
				fmt.Fprintf(cfg.Progress, "%d of %d activities ingested (%s)\n", n, cfg.Activities, time.Since(began).Round(time.Second))
			}
			return err
		}
		err := reportWorkload(cfg, func(a *audit.Activity) error {
			batch = append(batch, a)
			if len(batch) == cfg.Batch {
				return flush()
			}
			return nil
		})
		if err == nil {
			err = flush()
		}
		if err == nil {
			err = svc.Flush(ctx)
		}
		if err == nil {
			err = st.Checkpoint(ctx)
		}
		if err != nil {
			return fail(err)
		}
		res.Duration = time.Since(began)
		if res.Records, err = st.Count(ctx); err != nil {
			return fail(err)
		}
	}
	res.Bytes = dirSize(cfg.Dir)
	return svc, st, res, nil
}

// ReportTiming is one report's timings.
type ReportTiming struct {
	Name    string
	Latency Latency
	// CPU is the median CPU time (user and system, every thread) of a run:
	// on a shared machine it varies less than the wall-clock time.
	CPU time.Duration
	// Lines, Entries, Mailboxes and Actors are the report's answer (the
	// same every run).
	Lines, Entries, Mailboxes, Actors int
}

// ReportResult holds a report benchmark's figures.
type ReportResult struct {
	Config  ReportConfig
	Build   BuildResult
	Timings []ReportTiming
	CPU     string
	Go      string
}

// Reports times the non-owner access report on the store: every mailbox
// over the window, for each access type, with and without the entries
// behind each line, and one mailbox's.
func Reports(ctx context.Context, svc *service.Service, cfg ReportConfig) ([]ReportTiming, error) {
	start := end.Add(-cfg.Window)
	cases := []struct {
		name string
		spec service.NonOwnerReportSpec
	}{
		{"all mailboxes, AllNonOwners, with entries", service.NonOwnerReportSpec{AccessType: "AllNonOwners", Entries: true}},
		{"all mailboxes, AllNonOwners, lines only", service.NonOwnerReportSpec{AccessType: "AllNonOwners"}},
		{"all mailboxes, AdministratorsAndDelegates, with entries", service.NonOwnerReportSpec{AccessType: "AdministratorsAndDelegates", Entries: true}},
		{"all mailboxes, Administrators, with entries", service.NonOwnerReportSpec{AccessType: "Administrators", Entries: true}},
		{"all mailboxes, External, with entries", service.NonOwnerReportSpec{AccessType: "External", Entries: true}},
		{"one mailbox, AllNonOwners, with entries", service.NonOwnerReportSpec{AccessType: "AllNonOwners", Entries: true,
			Mailboxes: []string{synth.Address(4242%cfg.Mailboxes, "example.org")}}},
	}
	var out []ReportTiming
	for _, c := range cases {
		c.spec.Start, c.spec.End = start, end
		t := ReportTiming{Name: c.name}
		var cpus []time.Duration
		var err error
		t.Latency, err = measure(cfg.Runs, func() (int, error) {
			runtime.GC() // each run pays for its own garbage
			began := cpuTime()
			rep, err := svc.NonOwnerAccessReport(ctx, c.spec)
			if err != nil {
				return 0, err
			}
			cpus = append(cpus, cpuTime()-began)
			t.Lines, t.Entries, t.Mailboxes, t.Actors = len(rep.Lines), rep.Entries, rep.MailboxesAccessed, rep.NonOwners
			return rep.Entries, nil
		})
		if err != nil {
			return nil, err
		}
		slices.Sort(cpus)
		t.CPU = cpus[len(cpus)/2]
		out = append(out, t)
	}
	return out, nil
}

// RunReport builds (or reuses) the store and times the reports.
func RunReport(ctx context.Context, cfg ReportConfig) (*ReportResult, error) {
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, err
	}
	svc, st, build, err := BuildReportStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	timings, err := Reports(ctx, svc, cfg)
	if err != nil {
		return nil, err
	}
	return &ReportResult{Config: cfg, Build: build, Timings: timings, CPU: cpuModel(), Go: runtime.Version()}, nil
}

// Print writes the figures as docs/benchmarks.md shows them.
func (r *ReportResult) Print(w io.Writer) {
	c := r.Config
	fmt.Fprintf(w, "store: %s, %d records, %d bytes", c.Dir, r.Build.Records, r.Build.Bytes)
	if r.Build.Built {
		fmt.Fprintf(w, " (built from %d activities across %d mailboxes over %d days in %s)", c.Activities, c.Mailboxes, c.Days, r.Build.Duration.Round(time.Second))
	}
	fmt.Fprintf(w, "\nmachine: %s, %s, GOMAXPROCS %d\n", r.CPU, r.Go, runtime.GOMAXPROCS(0))
	fmt.Fprintf(w, "non-owner access report over the last %s:\n", c.Window)
	for _, t := range r.Timings {
		fmt.Fprintf(w, "  %-58s p50 %s (CPU %s), max %s over %d runs: %d lines, %d entries, %d mailboxes, %d non-owners\n",
			t.Name, t.Latency.P50.Round(time.Millisecond), t.CPU.Round(time.Millisecond), t.Latency.Max.Round(time.Millisecond), t.Latency.N,
			t.Lines, t.Entries, t.Mailboxes, t.Actors)
	}
}
