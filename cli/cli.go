// Package cli is mailaudit's command line (shared/spec/cli.md): one cobra
// command per Exchange cmdlet, in kebab case, with the cmdlet's parameters as
// long flags. Commands only parse, call the service and print; exit codes are
// decided in one place, ExitCode.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mailaudit/mailaudit/audit"
	"github.com/mailaudit/mailaudit/config"
	"github.com/mailaudit/mailaudit/httpapi"
	"github.com/mailaudit/mailaudit/service"
	"github.com/mailaudit/mailaudit/sqlite"
)

// Exit codes of cli.md.
const (
	ExitOK       = 0
	ExitRefused  = 1
	ExitUsage    = 2
	ExitNotFound = 3
	ExitInternal = 4
)

// usageError marks mistakes in how a command was called.
type usageError struct{ error }

// Usagef reports a usage mistake (exit 2).
func Usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// refused marks a command that did its work but refused part of its input,
// which it already reported (exit 1).
var errPartlyRefused = errors.New("some input was refused")

// ExitCode maps an error to the exit status of cli.md.
func ExitCode(err error) int {
	var ue usageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue):
		return ExitUsage
	case errors.Is(err, errPartlyRefused):
		return ExitRefused
	}
	switch audit.ErrorCode(err) {
	case audit.EInvalid, audit.EConflict:
		return ExitRefused
	case audit.ENotFound:
		return ExitNotFound
	}
	return ExitInternal
}

// app is what every command shares: the global flags and, once opened, the
// service.
type app struct {
	data   string
	server string
	token  string
	caFile string
	output string
	stdout io.Writer
	stderr io.Writer
	stdin  io.Reader

	svc   *service.Service
	store *sqlite.Store
}

// open returns the backend commands run against: the daemon at --server, or
// the service over the data directory.
func (a *app) open(ctx context.Context) (backend, error) {
	if a.server != "" {
		return httpapi.NewClient(a.server, a.token, a.caFile)
	}
	svc, err := a.openService(ctx)
	if err != nil {
		return nil, err
	}
	return local{svc}, nil
}

// openService opens the service over the data directory, for what only runs
// where the data is (serve, demo, bench).
func (a *app) openService(ctx context.Context) (*service.Service, error) {
	if a.svc != nil {
		return a.svc, nil
	}
	st, err := sqlite.Open(a.data)
	if err != nil {
		return nil, err
	}
	svc, err := service.Open(ctx, st)
	if err != nil {
		st.Close()
		return nil, err
	}
	svc.ResultsDir = filepath.Join(a.data, "searches")
	// The daemon's configuration is not read here: the default age limit.
	svc.SearchResultAgeLimit = time.Duration(config.Defaults().Retention.SearchResultAgeLimit)
	a.svc, a.store = svc, st
	return svc, nil
}

func (a *app) close() {
	if a.store != nil {
		a.store.Close()
	}
}

// profile is the organisation's active profile.
func profile(ctx context.Context, b backend) (*audit.Profile, error) {
	org, err := b.Organization(ctx)
	if err != nil {
		return nil, err
	}
	return audit.LookupProfile(org.Profile)
}

// actor is who the admin audit records name for changes made from here.
func actor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "local"
}

func (a *app) warn(format string, args ...any) {
	fmt.Fprintf(a.stderr, "WARNING: "+format+"\n", args...)
}

// Run runs the command line with args and returns the exit status.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr, stdin: stdin}
	root := newRoot(a)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if a.token == "" {
		a.token = os.Getenv("MAILAUDIT_TOKEN")
	}
	err := root.ExecuteContext(ctx)
	a.close()
	if err != nil && !errors.Is(err, errPartlyRefused) {
		if !errors.As(err, new(usageError)) && !isRunError(err) {
			// cobra's own errors: unknown command, bad flag, wrong arguments.
			err = usageError{err}
		}
		fmt.Fprintln(stderr, "mailaudit: "+strings.TrimPrefix(unwrapRun(err).Error(), "mailaudit: "))
	}
	return ExitCode(unwrapRun(err))
}

// runError marks errors returned by a command's RunE, as opposed to cobra's.
type runError struct{ error }

func (e runError) Unwrap() error { return e.error }

func isRunError(err error) bool { var r runError; return errors.As(err, &r) }

func unwrapRun(err error) error {
	var r runError
	if errors.As(err, &r) {
		return r.error
	}
	return err
}

// run adapts a command body so its errors are told apart from cobra's.
func run(f func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := f(cmd, args); err != nil {
			return runError{err}
		}
		return nil
	}
}

func newRoot(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "mailaudit",
		Short: "Exchange-style mailbox audit logging for Dovecot and Postfix",
		Long: `mailaudit records who did what to which mailbox (owners, delegates, administrators),
under Exchange's mailbox audit policies, and searches the audit log.

Commands are Exchange cmdlets in kebab case: Set-Mailbox is set-mailbox, -AuditLogAgeLimit is --audit-log-age-limit.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	def := os.Getenv("MAILAUDIT_DATA")
	if def == "" {
		def = "./mailaudit-data"
	}
	root.PersistentFlags().StringVar(&a.data, "data", def, "data directory of the embedded store (env MAILAUDIT_DATA)")
	root.PersistentFlags().StringVar(&a.server, "server", os.Getenv("MAILAUDIT_SERVER"), "URL of a running mailaudit serve to run the command against (env MAILAUDIT_SERVER)")
	root.PersistentFlags().StringVar(&a.token, "token", "", "API token for --server (env MAILAUDIT_TOKEN, which keeps it out of the process list)")
	root.PersistentFlags().StringVar(&a.caFile, "ca-cert", os.Getenv("MAILAUDIT_CA_CERT"), "PEM file of the CA that signed the server's TLS certificate (env MAILAUDIT_CA_CERT)")
	root.PersistentFlags().StringVarP(&a.output, "output", "o", "table", "output format: table, list, json, csv (records also xml, m365)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.CompletionOptions.HiddenDefaultCmd = true
	root.AddCommand(
		newMailboxCmd(a), getMailboxCmd(a), setMailboxCmd(a), removeMailboxCmd(a),
		addPermissionCmd(a), removePermissionCmd(a), getPermissionCmd(a),
		getOrgCmd(a), setOrgCmd(a),
		getBypassCmd(a), setBypassCmd(a),
		testBaselineCmd(a), setBaselineCmd(a),
		ingestCmd(a), searchMailboxCmd(a), searchUnifiedCmd(a), retentionCmd(a),
		serveCmd(a), dovecotConfigCmd(a), postfixConfigCmd(a),
		newTokenCmd(a), getTokenCmd(a), removeTokenCmd(a),
		newAuditLogSearchCmd(a), getAuditLogSearchCmd(a), getAuditLogSearchResultCmd(a),
		nonOwnerReportCmd(a), auditConfigReportCmd(a),
		demoCmd(a), benchCmd(a),
	)
	return root
}

// boolValue is a flag that takes true/false as Exchange scripts write them:
// --audit-enabled, --audit-enabled=false, --audit-enabled='$true'.
type boolValue struct {
	set bool
	v   bool
}

func (b *boolValue) String() string {
	if !b.set {
		return ""
	}
	return fmt.Sprint(b.v)
}

func (b *boolValue) Set(s string) error {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "$true", "1", "yes":
		b.v = true
	case "false", "$false", "0", "no":
		b.v = false
	default:
		return fmt.Errorf("%q is not true or false", s)
	}
	b.set = true
	return nil
}

func (b *boolValue) Type() string     { return "bool" }
func (b *boolValue) IsBoolFlag() bool { return true }

// ptr is the flag's value when it was given.
func (b *boolValue) ptr() *bool {
	if !b.set {
		return nil
	}
	v := b.v
	return &v
}

func boolFlag(fs *pflag.FlagSet, name, usage string) *boolValue {
	b := &boolValue{}
	fs.Var(b, name, usage)
	fs.Lookup(name).NoOptDefVal = "true"
	return b
}

// params lists the flags a user gave, for admin audit records' Parameters.
func params(cmd *cobra.Command, args []string) []audit.NameValue {
	var out []audit.NameValue
	if len(args) > 0 {
		out = append(out, audit.NameValue{Name: "Identity", Value: args[0]})
	}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if f.Name == "data" || f.Name == "server" || f.Name == "output" || f.Name == "token" || f.Name == "ca-cert" {
			return
		}
		out = append(out, audit.NameValue{Name: pascal(f.Name), Value: f.Value.String()})
	})
	return out
}

// pascal turns a flag name back into the cmdlet parameter's: audit-log-age-limit
// is AuditLogAgeLimit.
func pascal(s string) string {
	parts := strings.Split(s, "-")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "")
}
