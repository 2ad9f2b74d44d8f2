package service

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/mailaudit/mailaudit/audit"
)

// The mailbox audit configuration report
// (get-mailbox-audit-configuration-report): for every mailbox, whether it is
// audited and why, its lists against the profile's defaults, and who can act
// on it unrecorded; and every bypassed account. It answers the traps of
// Exchange's design (exchange-spec.md §8): customised lists that stopped
// following the defaults, and bypass and AuditDisabled, which silently stop
// logging.

// AuditConfigReport is the report, and the HTTP API's answer.
type AuditConfigReport struct {
	Organization  string
	AuditDisabled bool
	AuditProfile  string
	// OnByDefault: the profile audits every mailbox whatever its
	// AuditEnabled (Exchange Online); otherwise only those with
	// AuditEnabled=True are.
	OnByDefault bool
	// The counts of the mailboxes reported: audited or not, with a list
	// removed from DefaultAuditSet, with a customised list lacking operations
	// of the defaults, and with an account that can act on them unrecorded
	// (a bypassed owner or grantee, or a bypassed account recorded there
	// before its bypass).
	MailboxCount     int
	Audited          int
	NotAudited       int
	Customised       int
	MissingDefaults  int
	BypassedAccess   int
	Mailboxes        []*MailboxAuditConfig
	BypassedAccounts []BypassedAccount
}

// MailboxAuditConfig is one mailbox's audit configuration.
type MailboxAuditConfig struct {
	Mailbox      string
	Guid         uuid.UUID
	Type         string
	Audited      bool
	AuditEnabled bool
	// Reason says in a few words why the mailbox is (not) audited: the
	// organisation's AuditDisabled, the profile's default, AuditEnabled.
	Reason          string
	DefaultAuditSet []string
	// Customised are the logon types removed from DefaultAuditSet: their
	// lists are the mailbox's own and no longer follow the profile.
	Customised []string
	// Lists are the effective lists, Admin, Delegate and Owner.
	Lists []AuditListConfig
	// BypassedAccess are the bypassed accounts that can act on the mailbox
	// without a record: its owner, grantees, accounts seen there before.
	BypassedAccess []BypassedGrantee
	// Notes explain the answer and name every gap, in sentences.
	Notes []string
}

// AuditListConfig is one logon type's list against the profile's defaults.
type AuditListConfig struct {
	LogonType string
	// Follows is DefaultAuditSet (the list is the profile's default and
	// follows it), Customised (the mailbox's own), or Fixed (a group
	// mailbox's, which can't be changed).
	Follows    string
	Operations []string
	Defaults   []string
	// Missing are default operations the list lacks; Extra are operations
	// it has beyond the defaults.
	Missing []string
	Extra   []string
	// MissingNewDefaults are the Missing operations that the defaults gained
	// after the profile's earlier version (Exchange Online's of January
	// 2019, Exchange 2016's): a list customised before then never got them.
	MissingNewDefaults []string
	// Unsupported are operations in the list that the profile does not
	// accept for the logon type: they are never recorded.
	Unsupported []string
}

// BypassedGrantee is a bypassed account that can act on a mailbox.
type BypassedGrantee struct {
	Account string
	// Access says how: Owner, the grants it holds (FullAccess, SendAs,
	// SendOnBehalf), or RecordedBefore (it was recorded acting on the
	// mailbox before its bypass, at LastRecorded).
	Access        []string
	BypassedSince time.Time
	LastRecorded  time.Time `json:",omitzero"`
}

// BypassedAccount is an account with an enabled bypass association: nothing
// it does to any mailbox is recorded.
type BypassedAccount struct {
	Account       string
	BypassedSince time.Time
	WhenCreated   time.Time
	// Mailbox is the account's own mailbox, "" for an account without one
	// (a service account).
	Mailbox string
	// Grants are the mailboxes it holds rights on, as "mailbox (Right)".
	Grants []string
	// RecordedOn are the mailboxes it was recorded acting on as a
	// non-owner before its bypass.
	RecordedOn []string
}

// earlierDefaults names, for a profile, the earlier version of its defaults
// whose later additions a customised list may lack.
var earlierDefaults = map[string]string{
	"exchange-online": "exchange-online-2019",
	"exchange-2019":   "exchange-2016",
}

// AuditConfigurationReport reports the audit configuration of the mailboxes
// q selects (all when it is empty) and every bypassed account.
func (s *Service) AuditConfigurationReport(ctx context.Context, q MailboxQuery) (*AuditConfigReport, error) {
	s.mu.Lock()
	ms, err := s.mailboxes(q)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	org := *s.dir.Org
	p := s.dir.Profile()
	perms := append([]audit.Permission(nil), s.dir.Permissions...)
	var bypasses []audit.Bypass
	for _, b := range s.dir.Bypasses {
		if b.Enabled {
			bypasses = append(bypasses, b)
		}
	}
	addrOf := map[uuid.UUID]string{}
	ownMailbox := map[string]string{} // bypassed account → its mailbox's address
	for _, b := range bypasses {
		if found := s.dir.Lookup(b.Identity); len(found) == 1 {
			ownMailbox[strings.ToLower(b.Identity)] = found[0].PrimarySmtpAddress
		}
	}
	for _, m := range s.dir.Mailboxes {
		addrOf[m.Guid] = m.PrimarySmtpAddress
	}
	s.mu.Unlock()

	sort.Slice(bypasses, func(i, j int) bool {
		return strings.ToLower(bypasses[i].Identity) < strings.ToLower(bypasses[j].Identity)
	})
	rep := &AuditConfigReport{Organization: org.Name, AuditDisabled: org.AuditDisabled, AuditProfile: p.Name, OnByDefault: p.OnByDefault,
		Mailboxes: []*MailboxAuditConfig{}, BypassedAccounts: []BypassedAccount{}}

	// Where each bypassed account was recorded as a non-owner before its
	// bypass: the last time, by mailbox.
	recorded := make([]map[uuid.UUID]time.Time, len(bypasses))
	for i, b := range bypasses {
		recorded[i] = map[uuid.UUID]time.Time{}
		ids := []string{b.Identity}
		if own := ownMailbox[strings.ToLower(b.Identity)]; own != "" && !strings.EqualFold(own, b.Identity) {
			ids = append(ids, own)
		}
		q := &audit.Query{UserIds: ids, LogonTypes: []audit.LogonType{audit.Admin, audit.Delegate}, RecordTypes: mailboxRecordTypes}
		_, err := s.store.Search(ctx, q, func(r *audit.Record) error {
			if _, ok := recorded[i][r.MailboxGuid]; !ok {
				recorded[i][r.MailboxGuid] = r.CreationTime // newest first
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}

	for i, b := range bypasses {
		acc := BypassedAccount{Account: b.Identity, BypassedSince: bypassedSince(b), WhenCreated: b.WhenCreated,
			Mailbox: ownMailbox[strings.ToLower(b.Identity)], Grants: []string{}, RecordedOn: []string{}}
		for _, pm := range perms {
			if strings.EqualFold(pm.User, b.Identity) || acc.Mailbox != "" && strings.EqualFold(pm.User, acc.Mailbox) {
				if addr := addrOf[pm.Mailbox]; addr != "" {
					acc.Grants = append(acc.Grants, fmt.Sprintf("%s (%s)", addr, pm.Rights))
				}
			}
		}
		for g := range recorded[i] {
			if addr := addrOf[g]; addr != "" {
				acc.RecordedOn = append(acc.RecordedOn, addr)
			}
		}
		sort.Strings(acc.Grants)
		sort.Strings(acc.RecordedOn)
		rep.BypassedAccounts = append(rep.BypassedAccounts, acc)
	}

	earlier, _ := audit.LookupProfile(earlierDefaults[p.Name])
	for _, m := range ms {
		c := mailboxAuditConfig(&org, p, earlier, m)
		// Bypassed accounts that can act on the mailbox unrecorded.
		for i, b := range bypasses {
			g := BypassedGrantee{Account: b.Identity, BypassedSince: bypassedSince(b), Access: []string{}}
			own := ownMailbox[strings.ToLower(b.Identity)]
			if strings.EqualFold(own, m.PrimarySmtpAddress) {
				g.Access = append(g.Access, "Owner")
			}
			for _, pm := range perms {
				if pm.Mailbox == m.Guid && (strings.EqualFold(pm.User, b.Identity) || own != "" && strings.EqualFold(pm.User, own)) {
					g.Access = append(g.Access, string(pm.Rights))
				}
			}
			if t, ok := recorded[i][m.Guid]; ok {
				g.Access = append(g.Access, "RecordedBefore")
				g.LastRecorded = t
			}
			if len(g.Access) > 0 {
				c.BypassedAccess = append(c.BypassedAccess, g)
			}
		}
		if c.Audited {
			for _, g := range c.BypassedAccess {
				c.Notes = append(c.Notes, bypassNote(g))
			}
		}
		rep.Mailboxes = append(rep.Mailboxes, c)
		rep.MailboxCount++
		if c.Audited {
			rep.Audited++
		} else {
			rep.NotAudited++
		}
		if len(c.Customised) > 0 {
			rep.Customised++
		}
		for _, l := range c.Lists {
			if l.Follows == "Customised" && len(l.Missing) > 0 {
				rep.MissingDefaults++
				break
			}
		}
		if len(c.BypassedAccess) > 0 {
			rep.BypassedAccess++
		}
	}
	return rep, nil
}

func bypassedSince(b audit.Bypass) time.Time {
	if b.WhenChanged.IsZero() {
		return b.WhenCreated
	}
	return b.WhenChanged
}

func bypassNote(g BypassedGrantee) string {
	since := g.BypassedSince.UTC().Format(time.RFC3339)
	var how []string
	for _, a := range g.Access {
		switch a {
		case "Owner":
			how = append(how, "is the owner's account")
		case "RecordedBefore":
			how = append(how, "was recorded acting on it until "+g.LastRecorded.UTC().Format(time.RFC3339))
		default:
			how = append(how, "holds "+a)
		}
	}
	return fmt.Sprintf("%s %s and is bypassed since %s: nothing it does here is recorded.", g.Account, strings.Join(how, ", "), since)
}

// mailboxAuditConfig works out one mailbox's configuration as the engine
// applies it (policy.md, "How the settings combine").
func mailboxAuditConfig(org *audit.Organization, p, earlier *audit.Profile, m *audit.Mailbox) *MailboxAuditConfig {
	c := &MailboxAuditConfig{Mailbox: m.PrimarySmtpAddress, Guid: m.Guid, Type: string(m.Type), AuditEnabled: m.AuditEnabled,
		DefaultAuditSet: m.DefaultAuditSet.Names(), Customised: []string{}, BypassedAccess: []BypassedGrantee{}, Notes: []string{}}
	switch {
	case org.AuditDisabled:
		c.Reason = "organisation AuditDisabled"
		c.Notes = append(c.Notes, "The organisation's AuditDisabled is True: nothing is recorded for any mailbox.")
	case p.OnByDefault:
		c.Audited, c.Reason = true, "on by default ("+p.Name+")"
		note := fmt.Sprintf("Profile %s audits every mailbox", p.Name)
		if !m.AuditEnabled {
			note += " (its AuditEnabled=False is ignored)"
		}
		c.Notes = append(c.Notes, note+".")
	case m.AuditEnabled:
		c.Audited, c.Reason = true, "AuditEnabled"
		c.Notes = append(c.Notes, fmt.Sprintf("AuditEnabled is True; profile %s audits only such mailboxes.", p.Name))
	default:
		c.Reason = "AuditEnabled is False (" + p.Name + ")"
		c.Notes = append(c.Notes, fmt.Sprintf("AuditEnabled is False, and profile %s audits only mailboxes with AuditEnabled=True.", p.Name))
	}
	fixed := m.Type == audit.GroupMailbox && p.HasGroupMailboxes
	for _, lt := range audit.LogonTypes {
		have, def := m.List(p, lt), p.DefaultFor(m.Type, lt)
		l := AuditListConfig{LogonType: lt.String(), Follows: "DefaultAuditSet", Operations: have.Names(), Defaults: def.Names(),
			Missing: (def &^ have).Names(), Extra: (have &^ def).Names(), MissingNewDefaults: []string{},
			Unsupported: (have &^ p.ValidFor(m.Type, lt)).Names()}
		switch {
		case fixed:
			l.Follows = "Fixed"
		case !m.DefaultAuditSet.Has(lt):
			l.Follows = "Customised"
			c.Customised = append(c.Customised, lt.String())
		}
		if earlier != nil && l.Follows == "Customised" {
			l.MissingNewDefaults = (def &^ earlier.DefaultFor(m.Type, lt) &^ have).Names()
		}
		c.Lists = append(c.Lists, l)
		if !c.Audited {
			continue
		}
		switch {
		case have == 0:
			c.Notes = append(c.Notes, fmt.Sprintf("The %s list is empty: nothing done with %s logons is recorded.", lt, lt))
		case len(l.Missing) > 0 && l.Follows == "Customised":
			n := fmt.Sprintf("The customised %s list lacks %s, which the %s defaults include", lt, strings.Join(l.Missing, ", "), p.Name)
			if len(l.MissingNewDefaults) > 0 {
				n += fmt.Sprintf(" (%s added since %s)", strings.Join(l.MissingNewDefaults, ", "), earlier.Name)
			}
			c.Notes = append(c.Notes, n+".")
		}
		if len(l.Unsupported) > 0 {
			c.Notes = append(c.Notes, fmt.Sprintf("The %s list names %s, which profile %s does not support for %s: never recorded.",
				lt, strings.Join(l.Unsupported, ", "), p.Name, lt))
		}
	}
	return c
}

// Summary is the report's answer in one sentence.
func (r *AuditConfigReport) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d mailboxes: %d audited, %d not audited; %d with customised lists", r.MailboxCount, r.Audited, r.NotAudited, r.Customised)
	fmt.Fprintf(&b, " (%d lacking operations of the defaults); %d that a bypassed account can act on unrecorded. ", r.MissingDefaults, r.BypassedAccess)
	switch len(r.BypassedAccounts) {
	case 0:
		b.WriteString("No account is bypassed.")
	default:
		names := make([]string, len(r.BypassedAccounts))
		for i, a := range r.BypassedAccounts {
			names[i] = a.Account
		}
		fmt.Fprintf(&b, "Bypassed accounts: %s.", strings.Join(names, ", "))
	}
	if r.AuditDisabled {
		b.WriteString(" The organisation's AuditDisabled is True: nothing is recorded.")
	}
	return b.String()
}
