package service

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mailaudit/mailaudit/audit"
	"github.com/mailaudit/mailaudit/export"
	"github.com/mailaudit/mailaudit/mail"
)

// Mailer sends a message (mail.Relay).
type Mailer interface {
	Send(ctx context.Context, m *mail.Message) error
}

// DeliveryBackoff is how long the runner waits after each failed delivery;
// after the last, the search is DeliveryFailed. About a day in all, as a mail
// server keeps retrying a message. A permanent refusal (5xx) is not retried.
var DeliveryBackoff = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour}

// Runner runs background searches to completion: it writes each queued
// search's result into ResultsDir, then mails it, retrying a failed delivery
// on DeliveryBackoff. Every step is saved in the store, so a restart goes on
// where the last one stopped (a search that was running runs again).
type Runner struct {
	Service *Service
	// Mailer is nil when no relay is configured: results are kept and can be
	// downloaded, and the delivery is recorded as failed saying why.
	Mailer Mailer
	Log    *slog.Logger
	// MaxAttachment is the largest result attached to a mail; a larger one is
	// left out and the mail says how to download it.
	MaxAttachment int64
	// Backoff overrides DeliveryBackoff (tests).
	Backoff []time.Duration
	// Observe, when set, is told the outcome of every delivery attempt:
	// DeliveryDelivered, DeliveryRetried or DeliveryFailed (the metrics).
	Observe func(outcome string)

	wake chan struct{}
}

func (r *Runner) log() *slog.Logger {
	if r.Log == nil {
		return slog.Default()
	}
	return r.Log
}

// Wake makes the runner look for work now (a search was just queued).
func (r *Runner) Wake() {
	select {
	case r.wakeChan() <- struct{}{}:
	default:
	}
}

func (r *Runner) wakeChan() chan struct{} {
	if r.wake == nil {
		r.wake = make(chan struct{}, 1)
	}
	return r.wake
}

// Run works until ctx ends. A search being written when ctx ends is left
// Running and written again from the start by the next Run.
func (r *Runner) Run(ctx context.Context) error {
	wake := r.wakeChan()
	if err := os.MkdirAll(r.Service.ResultsDir, 0o700); err != nil {
		return fmt.Errorf("search results: %w", err)
	}
	// Results half-written when the last run stopped are written again.
	if stale, err := filepath.Glob(filepath.Join(r.Service.ResultsDir, ".result-*")); err == nil {
		for _, f := range stale {
			os.Remove(f)
		}
	}
	for {
		next, err := r.step(ctx)
		if err != nil && ctx.Err() == nil {
			r.log().Error("background searches", "error", err)
			next = time.Now().Add(10 * time.Second)
		}
		wait := time.Minute
		if !next.IsZero() {
			wait = max(time.Until(next), 0)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// step does all the work due now and returns when more is due.
func (r *Runner) step(ctx context.Context) (time.Time, error) {
	all, err := r.Service.store.AuditLogSearches(ctx)
	if err != nil {
		return time.Time{}, err
	}
	var next time.Time
	for _, as := range all {
		if ctx.Err() != nil {
			return time.Time{}, nil
		}
		switch as.State {
		case audit.SearchQueued, audit.SearchRunning:
			if err := r.run(ctx, as); err != nil {
				return time.Time{}, err
			}
			fallthrough
		case audit.SearchDelivering:
			if as.State != audit.SearchDelivering {
				continue
			}
			if !as.NextAttempt.IsZero() && time.Now().Before(as.NextAttempt) {
				if next.IsZero() || as.NextAttempt.Before(next) {
					next = as.NextAttempt
				}
				continue
			}
			if err := r.deliver(ctx, as); err != nil {
				return time.Time{}, err
			}
			if as.State == audit.SearchDelivering && (next.IsZero() || as.NextAttempt.Before(next)) {
				next = as.NextAttempt
			}
		}
	}
	return next, nil
}

func (r *Runner) save(ctx context.Context, as *audit.AuditLogSearch) error {
	return r.Service.store.SaveAuditLogSearch(context.WithoutCancel(ctx), as)
}

// run writes the result in every format at once, from one pass over the
// records, into temporary files renamed into place when complete.
func (r *Runner) run(ctx context.Context, as *audit.AuditLogSearch) error {
	log := r.log().With("search", as.Identity, "name", as.Name)
	as.State = audit.SearchRunning
	if err := r.save(ctx, as); err != nil {
		return err
	}
	log.Info("running background search")
	n, err := r.write(ctx, as)
	if ctx.Err() != nil {
		return nil
	}
	if err != nil {
		var ae *audit.Error
		if !errors.As(err, &ae) {
			// The store or the disk failed: try again later rather than
			// declare a good search failed.
			return err
		}
		as.State, as.LastError = audit.SearchFailed, err.Error()
		log.Warn("background search failed", "error", err)
		return r.save(ctx, as)
	}
	as.State, as.Records, as.CompletedTime, as.NextAttempt = audit.SearchDelivering, n, r.Service.Now().UTC(), time.Time{}
	log.Info("background search complete", "records", n)
	return r.save(ctx, as)
}

func (r *Runner) write(ctx context.Context, as *audit.AuditLogSearch) (int64, error) {
	org := r.Service.Organization()
	// ShowDetails is Exchange's: every entry's full details, its items
	// among them; without it SearchResult.xml holds each entry's summary.
	opt := export.Options{OrganizationId: org.Id.String(), OrganizationName: org.Name, ShowDetails: as.ShowDetails, Summary: !as.ShowDetails}
	type out struct {
		f   *os.File
		bw  *bufio.Writer
		w   export.Writer
		tmp string
	}
	var outs []*out
	defer func() {
		for _, o := range outs {
			o.f.Close()
			os.Remove(o.tmp)
		}
	}()
	for _, format := range as.Formats {
		f, err := os.CreateTemp(r.Service.ResultsDir, ".result-*")
		if err != nil {
			return 0, fmt.Errorf("search results: %w", err)
		}
		o := &out{f: f, bw: bufio.NewWriterSize(f, 1<<16), tmp: f.Name()}
		outs = append(outs, o)
		if o.w, err = export.New(format, o.bw, opt); err != nil {
			return 0, err
		}
	}
	var n int64
	p := MailboxSearch{Identities: as.Mailboxes, Start: as.StartDate, End: as.EndDate, Operations: as.Operations,
		LogonTypes: as.LogonTypes, ExternalAccess: as.ExternalAccess, ResultSize: MailboxSearchMax}
	// No cap: page through everything.
	for {
		if err := r.Service.Flush(ctx); err != nil {
			return 0, err
		}
		next, err := r.Service.SearchMailboxAuditLog(ctx, p, func(rec *audit.Record) error {
			n++
			for _, o := range outs {
				if err := o.w.Write(rec); err != nil {
					return fmt.Errorf("search results: %w", err)
				}
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
		if next == "" {
			break
		}
		p.Cursor = next
	}
	for i, o := range outs {
		err := o.w.Close()
		if err == nil {
			err = o.bw.Flush()
		}
		if err == nil {
			err = o.f.Sync()
		}
		if err == nil {
			err = o.f.Close()
		}
		if err == nil {
			err = os.Rename(o.tmp, ResultPath(r.Service.ResultsDir, as.Identity, as.Formats[i]))
		}
		if err != nil {
			return 0, fmt.Errorf("search results: %w", err)
		}
	}
	outs = nil
	return n, nil
}

var contentTypes = map[string]string{"xml": "application/xml", "csv": "text/csv", "json": "application/x-ndjson"}

// Delivery outcomes, as Runner.Observe is told them.
const (
	DeliveryDelivered = "delivered"
	DeliveryRetried   = "retried"
	DeliveryFailed    = "failed"
)

// deliver mails the result once. A permanent refusal (a 5xx reply) ends the
// delivery at once; any other failure schedules the next attempt, until
// the backoff runs out. A mail too large for the relay is sent again at
// once as the summary alone, saying how to download the result.
func (r *Runner) deliver(ctx context.Context, as *audit.AuditLogSearch) error {
	log := r.log().With("search", as.Identity, "name", as.Name)
	backoff := r.Backoff
	if backoff == nil {
		backoff = DeliveryBackoff
	}
	var err error
	permanent := false
	if r.Mailer == nil {
		err = errors.New("no SMTP relay is configured (smtp.relay in the daemon's configuration); the result can be downloaded")
		permanent = true
	} else {
		m := r.message(as, nil)
		err = r.Mailer.Send(ctx, m)
		var big *mail.TooLargeError
		if errors.As(err, &big) && len(m.Attachments) > 0 && ctx.Err() == nil {
			log.Warn("background search result too large to mail; mailing the summary without it", "error", err)
			err = r.Mailer.Send(ctx, r.message(as, big))
		}
		permanent = mail.Permanent(err)
	}
	if ctx.Err() != nil {
		return nil
	}
	as.DeliveryAttempts++
	if err == nil {
		as.State, as.DeliveredTime, as.LastError, as.NextAttempt = audit.SearchDelivered, r.Service.Now().UTC(), "", time.Time{}
		log.Info("background search result mailed", "recipients", len(as.StatusMailRecipients), "attempt", as.DeliveryAttempts)
		r.observe(DeliveryDelivered)
		return r.save(ctx, as)
	}
	as.LastError = err.Error()
	switch {
	case permanent:
		as.State, as.NextAttempt = audit.SearchDeliveryFailed, time.Time{}
		log.Error("background search result refused for good; not retrying", "attempt", as.DeliveryAttempts, "error", err)
		r.observe(DeliveryFailed)
	case as.DeliveryAttempts > len(backoff):
		as.State, as.NextAttempt = audit.SearchDeliveryFailed, time.Time{}
		log.Error("background search result could not be mailed; giving up", "attempts", as.DeliveryAttempts, "error", err)
		r.observe(DeliveryFailed)
	default:
		as.NextAttempt = time.Now().Add(backoff[as.DeliveryAttempts-1]).UTC()
		log.Warn("background search result could not be mailed; will retry", "attempt", as.DeliveryAttempts, "next_attempt", as.NextAttempt, "error", err)
		r.observe(DeliveryRetried)
	}
	return r.save(ctx, as)
}

func (r *Runner) observe(outcome string) {
	if r.Observe != nil {
		r.Observe(outcome)
	}
}

// message is the mail: a body that says what was searched and what came
// out, and the result as SearchResult.xml (and .csv, .json on request).
// With tooLarge (the relay would not take the mail with them) nothing is
// attached and the body says why and how to download the result.
func (r *Runner) message(as *audit.AuditLogSearch, tooLarge *mail.TooLargeError) *mail.Message {
	var b strings.Builder
	list := func(v []string, none string) string {
		if len(v) == 0 {
			return none
		}
		return strings.Join(v, ", ")
	}
	fmt.Fprintf(&b, "The mailbox audit log search \"%s\" has completed.\n\n", as.Name)
	fmt.Fprintf(&b, "Identity:        %s\n", as.Identity)
	fmt.Fprintf(&b, "Submitted by:    %s\n", as.CreatedBy)
	fmt.Fprintf(&b, "Submitted:       %s\n", as.CreationTime.Format(time.RFC3339))
	fmt.Fprintf(&b, "Completed:       %s\n", as.CompletedTime.Format(time.RFC3339))
	fmt.Fprintf(&b, "Mailboxes:       %s\n", list(as.Mailboxes, "all"))
	fmt.Fprintf(&b, "Start date:      %s\n", as.StartDate.Format(time.RFC3339))
	fmt.Fprintf(&b, "End date:        %s\n", as.EndDate.Format(time.RFC3339))
	fmt.Fprintf(&b, "Logon types:     %s\n", list(as.LogonTypes, "all"))
	fmt.Fprintf(&b, "Operations:      %s\n", list(as.Operations, "all"))
	fmt.Fprintf(&b, "Show details:    %t\n", as.ShowDetails)
	fmt.Fprintf(&b, "External access: %t\n", as.ExternalAccess)
	fmt.Fprintf(&b, "Records found:   %d\n\n", as.Records)
	m := &mail.Message{To: as.StatusMailRecipients, Subject: "Mailbox audit log search \"" + as.Name + "\" completed"}
	if tooLarge != nil {
		if tooLarge.Reply != nil {
			fmt.Fprintf(&b, "The result is too large to mail: the relay refused the mail with it attached (%v).\n", tooLarge.Reply)
		} else {
			fmt.Fprintf(&b, "The result is too large to mail: the mail with it attached would be %d bytes, and the relay takes at most %d.\n", tooLarge.Size, tooLarge.Limit)
		}
	}
	for _, format := range as.Formats {
		path := ResultPath(r.Service.ResultsDir, as.Identity, format)
		name := "SearchResult." + format
		fi, err := os.Stat(path)
		switch {
		case err != nil:
			fmt.Fprintf(&b, "%s: the result file is missing (%v).\n", name, err)
		case tooLarge != nil:
			fmt.Fprintf(&b, "%s (%d bytes) is not attached: download it with\n  %s\n", name, fi.Size(), downloadHint(as, format))
		case r.MaxAttachment > 0 && fi.Size() > r.MaxAttachment:
			fmt.Fprintf(&b, "%s (%d bytes) is larger than mail may carry here (%d bytes): download it with\n  %s\n", name, fi.Size(), r.MaxAttachment, downloadHint(as, format))
		default:
			fmt.Fprintf(&b, "Attached: %s (%d bytes).\n", name, fi.Size())
			m.Attachments = append(m.Attachments, mail.Attachment{Name: name, ContentType: contentTypes[format], Path: path})
		}
	}
	b.WriteString("\nThe result can also be downloaded for as long as the daemon keeps it:\n")
	fmt.Fprintf(&b, "  mailaudit get-audit-log-search-result %s --format xml\n", as.Identity)
	fmt.Fprintf(&b, "  GET /api/v1/audit-log-searches/%s/result?format=xml (an auditor token)\n", as.Identity)
	m.Body = b.String()
	return m
}

// downloadHint is the command that downloads a result, and the API's path.
func downloadHint(as *audit.AuditLogSearch, format string) string {
	return fmt.Sprintf("mailaudit get-audit-log-search-result %s --format %s > SearchResult.%s\n  or GET /api/v1/audit-log-searches/%s/result?format=%s",
		as.Identity, format, format, as.Identity, format)
}
