package service

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mailaudit/mailaudit/audit"
)

// NewMailboxSpec describes a mailbox to create.
type NewMailboxSpec struct {
	Address        string
	DisplayName    string
	Alias          string
	Type           string
	Attributes     map[string]string
	EmailAddresses []string
}

// NewMailbox creates a mailbox with the profile's defaults.
func (s *Service) NewMailbox(ctx context.Context, actor string, spec NewMailboxSpec) (*audit.Mailbox, error) {
	defer s.lockWrite()()
	addr := strings.TrimSpace(spec.Address)
	if i := strings.IndexByte(addr, '@'); i <= 0 || i == len(addr)-1 || strings.ContainsAny(addr, " ,;<>") {
		return nil, audit.Errorf(audit.EInvalid, "'%s' isn't a valid SMTP address.", spec.Address)
	}
	t := audit.UserMailbox
	if spec.Type != "" {
		var err error
		if t, err = audit.ParseRecipientType(spec.Type); err != nil {
			return nil, err
		}
	}
	m := audit.NewMailbox(addr, t, s.Now())
	ch := audit.MailboxChange{Attributes: spec.Attributes, AddEmailAddresses: spec.EmailAddresses}
	if spec.DisplayName != "" {
		ch.DisplayName = &spec.DisplayName
	}
	if spec.Alias != "" {
		ch.Alias = &spec.Alias
	}
	m, _, err := audit.ApplyMailboxChange(s.dir.Profile(), m, ch)
	if err != nil {
		return nil, err
	}
	for _, id := range append([]string{m.PrimarySmtpAddress, m.Alias}, m.EmailAddresses...) {
		if other := s.dir.Lookup(id); len(other) > 0 {
			return nil, audit.Errorf(audit.EInvalid, "The address or alias '%s' is already used by mailbox '%s'.", id, other[0].PrimarySmtpAddress)
		}
	}
	params := []audit.NameValue{{Name: "PrimarySmtpAddress", Value: m.PrimarySmtpAddress}, {Name: "Alias", Value: m.Alias},
		{Name: "DisplayName", Value: m.DisplayName}, {Name: "RecipientTypeDetails", Value: string(m.Type)}}
	s.adminRecord(actor, "New-Mailbox", m.PrimarySmtpAddress, m, params, nil, true)
	if err := s.commit(ctx, &audit.Commit{Mailboxes: []*audit.Mailbox{m}}); err != nil {
		return nil, err
	}
	s.dir.Add(m)
	return m.Clone(), nil
}

// Resolve finds one mailbox by identity (cli.md's identity resolution).
func (s *Service) Resolve(identity string) (*audit.Mailbox, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.dir.Resolve(identity)
	if err != nil {
		return nil, err
	}
	return m.Clone(), nil
}

// MailboxQuery selects mailboxes: by identity, or by filter and types.
type MailboxQuery struct {
	Identity string
	Filter   string
	Types    []string
}

// Mailboxes lists the mailboxes a query selects, sorted by address. An
// identity that matches nothing is ENotFound.
func (s *Service) Mailboxes(q MailboxQuery) ([]*audit.Mailbox, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mailboxes(q)
}

func (s *Service) mailboxes(q MailboxQuery) ([]*audit.Mailbox, error) {
	var types []audit.RecipientType
	for _, raw := range q.Types {
		for _, t := range strings.Split(raw, ",") {
			if strings.TrimSpace(t) == "" {
				continue
			}
			rt, err := audit.ParseRecipientType(t)
			if err != nil {
				return nil, err
			}
			types = append(types, rt)
		}
	}
	var f *filter
	if q.Filter != "" {
		var err error
		if f, err = parseFilter(q.Filter); err != nil {
			return nil, err
		}
	}
	var candidates []*audit.Mailbox
	if q.Identity != "" {
		m, err := s.dir.Resolve(q.Identity)
		if err != nil {
			return nil, err
		}
		candidates = []*audit.Mailbox{m}
	} else {
		candidates = s.dir.Mailboxes
	}
	p := s.dir.Profile()
	var out []*audit.Mailbox
	for _, m := range candidates {
		if m.Removed() {
			continue
		}
		if len(types) > 0 && !containsType(types, m.Type) {
			continue
		}
		if f != nil && !f.match(p, m) {
			continue
		}
		out = append(out, m.Clone())
	}
	sort.Slice(out, func(i, j int) bool {
		return strings.ToLower(out[i].PrimarySmtpAddress) < strings.ToLower(out[j].PrimarySmtpAddress)
	})
	return out, nil
}

func containsType(ts []audit.RecipientType, t audit.RecipientType) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}

// Result is what a change did to one object.
type Result struct {
	Mailbox  *audit.Mailbox
	Object   string
	Modified []audit.ModifiedProperty
	Warning  string
	Err      error
}

// SetMailbox applies a change to every mailbox the query selects. Each
// mailbox is refused or changed on its own, as Exchange's pipeline does; the
// changes are committed together.
func (s *Service) SetMailbox(ctx context.Context, actor string, q MailboxQuery, ch audit.MailboxChange, params []audit.NameValue) ([]Result, error) {
	defer s.lockWrite()()
	targets, err := s.mailboxes(q)
	if err != nil {
		return nil, err
	}
	p := s.dir.Profile()
	var results []Result
	var changed []*audit.Mailbox
	for _, m := range targets {
		after, mods, err := audit.ApplyMailboxChange(p, m, ch)
		res := Result{Mailbox: m, Object: m.PrimarySmtpAddress, Err: err}
		if err == nil {
			if len(mods) == 0 {
				res.Warning = audit.NoChangeWarning(m)
			} else {
				res.Mailbox, res.Modified = after, mods
				changed = append(changed, after)
				s.adminRecord(actor, "Set-Mailbox", m.PrimarySmtpAddress, after, params, mods, true)
			}
		}
		results = append(results, res)
	}
	if err := s.saveMailboxes(ctx, changed); err != nil {
		return nil, err
	}
	return results, nil
}

// saveMailboxes commits changed mailboxes, with the admin records queued for
// them, and swaps them into the directory.
func (s *Service) saveMailboxes(ctx context.Context, changed []*audit.Mailbox) error {
	if len(changed) == 0 {
		return nil
	}
	if err := s.commit(ctx, &audit.Commit{Mailboxes: changed}); err != nil {
		return err
	}
	s.replace(changed...)
	return nil
}

// replace swaps changed mailboxes into the directory.
func (s *Service) replace(ms ...*audit.Mailbox) {
	for _, m := range ms {
		for i, old := range s.dir.Mailboxes {
			if old.Guid == m.Guid {
				s.dir.Mailboxes[i] = m
			}
		}
	}
	s.dir.Index()
}

// RemoveMailbox removes the mailboxes a query selects; their records stay
// until their age limit.
func (s *Service) RemoveMailbox(ctx context.Context, actor string, q MailboxQuery) ([]Result, error) {
	defer s.lockWrite()()
	targets, err := s.mailboxes(q)
	if err != nil {
		return nil, err
	}
	var results []Result
	for _, m := range targets {
		m.WhenRemoved = s.Now().UTC()
		s.adminRecord(actor, "Remove-Mailbox", m.PrimarySmtpAddress, m, []audit.NameValue{{Name: "Identity", Value: m.PrimarySmtpAddress}}, nil, true)
		results = append(results, Result{Mailbox: m, Object: m.PrimarySmtpAddress})
	}
	if len(targets) == 0 {
		return nil, nil
	}
	if err := s.commit(ctx, &audit.Commit{Mailboxes: targets}); err != nil {
		return nil, err
	}
	s.replace(targets...)
	return results, nil
}

// grantee resolves a permission's or bypass's account: a mailbox's primary
// address when it is one, else the name as given (a service account).
func (s *Service) grantee(identity string) (string, error) {
	identity = strings.TrimSpace(identity)
	if identity == "" {
		return "", audit.Errorf(audit.EInvalid, "An account name is required.")
	}
	switch ms := s.dir.Lookup(identity); len(ms) {
	case 0:
		return identity, nil
	case 1:
		return ms[0].PrimarySmtpAddress, nil
	}
	_, err := s.dir.Resolve(identity)
	return "", err
}

// AddPermission grants user a right on a mailbox.
func (s *Service) AddPermission(ctx context.Context, actor, identity, user, rights string) (Result, error) {
	return s.changePermission(ctx, actor, identity, user, rights, true)
}

// RemovePermission takes a grant back.
func (s *Service) RemovePermission(ctx context.Context, actor, identity, user, rights string) (Result, error) {
	return s.changePermission(ctx, actor, identity, user, rights, false)
}

func (s *Service) changePermission(ctx context.Context, actor, identity, user, rights string, add bool) (Result, error) {
	defer s.lockWrite()()
	m, err := s.dir.Resolve(identity)
	if err != nil {
		return Result{}, err
	}
	r, err := audit.ParseAccessRight(rights)
	if err != nil {
		return Result{}, err
	}
	u, err := s.grantee(user)
	if err != nil {
		return Result{}, err
	}
	if strings.EqualFold(u, m.PrimarySmtpAddress) {
		return Result{}, audit.Errorf(audit.EInvalid, "'%s' owns mailbox '%s' and needs no permission on it.", user, m.PrimarySmtpAddress)
	}
	p := audit.Permission{Mailbox: m.Guid, User: u, Rights: r, WhenCreated: s.Now().UTC()}
	idx := -1
	for i, e := range s.dir.Permissions {
		if e.Mailbox == m.Guid && strings.EqualFold(e.User, u) && e.Rights == r {
			idx = i
		}
	}
	res := Result{Mailbox: m, Object: m.PrimarySmtpAddress}
	if add == (idx >= 0) {
		res.Warning = audit.NoChangeWarning(m)
		return res, nil
	}
	cmd, c := "Add-MailboxPermission", &audit.Commit{AddPermissions: []audit.Permission{p}}
	mod := audit.ModifiedProperty{Name: string(r), NewValue: u}
	if !add {
		cmd, c = "Remove-MailboxPermission", &audit.Commit{RemovePermissions: []audit.Permission{s.dir.Permissions[idx]}}
		mod = audit.ModifiedProperty{Name: string(r), OldValue: u}
	}
	params := []audit.NameValue{{Name: "Identity", Value: m.PrimarySmtpAddress}, {Name: "User", Value: u}, {Name: "AccessRights", Value: string(r)}}
	res.Modified = []audit.ModifiedProperty{mod}
	s.adminRecord(actor, cmd, m.PrimarySmtpAddress, m, params, res.Modified, true)
	if err := s.commit(ctx, c); err != nil {
		return Result{}, err
	}
	if add {
		s.dir.Permissions = append(s.dir.Permissions, p)
	} else {
		s.dir.Permissions = append(s.dir.Permissions[:idx], s.dir.Permissions[idx+1:]...)
	}
	return res, nil
}

// PermissionView is a grant with its mailbox's address.
type PermissionView struct {
	Identity string
	User     string
	audit.Permission
}

// Permissions lists the grants on one mailbox, or on all when identity is "".
func (s *Service) Permissions(identity string) ([]PermissionView, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var only *audit.Mailbox
	if identity != "" {
		m, err := s.dir.Resolve(identity)
		if err != nil {
			return nil, err
		}
		only = m
	}
	var out []PermissionView
	for _, p := range s.dir.Permissions {
		m := s.dir.Mailbox(p.Mailbox)
		if m == nil || m.Removed() || only != nil && m != only {
			continue
		}
		out = append(out, PermissionView{Identity: m.PrimarySmtpAddress, User: p.User, Permission: p})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Identity != out[j].Identity {
			return out[i].Identity < out[j].Identity
		}
		if out[i].User != out[j].User {
			return out[i].User < out[j].User
		}
		return out[i].Rights < out[j].Rights
	})
	return out, nil
}

// Bypasses lists bypass associations: one account's, or all when identity is "".
func (s *Service) Bypasses(identity string) ([]audit.Bypass, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var want string
	if identity != "" {
		var err error
		if want, err = s.grantee(identity); err != nil {
			return nil, err
		}
	}
	var out []audit.Bypass
	for _, b := range s.dir.Bypasses {
		if want == "" || strings.EqualFold(b.Identity, want) {
			out = append(out, b)
		}
	}
	if want != "" && len(out) == 0 {
		return nil, audit.Errorf(audit.ENotFound, "No mailbox audit bypass association exists for '%s'.", identity)
	}
	return out, nil
}

// SetBypass sets the bypass of the accounts: one identity (which need not be
// a mailbox), or every mailbox a query with a filter selects.
func (s *Service) SetBypass(ctx context.Context, actor string, q MailboxQuery, enabled bool) ([]Result, error) {
	defer s.lockWrite()()
	var accounts []string
	if q.Filter != "" || len(q.Types) > 0 {
		ms, err := s.mailboxes(q)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			accounts = append(accounts, m.PrimarySmtpAddress)
		}
	} else {
		a, err := s.grantee(q.Identity)
		if err != nil {
			return nil, err
		}
		accounts = []string{a}
	}
	now := s.Now().UTC()
	var results []Result
	var changed []audit.Bypass
	for _, a := range accounts {
		b := audit.Bypass{Identity: a, WhenCreated: now}
		found := false
		for _, e := range s.dir.Bypasses {
			if strings.EqualFold(e.Identity, a) {
				b, found = e, true
			}
		}
		res := Result{Object: a}
		if found && b.Enabled == enabled {
			res.Warning = "The command completed successfully but no settings of '" + a + "' have been modified."
			results = append(results, res)
			continue
		}
		old := boolName(b.Enabled)
		b.Enabled, b.WhenChanged = enabled, now
		res.Modified = []audit.ModifiedProperty{{Name: "AuditBypassEnabled", OldValue: old, NewValue: boolName(enabled)}}
		changed = append(changed, b)
		var m *audit.Mailbox
		if ms := s.dir.Lookup(a); len(ms) == 1 {
			m = ms[0]
		}
		s.adminRecord(actor, "Set-MailboxAuditBypassAssociation", a, m,
			[]audit.NameValue{{Name: "Identity", Value: a}, {Name: "AuditBypassEnabled", Value: res.Modified[0].NewValue}}, res.Modified, true)
		results = append(results, res)
	}
	if len(changed) == 0 {
		return results, nil
	}
	if err := s.commit(ctx, &audit.Commit{Bypasses: changed}); err != nil {
		return nil, err
	}
	for _, b := range changed {
		replaced := false
		for i, e := range s.dir.Bypasses {
			if strings.EqualFold(e.Identity, b.Identity) {
				s.dir.Bypasses[i], replaced = b, true
			}
		}
		if !replaced {
			s.dir.Bypasses = append(s.dir.Bypasses, b)
		}
	}
	s.dir.Index()
	return results, nil
}

// OrgChange is what set-organization-config can change; nil leaves a setting.
type OrgChange struct {
	AuditDisabled             *bool
	Profile                   *string
	MailItemsAccessedThrottle *int
	AdminAuditLogAgeLimit     string
	AdminHintSources          []string
	Name                      *string
}

// SetOrganization changes organisation settings. Warnings name the
// customised lists that hold operations the new profile refuses.
func (s *Service) SetOrganization(ctx context.Context, actor string, ch OrgChange, params []audit.NameValue) (Result, []string, error) {
	defer s.lockWrite()()
	before := *s.dir.Org
	after := before
	after.AdminHintSources = append([]string(nil), before.AdminHintSources...)
	if ch.AuditDisabled != nil {
		after.AuditDisabled = *ch.AuditDisabled
	}
	var warnings []string
	if ch.Profile != nil {
		p, err := audit.LookupProfile(*ch.Profile)
		if err != nil {
			return Result{}, nil, err
		}
		after.Profile = p.Name
		for _, m := range s.dir.Mailboxes {
			for _, lt := range audit.LogonTypes {
				if m.Removed() || m.DefaultAuditSet.Has(lt) {
					continue
				}
				if bad := m.Audit[lt] &^ p.ValidFor(m.Type, lt); bad != 0 {
					warnings = append(warnings, fmt.Sprintf("Mailbox '%s' audits %s for %s, which profile %s does not support; those operations will not be recorded.",
						m.PrimarySmtpAddress, bad, lt, p.Name))
				}
			}
		}
	}
	if ch.MailItemsAccessedThrottle != nil {
		if *ch.MailItemsAccessedThrottle < 1 {
			return Result{}, nil, audit.Errorf(audit.EInvalid, "MailItemsAccessedThrottle must be at least 1.")
		}
		after.MailItemsAccessedThrottle = *ch.MailItemsAccessedThrottle
	}
	if ch.AdminAuditLogAgeLimit != "" {
		d, err := audit.ParseAgeLimit(ch.AdminAuditLogAgeLimit)
		if err != nil {
			return Result{}, nil, err
		}
		if until := after.SetAdminAgeLimit(d, s.Now().UTC()); !until.IsZero() {
			warnings = append(warnings, fmt.Sprintf("Admin audit records already made are kept for the previous limit of %s, until %s; the limit of %s applies to them after that.",
				audit.FormatAgeLimit(after.AdminAuditLogAgeLimitKept), until.Format(time.RFC3339), audit.FormatAgeLimit(d)))
		}
	}
	if ch.AdminHintSources != nil {
		after.AdminHintSources = nil
		for _, raw := range ch.AdminHintSources {
			for _, src := range strings.Split(raw, ",") {
				if src = strings.TrimSpace(src); src != "" && !strings.EqualFold(src, "None") {
					after.AdminHintSources = append(after.AdminHintSources, src)
				}
			}
		}
	}
	if ch.Name != nil {
		after.Name = *ch.Name
	}
	mods := orgDiff(&before, &after)
	res := Result{Object: "OrganizationConfig", Modified: mods}
	if len(mods) == 0 {
		res.Warning = "The command completed successfully but no settings of '" + after.Name + "' have been modified."
		return res, warnings, nil
	}
	s.adminRecord(actor, "Set-OrganizationConfig", after.Name, nil, params, mods, true)
	if err := s.commit(ctx, &audit.Commit{Org: &after}); err != nil {
		return Result{}, nil, err
	}
	*s.dir.Org = after
	return res, warnings, nil
}

func orgDiff(a, b *audit.Organization) []audit.ModifiedProperty {
	var mods []audit.ModifiedProperty
	add := func(name, old, new string) {
		if old != new {
			mods = append(mods, audit.ModifiedProperty{Name: name, OldValue: old, NewValue: new})
		}
	}
	add("Name", a.Name, b.Name)
	add("AuditDisabled", boolName(a.AuditDisabled), boolName(b.AuditDisabled))
	add("AuditProfile", a.Profile, b.Profile)
	add("MailItemsAccessedThrottle", strconv.Itoa(a.MailItemsAccessedThrottle), strconv.Itoa(b.MailItemsAccessedThrottle))
	add("AdminAuditLogAgeLimit", audit.FormatAgeLimit(a.AdminAuditLogAgeLimit), audit.FormatAgeLimit(b.AdminAuditLogAgeLimit))
	add("AdminHintSources", strings.Join(a.AdminHintSources, ","), strings.Join(b.AdminHintSources, ","))
	return mods
}

// BaselineResult is one mailbox's differences from a baseline.
type BaselineResult struct {
	Mailbox *audit.Mailbox
	Diffs   []audit.BaselineDiff
}

// TestBaseline compares every mailbox with a baseline.
func (s *Service) TestBaseline(name string) ([]BaselineResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := audit.LookupBaseline(name)
	if err != nil {
		return nil, err
	}
	p := s.dir.Profile()
	ms, _ := s.mailboxes(MailboxQuery{})
	var out []BaselineResult
	for _, m := range ms {
		out = append(out, BaselineResult{Mailbox: m, Diffs: audit.CompareBaseline(p, b, m)})
	}
	return out, nil
}

// SetBaseline applies a baseline to every mailbox; the results say what
// changed and what the profile refused.
func (s *Service) SetBaseline(ctx context.Context, actor, name string) ([]Result, error) {
	defer s.lockWrite()()
	b, err := audit.LookupBaseline(name)
	if err != nil {
		return nil, err
	}
	p := s.dir.Profile()
	ms, _ := s.mailboxes(MailboxQuery{})
	var results []Result
	var changed []*audit.Mailbox
	for _, m := range ms {
		after, skipped := audit.ApplyBaseline(p, b, m)
		res := Result{Mailbox: after, Object: m.PrimarySmtpAddress, Modified: audit.Diff(p, m, after)}
		var reasons []string
		for _, d := range skipped {
			reasons = append(reasons, fmt.Sprintf("%s: skipped %s: %s", d.LogonType, d.Refused, d.Reason))
		}
		res.Warning = strings.Join(reasons, " ")
		if len(res.Modified) > 0 {
			changed = append(changed, after)
			s.adminRecord(actor, "Set-Mailbox", m.PrimarySmtpAddress, after, []audit.NameValue{{Name: "Baseline", Value: b.Name}}, res.Modified, true)
		}
		results = append(results, res)
	}
	if err := s.saveMailboxes(ctx, changed); err != nil {
		return nil, err
	}
	return results, nil
}

// Profile is the active profile.
func (s *Service) Profile() *audit.Profile {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dir.Profile()
}
