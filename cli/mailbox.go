package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mailaudit/mailaudit/audit"
	"github.com/mailaudit/mailaudit/service"
)

var mailboxColumns = []string{"PrimarySmtpAddress", "DisplayName", "RecipientTypeDetails", "AuditEnabled", "DefaultAuditSet", "AuditLogAgeLimit"}

// attributes reads --set NAME=VALUE flags.
func attributes(sets []string) (map[string]string, error) {
	if len(sets) == 0 {
		return nil, nil
	}
	m := map[string]string{}
	for _, s := range sets {
		k, v, ok := strings.Cut(s, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, Usagef("--set takes NAME=VALUE, not %q", s)
		}
		m[strings.TrimSpace(k)] = v
	}
	return m, nil
}

func newMailboxCmd(a *app) *cobra.Command {
	var spec service.NewMailboxSpec
	var sets []string
	cmd := &cobra.Command{
		Use:   "new-mailbox ADDRESS",
		Short: "Create a mailbox (New-Mailbox)",
		Args:  cobra.ExactArgs(1),
		RunE: run(func(cmd *cobra.Command, args []string) error {
			if err := checkObjectFormat(a.output); err != nil {
				return err
			}
			var err error
			if spec.Attributes, err = attributes(sets); err != nil {
				return err
			}
			spec.Address = args[0]
			b, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			m, err := b.NewMailbox(cmd.Context(), actor(), spec)
			if err != nil {
				return err
			}
			p, err := profile(cmd.Context(), b)
			if err != nil {
				return err
			}
			o := &objects{format: a.output, columns: mailboxColumns}
			o.add(service.MailboxView(p, m))
			return o.write(a.stdout)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&spec.DisplayName, "display-name", "", "display name (default: the alias)")
	f.StringVar(&spec.Alias, "alias", "", "alias (default: the local part of the address)")
	f.StringVar(&spec.Type, "type", "UserMailbox", "UserMailbox, SharedMailbox, RoomMailbox, EquipmentMailbox, DiscoveryMailbox or GroupMailbox")
	f.StringArrayVar(&sets, "set", nil, "set an attribute: NAME=VALUE (Department, Company, Office, City, StateOrProvince, PostalCode, CountryOrRegion, Title, CustomAttribute1…15)")
	f.StringArrayVar(&spec.EmailAddresses, "email-address", nil, "a further address of the mailbox (repeatable)")
	return cmd
}

// resultSize reads N or unlimited; unlimited is 0.
func resultSize(s string) (int, error) {
	if strings.EqualFold(s, "unlimited") {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, Usagef("--result-size takes a positive number or unlimited, not %q", s)
	}
	return n, nil
}

func getMailboxCmd(a *app) *cobra.Command {
	var q service.MailboxQuery
	var size string
	var sel []string
	cmd := &cobra.Command{
		Use:   "get-mailbox [IDENTITY]",
		Short: "List mailboxes with their audit settings (Get-Mailbox)",
		Args:  cobra.MaximumNArgs(1),
		RunE: run(func(cmd *cobra.Command, args []string) error {
			if err := checkObjectFormat(a.output); err != nil {
				return err
			}
			n, err := resultSize(size)
			if err != nil {
				return err
			}
			if len(args) == 1 {
				q.Identity = args[0]
			}
			svc, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			ms, err := svc.Mailboxes(cmd.Context(), q)
			if err != nil {
				return err
			}
			if n > 0 && len(ms) > n {
				ms = ms[:n]
				a.warn("By default, only the first %d items are returned. Use the ResultSize parameter to specify the number of items returned. To return all items, specify \"--result-size unlimited\".", n)
			}
			o := &objects{format: a.output, columns: mailboxColumns, selected: sel}
			p, err := profile(cmd.Context(), svc)
			if err != nil {
				return err
			}
			for _, m := range ms {
				o.add(service.MailboxView(p, m))
			}
			return o.write(a.stdout)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&q.Filter, "filter", "", "Exchange filter, e.g. 'AuditEnabled -eq $false'")
	f.StringSliceVar(&q.Types, "type", nil, "mailbox types (RecipientTypeDetails), comma-separated")
	f.StringVar(&size, "result-size", "1000", "how many mailboxes at most, or unlimited")
	f.StringSliceVar(&sel, "select", nil, "properties to show, wildcards allowed (Audit*)")
	return cmd
}

// targets reads IDENTITY or --filter/--type for the commands that act on
// several mailboxes.
func targets(args []string, q *service.MailboxQuery) error {
	switch {
	case len(args) == 1 && (q.Filter != "" || len(q.Types) > 0):
		return Usagef("give either IDENTITY or --filter/--type, not both")
	case len(args) == 1:
		q.Identity = args[0]
	case q.Filter == "" && len(q.Types) == 0:
		return Usagef("give IDENTITY, or --filter and/or --type to select mailboxes")
	}
	return nil
}

// printResults prints what a change did to each object and says whether any
// was refused.
func (a *app) printResults(results []service.Result) error {
	if len(results) == 1 && results[0].Err != nil {
		return results[0].Err // Run prints it
	}
	refused := 0
	for _, r := range results {
		switch {
		case r.Err != nil:
			refused++
			fmt.Fprintf(a.stderr, "%s: %v\n", r.Object, r.Err)
		case r.Warning != "" && len(r.Modified) == 0:
			a.warn("%s", r.Warning)
		default:
			for _, m := range r.Modified {
				fmt.Fprintf(a.stdout, "%s: %s: %s -> %s\n", r.Object, m.Name, show(m.OldValue), show(m.NewValue))
			}
			if r.Warning != "" {
				a.warn("%s: %s", r.Object, r.Warning)
			}
		}
	}
	if refused > 0 {
		return errPartlyRefused
	}
	return nil
}

func show(v string) string {
	if v == "" {
		return "(none)"
	}
	return v
}

func setMailboxCmd(a *app) *cobra.Command {
	var q service.MailboxQuery
	var ch audit.MailboxChange
	var sets []string
	var lists [3]struct{ replace, add, remove []string }
	var defaultSet []string
	var displayName, alias string
	var auditEnabled *boolValue
	cmd := &cobra.Command{
		Use:   "set-mailbox IDENTITY | --filter EXPR [--type T,T]",
		Short: "Change a mailbox's audit settings and attributes (Set-Mailbox)",
		Args:  cobra.MaximumNArgs(1),
		RunE: run(func(cmd *cobra.Command, args []string) error {
			if err := targets(args, &q); err != nil {
				return err
			}
			var err error
			if ch.Attributes, err = attributes(sets); err != nil {
				return err
			}
			f := cmd.Flags()
			for _, lt := range audit.LogonTypes {
				name := "audit-" + strings.ToLower(lt.String())
				l := lists[lt]
				if f.Changed(name) {
					ch.Lists[lt].Replace = append([]string{}, l.replace...)
				}
				if f.Changed(name + "-add") {
					ch.Lists[lt].Add = append([]string{}, l.add...)
				}
				if f.Changed(name + "-remove") {
					ch.Lists[lt].Remove = append([]string{}, l.remove...)
				}
			}
			if f.Changed("default-audit-set") {
				ch.DefaultAuditSet = append([]string{}, defaultSet...)
			}
			if f.Changed("display-name") {
				ch.DisplayName = &displayName
			}
			if f.Changed("alias") {
				ch.Alias = &alias
			}
			ch.AuditEnabled = auditEnabled.ptr()
			svc, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			results, err := svc.SetMailbox(cmd.Context(), actor(), q, ch, params(cmd, args))
			if err != nil {
				return err
			}
			if len(results) == 0 {
				a.warn("No mailbox matched.")
			}
			return a.printResults(results)
		}),
	}
	f := cmd.Flags()
	auditEnabled = boolFlag(f, "audit-enabled", "turn auditing of the mailbox on or off (off-by-default profiles)")
	for _, lt := range audit.LogonTypes {
		name := "audit-" + strings.ToLower(lt.String())
		l := &lists[lt]
		f.StringSliceVar(&l.replace, name, nil, "replace the "+lt.String()+" list: operations, comma-separated, or None")
		f.StringSliceVar(&l.add, name+"-add", nil, "add operations to the "+lt.String()+" list")
		f.StringSliceVar(&l.remove, name+"-remove", nil, "remove operations from the "+lt.String()+" list")
	}
	f.StringSliceVar(&defaultSet, "default-audit-set", nil, "logon types whose lists follow the profile's defaults again (Admin,Delegate,Owner)")
	f.StringVar(&ch.AuditLogAgeLimit, "audit-log-age-limit", "", "how long records are kept: dd.hh:mm:ss, days, or a duration (2160h)")
	f.StringVar(&displayName, "display-name", "", "display name")
	f.StringVar(&alias, "alias", "", "alias")
	f.StringArrayVar(&sets, "set", nil, "set an attribute: NAME=VALUE (empty VALUE clears it)")
	f.StringArrayVar(&ch.AddEmailAddresses, "email-address-add", nil, "add a further address")
	f.StringArrayVar(&ch.RemoveEmailAddrs, "email-address-remove", nil, "remove a further address")
	f.StringVar(&q.Filter, "filter", "", "act on every mailbox matching this Exchange filter")
	f.StringSliceVar(&q.Types, "type", nil, "act on every mailbox of these types")
	return cmd
}

func removeMailboxCmd(a *app) *cobra.Command {
	var q service.MailboxQuery
	cmd := &cobra.Command{
		Use:   "remove-mailbox IDENTITY | --filter EXPR [--type T,T]",
		Short: "Remove a mailbox; its audit records stay until their age limit (Remove-Mailbox)",
		Args:  cobra.MaximumNArgs(1),
		RunE: run(func(cmd *cobra.Command, args []string) error {
			if err := targets(args, &q); err != nil {
				return err
			}
			svc, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			results, err := svc.RemoveMailbox(cmd.Context(), actor(), q)
			if err != nil {
				return err
			}
			if len(results) == 0 {
				a.warn("No mailbox matched.")
			}
			for _, r := range results {
				fmt.Fprintf(a.stdout, "%s: removed; its audit records are kept for %s\n", r.Object, audit.FormatAgeLimit(r.Mailbox.AuditLogAgeLimit))
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&q.Filter, "filter", "", "remove every mailbox matching this Exchange filter")
	cmd.Flags().StringSliceVar(&q.Types, "type", nil, "remove every mailbox of these types")
	return cmd
}
