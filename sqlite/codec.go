package sqlite

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/fxamacker/cbor/v2"
	"github.com/google/uuid"

	"github.com/mailaudit/mailaudit/audit"
)

// row is the part of a record kept in the data column: CBOR with integer keys,
// strings that repeat across records (addresses, client strings, folder paths,
// property names) replaced by ids of the str table. Keys are part of the
// on-disk format: add new ones, never renumber.
type row struct {
	// Result indexes results; 0, the usual Succeeded, costs nothing.
	Result      int64      `cbor:"1,keyasint,omitempty"`
	UserKey     int64      `cbor:"2,keyasint,omitempty"`
	UserType    int        `cbor:"3,keyasint,omitempty"`
	DisplayName int64      `cbor:"4,keyasint,omitempty"`
	Owner       int64      `cbor:"5,keyasint,omitempty"`
	MailboxGuid []byte     `cbor:"6,keyasint,omitempty"` // admin records only
	ClientInfo  int64      `cbor:"7,keyasint,omitempty"`
	ProcessName int64      `cbor:"8,keyasint,omitempty"`
	Version     int64      `cbor:"9,keyasint,omitempty"`
	Machine     int64      `cbor:"10,keyasint,omitempty"`
	Session     string     `cbor:"11,keyasint,omitempty"`
	Server      int64      `cbor:"12,keyasint,omitempty"`
	Folder      *folderRow `cbor:"13,keyasint,omitempty"`
	DestFolder  *folderRow `cbor:"14,keyasint,omitempty"`
	Cross       bool       `cbor:"15,keyasint,omitempty"`
	DestMailbox []byte     `cbor:"16,keyasint,omitempty"`
	DestOwner   int64      `cbor:"17,keyasint,omitempty"`
	// 18 was ItemsIn.
	Items   []itemRow `cbor:"19,keyasint,omitempty"` // AffectedItems
	Folders []aggRow  `cbor:"20,keyasint,omitempty"`
	// OpCount is OperationCount, less one on aggregated records, which
	// count at least their first activity.
	OpCount  int     `cbor:"21,keyasint,omitempty"`
	Props    []nvRow `cbor:"22,keyasint,omitempty"`
	ObjectId string  `cbor:"23,keyasint,omitempty"`
	// ObjectIs says where ObjectId is when it is not ObjectId: 0 where the
	// engine puts it (derivedObjectId), 1 first item's Id, 2 folder path,
	// 3 owner, 4 nowhere (empty).
	ObjectIs     int      `cbor:"24,keyasint,omitempty"`
	Params       []nvRow  `cbor:"25,keyasint,omitempty"`
	Mods         []modRow `cbor:"26,keyasint,omitempty"`
	SendAs       string   `cbor:"27,keyasint,omitempty"`
	SendOnBehalf string   `cbor:"28,keyasint,omitempty"`
	Source       int64    `cbor:"29,keyasint,omitempty"`
	SourceEvent  string   `cbor:"30,keyasint,omitempty"`
	// NoDisplayName: LogonUserDisplayName is empty (admin records), where
	// DisplayName 0 means "the same as UserId".
	NoDisplayName bool `cbor:"31,keyasint,omitempty"`
	// Same says which fields are those of others, most of them on an
	// owner's record (sameOwner, sameUserKey), rather than kept again.
	Same int `cbor:"32,keyasint,omitempty"`
	// PropList is OperationProperties as one str entry, when every value
	// is short: records of one kind repeat the same list.
	PropList int64 `cbor:"33,keyasint,omitempty"`
	// SourceEventId as "<prefix>:<number>" (a log position, inode:offset),
	// the prefix in the str table.
	SourcePrefix int64  `cbor:"34,keyasint,omitempty"`
	SourceNum    uint64 `cbor:"35,keyasint,omitempty"`
	// SessionBin is a SessionId in base64 (Dovecot's), as the bytes it
	// encodes.
	SessionBin []byte   `cbor:"36,keyasint,omitempty"`
	Item       *itemRow `cbor:"37,keyasint,omitempty"`
}

// Bits of row.Same.
const (
	sameOwner   = 1 << iota // MailboxOwnerUPN is UserId
	sameUserKey             // UserKey is MailboxGuid's string
)

type folderRow struct {
	Id   string `cbor:"1,keyasint,omitempty"`
	Path int64  `cbor:"2,keyasint,omitempty"`
}

// itemRow is an item. Ids of the form "<prefix>:<number>" (Dovecot's
// folder:uidvalidity:uid) keep the prefix in the str table, and Message-IDs
// keep their domain there: both repeat across a mailbox's items.
type itemRow struct {
	Id        string     `cbor:"1,keyasint,omitempty"`
	MsgId     string     `cbor:"2,keyasint,omitempty"`
	IdPrefix  int64      `cbor:"6,keyasint,omitempty"`
	IdNum     uint64     `cbor:"7,keyasint,omitempty"`
	MsgLocal  string     `cbor:"8,keyasint,omitempty"`
	MsgDomain int64      `cbor:"9,keyasint,omitempty"`
	Subject   string     `cbor:"3,keyasint,omitempty"`
	Size      int64      `cbor:"4,keyasint,omitempty"`
	Parent    *folderRow `cbor:"5,keyasint,omitempty"`
}

type aggRow struct {
	Id    string    `cbor:"1,keyasint,omitempty"`
	Path  int64     `cbor:"2,keyasint,omitempty"`
	Items []itemRow `cbor:"3,keyasint,omitempty"`
}

// nvRow is a name and value. A short value is kept with its name as one str
// entry ("MailAccessType\x00Bind"): such pairs repeat in almost every record,
// while long values (search queries) are kept inline.
type nvRow struct {
	Name  int64  `cbor:"1,keyasint,omitempty"`
	Value string `cbor:"2,keyasint,omitempty"`
	Pair  int64  `cbor:"3,keyasint,omitempty"`
}

const maxPairValue = 16

func encNV(p audit.NameValue, in interner) nvRow {
	if len(p.Value) <= maxPairValue && !strings.Contains(p.Name, "\x00") {
		return nvRow{Pair: in.id(p.Name + "\x00" + p.Value)}
	}
	return nvRow{Name: in.id(p.Name), Value: p.Value}
}

func decNV(p nvRow, str func(int64) string) audit.NameValue {
	if p.Pair != 0 {
		name, value, _ := strings.Cut(str(p.Pair), "\x00")
		return audit.NameValue{Name: name, Value: value}
	}
	return audit.NameValue{Name: str(p.Name), Value: p.Value}
}

type modRow struct {
	Name int64  `cbor:"1,keyasint,omitempty"`
	Old  string `cbor:"2,keyasint,omitempty"`
	New  string `cbor:"3,keyasint,omitempty"`
}

var results = []string{audit.Succeeded, "", audit.PartiallySucceeded, audit.Failed, "True", "False"}

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	if encMode, err = (cbor.EncOptions{}).EncMode(); err != nil {
		panic(err)
	}
	// Text that is not UTF-8 is no longer written (mapWriter.text), but a
	// record of an earlier version that holds some is read as it is rather
	// than refused: one record must not break every search that reaches it.
	if decMode, err = (cbor.DecOptions{UTF8: cbor.UTF8DecodeInvalid}).DecMode(); err != nil {
		panic(err)
	}
}

// interner maps strings to ids of the str table.
type interner interface {
	id(s string) int64
	// idOf is id of string(b), which it copies only when it is new.
	idOf(b []byte) int64
}

// strReader maps ids of the str table back to strings.
type strReader interface {
	str(id int64) (string, error)
}

func encode(r *audit.Record, in interner) ([]byte, error) {
	var w row
	if err := toRow(r, in, &w); err != nil {
		return nil, err
	}
	return appendRow(make([]byte, 0, 160), &w), nil
}

// isGuidText reports whether s is g as uuid.String writes it, without making
// that string: this runs for every record.
func isGuidText(s string, g uuid.UUID) bool {
	if len(s) != 36 {
		return false
	}
	var b [36]byte
	hex.Encode(b[0:8], g[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], g[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], g[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], g[8:10])
	b[23] = '-'
	hex.Encode(b[24:], g[10:])
	return string(b[:]) == s
}

// toRow fills w with r's data column.
func toRow(r *audit.Record, in interner, w *row) error {
	w.Result = int64(slices.Index(results, r.ResultStatus))
	if w.Result < 0 {
		return fmt.Errorf("unknown ResultStatus %q", r.ResultStatus)
	}
	if r.MailboxOwnerUPN == r.UserId && r.UserId != "" {
		w.Same |= sameOwner
	} else {
		w.Owner = in.id(r.MailboxOwnerUPN)
	}
	if r.MailboxGuid != uuid.Nil && isGuidText(r.UserKey, r.MailboxGuid) {
		w.Same |= sameUserKey
	} else {
		w.UserKey = in.id(r.UserKey)
	}
	w.UserType = r.UserType
	if r.LogonUserDisplayName != r.UserId {
		w.DisplayName = in.id(r.LogonUserDisplayName)
		w.NoDisplayName = r.LogonUserDisplayName == ""
	}
	if r.IsAdmin() && r.MailboxGuid != uuid.Nil {
		w.MailboxGuid = r.MailboxGuid[:]
	}
	w.ClientInfo = in.id(r.ClientInfoString)
	w.ProcessName = in.id(r.ClientProcessName)
	w.Version = in.id(r.ClientVersion)
	w.Machine = in.id(r.ClientMachineName)
	if b, err := base64.RawStdEncoding.DecodeString(r.SessionId); err == nil && len(r.SessionId) >= 4 &&
		base64.RawStdEncoding.EncodeToString(b) == r.SessionId {
		w.SessionBin = b
	} else {
		w.Session = r.SessionId
	}
	w.Server = in.id(r.OriginatingServer)
	w.Folder = encFolder(r.Folder, in)
	w.DestFolder = encFolder(r.DestFolder, in)
	w.Cross = r.CrossMailboxOperation
	if r.DestMailboxId != uuid.Nil {
		w.DestMailbox = r.DestMailboxId[:]
	}
	w.DestOwner = in.id(r.DestMailboxOwnerUPN)
	switch {
	case r.Item != nil:
		it := encItem(*r.Item, in)
		w.Item = &it
	case len(r.AffectedItems) > 0:
		for _, it := range r.AffectedItems {
			w.Items = append(w.Items, encItem(it, in))
		}
	}
	for _, f := range r.Folders {
		a := aggRow{Id: f.Id, Path: in.id(f.Path)}
		for _, it := range f.FolderItems {
			a.Items = append(a.Items, encItem(it, in))
		}
		w.Folders = append(w.Folders, a)
	}
	w.OpCount = r.OperationCount
	if r.RecordType == audit.ExchangeItemAggregated {
		w.OpCount--
	}
	var buf [128]byte
	if list, ok := appendPropList(buf[:0], r.OperationProperties); ok {
		w.PropList = in.idOf(list)
	} else {
		for _, p := range r.OperationProperties {
			w.Props = append(w.Props, encNV(p, in))
		}
	}
	switch {
	case r.ObjectId == derivedObjectId(r):
	case r.ObjectId == "":
		w.ObjectIs = 4
	case len(r.Items()) > 0 && r.ObjectId == r.Items()[0].Id:
		w.ObjectIs = 1
	case r.Folder != nil && r.ObjectId == r.Folder.Path:
		w.ObjectIs = 2
	case r.ObjectId == r.MailboxOwnerUPN:
		w.ObjectIs = 3
	default:
		w.ObjectId = r.ObjectId
	}
	for _, p := range r.Parameters {
		w.Params = append(w.Params, encNV(p, in))
	}
	for _, m := range r.ModifiedProperties {
		w.Mods = append(w.Mods, modRow{Name: in.id(m.Name), Old: m.OldValue, New: m.NewValue})
	}
	w.SendAs = r.SendAsUserSmtp
	w.SendOnBehalf = r.SendOnBehalfOfUserSmtp
	w.Source = in.id(r.Source)
	if prefix, n, ok := numbered(r.SourceEventId); ok {
		w.SourcePrefix, w.SourceNum = in.id(prefix), n
	} else {
		w.SourceEvent = r.SourceEventId
	}
	return nil
}

// derivedObjectId is the ObjectId the engine gives a mailbox record: its one
// item, else its folder, else the mailbox.
func derivedObjectId(r *audit.Record) string {
	var one *audit.Item // the only item, if there is just one
	switch {
	case r.Item != nil:
		one = r.Item
	case len(r.AffectedItems) > 0:
		if len(r.AffectedItems) == 1 {
			one = &r.AffectedItems[0]
		}
	default:
		n := 0
		for i := range r.Folders {
			if f := &r.Folders[i]; len(f.FolderItems) > 0 {
				n += len(f.FolderItems)
				one = &f.FolderItems[0]
			}
		}
		if n != 1 {
			one = nil
		}
	}
	switch {
	case one != nil && one.Id != "":
		return one.Id
	case r.Folder != nil && r.Folder.Path != "":
		return r.Folder.Path
	case len(r.Folders) > 0 && r.Folders[0].Path != "":
		return r.Folders[0].Path
	}
	return r.MailboxOwnerUPN
}

// appendPropList joins properties into one string when every value is
// short.
func appendPropList(b []byte, props []audit.NameValue) ([]byte, bool) {
	if len(props) == 0 {
		return b, false
	}
	for i, p := range props {
		if len(p.Value) > maxPairValue || strings.Contains(p.Name, "\x00") || strings.Contains(p.Value, "\x00") {
			return b, false
		}
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, p.Name...)
		b = append(b, 0)
		b = append(b, p.Value...)
	}
	return b, true
}

func splitPropList(list string) []audit.NameValue {
	parts := strings.Split(list, "\x00")
	props := make([]audit.NameValue, len(parts)/2)
	for i := range props {
		props[i] = audit.NameValue{Name: parts[2*i], Value: parts[2*i+1]}
	}
	return props
}

// numbered splits "<prefix>:<number>", where the number is written plainly
// (no sign, no leading zero), so that joining the parts gives s back.
func numbered(s string) (string, uint64, bool) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		return "", 0, false
	}
	digits := s[i+1:]
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || n == 0 || strconv.FormatUint(n, 10) != digits {
		return "", 0, false
	}
	return s[:i], n, true
}

func encFolder(f *audit.Folder, in interner) *folderRow {
	if f == nil {
		return nil
	}
	return &folderRow{Id: f.Id, Path: in.id(f.Path)}
}

func encItem(it audit.Item, in interner) itemRow {
	w := itemRow{Id: it.Id, MsgId: it.InternetMessageId, Subject: it.Subject, Size: it.SizeInBytes, Parent: encFolder(it.ParentFolder, in)}
	if prefix, n, ok := numbered(it.Id); ok {
		w.Id, w.IdPrefix, w.IdNum = "", in.id(prefix), n
	}
	if m := it.InternetMessageId; len(m) > 2 && m[0] == '<' && m[len(m)-1] == '>' {
		if local, domain, ok := strings.Cut(m[1:len(m)-1], "@"); ok && domain != "" && !strings.ContainsAny(domain, "@<>") {
			w.MsgId, w.MsgLocal, w.MsgDomain = "", local, in.id(domain)
		}
	}
	return w
}

func decItem(it itemRow, str func(int64) string, folder func(*folderRow) *audit.Folder) audit.Item {
	out := audit.Item{Id: it.Id, InternetMessageId: it.MsgId, Subject: it.Subject, SizeInBytes: it.Size, ParentFolder: folder(it.Parent)}
	if it.IdPrefix != 0 {
		out.Id = str(it.IdPrefix) + ":" + strconv.FormatUint(it.IdNum, 10)
	}
	if it.MsgDomain != 0 {
		out.InternetMessageId = "<" + it.MsgLocal + "@" + str(it.MsgDomain) + ">"
	}
	return out
}

// readRow decodes the data column into w (zero): by hand (cbordec.go), else
// by the library, leaving w as the library leaves its row.
func readRow(data []byte, w *row) error {
	if decodeRow(data, w) {
		return nil
	}
	// Into a row of its own, so that the caller's stays on the stack.
	var v row
	err := decMode.Unmarshal(data, &v)
	*w = v
	return err
}

// decode fills r (whose indexed columns are already set) from the data
// column, which it does not keep: the caller may reuse it.
func decode(data []byte, r *audit.Record, in strReader) error {
	var w row
	if err := readRow(data, &w); err != nil {
		return err
	}
	var err error
	str := func(id int64) string {
		if id == 0 || err != nil {
			return ""
		}
		var s string
		s, err = in.str(id)
		return s
	}
	if w.Result >= 0 && int(w.Result) < len(results) {
		r.ResultStatus = results[w.Result]
	}
	if len(w.MailboxGuid) == 16 {
		copy(r.MailboxGuid[:], w.MailboxGuid)
	}
	r.UserKey = str(w.UserKey)
	if w.Same&sameUserKey != 0 {
		r.UserKey = r.MailboxGuid.String()
	}
	r.UserType = w.UserType
	r.LogonUserDisplayName = r.UserId
	if w.DisplayName != 0 || w.NoDisplayName {
		r.LogonUserDisplayName = str(w.DisplayName)
	}
	r.MailboxOwnerUPN = str(w.Owner)
	if w.Same&sameOwner != 0 {
		r.MailboxOwnerUPN = r.UserId
	}
	r.ClientInfoString = str(w.ClientInfo)
	r.ClientProcessName = str(w.ProcessName)
	r.ClientVersion = str(w.Version)
	r.ClientMachineName = str(w.Machine)
	r.SessionId = w.Session
	if w.SessionBin != nil {
		r.SessionId = base64.RawStdEncoding.EncodeToString(w.SessionBin)
	}
	r.OriginatingServer = str(w.Server)
	decFolder := func(f *folderRow) *audit.Folder {
		if f == nil {
			return nil
		}
		return &audit.Folder{Id: f.Id, Path: str(f.Path)}
	}
	decItem := func(it itemRow) audit.Item { return decItem(it, str, decFolder) }
	r.Folder = decFolder(w.Folder)
	r.DestFolder = decFolder(w.DestFolder)
	r.CrossMailboxOperation = w.Cross
	if len(w.DestMailbox) == 16 {
		copy(r.DestMailboxId[:], w.DestMailbox)
	}
	r.DestMailboxOwnerUPN = str(w.DestOwner)
	if w.Item != nil {
		it := decItem(*w.Item)
		r.Item = &it
	}
	if len(w.Items) > 0 {
		r.AffectedItems = make([]audit.Item, len(w.Items))
		for i, it := range w.Items {
			r.AffectedItems[i] = decItem(it)
		}
	}
	for _, f := range w.Folders {
		a := audit.AggregatedFolder{Id: f.Id, Path: str(f.Path), FolderItems: make([]audit.Item, len(f.Items))}
		for i, it := range f.Items {
			a.FolderItems[i] = decItem(it)
		}
		r.Folders = append(r.Folders, a)
	}
	r.OperationCount = w.OpCount
	if r.RecordType == audit.ExchangeItemAggregated {
		r.OperationCount++
	}
	if w.PropList != 0 {
		r.OperationProperties = splitPropList(str(w.PropList))
	}
	for _, p := range w.Props {
		r.OperationProperties = append(r.OperationProperties, decNV(p, str))
	}
	switch w.ObjectIs {
	case 1:
		if items := r.Items(); len(items) > 0 {
			r.ObjectId = items[0].Id
		}
	case 2:
		if r.Folder != nil {
			r.ObjectId = r.Folder.Path
		}
	case 3:
		r.ObjectId = r.MailboxOwnerUPN
	case 4:
	default:
		r.ObjectId = w.ObjectId
		if r.ObjectId == "" {
			r.ObjectId = derivedObjectId(r)
		}
	}
	for _, p := range w.Params {
		r.Parameters = append(r.Parameters, decNV(p, str))
	}
	for _, m := range w.Mods {
		r.ModifiedProperties = append(r.ModifiedProperties, audit.ModifiedProperty{Name: str(m.Name), OldValue: m.Old, NewValue: m.New})
	}
	r.SendAsUserSmtp = w.SendAs
	r.SendOnBehalfOfUserSmtp = w.SendOnBehalf
	r.Source = str(w.Source)
	r.SourceEventId = w.SourceEvent
	if w.SourcePrefix != 0 {
		r.SourceEventId = str(w.SourcePrefix) + ":" + strconv.FormatUint(w.SourceNum, 10)
	}
	return err
}
