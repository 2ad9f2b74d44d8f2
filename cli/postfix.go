package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mailaudit/mailaudit/audit"
	"github.com/mailaudit/mailaudit/milter"
)

func postfixConfigCmd(a *app) *cobra.Command {
	o := milter.PostfixOptions{RequireTLS: true}
	cmd := &cobra.Command{
		Use:   "postfix-config",
		Short: "Print the Postfix settings that put mailaudit's milter on the submission service",
		Long: `postfix-config prints the main.cf lines and the master.cf submission service that make Postfix
show every message submitted with SASL to mailaudit serve's milter (serve --milter, or a [[milter]]
table), which records Send, SendAs and SendOnBehalf. Postfix goes on delivering when mailaudit is
down (milter_default_action = accept). Merge the lines into /etc/postfix/main.cf and master.cf,
check with postfix check, and postfix reload. docs/postfix.md walks through it, Dovecot SASL
included.`,
		Args: cobra.NoArgs,
		RunE: run(func(cmd *cobra.Command, args []string) error {
			text, err := milter.PostfixConfig(o)
			if err != nil {
				return audit.Errorf(audit.EInvalid, "%v", err)
			}
			fmt.Fprint(a.stdout, text)
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&o.Milter, "milter", "inet:127.0.0.1:8426", "the address mailaudit serve's milter listens on")
	f.StringVar(&o.Service, "service", "submission", "the master.cf name of the submission service (submission, or HOST:PORT)")
	f.StringVar(&o.SASLPath, "sasl-path", "private/auth", "smtpd_sasl_path: Dovecot's auth socket for Postfix (relative to the queue directory), or inet:HOST:PORT")
	f.BoolVar(&o.RequireTLS, "require-tls", true, "refuse submission without TLS (smtpd_tls_security_level = encrypt)")
	return cmd
}
