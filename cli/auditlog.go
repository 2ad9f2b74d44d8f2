package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailaudit/mailaudit/audit"
	"github.com/mailaudit/mailaudit/export"
	"github.com/mailaudit/mailaudit/service"
)

func ingestCmd(a *app) *cobra.Command {
	var batch int
	cmd := &cobra.Command{
		Use:   "ingest [FILE|-]",
		Short: "Read activity as JSON Lines, decide and store it",
		Long: `ingest reads activity (one JSON object per line, shared/spec/records.md), applies the audit policy and
stores the records. Malformed lines are refused with their line number; the others are taken. Re-running
the same input is safe: activity already stored (same Source and SourceEventId) is counted as a duplicate.`,
		Args: cobra.MaximumNArgs(1),
		RunE: run(func(cmd *cobra.Command, args []string) error {
			if a.output != "table" && a.output != "json" && a.output != "list" {
				return Usagef("output format %q does not apply to ingest: use table or json", a.output)
			}
			in := a.stdin
			name := "standard input"
			if len(args) == 1 && args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return audit.Errorf(audit.ENotFound, "ingest: %v", err)
				}
				defer f.Close()
				in, name = f, args[0]
			}
			svc, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			rep, err := svc.Ingest(cmd.Context(), in, service.IngestOptions{Batch: batch})
			a.printIngest(rep)
			if err != nil {
				return fmt.Errorf("%w\nEverything up to line %d of %s is stored; run the same input again to continue (duplicates are skipped)", err, rep.Committed, name)
			}
			if len(rep.Refused) > 0 {
				return errPartlyRefused
			}
			return nil
		}),
	}
	cmd.Flags().IntVar(&batch, "batch", service.DefaultBatch, "activities per transaction")
	return cmd
}

func (a *app) printIngest(rep *service.IngestReport) {
	if a.output == "json" {
		b, _ := json.Marshal(rep)
		fmt.Fprintln(a.stdout, string(b))
		return
	}
	w := a.stdout
	fmt.Fprintf(w, "read         %d\n", rep.Read)
	fmt.Fprintf(w, "recorded     %d\n", rep.Recorded)
	fmt.Fprintf(w, "aggregated   %d\n", rep.Aggregated)
	fmt.Fprintf(w, "not audited  %d\n", rep.NotAudited)
	for _, rc := range rep.ReasonCounts() {
		fmt.Fprintf(w, "  %-40s %d\n", rc.Reason, rc.Count)
	}
	fmt.Fprintf(w, "duplicates   %d\n", rep.Duplicates)
	fmt.Fprintf(w, "refused      %d\n", len(rep.Refused))
	for _, r := range rep.Refused {
		fmt.Fprintf(a.stderr, "line %d: %s\n", r.Line, r.Reason)
	}
}

// recordWriter opens the export writer for -o.
func (a *app) recordWriter(ctx context.Context, b backend, details bool) (export.Writer, error) {
	org, err := b.Organization(ctx)
	if err != nil {
		return nil, err
	}
	// Written through a buffer: an export of millions of records is
	// otherwise a write system call per record.
	bw := bufio.NewWriterSize(a.stdout, 64<<10)
	w, err := export.New(a.output, bw, export.Options{OrganizationId: org.Id.String(), OrganizationName: org.Name, ShowDetails: details})
	if err != nil {
		return nil, usageError{err}
	}
	return &bufferedRecords{Writer: w, buf: bw, flushed: time.Now()}, nil
}

// bufferedRecords is an export writer whose output goes through a buffer,
// flushed when it is full, by Close, and when a record comes more than
// flushEvery after the last flush: a slow search (little found over months)
// still shows its records as it goes, at most one record behind.
type bufferedRecords struct {
	export.Writer
	buf     *bufio.Writer
	flushed time.Time
}

const flushEvery = 200 * time.Millisecond

func (b *bufferedRecords) Write(r *audit.Record) error {
	if err := b.Writer.Write(r); err != nil {
		return err
	}
	if now := time.Now(); now.Sub(b.flushed) > flushEvery {
		b.flushed = now
		return b.buf.Flush()
	}
	return nil
}

func (b *bufferedRecords) Close() error {
	err := b.Writer.Close()
	if ferr := b.buf.Flush(); err == nil {
		err = ferr
	}
	return err
}

// flush seals the aggregates whose window has ended, so that a search shows
// them. A search still runs when that is not possible (another process
// writes, the disk is full or read-only); it says what may be missing.
func (a *app) flush(ctx context.Context, svc backend) {
	if err := svc.Flush(ctx); err != nil {
		a.warn("MailItemsAccessed reads of the last minutes may be missing from these results: %v", err)
	}
}

func (a *app) more(next string) {
	if next != "" {
		fmt.Fprintf(a.stderr, "More records match: continue with --cursor %s\n", next)
	}
}

func searchMailboxCmd(a *app) *cobra.Command {
	var p service.MailboxSearch
	var start, end string
	var details bool
	var external *boolValue
	cmd := &cobra.Command{
		Use:   "search-mailbox-audit-log [IDENTITY]",
		Short: "Search mailboxes' audit records, newest first (Search-MailboxAuditLog)",
		Args:  cobra.MaximumNArgs(1),
		RunE: run(func(cmd *cobra.Command, args []string) error {
			svc, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			if p.Start, p.End, err = service.Window(start, end, time.Now()); err != nil {
				return err
			}
			p.Identities = append(args, p.Identities...)
			p.ExternalAccess = external.v
			a.flush(cmd.Context(), svc)
			w, err := a.recordWriter(cmd.Context(), svc, details)
			if err != nil {
				return err
			}
			next, err := svc.SearchMailboxAuditLog(cmd.Context(), p, w.Write)
			if cerr := w.Close(); err == nil {
				err = cerr
			}
			a.more(next)
			return err
		}),
	}
	f := cmd.Flags()
	f.StringSliceVar(&p.Identities, "mailboxes", nil, "mailboxes to search, comma-separated (default: all)")
	f.StringVar(&start, "start", "", "from (RFC 3339, a date, or an age like -7d; default -7d)")
	f.StringVar(&end, "end", "", "until, exclusive (default: now)")
	f.StringSliceVar(&p.Operations, "operations", nil, "operations to keep, comma-separated")
	f.StringSliceVar(&p.LogonTypes, "logon-types", nil, "Owner, Delegate, Admin, External")
	external = boolFlag(f, "external-access", "only records of the operator's staff")
	f.BoolVar(&details, "show-details", false, "list view shows every field")
	f.IntVar(&p.ResultSize, "result-size", service.MailboxSearchDefault, fmt.Sprintf("records at most (1 to %d)", service.MailboxSearchMax))
	f.StringVar(&p.Cursor, "cursor", "", "continue a previous search where it stopped")
	return cmd
}

func searchUnifiedCmd(a *app) *cobra.Command {
	var p service.UnifiedSearch
	var start, end, size string
	var types []int
	cmd := &cobra.Command{
		Use:   "search-unified-audit-log",
		Short: "Search every audit record, admin records included (Search-UnifiedAuditLog)",
		Args:  cobra.NoArgs,
		RunE: run(func(cmd *cobra.Command, args []string) error {
			n, err := resultSize(size)
			if err != nil {
				return err
			}
			p.ResultSize, p.RecordTypes = n, types
			svc, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			if p.Start, p.End, err = service.Window(start, end, time.Now()); err != nil {
				return err
			}
			a.flush(cmd.Context(), svc)
			w, err := a.recordWriter(cmd.Context(), svc, true)
			if err != nil {
				return err
			}
			next, err := svc.SearchUnifiedAuditLog(cmd.Context(), p, w.Write)
			if cerr := w.Close(); err == nil {
				err = cerr
			}
			a.more(next)
			return err
		}),
	}
	f := cmd.Flags()
	f.StringVar(&start, "start", "", "from (RFC 3339, a date, or an age like -7d; default -7d)")
	f.StringVar(&end, "end", "", "until, exclusive (default: now)")
	f.StringSliceVar(&p.Operations, "operations", nil, "operations or admin commands (Set-Mailbox), comma-separated")
	f.StringSliceVar(&p.UserIds, "user-ids", nil, "actors, comma-separated")
	f.StringSliceVar(&p.ObjectIds, "object-ids", nil, "objects acted on: item ids, Message-IDs, folder paths, mailboxes")
	f.StringSliceVar(&p.IPAddresses, "ip-addresses", nil, "client IP addresses")
	f.StringVar(&p.FreeText, "free-text", "", "text in subjects and folder paths")
	f.IntSliceVar(&types, "record-type", nil, "record types: 1 admin, 2 item, 3 item group, 50 MailItemsAccessed, 101 search")
	f.StringVar(&size, "result-size", strconv.Itoa(service.UnifiedSearchDefault), "records in this page, or unlimited for all")
	f.StringVar(&p.Cursor, "cursor", "", "continue a previous search where it stopped")
	return cmd
}

func retentionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "start-audit-retention",
		Short: "Delete the records older than each mailbox's AuditLogAgeLimit now",
		Args:  cobra.NoArgs,
		RunE: run(func(cmd *cobra.Command, args []string) error {
			svc, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			n, err := svc.Retain(cmd.Context(), actor())
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%d records past their age limit deleted\n", n)
			return nil
		}),
	}
}
