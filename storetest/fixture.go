package storetest

import (
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/mailaudit/mailaudit/audit"
)

// t0 is the fixtures' "now": a Sunday morning in November 2026, a whole
// millisecond.
var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

// Fixture is a small organisation, example.org: Alice (a lawyer who audits her
// own mailbox closely), her delegate Bob, a shared project mailbox, a meeting
// room, and Carol, who left. Its methods make the records these people produce,
// shaped as the engine and the services make them.
type Fixture struct {
	Alice, Bob, Shared, Room, Carol *audit.Mailbox

	seq int64 // last sequence number assigned by Seq
	n   int   // makes item ids and event ids unique
}

// NewFixture makes the organisation's mailboxes. Their GUIDs derive from their
// addresses, so two fixtures have the same mailboxes.
func NewFixture() *Fixture {
	f := &Fixture{}
	f.Alice = mailbox("alice@example.org", audit.UserMailbox, "Alice Liddell", t0.Add(-400*day+123456789))
	f.Alice.EmailAddresses = []string{"a.liddell@example.org", "alice.liddell@example.org"}
	f.Alice.AuditEnabled = true
	f.Alice.Audit[audit.Owner] = audit.Ops(audit.MailboxLogin, audit.Update, audit.HardDelete, audit.SoftDelete)
	f.Alice.Audit[audit.Admin] = audit.Ops(audit.Update, audit.Copy, audit.Move, audit.MoveToDeletedItems)
	f.Alice.Audit[audit.Delegate] = audit.Ops(audit.SendAs, audit.SendOnBehalf, audit.SoftDelete, audit.FolderBind)
	f.Alice.DefaultAuditSet = audit.AllLogons.Without(audit.Owner)
	f.Alice.Attributes = map[string]string{"Department": "Legal", "Company": "Example Ltd", "CustomAttribute15": "Audit-Tier1"}

	f.Bob = mailbox("bob@example.org", audit.UserMailbox, "Bob Builder", t0.Add(-300*day))
	f.Bob.EmailAddresses = []string{"builder@example.org"}

	f.Shared = mailbox("projects@example.org", audit.SharedMailbox, "Projects", t0.Add(-200*day))
	f.Shared.AuditEnabled = true
	f.Shared.AuditLogAgeLimit = 30 * day

	f.Room = mailbox("room-412@example.org", audit.RoomMailbox, "Room 4.12", t0.Add(-100*day))
	f.Room.AuditLogAgeLimit = 180 * day
	f.Room.Attributes = map[string]string{"Office": "4th floor", "City": "Leeds"}

	f.Carol = mailbox("carol@example.org", audit.UserMailbox, "Carol Danvers", t0.Add(-500*day))
	f.Carol.AuditLogAgeLimit = 7 * day
	f.Carol.WhenRemoved = t0.Add(-10*day + 250*time.Millisecond)
	return f
}

func mailbox(address string, typ audit.RecipientType, name string, created time.Time) *audit.Mailbox {
	m := audit.NewMailbox(address, typ, created)
	m.Guid = uuid.NewSHA1(uuid.NameSpaceDNS, []byte(address))
	m.DisplayName = name
	return m
}

// Mailboxes lists the organisation's mailboxes, Carol (removed) included.
func (f *Fixture) Mailboxes() []*audit.Mailbox {
	return []*audit.Mailbox{f.Alice, f.Bob, f.Shared, f.Room, f.Carol}
}

// Seq gives records the next sequence numbers, in order, and returns them.
func (f *Fixture) Seq(rs ...*audit.Record) []*audit.Record {
	for _, r := range rs {
		f.seq++
		r.SequenceNumber = f.seq
	}
	return rs
}

// LastSeq is the last sequence number Seq assigned.
func (f *Fixture) LastSeq() int64 { return f.seq }

func (f *Fixture) next() int { f.n++; return f.n }

// sub is a sub-millisecond part for the n-th time, which a store may drop.
func sub(n int) time.Duration {
	return time.Duration(n*37%1000)*time.Microsecond + time.Duration(n%7)
}

// Kinds are the record builders, one per shape of record the engine and the
// services make; together they set every field of audit.Record.
func (f *Fixture) Kinds() []func(at time.Time) *audit.Record {
	return []func(at time.Time) *audit.Record{
		f.OwnerUpdate, f.DelegateSoftDelete, f.CrossMailboxMove, f.MailItemsAccessed, f.SearchQuery, f.SendAs,
		f.SendOnBehalf, f.ExternalLogin, f.FolderBind, f.AdminSetMailbox, f.AdminSetOrganizationConfig,
		f.RemovedMailboxLogin, f.DraftUpdate,
	}
}

// Corpus makes n records of every kind in turn, with sequence numbers, the
// first at start and one every step (a whole number of milliseconds) after
// it. Every fourth record has exactly the time of the one before; aggregated
// records are sealed late, so theirs is a step and a half earlier than their
// place in the log.
func (f *Fixture) Corpus(start time.Time, step time.Duration, n int) []*audit.Record {
	kinds := f.Kinds()
	var out []*audit.Record
	var prev time.Time
	for i := range n {
		at := start.Add(time.Duration(i)*step + sub(i))
		if i%4 == 3 {
			at = prev
		}
		kind := kinds[i%len(kinds)]
		r := kind(at)
		if r.RecordType == audit.ExchangeItemAggregated && i%4 != 3 {
			r.CreationTime = at.Add(-step * 3 / 2)
		}
		prev = r.CreationTime
		out = append(out, r)
	}
	return f.Seq(out...)
}

func (f *Fixture) actor(r *audit.Record, m *audit.Mailbox) {
	r.UserId, r.UserKey, r.LogonUserDisplayName = m.PrimarySmtpAddress, m.Guid.String(), m.DisplayName
}

func (f *Fixture) on(r *audit.Record, m *audit.Mailbox) {
	r.MailboxGuid, r.MailboxOwnerUPN = m.Guid, m.PrimarySmtpAddress
}

func imap(r *audit.Record, ip, session string) {
	r.ClientIPAddress = ip
	r.ClientInfoString = "Client=IMAP4;name=neomutt;version=20220429"
	r.ClientProcessName = "neomutt"
	r.ClientVersion = "20220429"
	r.ClientMachineName = "ws-legal-07"
	r.SessionId = session
	r.OriginatingServer = "mx1.example.org"
}

func (f *Fixture) item(folder, subject string) audit.Item {
	n := f.next()
	return audit.Item{
		Id:                fmt.Sprintf("%s:1795316229:%d", folder, n),
		InternetMessageId: fmt.Sprintf("<%d.%x@mail.example.org>", n, n*7919),
		Subject:           fmt.Sprintf("%s (%d)", subject, n),
		SizeInBytes:       int64(4000 + n*131),
		ParentFolder:      &audit.Folder{Id: folder + "-id", Path: "/" + folder},
	}
}

func (f *Fixture) source(r *audit.Record, src string) {
	r.Source, r.SourceEventId = src, fmt.Sprintf("%s:%08x", src, f.next()*2654435761%(1<<32))
}

// OwnerUpdate: Alice changes a message in her Inbox.
func (f *Fixture) OwnerUpdate(at time.Time) *audit.Record {
	it := f.item("Inbox", "Quarterly report draft")
	r := &audit.Record{RecordType: audit.ExchangeItem, CreationTime: at, Operation: "Update", ResultStatus: audit.Succeeded,
		LogonType: audit.Owner, Folder: &audit.Folder{Id: "Inbox-id", Path: "/Inbox"}, Item: &it, ObjectId: it.Id}
	f.actor(r, f.Alice)
	f.on(r, f.Alice)
	imap(r, "192.0.2.15", "imap-7f3a")
	f.source(r, "dovecot")
	return r
}

// DelegateSoftDelete: Bob deletes two of Alice's messages.
func (f *Fixture) DelegateSoftDelete(at time.Time) *audit.Record {
	r := &audit.Record{RecordType: audit.ExchangeItemGroup, CreationTime: at, Operation: "SoftDelete",
		ResultStatus: audit.PartiallySucceeded, LogonType: audit.Delegate,
		Folder:        &audit.Folder{Id: "Inbox-id", Path: "/Inbox"},
		DestFolder:    &audit.Folder{Id: "Deletions-id", Path: "/Recoverable Items/Deletions"},
		AffectedItems: []audit.Item{f.item("Inbox", "Invoice 2026-11"), f.item("Inbox", "Re: Invoice 2026-11")},
		ObjectId:      "/Inbox"}
	f.actor(r, f.Bob)
	f.on(r, f.Alice)
	imap(r, "198.51.100.23", "imap-b0b1")
	f.source(r, "dovecot")
	return r
}

// CrossMailboxMove: Bob moves notes from the shared mailbox into his own.
func (f *Fixture) CrossMailboxMove(at time.Time) *audit.Record {
	it := f.item("Projects/Mailaudit", "Design review notes")
	r := &audit.Record{RecordType: audit.ExchangeItemGroup, CreationTime: at, Operation: "Move", ResultStatus: audit.Succeeded,
		LogonType: audit.Delegate, Folder: &audit.Folder{Id: "Mailaudit-id", Path: "/Projects/Mailaudit"},
		DestFolder:            &audit.Folder{Id: "Archive-id", Path: "/Archive/Mailaudit"},
		CrossMailboxOperation: true, DestMailboxId: f.Bob.Guid, DestMailboxOwnerUPN: f.Bob.PrimarySmtpAddress,
		AffectedItems: []audit.Item{it}, ObjectId: it.Id}
	f.actor(r, f.Bob)
	f.on(r, f.Shared)
	imap(r, "198.51.100.23", "imap-b0b2")
	f.source(r, "dovecot")
	return r
}

// MailItemsAccessed: an aggregated record of Bob reading the shared mailbox.
func (f *Fixture) MailItemsAccessed(at time.Time) *audit.Record {
	r := &audit.Record{RecordType: audit.ExchangeItemAggregated, CreationTime: at, Operation: "MailItemsAccessed",
		ResultStatus: audit.Succeeded, LogonType: audit.Delegate,
		Folders: []audit.AggregatedFolder{
			{Id: "Inbox-id", Path: "/Inbox", FolderItems: []audit.Item{f.item("Inbox", "Weekly status"), f.item("Inbox", "Budget 2027")}},
			{Path: "/Projects/Mailaudit", FolderItems: []audit.Item{f.item("Projects/Mailaudit", "Retention policy")}},
		},
		OperationCount:      3,
		OperationProperties: []audit.NameValue{{Name: "MailAccessType", Value: "Bind"}, {Name: "IsThrottled", Value: "False"}},
		ObjectId:            "/Inbox"}
	f.actor(r, f.Bob)
	f.on(r, f.Shared)
	imap(r, "198.51.100.23", "imap-b0b3")
	f.source(r, "dovecot")
	return r
}

// SearchQuery: Alice searches her mailbox.
func (f *Fixture) SearchQuery(at time.Time) *audit.Record {
	r := &audit.Record{RecordType: audit.ExchangeSearch, CreationTime: at, Operation: "SearchQueryInitiated",
		ResultStatus: audit.Succeeded, LogonType: audit.Owner,
		OperationProperties: []audit.NameValue{{Name: "SearchQuery", Value: "from:bob invoice"}},
		ObjectId:            f.Alice.PrimarySmtpAddress}
	f.actor(r, f.Alice)
	f.on(r, f.Alice)
	r.ClientIPAddress, r.ClientInfoString, r.SessionId = "192.0.2.15", "Client=WebApp;name=roundcube", "web-41"
	f.source(r, "api")
	return r
}

// SendAs: Bob sends as the shared mailbox.
func (f *Fixture) SendAs(at time.Time) *audit.Record {
	it := f.item("Sent Items", "Room booking for Friday")
	r := &audit.Record{RecordType: audit.ExchangeItem, CreationTime: at, Operation: "SendAs", ResultStatus: audit.Succeeded,
		LogonType: audit.Delegate, SendAsUserSmtp: f.Shared.PrimarySmtpAddress,
		Folder: &audit.Folder{Path: "/Sent Items"}, Item: &it, ObjectId: it.Id}
	f.actor(r, f.Bob)
	f.on(r, f.Shared)
	r.ClientIPAddress, r.OriginatingServer = "198.51.100.23", "smtp1.example.org"
	f.source(r, "postfix")
	return r
}

// SendOnBehalf: Bob answers for Alice.
func (f *Fixture) SendOnBehalf(at time.Time) *audit.Record {
	it := f.item("Sent Items", "Re: Contract renewal")
	r := &audit.Record{RecordType: audit.ExchangeItem, CreationTime: at, Operation: "SendOnBehalf", ResultStatus: audit.Succeeded,
		LogonType: audit.Delegate, SendOnBehalfOfUserSmtp: f.Alice.PrimarySmtpAddress, Item: &it, ObjectId: it.InternetMessageId}
	f.actor(r, f.Bob)
	f.on(r, f.Alice)
	r.ClientIPAddress, r.OriginatingServer = "198.51.100.23", "smtp1.example.org"
	f.source(r, "postfix")
	return r
}

// ExternalLogin: the hosting provider's support fails to log in to the room.
func (f *Fixture) ExternalLogin(at time.Time) *audit.Record {
	r := &audit.Record{RecordType: audit.ExchangeItem, CreationTime: at, Operation: "MailboxLogin", ResultStatus: audit.Failed,
		UserId: "support@provider.example", UserKey: "support@provider.example", UserType: audit.UserTypeAdmin,
		LogonType: audit.Admin, LogonUserDisplayName: "Provider Support", ExternalAccess: true,
		ClientIPAddress: "2001:db8::7", ClientInfoString: "Client=IMAP4;name=doveadm", SessionId: "doveadm-9",
		ObjectId: f.Room.PrimarySmtpAddress}
	f.on(r, f.Room)
	f.source(r, "dovecot")
	return r
}

// FolderBind: Bob opens Alice's calendar (later binds are counted into it).
func (f *Fixture) FolderBind(at time.Time) *audit.Record {
	r := &audit.Record{RecordType: audit.ExchangeItem, CreationTime: at, Operation: "FolderBind", ResultStatus: audit.Succeeded,
		LogonType: audit.Delegate, Folder: &audit.Folder{Id: "Calendar-id", Path: "/Calendar"}, OperationCount: 1,
		ObjectId: "/Calendar"}
	f.actor(r, f.Bob)
	f.on(r, f.Alice)
	imap(r, "198.51.100.23", "imap-b0b4")
	f.source(r, "dovecot")
	return r
}

// AdminSetMailbox: an admin audit record of a mailbox change, as the services
// write it (no display name, no source event).
func (f *Fixture) AdminSetMailbox(at time.Time) *audit.Record {
	r := &audit.Record{RecordType: audit.ExchangeAdmin, CreationTime: at, Operation: "Set-Mailbox", ResultStatus: "True",
		UserId: "admin@example.org", UserKey: "admin@example.org", UserType: audit.UserTypeAdmin,
		ObjectId: f.Alice.PrimarySmtpAddress,
		Parameters: []audit.NameValue{{Name: "Identity", Value: f.Alice.PrimarySmtpAddress}, {Name: "AuditEnabled", Value: "True"},
			{Name: "AuditDelegate", Value: "Update,MoveToDeletedItems,SoftDelete,HardDelete,SendAs"}},
		ModifiedProperties: []audit.ModifiedProperty{{Name: "AuditEnabled", OldValue: "False", NewValue: "True"},
			{Name: "AuditDelegate", OldValue: "Update,SoftDelete", NewValue: "Update,MoveToDeletedItems,SoftDelete,HardDelete,SendAs"}},
		Source: "mailaudit"}
	f.on(r, f.Alice)
	return r
}

// AdminSetOrganizationConfig: a refused organisation change, through the API.
func (f *Fixture) AdminSetOrganizationConfig(at time.Time) *audit.Record {
	r := &audit.Record{RecordType: audit.ExchangeAdmin, CreationTime: at, Operation: "Set-OrganizationConfig", ResultStatus: "False",
		UserId: "admin@example.org", UserKey: "a0a0a0a0-b1b1-4c2c-9d3d-e4e4e4e4e4e4", UserType: audit.UserTypeAdmin,
		LogonUserDisplayName: "Mail Admin", ClientIPAddress: "192.0.2.10", OriginatingServer: "mailaudit-1",
		ObjectId:   "example.org",
		Parameters: []audit.NameValue{{Name: "AuditDisabled", Value: "True"}}}
	f.source(r, "api")
	return r
}

// RemovedMailboxLogin: Carol logs in, back when she still had a mailbox.
func (f *Fixture) RemovedMailboxLogin(at time.Time) *audit.Record {
	r := &audit.Record{RecordType: audit.ExchangeItem, CreationTime: at, Operation: "MailboxLogin", ResultStatus: audit.Succeeded,
		LogonType: audit.Owner, ClientIPAddress: "192.0.2.44", ClientInfoString: "Client=POP3", ObjectId: f.Carol.PrimarySmtpAddress}
	f.actor(r, f.Carol)
	f.on(r, f.Carol)
	f.source(r, "dovecot")
	return r
}

// DraftUpdate: Alice edits a draft in a folder known only by its id.
func (f *Fixture) DraftUpdate(at time.Time) *audit.Record {
	it := f.item("Drafts", "Settlement offer")
	it.ParentFolder = &audit.Folder{Id: "Drafts-id"}
	r := &audit.Record{RecordType: audit.ExchangeItem, CreationTime: at, Operation: "Update", ResultStatus: audit.Succeeded,
		LogonType: audit.Owner, Folder: &audit.Folder{Id: "Drafts-id"}, Item: &it, ObjectId: it.Id}
	f.actor(r, f.Alice)
	f.on(r, f.Alice)
	imap(r, "192.0.2.15", "imap-7f3b")
	f.source(r, "dovecot")
	return r
}

// Organization is the organisation after an administrator changed every
// setting of a new one.
func Organization(id uuid.UUID) *audit.Organization {
	return &audit.Organization{
		Id:                        id,
		Name:                      "example.org",
		AuditDisabled:             true,
		Profile:                   "exchange-online-2019",
		MailItemsAccessedThrottle: 250,
		AdminAuditLogAgeLimit:     365 * day,
		// Shortened from 730 days 30 days before t0: the older limit still holds.
		AdminAuditLogAgeLimitKept:      730 * day,
		AdminAuditLogAgeLimitKeptUntil: t0.Add(700 * day),
		AdminHintSources:               []string{"dovecot", "doveadm", "import"},
	}
}
