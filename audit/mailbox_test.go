package audit

import (
	"strings"
	"testing"
	"time"
)

func TestDirectoryResolve(t *testing.T) {
	d := testDir("exchange-online", stdMailboxes()...)
	alice := d.Mailboxes[0]
	for _, id := range []string{"alice@example.org", "ALICE@EXAMPLE.ORG", " alice ", "Alice Liddell", "a.liddell@example.org", alice.Guid.String()} {
		m, err := d.Resolve(id)
		if err != nil || m != alice {
			t.Errorf("Resolve(%q) = %v, %v", id, m, err)
		}
	}
	if _, err := d.Resolve("nobody"); err == nil || ErrorCode(err) != ENotFound || err.Error() != "The mailbox 'nobody' couldn't be found." {
		t.Errorf("Resolve(nobody) = %v", err)
	}
	twin := NewMailbox("alice2@example.org", UserMailbox, t0)
	twin.DisplayName = "Alice Liddell"
	d.Add(twin)
	_, err := d.Resolve("alice liddell")
	if err == nil || ErrorCode(err) != EConflict || !strings.Contains(err.Error(), "alice2@example.org, alice@example.org") {
		t.Errorf("Resolve(ambiguous) = %v", err)
	}
	if m, err := d.Resolve("alice2"); err != nil || m != twin {
		t.Errorf("Add did not index: %v", err)
	}

	// A removed mailbox is found only by ResolveAny, by address or GUID,
	// the latest removal first.
	old := NewMailbox("gone@example.org", UserMailbox, t0.Add(-48*time.Hour))
	old.WhenRemoved = t0.Add(-24 * time.Hour)
	older := NewMailbox("gone@example.org", UserMailbox, t0.Add(-96*time.Hour))
	older.WhenRemoved = t0.Add(-72 * time.Hour)
	d.Mailboxes = append(d.Mailboxes, older, old)
	d.Index()
	if _, err := d.Resolve("gone@example.org"); ErrorCode(err) != ENotFound {
		t.Errorf("Resolve found a removed mailbox: %v", err)
	}
	if m, err := d.ResolveAny("GONE@example.org"); err != nil || m != old {
		t.Errorf("ResolveAny(address) = %v, %v", m, err)
	}
	if m, err := d.ResolveAny(older.Guid.String()); err != nil || m != older {
		t.Errorf("ResolveAny(guid) = %v, %v", m, err)
	}
	if d.Mailbox(older.Guid) != older {
		t.Errorf("Mailbox(guid) of a removed mailbox")
	}
	if _, err := d.ResolveAny("gone"); ErrorCode(err) != ENotFound {
		t.Errorf("ResolveAny by alias of a removed mailbox: %v", err)
	}
}

func TestParseNames(t *testing.T) {
	for _, typ := range RecipientTypes {
		if got, err := ParseRecipientType(strings.ToLower(string(typ))); err != nil || got != typ {
			t.Errorf("ParseRecipientType(%s) = %v, %v", typ, got, err)
		}
	}
	if _, err := ParseRecipientType("Mailbox"); err == nil || err.Error() != "Unknown mailbox type 'Mailbox'. Mailbox types are UserMailbox, SharedMailbox, RoomMailbox, EquipmentMailbox, DiscoveryMailbox and GroupMailbox." {
		t.Errorf("ParseRecipientType(Mailbox) = %v", err)
	}
	for _, r := range []AccessRight{FullAccess, SendAsRight, SendOnBehalfRight} {
		if got, err := ParseAccessRight(" " + strings.ToUpper(string(r))); err != nil || got != r {
			t.Errorf("ParseAccessRight(%s) = %v, %v", r, got, err)
		}
	}
	if _, err := ParseAccessRight("ReadPermission"); err == nil || ErrorCode(err) != EInvalid {
		t.Errorf("ParseAccessRight(ReadPermission) = %v", err)
	}
	if a, ok := CanonicalAttribute("customattribute15"); !ok || a != "CustomAttribute15" {
		t.Errorf("CanonicalAttribute = %q, %v", a, ok)
	}
	if _, ok := CanonicalAttribute("CustomAttribute16"); ok {
		t.Errorf("CustomAttribute16 accepted")
	}
	if ErrorCode(nil) != EInternal || ErrorCode(Errorf(EConflict, "x")) != EConflict {
		t.Errorf("ErrorCode")
	}
}

func TestOrganizationDefaults(t *testing.T) {
	o := NewOrganization("example.org")
	if o.AuditDisabled || o.Profile != "exchange-online" || o.MailItemsAccessedThrottle != 1000 ||
		o.AdminAuditLogAgeLimit != 90*24*time.Hour || strings.Join(o.AdminHintSources, ",") != "dovecot,import" {
		t.Errorf("NewOrganization = %+v", o)
	}
}
