// Package sqlite is the embedded store: everything in one SQLite database,
// <data>/mailaudit.db, in WAL mode with synchronous=FULL so that a commit that
// returned is on disk.
//
// Tables:
//
//	meta(k, v)                 the organisation as JSON under "org"; the last
//	                           sequence number ever assigned under "seq"
//	mailbox(id, guid, data)    the directory's mailboxes as JSON; id is the small
//	                           integer the record table uses
//	permission, bypass         grants and bypass associations
//	str(id, s)                 every string that repeats across records (actors,
//	                           addresses, client strings, folder paths, operation
//	                           and property names), stored once
//	record_YYYYMMDD(k, seq, mailbox, rtype, op, logon, ext, actor, ip, data)
//	                           the append-only log, one table per week of
//	                           CreationTime (named after its Monday, UTC): k is
//	                           the key, the CreationTime and the record's place
//	                           in its millisecond (segment.go); seq the
//	                           SequenceNumber; mailbox 0 for admin records;
//	                           op/actor/ip ids of str; data the rest of the
//	                           record as CBOR (codec.go)
//	record_count(seq, n)       OperationCount of delegate FolderBind records that
//	                           later binds were counted into
//	event(ts, h)               accepted activity's CreationTime and a 64-bit hash
//	                           of its Source and SourceEventId, for
//	                           de-duplication; keyed by time first so that
//	                           live ingest appends to it
//	volume(k, v)               volume-control state (audit.Volume)
//	position(source, pos)      sources' saved positions
//
// Weekly tables keep the indexes that ingest writes to small, so ingest does
// not slow down as the log grows, and let retention drop a week whole.
// Searches visit the weeks their window overlaps, newest first.
//
// Each week's table is in time order, and its indexes serve the searches:
// (mailbox) for a mailbox's window and (actor) for one actor across
// mailboxes, whose entries end with the key and so are in time order too.
// The actor index leaves out owner records, most of the log: an owner acts
// only on the own mailbox, so those are found through the mailbox index.
// Admin audit records are stored with logon 1 so that the actor index holds
// them.
package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sys/unix"
	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/mailaudit/mailaudit/audit"
)

// FileName is the database's name inside the data directory.
const FileName = "mailaudit.db"

const schemaVersion = 1

var schema = []string{
	`CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID`,
	`CREATE TABLE mailbox (id INTEGER PRIMARY KEY, guid BLOB NOT NULL UNIQUE, data TEXT NOT NULL)`,
	`CREATE TABLE permission (mailbox BLOB NOT NULL, user TEXT NOT NULL, rights TEXT NOT NULL, created INTEGER NOT NULL,
		PRIMARY KEY (mailbox, user, rights)) WITHOUT ROWID`,
	`CREATE TABLE bypass (identity TEXT PRIMARY KEY, enabled INTEGER NOT NULL, created INTEGER NOT NULL, changed INTEGER NOT NULL) WITHOUT ROWID`,
	`CREATE TABLE str (id INTEGER PRIMARY KEY, s TEXT NOT NULL UNIQUE)`,
	`CREATE INDEX str_nocase ON str (s COLLATE NOCASE)`,
	`CREATE TABLE record_count (seq INTEGER PRIMARY KEY, n INTEGER NOT NULL)`,
	`CREATE TABLE event (ts INTEGER NOT NULL, h BLOB NOT NULL, PRIMARY KEY (ts, h)) WITHOUT ROWID`,
	`CREATE TABLE volume (k TEXT PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID`,
	`CREATE TABLE position (source TEXT PRIMARY KEY, pos TEXT NOT NULL) WITHOUT ROWID`,
	`CREATE TABLE search (id TEXT PRIMARY KEY, created INTEGER NOT NULL, data TEXT NOT NULL) WITHOUT ROWID`,
}

// Store is the SQLite store. Commits are serialised; searches run alongside.
type Store struct {
	db   *sql.DB
	path string

	readOnly bool
	// lockedBy names the process holding the write lock when it is not this
	// one; lockFile is the lock when it is.
	lockedBy string
	lockFile *os.File

	// w is the one connection that writes; prepared holds the statements
	// every commit uses.
	w        *sql.Conn
	prepared map[string]*sql.Stmt
	// searchStmts are the searches' statements (searchStmt).
	searchMu    sync.Mutex
	searchStmts map[string]*sql.Stmt
	// stmtWeeks are the weeks whose record inserts are in prepared, the
	// latest written first (keepWeekStmts).
	stmtWeeks []string

	commitMu sync.Mutex
	ids      map[string]int64 // the writer's (guarded by commitMu)
	// volKeys are the keys of the volume table, read when first needed;
	// the writer's (guarded by commitMu).
	volKeys map[string]bool

	// newestEv is the time of the newest key in the event table once
	// newestEvKnown (newestEvent).
	newestEv      int64
	newestEvKnown bool

	seenOnce sync.Once
	seenStmt *sql.Stmt
	seenErr  error

	// strs is read without a lock; changes to it take mu.
	strs strCache

	mu       sync.RWMutex // guards the caches below
	segments []segment    // the log's weeks, oldest first
	mbxID    map[uuid.UUID]int64
	mbxGuid  map[int64]uuid.UUID
}

var _ audit.Store = (*Store)(nil)

// mmapSize is how much of the database SQLite reads through a memory map:
// searches that read a few pages of it find them without a system call.
// Bulk searches read without it (searchDB).
const mmapSize = 4 << 30

// Open opens (creating when needed) the store in directory dir.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: creating data directory: %w", err)
	}
	path := filepath.Join(dir, FileName)
	dsn := "file:" + uriPath(path) + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)" +
		"&_pragma=cache_size(-16384)&_pragma=wal_autocheckpoint(16384)&_pragma=temp_store(MEMORY)&_pragma=mmap_size(" + strconv.FormatInt(mmapSize, 10) + ")&_txlock=immediate"
	// A directory that cannot be written (a read-only mount, a forensic
	// copy) is still searchable: SQLite reads it as immutable, and every
	// write is refused with a message that says why.
	readOnly := unix.Access(dir, unix.W_OK) != nil
	if readOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("sqlite: data directory %s is read-only and holds no store: %w", dir, err)
		}
		// Read as immutable, SQLite would not see commits still in the
		// write-ahead log: refuse rather than show an incomplete log.
		if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > 0 {
			return nil, fmt.Errorf("sqlite: data directory %s is read-only and its write-ahead log %s still holds commits: "+
				"copy the directory somewhere writable and search the copy", dir, filepath.Base(path)+"-wal")
		}
		dsn = "file:" + uriPath(path) + "?mode=ro&immutable=1&_pragma=busy_timeout(10000)"
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: opening %s: %w", path, err)
	}
	// A search holds a connection while it may look a string up on another,
	// so the pool must exceed the searches that run at once.
	db.SetMaxOpenConns(32)
	s := &Store{db: db, path: path, readOnly: readOnly, ids: map[string]int64{},
		mbxID: map[uuid.UUID]int64{}, mbxGuid: map[int64]uuid.UUID{}, searchStmts: map[string]*sql.Stmt{}}
	if readOnly {
		if err := s.loadSegments(context.Background()); err != nil {
			db.Close()
			return nil, err
		}
		return s, nil
	}
	if err := s.lock(dir); err != nil {
		db.Close()
		return nil, err
	}
	if s.lockedBy != "" {
		// Another process writes: this one may read.
		if err := s.loadSegments(context.Background()); err != nil {
			s.Close()
			return nil, err
		}
		return s, nil
	}
	if err := s.migrate(); err != nil {
		s.Close()
		return nil, err
	}
	if s.w, err = db.Conn(context.Background()); err != nil {
		db.Close()
		return nil, s.wrap("opening the writer", err)
	}
	s.prepared = map[string]*sql.Stmt{}
	if err := s.loadSegments(context.Background()); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// uriPath escapes a file name for a file: URI, where '?' would start the
// parameters, '#' a fragment, and '%' an escape: a data directory named
// "mail#2" must not open "mail" instead.
func uriPath(path string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
}

// lastSeq reads the last sequence number ever assigned. It is kept in meta,
// because retention may have deleted its record.
const lastSeq = `SELECT coalesce((SELECT CAST(v AS INTEGER) FROM meta WHERE k = 'seq'), 0)`

// stmt returns q prepared, bound to tx. Prepared on the pool, database/sql
// keeps it prepared on each connection it ran on, so the writer's
// transactions reuse it; a statement prepared on a sql.Conn would be
// prepared again by every Tx.StmtContext.
func (s *Store) stmt(ctx context.Context, tx *sql.Tx, q string) (*sql.Stmt, error) {
	st, ok := s.prepared[q]
	if !ok {
		var err error
		if st, err = s.db.PrepareContext(ctx, q); err != nil {
			return nil, s.wrap("preparing", err)
		}
		s.prepared[q] = st
	}
	return tx.StmtContext(ctx, st), nil
}

// keepWeekStmts keeps the record inserts of the two weeks written last
// prepared (a week's inserts are a few statements of thousands of
// parameters each) and closes those of earlier weeks, which a daemon's
// commits seldom go back to. The caller holds commitMu.
func (s *Store) keepWeekStmts(name string) {
	if i := slices.Index(s.stmtWeeks, name); i >= 0 {
		s.stmtWeeks = slices.Insert(slices.Delete(s.stmtWeeks, i, i+1), 0, name)
		return
	}
	s.stmtWeeks = slices.Insert(s.stmtWeeks, 0, name)
	if len(s.stmtWeeks) <= 2 {
		return
	}
	prefix := "INSERT INTO " + s.stmtWeeks[2] + " "
	s.stmtWeeks = s.stmtWeeks[:2]
	for q, st := range s.prepared {
		if strings.HasPrefix(q, prefix) {
			st.Close()
			delete(s.prepared, q)
		}
	}
}

// errReadOnly refuses a write to a store opened read-only.
func (s *Store) errReadOnly(doing string) error {
	if s.lockedBy != "" {
		return fmt.Errorf("sqlite: %s: the data directory %s is in use by another mailaudit process (%s); "+
			"one process writes at a time: wait for it, or run the command against the daemon with --server", doing, filepath.Dir(s.path), s.lockedBy)
	}
	return fmt.Errorf("sqlite: %s: the data directory %s is read-only, so nothing can be changed", doing, filepath.Dir(s.path))
}

// LockName is the file in the data directory that the writing process holds
// locked, with its process id in it.
const LockName = "mailaudit.lock"

// lock takes the data directory's write lock. When another process holds it,
// the store opens for reading only and lockedBy says who writes.
func (s *Store) lock(dir string) error {
	f, holder, err := lockDir(dir)
	if err != nil {
		return err
	}
	if f == nil {
		s.readOnly, s.lockedBy = true, holder
		return nil
	}
	s.lockFile = f
	return nil
}

// lockDir takes the data directory's write lock and writes this process's
// id into it. When another process holds it, it returns no file and who
// that is ("pid 1234").
func lockDir(dir string) (f *os.File, holder string, err error) {
	f, err = os.OpenFile(filepath.Join(dir, LockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, "", fmt.Errorf("sqlite: opening the lock of %s: %w", dir, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		pid, _ := os.ReadFile(filepath.Join(dir, LockName))
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, "pid " + strings.TrimSpace(string(pid)), nil
		}
		return nil, "", fmt.Errorf("sqlite: locking %s: %w", dir, err)
	}
	f.Truncate(0)
	fmt.Fprintf(f, "%d\n", os.Getpid())
	return f, "", nil
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Close closes the database.
func (s *Store) Close() error {
	for _, st := range s.prepared {
		st.Close()
	}
	s.searchMu.Lock()
	for _, st := range s.searchStmts {
		st.Close()
	}
	s.searchMu.Unlock()
	if s.seenStmt != nil {
		s.seenStmt.Close()
	}
	if s.w != nil {
		s.w.Close()
	}
	err := s.db.Close()
	if s.lockFile != nil {
		s.lockFile.Close()
	}
	return err
}

// DB exposes the database handle to tests that inject faults.
func (s *Store) DB() *sql.DB { return s.db }

func (s *Store) migrate() error {
	var v int
	if err := s.db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		return s.wrap("reading schema version", err)
	}
	switch {
	case v == schemaVersion:
		return nil
	case v > schemaVersion:
		return fmt.Errorf("sqlite: %s has schema version %d; this mailaudit knows up to %d: upgrade mailaudit", s.path, v, schemaVersion)
	}
	tx, err := s.db.Begin()
	if err != nil {
		return s.wrap("creating schema", err)
	}
	defer tx.Rollback()
	for _, q := range schema {
		if _, err := tx.Exec(q); err != nil {
			return s.wrap("creating schema", err)
		}
	}
	if _, err := tx.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, schemaVersion)); err != nil {
		return s.wrap("creating schema", err)
	}
	return s.wrap("creating schema", tx.Commit())
}

// wrap gives SQLite's failures a message that names the problem and the file.
func (s *Store) wrap(doing string, err error) error {
	if err == nil {
		return nil
	}
	var se *msqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_FULL:
			return fmt.Errorf("sqlite: %s: the disk holding %s is full: %w", doing, s.path, err)
		case sqlite3.SQLITE_READONLY:
			return fmt.Errorf("sqlite: %s: %s is read-only: %w", doing, s.path, err)
		case sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM, sqlite3.SQLITE_AUTH:
			return fmt.Errorf("sqlite: %s: cannot open %s for writing: %w", doing, s.path, err)
		case sqlite3.SQLITE_IOERR:
			return fmt.Errorf("sqlite: %s: I/O error on %s: %w", doing, s.path, err)
		case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
			return fmt.Errorf("sqlite: %s: %s is damaged or not a mailaudit database: %w", doing, s.path, err)
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return fmt.Errorf("sqlite: %s: %s is locked by another process: %w", doing, s.path, err)
		}
	}
	return fmt.Errorf("sqlite: %s: %w", doing, err)
}

// Load reads the directory, the volume state and the last sequence number.
func (s *Store) Load(ctx context.Context) (*audit.State, error) {
	st := &audit.State{Dir: &audit.Directory{}}
	var orgJSON string
	err := s.db.QueryRowContext(ctx, `SELECT v FROM meta WHERE k = 'org'`).Scan(&orgJSON)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		st.Dir.Org = audit.NewOrganization("mailaudit")
		if err := s.Commit(ctx, &audit.Commit{Org: st.Dir.Org}); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, s.wrap("reading organisation", err)
	default:
		st.Dir.Org = &audit.Organization{}
		if err := json.Unmarshal([]byte(orgJSON), st.Dir.Org); err != nil {
			return nil, fmt.Errorf("sqlite: reading organisation: %w", err)
		}
	}
	if err := s.loadMailboxes(ctx, st.Dir); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT mailbox, user, rights, created FROM permission`)
	if err != nil {
		return nil, s.wrap("reading permissions", err)
	}
	for rows.Next() {
		var p audit.Permission
		var g []byte
		var created int64
		if err := rows.Scan(&g, &p.User, &p.Rights, &created); err != nil {
			rows.Close()
			return nil, s.wrap("reading permissions", err)
		}
		copy(p.Mailbox[:], g)
		p.WhenCreated = time.UnixMilli(created).UTC()
		st.Dir.Permissions = append(st.Dir.Permissions, p)
	}
	rows.Close()
	rows, err = s.db.QueryContext(ctx, `SELECT identity, enabled, created, changed FROM bypass ORDER BY identity`)
	if err != nil {
		return nil, s.wrap("reading bypass associations", err)
	}
	for rows.Next() {
		var b audit.Bypass
		var created, changed int64
		if err := rows.Scan(&b.Identity, &b.Enabled, &created, &changed); err != nil {
			rows.Close()
			return nil, s.wrap("reading bypass associations", err)
		}
		b.WhenCreated, b.WhenChanged = time.UnixMilli(created).UTC(), time.UnixMilli(changed).UTC()
		st.Dir.Bypasses = append(st.Dir.Bypasses, b)
	}
	rows.Close()
	st.Dir.Index()

	rows, err = s.db.QueryContext(ctx, `SELECT k, v FROM volume`)
	if err != nil {
		return nil, s.wrap("reading volume state", err)
	}
	for rows.Next() {
		var e audit.VolumeEntry
		if err := rows.Scan(&e.Key, &e.Value); err != nil {
			rows.Close()
			return nil, s.wrap("reading volume state", err)
		}
		st.Volume = append(st.Volume, e)
	}
	rows.Close()
	if err := s.db.QueryRowContext(ctx, lastSeq).Scan(&st.Seq); err != nil {
		return nil, s.wrap("reading the log's length", err)
	}
	if err := s.loadStrings(ctx); err != nil {
		return nil, err
	}
	return st, rows.Err()
}

func (s *Store) loadMailboxes(ctx context.Context, dir *audit.Directory) error {
	rows, err := s.db.QueryContext(ctx, `SELECT id, data FROM mailbox ORDER BY id`)
	if err != nil {
		return s.wrap("reading mailboxes", err)
	}
	defer rows.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mbxID, s.mbxGuid = map[uuid.UUID]int64{}, map[int64]uuid.UUID{}
	for rows.Next() {
		var id int64
		var data string
		if err := rows.Scan(&id, &data); err != nil {
			return s.wrap("reading mailboxes", err)
		}
		m := &audit.Mailbox{}
		if err := json.Unmarshal([]byte(data), m); err != nil {
			return fmt.Errorf("sqlite: reading mailbox %d: %w", id, err)
		}
		if dir != nil {
			dir.Mailboxes = append(dir.Mailboxes, m)
		}
		s.mbxID[m.Guid], s.mbxGuid[id] = id, m.Guid
	}
	return s.wrap("reading mailboxes", rows.Err())
}

func (s *Store) loadStrings(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, `SELECT id, s FROM str`)
	if err != nil {
		return s.wrap("reading strings", err)
	}
	defer rows.Close()
	ids, strs := map[string]int64{}, []string{}
	for rows.Next() {
		var id int64
		var str string
		if err := rows.Scan(&id, &str); err != nil {
			return s.wrap("reading strings", err)
		}
		ids[str] = id
		if id > 0 {
			if id >= int64(len(strs)) {
				strs = slices.Grow(strs, int(id)+1-len(strs))[:id+1]
			}
			strs[id] = str
		}
	}
	s.commitMu.Lock()
	s.ids = ids
	s.commitMu.Unlock()
	s.mu.Lock()
	s.strs.replace(strs)
	s.mu.Unlock()
	return s.wrap("reading strings", rows.Err())
}

// Position reads a source's saved position.
func (s *Store) Position(ctx context.Context, source string) (string, error) {
	var pos string
	err := s.db.QueryRowContext(ctx, `SELECT pos FROM position WHERE source = ?`, source).Scan(&pos)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return pos, s.wrap("reading position of "+source, err)
}

// eventHash is 64 bits of SHA-256 over the key. Rows are keyed by time
// first, so two activities collide only if they also share the millisecond:
// negligible odds, in 8 bytes a row.
func eventHash(k audit.EventKey) []byte {
	h := sha256.Sum256([]byte(k.Source + "\x00" + k.Id))
	return h[:8]
}

// Seen reports which activities were already committed. It asks in chunks:
// one query per key would cost more than the insert it guards.
func (s *Store) Seen(ctx context.Context, events []audit.Event) (map[audit.Event]bool, error) {
	seen := map[audit.Event]bool{}
	// Live ingest is in time order: what is newer than every key kept has
	// not been seen, and needs no look-up.
	newest, known, err := s.newestEvent(ctx)
	if err != nil {
		return nil, err
	}
	if known {
		older := make([]audit.Event, 0, len(events))
		for _, e := range events {
			if e.Time.UnixMilli() <= newest {
				older = append(older, e)
			}
		}
		events = older
	}
	type key struct {
		ts int64
		h  string
	}
	byKey := make(map[key]audit.Event, len(events))
	for start := 0; start < len(events); start += seenChunk {
		chunk := events[start:min(start+seenChunk, len(events))]
		args := make([]any, 0, 2*len(chunk))
		for _, e := range chunk {
			h := eventHash(e.EventKey)
			byKey[key{e.Time.UnixMilli(), string(h)}] = e
			args = append(args, e.Time.UnixMilli(), h)
		}
		var rows *sql.Rows
		var err error
		if len(chunk) == seenChunk {
			// Prepared once: preparing a statement of a thousand
			// parameters costs more than running it.
			s.seenOnce.Do(func() {
				s.seenStmt, s.seenErr = s.db.PrepareContext(context.WithoutCancel(ctx), seenQuery(seenChunk))
			})
			if s.seenErr != nil {
				return nil, s.wrap("checking duplicates", s.seenErr)
			}
			rows, err = s.seenStmt.QueryContext(ctx, args...)
		} else {
			rows, err = s.db.QueryContext(ctx, seenQuery(len(chunk)), args...)
		}
		if err != nil {
			return nil, s.wrap("checking duplicates", err)
		}
		for rows.Next() {
			var k key
			var h []byte
			if err := rows.Scan(&k.ts, &h); err != nil {
				rows.Close()
				return nil, s.wrap("checking duplicates", err)
			}
			k.h = string(h)
			seen[byKey[k]] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, s.wrap("checking duplicates", err)
		}
	}
	return seen, nil
}

const seenChunk = 500

// newestEvent is the time of the newest activity key kept, when this
// process is the writer: known only then, since another writer could add
// keys unseen. It is read once and then kept up to date by Commit.
func (s *Store) newestEvent(ctx context.Context) (int64, bool, error) {
	if s.readOnly {
		return 0, false, nil
	}
	s.mu.RLock()
	newest, known := s.newestEv, s.newestEvKnown
	s.mu.RUnlock()
	if known {
		return newest, true, nil
	}
	if err := s.db.QueryRowContext(ctx, `SELECT coalesce(max(ts), -1) FROM event`).Scan(&newest); err != nil {
		return 0, false, s.wrap("checking duplicates", err)
	}
	// A commit between the query and here may have added newer keys: keep
	// whichever is later.
	s.mu.Lock()
	if !s.newestEvKnown || newest > s.newestEv {
		s.newestEv, s.newestEvKnown = max(newest, s.newestEv), true
	}
	newest = s.newestEv
	s.mu.Unlock()
	return newest, true, nil
}

func seenQuery(n int) string {
	return `SELECT ts, h FROM event WHERE (ts, h) IN (VALUES ` + rowsOf(n, 2) + `)`
}

// Checkpoint moves the write-ahead log into the database file, so that the
// file's size is the store's size.
func (s *Store) Checkpoint(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return s.wrap("checkpointing", err)
}

// Count counts the records in the log.
func (s *Store) Count(ctx context.Context) (int64, error) {
	var n int64
	for _, seg := range s.segmentList() {
		var k int64
		if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM `+seg.name).Scan(&k); err != nil {
			return 0, s.wrap("counting records", err)
		}
		n += k
	}
	return n, nil
}

// LockedBy names the other process that holds the data directory's write
// lock, or is "" when this store may write (or is read-only for another
// reason).
func (s *Store) LockedBy() string { return s.lockedBy }
