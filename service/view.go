package service

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/mailaudit/mailaudit/audit"
	"github.com/mailaudit/mailaudit/opath"
)

// Property is a named value of a directory object, in the order and with the
// names Exchange's Get-* cmdlets print. Values are string, bool, int,
// []string or time.Time.
type Property struct {
	Name  string
	Value any
}

// Object is a directory object's properties in the order they are shown. It
// marshals as a JSON object in that order: what get-mailbox -o json prints and
// what the HTTP API returns.
type Object []Property

// MarshalJSON writes the object with its properties in order, times in
// RFC 3339.
func (o Object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, p := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(p.Name)
		v := p.Value
		if t, ok := v.(time.Time); ok {
			v = t.UTC().Format(time.RFC3339Nano)
		}
		val, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.Name, err)
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(val)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// OrganizationView is get-organization-config's object.
func OrganizationView(o audit.Organization) Object {
	return Object{
		{Name: "Name", Value: o.Name},
		{Name: "Guid", Value: o.Id.String()},
		{Name: "AuditDisabled", Value: o.AuditDisabled},
		{Name: "AuditProfile", Value: o.Profile},
		{Name: "MailItemsAccessedThrottle", Value: o.MailItemsAccessedThrottle},
		{Name: "AdminAuditLogAgeLimit", Value: audit.FormatAgeLimit(o.AdminAuditLogAgeLimit)},
		{Name: "AdminHintSources", Value: append([]string{}, o.AdminHintSources...)},
	}
}

// BypassView is get-mailbox-audit-bypass-association's object.
func BypassView(b audit.Bypass) Object {
	return Object{{Name: "Name", Value: b.Identity}, {Name: "AuditBypassEnabled", Value: b.Enabled},
		{Name: "WhenCreated", Value: b.WhenCreated}, {Name: "WhenChanged", Value: b.WhenChanged}}
}

// View is get-mailbox-permission's object.
func (p PermissionView) View() Object {
	return Object{{Name: "Identity", Value: p.Identity}, {Name: "User", Value: p.User},
		{Name: "AccessRights", Value: string(p.Rights)}, {Name: "WhenCreated", Value: p.WhenCreated}}
}

// mailboxProperties are the names get-mailbox prints and filters know, before
// the attributes.
var mailboxProperties = []string{"Guid", "PrimarySmtpAddress", "UserPrincipalName", "Alias", "DisplayName",
	"RecipientTypeDetails", "AuditEnabled", "AuditAdmin", "AuditDelegate", "AuditOwner", "DefaultAuditSet",
	"AuditLogAgeLimit", "WhenCreated", "EmailAddresses"}

// MailboxView lists a mailbox's properties under profile p: the lists are
// the effective ones, and only attributes that are set appear.
func MailboxView(p *audit.Profile, m *audit.Mailbox) Object {
	props := Object{
		{"Guid", m.Guid.String()},
		{"PrimarySmtpAddress", m.PrimarySmtpAddress},
		{"UserPrincipalName", m.UserPrincipalName()},
		{"Alias", m.Alias},
		{"DisplayName", m.DisplayName},
		{"RecipientTypeDetails", string(m.Type)},
		{"AuditEnabled", m.AuditEnabled},
		{"AuditAdmin", m.List(p, audit.Admin).Names()},
		{"AuditDelegate", m.List(p, audit.Delegate).Names()},
		{"AuditOwner", m.List(p, audit.Owner).Names()},
		{"DefaultAuditSet", m.DefaultAuditSet.Names()},
		{"AuditLogAgeLimit", audit.FormatAgeLimit(m.AuditLogAgeLimit)},
		{"WhenCreated", m.WhenCreated},
	}
	if len(m.EmailAddresses) > 0 {
		props = append(props, Property{"EmailAddresses", append([]string(nil), m.EmailAddresses...)})
	}
	for _, a := range audit.Attributes {
		if v, ok := m.Attributes[a]; ok {
			props = append(props, Property{a, v})
		}
	}
	if m.Removed() {
		props = append(props, Property{"WhenRemoved", m.WhenRemoved})
	}
	return props
}

type filter struct{ f *opath.Filter }

func parseFilter(expr string) (*filter, error) {
	f, err := opath.Parse(expr, append(append([]string(nil), mailboxProperties...), audit.Attributes...))
	if err != nil {
		return nil, audit.Errorf(audit.EInvalid, "%s", err.Error())
	}
	return &filter{f}, nil
}

func (f *filter) match(p *audit.Profile, m *audit.Mailbox) bool {
	return f.f.Match(mailboxObject{p: p, m: m})
}

type mailboxObject struct {
	p *audit.Profile
	m *audit.Mailbox
}

// Property answers the filter by the same names get-mailbox prints; an
// attribute that is not set is nil, so `-eq $null` finds it.
func (o mailboxObject) Property(name string) any {
	if a, ok := audit.CanonicalAttribute(name); ok {
		if v, ok := o.m.Attributes[a]; ok {
			return v
		}
		return nil
	}
	switch name {
	case "WhenCreated":
		return o.m.WhenCreated
	case "EmailAddresses":
		return append([]string{o.m.PrimarySmtpAddress}, o.m.EmailAddresses...)
	}
	for _, p := range MailboxView(o.p, o.m) {
		if strings.EqualFold(p.Name, name) {
			return p.Value
		}
	}
	return nil
}

func boolName(b bool) string {
	if b {
		return "True"
	}
	return "False"
}
