package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/mailaudit/mailaudit/audit"
)

func (s *Store) str(id int64) (string, error) {
	if id == 0 {
		return "", nil
	}
	if str, ok := s.strs.get(id); ok {
		return str, nil
	}
	return s.readStr(id)
}

// readStr reads a string another process wrote since this one loaded the
// cache, with every string added after the last one cached: a search meets
// the newest records, and their strings, first. The query runs without the
// lock, which a search holding a connection of the pool may be waiting for.
func (s *Store) readStr(id int64) (string, error) {
	doing := fmt.Sprintf("reading string %d", id)
	q, from := `SELECT id, s FROM str WHERE id >= ?`, int64(len(s.strs.strings()))
	if id < from {
		q, from = `SELECT id, s FROM str WHERE id = ?`, id
	}
	rows, err := s.db.Query(q, from)
	if err != nil {
		return "", s.wrap(doing, err)
	}
	defer rows.Close()
	var entries []strEntry
	str, found := "", false
	for rows.Next() {
		var e strEntry
		if err := rows.Scan(&e.id, &e.s); err != nil {
			return "", s.wrap(doing, err)
		}
		entries = append(entries, e)
		if e.id == id {
			str, found = e.s, true
		}
	}
	if err := rows.Err(); err != nil {
		return "", s.wrap(doing, err)
	}
	s.mu.Lock()
	s.strs.add(entries...)
	s.mu.Unlock()
	if !found {
		return "", s.wrap(doing, sql.ErrNoRows)
	}
	return str, nil
}

// lookup finds the ids of strings, case-insensitively; strings never stored
// have none.
func (s *Store) lookup(ctx context.Context, values []string) ([]int64, error) {
	var ids []int64
	for _, v := range values {
		rows, err := s.db.QueryContext(ctx, `SELECT id FROM str WHERE s = ? COLLATE NOCASE`, v)
		if err != nil {
			return nil, s.wrap("looking up "+v, err)
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, s.wrap("looking up "+v, err)
			}
			ids = append(ids, id)
		}
		rows.Close()
	}
	return ids, nil
}

type cursor struct {
	ts  int64
	seq int64
}

func parseCursor(c string) (cursor, error) {
	a, b, ok := strings.Cut(c, ".")
	ts, err1 := strconv.ParseInt(a, 36, 64)
	seq, err2 := strconv.ParseInt(b, 36, 64)
	if !ok || err1 != nil || err2 != nil {
		return cursor{}, audit.Errorf(audit.EInvalid, "The cursor '%s' isn't valid: use the one a previous search printed.", c)
	}
	return cursor{ts, seq}, nil
}

func (c cursor) String() string {
	return strconv.FormatInt(c.ts, 36) + "." + strconv.FormatInt(c.seq, 36)
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// Search streams matching records, newest first.
func (s *Store) Search(ctx context.Context, q *audit.Query, fn func(*audit.Record) error) (string, error) {
	var where []string
	var args []any
	add := func(cond string, a ...any) { where = append(where, cond); args = append(args, a...) }
	if q.Cursor != "" {
		if _, err := parseCursor(q.Cursor); err != nil {
			return "", err
		}
	}
	none := false
	inIDs := func(col string, ids []int64) {
		if len(ids) == 0 {
			none = true
			return
		}
		a := make([]any, len(ids))
		for i, id := range ids {
			a[i] = id
		}
		add(col+" IN ("+placeholders(len(ids))+")", a...)
	}
	if len(q.Mailboxes) > 0 {
		inIDs("mailbox", s.mailboxIDs(q.Mailboxes))
	}
	for _, f := range []struct {
		col    string
		values []string
	}{{"op", q.Operations}, {"ip", q.IPAddresses}} {
		if len(f.values) > 0 {
			ids, err := s.lookup(ctx, f.values)
			if err != nil {
				return "", err
			}
			inIDs(f.col, ids)
		}
	}
	if len(q.UserIds) > 0 {
		// The actor index leaves out owner records (most of the log): an
		// owner's records are found through the mailbox instead.
		actors, err := s.lookup(ctx, q.UserIds)
		if err != nil {
			return "", err
		}
		mbxs := s.mailboxIDs(q.UserMailboxes)
		var ors []string
		var a []any
		if len(actors) > 0 {
			ors = append(ors, "(actor IN ("+placeholders(len(actors))+") AND logon != 0)")
			for _, id := range actors {
				a = append(a, id)
			}
		}
		if len(mbxs) > 0 {
			ors = append(ors, "(mailbox IN ("+placeholders(len(mbxs))+") AND logon = 0)")
			for _, id := range mbxs {
				a = append(a, id)
			}
		}
		if len(ors) == 0 {
			none = true
		} else {
			add("("+strings.Join(ors, " OR ")+")", a...)
		}
	}
	// SQLite tests the conditions that no index serves in the order written,
	// and stops at the first false: the logon types (one record in ten is
	// not the owner's) before the record types (almost every record is a
	// mailbox record): the other way round, scanning a week of the
	// ten-million-record benchmark store took a third to a half longer.
	if len(q.LogonTypes) > 0 || q.External {
		var ors []string
		var a []any
		if len(q.LogonTypes) > 0 {
			ors = append(ors, "(logon IN ("+placeholders(len(q.LogonTypes))+") AND rtype != 1)")
			for _, lt := range q.LogonTypes {
				a = append(a, int(lt))
			}
		}
		if q.External {
			ors = append(ors, "ext = 1")
		}
		add("("+strings.Join(ors, " OR ")+")", a...)
	}
	if q.ExternalOnly {
		add("ext = 1")
	}
	if len(q.RecordTypes) > 0 {
		a := make([]any, len(q.RecordTypes))
		for i, t := range q.RecordTypes {
			a[i] = int(t)
		}
		add("rtype IN ("+placeholders(len(a))+")", a...)
	}
	if none {
		return "", nil
	}
	// The places of the conditions on time and the cursor's, which depend
	// on the week.
	where = append(where, "k >= ? AND k < ?", "")
	timeAt := len(where) - 2
	n := 0
	last, hasCursor := cursor{}, q.Cursor != ""
	if hasCursor {
		last, _ = parseCursor(q.Cursor)
	}
	text := strings.ToLower(q.FreeText)
	inGo := text != "" || len(q.ObjectIds) > 0
	db, done, err := s.searchDB(ctx, q)
	if err != nil {
		return "", err
	}
	defer done()
	segs := s.segmentList()
	// Weeks hold disjoint times, so newest first across the log is newest
	// first within each week, weeks newest first.
	for i := len(segs) - 1; i >= 0; i-- {
		seg := segs[i]
		if !q.Start.IsZero() && seg.end <= q.Start.UnixMilli() || !q.End.IsZero() && seg.start >= q.End.UnixMilli() ||
			hasCursor && seg.start > last.ts {
			continue
		}
		lo, hi := seg.keyBound(seg.start), seg.keyBound(seg.end)
		if !q.Start.IsZero() {
			lo = seg.keyBound(q.Start.UnixMilli())
		}
		if !q.End.IsZero() {
			hi = seg.keyBound(q.End.UnixMilli())
		}
		where[timeAt+1] = "1"
		var cur []any
		if hasCursor && last.ts < seg.end {
			// Keys of one millisecond follow sequence numbers.
			at := seg.keyAt(last.ts)
			hi = min(hi, at+1<<msShift)
			where[timeAt+1] = "(k < ? OR seq < ?)"
			cur = []any{at, last.seq}
		}
		segArgs := append(append(append(make([]any, 0, len(args)+4), args...), lo, hi), cur...)
		sqlq := `SELECT seq, k, mailbox, rtype, op, logon, ext, actor, ip, data, (SELECT n FROM record_count c WHERE c.seq = r.seq) FROM ` +
			seg.name + ` r WHERE ` + strings.Join(where, " AND ") + ` ORDER BY k DESC`
		if q.Limit > 0 && !inGo {
			// One more than asked tells whether there is a next page.
			sqlq += " LIMIT ?"
			segArgs = append(segArgs, q.Limit-n+1)
		}
		more, err := s.searchSegment(ctx, db, seg, sqlq, segArgs, q, text, fn, &n, &last)
		if err != nil || more {
			if more {
				return last.String(), err
			}
			return "", err
		}
	}
	return "", nil
}

// maxSearchStmts bounds the searches' prepared statements (each is prepared
// on every connection of the pool it ran on); at the bound they are all let
// go of, and the searches then made prepare theirs again.
const maxSearchStmts = 128

// searchStmt returns a search's statement for one week, prepared on the pool
// the first time: a search visits a statement a week (13 for 90 days), and
// preparing them anew was a third of a mailbox search's time. database/sql
// keeps a statement prepared on each connection it ran on, and closes it
// there once no rows read from it.
func (s *Store) searchStmt(ctx context.Context, q string) (*sql.Stmt, error) {
	s.searchMu.Lock()
	defer s.searchMu.Unlock()
	if st, ok := s.searchStmts[q]; ok {
		return st, nil
	}
	if len(s.searchStmts) >= maxSearchStmts {
		for _, st := range s.searchStmts {
			st.Close()
		}
		clear(s.searchStmts)
	}
	st, err := s.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, s.wrap("searching", err)
	}
	s.searchStmts[q] = st
	return st, nil
}

// querier is a pool or one connection of it.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// bulkSearch is the size of a search (and a search without a cap) that
// reads on a connection that does not map the database: through the map,
// every page an export of the whole log reads stays in the process's
// resident memory, which then grows to the size of the database (1.9 GB
// for ten million records), though the kernel may drop those pages. Read
// with pread they are in the kernel's page cache only, and the process
// stays at its own few dozen MB. For a scan the map saves little.
const bulkSearch = 100_000

// searchDB returns where a search reads and what to do when it is done.
func (s *Store) searchDB(ctx context.Context, q *audit.Query) (querier, func(), error) {
	if q.Limit > 0 && q.Limit <= bulkSearch {
		return s.db, func() {}, nil
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, nil, s.wrap("searching", err)
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA mmap_size = 0"); err != nil {
		conn.Close()
		return nil, nil, s.wrap("searching", err)
	}
	return conn, func() {
		// Back to the pool as the others are, or out of it.
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA mmap_size = "+strconv.FormatInt(mmapSize, 10)); err != nil {
			conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		conn.Close()
	}, nil
}

// searchSegment runs one week's query, passing matches to fn until q.Limit;
// more reports that a match beyond the limit exists.
func (s *Store) searchSegment(ctx context.Context, db querier, seg segment, sqlq string, args []any, q *audit.Query, text string, fn func(*audit.Record) error, n *int, last *cursor) (more bool, err error) {
	var rows *sql.Rows
	if db == querier(s.db) {
		var st *sql.Stmt
		if st, err = s.searchStmt(ctx, sqlq); err != nil {
			return false, err
		}
		rows, err = st.QueryContext(ctx, args...)
	} else {
		rows, err = db.QueryContext(ctx, sqlq, args...)
	}
	if err != nil {
		return false, s.wrap("searching", err)
	}
	defer rows.Close()
	sc := newScanner()
	for rows.Next() {
		r, c, err := s.scan(seg, rows, sc)
		if err != nil {
			return false, err
		}
		if text != "" && !matchesText(r, text) || len(q.ObjectIds) > 0 && !matchesObject(r, q.ObjectIds) {
			continue
		}
		if q.Limit > 0 && *n == q.Limit {
			return true, nil
		}
		if err := fn(r); err != nil {
			return false, err
		}
		*n++
		*last = c
	}
	return false, s.wrap("searching", rows.Err())
}

// scanner holds what scan reads a row into, for all the rows of a query: the
// destinations escape to the heap, and a row's worth each would be a dozen
// allocations.
type scanner struct {
	// The integer columns are scanned into interfaces, which database/sql
	// fills as the driver gave them, where an *int64 takes reflection and
	// an *int or *bool a conversion through a string.
	cols [9]any // seq, k, mailbox, rtype, op, logon, ext, actor, ip
	// data is the body where the driver left it (valid until the next
	// row), not copied: decode keeps none of it.
	data  sql.RawBytes
	count any
	dest  [11]any
}

func newScanner() *scanner {
	sc := &scanner{}
	for i := range sc.cols {
		sc.dest[i] = &sc.cols[i]
	}
	sc.dest[9], sc.dest[10] = &sc.data, &sc.count
	return sc
}

// scan reads a record of the columns Search selects.
func (s *Store) scan(seg segment, rows *sql.Rows, sc *scanner) (*audit.Record, cursor, error) {
	if err := rows.Scan(sc.dest[:]...); err != nil {
		return nil, cursor{}, s.wrap("reading a record", err)
	}
	data, count := sc.data, sc.count
	var ints [9]int64
	for i, v := range sc.cols {
		n, ok := v.(int64)
		if !ok {
			return nil, cursor{}, fmt.Errorf("sqlite: reading a record: column %d is %T, not an integer", i+1, v)
		}
		ints[i] = n
	}
	seq, k, mbx, rtype, op, logon, ext, actor, ip := ints[0], ints[1], ints[2], ints[3], ints[4], ints[5], ints[6], ints[7], ints[8]
	ts := seg.keyTime(k)
	r := &audit.Record{
		SequenceNumber: seq,
		CreationTime:   time.UnixMilli(ts).UTC(),
		RecordType:     audit.RecordType(rtype),
		LogonType:      audit.LogonType(logon),
		ExternalAccess: ext != 0,
	}
	var err error
	if r.Operation, err = s.str(op); err == nil {
		if r.UserId, err = s.str(actor); err == nil && ip != 0 {
			r.ClientIPAddress, err = s.str(ip)
		}
	}
	if err != nil {
		return nil, cursor{}, err
	}
	if r.IsAdmin() {
		// Stored with logon 1 so that the actor index, which leaves out
		// owner records, holds them (appendRecords).
		r.LogonType = 0
	}
	if mbx != 0 {
		g, err := s.mailboxGuid(mbx)
		if err != nil {
			return nil, cursor{}, err
		}
		r.MailboxGuid = g
	}
	if err := decode(data, r, s); err != nil {
		return nil, cursor{}, fmt.Errorf("sqlite: decoding record %d: %w", seq, err)
	}
	switch n := count.(type) {
	case nil:
	case int64:
		r.OperationCount = int(n)
	default:
		return nil, cursor{}, fmt.Errorf("sqlite: reading record %d: its count is %T, not an integer", seq, count)
	}
	return r, cursor{ts, seq}, nil
}

func (s *Store) mailboxGuid(id int64) (uuid.UUID, error) {
	s.mu.RLock()
	g, ok := s.mbxGuid[id]
	s.mu.RUnlock()
	if ok {
		return g, nil
	}
	var b []byte
	if err := s.db.QueryRow(`SELECT guid FROM mailbox WHERE id = ?`, id).Scan(&b); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return uuid.Nil, fmt.Errorf("sqlite: a record refers to mailbox %d, which is missing", id)
		}
		return uuid.Nil, s.wrap("reading a mailbox", err)
	}
	copy(g[:], b)
	s.mu.Lock()
	s.mbxGuid[id], s.mbxID[g] = g, id
	s.mu.Unlock()
	return g, nil
}

func matchesText(r *audit.Record, text string) bool {
	has := func(s string) bool { return s != "" && strings.Contains(strings.ToLower(s), text) }
	for _, it := range r.Items() {
		if has(it.Subject) || it.ParentFolder != nil && has(it.ParentFolder.Path) {
			return true
		}
	}
	if r.Folder != nil && has(r.Folder.Path) || r.DestFolder != nil && has(r.DestFolder.Path) {
		return true
	}
	for _, f := range r.Folders {
		if has(f.Path) {
			return true
		}
	}
	return false
}

func matchesObject(r *audit.Record, ids []string) bool {
	for _, id := range ids {
		if strings.EqualFold(r.ObjectId, id) {
			return true
		}
		for _, it := range r.Items() {
			if strings.EqualFold(it.Id, id) || strings.EqualFold(it.InternetMessageId, id) {
				return true
			}
		}
	}
	return false
}

// retainSegment deletes a week's expired records: the whole table when every
// mailbox in it has expired there, else each mailbox's expired records.
func (s *Store) retainSegment(ctx context.Context, tx *sql.Tx, seg segment, cuts map[int64]int64) (deleted int64, drop bool, err error) {
	rows, err := tx.QueryContext(ctx, `SELECT mailbox, min(k), max(k), count(*) FROM `+seg.name+` GROUP BY mailbox`)
	if err != nil {
		return 0, false, err
	}
	type span struct{ mbx, min, max, n int64 }
	var spans []span
	for rows.Next() {
		var sp span
		if err := rows.Scan(&sp.mbx, &sp.min, &sp.max, &sp.n); err != nil {
			rows.Close()
			return 0, false, err
		}
		sp.min, sp.max = seg.keyTime(sp.min), seg.keyTime(sp.max)
		spans = append(spans, sp)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, false, err
	}
	all, total := true, int64(0)
	for _, sp := range spans {
		cut, ok := cuts[sp.mbx]
		all = all && ok && sp.max < cut
		total += sp.n
	}
	if all {
		if _, err := tx.ExecContext(ctx, `DELETE FROM record_count WHERE seq IN (SELECT seq FROM `+seg.name+`)`); err != nil {
			return 0, false, err
		}
		_, err := tx.ExecContext(ctx, `DROP TABLE `+seg.name)
		return total, err == nil, err
	}
	for _, sp := range spans {
		cut, ok := cuts[sp.mbx]
		if !ok || sp.min >= cut {
			continue // nothing of this mailbox has expired in this week
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM record_count WHERE seq IN (SELECT seq FROM `+seg.name+` WHERE mailbox = ? AND k < ?)`, sp.mbx, seg.keyBound(cut)); err != nil {
			return 0, false, err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM `+seg.name+` WHERE mailbox = ? AND k < ?`, sp.mbx, seg.keyBound(cut))
		if err != nil {
			return 0, false, err
		}
		n, _ := res.RowsAffected()
		deleted += n
	}
	return deleted, false, nil
}

// Retain deletes what has outlived its age limit: a week every record of
// which has expired is dropped whole; in other weeks, each mailbox's expired
// records are deleted.
func (s *Store) Retain(ctx context.Context, ret audit.Retention) (int64, error) {
	ctx = context.WithoutCancel(ctx)
	if s.readOnly {
		return 0, s.errReadOnly("applying retention")
	}
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, s.wrap("starting retention", err)
	}
	defer tx.Rollback()
	cuts := map[int64]int64{0: ret.Admin.UnixMilli()} // mailbox id → cut-off
	for g, cut := range ret.Mailboxes {
		s.mu.RLock()
		id, ok := s.mbxID[g]
		s.mu.RUnlock()
		if ok {
			cuts[id] = cut.UnixMilli()
		}
	}
	var total int64
	var dropped []string
	for _, seg := range s.segmentList() {
		n, drop, err := s.retainSegment(ctx, tx, seg, cuts)
		if err != nil {
			return 0, s.wrap("applying retention to "+seg.name, err)
		}
		total += n
		if drop {
			dropped = append(dropped, seg.name)
		}
	}
	// A key older than every cut-off guards nothing: the record it would
	// de-duplicate has expired too.
	if _, err := tx.ExecContext(ctx, `DELETE FROM event WHERE ts < ?`, ret.Events.UnixMilli()); err != nil {
		return 0, s.wrap("forgetting old activity keys", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, s.wrap("committing retention", err)
	}
	for _, name := range dropped {
		s.dropSegment(name)
	}
	return total, nil
}

// mailboxIDs maps mailbox GUIDs to the small ids records use; mailboxes the
// store does not know have no records and no id.
func (s *Store) mailboxIDs(guids []uuid.UUID) []int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var ids []int64
	for _, g := range guids {
		if id, ok := s.mbxID[g]; ok {
			ids = append(ids, id)
		}
	}
	return ids
}
