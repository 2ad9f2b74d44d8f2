package service

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailaudit/mailaudit/audit"
	"github.com/mailaudit/mailaudit/sqlite"
)

// gatedStore is the SQLite store with its commits counted, the first held
// until the test lets it go: a way to line up batches behind a commit.
type gatedStore struct {
	*sqlite.Store
	mu      sync.Mutex
	commits int
	gate    chan struct{}
}

func (g *gatedStore) Commit(ctx context.Context, c *audit.Commit) error {
	g.mu.Lock()
	g.commits++
	first := g.commits == 1
	g.mu.Unlock()
	if first {
		<-g.gate
	}
	return g.Store.Commit(ctx, c)
}

// Batches that arrive while a commit runs are committed together by the
// next writer, each caller with its own report; a duplicate across two of
// them is stored once.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	g := &gatedStore{Store: st, gate: make(chan struct{})}
	svc, err := Open(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	svc.Now = func() time.Time { return time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC) }
	type result struct {
		rep *IngestReport
		err error
	}
	send := func(line string, out chan<- result) {
		rep, err := svc.Ingest(ctx, strings.NewReader(line+"\n"), IngestOptions{})
		out <- result{rep, err}
	}
	first := make(chan result, 1)
	go send(act(100, "alice@example.org", "alice@example.org", "HardDelete"), first)
	for g.count() < 1 {
		time.Sleep(time.Millisecond)
	}
	// The first commit is held; ten batches line up behind it, one of them
	// the same activity as another.
	const n = 10
	rest := make(chan result, n)
	for i := range n {
		id := i
		if i == n-1 {
			id = 0
		}
		go send(act(id, "bob@example.org", "alice@example.org", "HardDelete"), rest)
	}
	for svc.queued() < n {
		time.Sleep(time.Millisecond)
	}
	close(g.gate)
	if r := <-first; r.err != nil || r.rep.Recorded != 1 {
		t.Fatalf("first batch: %+v %v", r.rep, r.err)
	}
	recorded, dups := 0, 0
	for range n {
		r := <-rest
		if r.err != nil || r.rep.Read != 1 || r.rep.Recorded+r.rep.Duplicates != 1 {
			t.Fatalf("a grouped batch: %+v %v", r.rep, r.err)
		}
		recorded += r.rep.Recorded
		dups += r.rep.Duplicates
	}
	if recorded != n-1 || dups != 1 {
		t.Errorf("recorded %d, duplicates %d; want %d and 1", recorded, dups, n-1)
	}
	if c := g.count(); c != 2 {
		t.Errorf("%d commits for 11 batches, want 2 (the held one and the group)", c)
	}
	count := 0
	svc.SearchMailboxAuditLog(ctx, MailboxSearch{Identities: []string{"alice"}, Start: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
		ResultSize: 1000}, func(*audit.Record) error { count++; return nil })
	if count != n {
		t.Errorf("%d records stored, want %d", count, n)
	}
}

func (g *gatedStore) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.commits
}

func (s *Service) queued() int {
	s.group.mu.Lock()
	defer s.group.mu.Unlock()
	return len(s.group.pending)
}
