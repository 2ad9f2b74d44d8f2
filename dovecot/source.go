package dovecot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/mailaudit/mailaudit/audit"
)

// Sink takes the activity a source produced, together with the position it
// was read up to, in one transaction: the position is saved only with the
// records it produced.
type Sink interface {
	Ingest(ctx context.Context, acts []*audit.Activity, positions map[string]string) error
	Position(ctx context.Context, key string) (string, error)
}

// Source reads Dovecot's audit log into a Sink.
type Source struct {
	Path string
	// Events, when set, is the spool of the events Dovecot posted over
	// HTTP (an EventSpool's file), read beside the log, which then carries
	// only the mail_log and login lines.
	Events     string
	Translator *Translator
	Sink       Sink
	Log        *slog.Logger
	// Poll is how often an idle log is looked at again.
	Poll time.Duration
	// Batch caps the lines handled in one transaction.
	Batch int
	// Hold is how long activity waiting for lines that did not come is held
	// back before it is recorded as it is.
	Hold time.Duration
	// Skipped, when set, is told of every line that could not be read (for
	// the refused-activity metric); the line is logged either way.
	Skipped func()
	// Unknown, when set, is told of every exported event whose name the
	// translator does not use (for a metric); the first of each name is
	// logged.
	Unknown func(event string)
	// MissingGrace is how long the log may be missing (renamed away and not
	// re-created yet, or removed) before the source warns that it is. A
	// rotation by rename leaves it missing until Dovecot reopens its log.
	MissingGrace time.Duration
}

// maxUnknownNames bounds the event names logged and counted one by one; the
// others are counted together, as unknownOther.
const (
	maxUnknownNames = 64
	unknownOther    = "(other)"
)

// saved is what the store keeps of a source: where it was, and the sessions
// open there.
type saved struct {
	Position string `json:"position"`
	// Check is the Tail's check of Position (absent in positions saved
	// before there was one).
	Check    string          `json:"check,omitempty"`
	Sessions json.RawMessage `json:"sessions,omitempty"`
	// Events is where the source was in the event spool, with its check.
	Events      string `json:"events,omitempty"`
	EventsCheck string `json:"events_check,omitempty"`
}

// Key is the name the source's position is saved under.
func (s *Source) Key() string {
	abs, err := filepath.Abs(s.Path)
	if err != nil {
		abs = s.Path
	}
	return "dovecot:" + abs
}

// Run reads the log until ctx ends. A missing log is waited for; a malformed
// line is reported and skipped; a failing store pauses the source, which
// retries the same batch, so nothing read is lost and nothing is read twice.
func (s *Source) Run(ctx context.Context) error {
	if s.Poll == 0 {
		s.Poll = 50 * time.Millisecond
	}
	if s.Batch == 0 {
		s.Batch = 5000
	}
	if s.Hold == 0 {
		s.Hold = 5 * time.Second
	}
	if s.MissingGrace == 0 {
		s.MissingGrace = 5 * time.Second
	}
	log := s.Log
	if log == nil {
		log = slog.Default()
	}
	log = log.With("source", s.Key())
	s.Translator.unknown = s.unknownEvent(log)
	tails, err := s.open(ctx, log)
	if err != nil {
		return err
	}
	defer func() {
		for _, t := range tails {
			t.Close()
		}
	}()
	tail := tails[0]
	// With an event spool, each round reads the log to its end, then the
	// spool: the mail_log lines a command wrote are then mostly read before
	// the event Dovecot posted when it finished, as in the log itself.
	cur := 0
	var missing time.Time // since when the source has said the log is missing
	pending, lastCommit := 0, time.Now()
	var acts []*audit.Activity
	for {
		line, err := tails[cur].Next()
		if tails[cur].Gap != "" || tails[cur].Note != "" {
			say(log, tails[cur])
		}
		if errors.Is(err, io.EOF) && cur+1 < len(tails) {
			cur++
			continue
		}
		switch {
		case err == nil:
			pending++
			got, terr := s.Translator.Line(line.Text, line.At.String())
			if terr != nil {
				log.Warn("skipping a log line", "position", line.At.String(), "error", terr)
				if s.Skipped != nil {
					s.Skipped()
				}
			}
			acts = append(acts, got...)
			if pending < s.Batch {
				continue
			}
			// Catching up on a backlog, the end of the log is not reached
			// for a long time: flush as at the end, by the log's own time,
			// so that ended sessions are forgotten as they are when the
			// source keeps up. Otherwise the sessions saved with every
			// batch grow with the whole backlog.
			acts = append(acts, s.Translator.Flush(s.Hold)...)
		case errors.Is(err, io.EOF):
			cur = 0
			acts = append(acts, s.Translator.Flush(s.Hold)...)
			missing = s.checkMissing(log, tail, missing)
		default:
			return err
		}
		if pending > 0 || len(acts) > 0 || time.Since(lastCommit) > time.Minute {
			if err := s.commit(ctx, log, tails, acts); err != nil {
				return err
			}
			acts, pending, lastCommit = acts[:0], 0, time.Now()
		}
		if errors.Is(err, io.EOF) {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(s.Poll):
			}
		}
	}
}

// open finds where the source was, waiting for the log to appear. It
// returns the log's tail, and the event spool's after it when there is one.
func (s *Source) open(ctx context.Context, log *slog.Logger) ([]*Tail, error) {
	var sv saved
	raw, err := s.Sink.Position(ctx, s.Key())
	if err != nil {
		return nil, fmt.Errorf("dovecot: reading the saved position of %s: %w", s.Path, err)
	}
	if raw != "" {
		if err := json.Unmarshal([]byte(raw), &sv); err != nil {
			return nil, fmt.Errorf("dovecot: the saved position of %s is damaged: %w", s.Path, err)
		}
		if len(sv.Sessions) > 0 {
			if err := s.Translator.Restore(sv.Sessions); err != nil {
				return nil, fmt.Errorf("dovecot: restoring the sessions of %s: %w", s.Path, err)
			}
		}
	}
	position := func(p string) (Position, error) {
		if p == "" {
			return Position{}, nil
		}
		return ParsePosition(p)
	}
	pos, err := position(sv.Position)
	if err != nil {
		return nil, err
	}
	var tails []*Tail
	for warned := false; ; {
		tail, err := OpenTailSince(s.Path, pos, sv.Check, s.Translator.Latest())
		if err == nil {
			say(log, tail)
			log.Info("reading the Dovecot log", "path", s.Path, "from", tail.Position().String())
			tails = append(tails, tail)
			break
		}
		if !warned {
			log.Warn("waiting for the Dovecot log", "path", s.Path, "error", err)
			warned = true
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	if s.Events == "" {
		return tails, nil
	}
	epos, err := position(sv.Events)
	if err != nil {
		tails[0].Close()
		return nil, err
	}
	events, err := OpenTail(s.Events, epos, sv.EventsCheck)
	if err != nil {
		tails[0].Close()
		return nil, fmt.Errorf("dovecot: opening the spool of posted events: %w", err)
	}
	say(log, events)
	log.Info("reading the events Dovecot posts", "spool", s.Events, "from", events.Position().String())
	return append(tails, events), nil
}

// say logs what the tail found out about the log, once.
func say(log *slog.Logger, tail *Tail) {
	if tail.Gap != "" {
		log.Error("lines of the Dovecot log were lost", "detail", tail.Gap)
	}
	if tail.Note != "" {
		log.Info("following the Dovecot log", "detail", tail.Note)
	}
	tail.Gap, tail.Note = "", ""
}

// commit hands activity and the new positions to the sink, retrying until
// it takes them: the source pauses rather than skips.
func (s *Source) commit(ctx context.Context, log *slog.Logger, tails []*Tail, acts []*audit.Activity) error {
	state, err := s.Translator.State()
	if err != nil {
		return fmt.Errorf("dovecot: saving sessions: %w", err)
	}
	pos := tails[0].Position()
	sv := saved{Position: pos.String(), Check: tails[0].Check(), Sessions: state}
	if len(tails) > 1 {
		sv.Events, sv.EventsCheck = tails[1].Position().String(), tails[1].Check()
	}
	raw, _ := json.Marshal(sv)
	positions := map[string]string{s.Key(): string(raw)}
	for wait := time.Second; ; wait = min(2*wait, time.Minute) {
		// A batch that was read is stored even when shutting down.
		err := s.Sink.Ingest(context.WithoutCancel(ctx), acts, positions)
		if err == nil {
			if len(tails) > 1 {
				if err := RemoveFinished(s.Events, tails[1].Position().Ino); err != nil {
					log.Warn("cannot remove the finished spool of posted events", "error", err)
				}
			}
			return nil
		}
		log.Error("cannot store activity; the source is paused and will retry", "position", pos.String(), "activities", len(acts), "error", err, "retry_in", wait.String())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// unknownEvent logs the first event of each name the translator does not
// use, and counts every one.
func (s *Source) unknownEvent(log *slog.Logger) func(event, pos string) {
	seen := map[string]bool{}
	return func(event, pos string) {
		if !seen[event] && len(seen) >= maxUnknownNames {
			event = unknownOther
		}
		if !seen[event] {
			seen[event] = true
			if event == unknownOther {
				log.Warn("ignoring Dovecot events of more names mailaudit does not use; they are counted as "+unknownOther+" and not logged", "position", pos)
			} else {
				log.Warn("ignoring Dovecot events of a name mailaudit does not use (said once per name; the metric counts them): the log carries exports of its own, or a Dovecot upgrade renamed an event", "event", event, "position", pos)
			}
		}
		if s.Unknown != nil {
			s.Unknown(event)
		}
	}
}

// checkMissing says once when the log has been missing for MissingGrace, and
// once when it is back. since is when it was said to be missing (zero: it was
// not); it returns the new value.
func (s *Source) checkMissing(log *slog.Logger, tail *Tail, since time.Time) time.Time {
	gone := tail.MissingSince()
	switch {
	case since.IsZero() && !gone.IsZero() && time.Since(gone) >= s.MissingGrace:
		log.Warn("the Dovecot log is missing; reading on in the file still open and waiting for the log to come back (after a rotation by rename, Dovecot writes a new one once told to: doveadm log reopen)",
			"path", s.Path, "missing_since", gone.UTC().Format(time.RFC3339))
		return gone
	case !since.IsZero() && gone.IsZero():
		log.Warn("the Dovecot log is back", "path", s.Path, "missing_for", time.Since(since).Round(time.Second).String())
		return time.Time{}
	}
	return since
}
