package bench

import (
	"context"
	"flag"
	"os"
	"testing"
)

var (
	reportDir        = flag.String("report.dir", "", "data directory of the non-owner report benchmark's store: built when empty, reused when not (default: a temporary one)")
	reportActivities = flag.Int("report.activities", ReportDefaults("").Activities, "activities the report benchmark's store is built from")
	reportMailboxes  = flag.Int("report.mailboxes", ReportDefaults("").Mailboxes, "mailboxes of the report benchmark's store")
	reportRuns       = flag.Int("report.runs", ReportDefaults("").Runs, "times each report is timed")
)

// BenchmarkNonOwnerReport times get-non-owner-mailbox-access-report over the
// last two weeks of a store of about ten million records (12,900,000
// activities across 10,000 mailboxes over 90 days, non-owners among them
// delegates, administrators and the operator's staff), for every access
// type, once per iteration. Building the store takes a while; -report.dir
// keeps it for the next run.
func BenchmarkNonOwnerReport(b *testing.B) {
	cfg := ReportDefaults(*reportDir)
	if cfg.Dir == "" {
		cfg.Dir = b.TempDir()
	}
	cfg.Activities, cfg.Mailboxes, cfg.Runs = *reportActivities, *reportMailboxes, *reportRuns
	if testing.Verbose() {
		cfg.Progress = os.Stderr
	}
	for b.Loop() {
		res, err := RunReport(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		res.Print(os.Stdout)
		b.ReportMetric(res.Timings[0].Latency.P50.Seconds(), "s/report")
		b.ReportMetric(float64(res.Build.Records), "records")
	}
}

// TestReportWorkload: the report workload's non-owner sessions are of all
// three kinds, and a small store of it answers every access type.
func TestReportWorkload(t *testing.T) {
	cfg := ReportDefaults(t.TempDir())
	cfg.Activities, cfg.Mailboxes, cfg.Days, cfg.Runs = 20_000, 50, 20, 1
	res, err := RunReport(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tm := range res.Timings[:5] { // the one mailbox may have had no visitor in so small a store
		if tm.Lines == 0 || tm.Entries == 0 {
			t.Errorf("%s: %d lines, %d entries; want some", tm.Name, tm.Lines, tm.Entries)
		}
	}
	all, admins, external := res.Timings[0], res.Timings[3], res.Timings[4]
	if admins.Entries >= all.Entries || external.Entries >= all.Entries {
		t.Errorf("administrators %d and external %d entries, all non-owners %d: want fewer", admins.Entries, external.Entries, all.Entries)
	}
}
