package service

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/mailaudit/mailaudit/audit"
)

// DefaultBatch is how many activities go into one transaction: large enough
// to amortise SQLite's index writes, small enough that a crash re-reads little.
const DefaultBatch = 10000

// maxLine bounds one activity; a longer line is refused, not read into memory
// without end.
const maxLine = 1 << 20

// Refusal is a line that was not taken, and why.
type Refusal struct {
	Line   int
	Reason string
}

// IngestReport counts what an ingest did with its lines.
type IngestReport struct {
	Read       int // activities read (blank lines aside)
	Recorded   int // made a new record
	Aggregated int // counted into a record
	NotAudited int
	Reasons    map[string]int // NotAudited by reason
	Duplicates int
	Refused    []Refusal
	// Committed is the last line whose outcome is durable.
	Committed int
}

func (r *IngestReport) add(d audit.Decision) {
	switch d.Outcome {
	case audit.Recorded:
		r.Recorded++
	case audit.Aggregated:
		r.Aggregated++
	case audit.NotAudited:
		r.NotAudited++
		if r.Reasons == nil {
			r.Reasons = map[string]int{}
		}
		r.Reasons[d.Reason]++
	}
}

// ReasonCounts lists the not-audited reasons, most frequent first.
func (r *IngestReport) ReasonCounts() []struct {
	Reason string
	Count  int
} {
	var out []struct {
		Reason string
		Count  int
	}
	for k, v := range r.Reasons {
		out = append(out, struct {
			Reason string
			Count  int
		}{k, v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Reason < out[j].Reason
	})
	return out
}

// IngestOptions tune Ingest.
type IngestOptions struct {
	// Batch is the number of activities per transaction (DefaultBatch if 0).
	Batch int
	// Check, when set, may refuse a well-formed activity (a token that may
	// submit only some sources); its error is the line's refusal.
	Check func(*audit.Activity) error
}

// MaxAhead is how far in the future an ingested activity may be dated. A
// record dated years ahead would outlive every age limit and sort first in
// every search; a day allows for a server whose clock is off by a time zone.
const MaxAhead = 24 * time.Hour

// Ingest reads activity as JSON Lines, decides and stores it. Bad lines are
// refused with their number and the rest is taken. When the store fails, the
// report says up to which line everything is durable and the error is
// returned: re-running the same input is safe, duplicates are skipped.
//
// Lines are read and decoded on a goroutine of their own, a batch ahead of
// the one being decided and committed: on a second core, decoding the next
// batch overlaps with writing this one.
func (s *Service) Ingest(ctx context.Context, in io.Reader, opt IngestOptions) (*IngestReport, error) {
	batchSize := opt.Batch
	if batchSize <= 0 {
		batchSize = DefaultBatch
	}
	chunks := make(chan *lineChunk, 1)
	done := make(chan struct{})
	defer close(done)
	check := func(a *audit.Activity) error {
		if limit := s.Now().Add(MaxAhead); a.CreationTime.After(limit) {
			return fmt.Errorf("CreationTime %s is more than %s ahead of this server's clock (%s): check the source's clock",
				a.CreationTime.UTC().Format(time.RFC3339), MaxAhead, s.Now().UTC().Format(time.RFC3339))
		}
		if opt.Check != nil {
			return opt.Check(a)
		}
		return nil
	}
	go readChunks(in, batchSize, check, chunks, done)
	rep := &IngestReport{}
	for c := range chunks {
		rep.Read += c.read
		rep.Refused = append(rep.Refused, c.refused...)
		if c.err != nil {
			return rep, c.err
		}
		if err := s.ingestBatch(ctx, c.batch, rep, c.eof); err != nil {
			return rep, err
		}
		if len(c.batch) > 0 {
			rep.Committed = c.batch[len(c.batch)-1].line
		}
		if c.eof {
			rep.Committed = c.lines
			return rep, nil
		}
	}
	return rep, nil // not reached: the last chunk has eof or err set
}

// lineChunk is a batch of decoded lines and what else reading them found.
type lineChunk struct {
	batch   []lineActivity
	read    int // activities read, refused ones included
	refused []Refusal
	lines   int // lines read so far
	eof     bool
	err     error
}

// readChunks reads and decodes lines, sending a chunk per batch (and one at
// the end of the input or at an error, after which it stops) until done is
// closed.
func readChunks(in io.Reader, batchSize int, check func(*audit.Activity) error, out chan<- *lineChunk, done <-chan struct{}) {
	defer close(out)
	br := bufio.NewReaderSize(in, 1<<16)
	var buf []byte
	lineNo := 0
	c := &lineChunk{}
	for {
		var line []byte
		var tooLong bool
		var err error
		line, buf, tooLong, err = readLine(br, buf)
		if err != nil && !errors.Is(err, io.EOF) {
			c.err = fmt.Errorf("ingest: reading line %d: %w", lineNo+1, err)
		}
		eof := errors.Is(err, io.EOF)
		if c.err == nil && (!eof || len(line) > 0 || tooLong) {
			lineNo++
			trimmed := bytes.TrimSpace(line)
			switch {
			case tooLong:
				c.read++
				c.refused = append(c.refused, Refusal{lineNo, fmt.Sprintf("line longer than %d bytes", maxLine)})
			case len(trimmed) == 0:
			default:
				c.read++
				a, perr := audit.ParseActivity(trimmed)
				if perr == nil && check != nil {
					perr = check(a)
				}
				if perr != nil {
					c.refused = append(c.refused, Refusal{lineNo, perr.Error()})
				} else {
					c.batch = append(c.batch, lineActivity{lineNo, a})
				}
			}
		}
		if len(c.batch) >= batchSize || eof || c.err != nil {
			c.eof, c.lines = eof, lineNo
			select {
			case out <- c:
			case <-done:
				return
			}
			if eof || c.err != nil {
				return
			}
			c = &lineChunk{batch: make([]lineActivity, 0, batchSize)}
		}
	}
}

type lineActivity struct {
	line int
	a    *audit.Activity
}

// readLine reads one line without its end; a line over maxLine is skipped
// and reported as too long. The line is valid until the next call: it is
// bufio's buffer, or buf (returned for reuse) when it spans more than one.
func readLine(br *bufio.Reader, buf []byte) (line, _ []byte, tooLong bool, err error) {
	chunk, err := br.ReadSlice('\n')
	if !errors.Is(err, bufio.ErrBufferFull) {
		return bytes.TrimRight(chunk, "\r\n"), buf, false, err
	}
	line = append(buf[:0], chunk...)
	for {
		chunk, err = br.ReadSlice('\n')
		if len(line)+len(chunk) > maxLine {
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			return nil, line, true, err
		}
		line = append(line, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return bytes.TrimRight(line, "\r\n"), line, false, err
	}
}

// IngestActivities decides and commits activities that a source parsed, in
// one transaction together with the source's new positions (which may come
// alone, with no activity). Duplicates are skipped. It is what sources call.
func (s *Service) IngestActivities(ctx context.Context, acts []*audit.Activity, positions map[string]string) (*IngestReport, error) {
	batch := make([]lineActivity, len(acts))
	for i, a := range acts {
		batch[i] = lineActivity{i + 1, a}
	}
	rep := &IngestReport{Read: len(acts)}
	return rep, s.ingestBatchWith(ctx, batch, rep, false, positions)
}

func (s *Service) ingestBatch(ctx context.Context, batch []lineActivity, rep *IngestReport, last bool) error {
	return s.ingestGrouped(ctx, batch, rep, last)
}

func (s *Service) ingestBatchWith(ctx context.Context, batch []lineActivity, rep *IngestReport, last bool, positions map[string]string) error {
	defer s.lockWrite()()
	return s.ingestParts(ctx, []*part{{batch: batch, rep: rep, last: last}}, positions)
}

// part is one caller's batch in a commit that may hold several (group.go).
type part struct {
	batch []lineActivity
	rep   *IngestReport
	last  bool // the caller's input ends here: seal what is due by now
}

// ingestParts decides the parts in order and commits them in one
// transaction; each part's report gets its own outcome. The caller holds
// lockWrite.
func (s *Service) ingestParts(ctx context.Context, parts []*part, positions map[string]string) error {
	n, last := 0, false
	for _, p := range parts {
		n += len(p.batch)
		last = last || p.last
	}
	keys := make([]audit.Event, 0, n)
	for _, p := range parts {
		for _, la := range p.batch {
			keys = append(keys, audit.Event{EventKey: audit.EventKey{Source: la.a.Source, Id: la.a.SourceEventId}, Time: la.a.CreationTime.UTC().Truncate(time.Millisecond)})
		}
	}
	lines := "sealing aggregates"
	if len(parts) == 1 && n > 0 {
		b := parts[0].batch
		lines = fmt.Sprintf("lines %d–%d not recorded", b[0].line, b[len(b)-1].line)
	} else if n > 0 {
		lines = fmt.Sprintf("%d batches of %d activities not recorded", len(parts), n)
	}
	// The duplicate check reads only the store: readers need not wait.
	s.mu.Unlock()
	seen, err := s.store.Seen(ctx, keys)
	s.mu.Lock()
	if err != nil {
		return fmt.Errorf("ingest: %s: %w", lines, err)
	}
	if err := s.recount(ctx); err != nil {
		return fmt.Errorf("ingest: %s: %w", lines, err)
	}
	var events []audit.Event
	tallies := make([]IngestReport, len(parts))
	inBatch := make(map[audit.Event]bool, n)
	k := 0
	for pi, p := range parts {
		for _, la := range p.batch {
			key := keys[k]
			k++
			if seen[key] || inBatch[key] {
				tallies[pi].Duplicates++
				continue
			}
			inBatch[key] = true
			d := s.eng.Decide(la.a)
			tallies[pi].add(d)
			if d.Remember() {
				events = append(events, key)
			}
		}
	}
	s.eng.Advance(s.eng.Clock)
	if last {
		s.eng.Advance(s.Now().UTC())
	}
	if err := s.commit(ctx, &audit.Commit{Events: events, Positions: positions}); err != nil {
		return fmt.Errorf("ingest: %s: %w", lines, err)
	}
	for pi, p := range parts {
		t, rep := tallies[pi], p.rep
		rep.Recorded += t.Recorded
		rep.Aggregated += t.Aggregated
		rep.NotAudited += t.NotAudited
		rep.Duplicates += t.Duplicates
		for k, v := range t.Reasons {
			if rep.Reasons == nil {
				rep.Reasons = map[string]int{}
			}
			rep.Reasons[k] += v
		}
	}
	return nil
}
