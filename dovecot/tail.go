package dovecot

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Position is a place in a log file: the file's inode and a byte offset. It
// survives renames, so a log rotated while mailaudit was down is found again
// and finished before the new one is read.
type Position struct {
	Ino uint64
	Off int64
}

func (p Position) String() string {
	return strconv.FormatUint(p.Ino, 10) + ":" + strconv.FormatInt(p.Off, 10)
}

// ParsePosition reads a position written by String.
func ParsePosition(s string) (Position, error) {
	a, b, ok := strings.Cut(s, ":")
	ino, err1 := strconv.ParseUint(a, 10, 64)
	off, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil || off < 0 {
		return Position{}, fmt.Errorf("dovecot: %q is not a log position", s)
	}
	return Position{ino, off}, nil
}

// Tail reads a growing log file line by line from a position. It follows
// rotation by rename (it finishes the renamed file, then starts the new one
// from its beginning) and by truncation (copytruncate: it finishes the copy
// beside the log, then starts the log again from its beginning). It only
// returns whole lines: a line still being written is returned once its
// newline is there.
//
// A position is kept with its check (Check): a digest of the bytes just
// before it. The inode and the size cannot tell a log truncated and written
// again past the position, whose bytes there are others; the check can, and
// finds the copy that holds the bytes that were there.
type Tail struct {
	path string
	f    *os.File
	r    *bufio.Reader
	ino  uint64
	off  int64 // offset of the next byte the reader returns
	// last holds the (up to checkLen) bytes before off.
	last []byte
	// Gap says that lines were lost before this position: the file the
	// saved position was in is gone (rotated away and deleted), or was
	// truncated and no copy of it is beside it. Note says what Tail did that
	// an administrator may want to know of (the copy it finishes first).
	// The reader clears them once it has said them.
	Gap, Note string
	// rotated is when the file was first seen renamed away. Dovecot writes
	// to it until it reopens its log, so it is read until it has been quiet
	// for RotationGrace.
	rotated time.Time
	// missing is since when no file has been at path (zero: there is one).
	missing time.Time
	// idle: the last Next found nothing more to read.
	idle bool
	// gz: the file open is a rotated log compressed with gzip (complete, and
	// read through a decompressor, so off is in its uncompressed bytes);
	// gzBroken: it could not be read on from off.
	gz, gzBroken bool
	// after are the files (by inode) to read, in order and from their
	// start, once the one open is finished and before the log itself: the
	// rotated files written after the one the saved position was in, when
	// the log was rotated more than once while it was not read.
	after []uint64
}

// RotationGrace is how long a log renamed away must stay unchanged before
// Tail moves on to the new file.
var RotationGrace = time.Second

// Line is one line of the log and where it was.
type Line struct {
	Text []byte
	// At is the line's start: unique and stable, the id of what it says.
	At Position
	// Next is the position after the line, where reading resumes.
	Next Position
}

// checkLen is how many bytes before a position its check covers: with
// Dovecot's microsecond timestamps, no two places of a log have the same.
const checkLen = 256

// OpenTail opens path for reading from pos; a zero pos reads from the start.
// check is what Check said at pos ("": not known, pos is trusted).
func OpenTail(path string, pos Position, check string) (*Tail, error) {
	return OpenTailSince(path, pos, check, time.Time{})
}

// OpenTailSince is OpenTail that also knows when the line before pos was
// written (the latest time the translator saw; zero: not known). If the
// file pos is in is gone, the rotated files written since then are read
// before the log; without that time, only the log is.
func OpenTailSince(path string, pos Position, check string, since time.Time) (*Tail, error) {
	t := &Tail{path: path}
	if pos.Ino == 0 {
		return t, t.open(path, 0)
	}
	st, err := os.Stat(path)
	if err == nil && inode(st) == pos.Ino {
		if st.Size() >= pos.Off && (check == "" || checkAt(path, pos.Off) == check) {
			return t, t.open(path, pos.Off)
		}
		// Truncated in place while not read (copytruncate), perhaps
		// written again past the position since.
		if cp := findCopy(filepath.Dir(path), pos.Ino, pos.Off, check); cp != "" {
			t.Note = fmt.Sprintf("%s was truncated after the saved position; reading the rest of its copy %s first", path, cp)
			return t, t.open(cp, pos.Off)
		}
		// Or the log is a new file that got the saved one's inode, which was
		// rotated, compressed and removed since.
		if gz := findCompressed(path, pos.Off, check); gz != "" {
			t.Note = fmt.Sprintf("the log file read up to position %s was rotated and compressed since (the log has its inode now): reading the rest of %s first", pos, gz)
			if !since.IsZero() {
				t.after = rotatedAfter(path, since, 0)
			}
			t.queueLog(st, err)
			return t, t.open(gz, pos.Off)
		}
		t.Gap = fmt.Sprintf("%s was truncated after the saved position %d and no copy of it is beside it: lines written between that position and the truncation were not read; reading it from the start", path, pos.Off)
		return t, t.open(path, 0)
	}
	// The saved file was rotated: look for it beside the log, and for the
	// files rotated after it. A file with its inode that does not have the
	// bytes before the position is another file that got the inode once
	// the saved one was removed.
	dir := filepath.Dir(path)
	skip := pos.Ino
	rotated := findInode(dir, pos.Ino)
	if rotated != "" && (check != "" || isGzip(rotated)) {
		// (Without a saved check, a compressed file that cannot be read
		// up to the position is taken for gone too.)
		if c, ok := checkFile(rotated, pos.Off); !ok || (check != "" && c != check) {
			rotated, skip = "", 0
		}
	}
	if rotated != "" {
		// Written up to when it was last modified; a compressed one was
		// modified when compressed, after the files rotated since, so the
		// latest time read bounds those.
		if rst, err := os.Stat(rotated); err == nil && !isGzip(rotated) {
			t.after = rotatedAfter(path, rst.ModTime(), pos.Ino)
		} else if !since.IsZero() {
			t.after = rotatedAfter(path, since, pos.Ino)
		}
		if len(t.after) > 0 {
			t.Note = fmt.Sprintf("the log was rotated %d times since the saved position: reading the rest of %s, then %s, then %s", len(t.after)+1, rotated, namesOf(dir, t.after), path)
		}
		t.queueLog(st, err)
		return t, t.open(rotated, pos.Off)
	}
	// Gone: compressed or removed, so rotated at least once more (with
	// delaycompress) or removed by rotation. The rotated files not
	// compressed that were written since are the ones after it.
	if !since.IsZero() {
		t.after = rotatedAfter(path, since, skip)
	}
	if gz := findCompressed(path, pos.Off, check); gz != "" {
		if len(t.after) > 0 {
			t.Note = fmt.Sprintf("the log file read up to position %s was rotated and compressed since: reading the rest of %s, then %s, then %s", pos, gz, namesOf(dir, t.after), path)
		} else {
			t.Note = fmt.Sprintf("the log file read up to position %s was rotated and compressed since: reading the rest of %s, then %s", pos, gz, path)
		}
		t.queueLog(st, err)
		return t, t.open(gz, pos.Off)
	}
	if len(t.after) == 0 {
		t.Gap = fmt.Sprintf("the log file read up to position %s is gone (rotated and removed?); lines written to it after that position were not read; reading %s from the start", pos, path)
		return t, t.open(path, 0)
	}
	t.Gap = fmt.Sprintf("the log file read up to position %s is gone (rotated and compressed or removed?); lines written to it after that position were not read; reading the rotated files written since, %s, then %s", pos, namesOf(dir, t.after), path)
	first := findInode(dir, t.after[0])
	t.after = t.after[1:]
	if first == "" { // gone since it was listed
		t.after = nil
		return t, t.open(path, 0)
	}
	t.queueLog(st, err)
	return t, t.open(first, 0)
}

// queueLog puts the log itself (st, err: its Stat) last in t.after, so
// that a rotation while the files before it are read does not skip it.
func (t *Tail) queueLog(st os.FileInfo, err error) {
	if err == nil && len(t.after) > 0 {
		t.after = append(t.after, inode(st))
	}
}

// rotatedAfter lists, oldest first, the files beside the log that logrotate
// made of it (LOG.N or, with dateext, LOG-DATE; not compressed) and that
// were last written at or after since, except the file of inode skip. They
// are ordered by when they were last written, which is the order they were
// the log in.
func rotatedAfter(log string, since time.Time, skip uint64) []uint64 {
	base := filepath.Base(log)
	entries, err := os.ReadDir(filepath.Dir(log))
	if err != nil {
		return nil
	}
	type file struct {
		ino uint64
		mod time.Time
	}
	var files []file
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), base)
		if !ok || !rotatedSuffix(rest) {
			continue
		}
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || inode(info) == skip || info.ModTime().Before(since) {
			continue
		}
		files = append(files, file{inode(info), info.ModTime()})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].mod.Before(files[j].mod) })
	var out []uint64
	for _, f := range files {
		out = append(out, f.ino)
	}
	return out
}

// isGzip reports whether a rotated file is compressed with gzip (logrotate's
// default compresscmd), which the tail reads through a decompressor.
func isGzip(name string) bool { return strings.HasSuffix(name, ".gz") }

// checkFile is the check of position off in the file name, compressed or
// not; ok is false when the file cannot be read up to off.
func checkFile(name string, off int64) (check string, ok bool) {
	if !isGzip(name) {
		st, err := os.Stat(name)
		if err != nil || st.Size() < off {
			return "", false
		}
		return checkAt(name, off), true
	}
	f, err := os.Open(name)
	if err != nil {
		return "", false
	}
	defer f.Close()
	_, last, err := gunzipTo(f, off)
	if err != nil {
		return "", false
	}
	return digest(last), true
}

// findCompressed looks beside the log for the rotated, gzip-compressed file
// whose uncompressed bytes before off are the ones check was made of: the
// file a saved position was in, compressed since.
func findCompressed(log string, off int64, check string) string {
	if check == "" || off == 0 {
		return ""
	}
	base := filepath.Base(log)
	entries, err := os.ReadDir(filepath.Dir(log))
	if err != nil {
		return ""
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), base)
		if !ok || !isGzip(rest) || !rotatedSuffix(strings.TrimSuffix(rest, ".gz")) {
			continue
		}
		name := filepath.Join(filepath.Dir(log), e.Name())
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		_, last, err := gunzipTo(f, off)
		f.Close()
		if err == nil && digest(last) == check {
			return name
		}
	}
	return ""
}

// gunzipTo opens the gzip stream in f and reads it up to off, returning the
// decompressor there and the (up to checkLen) bytes before it.
func gunzipTo(f *os.File, off int64) (*gzip.Reader, []byte, error) {
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, nil, err
	}
	if off > checkLen {
		if _, err := io.CopyN(io.Discard, zr, off-checkLen); err != nil {
			return nil, nil, err
		}
	}
	last := make([]byte, min(off, checkLen), 2*checkLen)
	if _, err := io.ReadFull(zr, last); err != nil {
		return nil, nil, err
	}
	return zr, last, nil
}

// rotatedSuffix reports whether what follows the log's name is one
// logrotate gives a rotated file: ".1", or with dateext "-20261204" (any
// dateformat of digits and separators). A compressed file (".2.gz") is not
// one: it cannot be read as it is.
func rotatedSuffix(s string) bool {
	if len(s) < 2 || (s[0] != '.' && s[0] != '-') || s[1] < '0' || s[1] > '9' {
		return false
	}
	return strings.Trim(s[1:], "0123456789._-") == ""
}

// namesOf names files by inode, for a message.
func namesOf(dir string, inos []uint64) string {
	var names []string
	for _, ino := range inos {
		if n := findInode(dir, ino); n != "" {
			names = append(names, n)
		}
	}
	return strings.Join(names, ", ")
}

func (t *Tail) open(name string, off int64) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("dovecot: opening log %s: %w", name, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("dovecot: reading log %s: %w", name, err)
	}
	if isGzip(name) {
		zr, last, err := gunzipTo(f, off)
		if err != nil {
			f.Close()
			return fmt.Errorf("dovecot: reading the compressed log %s up to %d: %w", name, off, err)
		}
		if t.f != nil {
			t.f.Close()
		}
		t.f, t.ino, t.off, t.rotated, t.last, t.gz, t.gzBroken = f, inode(st), off, time.Time{}, last, true, false
		t.r = bufio.NewReaderSize(zr, 1<<16)
		return nil
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		f.Close()
		return fmt.Errorf("dovecot: seeking in log %s: %w", name, err)
	}
	last, err := bytesBefore(f, off)
	if err != nil {
		f.Close()
		return fmt.Errorf("dovecot: reading log %s: %w", name, err)
	}
	if t.f != nil {
		t.f.Close()
	}
	t.f, t.ino, t.off, t.rotated, t.last, t.gz, t.gzBroken = f, inode(st), off, time.Time{}, last, false, false
	t.r = bufio.NewReaderSize(f, 1<<16)
	return nil
}

// bytesBefore reads the (up to checkLen) bytes of f before off; fewer when
// the file ends before off.
func bytesBefore(f *os.File, off int64) ([]byte, error) {
	n := min(off, checkLen)
	b := make([]byte, n, 2*checkLen)
	got, err := f.ReadAt(b, off-n)
	if errors.Is(err, io.EOF) {
		return b[:got], nil
	}
	if err != nil {
		return nil, err
	}
	return b, nil
}

func digest(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:16])
}

// same reports whether the open file still has, before the position, the
// bytes that were read there.
func (t *Tail) same() bool {
	b, err := bytesBefore(t.f, t.off)
	return err == nil && bytes.Equal(b, t.last)
}

// Check is the check of Position, to be saved with it.
func (t *Tail) Check() string { return digest(t.last) }

// checkAt is the check of position off in the file at path ("" when there
// is none to read).
func checkAt(path string, off int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	b, err := bytesBefore(f, off)
	if err != nil {
		return ""
	}
	return digest(b)
}

// findCopy looks beside a truncated log (inode ino) for the copy that holds
// the bytes that were before off, as logrotate's copytruncate leaves one.
func findCopy(dir string, ino uint64, off int64, check string) string {
	if check == "" || off == 0 {
		return ""
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || inode(info) == ino || info.Size() < off {
			continue
		}
		if p := filepath.Join(dir, e.Name()); checkAt(p, off) == check {
			return p
		}
	}
	return ""
}

// Close closes the file.
func (t *Tail) Close() error {
	if t.f == nil {
		return nil
	}
	return t.f.Close()
}

// Position is where reading resumes.
func (t *Tail) Position() Position { return Position{t.ino, t.off} }

// MissingSince is since when Next has found no file at the log's path (a log
// renamed away and not yet re-created, or removed); zero while there is one.
func (t *Tail) MissingSince() time.Time { return t.missing }

// Next returns the next whole line, or io.EOF when there is none yet.
func (t *Tail) Next() (Line, error) {
	if t.idle {
		// What was written since the last look can be a log truncated and
		// written again past the position: look before reading it.
		t.idle = false
		if _, err := t.follow(); err != nil {
			return Line{}, err
		}
	}
	for {
		line, err := t.readLine()
		if err == nil {
			return line, nil
		}
		if !errors.Is(err, io.EOF) {
			return Line{}, err
		}
		switched, err := t.follow()
		if err != nil {
			return Line{}, err
		}
		if !switched {
			t.idle = true
			return Line{}, io.EOF
		}
	}
}

// readLine reads a line without moving past a partial one.
func (t *Tail) readLine() (Line, error) {
	if t.gzBroken {
		return Line{}, io.EOF
	}
	b, err := t.r.ReadBytes('\n')
	if err != nil {
		if t.gz && !errors.Is(err, io.EOF) {
			// Damaged: what is left of it cannot be read. Go on with the
			// next file, saying so.
			t.gzBroken = true
			t.Gap = fmt.Sprintf("the compressed log file being read (inode %d) is damaged after position %s: the rest of it was not read (%v)", t.ino, t.Position(), err)
			return Line{}, io.EOF
		}
		if len(b) > 0 && t.gz {
			// A compressed file is complete: a last line without its
			// newline was never finished.
			return Line{}, io.EOF
		}
		if len(b) > 0 {
			// A line still being written: read it again, whole, later.
			if _, serr := t.f.Seek(t.off, io.SeekStart); serr != nil {
				return Line{}, fmt.Errorf("dovecot: seeking in log %s: %w", t.path, serr)
			}
			t.r.Reset(t.f)
		}
		return Line{}, err
	}
	at := Position{t.ino, t.off}
	t.off += int64(len(b))
	t.last = append(t.last, b...)
	if n := len(t.last); n > checkLen {
		t.last = append(t.last[:0], t.last[n-checkLen:]...)
	}
	return Line{Text: bytes.TrimRight(b, "\r\n"), At: at, Next: Position{t.ino, t.off}}, nil
}

// follow switches to the current log file when the one being read was
// rotated away, or starts again when it was truncated. It reports whether
// there may be more to read now.
func (t *Tail) follow() (bool, error) {
	st, err := os.Stat(t.path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			// Between rename and re-creation, or removed: wait, reading
			// the file still open.
			if t.missing.IsZero() {
				t.missing = time.Now()
			}
			return false, nil
		}
		return false, fmt.Errorf("dovecot: reading log %s: %w", t.path, err)
	}
	t.missing = time.Time{}
	if inode(st) != t.ino {
		// Renamed away. Once it has been quiet long enough, it has been
		// read to its end (a partial last line there is never finished), so
		// go on with the new file.
		if t.rotated.IsZero() {
			t.rotated = time.Now()
			return false, nil
		}
		if time.Since(t.rotated) < RotationGrace {
			return false, nil
		}
		t.rotated = time.Time{}
		// Files rotated while the log was not read come first; one gone
		// since it was listed (compressed meanwhile) is a gap.
		for len(t.after) > 0 {
			next := t.after[0]
			t.after = t.after[1:]
			if next == inode(st) {
				t.after = nil
				break
			}
			if name := findInode(filepath.Dir(t.path), next); name != "" {
				return true, t.open(name, 0)
			}
			t.Gap = fmt.Sprintf("a rotated log file (inode %d) to be read after position %s was removed or compressed before it was read; its lines were not read", next, t.Position())
		}
		return true, t.open(t.path, 0)
	}
	// Truncated (copytruncate): smaller than what was read, or written again
	// past it with other bytes before the position.
	if st.Size() < t.off || !t.same() {
		if cp := findCopy(filepath.Dir(t.path), t.ino, t.off, t.Check()); cp != "" {
			t.Note = fmt.Sprintf("%s was truncated; reading the rest of its copy %s first", t.path, cp)
			return true, t.open(cp, t.off)
		}
		t.Gap = fmt.Sprintf("%s was truncated and no copy of it is beside it: lines written after position %d and before the truncation were not read; reading it from the start", t.path, t.off)
		return true, t.open(t.path, 0)
	}
	return false, nil
}

func inode(st os.FileInfo) uint64 {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return s.Ino
	}
	return 0
}

func findInode(dir string, ino uint64) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() && inode(info) == ino {
			return filepath.Join(dir, e.Name())
		}
	}
	return ""
}
