package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/mailaudit/mailaudit/audit"
)

// ErrStale is returned when the log grew since the caller's Load: another
// process wrote to the same store.
var ErrStale = audit.Errorf(audit.EConflict, "the store was changed by another process; reload and try again")

// txInterner assigns str ids inside a transaction and remembers the new ones,
// so that a failed commit can take them back out of the cache.
type txInterner struct {
	s     *Store
	tx    *sql.Tx
	ins   *sql.Stmt
	added []string
	err   error
}

func (t *txInterner) id(str string) int64 {
	if str == "" || t.err != nil {
		return 0
	}
	// ids belongs to the writer (commitMu is held): no lock to read it.
	id, ok := t.s.ids[str]
	if ok {
		return id
	}
	// Stored strings are text: what is not UTF-8 is kept as U+FFFD, as in
	// the record body (mapWriter.text).
	if !utf8.ValidString(str) {
		return t.id(strings.ToValidUTF8(str, "\uFFFD"))
	}
	if t.err = t.ins.QueryRow(str).Scan(&id); t.err != nil {
		return 0
	}
	t.s.ids[str] = id
	t.s.mu.Lock()
	t.s.strs.set(id, str)
	t.s.mu.Unlock()
	t.added = append(t.added, str)
	return id
}

func (t *txInterner) idOf(b []byte) int64 {
	if id, ok := t.s.ids[string(b)]; ok {
		return id
	}
	return t.id(string(b))
}

// undo forgets the ids the transaction took: the next commit takes them
// again, for other strings.
func (t *txInterner) undo() {
	ids := make([]int64, 0, len(t.added))
	for _, str := range t.added {
		ids = append(ids, t.s.ids[str])
		delete(t.s.ids, str)
	}
	t.s.mu.Lock()
	t.s.strs.forget(ids)
	t.s.mu.Unlock()
}

// Commit writes a change in one transaction.
func (s *Store) Commit(ctx context.Context, c *audit.Commit) (err error) {
	// Once started, a commit runs to its end or fails on its own: a
	// cancelled caller must not leave half a batch behind, and a context
	// that can be cancelled costs the driver a goroutine per statement.
	ctx = context.WithoutCancel(ctx)
	if s.readOnly {
		return s.errReadOnly(fmt.Sprintf("committing %d records", len(c.Records)))
	}
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return s.wrap("starting a transaction", err)
	}
	ins, err := s.stmt(ctx, tx, `INSERT INTO str (s) VALUES (?) RETURNING id`)
	if err != nil {
		tx.Rollback()
		return err
	}
	in := &txInterner{s: s, tx: tx, ins: ins}
	var newMbx []uuid.UUID
	var created []segment
	defer func() {
		ins.Close()
		if err != nil {
			tx.Rollback()
			in.undo()
			s.mu.Lock()
			for _, g := range newMbx {
				delete(s.mbxGuid, s.mbxID[g])
				delete(s.mbxID, g)
			}
			s.mu.Unlock()
		}
	}()
	if c.Org != nil {
		b, _ := json.Marshal(c.Org)
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta (k, v) VALUES ('org', ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v`, string(b)); err != nil {
			return s.wrap("saving the organisation", err)
		}
	}
	for _, m := range c.Mailboxes {
		b, _ := json.Marshal(m)
		var id int64
		if err := tx.QueryRowContext(ctx, `INSERT INTO mailbox (guid, data) VALUES (?, ?)
			ON CONFLICT (guid) DO UPDATE SET data = excluded.data RETURNING id`, m.Guid[:], string(b)).Scan(&id); err != nil {
			return s.wrap("saving mailbox "+m.PrimarySmtpAddress, err)
		}
		s.mu.Lock()
		if _, ok := s.mbxID[m.Guid]; !ok {
			s.mbxID[m.Guid], s.mbxGuid[id] = id, m.Guid
			newMbx = append(newMbx, m.Guid)
		}
		s.mu.Unlock()
	}
	for _, p := range c.AddPermissions {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO permission (mailbox, user, rights, created) VALUES (?, ?, ?, ?)`,
			p.Mailbox[:], p.User, string(p.Rights), p.WhenCreated.UnixMilli()); err != nil {
			return s.wrap("saving a permission", err)
		}
	}
	for _, p := range c.RemovePermissions {
		if _, err := tx.ExecContext(ctx, `DELETE FROM permission WHERE mailbox = ? AND user = ? AND rights = ?`,
			p.Mailbox[:], p.User, string(p.Rights)); err != nil {
			return s.wrap("removing a permission", err)
		}
	}
	for _, b := range c.Bypasses {
		if _, err := tx.ExecContext(ctx, `INSERT INTO bypass (identity, enabled, created, changed) VALUES (?, ?, ?, ?)
			ON CONFLICT (identity) DO UPDATE SET enabled = excluded.enabled, changed = excluded.changed`,
			b.Identity, b.Enabled, b.WhenCreated.UnixMilli(), b.WhenChanged.UnixMilli()); err != nil {
			return s.wrap("saving a bypass association", err)
		}
	}
	if err := s.appendRecords(ctx, tx, in, c.Records, &created); err != nil {
		return err
	}
	for seq, n := range c.Counts {
		if _, err := tx.ExecContext(ctx, `INSERT INTO record_count (seq, n) VALUES (?, ?) ON CONFLICT (seq) DO UPDATE SET n = excluded.n`, seq, n); err != nil {
			return s.wrap("saving a count", err)
		}
	}
	var volChanged map[string]bool
	if err := s.saveVolume(ctx, tx, c.Volume, &volChanged); err != nil {
		return err
	}
	for start := 0; start < len(c.Events); {
		chunk := c.Events[start : start+chunkLen(len(c.Events)-start, eventChunk)]
		start += len(chunk)
		args := make([]any, 0, 2*len(chunk))
		for _, e := range chunk {
			args = append(args, eventHash(e.EventKey), e.Time.UnixMilli())
		}
		st, err := s.chunkStmt(ctx, tx, `INSERT OR IGNORE INTO event (h, ts) VALUES `, len(chunk), eventChunk, 2)
		if err != nil {
			return err
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return s.wrap("saving activity keys", err)
		}
	}
	for src, pos := range c.Positions {
		if _, err := tx.ExecContext(ctx, `INSERT INTO position (source, pos) VALUES (?, ?) ON CONFLICT (source) DO UPDATE SET pos = excluded.pos`, src, pos); err != nil {
			return s.wrap("saving the position of "+src, err)
		}
	}
	if in.err != nil {
		return s.wrap("saving strings", in.err)
	}
	if err := tx.Commit(); err != nil {
		return s.wrap(fmt.Sprintf("committing %d records", len(c.Records)), err)
	}
	s.addSegments(created)
	if len(c.Events) > 0 {
		s.mu.Lock()
		for _, e := range c.Events {
			s.newestEv = max(s.newestEv, e.Time.UnixMilli())
		}
		s.mu.Unlock()
	}
	for k, v := range volChanged {
		if v {
			s.volKeys[k] = true
		} else {
			delete(s.volKeys, k)
		}
	}
	return nil
}

func containsSegment(segs []segment, name string) bool {
	for _, seg := range segs {
		if seg.name == name {
			return true
		}
	}
	return false
}

// appendRecords appends records to the weeks they belong to; the weeks it had
// to create are added to created, to be known once the transaction commits.
func (s *Store) appendRecords(ctx context.Context, tx *sql.Tx, in *txInterner, records []*audit.Record, created *[]segment) error {
	if len(records) == 0 {
		return nil
	}
	var last int64
	if err := tx.QueryRowContext(ctx, lastSeq).Scan(&last); err != nil {
		return s.wrap("reading the log's length", err)
	}
	if records[0].SequenceNumber != last+1 {
		return ErrStale
	}
	for i, r := range records {
		if r.SequenceNumber != last+1+int64(i) {
			return fmt.Errorf("sqlite: record sequence numbers must be dense: %d follows %d", r.SequenceNumber, last+int64(i))
		}
	}
	last += int64(len(records))
	// In time order, so that rows are appended to a week's table rather than
	// split its pages (the engine emits MailItemsAccessed aggregates when
	// they close, after later records); the keys of one millisecond still
	// follow sequence numbers.
	records = slices.Clone(records)
	slices.SortStableFunc(records, func(a, b *audit.Record) int {
		return cmp.Compare(a.CreationTime.UnixMilli(), b.CreationTime.UnixMilli())
	})
	// Many rows a statement: the per-statement cost of the driver is larger
	// than the cost of a row. A statement's rows share a week's table.
	args := make([]any, 0, recordChunk*10)
	kx := newKeyer(tx)
	for start := 0; start < len(records); {
		seg := segmentAt(records[start].CreationTime.UnixMilli())
		if !s.hasSegment(seg.name) && !containsSegment(*created, seg.name) {
			if err := s.createSegment(ctx, tx, seg); err != nil {
				return err
			}
			*created = append(*created, seg)
		}
		end := start
		for end < len(records) && end-start < recordChunk {
			ms := records[end].CreationTime.UnixMilli()
			if ms < seg.start || ms >= seg.end {
				break
			}
			end++
		}
		chunk := records[start : start+chunkLen(end-start, recordChunk)]
		start += len(chunk)
		args = args[:0]
		for _, r := range chunk {
			var mbx int64
			if !r.IsAdmin() {
				s.mu.RLock()
				id, ok := s.mbxID[r.MailboxGuid]
				s.mu.RUnlock()
				if !ok {
					return fmt.Errorf("sqlite: record %d refers to mailbox %s, which is not in the store", r.SequenceNumber, r.MailboxGuid)
				}
				mbx = id
			}
			data, err := encode(r, in)
			if err != nil {
				return fmt.Errorf("sqlite: encoding record %d: %w", r.SequenceNumber, err)
			}
			// Admin records are stored with logon 1 so that the actor index,
			// which leaves out owner records, holds them; scan undoes it.
			logon := int(r.LogonType)
			if r.IsAdmin() {
				logon = int(audit.Admin)
			}
			k, err := kx.next(ctx, seg, r.CreationTime.UnixMilli())
			if err != nil {
				return s.wrap(fmt.Sprintf("placing record %d", r.SequenceNumber), err)
			}
			args = append(args, k, r.SequenceNumber, mbx, int(r.RecordType),
				in.id(r.Operation), logon, r.ExternalAccess, in.id(r.UserId), in.id(r.ClientIPAddress), data)
		}
		if in.err != nil {
			return s.wrap("saving strings", in.err)
		}
		insert := `INSERT INTO ` + seg.name + ` (k, seq, mailbox, rtype, op, logon, ext, actor, ip, data) VALUES `
		var st *sql.Stmt
		var err error
		if containsSegment(*created, seg.name) {
			// Only this transaction sees the new table yet: prepare on it.
			st, err = tx.PrepareContext(ctx, insert+rowsOf(len(chunk), 10))
			err = s.wrap("preparing", err)
		} else {
			s.keepWeekStmts(seg.name)
			st, err = s.chunkStmt(ctx, tx, insert, len(chunk), recordChunk, 10)
		}
		if err != nil {
			return err
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return s.wrap(fmt.Sprintf("appending records %d–%d", chunk[0].SequenceNumber, chunk[len(chunk)-1].SequenceNumber), err)
		}
	}
	// Kept apart from the log, so that retention cannot make it go back.
	keep, err := s.stmt(ctx, tx, `INSERT INTO meta (k, v) VALUES ('seq', ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v`)
	if err != nil {
		return err
	}
	if _, err := keep.ExecContext(ctx, strconv.FormatInt(last, 10)); err != nil {
		return s.wrap("saving the last sequence number", err)
	}
	return nil
}

const (
	recordChunk = 200
	eventChunk  = 1000
	volumeChunk = 500
)

// saveVolume writes volume-state changes, many rows a statement: a batch of
// activity changes thousands of entries. Most entries an ingest batch
// deletes were made in the same batch (MailItemsAccessed aggregates and the
// items bound in them, which close after minutes) and never reached the
// store: their deletes are skipped. stored tells the keys the table will
// hold once the transaction commits.
func (s *Store) saveVolume(ctx context.Context, tx *sql.Tx, entries []audit.VolumeEntry, stored *map[string]bool) error {
	if len(entries) == 0 {
		return nil
	}
	if s.volKeys == nil {
		keys := map[string]bool{}
		rows, err := tx.QueryContext(ctx, `SELECT k FROM volume`)
		if err != nil {
			return s.wrap("reading volume state", err)
		}
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return s.wrap("reading volume state", err)
			}
			keys[k] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return s.wrap("reading volume state", err)
		}
		s.volKeys = keys
	}
	// The set changes only once the transaction has committed (Commit).
	changed := map[string]bool{}
	has := func(k string) bool {
		if v, ok := changed[k]; ok {
			return v
		}
		return s.volKeys[k]
	}
	var put, del []any
	flush := func(final bool) error {
		for len(put) > 0 && (final || len(put) >= 2*volumeChunk) {
			n := chunkLen(len(put)/2, volumeChunk)
			st, err := s.chunkStmt(ctx, tx, `INSERT OR REPLACE INTO volume (k, v) VALUES `, n, volumeChunk, 2)
			if err != nil {
				return err
			}
			if _, err := st.ExecContext(ctx, put[:2*n]...); err != nil {
				return s.wrap("saving volume state", err)
			}
			put = put[2*n:]
		}
		for len(del) > 0 && (final || len(del) >= volumeChunk) {
			n := min(len(del), volumeChunk)
			del1 := `DELETE FROM volume WHERE k IN (` + placeholders(n) + `)`
			var st *sql.Stmt
			var err error
			if n == volumeChunk {
				st, err = s.stmt(ctx, tx, del1)
			} else {
				st, err = tx.PrepareContext(ctx, del1)
				err = s.wrap("preparing", err)
			}
			if err != nil {
				return err
			}
			if _, err := st.ExecContext(ctx, del[:n]...); err != nil {
				return s.wrap("saving volume state", err)
			}
			del = del[n:]
		}
		return nil
	}
	for _, e := range entries {
		if e.Value == nil {
			if !has(e.Key) {
				continue
			}
			del = append(del, e.Key)
			changed[e.Key] = false
		} else {
			put = append(put, e.Key, e.Value)
			changed[e.Key] = true
		}
		if err := flush(false); err != nil {
			return err
		}
	}
	*stored = changed
	return flush(true)
}

// chunkStmt is a multi-row insert of n rows of k parameters: prepared once
// for the lengths chunkLen picks, prepared for the one use otherwise.
func (s *Store) chunkStmt(ctx context.Context, tx *sql.Tx, insert string, n, full, k int) (*sql.Stmt, error) {
	if n == chunkLen(n, full) {
		return s.stmt(ctx, tx, insert+rowsOf(n, k))
	}
	st, err := tx.PrepareContext(ctx, insert+rowsOf(n, k))
	return st, s.wrap("preparing", err)
}

// chunkLen is how many of n rows the next statement takes: all the full
// size allows, else the largest power of two, so that a commit's last rows
// are taken by a few statements that are prepared once (chunkStmt) rather than
// by one of a new length, prepared for each commit.
func chunkLen(n, full int) int {
	if n >= full {
		return full
	}
	p := 1
	for p*2 <= n {
		p *= 2
	}
	return p
}

// rowsOf is the VALUES list of a multi-row insert: n rows of k parameters.
func rowsOf(n, k int) string {
	row := "(" + placeholders(k) + ")"
	return strings.TrimSuffix(strings.Repeat(row+",", n), ",")
}
