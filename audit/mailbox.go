package audit

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
)

// RecipientType is Exchange's RecipientTypeDetails of a mailbox.
type RecipientType string

// The mailbox types cli.md accepts.
const (
	UserMailbox      RecipientType = "UserMailbox"
	SharedMailbox    RecipientType = "SharedMailbox"
	RoomMailbox      RecipientType = "RoomMailbox"
	EquipmentMailbox RecipientType = "EquipmentMailbox"
	DiscoveryMailbox RecipientType = "DiscoveryMailbox"
	GroupMailbox     RecipientType = "GroupMailbox"
)

// RecipientTypes lists every mailbox type.
var RecipientTypes = []RecipientType{UserMailbox, SharedMailbox, RoomMailbox, EquipmentMailbox, DiscoveryMailbox, GroupMailbox}

// ParseRecipientType reads a mailbox type, case-insensitively.
func ParseRecipientType(s string) (RecipientType, error) {
	for _, t := range RecipientTypes {
		if strings.EqualFold(string(t), strings.TrimSpace(s)) {
			return t, nil
		}
	}
	names := make([]string, len(RecipientTypes))
	for i, t := range RecipientTypes {
		names[i] = string(t)
	}
	return "", Errorf(EInvalid, "Unknown mailbox type '%s'. Mailbox types are %s.", s, joinAnd(names))
}

// Attributes are the directory attributes `--set NAME=VALUE` fills.
var Attributes = func() []string {
	a := []string{"Department", "Company", "Office", "City", "StateOrProvince", "PostalCode", "CountryOrRegion", "Title"}
	for i := 1; i <= 15; i++ {
		a = append(a, fmt.Sprintf("CustomAttribute%d", i))
	}
	return a
}()

// CanonicalAttribute returns an attribute's canonical spelling.
func CanonicalAttribute(name string) (string, bool) {
	for _, a := range Attributes {
		if strings.EqualFold(a, name) {
			return a, true
		}
	}
	return "", false
}

// DefaultAgeLimit is how long a mailbox's records are kept unless set.
const DefaultAgeLimit = 90 * 24 * time.Hour

// Mailbox is a mailbox of the directory with its audit settings.
type Mailbox struct {
	// Guid is stable across renames; records refer to the mailbox by it.
	Guid               uuid.UUID
	PrimarySmtpAddress string
	// EmailAddresses are further addresses that resolve to the mailbox.
	EmailAddresses []string
	Alias          string
	DisplayName    string
	Type           RecipientType
	AuditEnabled   bool
	// Audit are the mailbox's own lists by logon type. A logon type in
	// DefaultAuditSet ignores its own list and follows the profile's default.
	Audit            [3]OpSet
	DefaultAuditSet  LogonSet
	AuditLogAgeLimit time.Duration
	Attributes       map[string]string
	WhenCreated      time.Time
	// WhenRemoved is set once the mailbox is removed; its records stay until
	// their age limit, so the mailbox is kept for retention and search.
	WhenRemoved time.Time
}

// NewMailbox makes a mailbox with the defaults of a new Exchange mailbox.
func NewMailbox(address string, t RecipientType, now time.Time) *Mailbox {
	alias := address
	if i := strings.IndexByte(address, '@'); i > 0 {
		alias = address[:i]
	}
	return &Mailbox{
		Guid:               uuid.New(),
		PrimarySmtpAddress: address,
		Alias:              alias,
		DisplayName:        alias,
		Type:               t,
		DefaultAuditSet:    AllLogons,
		AuditLogAgeLimit:   DefaultAgeLimit,
		Attributes:         map[string]string{},
		WhenCreated:        now.UTC(),
	}
}

// UserPrincipalName is the mailbox's login identity: its primary address.
func (m *Mailbox) UserPrincipalName() string { return m.PrimarySmtpAddress }

// Removed reports whether the mailbox was removed.
func (m *Mailbox) Removed() bool { return !m.WhenRemoved.IsZero() }

// List is the effective list for a logon type under a profile.
func (m *Mailbox) List(p *Profile, lt LogonType) OpSet {
	if m.Type == GroupMailbox && p.HasGroupMailboxes {
		return GroupSets[lt]
	}
	if m.DefaultAuditSet.Has(lt) {
		return p.Default[lt]
	}
	return m.Audit[lt]
}

// Clone returns a deep copy.
func (m *Mailbox) Clone() *Mailbox {
	c := *m
	c.EmailAddresses = append([]string(nil), m.EmailAddresses...)
	c.Attributes = make(map[string]string, len(m.Attributes))
	for k, v := range m.Attributes {
		c.Attributes[k] = v
	}
	return &c
}

// Organization holds the installation-wide settings.
type Organization struct {
	Id   uuid.UUID
	Name string
	// AuditDisabled stops all mailbox auditing; settings are kept.
	AuditDisabled bool
	Profile       string
	// MailItemsAccessedThrottle is how many MailItemsAccessed records a
	// mailbox may produce in 24 hours before Bind records stop for 24 hours.
	MailItemsAccessedThrottle int
	// AdminAuditLogAgeLimit is how long admin audit records are kept.
	AdminAuditLogAgeLimit time.Duration
	// AdminAuditLogAgeLimitKept and AdminAuditLogAgeLimitKeptUntil hold the
	// limit in force before a change shortened it, and until when it still
	// applies: the change plus that limit. Admin records are the trail of
	// every configuration change, including the change of this limit, so a
	// shortened limit (0 at the worst) must not erase at the next retention
	// run what was recorded under the longer one: each admin record is kept
	// at least as long as the limit in force when it was made promised.
	AdminAuditLogAgeLimitKept      time.Duration `json:",omitempty"`
	AdminAuditLogAgeLimitKeptUntil time.Time     `json:",omitzero"`
	// AdminHintSources are the activity sources whose LogonTypeHint=Admin is
	// honoured (master-user logins, doveadm, eDiscovery tools).
	AdminHintSources []string
}

// AdminAgeLimitAt is the admin audit records' age limit that retention
// applies at now: the current one, or the longer one it replaced while that
// one's protection lasts.
func (o *Organization) AdminAgeLimitAt(now time.Time) time.Duration {
	if now.Before(o.AdminAuditLogAgeLimitKeptUntil) && o.AdminAuditLogAgeLimitKept > o.AdminAuditLogAgeLimit {
		return o.AdminAuditLogAgeLimitKept
	}
	return o.AdminAuditLogAgeLimit
}

// SetAdminAgeLimit changes the admin audit records' age limit at now. A
// shorter limit than the one in force keeps that one for the records already
// made, until it would have expired them; it returns when that is (zero when
// the new limit applies at once).
func (o *Organization) SetAdminAgeLimit(d time.Duration, now time.Time) (keptUntil time.Time) {
	if inForce := o.AdminAgeLimitAt(now); d < inForce {
		o.AdminAuditLogAgeLimitKept, o.AdminAuditLogAgeLimitKeptUntil = inForce, now.Add(inForce)
	}
	o.AdminAuditLogAgeLimit = d
	if o.AdminAgeLimitAt(now) == d {
		return time.Time{}
	}
	return o.AdminAuditLogAgeLimitKeptUntil
}

// NewOrganization makes an organisation with the defaults.
func NewOrganization(name string) *Organization {
	return &Organization{
		Id:                        uuid.New(),
		Name:                      name,
		Profile:                   DefaultProfile,
		MailItemsAccessedThrottle: 1000,
		AdminAuditLogAgeLimit:     DefaultAgeLimit,
		AdminHintSources:          []string{"dovecot", "import"},
	}
}

// AccessRight is a mailbox permission grant.
type AccessRight string

// The grants of cli.md.
const (
	FullAccess        AccessRight = "FullAccess"
	SendAsRight       AccessRight = "SendAs"
	SendOnBehalfRight AccessRight = "SendOnBehalf"
)

// ParseAccessRight reads a grant name, case-insensitively.
func ParseAccessRight(s string) (AccessRight, error) {
	for _, r := range []AccessRight{FullAccess, SendAsRight, SendOnBehalfRight} {
		if strings.EqualFold(string(r), strings.TrimSpace(s)) {
			return r, nil
		}
	}
	return "", Errorf(EInvalid, "Unknown access right '%s'. Access rights are FullAccess, SendAs and SendOnBehalf.", s)
}

// Permission grants User a right on a mailbox.
type Permission struct {
	Mailbox uuid.UUID
	// User is the grantee: a mailbox's primary address, or an account name.
	User        string
	Rights      AccessRight
	WhenCreated time.Time
}

// Bypass is a mailbox audit bypass association: nothing its account does to
// any mailbox is recorded while Enabled.
type Bypass struct {
	// Identity is the account: a mailbox's primary address, or the name of an
	// account that has no mailbox (a service account).
	Identity    string
	Enabled     bool
	WhenCreated time.Time
	WhenChanged time.Time
}

// Directory is a snapshot of the organisation, its mailboxes, grants and
// bypass associations, indexed for identity resolution.
type Directory struct {
	Org         *Organization
	Mailboxes   []*Mailbox
	Permissions []Permission
	Bypasses    []Bypass

	byKey    map[string][]*Mailbox
	byGuid   map[uuid.UUID]*Mailbox
	bypassed map[string]bool
}

// Index (re)builds the lookup maps; call it after changing the slices.
func (d *Directory) Index() {
	d.byKey = make(map[string][]*Mailbox, 4*len(d.Mailboxes))
	d.byGuid = make(map[uuid.UUID]*Mailbox, len(d.Mailboxes))
	for _, m := range d.Mailboxes {
		d.index(m)
	}
	d.bypassed = map[string]bool{}
	for _, b := range d.Bypasses {
		if b.Enabled {
			d.bypassed[strings.ToLower(b.Identity)] = true
		}
	}
}

// Add adds a new mailbox to the directory and its index.
func (d *Directory) Add(m *Mailbox) {
	if d.byGuid == nil {
		d.Index()
	}
	d.Mailboxes = append(d.Mailboxes, m)
	d.index(m)
}

func (d *Directory) index(m *Mailbox) {
	d.byGuid[m.Guid] = m
	if m.Removed() {
		return
	}
	keys := make([]string, 0, 4+len(m.EmailAddresses))
	for _, k := range append([]string{m.PrimarySmtpAddress, m.Alias, m.DisplayName, m.Guid.String()}, m.EmailAddresses...) {
		if k = strings.ToLower(k); k != "" && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		d.byKey[k] = append(d.byKey[k], m)
	}
}

// Mailbox finds a mailbox, removed or not, by GUID.
func (d *Directory) Mailbox(g uuid.UUID) *Mailbox { return d.byGuid[g] }

// Lookup resolves an identity (primary or other address, alias, display name,
// GUID; case-insensitive) among the mailboxes that are not removed.
func (d *Directory) Lookup(identity string) []*Mailbox {
	return d.byKey[strings.ToLower(strings.TrimSpace(identity))]
}

// Resolve resolves an identity to exactly one mailbox: not found is ENotFound,
// several matches EConflict listing them.
func (d *Directory) Resolve(identity string) (*Mailbox, error) {
	ms := d.Lookup(identity)
	switch len(ms) {
	case 0:
		return nil, Errorf(ENotFound, "The mailbox '%s' couldn't be found.", identity)
	case 1:
		return ms[0], nil
	}
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.PrimarySmtpAddress
	}
	sort.Strings(names)
	return nil, Errorf(EConflict, "The identity '%s' matches several mailboxes: %s. Use a unique address or GUID.", identity, strings.Join(names, ", "))
}

// ResolveAny resolves like Resolve, falling back to removed mailboxes (by
// primary address or GUID) so their records can still be searched.
func (d *Directory) ResolveAny(identity string) (*Mailbox, error) {
	m, err := d.Resolve(identity)
	if ErrorCode(err) != ENotFound {
		return m, err
	}
	id := strings.ToLower(strings.TrimSpace(identity))
	var found *Mailbox
	for _, c := range d.Mailboxes {
		if c.Removed() && (strings.ToLower(c.PrimarySmtpAddress) == id || c.Guid.String() == id) {
			if found == nil || c.WhenRemoved.After(found.WhenRemoved) {
				found = c
			}
		}
	}
	if found == nil {
		return nil, err
	}
	return found, nil
}

// Bypassed reports whether an actor has an enabled bypass association, by its
// own name or by any identity of its mailbox.
func (d *Directory) Bypassed(actor string, m *Mailbox) bool {
	if len(d.bypassed) == 0 {
		return false
	}
	if d.bypassed[strings.ToLower(actor)] {
		return true
	}
	if m != nil {
		if d.bypassed[strings.ToLower(m.PrimarySmtpAddress)] {
			return true
		}
		for _, a := range m.EmailAddresses {
			if d.bypassed[strings.ToLower(a)] {
				return true
			}
		}
	}
	return false
}

// Profile is the organisation's active profile.
func (d *Directory) Profile() *Profile {
	p, err := LookupProfile(d.Org.Profile)
	if err != nil {
		return &exchangeOnline
	}
	return p
}
