package audit

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Store keeps the directory, the volume state and the append-only audit log.
// Implementations (sqlite, postgres) pass the conformance suite in storetest.
type Store interface {
	// Load reads everything the engine needs: the directory (removed
	// mailboxes included), the volume state and the last sequence number.
	// A new store returns a new organisation, already saved.
	Load(ctx context.Context) (*State, error)
	// Commit writes a change in one transaction: all of it or none of it.
	Commit(ctx context.Context, c *Commit) error
	// Seen reports which activities were already committed: the same
	// Source, SourceEventId and CreationTime.
	Seen(ctx context.Context, events []Event) (map[Event]bool, error)
	// Search streams the records matching q, newest first (CreationTime,
	// then SequenceNumber), to fn, up to q.Limit. It returns the cursor of
	// the next page, or "" when there is none.
	Search(ctx context.Context, q *Query, fn func(*Record) error) (next string, err error)
	// Retain deletes whole expired data: each mailbox's records older than
	// its cut-off, admin records older than theirs, and activity keys older
	// than every cut-off. It never rewrites a record.
	Retain(ctx context.Context, r Retention) (deleted int64, err error)
	// Position reads a source's saved position ("" when none).
	Position(ctx context.Context, source string) (string, error)
	// SaveAuditLogSearch creates or replaces a background search.
	SaveAuditLogSearch(ctx context.Context, s *AuditLogSearch) error
	// AuditLogSearches lists the background searches, oldest first.
	AuditLogSearches(ctx context.Context) ([]*AuditLogSearch, error)
	Close() error
}

// State is what Load returns.
type State struct {
	Dir    *Directory
	Volume []VolumeEntry
	Seq    int64
}

// EventKey identifies an activity for de-duplication.
type EventKey struct {
	Source, Id string
}

// Commit is one transaction's worth of change.
type Commit struct {
	Org               *Organization // nil leaves it
	Mailboxes         []*Mailbox    // inserted or replaced, by Guid
	AddPermissions    []Permission
	RemovePermissions []Permission
	Bypasses          []Bypass // inserted or replaced, by Identity
	// Records are appended; their SequenceNumbers must continue the log
	// densely.
	Records []*Record
	// Counts set the OperationCount of earlier records, by sequence number.
	Counts map[int64]int
	Volume []VolumeEntry
	// Events are the keys of the activity this commit accepted, with its time.
	Events []Event
	// Positions are sources' positions to save with the records they produced.
	Positions map[string]string
}

// Empty reports whether the commit changes nothing.
func (c *Commit) Empty() bool {
	return c.Org == nil && len(c.Mailboxes) == 0 && len(c.AddPermissions) == 0 && len(c.RemovePermissions) == 0 &&
		len(c.Bypasses) == 0 && len(c.Records) == 0 && len(c.Counts) == 0 && len(c.Volume) == 0 &&
		len(c.Events) == 0 && len(c.Positions) == 0
}

// Event is an accepted activity's key and time, kept for de-duplication.
type Event struct {
	EventKey
	Time time.Time
}

// Query selects audit records.
type Query struct {
	// Mailboxes limits the search to these mailboxes; empty means all.
	Mailboxes []uuid.UUID
	Start     time.Time // inclusive
	End       time.Time // exclusive; zero means no end
	// Operations are names (mailbox operations or admin commands).
	Operations []string
	// LogonTypes keeps records of these logon types; External keeps
	// records with ExternalAccess. Either matching is enough.
	LogonTypes []LogonType
	External   bool
	// ExternalOnly keeps only records with ExternalAccess.
	ExternalOnly bool
	// UserIds keeps records whose actor is one of these.
	UserIds []string
	// UserMailboxes are the mailboxes of the accounts in UserIds: their
	// owners' records match too. A store may find owner records through
	// the mailbox rather than the actor; either way the answer is the same.
	UserMailboxes []uuid.UUID
	ObjectIds     []string
	IPAddresses   []string
	// FreeText matches, case-insensitively, subjects and folder paths.
	FreeText    string
	RecordTypes []RecordType
	// Limit caps the records returned; 0 means no cap.
	Limit int
	// Cursor continues a previous search.
	Cursor string
}

// Retention is what a retention run deletes: records created before the
// cut-offs.
type Retention struct {
	Mailboxes map[uuid.UUID]time.Time
	Admin     time.Time
	Events    time.Time
}

// RetentionAt computes the cut-offs of every mailbox's AuditLogAgeLimit (and
// the organisation's AdminAuditLogAgeLimit, as Organization.AdminAgeLimitAt
// has it) at now. Removed mailboxes keep theirs, so their records stay until
// they are due.
func RetentionAt(d *Directory, now time.Time) Retention {
	r := Retention{Mailboxes: make(map[uuid.UUID]time.Time, len(d.Mailboxes)), Admin: now.Add(-d.Org.AdminAgeLimitAt(now))}
	r.Events = r.Admin
	for _, m := range d.Mailboxes {
		cut := now.Add(-m.AuditLogAgeLimit)
		r.Mailboxes[m.Guid] = cut
		if cut.Before(r.Events) {
			r.Events = cut
		}
	}
	return r
}
