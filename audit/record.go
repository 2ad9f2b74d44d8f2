package audit

import (
	"encoding/binary"
	"time"

	"github.com/google/uuid"
)

// RecordType is Microsoft 365's AuditLogRecordType.
type RecordType int

// The record types this system writes.
const (
	ExchangeAdmin          RecordType = 1
	ExchangeItem           RecordType = 2
	ExchangeItemGroup      RecordType = 3
	ExchangeItemAggregated RecordType = 50
	ExchangeSearch         RecordType = 101
)

// UserType values of records.
const (
	UserTypeRegular = 0
	UserTypeAdmin   = 2
)

// AggregatedFolder is a folder of an aggregated MailItemsAccessed record with
// the items bound in it.
type AggregatedFolder struct {
	Id          string `json:"Id,omitempty"`
	Path        string `json:"Path,omitempty"`
	FolderItems []Item `json:"FolderItems"`
}

// ModifiedProperty is a property an admin action changed.
type ModifiedProperty struct {
	Name     string `json:"Name"`
	OldValue string `json:"OldValue"`
	NewValue string `json:"NewValue"`
}

// Record is an audit record: activity plus what the engine decided, or an
// admin audit record of a configuration change. Field names are those of the
// Office 365 Management Activity API; records.md says which kind has which.
type Record struct {
	// SequenceNumber is the record's position in this installation's
	// append-only log: dense, starting at 1, assigned in commit order.
	SequenceNumber int64
	RecordType     RecordType
	CreationTime   time.Time
	// Operation is an Operation's name, or for admin records the command
	// (Set-Mailbox, Set-OrganizationConfig, …).
	Operation    string
	ResultStatus string

	UserId               string
	UserKey              string
	UserType             int
	LogonType            LogonType
	LogonUserDisplayName string
	ExternalAccess       bool

	MailboxGuid     uuid.UUID
	MailboxOwnerUPN string

	ClientIPAddress   string
	ClientInfoString  string
	ClientProcessName string
	ClientVersion     string
	ClientMachineName string
	SessionId         string
	OriginatingServer string

	Folder                *Folder
	DestFolder            *Folder
	CrossMailboxOperation bool
	DestMailboxId         uuid.UUID
	DestMailboxOwnerUPN   string
	AffectedItems         []Item
	Item                  *Item

	SendAsUserSmtp         string
	SendOnBehalfOfUserSmtp string

	Folders             []AggregatedFolder
	OperationCount      int
	OperationProperties []NameValue

	ObjectId string

	// Admin records.
	Parameters         []NameValue
	ModifiedProperties []ModifiedProperty

	// Where the record came from: the activity's Source and SourceEventId
	// (for an aggregated record, those of the first activity).
	Source        string
	SourceEventId string
}

// IsAdmin reports whether this is an admin audit record.
func (r *Record) IsAdmin() bool { return r.RecordType == ExchangeAdmin }

// Property returns an OperationProperties value.
func (r *Record) Property(name string) string {
	for _, p := range r.OperationProperties {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}

// RecordID is a record's Id: derived from the organisation and the sequence
// number, so it is stable, unique per installation and costs no storage.
func RecordID(org uuid.UUID, seq int64) uuid.UUID {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(seq))
	return uuid.NewSHA1(org, b[:])
}

// Items returns the record's items, whichever field holds them.
func (r *Record) Items() []Item {
	if r.Item != nil {
		return []Item{*r.Item}
	}
	if len(r.AffectedItems) > 0 {
		return r.AffectedItems
	}
	var items []Item
	for _, f := range r.Folders {
		items = append(items, f.FolderItems...)
	}
	return items
}

// groupOps are written as ExchangeItemGroup records (folder plus affected
// items) whatever their item count, as Exchange does for moves and deletes
// (records.md); everything else is an ExchangeItem unless it has several items.
var groupOps = Ops(Copy, HardDelete, Move, MoveToDeletedItems, RecordDelete, SoftDelete)

// recordTypeFor picks the record type of a mailbox record.
func recordTypeFor(op Operation, items int) RecordType {
	switch {
	case op == MailItemsAccessed:
		return ExchangeItemAggregated
	case op == SearchQueryInitiated:
		return ExchangeSearch
	case groupOps.Has(op) || items > 1:
		return ExchangeItemGroup
	}
	return ExchangeItem
}
