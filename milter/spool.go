package milter

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The spool's geometry (see the package comment).
const (
	// blockSize is the unit of O_DIRECT writes: offsets, lengths and the
	// buffer's address are multiples of it (4096 covers 512-byte and 4Kn
	// devices).
	blockSize = 4096
	// DefaultSegmentSize is the size of a spool segment file.
	DefaultSegmentSize = 8 << 20
	// maxRecord bounds one record; Activity caps every field well below it.
	maxRecord = 1 << 20
	// batchBytes bounds what one group commit writes.
	batchBytes = 1 << 20
	segmentExt = ".spool"
)

// Errors of Append.
var (
	ErrSpoolClosed = errors.New("milter spool: closed")
	// ErrSpoolSlow: the record was not durable within the append timeout.
	// It may still be written; the message is let through either way.
	ErrSpoolSlow = errors.New("milter spool: the disk did not confirm the record in time")
	// ErrSpoolBacklog: so many records wait for a disk that does not answer
	// that this one is not even queued (see maxQueued).
	ErrSpoolBacklog = errors.New("milter spool: too many records are waiting for the disk; this one is not kept")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// useDirect: try O_DIRECT. Tests turn it off to cover the other way.
var useDirect = true

// maxQueued bounds the bytes of the records waiting for a write, which a
// hung disk would otherwise let grow with every message Postfix lets
// through meanwhile. (A variable for tests.)
var maxQueued = 64 << 20

// writeHook, when set (by tests, to make a disk that hangs), is called
// before each write.
var writeHook func()

// Pos is a place in the spool: a segment number and a byte offset in it.
type Pos struct {
	Seg uint64
	Off int64
}

// String is the form saved as the source's position: "SEGMENT:OFFSET".
func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Seg, p.Off) }

// ParsePos reads a position written by String.
func ParsePos(s string) (Pos, error) {
	seg, off, ok := strings.Cut(s, ":")
	n, err1 := strconv.ParseUint(seg, 10, 64)
	o, err2 := strconv.ParseInt(off, 10, 64)
	if !ok || err1 != nil || err2 != nil || o < 0 {
		return Pos{}, fmt.Errorf("milter spool: %q is not a position (SEGMENT:OFFSET)", s)
	}
	return Pos{n, o}, nil
}

// Before reports whether p comes before q.
func (p Pos) Before(q Pos) bool { return p.Seg < q.Seg || p.Seg == q.Seg && p.Off < q.Off }

// Spool is the milter's write-ahead log: a record is durable on disk before
// Append returns, so the milter can answer Postfix knowing that a crash will
// not lose what it saw. A feeder reads the records back (Read) and commits
// them to the store with the position reached; Release deletes segments that
// are wholly committed.
//
// Appends from concurrent SMTP sessions are written together (group commit):
// one disk write confirms them all. The first append to find no write under
// way writes itself, with whatever is queued by then, in its own goroutine:
// one SMTP session at a time then costs no hand-off to another goroutine and
// back, which measured about 45 µs a message (docs/benchmarks.md). What is
// queued meanwhile is written by a goroutine started for it, so that the
// first session is not held up by the others' writes.
type Spool struct {
	dir        string
	segSize    int64
	durability Durability
	sync       bool // fdatasync after write(2) when not O_DIRECT (not Process)

	// qmu guards queue, writing and closed; idle is signalled when writing
	// ends.
	qmu     sync.Mutex
	idle    *sync.Cond
	queue   []*appendReq
	queued  int  // bytes of the records in queue
	writing bool // someone is writing: the writer's state below is theirs
	closed  bool

	mu      sync.Mutex
	durable Pos           // everything before it is on disk
	notify  chan struct{} // a token after each durable write

	// The writer's state, touched only by whoever is writing.
	f      *os.File
	direct bool // O_DIRECT (with O_DSYNC for Disk); else write(2)
	seg    uint64
	off    int64
	tail   []byte // the bytes of the block being filled (off % blockSize of them)
	raw    []byte // backing array of buf
	buf    []byte // blockSize-aligned scratch for writes
	next   chan prepared
}

type appendReq struct {
	line []byte
	done chan error
}

type prepared struct {
	f      *os.File
	direct bool
	seg    uint64
	err    error
}

// Durability is what Append waits for.
type Durability int

const (
	// Disk: the record is on stable storage (O_DIRECT|O_DSYNC: the device
	// flushes its cache or writes through). Nothing answered is lost, even
	// by a power cut.
	Disk Durability = iota
	// Device: the record is in the storage device (O_DIRECT, without
	// asking for its cache to be flushed). A crash of mailaudit or of the
	// kernel loses nothing; a power cut can lose what the device still
	// holds in its cache, until anything on it is synced. Postfix syncs
	// its queue file before it tells the client a message is accepted, so
	// with the spool on the same device as Postfix's queue every message
	// Postfix accepted has its record on stable storage.
	Device
	// Process: the record is in the kernel's page cache (write(2)). A crash
	// of mailaudit loses nothing; a crash of the kernel or a power cut
	// can lose the last records, even of accepted messages.
	Process
)

var durabilityNames = []string{Disk: "disk", Device: "device", Process: "process"}

func (d Durability) String() string {
	if d >= 0 && int(d) < len(durabilityNames) {
		return durabilityNames[d]
	}
	return fmt.Sprintf("Durability(%d)", int(d))
}

// ParseDurability reads a durability name as the configuration writes it
// ("" is Disk).
func ParseDurability(s string) (Durability, error) {
	if s == "" {
		return Disk, nil
	}
	for d, name := range durabilityNames {
		if s == name {
			return Durability(d), nil
		}
	}
	return Disk, fmt.Errorf("milter: %q is not a durability (disk, device or process)", s)
}

// SpoolOptions shape a spool.
type SpoolOptions struct {
	// SegmentSize is the size of a segment file (DefaultSegmentSize if 0).
	SegmentSize int64
	// Durability is what Append waits for (Disk if zero).
	Durability Durability
}

// OpenSpool opens (creating it if need be) a spool directory and starts its
// writer in a fresh segment after every segment already there, which keep
// their records for Read.
func OpenSpool(dir string, o SpoolOptions) (*Spool, error) {
	segSize := o.SegmentSize
	if segSize <= 0 {
		segSize = DefaultSegmentSize
	}
	segSize = (segSize + blockSize - 1) / blockSize * blockSize
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("milter spool: %w", err)
	}
	// A segment still being prefilled when the process died.
	tmps, _ := filepath.Glob(filepath.Join(dir, "*.tmp"))
	for _, t := range tmps {
		os.Remove(t)
	}
	segs, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	var last uint64
	if len(segs) > 0 {
		last = segs[len(segs)-1]
	}
	p := prepareSegment(dir, last+1, segSize, o.Durability)
	if p.err != nil {
		return nil, p.err
	}
	s := &Spool{
		dir: dir, segSize: segSize, durability: o.Durability, sync: o.Durability != Process,
		notify: make(chan struct{}, 1),
		f:      p.f, direct: p.direct, seg: p.seg,
		durable: Pos{p.seg, 0},
	}
	s.idle = sync.NewCond(&s.qmu)
	return s, nil
}

// Dir is the spool's directory.
func (s *Spool) Dir() string { return s.dir }

// Direct reports whether records are written with O_DIRECT (else with
// write and fdatasync, on file systems without O_DIRECT such as tmpfs, or
// with write alone for Process).
func (s *Spool) Direct() bool { return s.direct }

// Append writes one record and returns once it is as durable as the spool's
// Durability says, or with ErrSpoolSlow after timeout (0: no limit) when
// another append's write is holding it up. An append that does the write
// itself cannot be called back from the disk: it waits for the write
// whatever the timeout, and calls slow (when not nil) once the timeout has
// passed without the disk's confirmation.
func (s *Spool) Append(rec []byte, timeout time.Duration, slow func()) error {
	if len(rec) > maxRecord {
		return fmt.Errorf("milter spool: a record of %d bytes is over the limit of %d", len(rec), maxRecord)
	}
	if bytes.IndexByte(rec, '\n') >= 0 {
		return errors.New("milter spool: a record must not contain a newline")
	}
	r := &appendReq{line: encodeRecord(rec), done: make(chan error, 1)}
	s.qmu.Lock()
	if s.closed {
		s.qmu.Unlock()
		return ErrSpoolClosed
	}
	if s.queued+len(r.line) > maxQueued {
		s.qmu.Unlock()
		return ErrSpoolBacklog
	}
	s.queue = append(s.queue, r)
	s.queued += len(r.line)
	if !s.writing {
		s.writing = true
		s.qmu.Unlock()
		if timeout > 0 && slow != nil {
			t := time.AfterFunc(timeout, slow)
			defer t.Stop()
		}
		if s.writeQueued() {
			go s.writeAll()
		}
		return <-r.done
	}
	s.qmu.Unlock()
	if timeout <= 0 {
		return <-r.done
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-r.done:
		return err
	case <-t.C:
		return ErrSpoolSlow
	}
}

// Close waits for the appends already queued to be written, and closes the
// spool's files. Appends after Close fail with ErrSpoolClosed.
func (s *Spool) Close() error {
	s.qmu.Lock()
	s.closed = true
	for s.writing {
		s.idle.Wait()
	}
	if s.f == nil {
		s.qmu.Unlock()
		return nil
	}
	s.f.Close()
	s.f = nil
	next := s.next
	s.next = nil
	s.qmu.Unlock()
	if next != nil {
		if p := <-next; p.f != nil {
			p.f.Close()
		}
	}
	return nil
}

// Durable is the end of what is on disk.
func (s *Spool) Durable() Pos {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.durable
}

// Notify delivers a token after durable writes: a reader waits on it.
func (s *Spool) Notify() <-chan struct{} { return s.notify }

func (s *Spool) setDurable(p Pos) {
	s.mu.Lock()
	s.durable = p
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// encodeRecord frames a record: "CCCCCCCC " (its CRC-32C in hex), the
// record, "\n".
func encodeRecord(rec []byte) []byte {
	line := make([]byte, 0, len(rec)+10)
	line = fmt.Appendf(line, "%08x ", crc32.Checksum(rec, castagnoli))
	line = append(line, rec...)
	return append(line, '\n')
}

// decodeRecord checks a framed line (without its newline) and returns the
// record.
func decodeRecord(line []byte) ([]byte, bool) {
	if len(line) < 9 || line[8] != ' ' {
		return nil, false
	}
	var sum [4]byte
	if _, err := hex.Decode(sum[:], line[:8]); err != nil {
		return nil, false
	}
	rec := line[9:]
	want := uint32(sum[0])<<24 | uint32(sum[1])<<16 | uint32(sum[2])<<8 | uint32(sum[3])
	return rec, crc32.Checksum(rec, castagnoli) == want
}

// writeQueued writes what is queued, in one go, and answers each append. The
// caller is the writer (s.writing). It returns true, still the writer, when
// more was queued meanwhile; false, no longer the writer, when nothing was.
func (s *Spool) writeQueued() bool {
	s.qmu.Lock()
	batch, size := s.queue, 0
	n := 0
	for n < len(batch) && size < batchBytes {
		size += len(batch[n].line)
		n++
	}
	batch = batch[:n:n]
	s.queue = s.queue[n:]
	s.queued -= size
	if len(s.queue) == 0 {
		s.queue = nil
	}
	s.qmu.Unlock()
	s.writeBatch(batch)
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if len(s.queue) > 0 {
		return true
	}
	s.writing = false
	s.idle.Broadcast()
	return false
}

// writeAll writes until nothing is queued. The caller is the writer.
func (s *Spool) writeAll() {
	for s.writeQueued() {
	}
}

// writeBatch writes a batch, moving to a new segment when the current one
// is full, and answers every request.
func (s *Spool) writeBatch(batch []*appendReq) {
	var group []*appendReq
	var size int64
	flush := func() {
		if len(group) == 0 {
			return
		}
		lines := make([][]byte, len(group))
		for i, r := range group {
			lines[i] = r.line
		}
		err := s.write(lines, size)
		for _, r := range group {
			r.done <- err
		}
		group, size = group[:0], 0
	}
	for _, r := range batch {
		n := int64(len(r.line))
		if s.off+size+n > s.segSize {
			flush()
			if err := s.rotate(); err != nil {
				r.done <- err
				continue
			}
		}
		group = append(group, r)
		size += n
	}
	flush()
	if s.off > s.segSize/2 && s.next == nil {
		// Prefill the next segment in the background: a segment being
		// created must not hold up a message.
		// The goroutine sends on its own copy of the channel: Close may
		// take s.next (and set it to nil) while the segment is prepared.
		next := make(chan prepared, 1)
		s.next = next
		go func(seg uint64) { next <- prepareSegment(s.dir, seg, s.segSize, s.durability) }(s.seg + 1)
	}
}

// write puts lines (size bytes in all) at the end of the current segment
// and makes them durable. On failure nothing moves: the next write goes to
// the same place.
func (s *Spool) write(lines [][]byte, size int64) error {
	if writeHook != nil {
		writeHook()
	}
	if !s.direct {
		start := s.off
		for _, l := range lines {
			if _, err := s.f.WriteAt(l, s.off); err != nil {
				s.off = start
				return fmt.Errorf("milter spool: writing %s: %w", s.f.Name(), err)
			}
			s.off += int64(len(l))
		}
		if !s.sync {
			// Process: in the page cache is enough.
		} else if err := unix.Fdatasync(int(s.f.Fd())); err != nil {
			s.off = start
			return fmt.Errorf("milter spool: syncing %s: %w", s.f.Name(), err)
		}
		s.setDurable(Pos{s.seg, s.off})
		return nil
	}
	// O_DIRECT writes whole aligned blocks: rewrite the partly filled block
	// with the new records after what it holds. Its old bytes are rewritten
	// unchanged, so even a torn write cannot damage records already
	// confirmed.
	start := s.off - int64(len(s.tail))
	n := int64(len(s.tail)) + size
	padded := (n + blockSize - 1) / blockSize * blockSize
	buf := s.aligned(int(padded))
	w := copy(buf, s.tail)
	for _, l := range lines {
		w += copy(buf[w:], l)
	}
	clear(buf[w:])
	if _, err := s.f.WriteAt(buf, start); err != nil {
		return fmt.Errorf("milter spool: writing %s: %w", s.f.Name(), err)
	}
	s.off += size
	last := s.off / blockSize * blockSize
	s.tail = append(s.tail[:0], buf[last-start:s.off-start]...)
	s.setDurable(Pos{s.seg, s.off})
	return nil
}

// aligned returns a blockSize-aligned buffer of n bytes.
func (s *Spool) aligned(n int) []byte {
	if cap(s.buf) < n {
		s.raw = make([]byte, n+blockSize)
		skip := 0
		if r := int(uintptr(unsafe.Pointer(&s.raw[0])) % blockSize); r != 0 {
			skip = blockSize - r
		}
		s.buf = s.raw[skip : skip+n : skip+n]
	}
	return s.buf[:n]
}

// rotate moves the writer to the next segment. The old one is complete: its
// records end at the first zero byte.
func (s *Spool) rotate() error {
	var p prepared
	if s.next != nil {
		p = <-s.next
		s.next = nil
	} else {
		p = prepareSegment(s.dir, s.seg+1, s.segSize, s.durability)
	}
	if p.err != nil {
		return p.err
	}
	s.f.Close()
	s.f, s.direct, s.seg, s.off, s.tail = p.f, p.direct, p.seg, 0, s.tail[:0]
	s.setDurable(Pos{s.seg, 0})
	return nil
}

// prepareSegment creates a segment file full of zeros, on disk before it is
// used: writing into blocks the file system has already allocated and
// written changes no metadata, which is what keeps an O_DSYNC write to one
// device write (no journal commit). It is created under a temporary name and
// renamed, so a segment file is always complete.
func prepareSegment(dir string, seg uint64, size int64, d Durability) prepared {
	name := filepath.Join(dir, fmt.Sprintf("%016d%s", seg, segmentExt))
	tmp := name + ".tmp"
	fail := func(err error) prepared {
		os.Remove(tmp)
		return prepared{err: fmt.Errorf("milter spool: creating segment %s: %w", name, err)}
	}
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fail(err)
	}
	zeros := make([]byte, 1<<20)
	for off := int64(0); off < size; off += int64(len(zeros)) {
		chunk := zeros
		if rest := size - off; rest < int64(len(chunk)) {
			chunk = chunk[:rest]
		}
		if _, err := f.Write(chunk); err != nil {
			f.Close()
			return fail(err)
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fail(err)
	}
	f.Close()
	if err := os.Rename(tmp, name); err != nil {
		return fail(err)
	}
	if err := syncDir(dir); err != nil {
		return fail(err)
	}
	if useDirect && d != Process {
		flags := os.O_RDWR | unix.O_DIRECT
		if d == Disk {
			flags |= unix.O_DSYNC
		}
		if f, err := os.OpenFile(name, flags, 0); err == nil {
			return prepared{f: f, direct: true, seg: seg}
		}
	}
	// No O_DIRECT here (tmpfs, some network file systems): write and
	// fdatasync, for Device too, which must not be weaker than the page
	// cache.
	f, err = os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return fail(err)
	}
	return prepared{f: f, seg: seg}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// listSegments lists the segment numbers in dir, in order.
func listSegments(dir string) ([]uint64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("milter spool: %w", err)
	}
	var segs []uint64
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), segmentExt)
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(name, 10, 64); err == nil {
			segs = append(segs, n)
		}
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i] < segs[j] })
	return segs, nil
}

// First is where reading starts when nothing was committed yet: the start
// of the oldest segment.
func (s *Spool) First() (Pos, error) {
	segs, err := listSegments(s.dir)
	if err != nil || len(segs) == 0 {
		return s.Durable(), err
	}
	return Pos{segs[0], 0}, nil
}

// Read returns up to max records from p on, and the position after them.
// It never reads past what is durable. A finished segment ends at its first
// zero byte, or at a damaged record (reported in damaged, with the bytes
// skipped); Read then goes on with the next segment.
func (s *Spool) Read(p Pos, max int) (recs [][]byte, next Pos, damaged string, err error) {
	dur := s.Durable()
	segs, err := listSegments(s.dir)
	if err != nil {
		return nil, p, "", err
	}
	for len(recs) < max {
		if !p.Before(dur) {
			return recs, p, damaged, nil
		}
		if p.Seg < dur.Seg && !containsSeg(segs, p.Seg) {
			// Released, or never existed: go on at the next one there is.
			p = Pos{nextSeg(segs, p.Seg, dur.Seg), 0}
			continue
		}
		end := int64(-1) // a finished segment: read to its end marker
		if p.Seg == dur.Seg {
			end = dur.Off
		}
		got, off, finished, bad, err := s.readSegment(p, end, max-len(recs))
		if err != nil {
			return recs, p, damaged, err
		}
		recs = append(recs, got...)
		if bad != "" {
			damaged = bad
		}
		p.Off = off
		if !finished {
			return recs, p, damaged, nil
		}
		p = Pos{nextSeg(segs, p.Seg, dur.Seg), 0}
	}
	return recs, p, damaged, nil
}

// readSegment reads records of one segment from p, up to end (-1: to the
// segment's end marker). finished reports that a finished segment has no
// more records.
func (s *Spool) readSegment(p Pos, end int64, max int) (recs [][]byte, off int64, finished bool, damaged string, err error) {
	name := filepath.Join(s.dir, fmt.Sprintf("%016d%s", p.Seg, segmentExt))
	f, err := os.Open(name)
	if err != nil {
		return nil, p.Off, false, "", fmt.Errorf("milter spool: %w", err)
	}
	defer f.Close()
	size := int64(4 << 20)
	if end >= 0 && end-p.Off < size {
		size = end - p.Off
	}
	buf := make([]byte, size)
	n, err := f.ReadAt(buf, p.Off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, p.Off, false, "", fmt.Errorf("milter spool: reading %s: %w", name, err)
	}
	buf = buf[:n]
	off = p.Off
	for len(recs) < max {
		if len(buf) == 0 {
			// All this read got; a finished segment read to its end.
			return recs, off, end < 0 && int64(n) < size, "", nil
		}
		if buf[0] == 0 {
			// The end of what was written.
			return recs, off, end < 0, "", nil
		}
		i := bytes.IndexByte(buf, '\n')
		z := bytes.IndexByte(buf, 0)
		if z >= 0 && (i < 0 || z < i) || i < 0 && int64(n) < size {
			// A record cut short. In a finished segment, by a crash in the
			// middle of its write (it was never confirmed); within the
			// durable part of the current one it cannot be whole yet.
			if end >= 0 {
				return recs, off, false, "", nil
			}
			return recs, off, true, s.damage(name, off, "a record cut short"), nil
		}
		if i < 0 {
			return recs, off, false, "", nil // the line goes on past this read
		}
		rec, ok := decodeRecord(buf[:i])
		if !ok {
			if end >= 0 {
				return recs, off, false, "", fmt.Errorf("milter spool: %s is damaged at offset %d (a record fails its checksum)", name, off)
			}
			return recs, off, true, s.damage(name, off, "a record that fails its checksum"), nil
		}
		recs = append(recs, append([]byte(nil), rec...))
		off += int64(i + 1)
		buf = buf[i+1:]
	}
	return recs, off, false, "", nil
}

func (s *Spool) damage(name string, off int64, what string) string {
	return fmt.Sprintf("%s: %s at offset %d; the rest of that segment is skipped", name, what, off)
}

func containsSeg(segs []uint64, n uint64) bool {
	i := sort.Search(len(segs), func(i int) bool { return segs[i] >= n })
	return i < len(segs) && segs[i] == n
}

// nextSeg is the first segment after n, or last when there is none between.
func nextSeg(segs []uint64, n, last uint64) uint64 {
	i := sort.Search(len(segs), func(i int) bool { return segs[i] > n })
	if i < len(segs) && segs[i] <= last {
		return segs[i]
	}
	return last
}

// Release deletes the segments before p's: everything in them is committed.
func (s *Spool) Release(p Pos) error {
	segs, err := listSegments(s.dir)
	if err != nil {
		return err
	}
	dur := s.Durable()
	for _, n := range segs {
		if n >= p.Seg || n >= dur.Seg {
			break
		}
		if err := os.Remove(filepath.Join(s.dir, fmt.Sprintf("%016d%s", n, segmentExt))); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("milter spool: %w", err)
		}
	}
	return nil
}

// Behind estimates the bytes between p and the durable end: the feeder's
// lag.
func (s *Spool) Behind(p Pos) int64 {
	dur := s.Durable()
	if !p.Before(dur) {
		return 0
	}
	if p.Seg == dur.Seg {
		return dur.Off - p.Off
	}
	return int64(dur.Seg-p.Seg-1)*s.segSize + (s.segSize - p.Off) + dur.Off
}
