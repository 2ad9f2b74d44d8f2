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

func segmentSchema(name string) []string {
	return []string{
		`CREATE TABLE ` + name + ` (seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, mailbox INTEGER NOT NULL, rtype INTEGER NOT NULL,
			op INTEGER NOT NULL, logon INTEGER NOT NULL, ext INTEGER NOT NULL, actor INTEGER NOT NULL, ip INTEGER NOT NULL, data BLOB NOT NULL)`,
		`CREATE INDEX ` + name + `_mailbox ON ` + name + ` (mailbox, ts)`,
		// Owner records are left out: an owner acts only on the own mailbox,
		// so those are found through the mailbox index (Search).
		`CREATE INDEX ` + name + `_actor ON ` + name + ` (actor, ts) WHERE logon != 0`,
		`CREATE INDEX ` + name + `_ts ON ` + name + ` (ts)`,
	}
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
