package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/mailaudit/mailaudit/bench"
	"github.com/mailaudit/mailaudit/dovecot/backlog"
)

func benchCmd(a *app) *cobra.Command {
	cfg := bench.Defaults("")
	var backlogLines int
	var keep, httpMode bool
	var exportFrom string
	var exportFormats []string
	var exportSizes []int
	var exportServer bool
	var report bool
	rcfg := bench.ReportDefaults("")
	hcfg := bench.HTTPDefaults()
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure ingest, search and size on a generated organisation",
		Long: `bench generates a workload (by default 1,000,000 activities across 10,000 mailboxes over 90 days),
ingests it through the engine into a new embedded store, and times the searches an auditor runs. The
figures are those docs/benchmarks.md records.

With --export-from DIR it runs the real export (search-unified-audit-log -o FORMAT) over a store
built earlier with --keep or --non-owner-report, once per format and per --export-sizes (records,
newest first; 0 all of them), and reports the records written, time to first byte, total time and the
export process's memory, sampled while it runs: peak and at half the output, each split into its own
(anon) and the store's mapped pages (file). --export-server exports through a daemon started on the
store (retention off) with --server too, and samples the daemon's memory as well.

With --non-owner-report it builds a store of about ten million records (12,900,000 activities across
10,000 mailboxes over 90 days; --activities, --mailboxes, --days, --seed apply) in --dir, or reuses the
store already there, and times get-non-owner-mailbox-access-report over its last two weeks for every
access type (--runs times each).

With --http it runs a daemon (as serve does) on a loopback port instead, and times ingest over the
HTTP API with every number of --clients and every --batches size (--duration each, on a new data
directory), then searches over HTTP alone and while clients ingest; all of it --repeat times, printing
each figure's median and range. --mailboxes, --seed and --dir (where the data directories go) apply.`,
		Args: cobra.NoArgs,
		RunE: run(func(cmd *cobra.Command, args []string) error {
			if backlogLines > 0 {
				bc := backlog.Defaults()
				bc.Lines, bc.Seed = backlogLines, cfg.Seed
				return backlog.Bench(cmd.Context(), a.stdout, cfg.Dir, keep, bc, cfg.CPUProfile)
			}
			if report {
				f := cmd.Flags()
				if cfg.Dir == "" {
					return Usagef("bench --non-owner-report needs --dir: the store takes a while to build and is kept there")
				}
				rcfg.Dir, rcfg.Seed, rcfg.Progress = cfg.Dir, cfg.Seed, a.stderr
				if f.Changed("activities") {
					rcfg.Activities = cfg.Activities
				}
				if f.Changed("mailboxes") {
					rcfg.Mailboxes = cfg.Mailboxes
				}
				if f.Changed("days") {
					rcfg.Days = cfg.Days
				}
				res, err := bench.RunReport(cmd.Context(), rcfg)
				if err != nil {
					return err
				}
				res.Print(a.stdout)
				return nil
			}
			if exportFrom != "" {
				res, err := bench.Export(cmd.Context(), bench.ExportConfig{Data: exportFrom, Formats: exportFormats,
					Sizes: exportSizes, Server: exportServer})
				if err != nil {
					return err
				}
				bench.PrintExport(a.stdout, res)
				return nil
			}
			if httpMode {
				f := cmd.Flags()
				if f.Changed("mailboxes") {
					hcfg.Mailboxes = cfg.Mailboxes
				}
				if f.Changed("seed") {
					hcfg.Seed = cfg.Seed
				}
				hcfg.Dir, hcfg.Progress = cfg.Dir, a.stderr
				res, err := bench.RunHTTP(cmd.Context(), hcfg)
				if err != nil {
					return err
				}
				res.Print(a.stdout)
				return nil
			}
			if cfg.Dir == "" {
				dir, err := os.MkdirTemp("", "mailaudit-bench-")
				if err != nil {
					return err
				}
				cfg.Dir = dir
				if !keep {
					defer os.RemoveAll(dir)
				}
			} else if entries, _ := os.ReadDir(cfg.Dir); len(entries) > 0 {
				return Usagef("bench: %s is not empty; give a new directory", cfg.Dir)
			}
			res, svc, st, err := bench.Ingest(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := bench.Searches(cmd.Context(), svc, res); err != nil {
				return err
			}
			res.Print(a.stdout)
			if keep {
				fmt.Fprintf(a.stdout, "store kept in %s\n", cfg.Dir)
			}
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Dir, "dir", "", "data directory to build the store in (default: a temporary one)")
	f.BoolVar(&keep, "keep", false, "keep the store afterwards")
	f.IntVar(&cfg.Activities, "activities", cfg.Activities, "activities to ingest")
	f.IntVar(&cfg.Mailboxes, "mailboxes", cfg.Mailboxes, "mailboxes they are spread across")
	f.IntVar(&cfg.Days, "days", cfg.Days, "days they are spread over")
	f.IntVar(&cfg.Batch, "batch", cfg.Batch, "activities per transaction")
	f.IntVar(&cfg.Searches, "searches", cfg.Searches, "searches of each kind to time")
	f.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the workload")
	f.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of the ingest to this file")
	f.BoolVar(&cfg.Parsed, "parsed", false, "feed decoded activities, as a source does, instead of JSON Lines")
	f.IntVar(&backlogLines, "dovecot-backlog", 0, "instead, time the Dovecot source catching up on a generated log of this many lines (--dir, --keep, --seed, --cpuprofile apply)")
	f.StringVar(&exportFrom, "export-from", "", "time exporting every record of this store (one built with --keep) with search-unified-audit-log, and its peak memory")
	f.StringSliceVar(&exportFormats, "export-formats", []string{"json", "m365", "csv", "xml"}, "with --export-from: the formats")
	f.IntSliceVar(&exportSizes, "export-sizes", []int{0}, "with --export-from: numbers of records to export, newest first (0: all)")
	f.BoolVar(&exportServer, "export-server", false, "with --export-from: also export through a daemon (serve on the store, in a process of its own) with --server")
	f.BoolVar(&report, "non-owner-report", false, "instead, time the non-owner access report over a store of about ten million records built in (or reused from) --dir")
	f.IntVar(&rcfg.Runs, "runs", rcfg.Runs, "with --non-owner-report: times each report is run")
	f.BoolVar(&httpMode, "http", false, "time ingest and searches over the HTTP API of a daemon instead")
	f.IntSliceVar(&hcfg.Clients, "clients", hcfg.Clients, "with --http: numbers of concurrent ingest clients")
	f.IntSliceVar(&hcfg.Batches, "batches", hcfg.Batches, "with --http: activities per request")
	f.DurationVar(&hcfg.Duration, "duration", hcfg.Duration, "with --http: how long each measurement runs")
	f.IntVar(&hcfg.Repeat, "repeat", hcfg.Repeat, "with --http: runs, of which the median is printed")
	f.BoolVar(&hcfg.NoSearch, "no-search", false, "with --http: time ingest only")
	return cmd
}
