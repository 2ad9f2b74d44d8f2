package cli

import (
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailaudit/mailaudit/audit"
	"github.com/mailaudit/mailaudit/config"
	"github.com/mailaudit/mailaudit/daemon"
	"github.com/mailaudit/mailaudit/dovecot"
)

func serveCmd(a *app) *cobra.Command {
	var cfgPath string
	var logs, listen, milters, trashFolders []string
	var sharedPrefix, dovecotEvents, hostname, logFormat, logLevel, tlsCert, tlsKey, milterDurability string
	var sealEvery time.Duration
	cmd := &cobra.Command{
		Use:   "serve [--config FILE] [--dovecot-log PATH]... [--milter ADDR]... [--listen ADDR]...",
		Short: "Run the daemon: capture from Dovecot and Postfix, serve the HTTP API, apply retention",
		Long: `serve runs until it is stopped (SIGTERM or SIGINT). It reads its configuration file (TOML,
docs/configuration.md); flags given on the command line override the file's settings.

It tails each Dovecot audit log (the file that the configuration printed by dovecot-config makes
Dovecot write), turns what it reads into audit records within a second, and saves its position in the
log only together with the records it produced: after a crash or a restart it goes on where it
stopped, with nothing lost and nothing twice. On each --milter address it serves Postfix as a milter
(the settings postfix-config prints) and records who sent mail as whom (Send, SendAs, SendOnBehalf);
each message's record is on disk before Postfix is answered, and Postfix delivers as usual while
mailaudit is down. It serves the HTTP API (docs/api.md) on every listener,
to callers with a token (new-api-token), seals MailItemsAccessed aggregates as their two-minute
windows end, and applies every mailbox's AuditLogAgeLimit on schedule.

On SIGTERM it finishes the requests and batches in flight before it exits.`,
		Args: cobra.NoArgs,
		RunE: run(func(cmd *cobra.Command, args []string) error {
			cfg := config.Defaults()
			if cfgPath != "" {
				c, err := config.Load(cfgPath)
				if err != nil {
					return audit.Errorf(audit.EInvalid, "%v", err)
				}
				cfg = *c
			} else {
				cfg.Data = a.data
			}
			f := cmd.Flags()
			if cmd.Root().PersistentFlags().Changed("data") || (cfgPath != "" && os.Getenv("MAILAUDIT_DATA") != "") {
				cfg.Data = a.data
			}
			for _, l := range logs {
				cfg.Dovecot = append(cfg.Dovecot, config.Dovecot{Log: l, SharedPrefix: sharedPrefix, TrashFolders: trashFolders})
			}
			for _, m := range milters {
				cfg.Milter = append(cfg.Milter, config.Milter{Listen: m})
			}
			if f.Changed("milter-durability") {
				for i := range cfg.Milter {
					cfg.Milter[i].Durability = milterDurability
				}
			}
			if f.Changed("dovecot-shared-prefix") {
				for i := range cfg.Dovecot {
					cfg.Dovecot[i].SharedPrefix = sharedPrefix
				}
			}
			if f.Changed("dovecot-events") {
				for i := range cfg.Dovecot {
					cfg.Dovecot[i].Events = dovecotEvents
				}
			}
			if f.Changed("dovecot-trash-folders") {
				for i := range cfg.Dovecot {
					cfg.Dovecot[i].TrashFolders = trashFolders
				}
			}
			if f.Changed("listen") {
				cfg.Listen = nil
				for _, addr := range listen {
					cfg.Listen = append(cfg.Listen, config.Listener{Address: addr, TLSCert: tlsCert, TLSKey: tlsKey})
				}
			} else if f.Changed("tls-cert") || f.Changed("tls-key") {
				return Usagef("--tls-cert and --tls-key go with --listen")
			}
			if f.Changed("hostname") {
				cfg.Hostname = hostname
			}
			if f.Changed("seal-interval") {
				cfg.SealInterval = config.Duration(sealEvery)
			}
			if f.Changed("log-format") {
				cfg.Log.Format = logFormat
			}
			if f.Changed("log-level") {
				cfg.Log.Level = logLevel
			}
			if err := cfg.Check(); err != nil {
				return Usagef("%v", err)
			}
			log := newLogger(a, cfg.Log)
			d := &daemon.Daemon{Config: &cfg, Log: log}
			return d.Run(cmd.Context())
		}),
	}
	f := cmd.Flags()
	f.StringVar(&cfgPath, "config", "", "configuration file (TOML; docs/configuration.md)")
	f.StringArrayVar(&logs, "dovecot-log", nil, "Dovecot audit log to read (repeatable); see dovecot-config")
	f.StringArrayVar(&milters, "milter", nil, "address of a Postfix milter listener, inet:HOST:PORT or unix:/PATH (repeatable); see postfix-config")
	f.StringVar(&milterDurability, "milter-durability", "disk", "what Postfix waits for: disk (the record is on stable storage), device (written to the device, its cache not flushed) or process (written to the page cache)")
	f.StringVar(&sharedPrefix, "dovecot-shared-prefix", "shared/%%u/", "the prefix of Dovecot's shared namespace, as in its configuration")
	f.StringVar(&dovecotEvents, "dovecot-events", "log", "how Dovecot's events arrive: log (in the --dovecot-log) or http-post (posted to /api/v1/dovecot/events; lossy)")
	f.StringSliceVar(&trashFolders, "dovecot-trash-folders", nil, "folders a MOVE to which is MoveToDeletedItems, comma-separated (default Trash,Deleted Items,Deleted Messages)")
	f.StringArrayVar(&listen, "listen", nil, "address of the HTTP API (repeatable; default 127.0.0.1:8425)")
	f.StringVar(&tlsCert, "tls-cert", "", "TLS certificate (PEM) for the --listen addresses")
	f.StringVar(&tlsKey, "tls-key", "", "TLS private key (PEM) for the --listen addresses")
	f.StringVar(&hostname, "hostname", "", "the mail server's name, recorded as OriginatingServer")
	f.DurationVar(&sealEvery, "seal-interval", 10*time.Second, "how often aggregates whose window ended are sealed")
	f.StringVar(&logFormat, "log-format", "json", "log format on standard error: json or text")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

func newLogger(a *app, c config.Log) *slog.Logger {
	level := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}[c.Level]
	opt := &slog.HandlerOptions{Level: level}
	if c.Format == "text" {
		return slog.New(slog.NewTextHandler(a.stderr, opt))
	}
	return slog.New(slog.NewJSONHandler(a.stderr, opt))
}

func dovecotConfigCmd(a *app) *cobra.Command {
	var opt dovecot.ConfigOptions
	cmd := &cobra.Command{
		Use:   "dovecot-config",
		Short: "Print the Dovecot 2.3 configuration mailaudit needs (a conf.d file)",
		Long: `dovecot-config prints the Dovecot 2.3 settings that make Dovecot write what mailaudit reads: its
events (as JSON, through event_exporter), the mail_log plugin's lines and the login lines, into one log file.
Save it as /etc/dovecot/conf.d/95-mailaudit.conf, check it with doveconf -n, reload Dovecot, and point
mailaudit serve --dovecot-log at the file. docs/dovecot.md walks through it.

With --events-url Dovecot POSTs its events to the daemon instead (transport = http-post), for a mailaudit
that cannot read the log file's events: lossy, since Dovecot drops an event it cannot deliver at once.
The URL is the daemon's /api/v1/dovecot/events with an ingest token as the password, and the daemon's
[[dovecot]] section needs events = "http-post"; the mail_log and login lines still come from the log.`,
		Args: cobra.NoArgs,
		RunE: run(func(cmd *cobra.Command, args []string) error {
			if opt.EventsURL != "" {
				u, err := url.Parse(opt.EventsURL)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return Usagef("--events-url %q is not an http:// or https:// URL", opt.EventsURL)
				}
				if pw, ok := u.User.Password(); !ok || pw == "" {
					return Usagef("--events-url needs the ingest token as its password: http://dovecot:TOKEN@%s%s", u.Host, u.Path)
				}
				if strings.ContainsAny(opt.EventsURL, " \t#\"") {
					return Usagef("--events-url must not contain spaces, # or quotes")
				}
			}
			fmt.Fprint(a.stdout, dovecot.Config(opt))
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&opt.LogPath, "log-path", "/var/log/dovecot-audit.log", "the file Dovecot writes the audit lines to")
	f.StringVar(&opt.SharedPrefix, "shared-prefix", "shared/%%u/", "the prefix of the shared namespace")
	f.StringVar(&opt.MasterSeparator, "master-separator", "*", "auth_master_user_separator of master-user logins")
	f.StringVar(&opt.EventsURL, "events-url", "", "POST the events to this URL (http://dovecot:TOKEN@HOST:PORT/api/v1/dovecot/events) instead of logging them: lossy")
	return cmd
}
