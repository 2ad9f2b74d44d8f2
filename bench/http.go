package bench

// The HTTP benchmark: a real daemon (package daemon, as mailaudit serve runs
// it) on a loopback port over a new data directory, and clients that post
// JSON Lines batches to POST /api/v1/activity or search through the API, as
// remote sources and auditors do. Clients and daemon share the process and
// its cores.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mailaudit/mailaudit/audit"
	"github.com/mailaudit/mailaudit/config"
	"github.com/mailaudit/mailaudit/daemon"
	"github.com/mailaudit/mailaudit/synth"
	"github.com/mailaudit/mailaudit/token"
)

// HTTPConfig sizes an HTTP benchmark run.
type HTTPConfig struct {
	// Dir holds the runs' data directories (default: the system's
	// temporary directory); each is removed after its run.
	Dir string
	// Clients and Batches are the ingest matrix: every number of concurrent
	// clients with every batch size (activities per request).
	Clients []int
	Batches []int
	// Duration is how long each cell of the matrix ingests, and how long
	// the searches run under ingest.
	Duration time.Duration
	// Repeat runs the whole benchmark this many times; Print reports each
	// figure's median and range.
	Repeat int
	// Mailboxes the activity is spread across.
	Mailboxes int
	// Pool is the number of activities generated for a cell (0: Preload
	// and 60,000 a second of Duration, more than this machine ingests); a
	// cell ends early when a client has sent its share.
	Pool int
	// Preload is the number of activities stored before the searches are
	// timed; SearchClients and SearchBatch are the ingest that runs while
	// they are timed a second time.
	Preload       int
	NoSearch      bool // leave the searches out
	SearchClients int
	SearchBatch   int
	Seed          uint64
	// Progress, when set, hears about each cell as it ends.
	Progress io.Writer
}

// HTTPDefaults are the sizes docs/benchmarks.md records: 1, 4 and 16 clients
// × batches of 1, 100 and 1,000 activities, 5 s a cell.
func HTTPDefaults() HTTPConfig {
	return HTTPConfig{Clients: []int{1, 4, 16}, Batches: []int{1, 100, 1000}, Duration: 5 * time.Second, Repeat: 1,
		Mailboxes: 1000, Preload: 100_000, SearchClients: 4, SearchBatch: 100, Seed: 1}
}

// HTTPCell is one cell of the ingest matrix, once.
type HTTPCell struct {
	Clients, Batch int
	Activities     int // acknowledged (answered 200)
	Requests       int
	Elapsed        time.Duration
	ActivitiesPerS float64
	RequestsPerS   float64
	P50, P99, Max  time.Duration // request latency, from sending to the end of the answer
	// CPU is the CPU time (user and system) of the whole process, clients
	// included, during the cell; CPU/Elapsed is how many cores were busy.
	CPU time.Duration
}

// HTTPSearch is the search latency of one run, on a store of Preload
// activities: alone, then while SearchClients clients ingest batches of
// SearchBatch.
type HTTPSearch struct {
	Records                    int64 // in the store before the searches
	IdleMailbox, IdleUnified   Latency
	LoadedMailbox, LoadedUnfd  Latency
	LoadedIngestActivitiesPerS float64
	LoadedIngestP99            time.Duration
}

// HTTPResult holds every run's figures.
type HTTPResult struct {
	Config    HTTPConfig
	Cells     [][]HTTPCell // [run][cell]
	Searches  []HTTPSearch // [run]
	CPU       string
	GoVersion string
	Started   time.Time
}

// RunHTTP runs the HTTP benchmark: the ingest matrix, each cell on a new
// daemon over a new data directory, then the searches, Repeat times.
func RunHTTP(ctx context.Context, cfg HTTPConfig) (*HTTPResult, error) {
	if cfg.Repeat < 1 {
		cfg.Repeat = 1
	}
	res := &HTTPResult{Config: cfg, CPU: cpuModel(), GoVersion: runtime.Version(), Started: time.Now()}
	w := newHTTPWorkload(cfg, time.Now())
	for run := range cfg.Repeat {
		var cells []HTTPCell
		for _, c := range cfg.Clients {
			for _, b := range cfg.Batches {
				cell, err := HTTPIngestCell(ctx, cfg, w, c, b)
				if err != nil {
					return nil, fmt.Errorf("bench: %d clients, batches of %d: %w", c, b, err)
				}
				cells = append(cells, *cell)
				cfg.progress("run %d: %s\n", run+1, cell)
			}
		}
		res.Cells = append(res.Cells, cells)
		if cfg.NoSearch {
			continue
		}
		s, err := HTTPSearchUnderIngest(ctx, cfg, w)
		if err != nil {
			return nil, fmt.Errorf("bench: searches: %w", err)
		}
		res.Searches = append(res.Searches, *s)
		cfg.progress("run %d: searches on %d records: mailbox p50 %s p99 %s, unified p50 %s p99 %s; under ingest (%.0f activities/s): mailbox p50 %s p99 %s, unified p50 %s p99 %s\n",
			run+1, s.Records, ms(s.IdleMailbox.P50), ms(s.IdleMailbox.P99), ms(s.IdleUnified.P50), ms(s.IdleUnified.P99), s.LoadedIngestActivitiesPerS,
			ms(s.LoadedMailbox.P50), ms(s.LoadedMailbox.P99), ms(s.LoadedUnfd.P50), ms(s.LoadedUnfd.P99))
	}
	return res, nil
}

func (cfg HTTPConfig) progress(format string, args ...any) {
	if cfg.Progress != nil {
		fmt.Fprintf(cfg.Progress, format, args...)
	}
}

func (c *HTTPCell) String() string {
	return fmt.Sprintf("%2d clients × batches of %4d: %8.0f activities/s, %7.1f requests/s, latency p50 %s p99 %s (%d activities in %s, %.2f cores busy)",
		c.Clients, c.Batch, c.ActivitiesPerS, c.RequestsPerS, ms(c.P50), ms(c.P99), c.Activities, c.Elapsed.Round(time.Millisecond), c.CPU.Seconds()/c.Elapsed.Seconds())
}

// HTTPWorkload is the activity a run sends: a pool generated once (by
// synth, the mix of the embedded benchmark, over the last day) and reused by
// every cell, since each cell has a new store; and a warm-up that makes the
// mailboxes first, so that a cell does not time their creation.
type HTTPWorkload struct {
	pool   [][]byte // JSON lines, in time order
	warmup [][]byte
	end    time.Time
}

func newHTTPWorkload(cfg HTTPConfig, end time.Time) *HTTPWorkload {
	w := &HTTPWorkload{end: end}
	gen := func(seed uint64, source string, n int) [][]byte {
		g := synth.New(seed)
		g.Source = source
		lines := make([][]byte, 0, n)
		g.Workload(n, cfg.Mailboxes, 1, end, func(a *audit.Activity) error {
			b, err := json.Marshal(a)
			lines = append(lines, b)
			return err
		})
		return lines
	}
	pool := cfg.Pool
	if pool == 0 {
		pool = int(60_000 * cfg.Duration.Seconds())
		if !cfg.NoSearch {
			pool += cfg.Preload
		}
	}
	w.pool = gen(cfg.Seed, "bench-http", pool)
	w.warmup = gen(cfg.Seed+1, "bench-warmup", 5*cfg.Mailboxes)
	return w
}

// NewHTTPWorkload generates a run's activity (exported for the go test
// benchmarks, which share one between cells).
func NewHTTPWorkload(cfg HTTPConfig) *HTTPWorkload { return newHTTPWorkload(cfg, time.Now()) }

// httpDaemon is a daemon serving on a loopback port, with a token of each
// role it needs.
type httpDaemon struct {
	base    string
	ingest  string
	auditor string
	client  *http.Client
	dir     string
	stop    func() error
}

// startHTTPDaemon runs a daemon over a new data directory below parent.
func startHTTPDaemon(ctx context.Context, parent string) (*httpDaemon, error) {
	dir, err := os.MkdirTemp(parent, "mailaudit-bench-http-")
	if err != nil {
		return nil, err
	}
	cfg := config.Defaults()
	cfg.Data = dir
	cfg.Listen = []config.Listener{{Address: "127.0.0.1:0"}}
	d := &httpDaemon{dir: dir}
	tokens := token.Open(cfg.TokensPath())
	if d.ingest, err = tokens.Create("bench-ingest", token.Ingest, time.Now()); err != nil {
		return nil, err
	}
	if d.auditor, err = tokens.Create("bench-auditor", token.Auditor, time.Now()); err != nil {
		return nil, err
	}
	// The daemon's warnings and errors (a failed request) are worth seeing;
	// its information is not.
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	listening := make(chan string, 1)
	dm := &daemon.Daemon{Config: &cfg, Log: log, Listening: func(addrs []string) { listening <- addrs[0] }}
	runCtx, cancel := context.WithCancel(ctx)
	exited := make(chan error, 1)
	go func() { exited <- dm.Run(runCtx) }()
	select {
	case addr := <-listening:
		d.base = "http://" + addr
	case err := <-exited:
		cancel()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("the daemon did not start: %v", err)
	}
	d.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 0, DisableCompression: true}}
	d.stop = func() error {
		cancel()
		err := <-exited
		d.client.CloseIdleConnections()
		os.RemoveAll(dir)
		return err
	}
	return d, nil
}

// post sends one batch and checks that every activity was taken.
func (d *httpDaemon) post(ctx context.Context, body []byte, n int) error {
	req, err := http.NewRequestWithContext(ctx, "POST", d.base+"/api/v1/activity", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+d.ingest)
	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ingest answered %s: %s", resp.Status, b)
	}
	var rep struct{ Read, Duplicates int }
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("ingest answer: %v", err)
	}
	if rep.Read != n || rep.Duplicates != 0 {
		return fmt.Errorf("ingest of %d activities read %d, %d of them duplicates", n, rep.Read, rep.Duplicates)
	}
	return nil
}

// search runs one search and returns the number of records it found.
func (d *httpDaemon) search(ctx context.Context, path string, q url.Values) (int, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", d.base+path+"?"+q.Encode(), nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+d.auditor)
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("search answered %s: %s", resp.Status, b)
	}
	// The end of the answer says whether the search failed part-way.
	if tail := b[max(0, len(b)-200):]; !bytes.Contains(tail, []byte(`"next":`)) {
		return 0, fmt.Errorf("search failed part-way: %s", tail)
	}
	return bytes.Count(b, []byte("\n{")), nil
}

// bodies deals the lines to clients (client i of n takes lines i, i+n, …,
// so that each sends in time order) and joins each client's into batches.
func bodies(lines [][]byte, clients, batch int) [][]httpBatch {
	out := make([][]httpBatch, clients)
	for c := range clients {
		var cur bytes.Buffer
		k := 0
		for i := c; i < len(lines); i += clients {
			cur.Write(lines[i])
			cur.WriteByte('\n')
			k++
			if k == batch {
				out[c] = append(out[c], httpBatch{bytes.Clone(cur.Bytes()), k})
				cur.Reset()
				k = 0
			}
		}
		if k > 0 {
			out[c] = append(out[c], httpBatch{bytes.Clone(cur.Bytes()), k})
		}
	}
	return out
}

type httpBatch struct {
	body []byte
	n    int
}

// warm sends the warm-up, which makes every mailbox.
func (d *httpDaemon) warm(ctx context.Context, w *HTTPWorkload) error {
	for _, b := range bodies(w.warmup, 1, 1000)[0] {
		if err := d.post(ctx, b.body, b.n); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	return nil
}

// ingestLoad is clients sending their batches one after another until the
// time is up, one of them has sent all its batches, or stop is closed.
type ingestLoad struct {
	activities, requests atomic.Int64
	mu                   sync.Mutex
	latencies            []time.Duration
	elapsed, cpu         time.Duration
}

// httpCPU is the CPU time the process has used so far.
func httpCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (d *httpDaemon) ingestFor(ctx context.Context, batches [][]httpBatch, dur time.Duration, stop <-chan struct{}) (*ingestLoad, error) {
	load := &ingestLoad{}
	cpu := httpCPU()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var over atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, len(batches))
	start := time.Now()
	deadline := start.Add(dur)
	for _, mine := range batches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			defer func() {
				load.mu.Lock()
				load.latencies = append(load.latencies, lat...)
				load.mu.Unlock()
			}()
			for _, b := range mine {
				if over.Load() || time.Now().After(deadline) {
					return
				}
				select {
				case <-stop:
					return
				default:
				}
				t := time.Now()
				if err := d.post(ctx, b.body, b.n); err != nil {
					errs <- err
					over.Store(true)
					return
				}
				lat = append(lat, time.Since(t))
				load.activities.Add(int64(b.n))
				load.requests.Add(1)
			}
			// This client has sent everything: the pool is too small
			// for the duration. The cell ends here, for every client.
			over.Store(true)
		}()
	}
	wg.Wait()
	load.elapsed, load.cpu = time.Since(start), httpCPU()-cpu
	close(errs)
	return load, <-errs
}

// HTTPIngestCell times one cell of the ingest matrix on a new daemon.
func HTTPIngestCell(ctx context.Context, cfg HTTPConfig, w *HTTPWorkload, clients, batch int) (*HTTPCell, error) {
	d, err := startHTTPDaemon(ctx, cfg.Dir)
	if err != nil {
		return nil, err
	}
	err = d.warm(ctx, w)
	var load *ingestLoad
	if err == nil {
		load, err = d.ingestFor(ctx, bodies(w.pool, clients, batch), cfg.Duration, nil)
	}
	if serr := d.stop(); err == nil {
		err = serr
	}
	if err != nil {
		return nil, err
	}
	l := summarize(load.latencies, 0)
	sec := load.elapsed.Seconds()
	return &HTTPCell{Clients: clients, Batch: batch, Activities: int(load.activities.Load()), Requests: int(load.requests.Load()),
		Elapsed: load.elapsed, ActivitiesPerS: float64(load.activities.Load()) / sec, RequestsPerS: float64(load.requests.Load()) / sec,
		P50: l.P50, P99: l.P99, Max: l.Max, CPU: load.cpu}, nil
}

// HTTPSearchUnderIngest times searches over HTTP on a store of Preload
// activities: a mailbox's (search-mailbox-audit-log, a random mailbox, the
// whole day, the newest 1,000) and an actor's across every mailbox
// (search-unified-audit-log --user-ids, the newest 100), one after the
// other, first alone for Duration, then for Duration again while
// SearchClients clients ingest.
func HTTPSearchUnderIngest(ctx context.Context, cfg HTTPConfig, w *HTTPWorkload) (*HTTPSearch, error) {
	d, err := startHTTPDaemon(ctx, cfg.Dir)
	if err != nil {
		return nil, err
	}
	res, err := d.searchUnderIngest(ctx, cfg, w)
	if serr := d.stop(); err == nil {
		err = serr
	}
	return res, err
}

func (d *httpDaemon) searchUnderIngest(ctx context.Context, cfg HTTPConfig, w *HTTPWorkload) (*HTTPSearch, error) {
	if err := d.warm(ctx, w); err != nil {
		return nil, err
	}
	preload := min(cfg.Preload, len(w.pool))
	if _, err := d.ingestFor(ctx, bodies(w.pool[:preload], 4, 1000), time.Hour, nil); err != nil {
		return nil, fmt.Errorf("preloading: %w", err)
	}
	res := &HTTPSearch{}
	n, err := d.search(ctx, "/api/v1/unified-audit-log", url.Values{
		"start": {w.end.Add(-48 * time.Hour).Format(time.RFC3339)}, "end": {w.end.Add(time.Hour).Format(time.RFC3339)},
		"result-size": {"unlimited"}})
	if err != nil {
		return nil, err
	}
	res.Records = int64(n)

	r := rand.New(rand.NewPCG(cfg.Seed, 7))
	start, end := w.end.Add(-25*time.Hour).Format(time.RFC3339), w.end.Add(time.Hour).Format(time.RFC3339)
	searchFor := func(stop <-chan struct{}) (mailbox, unified Latency, err error) {
		var mt, ut []time.Duration
		var mrows, urows int
		deadline := time.Now().Add(cfg.Duration)
		for time.Now().Before(deadline) {
			select {
			case <-stop:
				deadline = time.Time{}
				continue
			default:
			}
			who := synth.Address(r.IntN(cfg.Mailboxes), "example.org")
			t := time.Now()
			k, err := d.search(ctx, "/api/v1/mailbox-audit-log", url.Values{"mailboxes": {who}, "start": {start}, "end": {end}})
			if err != nil {
				return mailbox, unified, err
			}
			mt, mrows = append(mt, time.Since(t)), mrows+k
			who = synth.Address(r.IntN(cfg.Mailboxes), "example.org")
			t = time.Now()
			k, err = d.search(ctx, "/api/v1/unified-audit-log", url.Values{"user-ids": {who}, "start": {start}, "end": {end}})
			if err != nil {
				return mailbox, unified, err
			}
			ut, urows = append(ut, time.Since(t)), urows+k
		}
		return summarize(mt, mrows), summarize(ut, urows), nil
	}
	if res.IdleMailbox, res.IdleUnified, err = searchFor(nil); err != nil {
		return nil, err
	}

	// The same searches while clients ingest the rest of the pool.
	stop := make(chan struct{})
	var load *ingestLoad
	var loadErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		load, loadErr = d.ingestFor(ctx, bodies(w.pool[preload:], cfg.SearchClients, cfg.SearchBatch), cfg.Duration, stop)
	}()
	res.LoadedMailbox, res.LoadedUnfd, err = searchFor(done)
	close(stop)
	<-done
	if err == nil {
		err = loadErr
	}
	if err != nil {
		return nil, err
	}
	res.LoadedIngestActivitiesPerS = float64(load.activities.Load()) / load.elapsed.Seconds()
	res.LoadedIngestP99 = summarize(load.latencies, 0).P99
	return res, nil
}

// summarize makes a Latency of times.
func summarize(times []time.Duration, rows int) Latency {
	if len(times) == 0 {
		return Latency{}
	}
	times = append([]time.Duration(nil), times...)
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	at := func(q float64) time.Duration { return times[min(len(times)-1, int(q*float64(len(times))))] }
	return Latency{N: len(times), P50: at(0.50), P99: at(0.99), Max: times[len(times)-1], MeanRows: float64(rows) / float64(len(times))}
}

func ms(d time.Duration) string {
	switch {
	case d >= 100*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

// Print writes the figures as docs/benchmarks.md shows them: each the
// median of the runs, with the runs' range when there were several.
func (r *HTTPResult) Print(w io.Writer) {
	c := r.Config
	fmt.Fprintf(w, "workload: synth mix over the last day, %d mailboxes (made by a warm-up first), %s per cell, a new daemon and data directory per cell, %d run(s)\n",
		c.Mailboxes, c.Duration, len(r.Cells))
	fmt.Fprintf(w, "machine: %s, %s, GOMAXPROCS %d; clients and daemon in one process (cores busy and CPU-s are the process's, clients included)\n",
		r.CPU, r.GoVersion, runtime.GOMAXPROCS(0))
	fmt.Fprintf(w, "\n| Clients | Batch | Activities/s | Requests/s | p50 latency | p99 latency | Cores busy | Activities/CPU-s |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	if len(r.Cells) > 0 {
		for i, cell := range r.Cells[0] {
			var acts, reqs, p50, p99, busy, perCPU []float64
			for _, run := range r.Cells {
				acts = append(acts, run[i].ActivitiesPerS)
				reqs = append(reqs, run[i].RequestsPerS)
				p50 = append(p50, float64(run[i].P50))
				p99 = append(p99, float64(run[i].P99))
				busy = append(busy, run[i].CPU.Seconds()/run[i].Elapsed.Seconds())
				perCPU = append(perCPU, float64(run[i].Activities)/run[i].CPU.Seconds())
			}
			fmt.Fprintf(w, "| %d | %d | %s | %s | %s | %s | %s | %s |\n", cell.Clients, cell.Batch,
				spread(acts, func(v float64) string { return fmt.Sprintf("%.0f", v) }),
				spread(reqs, func(v float64) string { return fmt.Sprintf("%.1f", v) }),
				spread(p50, func(v float64) string { return ms(time.Duration(v)) }),
				spread(p99, func(v float64) string { return ms(time.Duration(v)) }),
				spread(busy, func(v float64) string { return fmt.Sprintf("%.2f", v) }),
				spread(perCPU, func(v float64) string { return fmt.Sprintf("%.0f", v) }))
		}
	}
	if len(r.Searches) == 0 {
		return
	}
	var recs []float64
	for _, s := range r.Searches {
		recs = append(recs, float64(s.Records))
	}
	fmt.Fprintf(w, "\nsearches on a store of %s records (%d activities), one after the other:\n\n", spread(recs, func(v float64) string { return fmt.Sprintf("%.0f", v) }), c.Preload)
	fmt.Fprintf(w, "| Search | Alone p50 | Alone p99 | Under ingest p50 | Under ingest p99 | Rows |\n|---|---:|---:|---:|---:|---:|\n")
	for _, k := range []struct {
		name         string
		idle, loaded func(HTTPSearch) Latency
	}{
		{"one mailbox, the day, newest 1,000", func(s HTTPSearch) Latency { return s.IdleMailbox }, func(s HTTPSearch) Latency { return s.LoadedMailbox }},
		{"one actor, every mailbox, newest 100", func(s HTTPSearch) Latency { return s.IdleUnified }, func(s HTTPSearch) Latency { return s.LoadedUnfd }},
	} {
		var ip50, ip99, lp50, lp99, rows []float64
		for _, s := range r.Searches {
			ip50 = append(ip50, float64(k.idle(s).P50))
			ip99 = append(ip99, float64(k.idle(s).P99))
			lp50 = append(lp50, float64(k.loaded(s).P50))
			lp99 = append(lp99, float64(k.loaded(s).P99))
			rows = append(rows, k.idle(s).MeanRows)
		}
		d := func(v float64) string { return ms(time.Duration(v)) }
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", k.name, spread(ip50, d), spread(ip99, d), spread(lp50, d), spread(lp99, d),
			spread(rows, func(v float64) string { return fmt.Sprintf("%.0f", v) }))
	}
	var ing, ingp99 []float64
	var n []float64
	for _, s := range r.Searches {
		ing = append(ing, s.LoadedIngestActivitiesPerS)
		ingp99 = append(ingp99, float64(s.LoadedIngestP99))
		n = append(n, float64(s.LoadedMailbox.N))
	}
	fmt.Fprintf(w, "\nconcurrent ingest: %d clients × batches of %d, %s activities/s, request p99 %s; %s searches of each kind under it\n",
		c.SearchClients, c.SearchBatch, spread(ing, func(v float64) string { return fmt.Sprintf("%.0f", v) }),
		spread(ingp99, func(v float64) string { return ms(time.Duration(v)) }), spread(n, func(v float64) string { return fmt.Sprintf("%.0f", v) }))
}

// spread is the median of values, and their range when there are several.
func spread(values []float64, f func(float64) string) string {
	v := append([]float64(nil), values...)
	sort.Float64s(v)
	med := v[len(v)/2]
	if len(v)%2 == 0 {
		med = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	if len(v) == 1 {
		return f(med)
	}
	return fmt.Sprintf("%s (%s–%s)", f(med), f(v[0]), f(v[len(v)-1]))
}
