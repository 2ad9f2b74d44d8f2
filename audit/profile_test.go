package audit

import (
	"strings"
	"testing"
)

// profileTables are policy.md's validity tables written out by hand, one line
// per operation in the order of the table: a logon type letter (A, D, O) means
// valid, a trailing * means in the default set, a trailing ! means refused as
// deprecated. They are deliberately not derived from the code's tables.
var profileTables = map[string]string{
	"exchange-online": `
ApplyRecord: A* D* O*
Copy: A
Create: A* D* O
FolderBind: A D
HardDelete: A* D* O*
MailboxLogin: O
MailItemsAccessed: A* D* O*
MessageBind: A!
Move: A D O
MoveToDeletedItems: A* D* O*
RecordDelete: A D O
SearchQueryInitiated: O
Send: A* O*
SendAs: A* D*
SendOnBehalf: A* D*
SoftDelete: A* D* O*
Update: A* D* O*
UpdateCalendarDelegation: A* O*
UpdateComplianceTag: A D O
UpdateFolderPermissions: A* D* O*
UpdateInboxRules: A* D* O*
`,
	"exchange-online-2019": `
ApplyRecord:
Copy: A
Create: A* D* O
FolderBind: A D
HardDelete: A* D* O*
MailboxLogin: O
MailItemsAccessed:
MessageBind: A
Move: A D O
MoveToDeletedItems: A* D* O*
RecordDelete:
SearchQueryInitiated:
Send:
SendAs: A* D*
SendOnBehalf: A* D*
SoftDelete: A* D* O*
Update: A* D* O*
UpdateCalendarDelegation: A* O*
UpdateComplianceTag:
UpdateFolderPermissions: A* D* O*
UpdateInboxRules: A* D* O*
`,
	"exchange-2019": `
ApplyRecord:
Copy: A
Create: A* D* O
FolderBind: A* D
HardDelete: A* D* O
MailboxLogin: O
MailItemsAccessed:
MessageBind: A
Move: A* D O
MoveToDeletedItems: A* D O
RecordDelete:
SearchQueryInitiated:
Send:
SendAs: A* D*
SendOnBehalf: A* D
SoftDelete: A* D* O
Update: A* D* O
UpdateCalendarDelegation: A* O
UpdateComplianceTag:
UpdateFolderPermissions: A* D* O
UpdateInboxRules: A* D* O
`,
	"exchange-2016": `
ApplyRecord:
Copy: A
Create: A* D* O
FolderBind: A* D
HardDelete: A* D* O
MailboxLogin: O
MailItemsAccessed:
MessageBind: A
Move: A* D O
MoveToDeletedItems: A* D O
RecordDelete:
SearchQueryInitiated:
Send:
SendAs: A* D*
SendOnBehalf: A* D
SoftDelete: A* D* O
Update: A* D* O
UpdateCalendarDelegation:
UpdateComplianceTag:
UpdateFolderPermissions:
UpdateInboxRules:
`,
}

// The profile names, as policy.md spells them.
var profileNames = []string{"exchange-online", "exchange-online-2019", "exchange-2019", "exchange-2016"}

// cell is one profile × logon type × operation of the tables.
type cell struct {
	valid, def, deprecated bool
}

// opNamesInOrder are the 21 canonical names in the order of the table.
var opNamesInOrder = []string{
	"ApplyRecord", "Copy", "Create", "FolderBind", "HardDelete", "MailboxLogin", "MailItemsAccessed",
	"MessageBind", "Move", "MoveToDeletedItems", "RecordDelete", "SearchQueryInitiated", "Send", "SendAs",
	"SendOnBehalf", "SoftDelete", "Update", "UpdateCalendarDelegation", "UpdateComplianceTag",
	"UpdateFolderPermissions", "UpdateInboxRules",
}

var letterLogon = map[byte]LogonType{'A': Admin, 'D': Delegate, 'O': Owner}

// parseTable reads one profile's table into op name → logon type → cell.
func parseTable(t *testing.T, profile string) map[string]map[LogonType]cell {
	t.Helper()
	out := map[string]map[LogonType]cell{}
	var order []string
	for _, line := range strings.Split(strings.TrimSpace(profileTables[profile]), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("%s: bad table line %q", profile, line)
		}
		order = append(order, name)
		cells := map[LogonType]cell{Admin: {}, Delegate: {}, Owner: {}}
		for _, tok := range strings.Fields(rest) {
			lt, ok := letterLogon[tok[0]]
			if !ok {
				t.Fatalf("%s: bad token %q", profile, tok)
			}
			switch tok[1:] {
			case "":
				cells[lt] = cell{valid: true}
			case "*":
				cells[lt] = cell{valid: true, def: true}
			case "!":
				cells[lt] = cell{deprecated: true}
			default:
				t.Fatalf("%s: bad token %q", profile, tok)
			}
		}
		out[name] = cells
	}
	if strings.Join(order, ",") != strings.Join(opNamesInOrder, ",") {
		t.Fatalf("%s: the table does not list the 21 operations in order: %v", profile, order)
	}
	return out
}

func TestProfileTables(t *testing.T) {
	for _, name := range profileNames {
		table := parseTable(t, name)
		p, err := LookupProfile(name)
		if err != nil {
			t.Fatalf("LookupProfile(%q): %v", name, err)
		}
		if p.Name != name {
			t.Errorf("LookupProfile(%q).Name = %q", name, p.Name)
		}
		for _, opName := range opNamesInOrder {
			op, ok := ParseOperation(opName)
			if !ok {
				t.Fatalf("ParseOperation(%q) failed", opName)
			}
			for _, lt := range []LogonType{Admin, Delegate, Owner} {
				want := table[opName][lt]
				t.Run(name+"/"+lt.String()+"/"+opName, func(t *testing.T) {
					if got := p.Valid[lt].Has(op); got != want.valid {
						t.Errorf("Valid = %v, want %v", got, want.valid)
					}
					if got := p.Default[lt].Has(op); got != want.def {
						t.Errorf("Default = %v, want %v", got, want.def)
					}
					if got := p.Deprecated[lt].Has(op); got != want.deprecated {
						t.Errorf("Deprecated = %v, want %v", got, want.deprecated)
					}
					for _, typ := range []RecipientType{UserMailbox, SharedMailbox, RoomMailbox, EquipmentMailbox, DiscoveryMailbox} {
						if got := p.ValidFor(typ, lt).Has(op); got != want.valid {
							t.Errorf("ValidFor(%s) = %v, want %v", typ, got, want.valid)
						}
						if got := p.DefaultFor(typ, lt).Has(op); got != want.def {
							t.Errorf("DefaultFor(%s) = %v, want %v", typ, got, want.def)
						}
					}
					err := p.CheckOperation(lt, op)
					switch {
					case want.valid && err != nil:
						t.Errorf("CheckOperation refused a valid operation: %v", err)
					case want.deprecated:
						const text = "MessageBind audit operation type is deprecated. Use MailItemsAccessed audit operation type instead."
						if err == nil || err.Error() != text {
							t.Errorf("CheckOperation = %v, want %q", err, text)
						}
					case !want.valid:
						if err == nil {
							t.Fatalf("CheckOperation accepted an invalid operation")
						}
						if want := invalidTexts[name][lt]; err.Error() != want {
							t.Errorf("CheckOperation =\n %q\nwant\n %q", err.Error(), want)
						}
					}
					if err != nil && ErrorCode(err) != EInvalid {
						t.Errorf("ErrorCode = %q, want %q", ErrorCode(err), EInvalid)
					}
					// A new mailbox follows the default set.
					m := NewMailbox("x@example.org", UserMailbox, t0)
					if got := m.List(p, lt).Has(op); got != want.def {
						t.Errorf("new mailbox List has it = %v, want %v", got, want.def)
					}
				})
			}
		}
	}
}

// invalidTexts are the refusals of an invalid operation, written out by hand:
// None first, then the valid operations in table order, ", " between, " and "
// before the last, a final period.
var invalidTexts = map[string]map[LogonType]string{
	"exchange-online": {
		Admin:    "Invalid audit operation specified. Supported audit operations for Admin are None, ApplyRecord, Copy, Create, FolderBind, HardDelete, MailItemsAccessed, Move, MoveToDeletedItems, RecordDelete, Send, SendAs, SendOnBehalf, SoftDelete, Update, UpdateCalendarDelegation, UpdateComplianceTag, UpdateFolderPermissions and UpdateInboxRules.",
		Delegate: "Invalid audit operation specified. Supported audit operations for Delegate are None, ApplyRecord, Create, FolderBind, HardDelete, MailItemsAccessed, Move, MoveToDeletedItems, RecordDelete, SendAs, SendOnBehalf, SoftDelete, Update, UpdateComplianceTag, UpdateFolderPermissions and UpdateInboxRules.",
		Owner:    "Invalid audit operation specified. Supported audit operations for Owner are None, ApplyRecord, Create, HardDelete, MailboxLogin, MailItemsAccessed, Move, MoveToDeletedItems, RecordDelete, SearchQueryInitiated, Send, SoftDelete, Update, UpdateCalendarDelegation, UpdateComplianceTag, UpdateFolderPermissions and UpdateInboxRules.",
	},
	"exchange-online-2019": {
		Admin:    "Invalid audit operation specified. Supported audit operations for Admin are None, Copy, Create, FolderBind, HardDelete, MessageBind, Move, MoveToDeletedItems, SendAs, SendOnBehalf, SoftDelete, Update, UpdateCalendarDelegation, UpdateFolderPermissions and UpdateInboxRules.",
		Delegate: "Invalid audit operation specified. Supported audit operations for Delegate are None, Create, FolderBind, HardDelete, Move, MoveToDeletedItems, SendAs, SendOnBehalf, SoftDelete, Update, UpdateFolderPermissions and UpdateInboxRules.",
		Owner:    "Invalid audit operation specified. Supported audit operations for Owner are None, Create, HardDelete, MailboxLogin, Move, MoveToDeletedItems, SoftDelete, Update, UpdateCalendarDelegation, UpdateFolderPermissions and UpdateInboxRules.",
	},
	"exchange-2019": {
		Admin:    "Invalid audit operation specified. Supported audit operations for Admin are None, Copy, Create, FolderBind, HardDelete, MessageBind, Move, MoveToDeletedItems, SendAs, SendOnBehalf, SoftDelete, Update, UpdateCalendarDelegation, UpdateFolderPermissions and UpdateInboxRules.",
		Delegate: "Invalid audit operation specified. Supported audit operations for Delegate are None, Create, FolderBind, HardDelete, Move, MoveToDeletedItems, SendAs, SendOnBehalf, SoftDelete, Update, UpdateFolderPermissions and UpdateInboxRules.",
		Owner:    "Invalid audit operation specified. Supported audit operations for Owner are None, Create, HardDelete, MailboxLogin, Move, MoveToDeletedItems, SoftDelete, Update, UpdateCalendarDelegation, UpdateFolderPermissions and UpdateInboxRules.",
	},
	"exchange-2016": {
		Admin:    "Invalid audit operation specified. Supported audit operations for Admin are None, Copy, Create, FolderBind, HardDelete, MessageBind, Move, MoveToDeletedItems, SendAs, SendOnBehalf, SoftDelete and Update.",
		Delegate: "Invalid audit operation specified. Supported audit operations for Delegate are None, Create, FolderBind, HardDelete, Move, MoveToDeletedItems, SendAs, SendOnBehalf, SoftDelete and Update.",
		Owner:    "Invalid audit operation specified. Supported audit operations for Owner are None, Create, HardDelete, MailboxLogin, Move, MoveToDeletedItems, SoftDelete and Update.",
	},
}

// TestInvalidOperationTexts checks each refusal text through the paths that
// produce it: CheckOperation, ParseOps with an invalid and with an unknown
// name, and set-mailbox replace/add/remove.
func TestInvalidOperationTexts(t *testing.T) {
	// An operation invalid for each logon type in every profile.
	invalidOp := map[LogonType]string{Admin: "MailboxLogin", Delegate: "Send", Owner: "SendAs"}
	for _, name := range profileNames {
		p, _ := LookupProfile(name)
		for _, lt := range []LogonType{Admin, Delegate, Owner} {
			want := invalidTexts[name][lt]
			for _, in := range []string{invalidOp[lt], "Bogus", "Update,Bogus", "update, " + strings.ToLower(invalidOp[lt])} {
				t.Run(name+"/"+lt.String()+"/"+in, func(t *testing.T) {
					if _, err := ParseOps(p, lt, []string{in}); err == nil || err.Error() != want {
						t.Errorf("ParseOps(%q) = %v, want %q", in, err, want)
					}
					for _, ch := range []ListChange{{Replace: []string{in}}, {Add: []string{in}}, {Remove: []string{in}}} {
						var mc MailboxChange
						mc.Lists[lt] = ch
						m := NewMailbox("x@example.org", UserMailbox, t0)
						after, mods, err := ApplyMailboxChange(p, m, mc)
						if err == nil || err.Error() != want || ErrorCode(err) != EInvalid {
							t.Errorf("ApplyMailboxChange(%+v) = %v, want %q", ch, err, want)
						}
						if after != nil || mods != nil {
							t.Errorf("a refused change returned a mailbox or properties")
						}
						if m.DefaultAuditSet != AllLogons || m.Audit != ([3]OpSet{}) {
							t.Errorf("a refused change modified the mailbox")
						}
					}
				})
			}
		}
	}
}

func TestMessageBindDeprecatedText(t *testing.T) {
	const text = "MessageBind audit operation type is deprecated. Use MailItemsAccessed audit operation type instead."
	p, _ := LookupProfile("exchange-online")
	for _, in := range []string{"MessageBind", "messagebind", "Create,MessageBind", " MESSAGEBIND "} {
		if _, err := ParseOps(p, Admin, []string{in}); err == nil || err.Error() != text {
			t.Errorf("ParseOps(Admin, %q) = %v, want %q", in, err, text)
		}
		var mc MailboxChange
		mc.Lists[Admin] = ListChange{Add: []string{in}}
		if _, _, err := ApplyMailboxChange(p, NewMailbox("x@example.org", UserMailbox, t0), mc); err == nil || err.Error() != text {
			t.Errorf("add %q = %v, want %q", in, err, text)
		}
	}
	// Delegate and Owner MessageBind get the list of valid operations.
	for _, lt := range []LogonType{Delegate, Owner} {
		if _, err := ParseOps(p, lt, []string{"MessageBind"}); err == nil || err.Error() != invalidTexts["exchange-online"][lt] {
			t.Errorf("ParseOps(%s, MessageBind) = %v", lt, err)
		}
	}
	// Where MessageBind is valid for Admin it is accepted.
	for _, name := range []string{"exchange-online-2019", "exchange-2019", "exchange-2016"} {
		p, _ := LookupProfile(name)
		if s, err := ParseOps(p, Admin, []string{"MessageBind"}); err != nil || s != Ops(MessageBind) {
			t.Errorf("%s: ParseOps(Admin, MessageBind) = %v, %v", name, s, err)
		}
	}
}

// The seed 001 refusal: `Set-Mailbox ben -AuditDelegate MessageBind` is refused
// in every profile, naming the Delegate operations; `-AuditAdmin MessageBind`
// works on the on-premises profile.
func TestSeedDelegateMessageBind(t *testing.T) {
	for _, name := range profileNames {
		p, _ := LookupProfile(name)
		m := NewMailbox("ben@example.org", UserMailbox, t0)
		f := false
		mc := MailboxChange{AuditEnabled: &f}
		mc.Lists[Delegate] = ListChange{Replace: []string{"MessageBind"}}
		_, _, err := ApplyMailboxChange(p, m, mc)
		if err == nil || err.Error() != invalidTexts[name][Delegate] {
			t.Errorf("%s: %v, want %q", name, err, invalidTexts[name][Delegate])
		}
	}
	p, _ := LookupProfile("exchange-2016")
	want := "Invalid audit operation specified. Supported audit operations for Delegate are None, Create, FolderBind, HardDelete, Move, MoveToDeletedItems, SendAs, SendOnBehalf, SoftDelete and Update."
	if _, err := ParseOps(p, Delegate, []string{"MessageBind"}); err == nil || err.Error() != want {
		t.Errorf("exchange-2016 Delegate MessageBind: %v", err)
	}
	f := false
	mc := MailboxChange{AuditEnabled: &f}
	mc.Lists[Admin] = ListChange{Replace: []string{"MessageBind"}}
	after, _, err := ApplyMailboxChange(p, NewMailbox("ben@example.org", UserMailbox, t0), mc)
	if err != nil || after.List(p, Admin) != Ops(MessageBind) {
		t.Errorf("exchange-2016 -AuditAdmin MessageBind: %v", err)
	}
}

// Group mailboxes: fixed sets in every profile that has them.
func TestGroupMailboxSets(t *testing.T) {
	adminDelegate := "Create,HardDelete,MoveToDeletedItems,SendAs,SendOnBehalf,SoftDelete,Update"
	owner := "HardDelete,MoveToDeletedItems,SoftDelete,Update"
	want := map[LogonType]string{Admin: adminDelegate, Delegate: adminDelegate, Owner: owner}
	hasGroups := map[string]bool{
		"exchange-online": true, "exchange-online-2019": true, "exchange-2019": true, "exchange-2016": false,
	}
	for _, name := range profileNames {
		p, _ := LookupProfile(name)
		if p.HasGroupMailboxes != hasGroups[name] {
			t.Errorf("%s: HasGroupMailboxes = %v, want %v", name, p.HasGroupMailboxes, hasGroups[name])
		}
		for _, lt := range []LogonType{Admin, Delegate, Owner} {
			g := NewMailbox("team@example.org", GroupMailbox, t0)
			// Whatever the mailbox's own fields say, the fixed set wins.
			g.DefaultAuditSet = 0
			g.Audit[lt] = Ops(Copy)
			if !p.HasGroupMailboxes {
				// Without group mailboxes the profile treats it as any mailbox.
				if got := g.List(p, lt); got != Ops(Copy) {
					t.Errorf("%s %s: List = %v", name, lt, got)
				}
				continue
			}
			for _, got := range []OpSet{g.List(p, lt), p.ValidFor(GroupMailbox, lt), p.DefaultFor(GroupMailbox, lt)} {
				if got.String() != want[lt] {
					t.Errorf("%s %s: group set %v, want %s", name, lt, got, want[lt])
				}
			}
			// The engine records exactly the fixed set on a group mailbox.
			for _, op := range AllOperations() {
				d := stdDir(name)
				e := NewEngine(d, NewVolume(), 0)
				var a *Activity
				switch lt {
				case Owner:
					a = act(t, op, "team@example.org", "team@example.org", t0)
				case Delegate:
					a = act(t, op, "bob@example.org", "team@example.org", t0)
				case Admin:
					a = act(t, op, "admin@example.org", "team@example.org", t0, asAdmin)
				}
				got := e.Decide(a)
				inSet := strings.Contains(","+want[lt]+",", ","+op.String()+",")
				if inSet != (got.Outcome == Recorded) || (!inSet && got.Reason != ReasonNotInList) {
					t.Errorf("%s %s %s on a group mailbox: %v, in fixed set %v", name, lt, op, got, inSet)
				}
			}
		}
	}
}

func TestGroupMailboxListsRefused(t *testing.T) {
	for _, name := range profileNames {
		p, _ := LookupProfile(name)
		for i, mc := range groupChanges() {
			g := NewMailbox("team@example.org", GroupMailbox, t0)
			g.DisplayName = "The Team"
			after, mods, err := ApplyMailboxChange(p, g, mc)
			if p.HasGroupMailboxes {
				if err == nil || ErrorCode(err) != EInvalid || !strings.Contains(err.Error(), "'The Team'") || !strings.Contains(err.Error(), "fixed") {
					t.Errorf("%s change %d on a group mailbox: err %v", name, i, err)
				}
				if after != nil || mods != nil {
					t.Errorf("%s change %d: refused change returned results", name, i)
				}
			} else if err != nil {
				t.Errorf("%s has no group mailboxes; change %d refused: %v", name, i, err)
			}
		}
		// Settings other than the lists can be changed.
		tr := true
		g := NewMailbox("team@example.org", GroupMailbox, t0)
		after, mods, err := ApplyMailboxChange(p, g, MailboxChange{AuditEnabled: &tr, AuditLogAgeLimit: "30"})
		if err != nil || !after.AuditEnabled || len(mods) != 2 {
			t.Errorf("%s: group mailbox AuditEnabled/age limit: %v %v", name, mods, err)
		}
	}
}

func groupChanges() []MailboxChange {
	var out []MailboxChange
	// An operation valid but not default for each logon type in every profile.
	addOp := map[LogonType]string{Admin: "Copy", Delegate: "Move", Owner: "Move"}
	for _, lt := range []LogonType{Admin, Delegate, Owner} {
		for _, lc := range []ListChange{{Replace: []string{"Update"}}, {Add: []string{addOp[lt]}}, {Remove: []string{"Update"}}, {Replace: []string{"None"}}} {
			var mc MailboxChange
			mc.Lists[lt] = lc
			out = append(out, mc)
		}
	}
	out = append(out, MailboxChange{DefaultAuditSet: []string{"Admin,Delegate,Owner"}})
	return out
}

func TestLookupProfile(t *testing.T) {
	for _, in := range []string{"exchange-online", "EXCHANGE-ONLINE", " Exchange-2016 ", "exchange-online-2019", "exchange-2019"} {
		p, err := LookupProfile(in)
		if err != nil || !strings.EqualFold(p.Name, strings.TrimSpace(in)) {
			t.Errorf("LookupProfile(%q) = %v, %v", in, p, err)
		}
	}
	for _, in := range []string{"exchange-2013", "", "online"} {
		_, err := LookupProfile(in)
		want := "Unknown audit profile '" + in + "'. Known profiles are exchange-2016, exchange-2019, exchange-online and exchange-online-2019."
		if err == nil || err.Error() != want || ErrorCode(err) != EInvalid {
			t.Errorf("LookupProfile(%q) = %v, want %q", in, err, want)
		}
	}
	if got := strings.Join(ProfileNames(), ","); got != "exchange-2016,exchange-2019,exchange-online,exchange-online-2019" {
		t.Errorf("ProfileNames = %s", got)
	}
	if DefaultProfile != "exchange-online" || NewOrganization("x").Profile != "exchange-online" {
		t.Errorf("the default profile is not exchange-online")
	}
	onByDefault := map[string]bool{"exchange-online": true, "exchange-online-2019": true, "exchange-2019": false, "exchange-2016": false}
	for name, want := range onByDefault {
		p, _ := LookupProfile(name)
		if p.OnByDefault != want {
			t.Errorf("%s: OnByDefault = %v", name, p.OnByDefault)
		}
	}
	// A directory with an unknown profile name falls back to the default.
	d := testDir("no-such-profile")
	if d.Profile().Name != "exchange-online" {
		t.Errorf("Directory.Profile with unknown name = %s", d.Profile().Name)
	}
}

func TestOperations(t *testing.T) {
	friendly := map[string]string{
		"ApplyRecord":              "Labeled message as a record",
		"Copy":                     "Copied messages to another folder",
		"Create":                   "Created mailbox item",
		"FolderBind":               "Accessed mailbox folder",
		"HardDelete":               "Purged messages from the mailbox",
		"MailboxLogin":             "User signed in to mailbox",
		"MailItemsAccessed":        "Accessed mailbox items",
		"MessageBind":              "Opened message",
		"Move":                     "Moved messages to another folder",
		"MoveToDeletedItems":       "Moved messages to Deleted Items folder",
		"RecordDelete":             "Deleted record",
		"SearchQueryInitiated":     "Performed mailbox search",
		"Send":                     "Sent message",
		"SendAs":                   "Sent message using Send As permissions",
		"SendOnBehalf":             "Sent message using Send On Behalf permissions",
		"SoftDelete":               "Deleted messages from Deleted Items folder",
		"Update":                   "Updated message",
		"UpdateCalendarDelegation": "Added or removed user with delegate access to calendar folder",
		"UpdateComplianceTag":      "Changed retention label",
		"UpdateFolderPermissions":  "Added/Modified/Removed permissions of folder",
		"UpdateInboxRules":         "Updated inbox rule",
	}
	all := AllOperations()
	if len(all) != 21 {
		t.Fatalf("AllOperations has %d operations, want 21", len(all))
	}
	for i, name := range opNamesInOrder {
		if all[i].String() != name {
			t.Errorf("AllOperations[%d] = %s, want %s", i, all[i], name)
		}
		for _, in := range []string{name, strings.ToLower(name), strings.ToUpper(name), " " + name + " "} {
			op, ok := ParseOperation(in)
			if !ok || op.String() != name {
				t.Errorf("ParseOperation(%q) = %v, %v", in, op, ok)
			}
		}
		if got := all[i].FriendlyName(); got != friendly[name] {
			t.Errorf("%s.FriendlyName() = %q, want %q", name, got, friendly[name])
		}
	}
	for _, in := range []string{"AddFolderPermissions", "ModifyFolderPermissions", "RemoveFolderPermissions", "addfolderpermissions"} {
		op, ok := ParseOperation(in)
		if !ok || op != UpdateFolderPermissions {
			t.Errorf("ParseOperation(%q) = %v, %v, want UpdateFolderPermissions", in, op, ok)
		}
	}
	for _, in := range []string{"", "None", "Bogus", "SearchQueryInitiatedExchange", "Folder Bind", "Default"} {
		if op, ok := ParseOperation(in); ok {
			t.Errorf("ParseOperation(%q) = %v, want unknown", in, op)
		}
	}
	if s := Ops(Update, Create, HardDelete); s.String() != "Create,HardDelete,Update" || s.Len() != 3 {
		t.Errorf("OpSet.String = %s, Len %d", s, s.Len())
	}
	if OpSet(0).String() != "None" || OpSet(0).Names() == nil {
		t.Errorf("empty OpSet prints %q / names %v", OpSet(0).String(), OpSet(0).Names())
	}
	for _, c := range []struct {
		in   []string
		want string
	}{{nil, ""}, {[]string{"a"}, "a"}, {[]string{"a", "b"}, "a and b"}, {[]string{"a", "b", "c"}, "a, b and c"}} {
		if got := joinAnd(c.in); got != c.want {
			t.Errorf("joinAnd(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestLogonTypes(t *testing.T) {
	codes := map[LogonType]int{Owner: 0, Admin: 1, Delegate: 2}
	for lt, code := range codes {
		if int(lt) != code {
			t.Errorf("%s = %d, want %d", lt, lt, code)
		}
		for _, in := range []string{lt.String(), strings.ToLower(lt.String()), " " + strings.ToUpper(lt.String())} {
			if got, ok := ParseLogonType(in); !ok || got != lt {
				t.Errorf("ParseLogonType(%q) = %v, %v", in, got, ok)
			}
		}
	}
	for _, in := range []string{"External", "", "Delegated", "None"} {
		if _, ok := ParseLogonType(in); ok {
			t.Errorf("ParseLogonType(%q) accepted", in)
		}
	}
	if AllLogons.String() != "Admin,Delegate,Owner" || AllLogons.Without(Owner).String() != "Admin,Delegate" {
		t.Errorf("LogonSet strings: %s / %s", AllLogons, AllLogons.Without(Owner))
	}
}
