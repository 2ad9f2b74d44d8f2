// Package daemon is mailaudit serve: it opens the store as its only writer,
// runs the sources of the configuration (Dovecot logs, Postfix milters),
// serves the HTTP API on every listener, seals MailItemsAccessed aggregates
// as their windows end and applies retention on schedule.
//
// On SIGTERM (the context ending) it stops accepting requests, lets the
// requests in flight finish (an ingest batch is committed and answered), stops
// the sources after their current batch, seals what is due and closes the
// store.
package daemon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailaudit/mailaudit/audit"
	"github.com/mailaudit/mailaudit/config"
	"github.com/mailaudit/mailaudit/dovecot"
	"github.com/mailaudit/mailaudit/httpapi"
	"github.com/mailaudit/mailaudit/mail"
	"github.com/mailaudit/mailaudit/metrics"
	"github.com/mailaudit/mailaudit/milter"
	"github.com/mailaudit/mailaudit/service"
	"github.com/mailaudit/mailaudit/sqlite"
	"github.com/mailaudit/mailaudit/token"
)

// Daemon is one running mailaudit serve.
type Daemon struct {
	Config *config.Config
	Log    *slog.Logger
	// Listening, when set, is told the addresses the API listens on once
	// the daemon is ready (tests listen on port 0).
	Listening func(addrs []string)

	svc     *service.Service
	store   *sqlite.Store
	metrics *metrics.Metrics
	ready   atomic.Bool
}

// Run runs the daemon until ctx ends.
func (d *Daemon) Run(ctx context.Context) error {
	cfg, log := d.Config, d.Log
	st, err := d.openStore(ctx)
	if err != nil {
		return err
	}
	d.store = st
	defer st.Close()
	svc, err := service.Open(ctx, st)
	if err != nil {
		return err
	}
	d.svc = svc
	svc.ResultsDir = filepath.Join(cfg.Data, "searches")
	svc.SearchResultAgeLimit = time.Duration(cfg.Retention.SearchResultAgeLimit)
	if err := svc.Flush(ctx); err != nil {
		return err
	}
	runner, err := d.runner()
	if err != nil {
		return err
	}
	d.metrics = metrics.New(func() int64 { return dirSize(cfg.Data) })
	runner.Observe = d.metrics.SearchDelivery

	// Listeners first: a port in use is a start-up error, found before any
	// source reads a line.
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for _, lc := range cfg.Listen {
		l, err := listen(lc)
		if err != nil {
			return err
		}
		listeners = append(listeners, l)
	}

	// Milters next: Postfix must find them listening once the daemon says
	// it is serving.
	var milters []*milter.Source
	for _, mc := range cfg.Milter {
		durability, err := milter.ParseDurability(mc.Durability)
		if err != nil { // config.Validate refuses it first
			for _, m := range milters {
				m.Close()
			}
			return err
		}
		src := &milter.Source{Listen: mc.Listen, Spool: cfg.MilterSpool(mc), Hostname: cfg.Hostname, Log: log,
			Durability: durability}
		name := src.Key()
		src.Sink = &sink{svc: svc, metrics: d.metrics, name: name}
		src.Skipped = func() { d.metrics.Refused(name, 1) }
		src.Lag = func(n int64) { d.metrics.Lag(name, n) }
		if err := src.Open(); err != nil {
			for _, m := range milters {
				m.Close()
			}
			return err
		}
		milters = append(milters, src)
	}

	api := &httpapi.Server{
		Service:         svc,
		Tokens:          token.Open(cfg.TokensPath()),
		Log:             log,
		Metrics:         d.metrics,
		MaxRequestBytes: int64(cfg.Limits.MaxRequestBytes),
		MaxSearches:     cfg.Limits.MaxConcurrentSearches,
		SearchWait:      time.Duration(cfg.Limits.SearchQueueTimeout),
		Runner:          runner,
		Ready: func() error {
			if !d.ready.Load() {
				return errors.New("not ready: starting or stopping")
			}
			return nil
		},
	}
	// Dovecot's events posted over HTTP are spooled beside the store; the
	// spool is closed, with what it holds written, after the API stops.
	var eventSpool *dovecot.EventSpool
	for _, dc := range cfg.Dovecot {
		if dc.Events != "http-post" {
			continue
		}
		sp, err := dovecot.OpenEventSpool(filepath.Join(cfg.Data, "dovecot-events.log"), 0, log)
		if err != nil {
			return err
		}
		defer sp.Close()
		eventSpool, api.DovecotEvents = sp, sp
	}
	srv := &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(listeners)+len(cfg.Dovecot)+len(milters))
	for i, l := range listeners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errs <- fmt.Errorf("listening on %s: %w", cfg.Listen[i].Address, err)
				cancel()
			}
		}()
	}
	var sources sync.WaitGroup
	sources.Add(1)
	go func() {
		defer sources.Done()
		runner.Run(runCtx)
	}()
	for _, dc := range cfg.Dovecot {
		src := &dovecot.Source{
			Path:       dc.Log,
			Events:     spoolOf(dc, eventSpool),
			Translator: dovecot.NewTranslator(dovecot.Options{SharedPrefix: dc.SharedPrefix, TrashFolders: trashFolders(dc), Hostname: cfg.Hostname}),
			Log:        log,
		}
		name := src.Key()
		src.Sink = &sink{svc: svc, metrics: d.metrics, name: name, path: dc.Log}
		src.Skipped = func() { d.metrics.Refused(name, 1) }
		src.Unknown = func(event string) { d.metrics.UnknownEvent(name, event) }
		sources.Add(1)
		go func() {
			defer sources.Done()
			if err := src.Run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
				errs <- fmt.Errorf("dovecot source %s: %w", dc.Log, err)
				cancel()
			}
		}()
	}
	for _, src := range milters {
		sources.Add(1)
		go func() {
			defer sources.Done()
			if err := src.Run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
				errs <- err
				cancel()
			}
		}()
	}
	var addrs []string
	for _, l := range listeners {
		addrs = append(addrs, l.Addr().String())
	}
	d.ready.Store(true)
	if d.Listening != nil {
		d.Listening(addrs)
	}
	var milterAddrs []string
	for _, src := range milters {
		milterAddrs = append(milterAddrs, src.Addr().String())
	}
	log.Info("mailaudit serving", "data", cfg.Data, "listen", addrs, "dovecot_logs", len(cfg.Dovecot), "milters", milterAddrs)

	seal := time.NewTicker(time.Duration(cfg.SealInterval))
	defer seal.Stop()
	// Retention is due an interval after it last ran (kept in the store), so
	// that a daemon restarted more often than the interval still runs it.
	var retain <-chan time.Time
	resetRetain := func() {}
	if interval := time.Duration(cfg.Retention.Interval); interval > 0 {
		last, err := svc.LastRetention(runCtx)
		if err != nil {
			log.Error("finding when retention last ran; running it now", "error", err)
		}
		next := last.Add(interval)
		if now := time.Now(); next.Before(now) {
			next = now
		}
		log.Info("retention scheduled", "last_run", last, "next_run", next.UTC())
		t := time.NewTimer(time.Until(next))
		defer t.Stop()
		retain = t.C
		resetRetain = func() { t.Reset(interval) }
	}
loop:
	for {
		select {
		case <-runCtx.Done():
			break loop
		case <-seal.C:
			if err := svc.Flush(runCtx); err != nil {
				log.Error("sealing aggregates", "error", err)
			}
		case <-retain:
			n, err := svc.Retain(runCtx, "mailaudit")
			if err != nil {
				log.Error("retention", "error", err)
			} else {
				log.Info("retention", "records_deleted", n)
			}
			resetRetain()
		}
	}

	d.ready.Store(false)
	log.Info("mailaudit stopping: finishing requests in flight")
	shutCtx, done := context.WithTimeout(context.WithoutCancel(ctx), time.Duration(cfg.Limits.ShutdownTimeout))
	defer done()
	if err := srv.Shutdown(shutCtx); err != nil {
		log.Error("requests still running at shutdown were cut off", "error", err)
	}
	wg.Wait()
	sources.Wait()
	if err := svc.Flush(context.WithoutCancel(ctx)); err != nil {
		log.Error("sealing aggregates at shutdown", "error", err)
	}
	log.Info("mailaudit stopped")
	close(errs)
	return <-errs
}

// runner runs background searches, mailing results through the relay.
func (d *Daemon) runner() (*service.Runner, error) {
	c := d.Config.SMTP
	r := &service.Runner{Service: d.svc, Log: d.Log, MaxAttachment: int64(c.MaxAttachmentBytes)}
	if c.Relay == "" {
		return r, nil
	}
	relay := &mail.Relay{Addr: c.Relay, From: c.From, Username: c.Username, StartTLS: c.StartTLS, Hostname: d.Config.Hostname}
	if c.PasswordFile != "" {
		b, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("smtp.password_file: %w", err)
		}
		relay.Password = strings.TrimRight(strings.SplitN(string(b), "\n", 2)[0], "\r")
	}
	if c.CACert != "" {
		pem, err := os.ReadFile(c.CACert)
		if err != nil {
			return nil, fmt.Errorf("smtp.ca_cert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("smtp.ca_cert: %s holds no PEM certificate", c.CACert)
		}
		relay.TLS = &tls.Config{RootCAs: pool}
	}
	r.Mailer = relay
	return r, nil
}

// openStore opens the store for writing, waiting while another process (a
// command that searches or changes something) holds it: the daemon must be
// the writer, never a reader.
func (d *Daemon) openStore(ctx context.Context) (*sqlite.Store, error) {
	for warned := false; ; {
		st, err := sqlite.Open(d.Config.Data)
		if err != nil || st.LockedBy() == "" {
			return st, err
		}
		if !warned {
			d.Log.Warn("waiting for another mailaudit process to release the data directory", "data", d.Config.Data, "holder", st.LockedBy())
			warned = true
		}
		st.Close()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func listen(lc config.Listener) (net.Listener, error) {
	var tlsConf *tls.Config
	if lc.TLS() {
		cert, err := tls.LoadX509KeyPair(lc.TLSCert, lc.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("listener %s: loading the TLS certificate: %w", lc.Address, err)
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	l, err := net.Listen("tcp", lc.Address)
	if err != nil {
		return nil, fmt.Errorf("listener %s: %w", lc.Address, err)
	}
	if tlsConf != nil {
		l = tls.NewListener(l, tlsConf)
	}
	return l, nil
}

// sink hands a source's activity to the service and counts it.
type sink struct {
	svc     *service.Service
	metrics *metrics.Metrics
	name    string
	path    string
}

func (k *sink) Ingest(ctx context.Context, acts []*audit.Activity, positions map[string]string) error {
	rep, err := k.svc.IngestActivities(ctx, acts, positions)
	if err != nil {
		return err
	}
	k.metrics.Ingested(k.name, rep)
	for _, saved := range positions {
		if k.path == "" {
			break // the milter reports its own lag
		}
		if lag, err := dovecot.Lag(k.path, saved); err == nil {
			k.metrics.Lag(k.name, lag)
		}
	}
	return nil
}

func (k *sink) Position(ctx context.Context, key string) (string, error) {
	return k.svc.Position(ctx, key)
}

// dirSize is the size of the store's files.
func dirSize(dir string) int64 {
	var n int64
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if fi, err := os.Stat(filepath.Join(dir, e.Name())); err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
	}
	return n
}

// trashFolders are a Dovecot source's trash folders; nil (the translator's
// defaults) unless the configuration names some.
func trashFolders(dc config.Dovecot) []string {
	if len(dc.TrashFolders) == 0 {
		return nil
	}
	return dc.TrashFolders
}

// spoolOf is the event spool a Dovecot source reads beside its log: the
// daemon's, for the source whose events Dovecot posts.
func spoolOf(dc config.Dovecot, sp *dovecot.EventSpool) string {
	if dc.Events != "http-post" || sp == nil {
		return ""
	}
	return sp.Path
}
