// Package service holds the application services that every face (command
// line, HTTP API, web UI) calls: directory and audit configuration, ingest and
// search. Each change is one store transaction together with the admin audit
// record that describes it, so configuration changes cannot go unrecorded.
//
// A Service keeps the directory and the engine's state in memory and is the
// only writer of its store; it serialises changes.
package service

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mailaudit/mailaudit/audit"
)

// Service is the application over one store.
type Service struct {
	store audit.Store
	// Now is the clock; tests set it.
	Now func() time.Time
	// ResultsDir is where background searches' results are kept (the
	// daemon's <data>/searches).
	ResultsDir string
	// SearchResultAgeLimit is how long a finished background search's
	// result is kept (retention.search_result_age_limit); 0 keeps them.
	SearchResultAgeLimit time.Duration

	// wmu serialises the writers (ingest, changes, sealing, retention): each
	// decides on the state the previous one made durable, which keeps
	// sequence numbers dense. mu guards the in-memory state; a writer holds
	// it while it changes that state but lets go of it while the store
	// commits (an fsync), so searches and directory reads are not held up
	// by ingest. Writers take wmu, then mu (lockWrite).
	wmu   sync.Mutex
	mu    sync.Mutex
	group groupQueue
	dir   *audit.Directory
	eng   *audit.Engine
	// recounted tells that the engine's throttles hold the store's records
	// (recount).
	recounted bool
}

// lockWrite takes the writer's locks; the function it returns releases
// them.
func (s *Service) lockWrite() func() {
	s.wmu.Lock()
	s.mu.Lock()
	return func() {
		s.mu.Unlock()
		s.wmu.Unlock()
	}
}

// Open loads the store's state. Aggregates whose window ended while nothing
// ran are sealed by the next Flush or ingest.
func Open(ctx context.Context, store audit.Store) (*Service, error) {
	s := &Service{store: store, Now: time.Now}
	if err := s.reload(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Store is the store under the service.
func (s *Service) Store() audit.Store { return s.store }

func (s *Service) reload(ctx context.Context) error {
	st, err := s.store.Load(ctx)
	if err != nil {
		return err
	}
	vol := audit.NewVolume()
	if err := vol.Load(st.Volume); err != nil {
		return err
	}
	s.dir = st.Dir
	s.eng = audit.NewEngine(st.Dir, vol, st.Seq)
	s.recounted = false
	return nil
}

// errStop ends a search early.
var errStop = errors.New("stop")

// recount rebuilds the engine's MailItemsAccessed throttles from the store's
// MailItemsAccessed records of the day before the newest one
// (audit.Volume.Recount), once before the first decision: only ingest needs
// them, and they are not worth a search for every command that opens the store.
// The caller holds lockWrite.
func (s *Service) recount(ctx context.Context) error {
	if s.recounted {
		return nil
	}
	op := []string{audit.MailItemsAccessed.String()}
	var newest time.Time
	if _, err := s.store.Search(ctx, &audit.Query{Operations: op, Limit: 1}, func(r *audit.Record) error {
		newest = r.CreationTime
		return nil
	}); err != nil {
		return fmt.Errorf("reading the MailItemsAccessed records of the last day: %w", err)
	}
	var err error
	s.eng.Vol.Recount(func(yield func(*audit.Record) bool) {
		if newest.IsZero() {
			return
		}
		q := &audit.Query{Operations: op, Start: newest.Add(-24 * time.Hour)}
		_, err = s.store.Search(ctx, q, func(r *audit.Record) error {
			if !yield(r) {
				return errStop
			}
			return nil
		})
	})
	if err != nil && !errors.Is(err, errStop) {
		return fmt.Errorf("reading the MailItemsAccessed records of the last day: %w", err)
	}
	s.recounted = true
	return nil
}

// commit writes what the engine produced plus c. On failure the in-memory
// state is reloaded from the store, so it never runs ahead of what is durable
// for longer than the commit takes. The caller holds lockWrite; mu is let go
// of during the store's commit, for readers only, since wmu keeps every other
// writer out.
func (s *Service) commit(ctx context.Context, c *audit.Commit) error {
	out := s.eng.Take()
	c.Records = append(c.Records, out.Records...)
	c.Mailboxes = append(c.Mailboxes, out.NewMailboxes...)
	c.Volume = append(c.Volume, out.Volume...)
	if c.Counts == nil {
		c.Counts = out.Counts
	} else {
		for k, v := range out.Counts {
			c.Counts[k] = v
		}
	}
	if c.Empty() {
		return nil
	}
	s.mu.Unlock()
	err := s.store.Commit(ctx, c)
	s.mu.Lock()
	if err != nil {
		if rerr := s.reload(ctx); rerr != nil {
			return fmt.Errorf("%w (and reloading the store failed: %v)", err, rerr)
		}
	}
	return err
}

// TryFlush is Flush unless a writer is busy, in which case it returns at
// once: what a search does first, which must not wait for an ingest batch
// (the daemon seals on its own schedule too).
func (s *Service) TryFlush(ctx context.Context) error {
	if !s.wmu.TryLock() {
		return nil
	}
	s.mu.Lock()
	defer s.wmu.Unlock()
	defer s.mu.Unlock()
	s.eng.Advance(s.Now().UTC())
	return s.commit(ctx, &audit.Commit{})
}

// Flush seals the aggregates whose window has ended by now and commits them.
func (s *Service) Flush(ctx context.Context) error {
	defer s.lockWrite()()
	s.eng.Advance(s.Now().UTC())
	return s.commit(ctx, &audit.Commit{})
}

// OpenAggregates counts MailItemsAccessed aggregates whose window is open.
func (s *Service) OpenAggregates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.eng.Vol.Open()
}

// Organization returns a copy of the organisation.
func (s *Service) Organization() audit.Organization {
	s.mu.Lock()
	defer s.mu.Unlock()
	return *s.dir.Org
}

// adminRecord queues the admin audit record of a configuration change.
func (s *Service) adminRecord(actor, command, object string, mailbox *audit.Mailbox, params []audit.NameValue, mods []audit.ModifiedProperty, ok bool) {
	r := &audit.Record{
		RecordType:         audit.ExchangeAdmin,
		CreationTime:       s.Now().UTC(),
		Operation:          command,
		ResultStatus:       "True",
		UserId:             actor,
		UserKey:            actor,
		UserType:           audit.UserTypeAdmin,
		ObjectId:           object,
		Parameters:         params,
		ModifiedProperties: mods,
		Source:             "mailaudit",
	}
	if !ok {
		r.ResultStatus = "False"
	}
	if mailbox != nil {
		r.MailboxGuid = mailbox.Guid
		r.MailboxOwnerUPN = mailbox.PrimarySmtpAddress
	}
	s.eng.Append(r)
}

// Position reads a source's saved position ("" when it has none).
func (s *Service) Position(ctx context.Context, source string) (string, error) {
	return s.store.Position(ctx, source)
}
