package storetest

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailaudit/mailaudit/audit"
)

// testConcurrency searches while several goroutines commit (one at a time, as
// a service's writers do): every search must see a consistent log, a prefix
// of what was committed, every record whole.
func (s *suite) testConcurrency(t *testing.T) {
	s.run(t, "", func(t *testing.T, st audit.Store, _ *audit.State) {
		f := NewFixture()
		mustCommit(t, st, &audit.Commit{Mailboxes: f.Mailboxes()})
		const writers, commits, perCommit, searchers = 3, 12, 3, 3

		var (
			mu        sync.Mutex // serialises the writers
			committed sync.Map   // sequence number → canonical record
			written   atomic.Int64
			failed    atomic.Bool
			wg        sync.WaitGroup
			done      = make(chan struct{})
		)
		fail := func(format string, args ...any) {
			if failed.CompareAndSwap(false, true) {
				t.Errorf(format, args...)
			}
		}
		kinds := f.Kinds()
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range commits {
					mu.Lock()
					// A new mailbox in every commit, with a record of its own.
					m := mailbox(fmt.Sprintf("temp-%d-%d@example.org", w, i), audit.UserMailbox, fmt.Sprintf("Temp %d/%d", w, i), t0)
					var rs []*audit.Record
					var events []audit.Event
					for j := range perCommit {
						seq := f.LastSeq() + int64(j) + 1
						r := kinds[(w+i+j)%len(kinds)](t0.Add(time.Duration(seq)*time.Second + sub(int(seq))))
						if j == 0 {
							f.actor(r, m)
							f.on(r, m)
							r.RecordType, r.UserType, r.ExternalAccess = audit.ExchangeItem, audit.UserTypeRegular, false
						}
						rs = append(rs, r)
						events = append(events, audit.Event{EventKey: audit.EventKey{Source: r.Source, Id: fmt.Sprintf("ev-%d", seq)}, Time: eventTime(r.CreationTime)})
					}
					f.Seq(rs...)
					for _, r := range rs {
						committed.Store(r.SequenceNumber, canon(r))
					}
					err := st.Commit(ctx(t), &audit.Commit{Mailboxes: []*audit.Mailbox{m}, Records: rs, Events: events})
					if err == nil {
						written.Store(f.LastSeq())
					}
					mu.Unlock()
					if err != nil {
						fail("Commit of records %v: %v", seqs(rs), err)
						return
					}
				}
			}()
		}

		check := func(what string, got []*audit.Record, from int64) (int64, bool) {
			for i, r := range got {
				if want := from - int64(i); r.SequenceNumber != want {
					fail("%s while committing: record %d where %d belongs (got %v): not a consistent snapshot", what, r.SequenceNumber, want, seqs(got))
					return 0, false
				}
				want, ok := committed.Load(r.SequenceNumber)
				if !ok {
					fail("%s while committing: record %d, which was never committed", what, r.SequenceNumber)
					return 0, false
				}
				if d := diff(canon(r), want); len(d) > 0 {
					fail("%s while committing: record %d differs:\n\t%s", what, r.SequenceNumber, strings.Join(d, "\n\t"))
					return 0, false
				}
			}
			return from, true
		}
		var swg sync.WaitGroup
		for range searchers {
			swg.Add(1)
			go func() {
				defer swg.Done()
				var last int64
				for !failed.Load() {
					select {
					case <-done:
						return
					default:
					}
					floor := written.Load()
					var got []*audit.Record
					if _, err := st.Search(ctx(t), &audit.Query{}, func(r *audit.Record) error { got = append(got, r); return nil }); err != nil {
						fail("Search while committing: %v", err)
						return
					}
					top := int64(len(got))
					if top < floor || top < last {
						fail("Search while committing found %d records; %d were committed before it started", top, max(floor, last))
						return
					}
					if _, ok := check("Search", got, top); !ok {
						return
					}
					last = top

					got = got[:0]
					if _, err := st.Search(ctx(t), &audit.Query{Limit: 5, FreeText: "/"}, func(r *audit.Record) error { got = append(got, r); return nil }); err != nil {
						fail("Search with FreeText while committing: %v", err)
						return
					}
					for i := 1; i < len(got); i++ {
						if got[i].SequenceNumber >= got[i-1].SequenceNumber {
							fail("Search with FreeText while committing: out of order: %v", seqs(got))
							return
						}
					}
					if _, err := st.Seen(ctx(t), []audit.Event{{EventKey: audit.EventKey{Source: "dovecot", Id: "ev-1"}, Time: t0}}); err != nil {
						fail("Seen while committing: %v", err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(done)
		swg.Wait()
		if t.Failed() {
			return
		}

		total := int64(writers * commits * perCommit)
		got := searchAll(t, st, audit.Query{})
		if _, ok := check("Search", got, total); !ok || int64(len(got)) != total {
			t.Errorf("after the commits, Search found %d records, want %d", len(got), total)
		}
		if seq := mustLoad(t, st).Seq; seq != total {
			t.Errorf("Load().Seq = %d, want %d", seq, total)
		}
	})
}
