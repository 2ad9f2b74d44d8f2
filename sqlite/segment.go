package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"time"
)

// A segment is one week of the log: a table of records whose CreationTime
// falls in [start, end), with its own indexes.
type segment struct {
	name       string
	start, end int64 // Unix milliseconds
}

const week = 7 * 24 * time.Hour

// monday is a Monday, 00:00 UTC, from which weeks are counted.
var monday = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// segmentAt is the segment holding time ms.
func segmentAt(ms int64) segment {
	t := time.UnixMilli(ms).UTC()
	n := t.Sub(monday) / week
	if t.Before(monday) && t.Sub(monday)%week != 0 {
		n--
	}
	start := monday.Add(n * week)
	return segment{name: "record_" + start.Format("20060102"), start: start.UnixMilli(), end: start.Add(week).UnixMilli()}
}

// segmentNamed parses a table name back into its segment.
func segmentNamed(name string) (segment, bool) {
	day, ok := strings.CutPrefix(name, "record_")
	if !ok {
		return segment{}, false
	}
	t, err := time.Parse("20060102", day)
	if err != nil {
		return segment{}, false
	}
	return segment{name: name, start: t.UnixMilli(), end: t.Add(week).UnixMilli()}, true
}

// A record's key (k, the rowid of its week's table) is its time and its
// place among the week's records of the same millisecond: the milliseconds
// since the week began times 2^msShift, plus 0 for the first record of that
// millisecond, 1 for the second, and so on. Keyed so, a week's table is in
// search order (newest first is descending k, and records of one millisecond
// follow their sequence numbers, which grow with each commit), appends go
// to its end, and the time costs no column and no index of its own.
//
// With 2^17 places a millisecond, keys stay below 2^47, which SQLite writes
// in 6 bytes in index entries: a week would need more than 131,072 records
// of one millisecond to run out, and its commit would fail.
const msShift = 17

// keyAt is the first key of millisecond ms in seg; keyTime is a key's time.
func (seg segment) keyAt(ms int64) int64  { return (ms - seg.start) << msShift }
func (seg segment) keyTime(k int64) int64 { return seg.start + k>>msShift }

// keyBound is the first key of millisecond ms in seg, clamped to the week.
func (seg segment) keyBound(ms int64) int64 {
	return seg.keyAt(min(max(ms, seg.start), seg.end))
}

func segmentSchema(name string) []string {
	return []string{
		`CREATE TABLE ` + name + ` (k INTEGER PRIMARY KEY, seq INTEGER NOT NULL, mailbox INTEGER NOT NULL, rtype INTEGER NOT NULL,
			op INTEGER NOT NULL, logon INTEGER NOT NULL, ext INTEGER NOT NULL, actor INTEGER NOT NULL, ip INTEGER NOT NULL, data BLOB NOT NULL)`,
		// Index entries end with the key, so a mailbox's (and an actor's)
		// entries are in time order.
		`CREATE INDEX ` + name + `_mailbox ON ` + name + ` (mailbox)`,
		// Owner records are left out: an owner acts only on the own mailbox,
		// so those are found through the mailbox index (Search).
		`CREATE INDEX ` + name + `_actor ON ` + name + ` (actor) WHERE logon != 0`,
	}
}

// keyer assigns the keys of a transaction's records.
type keyer struct {
	tx  *sql.Tx
	top map[string]int64           // by week: the highest key
	ms  map[string]map[int64]int64 // by week and millisecond: the highest key
}

func newKeyer(tx *sql.Tx) *keyer {
	return &keyer{tx: tx, top: map[string]int64{}, ms: map[string]map[int64]int64{}}
}

// next is the key of a new record of time ms in seg.
func (kx *keyer) next(ctx context.Context, seg segment, ms int64) (int64, error) {
	base := seg.keyAt(ms)
	top, ok := kx.top[seg.name]
	if !ok {
		if err := kx.tx.QueryRowContext(ctx, `SELECT coalesce(max(k), -1) FROM `+seg.name).Scan(&top); err != nil {
			return 0, err
		}
	}
	inMs := kx.ms[seg.name]
	if inMs == nil {
		inMs = map[int64]int64{}
		kx.ms[seg.name] = inMs
	}
	var k int64
	switch last, seen := inMs[ms]; {
	case base > top:
		k = base // the usual case: later than everything in the week
	case seen:
		k = last + 1
	case top>>msShift == base>>msShift:
		k = top + 1
	default:
		// Earlier than the week's newest record (an aggregate sealed late):
		// after what that millisecond already has.
		var have sql.NullInt64
		if err := kx.tx.QueryRowContext(ctx, `SELECT max(k) FROM `+seg.name+` WHERE k >= ? AND k < ?`, base, base+1<<msShift).Scan(&have); err != nil {
			return 0, err
		}
		k = base
		if have.Valid {
			k = have.Int64 + 1
		}
	}
	if k>>msShift != base>>msShift {
		return 0, fmt.Errorf("more than %d records in millisecond %d", 1<<msShift, ms)
	}
	inMs[ms] = k
	kx.top[seg.name] = max(top, k)
	return k, nil
}

func (s *Store) loadSegments(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'table' AND name GLOB 'record_[0-9]*'`)
	if err != nil {
		return s.wrap("listing the log's weeks", err)
	}
	defer rows.Close()
	var segs []segment
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return s.wrap("listing the log's weeks", err)
		}
		if seg, ok := segmentNamed(name); ok {
			segs = append(segs, seg)
		}
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].start < segs[j].start })
	s.mu.Lock()
	s.segments = segs
	s.mu.Unlock()
	return s.wrap("listing the log's weeks", rows.Err())
}

// segmentList is a copy of the known segments, oldest first.
func (s *Store) segmentList() []segment {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]segment(nil), s.segments...)
}

// hasSegment reports whether a segment's table exists.
func (s *Store) hasSegment(name string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, seg := range s.segments {
		if seg.name == name {
			return true
		}
	}
	return false
}

// createSegment creates a segment's table in tx. The caller adds it to the
// list once tx has committed.
func (s *Store) createSegment(ctx context.Context, tx *sql.Tx, seg segment) error {
	for _, q := range segmentSchema(seg.name) {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return s.wrap(fmt.Sprintf("creating the log's week %s", seg.name), err)
		}
	}
	return nil
}

func (s *Store) addSegments(segs []segment) {
	if len(segs) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.segments = append(s.segments, segs...)
	sort.Slice(s.segments, func(i, j int) bool { return s.segments[i].start < s.segments[j].start })
}

func (s *Store) dropSegment(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, seg := range s.segments {
		if seg.name == name {
			s.segments = append(s.segments[:i], s.segments[i+1:]...)
			return
		}
	}
}
