package cli

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailaudit/mailaudit/service"
)

func nonOwnerReportCmd(a *app) *cobra.Command {
	var spec service.NonOwnerReportSpec
	var start, end string
	var details bool
	cmd := &cobra.Command{
		Use:   "get-non-owner-mailbox-access-report [--start T] [--end T] [--mailboxes L] [--access-type T] [--show-details]",
		Short: "Which mailboxes were accessed by whom other than their owners, how often and with what",
		Long: `get-non-owner-mailbox-access-report is the Exchange admin center's "non-owner mailbox access report", without its
caps: for a period (by default the last two weeks) and a set of mailboxes (by default all), one line per mailbox,
account and logon type that accessed it other than the owner, with how often, which operations, from which client
addresses and applications, first and last time, and the audit entries behind the line (who, when, the action —
"Open Folder" for FolderBind, as the admin center labels it —, the folder, the messages, the result).

--access-type takes AllNonOwners (the default), External (the operator's staff), AdministratorsAndDelegates or
Administrators, or the admin center's wording ("All non-owners", "External users", "Administrators and delegated
users"), case-insensitively.

Output: the table has one line each, most accesses first (--sort-by mailbox, actor or last for other orders), under
a sentence that answers the question; --show-details lists each line with its entries. -o json prints one object
per line with its Entries; -o csv one row per entry, with its line's mailbox, account and logon type.`,
		Args: cobra.NoArgs,
		RunE: run(func(cmd *cobra.Command, args []string) error {
			switch a.output {
			case "table", "list", "json", "csv":
			default:
				return Usagef("output format %q does not apply to this report: use table, list, json or csv", a.output)
			}
			var err error
			if spec.Start, spec.End, err = service.NonOwnerWindow(start, end, time.Now()); err != nil {
				return err
			}
			spec.Entries = details || a.output == "json" || a.output == "csv"
			b, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			a.flush(cmd.Context(), b)
			rep, err := b.NonOwnerAccessReport(cmd.Context(), spec)
			if err != nil {
				return err
			}
			return a.printNonOwnerReport(rep, details)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&start, "start", "", "from (RFC 3339, a date, or an age like -14d; default: two weeks before --end)")
	f.StringVar(&end, "end", "", "until, exclusive (default: now)")
	f.StringSliceVar(&spec.Mailboxes, "mailboxes", nil, "mailboxes to report on, comma-separated (default: all)")
	f.StringVar(&spec.AccessType, "access-type", "AllNonOwners", "AllNonOwners, External, AdministratorsAndDelegates or Administrators")
	f.BoolVar(&details, "show-details", false, "list each line with the entries behind it")
	f.StringVar(&spec.SortBy, "sort-by", "accesses", "order of the lines: accesses (most first), mailbox, actor or last (most recent first)")
	return cmd
}

// clientApp is a client's name from its ClientInfoString
// (Client=IMAP4;name=Thunderbird;version=115.6.0 is Thunderbird), else the
// string itself.
func clientApp(info string) string {
	for _, part := range strings.Split(info, ";") {
		if k, v, ok := strings.Cut(part, "="); ok && strings.EqualFold(strings.TrimSpace(k), "name") && v != "" {
			return v
		}
	}
	return info
}

// trimmed runs f on a buffer and copies what it wrote to w without the
// spaces a table pads its last column with.
func trimmed(w io.Writer, f func(io.Writer) error) error {
	var b bytes.Buffer
	err := f(&b)
	bw := bufio.NewWriterSize(w, 1<<16)
	for rest := b.Bytes(); len(rest) > 0; {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
			bw.Write(bytes.TrimRight(line, " "))
			bw.WriteByte('\n')
		} else {
			bw.Write(bytes.TrimRight(line, " "))
			rest = nil
		}
	}
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	return err
}

// orBlank shows an empty list as nothing rather than {}.
func orBlank(list []string) any {
	if len(list) == 0 {
		return nil
	}
	return list
}

func clientApps(infos []string) []string {
	out := []string{}
	for _, i := range infos {
		if app := clientApp(i); !contains(out, app) {
			out = append(out, app)
		}
	}
	return out
}

func operationCounts(l *service.NonOwnerLine) []string {
	out := make([]string, len(l.Operations))
	for i, oc := range l.Operations {
		out[i] = fmt.Sprintf("%s×%d", oc.Action, oc.Count)
	}
	return out
}

func logonLabel(logon string, external bool) string {
	if external {
		return logon + " (external)"
	}
	return logon
}

func nonOwnerLineView(l *service.NonOwnerLine) []service.Property {
	return []service.Property{
		{Name: "Mailbox", Value: l.Mailbox},
		{Name: "AccessedBy", Value: l.AccessedBy},
		{Name: "LogonType", Value: logonLabel(l.LogonType, l.ExternalAccess)},
		{Name: "Accesses", Value: l.Accesses},
		{Name: "Entries", Value: l.EntryCount},
		{Name: "Failed", Value: l.Failed},
		{Name: "Operations", Value: operationCounts(l)},
		{Name: "ClientIPAddresses", Value: orBlank(l.ClientIPAddresses)},
		{Name: "ClientApps", Value: orBlank(clientApps(l.ClientInfoStrings))},
		{Name: "First", Value: l.First},
		{Name: "Last", Value: l.Last},
	}
}

var nonOwnerColumns = []string{"Mailbox", "AccessedBy", "LogonType", "Accesses", "Operations", "ClientIPAddresses", "ClientApps", "First", "Last"}

func (a *app) printNonOwnerReport(rep *service.NonOwnerReport, details bool) error {
	if a.output == "json" || a.output == "csv" {
		bw := bufio.NewWriterSize(a.stdout, 1<<16)
		err := a.writeNonOwnerReport(bw, rep, details)
		if ferr := bw.Flush(); err == nil {
			err = ferr
		}
		return err
	}
	return trimmed(a.stdout, func(w io.Writer) error { return a.writeNonOwnerReport(w, rep, details) })
}

func (a *app) writeNonOwnerReport(w io.Writer, rep *service.NonOwnerReport, details bool) error {
	switch a.output {
	case "json":
		fmt.Fprintln(a.stderr, rep.Summary())
		for _, l := range rep.Lines {
			b, err := json.Marshal(l)
			if err != nil {
				return err
			}
			if _, err := w.Write(append(b, '\n')); err != nil {
				return err
			}
		}
		return nil
	case "csv":
		fmt.Fprintln(a.stderr, rep.Summary())
		return writeNonOwnerCSV(w, rep)
	}
	fmt.Fprintln(w, rep.Summary())
	if len(rep.Lines) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	if a.output == "table" && !details {
		o := &objects{format: "table", columns: nonOwnerColumns}
		for _, l := range rep.Lines {
			o.add(nonOwnerLineView(l))
		}
		return o.write(w)
	}
	for i, l := range rep.Lines {
		if i > 0 {
			fmt.Fprintln(w)
		}
		o := &objects{format: "list"}
		o.add(nonOwnerLineView(l))
		if err := o.write(w); err != nil {
			return err
		}
		if details {
			writeEntries(w, l.Entries)
		}
	}
	return nil
}

// writeEntries lists a line's entries under it, one message a row.
func writeEntries(w io.Writer, entries []*service.NonOwnerEntry) {
	fmt.Fprintf(w, "Entries (oldest first):\n")
	trimmed(w, func(b io.Writer) error {
		writeEntryTable(b, entries)
		return nil
	})
}

func writeEntryTable(w io.Writer, entries []*service.NonOwnerEntry) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  LastAccessed\tAction\tCount\tFolder\tMessage\tResult\tClientIPAddress\tClientApp")
	for _, e := range entries {
		folder := e.Folder
		if e.DestFolder != "" {
			folder += " -> " + e.DestFolder
		}
		first := ""
		if len(e.Messages) > 0 {
			first = message(e.Messages[0])
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", e.LastAccessed.UTC().Format(time.RFC3339), e.Action, e.Count, folder, first,
			e.Result, e.ClientIPAddress, clientApp(e.ClientInfoString))
		for _, m := range e.Messages[min(1, len(e.Messages)):] {
			fmt.Fprintf(tw, "  \t\t\t\t%s\t\t\t\n", message(m))
		}
	}
	tw.Flush()
}

func message(m service.Message) string {
	switch {
	case m.Subject != "" && m.InternetMessageId != "":
		return fmt.Sprintf("%q %s", m.Subject, m.InternetMessageId)
	case m.Subject != "":
		return fmt.Sprintf("%q", m.Subject)
	}
	return m.InternetMessageId
}

var nonOwnerCSVColumns = []string{"Mailbox", "AccessedBy", "LogonType", "ExternalAccess", "LastAccessed", "Operation", "Action", "Count",
	"Folder", "DestFolder", "InternetMessageIds", "Subjects", "Result", "ClientIPAddress", "ClientInfoString", "Id"}

// writeNonOwnerCSV writes one row per entry, with its line's key columns, as
// a spreadsheet wants it.
func writeNonOwnerCSV(w io.Writer, rep *service.NonOwnerReport) error {
	cw := csv.NewWriter(w)
	cw.Write(nonOwnerCSVColumns)
	for _, l := range rep.Lines {
		for _, e := range l.Entries {
			var ids, subjects []string
			for _, m := range e.Messages {
				ids = append(ids, m.InternetMessageId)
				subjects = append(subjects, m.Subject)
			}
			cw.Write([]string{l.Mailbox, e.AccessedBy, e.LogonType, text(e.ExternalAccess), e.LastAccessed.UTC().Format(time.RFC3339Nano),
				e.Operation, e.Action, fmt.Sprint(e.Count), e.Folder, e.DestFolder, strings.Join(ids, "; "), strings.Join(subjects, "; "),
				e.Result, e.ClientIPAddress, e.ClientInfoString, e.Id})
		}
	}
	cw.Flush()
	return cw.Error()
}

func auditConfigReportCmd(a *app) *cobra.Command {
	var q service.MailboxQuery
	cmd := &cobra.Command{
		Use:   "get-mailbox-audit-configuration-report [IDENTITY] [--filter EXPR] [--type T,T]",
		Short: "Which mailboxes are audited and why, their lists against the defaults, and who acts on them unrecorded",
		Long: `get-mailbox-audit-configuration-report says, for every mailbox (or those IDENTITY, --filter and --type select),
whether it is audited and why (the organisation's AuditDisabled, the profile's default, AuditEnabled), its audit
lists against the profile's defaults (following DefaultAuditSet or customised; operations missing compared with the
defaults, among them those the defaults gained since the list was customised; extra ones; ones the profile does not
support), the logon types removed from DefaultAuditSet, and which bypassed accounts can act on it without a record
(its owner, grantees, accounts recorded there before their bypass). It ends with every bypassed account and when it
was bypassed.

The table is the summary; -o list and -o json (one object: the whole report) have every detail; -o csv has a row
per mailbox.`,
		Args: cobra.MaximumNArgs(1),
		RunE: run(func(cmd *cobra.Command, args []string) error {
			if err := checkObjectFormat(a.output); err != nil {
				return err
			}
			if len(args) == 1 {
				if q.Filter != "" || len(q.Types) > 0 {
					return Usagef("give either IDENTITY or --filter/--type, not both")
				}
				q.Identity = args[0]
			}
			b, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			rep, err := b.AuditConfigurationReport(cmd.Context(), q)
			if err != nil {
				return err
			}
			return a.printAuditConfigReport(rep)
		}),
	}
	cmd.Flags().StringVar(&q.Filter, "filter", "", "only the mailboxes matching this Exchange filter")
	cmd.Flags().StringSliceVar(&q.Types, "type", nil, "only mailboxes of these types")
	return cmd
}

// listSummaries names, per logon type, the operations pick takes from its
// list: "Owner: MailItemsAccessed Send".
func listSummaries(c *service.MailboxAuditConfig, pick func(service.AuditListConfig) []string) []string {
	out := []string{}
	for _, l := range c.Lists {
		if ops := pick(l); len(ops) > 0 {
			out = append(out, l.LogonType+": "+strings.Join(ops, " "))
		}
	}
	return out
}

func bypassedAccess(c *service.MailboxAuditConfig) []string {
	out := []string{}
	for _, g := range c.BypassedAccess {
		out = append(out, fmt.Sprintf("%s (%s)", g.Account, strings.Join(g.Access, ", ")))
	}
	return out
}

func auditConfigView(c *service.MailboxAuditConfig, full bool) []service.Property {
	props := []service.Property{
		{Name: "Mailbox", Value: c.Mailbox},
		{Name: "Type", Value: c.Type},
		{Name: "Audited", Value: c.Audited},
		{Name: "Reason", Value: c.Reason},
		{Name: "AuditEnabled", Value: c.AuditEnabled},
		{Name: "DefaultAuditSet", Value: c.DefaultAuditSet},
		{Name: "Customised", Value: orBlank(c.Customised)},
		{Name: "Missing", Value: orBlank(listSummaries(c, func(l service.AuditListConfig) []string { return l.Missing }))},
		{Name: "Extra", Value: orBlank(listSummaries(c, func(l service.AuditListConfig) []string { return l.Extra }))},
		{Name: "MissingNewDefaults", Value: orBlank(listSummaries(c, func(l service.AuditListConfig) []string { return l.MissingNewDefaults }))},
		{Name: "Unsupported", Value: orBlank(listSummaries(c, func(l service.AuditListConfig) []string { return l.Unsupported }))},
		{Name: "BypassedAccess", Value: orBlank(bypassedAccess(c))},
	}
	if full {
		for _, l := range c.Lists {
			props = append(props, service.Property{Name: "Audit" + l.LogonType, Value: l.Operations},
				service.Property{Name: "Audit" + l.LogonType + "Follows", Value: l.Follows})
		}
		props = append(props, service.Property{Name: "Notes", Value: strings.Join(c.Notes, " ")})
	}
	return props
}

var auditConfigColumns = []string{"Mailbox", "Audited", "Reason", "Customised", "Missing", "BypassedAccess"}

func bypassedAccountView(b service.BypassedAccount) []service.Property {
	return []service.Property{
		{Name: "Account", Value: b.Account},
		{Name: "BypassedSince", Value: b.BypassedSince},
		{Name: "Mailbox", Value: b.Mailbox},
		{Name: "Grants", Value: orBlank(b.Grants)},
		{Name: "RecordedOn", Value: orBlank(b.RecordedOn)},
	}
}

func (a *app) printAuditConfigReport(rep *service.AuditConfigReport) error {
	if a.output == "json" || a.output == "csv" {
		bw := bufio.NewWriterSize(a.stdout, 1<<16)
		err := a.writeAuditConfigReport(bw, rep)
		if ferr := bw.Flush(); err == nil {
			err = ferr
		}
		return err
	}
	return trimmed(a.stdout, func(w io.Writer) error { return a.writeAuditConfigReport(w, rep) })
}

func (a *app) writeAuditConfigReport(w io.Writer, rep *service.AuditConfigReport) error {
	switch a.output {
	case "json":
		b, err := json.Marshal(rep)
		if err != nil {
			return err
		}
		_, err = w.Write(append(b, '\n'))
		return err
	case "csv":
		fmt.Fprintln(a.stderr, rep.Summary())
		o := &objects{format: "csv", columns: append(auditConfigColumns[:len(auditConfigColumns):len(auditConfigColumns)],
			"Type", "AuditEnabled", "DefaultAuditSet", "Extra", "MissingNewDefaults", "Unsupported", "AuditAdmin", "AuditDelegate", "AuditOwner", "Notes")}
		for _, c := range rep.Mailboxes {
			o.add(auditConfigView(c, true))
		}
		return o.write(w)
	}
	fmt.Fprintf(w, "Organisation %s: profile %s, AuditDisabled %s.\n%s\n", rep.Organization, rep.AuditProfile, text(rep.AuditDisabled), rep.Summary())
	if len(rep.Mailboxes) > 0 {
		fmt.Fprintln(w)
		o := &objects{format: a.output, columns: auditConfigColumns}
		for _, c := range rep.Mailboxes {
			o.add(auditConfigView(c, a.output == "list"))
		}
		if err := o.write(w); err != nil {
			return err
		}
	}
	if len(rep.BypassedAccounts) > 0 {
		fmt.Fprintln(w, "\nBypassed accounts (nothing they do to any mailbox is recorded):")
		fmt.Fprintln(w)
		o := &objects{format: a.output, columns: []string{"Account", "BypassedSince", "Mailbox", "Grants", "RecordedOn"}}
		for _, b := range rep.BypassedAccounts {
			o.add(bypassedAccountView(b))
		}
		return o.write(w)
	}
	return nil
}
