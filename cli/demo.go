package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailaudit/mailaudit/audit"
	"github.com/mailaudit/mailaudit/sqlite"
	"github.com/mailaudit/mailaudit/synth"
)

func demoCmd(a *app) *cobra.Command {
	var dir string
	var seed uint64
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Build a demo organisation, feed it a day of activity and search it as an auditor would",
		Long: `demo creates an organisation in its own data directory (replacing an earlier demo there), feeds
it yesterday's activity (owners, a delegate, an administrator, a bypassed service account, and a stolen
password used at night) and runs the searches an auditor would. Every step is an ordinary mailaudit
command, printed before its output, so that you can run it yourself against the same directory.`,
		Args: cobra.NoArgs,
		RunE: run(func(cmd *cobra.Command, args []string) error {
			if cmd.Flag("server").Changed {
				return Usagef("demo builds its own store in --dir; it does not run against a daemon (--server)")
			}
			if err := clearDemo(dir); err != nil {
				return err
			}
			var lines bytes.Buffer
			day := time.Now().UTC().Truncate(24 * time.Hour).Add(-24 * time.Hour)
			g := synth.New(seed)
			g.Source = "import"
			g.Day(day, func(act *audit.Activity) {
				b, _ := json.Marshal(act)
				lines.Write(b)
				lines.WriteByte('\n')
			})
			steps := []struct {
				say  string
				args []string
				in   []byte
			}{
				{"Create the mailboxes (auditing is on by default under the exchange-online profile).",
					[]string{"new-mailbox", synth.CEO, "--display-name", "Alice Martin", "--set", "Department=Management"}, nil},
				{"", []string{"new-mailbox", synth.Assistant, "--display-name", "Bob Singh", "--set", "Department=Management"}, nil},
				{"", []string{"new-mailbox", synth.Finance, "--display-name", "Carol Diaz", "--set", "Department=Accounting"}, nil},
				{"", []string{"new-mailbox", synth.ITAdmin, "--display-name", "Dave Okafor", "--set", "Department=IT"}, nil},
				{"", []string{"new-mailbox", synth.Shared, "--display-name", "Finance", "--type", "SharedMailbox"}, nil},
				{"Grant the assistant FullAccess to the CEO's mailbox, and finance SendAs on the shared one.",
					[]string{"add-mailbox-permission", synth.CEO, "--user", synth.Assistant, "--access-rights", "FullAccess"}, nil},
				{"", []string{"add-mailbox-permission", synth.Shared, "--user", synth.Finance, "--access-rights", "SendAs"}, nil},
				{"Exempt the backup service account (it has no mailbox) from auditing.",
					[]string{"set-mailbox-audit-bypass-association", synth.Backup, "--audit-bypass-enabled=true"}, nil},
				{"Audit the CEO's own logins too: this customises her Owner list.",
					[]string{"set-mailbox", synth.CEO, "--audit-owner-add", "MailboxLogin,SearchQueryInitiated"}, nil},
				{"Feed in yesterday's activity: " + fmt.Sprint(bytes.Count(lines.Bytes(), []byte("\n"))) + " activities as JSON Lines.",
					[]string{"ingest", "-"}, lines.Bytes()},
				{"Who other than the CEO touched her mailbox?",
					[]string{"search-mailbox-audit-log", synth.CEO, "--logon-types", "Delegate,Admin", "--result-size", "12"}, nil},
				{"What was done from the unknown address " + synth.AttackerIP + "?",
					[]string{"search-unified-audit-log", "--ip-addresses", synth.AttackerIP, "-o", "table", "--result-size", "10"}, nil},
				{"Which inbox rules changed?",
					[]string{"search-unified-audit-log", "--operations", "UpdateInboxRules", "-o", "list"}, nil},
				{"Everything recorded about the assistant's work, as Exchange's SearchResult.xml would show it (first 3).",
					[]string{"search-unified-audit-log", "--user-ids", synth.Assistant, "--operations", "SendAs,MoveToDeletedItems", "--result-size", "3", "-o", "xml"}, nil},
				{"Who changed the audit configuration? (admin audit records)",
					[]string{"search-unified-audit-log", "--record-type", "1", "-o", "table"}, nil},
				{"Which accounts are exempt from auditing?",
					[]string{"get-mailbox-audit-bypass-association"}, nil},
			}
			for _, st := range steps {
				if st.say != "" {
					fmt.Fprintf(a.stdout, "\n## %s\n", st.say)
				}
				full := append([]string{"--data", dir}, st.args...)
				fmt.Fprintf(a.stdout, "$ mailaudit %s\n", quoteArgs(full))
				// Never a daemon that MAILAUDIT_SERVER names: the demo's
				// mailboxes, grants and activity are made up.
				full = append([]string{"--server="}, full...)
				var in = a.stdin
				if st.in != nil {
					in = bytes.NewReader(st.in)
				}
				if code := Run(cmd.Context(), full, in, a.stdout, a.stdout); code != ExitOK {
					return fmt.Errorf("demo: step %q failed (exit %d)", quoteArgs(st.args), code)
				}
			}
			fmt.Fprintf(a.stdout, "\nThe demo organisation is in %s. Try for example:\n  mailaudit --data %s search-mailbox-audit-log %s --show-details -o list\n", dir, dir, synth.CEO)
			return nil
		}),
	}
	cmd.Flags().StringVar(&dir, "dir", "./mailaudit-demo", "data directory of the demo (replaced)")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "seed of the generated activity")
	return cmd
}

// demoMarker marks a data directory as the demo's own, which a later demo
// may replace.
const demoMarker = ".mailaudit-demo"

// clearDemo makes dir ready for a new demo: it removes an earlier demo's
// store there, and refuses a directory that holds any other store, since
// that may be an organisation's audit log.
func clearDemo(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	_, err := os.Stat(filepath.Join(dir, sqlite.FileName))
	hasStore := err == nil
	if _, err := os.Stat(filepath.Join(dir, demoMarker)); hasStore && err != nil {
		return audit.Errorf(audit.EInvalid, "demo: %s holds a store that no demo made; give --dir a new directory or an earlier demo's", dir)
	}
	if err := sqlite.Remove(dir); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, demoMarker), []byte("This data directory was made by mailaudit demo, which replaces it when run again.\n"), 0o640); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return nil
}

func quoteArgs(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " $'\"*") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}
