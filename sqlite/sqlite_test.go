package sqlite_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mailaudit/mailaudit/audit"
	"github.com/mailaudit/mailaudit/sqlite"
	"github.com/mailaudit/mailaudit/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) audit.Store { return open(t, t.TempDir()) })
}

// open opens the store in dir; the test closes it.
func open(t *testing.T, dir string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(dir)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return s
}

func closeStore(t *testing.T, s *sqlite.Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// TestReopen closes a filled store and opens its directory again: everything
// is still there, and the log continues where it was.
func TestReopen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	want := storetest.Fill(t, s)
	closeStore(t, s)

	s = open(t, dir)
	defer closeStore(t, s)
	storetest.Verify(t, s, want)

	f := storetest.NewFixture()
	r := f.OwnerUpdate(time.Date(2026, 11, 22, 11, 0, 0, 0, time.UTC))
	r.SequenceNumber = want.Seq + 1
	if err := s.Commit(t.Context(), &audit.Commit{Records: []*audit.Record{r}}); err != nil {
		t.Fatalf("Commit of record %d after reopening: %v", r.SequenceNumber, err)
	}
	st, err := s.Load(t.Context())
	if err != nil || st.Seq != want.Seq+1 {
		t.Fatalf("Load after reopening and committing: Seq %v, %v; want %d", st, err, want.Seq+1)
	}
}

// TestSeqSurvivesRetention: the last sequence number is kept when retention
// deleted every record (and dropped their weeks), across a reopen too, and the
// log continues after it.
func TestSeqSurvivesRetention(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	f := storetest.NewFixture()
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	rs := f.Seq(f.OwnerUpdate(at), f.FolderBind(at.Add(time.Minute)), f.SendAs(at.Add(2*time.Minute)))
	if _, err := s.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(t.Context(), &audit.Commit{Mailboxes: f.Mailboxes(), Records: rs, Counts: map[int64]int{2: 5}}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Retain(t.Context(), audit.Retention{Mailboxes: map[uuid.UUID]time.Time{f.Alice.Guid: at.Add(time.Hour), f.Shared.Guid: at.Add(time.Hour)}}); err != nil || n != 3 {
		t.Fatalf("Retain = %d, %v; want 3", n, err)
	}
	var left int
	if err := s.DB().QueryRow(`SELECT count(*) FROM record_count`).Scan(&left); err != nil || left != 0 {
		t.Errorf("after Retain, %d counts of deleted records are left (%v)", left, err)
	}
	var weeks int
	if err := s.DB().QueryRow(`SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name GLOB 'record_[0-9]*'`).Scan(&weeks); err != nil || weeks != 0 {
		t.Errorf("after Retain expired every record, %d weeks are left (%v)", weeks, err)
	}
	closeStore(t, s)

	s = open(t, dir)
	defer closeStore(t, s)
	st, err := s.Load(t.Context())
	if err != nil || st.Seq != 3 {
		t.Fatalf("Load after retention and reopening: Seq %d, %v; want 3", st.Seq, err)
	}
	r := f.Seq(f.OwnerUpdate(at.Add(time.Hour)))
	r[0].SequenceNumber = 4
	if err := s.Commit(t.Context(), &audit.Commit{Records: r}); err != nil {
		t.Fatalf("committing after retention emptied the log: %v", err)
	}
}

func TestFutureSchema(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	if _, err := s.DB().Exec(`PRAGMA user_version = 99`); err != nil {
		t.Fatal(err)
	}
	closeStore(t, s)
	s2, err := sqlite.Open(dir)
	if err == nil {
		s2.Close()
		t.Fatal("Open of a database from a future schema version succeeded")
	}
	path := filepath.Join(dir, sqlite.FileName)
	for _, want := range []string{path, "schema version 99", "upgrade mailaudit"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Open of a database from a future schema version: %q does not say %q", err, want)
		}
	}
}

// TestNotADatabase: a data directory whose database file is something else,
// or a database whose pages were overwritten, gives an error naming the file.
func TestNotADatabase(t *testing.T) {
	for _, c := range []struct {
		name  string
		spoil func(t *testing.T, path string)
	}{
		{"Text", func(t *testing.T, path string) {
			text := bytes.Repeat([]byte("2026-11-22T10:00:00Z imap(alice@example.org): Logged in\n"), 200)
			if err := os.WriteFile(path, text, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"Empty header", func(t *testing.T, path string) {
			if err := os.WriteFile(path, make([]byte, 8192), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"Damaged", func(t *testing.T, path string) {
			s := open(t, filepath.Dir(path))
			storetest.Fill(t, s)
			closeStore(t, s)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// Keep the 100-byte header; overwrite the schema page and more.
			for i := 100; i < len(b) && i < 3*4096; i++ {
				b[i] = 0xA5
			}
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, sqlite.FileName)
			c.spoil(t, path)
			s, err := sqlite.Open(dir)
			if err == nil {
				defer s.Close()
				_, err = s.Load(t.Context())
			}
			if err == nil {
				_, err = s.Search(t.Context(), &audit.Query{}, func(*audit.Record) error { return nil })
			}
			if err == nil {
				t.Fatal("a spoilt database file opened, loaded and searched without an error")
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("the error does not name the file %s: %v", path, err)
			}
			t.Log(err)
		})
	}
}

// TestOddDirectoryName: a data directory whose name means something in a
// file: URI ('#' a fragment, '?' parameters, '%' an escape) holds its own
// database, not one beside it.
func TestOddDirectoryName(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "mail#2?x=1%41")
	s := open(t, dir)
	want := storetest.Fill(t, s)
	closeStore(t, s)
	if _, err := os.Stat(filepath.Join(dir, sqlite.FileName)); err != nil {
		t.Fatalf("the database is not in the data directory: %v", err)
	}
	entries, _ := os.ReadDir(parent)
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("files beside the data directory: %v", names)
	}
	s = open(t, dir)
	defer closeStore(t, s)
	storetest.Verify(t, s, want)
}

// TestSeenNewest asks about keys older than, as old as and newer than the
// newest one kept, before and after the store is opened again: Seen skips
// the look-up only for keys newer than every key kept.
func TestSeenNewest(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	ctx := t.Context()
	if _, err := s.Load(ctx); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	ev := func(id string, d time.Duration) audit.Event {
		return audit.Event{EventKey: audit.EventKey{Source: "src", Id: id}, Time: at.Add(d)}
	}
	old, newest := ev("1", 0), ev("2", time.Second)
	check := func(s *sqlite.Store, want map[audit.Event]bool) {
		t.Helper()
		var ask []audit.Event
		for e := range want {
			ask = append(ask, e)
		}
		got, err := s.Seen(ctx, ask)
		if err != nil {
			t.Fatal(err)
		}
		for e, w := range want {
			if got[e] != w {
				t.Errorf("Seen(%v) = %v, want %v", e, got[e], w)
			}
		}
	}
	// Before the first commit, and after it.
	check(s, map[audit.Event]bool{old: false, newest: false})
	if err := s.Commit(ctx, &audit.Commit{Events: []audit.Event{old, newest}}); err != nil {
		t.Fatal(err)
	}
	want := map[audit.Event]bool{old: true, newest: true, ev("3", 0): false, ev("4", time.Second): false, ev("2", 2*time.Second): false}
	check(s, want)
	closeStore(t, s)
	s = open(t, dir)
	defer closeStore(t, s)
	check(s, want)
}

// clientsAndFolders lists, newest first, each record's ClientInfoString and
// folder path: strings kept in the str table.
func clientsAndFolders(t *testing.T, s *sqlite.Store) []string {
	t.Helper()
	var got []string
	if _, err := s.Search(t.Context(), &audit.Query{}, func(r *audit.Record) error {
		got = append(got, r.ClientInfoString+" "+r.Folder.Path)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestStringsAfterFailedCommit: the string ids a failed commit took go to the
// next commit's new strings, and a string of the failed commit gets an id
// again when it comes back, before and after reopening.
func TestStringsAfterFailedCommit(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	ctx := t.Context()
	if _, err := s.Load(ctx); err != nil {
		t.Fatal(err)
	}
	f := storetest.NewFixture()
	if err := s.Commit(ctx, &audit.Commit{Mailboxes: f.Mailboxes()}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 18, 10, 0, 0, 0, time.UTC)
	record := func(seq int64, client, folder string, d time.Duration) *audit.Record {
		r := f.OwnerUpdate(at.Add(d))
		r.SequenceNumber, r.ClientInfoString, r.Folder = seq, client, &audit.Folder{Path: folder}
		return r
	}
	// The second record's mailbox is unknown: the first one's strings were
	// given ids before the commit failed.
	stray := record(2, "Client=Stray", "/Stray", time.Second)
	stray.MailboxGuid = uuid.MustParse("00000000-0000-4000-8000-00000000dead")
	if err := s.Commit(ctx, &audit.Commit{Records: []*audit.Record{record(1, "Client=A", "/A", 0), stray}}); err == nil {
		t.Fatal("Commit of a record of an unknown mailbox succeeded")
	}
	for i, r := range []*audit.Record{record(1, "Client=B", "/B", 0), record(2, "Client=A", "/A", time.Second)} {
		if err := s.Commit(ctx, &audit.Commit{Records: []*audit.Record{r}}); err != nil {
			t.Fatalf("commit %d: %v", i+1, err)
		}
	}
	want := []string{"Client=A /A", "Client=B /B"}
	if got := clientsAndFolders(t, s); !slices.Equal(got, want) {
		t.Errorf("after a failed commit and two good ones: %q, want %q", got, want)
	}
	closeStore(t, s)
	s = open(t, dir)
	defer closeStore(t, s)
	if got := clientsAndFolders(t, s); !slices.Equal(got, want) {
		t.Errorf("reopened: %q, want %q", got, want)
	}
}

// TestReaderSeesNewStrings: a process that reads while another writes finds
// the strings the writer added after the reader loaded its cache.
func TestReaderSeesNewStrings(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir)
	defer closeStore(t, w)
	ctx := t.Context()
	if _, err := w.Load(ctx); err != nil {
		t.Fatal(err)
	}
	f := storetest.NewFixture()
	at := time.Date(2026, 11, 18, 10, 0, 0, 0, time.UTC)
	first := f.Seq(f.OwnerUpdate(at))
	if err := w.Commit(ctx, &audit.Commit{Mailboxes: f.Mailboxes(), Records: first}); err != nil {
		t.Fatal(err)
	}
	r := open(t, dir)
	defer closeStore(t, r)
	if r.LockedBy() == "" {
		t.Fatal("the second store opened for writing")
	}
	if _, err := r.Load(ctx); err != nil {
		t.Fatal(err)
	}
	var next []*audit.Record
	for i := range 3 {
		rec := f.OwnerUpdate(at.Add(time.Duration(i+1) * time.Minute))
		rec.ClientInfoString, rec.Folder = fmt.Sprintf("Client=New%d", i), &audit.Folder{Path: fmt.Sprintf("/New%d", i)}
		next = append(next, rec)
	}
	if err := w.Commit(ctx, &audit.Commit{Records: f.Seq(next...)}); err != nil {
		t.Fatal(err)
	}
	want := []string{"Client=New2 /New2", "Client=New1 /New1", "Client=New0 /New0", first[0].ClientInfoString + " " + first[0].Folder.Path}
	for range 2 { // the second time from the cache
		if got := clientsAndFolders(t, r); !slices.Equal(got, want) {
			t.Fatalf("the reader found %q, want %q", got, want)
		}
	}
}
