package audit

import (
	"sort"
	"strings"
)

// Profile fixes which operations are valid per logon type, which are audited
// by default, and whether mailboxes are audited without AuditEnabled.
type Profile struct {
	Name string
	// OnByDefault: every mailbox is audited whatever its AuditEnabled
	// (Exchange Online); otherwise only mailboxes with AuditEnabled=true are.
	OnByDefault bool
	// HasGroupMailboxes: the profile knows group mailboxes and their fixed sets.
	HasGroupMailboxes bool
	Valid             [3]OpSet // indexed by LogonType
	Default           [3]OpSet
	// Deprecated operations are refused with their own text rather than the
	// list of valid ones (MessageBind in Exchange Online).
	Deprecated [3]OpSet
}

// DefaultProfile is the profile of a new organisation.
const DefaultProfile = "exchange-online"

// Group mailboxes have fixed sets in every profile that has them.
var (
	groupAdminDelegate = Ops(Create, HardDelete, MoveToDeletedItems, SendAs, SendOnBehalf, SoftDelete, Update)
	groupOwner         = Ops(HardDelete, MoveToDeletedItems, SoftDelete, Update)
	// GroupSets are the fixed lists of group mailboxes, by logon type.
	GroupSets = [3]OpSet{Owner: groupOwner, Admin: groupAdminDelegate, Delegate: groupAdminDelegate}
)

var exchangeOnline = Profile{
	Name:              "exchange-online",
	OnByDefault:       true,
	HasGroupMailboxes: true,
	Valid: [3]OpSet{
		Admin: Ops(ApplyRecord, Copy, Create, FolderBind, HardDelete, MailItemsAccessed, Move, MoveToDeletedItems,
			RecordDelete, Send, SendAs, SendOnBehalf, SoftDelete, Update, UpdateCalendarDelegation,
			UpdateComplianceTag, UpdateFolderPermissions, UpdateInboxRules),
		Delegate: Ops(ApplyRecord, Create, FolderBind, HardDelete, MailItemsAccessed, Move, MoveToDeletedItems,
			RecordDelete, SendAs, SendOnBehalf, SoftDelete, Update, UpdateComplianceTag,
			UpdateFolderPermissions, UpdateInboxRules),
		Owner: Ops(ApplyRecord, Create, HardDelete, MailboxLogin, MailItemsAccessed, Move, MoveToDeletedItems,
			RecordDelete, SearchQueryInitiated, Send, SoftDelete, Update, UpdateCalendarDelegation,
			UpdateComplianceTag, UpdateFolderPermissions, UpdateInboxRules),
	},
	Default: [3]OpSet{
		Admin: Ops(ApplyRecord, Create, HardDelete, MailItemsAccessed, MoveToDeletedItems, Send, SendAs,
			SendOnBehalf, SoftDelete, Update, UpdateCalendarDelegation, UpdateFolderPermissions, UpdateInboxRules),
		Delegate: Ops(ApplyRecord, Create, HardDelete, MailItemsAccessed, MoveToDeletedItems, SendAs,
			SendOnBehalf, SoftDelete, Update, UpdateFolderPermissions, UpdateInboxRules),
		Owner: Ops(ApplyRecord, HardDelete, MailItemsAccessed, MoveToDeletedItems, Send, SoftDelete, Update,
			UpdateCalendarDelegation, UpdateFolderPermissions, UpdateInboxRules),
	},
	Deprecated: [3]OpSet{Admin: Ops(MessageBind)},
}

// exchange-online-2019 is Exchange Online's validity of January 2019.
var exchangeOnline2019 = func() Profile {
	gone := Ops(ApplyRecord, MailItemsAccessed, Send, SearchQueryInitiated, RecordDelete, UpdateComplianceTag)
	p := Profile{Name: "exchange-online-2019", OnByDefault: true, HasGroupMailboxes: true}
	for lt := range p.Valid {
		p.Valid[lt] = exchangeOnline.Valid[lt] &^ gone
	}
	p.Valid[Admin] |= Ops(MessageBind)
	p.Default = [3]OpSet{
		Admin: Ops(Create, HardDelete, MoveToDeletedItems, SendAs, SendOnBehalf, SoftDelete, Update,
			UpdateCalendarDelegation, UpdateFolderPermissions, UpdateInboxRules),
		Delegate: Ops(Create, HardDelete, MoveToDeletedItems, SendAs, SendOnBehalf, SoftDelete, Update,
			UpdateFolderPermissions, UpdateInboxRules),
		Owner: Ops(HardDelete, MoveToDeletedItems, SoftDelete, Update, UpdateCalendarDelegation,
			UpdateFolderPermissions, UpdateInboxRules),
	}
	return p
}()

var exchange2019 = Profile{
	Name:              "exchange-2019",
	HasGroupMailboxes: true,
	Valid: [3]OpSet{
		Admin: Ops(Copy, Create, FolderBind, HardDelete, MessageBind, Move, MoveToDeletedItems, SendAs,
			SendOnBehalf, SoftDelete, Update, UpdateCalendarDelegation, UpdateFolderPermissions, UpdateInboxRules),
		Delegate: Ops(Create, FolderBind, HardDelete, Move, MoveToDeletedItems, SendAs, SendOnBehalf, SoftDelete,
			Update, UpdateFolderPermissions, UpdateInboxRules),
		Owner: Ops(Create, HardDelete, MailboxLogin, Move, MoveToDeletedItems, SoftDelete, Update,
			UpdateCalendarDelegation, UpdateFolderPermissions, UpdateInboxRules),
	},
	Default: [3]OpSet{
		Admin: Ops(Create, FolderBind, HardDelete, Move, MoveToDeletedItems, SendAs, SendOnBehalf, SoftDelete,
			Update, UpdateCalendarDelegation, UpdateFolderPermissions, UpdateInboxRules),
		Delegate: Ops(Create, HardDelete, SendAs, SoftDelete, Update, UpdateFolderPermissions, UpdateInboxRules),
	},
}

var exchange2016 = Profile{
	Name: "exchange-2016",
	Valid: [3]OpSet{
		Admin: Ops(Copy, Create, FolderBind, HardDelete, MessageBind, Move, MoveToDeletedItems, SendAs,
			SendOnBehalf, SoftDelete, Update),
		Delegate: Ops(Create, FolderBind, HardDelete, Move, MoveToDeletedItems, SendAs, SendOnBehalf, SoftDelete, Update),
		Owner:    Ops(Create, HardDelete, MailboxLogin, Move, MoveToDeletedItems, SoftDelete, Update),
	},
	Default: [3]OpSet{
		Admin:    Ops(Create, FolderBind, HardDelete, Move, MoveToDeletedItems, SendAs, SendOnBehalf, SoftDelete, Update),
		Delegate: Ops(Create, HardDelete, SendAs, SoftDelete, Update),
	},
}

var profiles = map[string]*Profile{
	exchangeOnline.Name:     &exchangeOnline,
	exchangeOnline2019.Name: &exchangeOnline2019,
	exchange2019.Name:       &exchange2019,
	exchange2016.Name:       &exchange2016,
}

// LookupProfile finds a profile by name, case-insensitively.
func LookupProfile(name string) (*Profile, error) {
	if p, ok := profiles[strings.ToLower(strings.TrimSpace(name))]; ok {
		return p, nil
	}
	return nil, Errorf(EInvalid, "Unknown audit profile '%s'. Known profiles are %s.", name, joinAnd(ProfileNames()))
}

// ProfileNames lists the known profiles, sorted.
func ProfileNames() []string {
	names := make([]string, 0, len(profiles))
	for n := range profiles {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ValidFor is the set of operations the profile accepts for a logon type on a
// mailbox of the given type.
func (p *Profile) ValidFor(t RecipientType, lt LogonType) OpSet {
	if t == GroupMailbox && p.HasGroupMailboxes {
		return GroupSets[lt]
	}
	return p.Valid[lt]
}

// DefaultFor is the default list for a logon type on a mailbox of the given type.
func (p *Profile) DefaultFor(t RecipientType, lt LogonType) OpSet {
	if t == GroupMailbox && p.HasGroupMailboxes {
		return GroupSets[lt]
	}
	return p.Default[lt]
}

// CheckOperation refuses an operation the profile does not accept for the
// logon type, in Exchange's words.
func (p *Profile) CheckOperation(lt LogonType, op Operation) error {
	if p.Deprecated[lt].Has(op) {
		return Errorf(EInvalid, "%s audit operation type is deprecated. Use MailItemsAccessed audit operation type instead.", op)
	}
	if !p.Valid[lt].Has(op) {
		return p.invalidOperation(lt)
	}
	return nil
}

func (p *Profile) invalidOperation(lt LogonType) error {
	names := append([]string{"None"}, p.Valid[lt].Names()...)
	return Errorf(EInvalid, "Invalid audit operation specified. Supported audit operations for %s are %s.", lt, joinAnd(names))
}

// joinAnd joins with ", " and " and " before the last, as Exchange's texts do.
func joinAnd(s []string) string {
	switch len(s) {
	case 0:
		return ""
	case 1:
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// Baseline is a named desired state for every mailbox's lists.
type Baseline struct {
	Name  string
	Lists [3]OpSet
}

var baselines = map[string]*Baseline{
	"asd-blueprint": {
		Name: "asd-blueprint",
		Lists: [3]OpSet{
			Admin: Ops(ApplyRecord, Copy, Create, FolderBind, HardDelete, MessageBind, Move, MoveToDeletedItems,
				RecordDelete, SendAs, SendOnBehalf, SoftDelete, Update, UpdateCalendarDelegation,
				UpdateFolderPermissions, UpdateInboxRules),
			Delegate: Ops(ApplyRecord, Create, FolderBind, HardDelete, Move, MoveToDeletedItems, RecordDelete,
				SendAs, SendOnBehalf, SoftDelete, Update, UpdateFolderPermissions, UpdateInboxRules),
			Owner: Ops(ApplyRecord, Create, HardDelete, MailboxLogin, Move, MoveToDeletedItems, RecordDelete,
				SoftDelete, Update, UpdateCalendarDelegation, UpdateFolderPermissions, UpdateInboxRules),
		},
	},
}

// LookupBaseline finds a baseline by name.
func LookupBaseline(name string) (*Baseline, error) {
	if b, ok := baselines[strings.ToLower(strings.TrimSpace(name))]; ok {
		return b, nil
	}
	names := make([]string, 0, len(baselines))
	for n := range baselines {
		names = append(names, n)
	}
	sort.Strings(names)
	return nil, Errorf(ENotFound, "Unknown audit baseline '%s'. Known baselines are %s.", name, joinAnd(names))
}

// ListsFor is the baseline's list for a mailbox type and logon type: group
// mailboxes keep their fixed sets.
func (b *Baseline) ListsFor(t RecipientType, lt LogonType) OpSet {
	if t == GroupMailbox {
		return GroupSets[lt]
	}
	return b.Lists[lt]
}
