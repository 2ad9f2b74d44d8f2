package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailaudit/mailaudit/audit"
	"github.com/mailaudit/mailaudit/dovecot"
	"github.com/mailaudit/mailaudit/service"
)

// sink hands a source's activity to the service.
type sink struct{ svc *service.Service }

func (k sink) Ingest(ctx context.Context, acts []*audit.Activity, positions map[string]string) error {
	_, err := k.svc.IngestActivities(ctx, acts, positions)
	return err
}

func (k sink) Position(ctx context.Context, key string) (string, error) {
	return k.svc.Position(ctx, key)
}

func serveCmd(a *app) *cobra.Command {
	var logs []string
	var opt dovecot.Options
	var flushEvery time.Duration
	var logFormat string
	cmd := &cobra.Command{
		Use:   "serve --dovecot-log PATH",
		Short: "Run the daemon: capture activity from Dovecot's audit log into the store",
		Long: `serve runs until it is stopped (SIGTERM or SIGINT). It tails each Dovecot audit log given (the file
that the configuration printed by dovecot-config makes Dovecot write), turns what it reads into audit
records within a second, and saves its position in the log only together with the records it produced:
after a crash or a restart it goes on where it stopped, with nothing lost and nothing twice. It also seals
MailItemsAccessed aggregates as their two-minute windows end.`,
		Args: cobra.NoArgs,
		RunE: run(func(cmd *cobra.Command, args []string) error {
			if len(logs) == 0 {
				return Usagef("serve needs at least one --dovecot-log PATH")
			}
			log, err := newLogger(a, logFormat)
			if err != nil {
				return err
			}
			svc, err := a.openWriter(cmd.Context(), log)
			if err != nil {
				return err
			}
			if err := svc.Flush(cmd.Context()); err != nil {
				return err
			}
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			var wg sync.WaitGroup
			errs := make(chan error, len(logs))
			for _, path := range logs {
				src := &dovecot.Source{Path: path, Translator: dovecot.NewTranslator(opt), Sink: sink{svc}, Log: log}
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := src.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
						errs <- fmt.Errorf("dovecot source %s: %w", path, err)
						cancel()
					}
				}()
			}
			log.Info("mailaudit serving", "data", a.data, "dovecot_logs", logs)
			tick := time.NewTicker(flushEvery)
			defer tick.Stop()
		loop:
			for {
				select {
				case <-ctx.Done():
					break loop
				case <-tick.C:
					if err := svc.Flush(ctx); err != nil {
						log.Error("sealing aggregates", "error", err)
					}
				}
			}
			wg.Wait()
			close(errs)
			if err := svc.Flush(context.WithoutCancel(ctx)); err != nil {
				log.Error("sealing aggregates at shutdown", "error", err)
			}
			log.Info("mailaudit stopped")
			return <-errs
		}),
	}
	f := cmd.Flags()
	f.StringArrayVar(&logs, "dovecot-log", nil, "Dovecot audit log to read (repeatable); see dovecot-config")
	f.StringVar(&opt.SharedPrefix, "dovecot-shared-prefix", "shared/%%u/", "the prefix of Dovecot's shared namespace, as in its configuration")
	f.StringVar(&opt.Hostname, "hostname", "", "the mail server's name, recorded as OriginatingServer")
	f.DurationVar(&flushEvery, "seal-interval", 10*time.Second, "how often aggregates whose window ended are sealed")
	f.StringVar(&logFormat, "log-format", "text", "log format on standard error: text or json")
	return cmd
}

func newLogger(a *app, format string) (*slog.Logger, error) {
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(a.stderr, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(a.stderr, nil)), nil
	}
	return nil, Usagef("--log-format takes text or json, not %q", format)
}

func dovecotConfigCmd(a *app) *cobra.Command {
	var opt dovecot.ConfigOptions
	cmd := &cobra.Command{
		Use:   "dovecot-config",
		Short: "Print the Dovecot 2.3 configuration mailaudit needs (a conf.d file)",
		Long: `dovecot-config prints the Dovecot 2.3 settings that make Dovecot write what mailaudit reads: its
events (as JSON, through event_exporter), the mail_log plugin's lines and the login lines, into one log file.
Save it as /etc/dovecot/conf.d/95-mailaudit.conf, check it with doveconf -n, reload Dovecot, and point
mailaudit serve --dovecot-log at the file. docs/dovecot.md walks through it.`,
		Args: cobra.NoArgs,
		RunE: run(func(cmd *cobra.Command, args []string) error {
			fmt.Fprint(a.stdout, dovecot.Config(opt))
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&opt.LogPath, "log-path", "/var/log/dovecot-audit.log", "the file Dovecot writes the audit lines to")
	f.StringVar(&opt.SharedPrefix, "shared-prefix", "shared/%%u/", "the prefix of the shared namespace")
	f.StringVar(&opt.MasterSeparator, "master-separator", "*", "auth_master_user_separator of master-user logins")
	return cmd
}

// openWriter opens the store for writing, waiting while another process
// (a command that searches or changes something) holds it: the daemon must
// be the writer, never a reader.
func (a *app) openWriter(ctx context.Context, log *slog.Logger) (*service.Service, error) {
	for warned := false; ; {
		svc, err := a.open(ctx)
		if err != nil || a.store.LockedBy() == "" {
			return svc, err
		}
		if !warned {
			log.Warn("waiting for another mailaudit process to release the data directory", "data", a.data, "holder", a.store.LockedBy())
			warned = true
		}
		a.close()
		a.svc, a.store = nil, nil
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
