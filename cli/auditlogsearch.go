package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailaudit/mailaudit/audit"
	"github.com/mailaudit/mailaudit/service"
)

// auditLogSearchView is a background search as get-audit-log-search shows it.
func auditLogSearchView(as *audit.AuditLogSearch) service.Object {
	o := service.Object{
		{Name: "Identity", Value: as.Identity.String()},
		{Name: "Name", Value: as.Name},
		{Name: "Type", Value: "Mailbox"},
		{Name: "State", Value: string(as.State)},
		{Name: "CreatedBy", Value: as.CreatedBy},
		{Name: "CreationTime", Value: as.CreationTime},
		{Name: "Mailboxes", Value: nonNil(as.Mailboxes)},
		{Name: "StartDate", Value: as.StartDate},
		{Name: "EndDate", Value: as.EndDate},
		{Name: "LogonTypes", Value: nonNil(as.LogonTypes)},
		{Name: "Operations", Value: nonNil(as.Operations)},
		{Name: "ShowDetails", Value: as.ShowDetails},
		{Name: "ExternalAccess", Value: as.ExternalAccess},
		{Name: "StatusMailRecipients", Value: nonNil(as.StatusMailRecipients)},
		{Name: "Formats", Value: nonNil(as.Formats)},
		{Name: "Records", Value: as.Records},
		{Name: "DeliveryAttempts", Value: as.DeliveryAttempts},
	}
	for _, p := range []service.Property{{Name: "CompletedTime", Value: as.CompletedTime}, {Name: "NextAttempt", Value: as.NextAttempt},
		{Name: "DeliveredTime", Value: as.DeliveredTime}, {Name: "ResultExpiredTime", Value: as.ResultExpiredTime}} {
		if !p.Value.(time.Time).IsZero() {
			o = append(o, p)
		}
	}
	if as.LastError != "" {
		o = append(o, service.Property{Name: "LastError", Value: as.LastError})
	}
	return o
}

func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

var auditLogSearchColumns = []string{"Name", "State", "CreationTime", "Records", "StatusMailRecipients"}

func newAuditLogSearchCmd(a *app) *cobra.Command {
	var spec service.NewAuditLogSearchSpec
	var start, end string
	cmd := &cobra.Command{
		Use:   "new-mailbox-audit-log-search --start-date T --end-date T --status-mail-recipients L [--mailboxes L] [--name S]",
		Short: "Search mailboxes' audit records in the background and mail the result as SearchResult.xml (New-MailboxAuditLogSearch)",
		Long: `new-mailbox-audit-log-search queues a search over the audit log that the daemon runs in the background,
without a result-size cap. The result is mailed to --status-mail-recipients through the daemon's SMTP relay as
SearchResult.xml (--formats adds csv and json attachments), and can be downloaded with get-audit-log-search-result.
get-audit-log-search follows its state: Queued, Running, Delivering, Delivered (or Failed, DeliveryFailed).
Searches survive a restart of the daemon; a delivery that failed for a reason that may pass (4xx, the relay
unreachable) is retried for about a day, one the relay refused for good (5xx) is not.

Run it with --server: the daemon runs it. Locally, the search is queued in the data directory and runs when
mailaudit serve next runs there.`,
		Args: cobra.NoArgs,
		RunE: run(func(cmd *cobra.Command, args []string) error {
			if err := checkObjectFormat(a.output); err != nil {
				return err
			}
			if start == "" || end == "" {
				return Usagef("--start-date and --end-date are required")
			}
			if len(spec.StatusMailRecipients) == 0 {
				return Usagef("--status-mail-recipients is required: the addresses the result is mailed to")
			}
			now := time.Now()
			var err error
			if spec.StartDate, err = service.ParseWhen(start, now); err != nil {
				return err
			}
			if spec.EndDate, err = service.ParseWhen(end, now); err != nil {
				return err
			}
			b, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			as, err := b.NewAuditLogSearch(cmd.Context(), actor(), spec)
			if err != nil {
				return err
			}
			o := &objects{format: a.output, columns: append([]string{"Identity"}, auditLogSearchColumns...)}
			o.add(auditLogSearchView(as))
			if a.server == "" {
				fmt.Fprintln(a.stderr, "The search is queued in the data directory; mailaudit serve runs it and mails the result.")
			}
			return o.write(a.stdout)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&spec.Name, "name", "", "the search's name, the mail's subject (at most 64 characters)")
	f.StringSliceVar(&spec.Mailboxes, "mailboxes", nil, "mailboxes to search, comma-separated (default: all)")
	f.StringVar(&start, "start-date", "", "from (RFC 3339, a date, or an age like -30d); required")
	f.StringVar(&end, "end-date", "", "until, exclusive; required")
	f.StringSliceVar(&spec.LogonTypes, "logon-types", nil, "Owner, Delegate, Admin, External")
	f.StringSliceVar(&spec.Operations, "operations", nil, "operations to keep, comma-separated")
	f.BoolVar(&spec.ShowDetails, "show-details", false, "SearchResult.xml with every entry's full details and items, not its summary; needed for --logon-types Owner")
	f.BoolVar(&spec.ExternalAccess, "external-access", false, "only records of the operator's staff")
	f.StringSliceVar(&spec.StatusMailRecipients, "status-mail-recipients", nil, "addresses the result is mailed to; required")
	f.StringSliceVar(&spec.Formats, "formats", nil, "attachments besides SearchResult.xml: csv, json")
	return cmd
}

func getAuditLogSearchCmd(a *app) *cobra.Command {
	var q service.AuditLogSearchQuery
	var after, before, size string
	cmd := &cobra.Command{
		Use:   "get-audit-log-search [IDENTITY]",
		Short: "List background searches, pending and finished, with their state (Get-AuditLogSearch)",
		Args:  cobra.MaximumNArgs(1),
		RunE: run(func(cmd *cobra.Command, args []string) error {
			if err := checkObjectFormat(a.output); err != nil {
				return err
			}
			n, err := resultSize(size)
			if err != nil {
				return err
			}
			q.ResultSize = n
			if len(args) == 1 {
				q.Identity = args[0]
			}
			now := time.Now()
			if after != "" {
				if q.CreatedAfter, err = service.ParseWhen(after, now); err != nil {
					return err
				}
			}
			if before != "" {
				if q.CreatedBefore, err = service.ParseWhen(before, now); err != nil {
					return err
				}
			}
			b, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			found, err := b.AuditLogSearches(cmd.Context(), q)
			if err != nil {
				return err
			}
			o := &objects{format: a.output, columns: auditLogSearchColumns}
			for _, as := range found {
				o.add(auditLogSearchView(as))
			}
			return o.write(a.stdout)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&after, "created-after", "", "only searches created after this time")
	f.StringVar(&before, "created-before", "", "only searches created before this time")
	f.StringVar(&size, "result-size", "1000", "how many searches at most, or unlimited")
	return cmd
}

func getAuditLogSearchResultCmd(a *app) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "get-audit-log-search-result IDENTITY [--format xml|csv|json]",
		Short: "Write a finished background search's result (SearchResult.xml) to standard output",
		Args:  cobra.ExactArgs(1),
		RunE: run(func(cmd *cobra.Command, args []string) error {
			b, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			rc, err := b.AuditLogSearchResult(cmd.Context(), args[0], format)
			if err != nil {
				return err
			}
			defer rc.Close()
			_, err = io.Copy(a.stdout, rc)
			return err
		}),
	}
	cmd.Flags().StringVar(&format, "format", "xml", "xml, csv or json (as the search kept it)")
	return cmd
}
