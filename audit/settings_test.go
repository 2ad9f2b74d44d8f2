package audit

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func mustProfile(t testing.TB, name string) *Profile {
	t.Helper()
	p, err := LookupProfile(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func modsString(mods []ModifiedProperty) string {
	var s []string
	for _, m := range mods {
		s = append(s, fmt.Sprintf("%s: %s -> %s", m.Name, m.OldValue, m.NewValue))
	}
	return strings.Join(s, "; ")
}

func listChange(lt LogonType, lc ListChange) MailboxChange {
	var mc MailboxChange
	mc.Lists[lt] = lc
	return mc
}

// TestNewMailboxFollowsDefaults: a new mailbox's lists are the profile's
// defaults, and follow a later change of profile.
func TestNewMailboxFollowsDefaults(t *testing.T) {
	m := NewMailbox("alice@example.org", UserMailbox, t0)
	if m.DefaultAuditSet != AllLogons || m.DefaultAuditSet.String() != "Admin,Delegate,Owner" {
		t.Fatalf("new mailbox DefaultAuditSet = %s", m.DefaultAuditSet)
	}
	if m.AuditEnabled {
		t.Errorf("new mailbox AuditEnabled = true")
	}
	if m.AuditLogAgeLimit != 90*24*time.Hour || FormatAgeLimit(m.AuditLogAgeLimit) != "90.00:00:00" {
		t.Errorf("new mailbox AuditLogAgeLimit = %v", m.AuditLogAgeLimit)
	}
	if m.Alias != "alice" || m.DisplayName != "alice" || m.UserPrincipalName() != "alice@example.org" {
		t.Errorf("new mailbox names: %q %q %q", m.Alias, m.DisplayName, m.UserPrincipalName())
	}
	d := testDir("exchange-online", m)
	wantOwner := map[string]string{
		"exchange-online":      "ApplyRecord,HardDelete,MailItemsAccessed,MoveToDeletedItems,Send,SoftDelete,Update,UpdateCalendarDelegation,UpdateFolderPermissions,UpdateInboxRules",
		"exchange-online-2019": "HardDelete,MoveToDeletedItems,SoftDelete,Update,UpdateCalendarDelegation,UpdateFolderPermissions,UpdateInboxRules",
		"exchange-2019":        "None",
		"exchange-2016":        "None",
	}
	wantDelegate := map[string]string{
		"exchange-online":      "ApplyRecord,Create,HardDelete,MailItemsAccessed,MoveToDeletedItems,SendAs,SendOnBehalf,SoftDelete,Update,UpdateFolderPermissions,UpdateInboxRules",
		"exchange-online-2019": "Create,HardDelete,MoveToDeletedItems,SendAs,SendOnBehalf,SoftDelete,Update,UpdateFolderPermissions,UpdateInboxRules",
		"exchange-2019":        "Create,HardDelete,SendAs,SoftDelete,Update,UpdateFolderPermissions,UpdateInboxRules",
		"exchange-2016":        "Create,HardDelete,SendAs,SoftDelete,Update",
	}
	for _, name := range []string{"exchange-online", "exchange-2016", "exchange-online-2019", "exchange-2019", "exchange-online"} {
		d.Org.Profile = name
		if got := m.List(d.Profile(), Owner).String(); got != wantOwner[name] {
			t.Errorf("%s: Owner list %s, want %s", name, got, wantOwner[name])
		}
		if got := m.List(d.Profile(), Delegate).String(); got != wantDelegate[name] {
			t.Errorf("%s: Delegate list %s, want %s", name, got, wantDelegate[name])
		}
	}
}

// TestMailboxListChanges walks policy.md's per-mailbox list rules.
func TestMailboxListChanges(t *testing.T) {
	eo := "exchange-online"
	ownerDefault := "ApplyRecord,HardDelete,MailItemsAccessed,MoveToDeletedItems,Send,SoftDelete,Update,UpdateCalendarDelegation,UpdateFolderPermissions,UpdateInboxRules"
	type step struct {
		profile string
		ch      MailboxChange
		// want after the step: the Owner list, DefaultAuditSet, and the
		// modified properties ("" = none: the no-change warning).
		owner, defSet, mods string
		err                 string
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"replace customises", []step{{
			profile: eo, ch: listChange(Owner, ListChange{Replace: []string{"Create,HardDelete"}}),
			owner: "Create,HardDelete", defSet: "Admin,Delegate",
			mods: "AuditOwner: " + ownerDefault + " -> Create,HardDelete; DefaultAuditSet: Admin,Delegate,Owner -> Admin,Delegate",
		}}},
		{"replace with the default list still customises", []step{{
			profile: eo, ch: listChange(Owner, ListChange{Replace: []string{ownerDefault}}),
			owner: ownerDefault, defSet: "Admin,Delegate",
			mods: "DefaultAuditSet: Admin,Delegate,Owner -> Admin,Delegate",
		}}},
		{"replace with separate names", []step{{
			profile: eo, ch: listChange(Owner, ListChange{Replace: []string{"update", " HardDelete", "MailboxLogin"}}),
			owner: "HardDelete,MailboxLogin,Update", defSet: "Admin,Delegate",
			mods: "AuditOwner: " + ownerDefault + " -> HardDelete,MailboxLogin,Update; DefaultAuditSet: Admin,Delegate,Owner -> Admin,Delegate",
		}}},
		{"seed add MailboxLogin,HardDelete", []step{{
			profile: eo, ch: listChange(Owner, ListChange{Add: []string{"MailboxLogin,HardDelete"}}),
			owner: "ApplyRecord,HardDelete,MailboxLogin,MailItemsAccessed,MoveToDeletedItems,Send,SoftDelete,Update,UpdateCalendarDelegation,UpdateFolderPermissions,UpdateInboxRules", defSet: "Admin,Delegate",
			mods: "AuditOwner: " + ownerDefault + " -> ApplyRecord,HardDelete,MailboxLogin,MailItemsAccessed,MoveToDeletedItems,Send,SoftDelete,Update,UpdateCalendarDelegation,UpdateFolderPermissions,UpdateInboxRules; DefaultAuditSet: Admin,Delegate,Owner -> Admin,Delegate",
		}}},
		{"seed add works under every profile", []step{
			{profile: "exchange-2016", ch: listChange(Owner, ListChange{Add: []string{"MailboxLogin", "HardDelete"}}),
				owner: "HardDelete,MailboxLogin", defSet: "Admin,Delegate",
				mods: "AuditOwner: None -> HardDelete,MailboxLogin; DefaultAuditSet: Admin,Delegate,Owner -> Admin,Delegate"},
			{profile: "exchange-2016", ch: listChange(Owner, ListChange{Add: []string{"MailboxLogin", "HardDelete"}}),
				owner: "HardDelete,MailboxLogin", defSet: "Admin,Delegate",
				err: "The input operation(s) is/are already being audited"},
		}},
		{"add all present refused", []step{{
			profile: eo, ch: listChange(Owner, ListChange{Add: []string{"HardDelete,Update"}}),
			owner: ownerDefault, defSet: "Admin,Delegate,Owner",
			err: "The input operation(s) is/are already being audited",
		}}},
		{"add folded name already present refused", []step{{
			profile: eo, ch: listChange(Owner, ListChange{Add: []string{"AddFolderPermissions"}}),
			owner: ownerDefault, defSet: "Admin,Delegate,Owner",
			err: "The input operation(s) is/are already being audited",
		}}},
		{"remove customises", []step{{
			profile: eo, ch: listChange(Owner, ListChange{Remove: []string{"Send,MailItemsAccessed"}}),
			owner: "ApplyRecord,HardDelete,MoveToDeletedItems,SoftDelete,Update,UpdateCalendarDelegation,UpdateFolderPermissions,UpdateInboxRules", defSet: "Admin,Delegate",
			mods: "AuditOwner: " + ownerDefault + " -> ApplyRecord,HardDelete,MoveToDeletedItems,SoftDelete,Update,UpdateCalendarDelegation,UpdateFolderPermissions,UpdateInboxRules; DefaultAuditSet: Admin,Delegate,Owner -> Admin,Delegate",
		}}},
		{"remove of an absent operation changes nothing", []step{{
			profile: eo, ch: listChange(Owner, ListChange{Remove: []string{"MailboxLogin"}}),
			owner: ownerDefault, defSet: "Admin,Delegate,Owner", mods: "",
		}}},
		{"None clears", []step{{
			profile: eo, ch: listChange(Owner, ListChange{Replace: []string{"None"}}),
			owner: "None", defSet: "Admin,Delegate",
			mods: "AuditOwner: " + ownerDefault + " -> None; DefaultAuditSet: Admin,Delegate,Owner -> Admin,Delegate",
		}}},
		{"none clears, any case", []step{{
			profile: eo, ch: listChange(Owner, ListChange{Replace: []string{"none"}}),
			owner: "None", defSet: "Admin,Delegate",
			mods: "AuditOwner: " + ownerDefault + " -> None; DefaultAuditSet: Admin,Delegate,Owner -> Admin,Delegate",
		}}},
		{"folded names become UpdateFolderPermissions", []step{
			{profile: eo, ch: listChange(Owner, ListChange{Replace: []string{"AddFolderPermissions,ModifyFolderPermissions"}}),
				owner: "UpdateFolderPermissions", defSet: "Admin,Delegate",
				mods: "AuditOwner: " + ownerDefault + " -> UpdateFolderPermissions; DefaultAuditSet: Admin,Delegate,Owner -> Admin,Delegate"},
			{profile: eo, ch: listChange(Owner, ListChange{Remove: []string{"RemoveFolderPermissions"}}),
				owner: "None", defSet: "Admin,Delegate",
				mods: "AuditOwner: UpdateFolderPermissions -> None"},
		}},
		{"customised list no longer follows the profile; DefaultAuditSet restores", []step{
			{profile: eo, ch: listChange(Owner, ListChange{Replace: []string{"HardDelete"}}),
				owner: "HardDelete", defSet: "Admin,Delegate",
				mods: "AuditOwner: " + ownerDefault + " -> HardDelete; DefaultAuditSet: Admin,Delegate,Owner -> Admin,Delegate"},
			{profile: "exchange-2019", ch: MailboxChange{},
				owner: "HardDelete", defSet: "Admin,Delegate", mods: ""},
			{profile: "exchange-2019", ch: MailboxChange{DefaultAuditSet: []string{"Admin", "Delegate", "Owner"}},
				owner: "None", defSet: "Admin,Delegate,Owner",
				mods: "AuditOwner: HardDelete -> None; DefaultAuditSet: Admin,Delegate -> Admin,Delegate,Owner"},
			{profile: eo, ch: MailboxChange{},
				owner: ownerDefault, defSet: "Admin,Delegate,Owner", mods: ""},
		}},
		{"DefaultAuditSet restores only the named types", []step{
			{profile: eo, ch: func() MailboxChange {
				mc := listChange(Owner, ListChange{Replace: []string{"Update"}})
				mc.Lists[Admin] = ListChange{Replace: []string{"Update"}}
				return mc
			}(), owner: "Update", defSet: "Delegate",
				mods: "AuditAdmin: ApplyRecord,Create,HardDelete,MailItemsAccessed,MoveToDeletedItems,Send,SendAs,SendOnBehalf,SoftDelete,Update,UpdateCalendarDelegation,UpdateFolderPermissions,UpdateInboxRules -> Update; AuditOwner: " + ownerDefault + " -> Update; DefaultAuditSet: Admin,Delegate,Owner -> Delegate"},
			{profile: eo, ch: MailboxChange{DefaultAuditSet: []string{"owner"}},
				owner: ownerDefault, defSet: "Delegate,Owner",
				mods: "AuditOwner: Update -> " + ownerDefault + "; DefaultAuditSet: Delegate -> Delegate,Owner"},
		}},
		{"DefaultAuditSet on a following mailbox is a no-op", []step{{
			profile: eo, ch: MailboxChange{DefaultAuditSet: []string{"Admin,Delegate,Owner"}},
			owner: ownerDefault, defSet: "Admin,Delegate,Owner", mods: "",
		}}},
		{"DefaultAuditSet with a bad logon type", []step{{
			profile: eo, ch: MailboxChange{DefaultAuditSet: []string{"Admin,External"}},
			owner: ownerDefault, defSet: "Admin,Delegate,Owner",
			err: "Invalid logon type 'External'. DefaultAuditSet takes Admin, Delegate and Owner.",
		}}},
		{"add then remove the same in one change", []step{{
			profile: eo, ch: listChange(Owner, ListChange{Add: []string{"MailboxLogin"}, Remove: []string{"MailboxLogin"}}),
			owner: ownerDefault, defSet: "Admin,Delegate,Owner", mods: "",
		}}},
		{"add with None only changes nothing", []step{{
			profile: eo, ch: listChange(Owner, ListChange{Add: []string{"None"}}),
			owner: ownerDefault, defSet: "Admin,Delegate,Owner", mods: "",
		}}},
		{"AuditEnabled set to its value changes nothing", []step{{
			profile: eo, ch: MailboxChange{AuditEnabled: new(bool)},
			owner: ownerDefault, defSet: "Admin,Delegate,Owner", mods: "",
		}}},
		{"AuditEnabled and age limit", []step{{
			profile: eo, ch: MailboxChange{AuditEnabled: func() *bool { b := true; return &b }(), AuditLogAgeLimit: "180"},
			owner: ownerDefault, defSet: "Admin,Delegate,Owner",
			mods: "AuditEnabled: False -> True; AuditLogAgeLimit: 90.00:00:00 -> 180.00:00:00",
		}}},
		{"bad age limit refused", []step{{
			profile: eo, ch: MailboxChange{AuditLogAgeLimit: "-1"},
			owner: ownerDefault, defSet: "Admin,Delegate,Owner",
			err: "Cannot convert '-1' to an age limit. Use dd.hh:mm:ss (180.00:00:00), a number of days (180) or a duration (2160h).",
		}}},
		{"seed Delegate MessageBind refused", []step{{
			profile: eo, ch: listChange(Delegate, ListChange{Replace: []string{"MessageBind"}}),
			owner: ownerDefault, defSet: "Admin,Delegate,Owner",
			err: invalidTexts["exchange-online"][Delegate],
		}}},
		{"a refused list leaves the other lists too", []step{{
			profile: eo, ch: func() MailboxChange {
				mc := listChange(Owner, ListChange{Replace: []string{"Update"}})
				mc.Lists[Admin] = ListChange{Add: []string{"MessageBind"}}
				return mc
			}(), owner: ownerDefault, defSet: "Admin,Delegate,Owner",
			err: "MessageBind audit operation type is deprecated. Use MailItemsAccessed audit operation type instead.",
		}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := NewMailbox("alice@example.org", UserMailbox, t0)
			m.DisplayName = "Alice Liddell"
			for i, s := range c.steps {
				p := mustProfile(t, s.profile)
				after, mods, err := ApplyMailboxChange(p, m, s.ch)
				if s.err != "" {
					if err == nil || err.Error() != s.err || ErrorCode(err) != EInvalid {
						t.Fatalf("step %d: err = %v, want %q", i, err, s.err)
					}
					after = m
				} else {
					if err != nil {
						t.Fatalf("step %d: %v", i, err)
					}
					if got := modsString(mods); got != s.mods {
						t.Errorf("step %d: modified\n %s\nwant\n %s", i, got, s.mods)
					}
					if (len(mods) == 0) != (s.mods == "") {
						t.Errorf("step %d: len(mods) = %d", i, len(mods))
					}
				}
				if got := after.List(p, Owner).String(); got != s.owner {
					t.Errorf("step %d: Owner list %s, want %s", i, got, s.owner)
				}
				if got := after.DefaultAuditSet.String(); got != s.defSet {
					t.Errorf("step %d: DefaultAuditSet %q, want %q", i, got, s.defSet)
				}
				m = after
			}
		})
	}
}

// The seed's add under exchange-online: MailboxLogin added, Owner leaves
// DefaultAuditSet, and the Owner list stops following the profile.
func TestSeedAddMailboxLoginHardDelete(t *testing.T) {
	m := NewMailbox("alice@example.org", UserMailbox, t0)
	d := testDir("exchange-online", m)
	after, mods, err := ApplyMailboxChange(d.Profile(), m, listChange(Owner, ListChange{Add: []string{"MailboxLogin,HardDelete"}}))
	if err != nil || len(mods) == 0 {
		t.Fatalf("add: %v %v", mods, err)
	}
	if !after.List(d.Profile(), Owner).Has(MailboxLogin) || !after.List(d.Profile(), Owner).Has(HardDelete) {
		t.Errorf("Owner list %s", after.List(d.Profile(), Owner))
	}
	if after.DefaultAuditSet.Has(Owner) || !after.DefaultAuditSet.Has(Admin) || !after.DefaultAuditSet.Has(Delegate) {
		t.Errorf("DefaultAuditSet %s", after.DefaultAuditSet)
	}
	// The original is untouched (ApplyMailboxChange works on a copy).
	if m.DefaultAuditSet != AllLogons {
		t.Errorf("the original mailbox changed")
	}
	// Switching profile changes Admin and Delegate but not the customised Owner.
	ownerBefore := after.List(d.Profile(), Owner)
	d.Org.Profile = "exchange-online-2019"
	if after.List(d.Profile(), Owner) != ownerBefore {
		t.Errorf("customised Owner list followed the profile")
	}
	if after.List(d.Profile(), Admin).Has(MailItemsAccessed) {
		t.Errorf("Admin list did not follow the profile")
	}
}

func TestNoChangeWarning(t *testing.T) {
	m := NewMailbox("alice@example.org", UserMailbox, t0)
	m.DisplayName = "Alice Liddell"
	want := "The command completed successfully but no settings of 'Alice Liddell' have been modified."
	if got := NoChangeWarning(m); got != want {
		t.Errorf("NoChangeWarning = %q, want %q", got, want)
	}
}

func TestMailboxChangeOtherFields(t *testing.T) {
	p := mustProfile(t, "exchange-online")
	m := NewMailbox("alice@example.org", UserMailbox, t0)
	name, alias := "Alice L.", "ali"
	after, mods, err := ApplyMailboxChange(p, m, MailboxChange{
		DisplayName: &name, Alias: &alias,
		Attributes:        map[string]string{"department": "Audit"},
		AddEmailAddresses: []string{"al@example.org", "ALICE@example.org"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "DisplayName: alice -> Alice L.; Alias: alice -> ali; EmailAddresses:  -> al@example.org; Department:  -> Audit"
	if got := modsString(mods); got != want {
		t.Errorf("mods %s, want %s", got, want)
	}
	after2, mods, err := ApplyMailboxChange(p, after, MailboxChange{RemoveEmailAddrs: []string{"AL@example.org"}, Attributes: map[string]string{"Department": ""}})
	if err != nil || modsString(mods) != "EmailAddresses: al@example.org -> ; Department: Audit -> " || len(after2.EmailAddresses) != 0 {
		t.Errorf("remove: %s %v", modsString(mods), err)
	}
	if len(after.EmailAddresses) != 1 {
		t.Errorf("removing on a copy changed the earlier version: %v", after.EmailAddresses)
	}
	empty, bad := " ", "a b"
	for _, mc := range []MailboxChange{
		{DisplayName: &empty}, {Alias: &bad}, {Attributes: map[string]string{"Colour": "x"}}, {AddEmailAddresses: []string{"nope"}},
	} {
		if _, _, err := ApplyMailboxChange(p, m, mc); err == nil || ErrorCode(err) != EInvalid {
			t.Errorf("%+v accepted: %v", mc, err)
		}
	}
}

func TestParseOps(t *testing.T) {
	p := mustProfile(t, "exchange-online")
	cases := []struct {
		in   []string
		want string
	}{
		{nil, "None"},
		{[]string{"None"}, "None"},
		{[]string{""}, "None"},
		{[]string{"Update"}, "Update"},
		{[]string{"update,HARDDELETE"}, "HardDelete,Update"},
		{[]string{"Update", "Update"}, "Update"},
		{[]string{"AddFolderPermissions", "RemoveFolderPermissions"}, "UpdateFolderPermissions"},
		{[]string{"None,Update"}, "Update"},
		{[]string{" Update , ,SoftDelete "}, "SoftDelete,Update"},
	}
	for _, c := range cases {
		got, err := ParseOps(p, Owner, c.in)
		if err != nil || got.String() != c.want {
			t.Errorf("ParseOps(%q) = %v, %v, want %s", c.in, got, err, c.want)
		}
	}
}

func TestParseLogonSet(t *testing.T) {
	cases := []struct {
		in   []string
		want string
	}{
		{[]string{"Admin,Delegate,Owner"}, "Admin,Delegate,Owner"},
		{[]string{"owner", "ADMIN"}, "Admin,Owner"},
		{[]string{"None"}, ""},
		{nil, ""},
	}
	for _, c := range cases {
		got, err := ParseLogonSet(c.in)
		if err != nil || got.String() != c.want {
			t.Errorf("ParseLogonSet(%q) = %v, %v", c.in, got, err)
		}
	}
	if _, err := ParseLogonSet([]string{"Owner,Bogus"}); err == nil || err.Error() != "Invalid logon type 'Bogus'. DefaultAuditSet takes Admin, Delegate and Owner." {
		t.Errorf("ParseLogonSet(Bogus) = %v", err)
	}
}

func TestBaseline(t *testing.T) {
	b, err := LookupBaseline("ASD-Blueprint")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LookupBaseline("cis"); err == nil || err.Error() != "Unknown audit baseline 'cis'. Known baselines are asd-blueprint." || ErrorCode(err) != ENotFound {
		t.Errorf("LookupBaseline(cis) = %v", err)
	}
	want := map[LogonType]string{
		Admin:    "ApplyRecord,Copy,Create,FolderBind,HardDelete,MessageBind,Move,MoveToDeletedItems,RecordDelete,SendAs,SendOnBehalf,SoftDelete,Update,UpdateCalendarDelegation,UpdateFolderPermissions,UpdateInboxRules",
		Delegate: "ApplyRecord,Create,FolderBind,HardDelete,Move,MoveToDeletedItems,RecordDelete,SendAs,SendOnBehalf,SoftDelete,Update,UpdateFolderPermissions,UpdateInboxRules",
		Owner:    "ApplyRecord,Create,HardDelete,MailboxLogin,Move,MoveToDeletedItems,RecordDelete,SoftDelete,Update,UpdateCalendarDelegation,UpdateFolderPermissions,UpdateInboxRules",
	}
	for lt, w := range want {
		if got := b.ListsFor(UserMailbox, lt).String(); got != w {
			t.Errorf("asd-blueprint %s = %s, want %s", lt, got, w)
		}
	}
	// Under exchange-online, Admin MessageBind is reported and skipped with
	// the deprecation text; the rest is applied.
	p := mustProfile(t, "exchange-online")
	m := NewMailbox("alice@example.org", UserMailbox, t0)
	after, skipped := ApplyBaseline(p, b, m)
	if len(skipped) != 1 || skipped[0].LogonType != Admin || skipped[0].Refused != Ops(MessageBind) ||
		skipped[0].Reason != "MessageBind audit operation type is deprecated. Use MailItemsAccessed audit operation type instead." {
		t.Errorf("skipped = %+v", skipped)
	}
	if got := after.List(p, Admin); got != b.Lists[Admin]&^Ops(MessageBind) {
		t.Errorf("Admin after apply = %s", got)
	}
	for _, lt := range []LogonType{Delegate, Owner} {
		if after.List(p, lt) != b.Lists[lt] {
			t.Errorf("%s after apply = %s", lt, after.List(p, lt))
		}
	}
	if after.DefaultAuditSet != 0 {
		t.Errorf("DefaultAuditSet after apply = %s", after.DefaultAuditSet)
	}
	if diffs := CompareBaseline(p, b, after); len(diffs) != 1 || diffs[0].Missing != 0 || diffs[0].Extra != 0 {
		t.Errorf("compare after apply: %+v", diffs)
	}
	// Under exchange-2016, ApplyRecord, RecordDelete etc. are refused with
	// the list of valid operations.
	p16 := mustProfile(t, "exchange-2016")
	for _, d := range CompareBaseline(p16, b, NewMailbox("x@example.org", UserMailbox, t0)) {
		if d.Refused == 0 || d.Reason != invalidTexts["exchange-2016"][d.LogonType] {
			t.Errorf("exchange-2016 %s: refused %s reason %q", d.LogonType, d.Refused, d.Reason)
		}
	}
	// Group mailboxes keep their fixed sets and match the baseline.
	g := NewMailbox("team@example.org", GroupMailbox, t0)
	if diffs := CompareBaseline(p, b, g); len(diffs) != 0 {
		t.Errorf("group mailbox differs from the baseline: %+v", diffs)
	}
}
