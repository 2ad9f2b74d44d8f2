package audit

import (
	"strings"
)

// ListChange is set-mailbox's change to one logon type's list: a replacement
// (`--audit-owner L`), additions and removals. A nil Replace leaves the list.
type ListChange struct {
	Replace []string
	Add     []string
	Remove  []string
}

func (c ListChange) empty() bool { return c.Replace == nil && c.Add == nil && c.Remove == nil }

// MailboxChange is everything set-mailbox can change. Nil and empty fields are
// left as they are.
type MailboxChange struct {
	AuditEnabled     *bool
	Lists            [3]ListChange // indexed by LogonType
	DefaultAuditSet  []string      // logon type names; nil leaves it
	AuditLogAgeLimit string
	DisplayName      *string
	Alias            *string
	// Attributes maps attribute names to values; "" clears one.
	Attributes        map[string]string
	AddEmailAddresses []string
	RemoveEmailAddrs  []string
}

// NoChangeWarning is Exchange's warning for a change that changes nothing.
func NoChangeWarning(m *Mailbox) string {
	return "The command completed successfully but no settings of '" + m.DisplayName + "' have been modified."
}

// ParseOps reads an operation list for a logon type under a profile: names
// separated by commas, or None. Unknown and invalid operations are refused
// with Exchange's texts.
func ParseOps(p *Profile, lt LogonType, names []string) (OpSet, error) {
	var set OpSet
	for _, raw := range names {
		for _, n := range strings.Split(raw, ",") {
			n = strings.TrimSpace(n)
			if n == "" || strings.EqualFold(n, "None") {
				continue
			}
			op, ok := ParseOperation(n)
			if !ok {
				return 0, p.invalidOperation(lt)
			}
			if err := p.CheckOperation(lt, op); err != nil {
				return 0, err
			}
			set |= Ops(op)
		}
	}
	return set, nil
}

// ParseLogonSet reads a list of logon types (Admin,Delegate,Owner or None).
func ParseLogonSet(names []string) (LogonSet, error) {
	var s LogonSet
	for _, raw := range names {
		for _, n := range strings.Split(raw, ",") {
			n = strings.TrimSpace(n)
			if n == "" || strings.EqualFold(n, "None") {
				continue
			}
			lt, ok := ParseLogonType(n)
			if !ok {
				return 0, Errorf(EInvalid, "Invalid logon type '%s'. DefaultAuditSet takes Admin, Delegate and Owner.", n)
			}
			s = s.With(lt)
		}
	}
	return s, nil
}

// ApplyMailboxChange applies a change to a copy of m under profile p. It
// returns the changed mailbox and the properties it changed; no properties
// means nothing changed (show NoChangeWarning). It refuses invalid input with
// policy.md's texts and changes nothing then.
func ApplyMailboxChange(p *Profile, m *Mailbox, ch MailboxChange) (*Mailbox, []ModifiedProperty, error) {
	after := m.Clone()
	if ch.AuditEnabled != nil {
		after.AuditEnabled = *ch.AuditEnabled
	}
	if ch.AuditLogAgeLimit != "" {
		d, err := ParseAgeLimit(ch.AuditLogAgeLimit)
		if err != nil {
			return nil, nil, err
		}
		after.AuditLogAgeLimit = d
	}
	if ch.DisplayName != nil {
		if strings.TrimSpace(*ch.DisplayName) == "" {
			return nil, nil, Errorf(EInvalid, "DisplayName can't be empty.")
		}
		after.DisplayName = *ch.DisplayName
	}
	if ch.Alias != nil {
		if strings.TrimSpace(*ch.Alias) == "" || strings.ContainsAny(*ch.Alias, " @") {
			return nil, nil, Errorf(EInvalid, "Alias '%s' isn't valid: it can't be empty or contain spaces or '@'.", *ch.Alias)
		}
		after.Alias = *ch.Alias
	}
	for name, v := range ch.Attributes {
		a, ok := CanonicalAttribute(name)
		if !ok {
			return nil, nil, Errorf(EInvalid, "Unknown attribute '%s'. Attributes are %s.", name, joinAnd(Attributes))
		}
		if v == "" {
			delete(after.Attributes, a)
		} else {
			after.Attributes[a] = v
		}
	}
	for _, addr := range ch.AddEmailAddresses {
		if !strings.Contains(addr, "@") {
			return nil, nil, Errorf(EInvalid, "'%s' isn't an e-mail address.", addr)
		}
		if !containsFold(after.EmailAddresses, addr) && !strings.EqualFold(addr, after.PrimarySmtpAddress) {
			after.EmailAddresses = append(after.EmailAddresses, addr)
		}
	}
	for _, addr := range ch.RemoveEmailAddrs {
		kept := after.EmailAddresses[:0]
		for _, e := range after.EmailAddresses {
			if !strings.EqualFold(e, addr) {
				kept = append(kept, e)
			}
		}
		after.EmailAddresses = kept
	}

	listsChanged := ch.DefaultAuditSet != nil
	for _, lc := range ch.Lists {
		listsChanged = listsChanged || !lc.empty()
	}
	if listsChanged && m.Type == GroupMailbox && p.HasGroupMailboxes {
		return nil, nil, Errorf(EInvalid, "The audit lists of group mailbox '%s' are fixed and can't be changed.", m.DisplayName)
	}
	if ch.DefaultAuditSet != nil {
		set, err := ParseLogonSet(ch.DefaultAuditSet)
		if err != nil {
			return nil, nil, err
		}
		for _, lt := range LogonTypes {
			if set.Has(lt) {
				after.DefaultAuditSet = after.DefaultAuditSet.With(lt)
				after.Audit[lt] = p.Default[lt]
			}
		}
	}
	for _, lt := range LogonTypes {
		if err := applyList(p, after, lt, ch.Lists[lt]); err != nil {
			return nil, nil, err
		}
	}
	return after, Diff(p, m, after), nil
}

func applyList(p *Profile, m *Mailbox, lt LogonType, c ListChange) error {
	if c.empty() {
		return nil
	}
	list := m.List(p, lt)
	if c.Replace != nil {
		set, err := ParseOps(p, lt, c.Replace)
		if err != nil {
			return err
		}
		list = set
	}
	if c.Add != nil {
		add, err := ParseOps(p, lt, c.Add)
		if err != nil {
			return err
		}
		if add != 0 && add&^list == 0 {
			return Errorf(EInvalid, "The input operation(s) is/are already being audited")
		}
		list |= add
	}
	if c.Remove != nil {
		rm, err := ParseOps(p, lt, c.Remove)
		if err != nil {
			return err
		}
		list &^= rm
	}
	// Replacing always customises the list; add and remove only when they
	// change it, so a no-op stays a no-op.
	if c.Replace != nil || list != m.List(p, lt) {
		m.Audit[lt] = list
		m.DefaultAuditSet = m.DefaultAuditSet.Without(lt)
	}
	return nil
}

// Diff lists the properties that differ between two versions of a mailbox,
// with lists shown as the profile makes them effective.
func Diff(p *Profile, before, after *Mailbox) []ModifiedProperty {
	var mods []ModifiedProperty
	add := func(name, old, new string) {
		if old != new {
			mods = append(mods, ModifiedProperty{Name: name, OldValue: old, NewValue: new})
		}
	}
	add("DisplayName", before.DisplayName, after.DisplayName)
	add("Alias", before.Alias, after.Alias)
	add("EmailAddresses", strings.Join(before.EmailAddresses, ","), strings.Join(after.EmailAddresses, ","))
	add("AuditEnabled", boolName(before.AuditEnabled), boolName(after.AuditEnabled))
	add("AuditAdmin", before.List(p, Admin).String(), after.List(p, Admin).String())
	add("AuditDelegate", before.List(p, Delegate).String(), after.List(p, Delegate).String())
	add("AuditOwner", before.List(p, Owner).String(), after.List(p, Owner).String())
	add("DefaultAuditSet", before.DefaultAuditSet.String(), after.DefaultAuditSet.String())
	add("AuditLogAgeLimit", FormatAgeLimit(before.AuditLogAgeLimit), FormatAgeLimit(after.AuditLogAgeLimit))
	for _, a := range Attributes {
		add(a, before.Attributes[a], after.Attributes[a])
	}
	return mods
}

func boolName(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

func containsFold(list []string, s string) bool {
	for _, e := range list {
		if strings.EqualFold(e, s) {
			return true
		}
	}
	return false
}

// BaselineDiff is one list of a mailbox that differs from a baseline.
type BaselineDiff struct {
	LogonType LogonType
	Missing   OpSet // in the baseline, not audited
	Extra     OpSet // audited, not in the baseline
	// Refused are baseline operations the active profile does not accept for
	// this logon type, with the profile's refusal text.
	Refused OpSet
	Reason  string
}

// CompareBaseline lists where a mailbox's effective lists differ from a
// baseline under profile p.
func CompareBaseline(p *Profile, b *Baseline, m *Mailbox) []BaselineDiff {
	var diffs []BaselineDiff
	for _, lt := range LogonTypes {
		want := b.ListsFor(m.Type, lt)
		valid := p.ValidFor(m.Type, lt)
		refused := want &^ valid &^ p.Deprecated[lt]
		refused |= want & p.Deprecated[lt]
		want &= valid &^ p.Deprecated[lt]
		have := m.List(p, lt)
		d := BaselineDiff{LogonType: lt, Missing: want &^ have, Extra: have &^ want, Refused: refused}
		if refused != 0 {
			d.Reason = refusalText(p, lt, refused)
		}
		if d.Missing != 0 || d.Extra != 0 || d.Refused != 0 {
			diffs = append(diffs, d)
		}
	}
	return diffs
}

func refusalText(p *Profile, lt LogonType, ops OpSet) string {
	var texts []string
	for _, op := range ops.Slice() {
		if err := p.CheckOperation(lt, op); err != nil {
			t := err.Error()
			if !containsFold(texts, t) {
				texts = append(texts, t)
			}
		}
	}
	return strings.Join(texts, " ")
}

// ApplyBaseline sets a mailbox's lists to a baseline, skipping what the
// profile refuses; it returns the changed mailbox and the differences that
// could not be applied.
func ApplyBaseline(p *Profile, b *Baseline, m *Mailbox) (*Mailbox, []BaselineDiff) {
	after := m.Clone()
	var skipped []BaselineDiff
	if m.Type == GroupMailbox && p.HasGroupMailboxes {
		return after, nil
	}
	for _, d := range CompareBaseline(p, b, m) {
		if d.Missing != 0 || d.Extra != 0 {
			after.Audit[d.LogonType] = (m.List(p, d.LogonType) | d.Missing) &^ d.Extra
			after.DefaultAuditSet = after.DefaultAuditSet.Without(d.LogonType)
		}
		if d.Refused != 0 {
			skipped = append(skipped, d)
		}
	}
	return after, skipped
}
