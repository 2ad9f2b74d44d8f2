package backlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"syscall"
	"time"

	"github.com/mailaudit/mailaudit/audit"
	"github.com/mailaudit/mailaudit/dovecot"
	"github.com/mailaudit/mailaudit/service"
	"github.com/mailaudit/mailaudit/sqlite"
)

// Result is what catching up on a backlog took.
type Result struct {
	Lines, Bytes int64
	Duration     time.Duration // from opening the store to the last line's commit
	LinesPerS    float64
	// CPU is the processor time (user and system, all threads) the process
	// spent meanwhile: less sensitive than Duration to other work on the
	// machine.
	CPU time.Duration
	// What the source handed over and what the engine made of it.
	Activities, Recorded, Aggregated, NotAudited, Duplicates int
	Transactions                                             int
	Records                                                  int64 // in the store at the end, after sealing aggregates
	// MaxSaved is the largest position the source saved with a batch (its
	// place in the log and the translator's open sessions), in bytes.
	MaxSaved int
}

// SealInterval is how often Run seals aggregates whose window ended, as
// `mailaudit serve` does by default.
const SealInterval = 10 * time.Second

// Run reads the Dovecot log at path with dovecot.Source into a new store in
// dir (which must not hold one), as `mailaudit serve --dovecot-log path`
// would, and returns once the position of the log's last line is committed.
// lines is how many lines the log has.
func Run(ctx context.Context, path, dir string, lines int64) (*Result, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("backlog: %w", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		return nil, fmt.Errorf("backlog: %s is not empty; give a new directory", dir)
	}
	res := &Result{Lines: lines, Bytes: fi.Size()}
	began, cpu0 := time.Now(), cpuTime()
	st, err := sqlite.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("backlog: opening the store: %w", err)
	}
	defer st.Close()
	svc, err := service.Open(ctx, st)
	if err != nil {
		return nil, fmt.Errorf("backlog: opening the service: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	k := &sink{svc: svc, path: path, res: res, done: make(chan struct{})}
	src := &dovecot.Source{Path: path, Translator: dovecot.NewTranslator(dovecot.Options{}), Sink: k,
		Log: slog.New(slog.DiscardHandler)}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := src.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			errs <- fmt.Errorf("backlog: the source stopped: %w", err)
			cancel()
		}
	}()
	go func() {
		defer wg.Done()
		tick := time.NewTicker(SealInterval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if err := svc.Flush(ctx); err != nil && ctx.Err() == nil {
					errs <- fmt.Errorf("backlog: sealing aggregates: %w", err)
					cancel()
					return
				}
			}
		}
	}()
	select {
	case <-k.done:
	case <-ctx.Done():
	}
	cancel()
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	if k.err != nil {
		return nil, k.err
	}
	if err := svc.Flush(context.Background()); err != nil {
		return nil, fmt.Errorf("backlog: sealing aggregates: %w", err)
	}
	res.Duration, res.CPU = time.Since(began), cpuTime()-cpu0
	res.LinesPerS = float64(res.Lines) / res.Duration.Seconds()
	if res.Records, err = st.Count(context.Background()); err != nil {
		return nil, fmt.Errorf("backlog: counting records: %w", err)
	}
	return res, nil
}

// sink hands the source's activity to the service, as serve's does, and
// tells when the position of the log's end is committed.
type sink struct {
	svc  *service.Service
	path string
	res  *Result
	done chan struct{}
	once sync.Once
	err  error
}

func (k *sink) Ingest(ctx context.Context, acts []*audit.Activity, positions map[string]string) error {
	rep, err := k.svc.IngestActivities(ctx, acts, positions)
	if err != nil {
		return err
	}
	k.res.Transactions++
	k.res.Activities += len(acts)
	k.res.Recorded += rep.Recorded
	k.res.Aggregated += rep.Aggregated
	k.res.NotAudited += rep.NotAudited
	k.res.Duplicates += rep.Duplicates
	for _, p := range positions {
		k.res.MaxSaved = max(k.res.MaxSaved, len(p))
		lag, err := dovecot.Lag(k.path, p)
		if err != nil {
			k.err = fmt.Errorf("backlog: reading the committed position: %w", err)
			k.once.Do(func() { close(k.done) })
		} else if lag == 0 {
			k.once.Do(func() { close(k.done) })
		}
	}
	return nil
}

func (k *sink) Position(ctx context.Context, key string) (string, error) {
	return k.svc.Position(ctx, key)
}

// Print writes the figures.
func (r *Result) Print(w io.Writer, st Stats) {
	fmt.Fprintf(w, "Dovecot backlog: %d lines (%.1f MB), %d sessions over %d mailboxes, %.0f open at once on average\n",
		r.Lines, float64(r.Bytes)/1e6, st.Sessions, st.Users, st.Open)
	if st.Lines > 0 {
		pc := func(n int64) float64 { return 100 * float64(n) / float64(st.Lines) }
		fmt.Fprintf(w, "  lines: %.1f %% exported events, %.1f %% mail_log, %.1f %% logins, %.1f %% other\n",
			pc(st.Events), pc(st.MailLog), pc(st.Logins), pc(st.Other))
	}
	fmt.Fprintf(w, "  caught up in %s: %.0f lines/s (%.1f MB/s); %s of processor time, %.0f lines per processor-second\n",
		r.Duration.Round(time.Millisecond), r.LinesPerS, float64(r.Bytes)/1e6/r.Duration.Seconds(), r.CPU.Round(time.Millisecond), float64(r.Lines)/r.CPU.Seconds())
	fmt.Fprintf(w, "  %d activities in %d transactions: %d recorded, %d aggregated, %d not audited, %d duplicates; %d records in the store\n",
		r.Activities, r.Transactions, r.Recorded, r.Aggregated, r.NotAudited, r.Duplicates, r.Records)
	fmt.Fprintf(w, "  largest position saved with a batch (the open sessions): %.1f kB\n", float64(r.MaxSaved)/1e3)
}

// Bench generates a backlog of cfg.Lines lines into dir (a new temporary
// directory when dir is ""; it is removed afterwards unless keep), catches
// up on it into a new store there, and prints the figures to w, as
// `mailaudit bench --dovecot-backlog` does. With cpuProfile, the catching up
// is profiled into that file.
func Bench(ctx context.Context, w io.Writer, dir string, keep bool, cfg Config, cpuProfile string) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "mailaudit-backlog-")
		if err != nil {
			return fmt.Errorf("backlog: %w", err)
		}
		dir = d
		if !keep {
			defer os.RemoveAll(dir)
		}
	} else if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		return fmt.Errorf("backlog: %s is not empty; give a new directory", dir)
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("backlog: %w", err)
	}
	path := filepath.Join(dir, "dovecot-audit.log")
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("backlog: %w", err)
	}
	st, err := Generate(f, cfg)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("backlog: writing %s: %w", path, cerr)
	}
	if err != nil {
		return err
	}
	if cpuProfile != "" {
		pf, err := os.Create(cpuProfile)
		if err != nil {
			return fmt.Errorf("backlog: %w", err)
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return fmt.Errorf("backlog: %w", err)
		}
	}
	res, err := Run(ctx, path, filepath.Join(dir, "data"), st.Lines)
	if cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return err
	}
	res.Print(w, st)
	if keep {
		fmt.Fprintf(w, "log and store kept in %s\n", dir)
	}
	return nil
}

// cpuTime is the processor time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
