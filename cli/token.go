package cli

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailaudit/mailaudit/audit"
	"github.com/mailaudit/mailaudit/config"
	"github.com/mailaudit/mailaudit/service"
	"github.com/mailaudit/mailaudit/token"
)

// tokensFlags locate the tokens file: --tokens, else the file that --config
// names, else <data>/tokens.json. Tokens are managed on the daemon's machine
// only, by whoever may write that file: an API token cannot make another.
type tokensFlags struct {
	tokens, config string
}

func (t *tokensFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&t.tokens, "tokens", "", "the tokens file (default: the configuration's, else DATA/tokens.json)")
	cmd.Flags().StringVar(&t.config, "config", "", "the daemon's configuration file, to find its tokens file")
}

func (t *tokensFlags) file(a *app, cmd *cobra.Command) (*token.File, error) {
	// MAILAUDIT_SERVER in the environment is for the other commands; only
	// an explicit --server is a mistake here.
	if f := cmd.Flag("server"); f != nil && f.Changed {
		return nil, Usagef("tokens are managed on the daemon's machine, not with --server")
	}
	switch {
	case t.tokens != "":
		return token.Open(t.tokens), nil
	case t.config != "":
		c, err := config.Load(t.config)
		if err != nil {
			return nil, audit.Errorf(audit.EInvalid, "%v", err)
		}
		return token.Open(c.TokensPath()), nil
	}
	return token.Open(filepath.Join(a.data, "tokens.json")), nil
}

func newTokenCmd(a *app) *cobra.Command {
	var tf tokensFlags
	var role string
	var sources []string
	cmd := &cobra.Command{
		Use:   "new-api-token NAME --role admin|auditor|ingest [--sources S,S]",
		Short: "Create an API token for the daemon's HTTP API",
		Long: `new-api-token creates a token and prints it once: only its hash is kept. NAME says who holds it
(a person, a SIEM, a Dovecot host); the daemon's admin audit records name the holder of the token that
made each change. The roles:

  admin    change the directory and audit configuration, and read it
  auditor  read the audit log and the configuration (Exchange's View-Only Audit Logs)
  ingest   write activity, nothing else (for sources)

An ingest token with --sources may submit only activity whose Source is one of them: give each source
its own token bound to its name, so that no source can speak for another (AdminHintSources trusts
LogonTypeHint=Admin by Source). A running daemon picks the token up at once.`,
		Args: cobra.ExactArgs(1),
		RunE: run(func(cmd *cobra.Command, args []string) error {
			r, err := token.ParseRole(role)
			if err != nil {
				return err
			}
			f, err := tf.file(a, cmd)
			if err != nil {
				return err
			}
			secret, err := f.Create(args[0], r, time.Now(), sources...)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, secret)
			fmt.Fprintf(a.stderr, "Token %s (%s) created in %s. It is shown only now: keep it in a secret store.\n", args[0], r, f.Path)
			return nil
		}),
	}
	tf.add(cmd)
	cmd.Flags().StringVar(&role, "role", "", "admin, auditor or ingest")
	cmd.Flags().StringSliceVar(&sources, "sources", nil, "ingest tokens: the only Source values its activity may carry")
	cmd.MarkFlagRequired("role")
	return cmd
}

func getTokenCmd(a *app) *cobra.Command {
	var tf tokensFlags
	cmd := &cobra.Command{
		Use:   "get-api-token",
		Short: "List the API tokens (names, roles, creation; never the tokens)",
		Args:  cobra.NoArgs,
		RunE: run(func(cmd *cobra.Command, args []string) error {
			if err := checkObjectFormat(a.output); err != nil {
				return err
			}
			f, err := tf.file(a, cmd)
			if err != nil {
				return err
			}
			ts, err := f.List()
			if err != nil {
				return err
			}
			o := &objects{format: a.output, columns: []string{"Name", "Role", "Sources", "WhenCreated"}}
			for _, t := range ts {
				o.add(service.Object{{Name: "Name", Value: t.Name}, {Name: "Role", Value: string(t.Role)},
					{Name: "Sources", Value: append([]string{}, t.Sources...)}, {Name: "WhenCreated", Value: t.Created}})
			}
			return o.write(a.stdout)
		}),
	}
	tf.add(cmd)
	return cmd
}

func removeTokenCmd(a *app) *cobra.Command {
	var tf tokensFlags
	cmd := &cobra.Command{
		Use:   "remove-api-token NAME",
		Short: "Revoke an API token; a running daemon refuses it at once",
		Args:  cobra.ExactArgs(1),
		RunE: run(func(cmd *cobra.Command, args []string) error {
			f, err := tf.file(a, cmd)
			if err != nil {
				return err
			}
			if err := f.Revoke(args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "Token %s revoked.\n", args[0])
			return nil
		}),
	}
	tf.add(cmd)
	return cmd
}
