package service

import (
	"strings"

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

// mailboxProperties are the names get-mailbox prints and filters know, before
// the attributes.
var mailboxProperties = []string{"Guid", "PrimarySmtpAddress", "UserPrincipalName", "Alias", "DisplayName",
	"RecipientTypeDetails", "AuditEnabled", "AuditAdmin", "AuditDelegate", "AuditOwner", "DefaultAuditSet",
	"AuditLogAgeLimit", "WhenCreated", "EmailAddresses"}

// MailboxView lists a mailbox's properties under profile p: the lists are
// the effective ones, and only attributes that are set appear.
func MailboxView(p *audit.Profile, m *audit.Mailbox) []Property {
	props := []Property{
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
