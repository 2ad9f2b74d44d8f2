package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mailaudit/mailaudit/audit"
	"github.com/mailaudit/mailaudit/service"
)

func permissionCmd(a *app, add bool) *cobra.Command {
	var user, rights string
	name, short := "add-mailbox-permission", "Grant FullAccess, SendAs or SendOnBehalf on a mailbox (Add-MailboxPermission)"
	if !add {
		name, short = "remove-mailbox-permission", "Take a grant back (Remove-MailboxPermission)"
	}
	cmd := &cobra.Command{
		Use:   name + " IDENTITY --user U --access-rights FullAccess|SendAs|SendOnBehalf",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: run(func(cmd *cobra.Command, args []string) error {
			svc, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			change := svc.AddPermission
			if !add {
				change = svc.RemovePermission
			}
			res, err := change(cmd.Context(), actor(), args[0], user, rights)
			if err != nil {
				return err
			}
			return a.printResults([]service.Result{res})
		}),
	}
	cmd.Flags().StringVar(&user, "user", "", "the account the right is granted to")
	cmd.Flags().StringVar(&rights, "access-rights", "", "FullAccess, SendAs or SendOnBehalf")
	cmd.MarkFlagRequired("user")
	cmd.MarkFlagRequired("access-rights")
	return cmd
}

func addPermissionCmd(a *app) *cobra.Command    { return permissionCmd(a, true) }
func removePermissionCmd(a *app) *cobra.Command { return permissionCmd(a, false) }

func getPermissionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "get-mailbox-permission [IDENTITY]",
		Short: "List permission grants (Get-MailboxPermission)",
		Args:  cobra.MaximumNArgs(1),
		RunE: run(func(cmd *cobra.Command, args []string) error {
			if err := checkObjectFormat(a.output); err != nil {
				return err
			}
			svc, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			identity := ""
			if len(args) == 1 {
				identity = args[0]
			}
			ps, err := svc.Permissions(cmd.Context(), identity)
			if err != nil {
				return err
			}
			o := &objects{format: a.output, columns: []string{"Identity", "User", "AccessRights"}}
			for _, p := range ps {
				o.add(p.View())
			}
			return o.write(a.stdout)
		}),
	}
}

func getOrgCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "get-organization-config",
		Short: "Show organisation settings (Get-OrganizationConfig)",
		Args:  cobra.NoArgs,
		RunE: run(func(cmd *cobra.Command, args []string) error {
			if a.output == "table" {
				a.output = "list"
			}
			if err := checkObjectFormat(a.output); err != nil {
				return err
			}
			svc, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			o := &objects{format: a.output, columns: []string{"Name", "AuditDisabled", "AuditProfile"}}
			org, err := svc.Organization(cmd.Context())
			if err != nil {
				return err
			}
			o.add(service.OrganizationView(org))
			return o.write(a.stdout)
		}),
	}
}

func setOrgCmd(a *app) *cobra.Command {
	var ch service.OrgChange
	var profile, name string
	var throttle int
	var disabled *boolValue
	cmd := &cobra.Command{
		Use:   "set-organization-config",
		Short: "Change organisation settings (Set-OrganizationConfig)",
		Args:  cobra.NoArgs,
		RunE: run(func(cmd *cobra.Command, args []string) error {
			f := cmd.Flags()
			ch.AuditDisabled = disabled.ptr()
			if f.Changed("audit-profile") {
				ch.Profile = &profile
			}
			if f.Changed("mail-items-accessed-throttle") {
				ch.MailItemsAccessedThrottle = &throttle
			}
			if f.Changed("name") {
				ch.Name = &name
			}
			if !f.Changed("admin-hint-sources") {
				ch.AdminHintSources = nil
			} else if ch.AdminHintSources == nil {
				ch.AdminHintSources = []string{}
			}
			svc, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			res, warnings, err := svc.SetOrganization(cmd.Context(), actor(), ch, params(cmd, args))
			if err != nil {
				return err
			}
			for _, w := range warnings {
				a.warn("%s", w)
			}
			return a.printResults([]service.Result{res})
		}),
	}
	f := cmd.Flags()
	disabled = boolFlag(f, "audit-disabled", "stop all mailbox auditing (settings are kept)")
	f.StringVar(&profile, "audit-profile", "", "audit profile: "+strings.Join(audit.ProfileNames(), ", "))
	f.IntVar(&throttle, "mail-items-accessed-throttle", 0, "MailItemsAccessed records a mailbox may produce in 24 hours before binds are throttled")
	f.StringVar(&ch.AdminAuditLogAgeLimit, "admin-audit-log-age-limit", "", "how long admin audit records are kept")
	f.StringSliceVar(&ch.AdminHintSources, "admin-hint-sources", nil, "sources whose LogonTypeHint=Admin is trusted, or None")
	f.StringVar(&name, "name", "", "the organisation's name")
	return cmd
}

func getBypassCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "get-mailbox-audit-bypass-association [IDENTITY]",
		Short: "List bypass associations (Get-MailboxAuditBypassAssociation)",
		Args:  cobra.MaximumNArgs(1),
		RunE: run(func(cmd *cobra.Command, args []string) error {
			if err := checkObjectFormat(a.output); err != nil {
				return err
			}
			svc, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			identity := ""
			if len(args) == 1 {
				identity = args[0]
			}
			bs, err := svc.Bypasses(cmd.Context(), identity)
			if err != nil {
				return err
			}
			o := &objects{format: a.output, columns: []string{"Name", "WhenCreated", "AuditBypassEnabled"}}
			for _, b := range bs {
				o.add(service.BypassView(b))
			}
			return o.write(a.stdout)
		}),
	}
}

func setBypassCmd(a *app) *cobra.Command {
	var q service.MailboxQuery
	var enabled *boolValue
	cmd := &cobra.Command{
		Use:   "set-mailbox-audit-bypass-association IDENTITY | --filter EXPR --audit-bypass-enabled=BOOL",
		Short: "Exempt an account from auditing, or end that (Set-MailboxAuditBypassAssociation)",
		Args:  cobra.MaximumNArgs(1),
		RunE: run(func(cmd *cobra.Command, args []string) error {
			if err := targets(args, &q); err != nil {
				return err
			}
			if enabled.ptr() == nil {
				return Usagef("--audit-bypass-enabled=true or =false is required")
			}
			svc, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			results, err := svc.SetBypass(cmd.Context(), actor(), q, enabled.v)
			if err != nil {
				return err
			}
			if len(results) == 0 {
				a.warn("No mailbox matched.")
			}
			return a.printResults(results)
		}),
	}
	enabled = boolFlag(cmd.Flags(), "audit-bypass-enabled", "true: nothing the account does to any mailbox is recorded")
	cmd.Flags().StringVar(&q.Filter, "filter", "", "act on every mailbox matching this Exchange filter")
	cmd.Flags().StringSliceVar(&q.Types, "type", nil, "act on every mailbox of these types")
	return cmd
}

func testBaselineCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "test-audit-baseline NAME",
		Short: "Compare every mailbox's audit lists with a baseline (asd-blueprint)",
		Args:  cobra.ExactArgs(1),
		RunE: run(func(cmd *cobra.Command, args []string) error {
			if err := checkObjectFormat(a.output); err != nil {
				return err
			}
			svc, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			results, err := svc.TestBaseline(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			o := &objects{format: a.output, columns: []string{"Mailbox", "LogonType", "Missing", "Extra", "Refused"}}
			compliant := 0
			for _, r := range results {
				if len(r.Diffs) == 0 {
					compliant++
				}
				for _, d := range r.Diffs {
					o.add([]service.Property{{Name: "Mailbox", Value: r.Mailbox.PrimarySmtpAddress}, {Name: "LogonType", Value: d.LogonType.String()},
						{Name: "Missing", Value: d.Missing.Names()}, {Name: "Extra", Value: d.Extra.Names()},
						{Name: "Refused", Value: d.Refused.Names()}, {Name: "RefusedBecause", Value: d.Reason}})
				}
			}
			if err := o.write(a.stdout); err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "%d of %d mailboxes match baseline %s.\n", compliant, len(results), args[0])
			return nil
		}),
	}
}

func setBaselineCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "set-audit-baseline NAME",
		Short: "Set every mailbox's audit lists to a baseline, skipping what the profile refuses",
		Args:  cobra.ExactArgs(1),
		RunE: run(func(cmd *cobra.Command, args []string) error {
			svc, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			results, err := svc.SetBaseline(cmd.Context(), actor(), args[0])
			if err != nil {
				return err
			}
			return a.printResults(results)
		}),
	}
}
