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

// TestAdminAgeLimit: a shortened admin age limit applies to the records
// already made only once the limit in force before has run out; a longer one
// applies at once.
func TestAdminAgeLimit(t *testing.T) {
	const day = 24 * time.Hour
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	type change struct {
		at    time.Duration // after t0
		limit time.Duration
	}
	for _, tc := range []struct {
		name    string
		changes []change
		at      time.Duration
		want    time.Duration
	}{
		{"unchanged", nil, 0, 90 * day},
		{"longer at once", []change{{0, 365 * day}}, day, 365 * day},
		{"zero keeps the previous until it runs out", []change{{0, 0}}, 89 * day, 90 * day},
		{"zero after the previous ran out", []change{{0, 0}}, 90 * day, 0},
		{"shorter keeps the previous", []change{{0, 30 * day}}, 60 * day, 90 * day},
		{"shorter after the previous ran out", []change{{0, 30 * day}}, 91 * day, 30 * day},
		{"shortened twice: the first limit holds", []change{{0, 30 * day}, {10 * day, 0}}, 95 * day, 90 * day},
		{"shortened twice, all run out", []change{{0, 30 * day}, {10 * day, 0}}, 100 * day, 0},
		{"shortened then lengthened", []change{{0, 0}, {day, 180 * day}}, 100 * day, 180 * day},
		{"lengthened then shortened", []change{{0, 365 * day}, {day, 0}}, 300 * day, 365 * day},
		{"restored before the protection ends", []change{{0, 0}, {day, 90 * day}}, 200 * day, 90 * day},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := NewOrganization("example.org")
			for _, c := range tc.changes {
				until := o.SetAdminAgeLimit(c.limit, t0.Add(c.at))
				if inForce := o.AdminAgeLimitAt(t0.Add(c.at)); until.IsZero() != (inForce == c.limit) {
					t.Errorf("SetAdminAgeLimit(%v) at +%v returned %v with %v in force", c.limit, c.at, until, inForce)
				}
			}
			if got := o.AdminAgeLimitAt(t0.Add(tc.at)); got != tc.want {
				t.Errorf("AdminAgeLimitAt(+%v) = %v, want %v", tc.at, got, tc.want)
			}
			if got := RetentionAt(&Directory{Org: o}, t0.Add(tc.at)).Admin; !got.Equal(t0.Add(tc.at - tc.want)) {
				t.Errorf("RetentionAt(+%v).Admin = %v, want %v", tc.at, got, t0.Add(tc.at-tc.want))
			}
		})
	}
}
