package service

import (
	"context"
	"sync"
)

// Group commit. Each ingest batch is one transaction ending in an fsync,
// and the fsync, not the deciding, is what a small batch costs: many clients
// sending a few activities each would wait in line for one fsync apiece.
// Instead, batches that arrive while a commit is running wait together and
// the next writer commits them all at once, each caller still getting its
// own report and its answer only once its activities are durable.

// maxGroup caps the activities one group commit takes.
const maxGroup = 4 * DefaultBatch

// groupQueue holds the batches waiting for the writer's lock.
type groupQueue struct {
	mu      sync.Mutex
	pending []*groupPart
}

type groupPart struct {
	part
	done chan error
}

// ingestGrouped decides and commits a batch, together with any others that
// are waiting. It returns once the batch is committed (or failed).
func (s *Service) ingestGrouped(ctx context.Context, batch []lineActivity, rep *IngestReport, last bool) error {
	me := &groupPart{part: part{batch: batch, rep: rep, last: last}, done: make(chan error, 1)}
	q := &s.group
	q.mu.Lock()
	q.pending = append(q.pending, me)
	q.mu.Unlock()

	unlock := s.lockWrite()
	defer unlock()
	select {
	case err := <-me.done:
		// The writer before took this batch along.
		return err
	default:
	}
	// This caller's batch always goes; the others while there is room, and
	// those left wait for the next writer. Concurrent callers' batches have
	// no order between them; each caller's own stay in order, since it waits
	// for one before it sends the next.
	q.mu.Lock()
	var take, rest []*groupPart
	n := 0
	for _, p := range q.pending {
		if p == me || n+len(p.batch) <= maxGroup {
			take = append(take, p)
			n += len(p.batch)
		} else {
			rest = append(rest, p)
		}
	}
	q.pending = rest
	q.mu.Unlock()
	parts := make([]*part, len(take))
	for i, p := range take {
		parts[i] = &p.part
	}
	err := s.ingestParts(ctx, parts, nil)
	for _, p := range take {
		p.done <- err
	}
	return <-me.done
}
