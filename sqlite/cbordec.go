package sqlite

import (
	"encoding/binary"
	"math"
	"unicode/utf8"
)

// The record body read by hand rather than by the library's Unmarshal, which
// finds the fields by reflection: in a profile of the non-owner access report
// over ten million records, the library's decoding was 15% of the report's
// CPU time, about half of all the time spent decoding records, and a
// delegate's record takes it 3.7 µs against 0.7 µs here (BenchmarkRowDecoding,
// on the 2-core machine of docs/benchmarks.md). This decoder
// reads what appendRow writes (and cbor.Marshal, whose bytes are the same),
// with heads of any width; anything else (an unknown or repeated key, an
// unexpected type, indefinite lengths, tags, floats, null, invalid UTF-8,
// truncated or trailing data) it leaves to the library, which stays the
// reference: on what decodeRow accepts, both decode to the same row
// (TestRowDecodingSameAsCBOR, FuzzRowDecoding).

// Limits of the library's default decoding options, beyond which it fails.
const (
	cborMaxArray = 131072
	cborMaxPairs = 131072
)

// rowDecoder reads CBOR from b at off (an offset, not a reslice, which would
// cost a write barrier a read); bad says it met something it leaves to the
// library, after which every read returns zero values.
type rowDecoder struct {
	b   []byte
	off int
	bad bool
}

// decodeRow fills w (zero) from data, reporting false when data must be
// decoded by the library instead. w's byte slices share data's bytes.
func decodeRow(data []byte, w *row) bool {
	d := rowDecoder{b: data}
	d.row(w)
	return !d.bad && d.off == len(d.b)
}

// head reads a head of major type 0 to 5: its argument, of any width.
func (d *rowDecoder) head() (major byte, n uint64) {
	b := d.b[min(d.off, len(d.b)):]
	if d.bad || len(b) == 0 {
		d.bad = true
		return 0, 0
	}
	c := b[0]
	major, ai := c&0xe0, c&0x1f
	if major > cborMap {
		d.bad = true
		return 0, 0
	}
	switch {
	case ai < 24:
		d.off++
		return major, uint64(ai)
	case ai == 24 && len(b) >= 2:
		n = uint64(b[1])
		d.off += 2
	case ai == 25 && len(b) >= 3:
		n = uint64(binary.BigEndian.Uint16(b[1:]))
		d.off += 3
	case ai == 26 && len(b) >= 5:
		n = uint64(binary.BigEndian.Uint32(b[1:]))
		d.off += 5
	case ai == 27 && len(b) >= 9:
		n = binary.BigEndian.Uint64(b[1:])
		d.off += 9
	default: // indefinite length, reserved, or truncated
		d.bad = true
		return 0, 0
	}
	return major, n
}

func (d *rowDecoder) int64() int64 {
	major, n := d.head()
	switch {
	case d.bad:
	case n > math.MaxInt64:
		d.bad = true // the library fails: overflow
	case major == cborUint:
		return int64(n)
	case major == cborNeg:
		return -1 - int64(n)
	default:
		d.bad = true
	}
	return 0
}

func (d *rowDecoder) int() int { return int(d.int64()) }

func (d *rowDecoder) uint64() uint64 {
	major, n := d.head()
	if major != cborUint {
		d.bad = true
		return 0
	}
	return n
}

// payload reads a text or byte string's bytes.
func (d *rowDecoder) payload(want byte) []byte {
	major, n := d.head()
	if d.bad || major != want || n > uint64(len(d.b)-d.off) {
		d.bad = true
		return nil
	}
	p := d.b[d.off : d.off+int(n) : d.off+int(n)]
	d.off += int(n)
	return p
}

func (d *rowDecoder) text() string {
	p := d.payload(cborText)
	if !utf8.Valid(p) {
		d.bad = true // the library rejects invalid UTF-8
		return ""
	}
	return string(p)
}

// bytes shares data's bytes; an empty string is an empty slice, not nil, as
// the library decodes it.
func (d *rowDecoder) bytes() []byte { return d.payload(cborBytes) }

func (d *rowDecoder) bool() bool {
	if d.bad || d.off >= len(d.b) || d.b[d.off] != 0xf4 && d.b[d.off] != 0xf5 {
		d.bad = true
		return false
	}
	v := d.b[d.off] == 0xf5
	d.off++
	return v
}

// array reads an array head; the count is checked against the bytes left
// (an element takes at least one) before anything is allocated for it.
func (d *rowDecoder) array() int {
	major, n := d.head()
	if d.bad || major != cborArray || n > uint64(len(d.b)-d.off) || n > cborMaxArray {
		d.bad = true
		return 0
	}
	return int(n)
}

// mapHead reads a map head.
func (d *rowDecoder) mapHead() int {
	major, n := d.head()
	if d.bad || major != cborMap || n > uint64(len(d.b)-d.off)/2 || n > cborMaxPairs {
		d.bad = true
		return 0
	}
	return int(n)
}

// key reads a map key, an unsigned integer not seen before in the map: the
// library's handling of repeated keys depends on the field, so they are left
// to it.
func (d *rowDecoder) key(seen *uint64) uint64 {
	major, k := d.head()
	if d.bad || major != cborUint || k >= 64 || *seen&(1<<k) != 0 {
		d.bad = true
		return 0
	}
	*seen |= 1 << k
	return k
}

func (d *rowDecoder) folder() *folderRow {
	f := &folderRow{}
	var seen uint64
	for n := d.mapHead(); n > 0 && !d.bad; n-- {
		switch d.key(&seen) {
		case 1:
			f.Id = d.text()
		case 2:
			f.Path = d.int64()
		default:
			d.bad = true
		}
	}
	return f
}

func (d *rowDecoder) item(it *itemRow) {
	var seen uint64
	for n := d.mapHead(); n > 0 && !d.bad; n-- {
		switch d.key(&seen) {
		case 1:
			it.Id = d.text()
		case 2:
			it.MsgId = d.text()
		case 3:
			it.Subject = d.text()
		case 4:
			it.Size = d.int64()
		case 5:
			it.Parent = d.folder()
		case 6:
			it.IdPrefix = d.int64()
		case 7:
			it.IdNum = d.uint64()
		case 8:
			it.MsgLocal = d.text()
		case 9:
			it.MsgDomain = d.int64()
		default:
			d.bad = true
		}
	}
}

func (d *rowDecoder) items() []itemRow {
	n := d.array()
	if d.bad {
		return nil
	}
	items := make([]itemRow, n)
	for i := range items {
		d.item(&items[i])
	}
	return items
}

func (d *rowDecoder) nvRows() []nvRow {
	n := d.array()
	if d.bad {
		return nil
	}
	rows := make([]nvRow, n)
	for i := range rows {
		p := &rows[i]
		var seen uint64
		for n := d.mapHead(); n > 0 && !d.bad; n-- {
			switch d.key(&seen) {
			case 1:
				p.Name = d.int64()
			case 2:
				p.Value = d.text()
			case 3:
				p.Pair = d.int64()
			default:
				d.bad = true
			}
		}
	}
	return rows
}

func (d *rowDecoder) aggRows() []aggRow {
	n := d.array()
	if d.bad {
		return nil
	}
	rows := make([]aggRow, n)
	for i := range rows {
		a := &rows[i]
		var seen uint64
		for n := d.mapHead(); n > 0 && !d.bad; n-- {
			switch d.key(&seen) {
			case 1:
				a.Id = d.text()
			case 2:
				a.Path = d.int64()
			case 3:
				a.Items = d.items()
			default:
				d.bad = true
			}
		}
	}
	return rows
}

func (d *rowDecoder) modRows() []modRow {
	n := d.array()
	if d.bad {
		return nil
	}
	rows := make([]modRow, n)
	for i := range rows {
		m := &rows[i]
		var seen uint64
		for n := d.mapHead(); n > 0 && !d.bad; n-- {
			switch d.key(&seen) {
			case 1:
				m.Name = d.int64()
			case 2:
				m.Old = d.text()
			case 3:
				m.New = d.text()
			default:
				d.bad = true
			}
		}
	}
	return rows
}

func (d *rowDecoder) row(w *row) {
	var seen uint64
	for n := d.mapHead(); n > 0 && !d.bad; n-- {
		switch d.key(&seen) {
		case 1:
			w.Result = d.int64()
		case 2:
			w.UserKey = d.int64()
		case 3:
			w.UserType = d.int()
		case 4:
			w.DisplayName = d.int64()
		case 5:
			w.Owner = d.int64()
		case 6:
			w.MailboxGuid = d.bytes()
		case 7:
			w.ClientInfo = d.int64()
		case 8:
			w.ProcessName = d.int64()
		case 9:
			w.Version = d.int64()
		case 10:
			w.Machine = d.int64()
		case 11:
			w.Session = d.text()
		case 12:
			w.Server = d.int64()
		case 13:
			w.Folder = d.folder()
		case 14:
			w.DestFolder = d.folder()
		case 15:
			w.Cross = d.bool()
		case 16:
			w.DestMailbox = d.bytes()
		case 17:
			w.DestOwner = d.int64()
		case 19:
			w.Items = d.items()
		case 20:
			w.Folders = d.aggRows()
		case 21:
			w.OpCount = d.int()
		case 22:
			w.Props = d.nvRows()
		case 23:
			w.ObjectId = d.text()
		case 24:
			w.ObjectIs = d.int()
		case 25:
			w.Params = d.nvRows()
		case 26:
			w.Mods = d.modRows()
		case 27:
			w.SendAs = d.text()
		case 28:
			w.SendOnBehalf = d.text()
		case 29:
			w.Source = d.int64()
		case 30:
			w.SourceEvent = d.text()
		case 31:
			w.NoDisplayName = d.bool()
		case 32:
			w.Same = d.int()
		case 33:
			w.PropList = d.int64()
		case 34:
			w.SourcePrefix = d.int64()
		case 35:
			w.SourceNum = d.uint64()
		case 36:
			w.SessionBin = d.bytes()
		case 37:
			it := &itemRow{}
			d.item(it)
			w.Item = it
		default: // unknown, or 18 (ItemsIn, no longer written)
			d.bad = true
		}
	}
}
