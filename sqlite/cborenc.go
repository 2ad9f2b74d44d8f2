package sqlite

// The record body written by hand rather than by cbor.Marshal, which finds
// the fields by reflection and was a tenth of a record's commit. The bytes are
// the ones cbor.Marshal writes for the same row (TestRowEncodingSameAsCBOR);
// cbordec.go reads them back.

import (
	"strings"
	"unicode/utf8"
)

// Major types of CBOR heads.
const (
	cborUint  = 0 << 5
	cborNeg   = 1 << 5
	cborBytes = 2 << 5
	cborText  = 3 << 5
	cborArray = 4 << 5
	cborMap   = 5 << 5
)

func appendHead(b []byte, major byte, n uint64) []byte {
	switch {
	case n < 24:
		return append(b, major|byte(n))
	case n <= 0xff:
		return append(b, major|24, byte(n))
	case n <= 0xffff:
		return append(b, major|25, byte(n>>8), byte(n))
	case n <= 0xffffffff:
		return append(b, major|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, major|27, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

func appendInt(b []byte, v int64) []byte {
	if v < 0 {
		return appendHead(b, cborNeg, uint64(-1-v))
	}
	return appendHead(b, cborUint, uint64(v))
}

// mapWriter writes a map of integer keys whose entry count is known only at
// the end: a map head of up to 23 entries is one byte, reserved first.
type mapWriter struct {
	b     []byte
	start int
	n     int
}

func beginMap(b []byte) mapWriter {
	return mapWriter{b: append(b, cborMap), start: len(b)}
}

func (m *mapWriter) key(k uint64) {
	m.n++
	m.b = appendHead(m.b, cborUint, k)
}

func (m *mapWriter) int(k uint64, v int64) {
	if v != 0 {
		m.key(k)
		m.b = appendInt(m.b, v)
	}
}

func (m *mapWriter) uint(k uint64, v uint64) {
	if v != 0 {
		m.key(k)
		m.b = appendHead(m.b, cborUint, v)
	}
}

func (m *mapWriter) text(k uint64, s string) {
	// CBOR text is UTF-8, and records are text (JSON, XML, CSV). Sources
	// pass on bytes as they read them (a mail_log line's subject, an 8-bit
	// header at the milter): what is not UTF-8 is kept as U+FFFD, as
	// encoding/json does with JSON Lines. The str table does the same
	// (txInterner.id).
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if s != "" {
		m.key(k)
		m.b = appendHead(m.b, cborText, uint64(len(s)))
		m.b = append(m.b, s...)
	}
}

func (m *mapWriter) bytes(k uint64, v []byte) {
	if len(v) > 0 {
		m.key(k)
		m.b = appendHead(m.b, cborBytes, uint64(len(v)))
		m.b = append(m.b, v...)
	}
}

func (m *mapWriter) bool(k uint64, v bool) {
	if v {
		m.key(k)
		m.b = append(m.b, 0xf5)
	}
}

func (m *mapWriter) array(k uint64, n int) bool {
	if n == 0 {
		return false
	}
	m.key(k)
	m.b = appendHead(m.b, cborArray, uint64(n))
	return true
}

// end fills in the map's head, moving the entries when there are more than
// 23.
func (m *mapWriter) end() []byte {
	if m.n < 24 {
		m.b[m.start] = cborMap | byte(m.n)
		return m.b
	}
	head := appendHead(nil, cborMap, uint64(m.n))
	m.b = append(m.b, head[1:]...)
	copy(m.b[m.start+len(head):], m.b[m.start+1:len(m.b)-len(head)+1])
	copy(m.b[m.start:], head)
	return m.b
}

func appendFolderRow(b []byte, f *folderRow) []byte {
	m := beginMap(b)
	m.text(1, f.Id)
	m.int(2, f.Path)
	return m.end()
}

func appendItemRow(b []byte, it *itemRow) []byte {
	m := beginMap(b)
	m.text(1, it.Id)
	m.text(2, it.MsgId)
	m.int(6, it.IdPrefix)
	m.uint(7, it.IdNum)
	m.text(8, it.MsgLocal)
	m.int(9, it.MsgDomain)
	m.text(3, it.Subject)
	m.int(4, it.Size)
	if it.Parent != nil {
		m.key(5)
		m.b = appendFolderRow(m.b, it.Parent)
	}
	return m.end()
}

func appendNVRows(m *mapWriter, k uint64, rows []nvRow) {
	if m.array(k, len(rows)) {
		for _, p := range rows {
			n := beginMap(m.b)
			n.int(1, p.Name)
			n.text(2, p.Value)
			n.int(3, p.Pair)
			m.b = n.end()
		}
	}
}

// appendRow writes w as cbor.Marshal does: fields in the order of the
// struct, empty ones left out.
func appendRow(b []byte, w *row) []byte {
	m := beginMap(b)
	m.int(1, w.Result)
	m.int(2, w.UserKey)
	m.int(3, int64(w.UserType))
	m.int(4, w.DisplayName)
	m.int(5, w.Owner)
	m.bytes(6, w.MailboxGuid)
	m.int(7, w.ClientInfo)
	m.int(8, w.ProcessName)
	m.int(9, w.Version)
	m.int(10, w.Machine)
	m.text(11, w.Session)
	m.int(12, w.Server)
	if w.Folder != nil {
		m.key(13)
		m.b = appendFolderRow(m.b, w.Folder)
	}
	if w.DestFolder != nil {
		m.key(14)
		m.b = appendFolderRow(m.b, w.DestFolder)
	}
	m.bool(15, w.Cross)
	m.bytes(16, w.DestMailbox)
	m.int(17, w.DestOwner)
	if m.array(19, len(w.Items)) {
		for i := range w.Items {
			m.b = appendItemRow(m.b, &w.Items[i])
		}
	}
	if m.array(20, len(w.Folders)) {
		for i := range w.Folders {
			f := &w.Folders[i]
			a := beginMap(m.b)
			a.text(1, f.Id)
			a.int(2, f.Path)
			if a.array(3, len(f.Items)) {
				for j := range f.Items {
					a.b = appendItemRow(a.b, &f.Items[j])
				}
			}
			m.b = a.end()
		}
	}
	m.int(21, int64(w.OpCount))
	appendNVRows(&m, 22, w.Props)
	m.text(23, w.ObjectId)
	m.int(24, int64(w.ObjectIs))
	appendNVRows(&m, 25, w.Params)
	if m.array(26, len(w.Mods)) {
		for _, md := range w.Mods {
			n := beginMap(m.b)
			n.int(1, md.Name)
			n.text(2, md.Old)
			n.text(3, md.New)
			m.b = n.end()
		}
	}
	m.text(27, w.SendAs)
	m.text(28, w.SendOnBehalf)
	m.int(29, w.Source)
	m.text(30, w.SourceEvent)
	m.bool(31, w.NoDisplayName)
	m.int(32, int64(w.Same))
	m.int(33, w.PropList)
	m.int(34, w.SourcePrefix)
	m.uint(35, w.SourceNum)
	m.bytes(36, w.SessionBin)
	if w.Item != nil {
		m.key(37)
		m.b = appendItemRow(m.b, w.Item)
	}
	return m.end()
}
