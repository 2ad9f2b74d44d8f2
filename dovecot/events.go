package dovecot

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/mailaudit/mailaudit/audit"
)

// Dovecot's event export over HTTP (event_exporter transport = http-post):
// Dovecot's stats process POSTs each exported event, one JSON object a
// request, to a URL. It is the way for a mailaudit that cannot read the log
// file, but it is lossy, and never the default: Dovecot sends each event once,
// drops it when the receiver is down or slow (transport_timeout), and sends
// them unordered. The mail_log and login lines still come only through the
// log file (Dovecot 2.3 cannot export them), so a source in this mode reads
// both: the log file, and the events the daemon's API took and spooled here
// (POST /api/v1/dovecot/events).
//
// The spool is a file of lines in the form the log transport writes,
//
//	2026-11-22T04:56:20.071799+0000 stats: Info: {"event":"mail_opened",…}
//
// so that the translator reads them as it reads the log, and the tail
// follows it across its rotation (by rename, to SPOOL.1, when it outgrows
// EventSpoolMax) as it follows a log. An event is answered once it is held,
// before it is written: one that arrived within the last second before a
// crash is lost (a clean stop writes what is held).

// EventSpoolMax is the size at which the spool is rotated.
const EventSpoolMax = 64 << 20

// DefaultReorder is how long an event is held before it is spooled, so that
// events that arrive out of order are written in the order they ended.
const DefaultReorder = time.Second

// maxHeld bounds the events held while the spool cannot be written (a full
// disk): beyond it Add refuses, and Dovecot hears so.
const maxHeld = 100_000

// EventSpool takes events posted by Dovecot and appends them to a spool
// file, in the order they ended, once they have waited Reorder.
type EventSpool struct {
	Path    string
	Reorder time.Duration
	Log     *slog.Logger

	mu      sync.Mutex
	f       *os.File
	size    int64
	held    []heldEvent
	stop    chan struct{}
	stopped chan struct{}
}

type heldEvent struct {
	end, arrived time.Time
	json         []byte
}

// OpenEventSpool opens (or creates) the spool and starts writing to it what
// it is given.
func OpenEventSpool(path string, reorder time.Duration, log *slog.Logger) (*EventSpool, error) {
	if reorder <= 0 {
		reorder = DefaultReorder
	}
	if log == nil {
		log = slog.Default()
	}
	s := &EventSpool{Path: path, Reorder: reorder, Log: log, stop: make(chan struct{}), stopped: make(chan struct{})}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("dovecot: event spool: %w", err)
	}
	if err := s.open(); err != nil {
		return nil, err
	}
	go s.run()
	return s, nil
}

func (s *EventSpool) open() error {
	f, err := os.OpenFile(s.Path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("dovecot: opening the event spool: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("dovecot: opening the event spool: %w", err)
	}
	s.f, s.size = f, st.Size()
	return nil
}

// Add holds an event, a JSON object as Dovecot posted it, for the spool. It
// refuses what is not an exported event (audit.EInvalid), and anything while
// the spool cannot be written and too many events wait (ErrSpoolFull).
func (s *EventSpool) Add(body []byte) error {
	e, err := decodeEvent(string(body))
	if err != nil {
		return audit.Errorf(audit.EInvalid, "%v", err)
	}
	// One line per event: Dovecot writes no newlines, but a client could.
	var compact []byte
	if slices.Contains(body, '\n') {
		var b []byte
		if b, err = json.Marshal(json.RawMessage(body)); err != nil {
			return audit.Errorf(audit.EInvalid, "malformed JSON: %v", err)
		}
		compact = b
	} else {
		compact = slices.Clone(body)
	}
	end := e.End
	if end.IsZero() {
		end = time.Now()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.held) >= maxHeld {
		return ErrSpoolFull
	}
	s.held = append(s.held, heldEvent{end: end, arrived: time.Now(), json: compact})
	return nil
}

// ErrSpoolFull says that events cannot be taken because the spool cannot be
// written and too many wait for it.
var ErrSpoolFull = errors.New("dovecot: the spool of posted events cannot be written (see the daemon's log) and holds too many events already")

// run writes out the held events that have waited long enough, every tenth
// of the reorder time.
func (s *EventSpool) run() {
	defer close(s.stopped)
	tick := time.NewTicker(max(s.Reorder/10, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			s.flush(time.Time{})
			return
		case now := <-tick.C:
			s.flush(now.Add(-s.Reorder))
		}
	}
}

// flush writes the held events that arrived before due (all of them when
// due is zero), oldest end first, and syncs the spool.
func (s *EventSpool) flush(due time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.held) == 0 {
		return
	}
	slices.SortStableFunc(s.held, func(a, b heldEvent) int { return a.end.Compare(b.end) })
	// Everything that ended before the oldest event still held back goes
	// out, so that a later event is never written before an earlier one
	// that is already due.
	n := len(s.held)
	if !due.IsZero() {
		n = 0
		for i, h := range s.held {
			if h.arrived.After(due) {
				break
			}
			n = i + 1
		}
	}
	if n == 0 {
		return
	}
	var buf []byte
	for _, h := range s.held[:n] {
		buf = h.end.UTC().AppendFormat(buf, "2006-01-02T15:04:05.000000-0700")
		buf = append(buf, " stats: Info: "...)
		buf = append(buf, h.json...)
		buf = append(buf, '\n')
	}
	if err := s.write(buf); err != nil {
		// Kept for the next round: a full disk may clear.
		s.Log.Error("cannot write Dovecot's posted events to the spool; keeping them and retrying", "spool", s.Path, "events", n, "error", err)
		return
	}
	s.held = slices.Delete(s.held, 0, n)
}

func (s *EventSpool) write(b []byte) error {
	if s.size+int64(len(b)) > EventSpoolMax && s.size > 0 {
		// Rotated by rename, as logrotate would: the source's tail
		// finishes the old file, then reads the new one, and removes the
		// old one (RemoveFinished). One still there is not read yet: the
		// spool grows on rather than lose it.
		if _, err := os.Stat(s.Path + ".1"); errors.Is(err, os.ErrNotExist) {
			if err := os.Rename(s.Path, s.Path+".1"); err != nil {
				return err
			}
			s.f.Close()
			if err := s.open(); err != nil {
				return err
			}
		}
	}
	n, err := s.f.Write(b)
	s.size += int64(n)
	if err != nil {
		return err
	}
	return s.f.Sync()
}

// RemoveFinished removes the spool's rotated file once a reader has gone on
// to another file (reading is at inode ino, not the rotated file's).
func RemoveFinished(spool string, ino uint64) error {
	st, err := os.Stat(spool + ".1")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	if inode(st) == ino {
		return nil
	}
	return os.Remove(spool + ".1")
}

// Close writes what is held and closes the spool.
func (s *EventSpool) Close() error {
	close(s.stop)
	<-s.stopped
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.Close()
}
