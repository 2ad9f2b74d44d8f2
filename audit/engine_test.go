package audit

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
)

// actorFor returns the acting identity and options for a logon type on
// alice's mailbox.
func actorFor(lt LogonType) (string, []func(*Activity)) {
	switch lt {
	case Admin:
		return "admin@example.org", []func(*Activity){asAdmin}
	case Delegate:
		return "bob@example.org", nil
	}
	return "alice@example.org", nil
}

// TestSettingsCombine is policy.md "How the settings combine", every
// combination: organisation AuditDisabled × actor bypassed × profile on or
// off by default × mailbox AuditEnabled × operation in the list, for each
// logon type.
func TestSettingsCombine(t *testing.T) {
	n := 0
	for _, orgDisabled := range []bool{false, true} {
		for _, bypassed := range []bool{false, true} {
			for _, prof := range []string{"exchange-online", "exchange-2019"} {
				for _, auditEnabled := range []bool{false, true} {
					for _, inList := range []bool{false, true} {
						for _, lt := range []LogonType{Admin, Delegate, Owner} {
							name := fmt.Sprintf("disabled=%v/bypassed=%v/%s/AuditEnabled=%v/inList=%v/%s", orgDisabled, bypassed, prof, auditEnabled, inList, lt)
							n++
							t.Run(name, func(t *testing.T) {
								d := testDir(prof, stdMailboxes()...)
								d.Org.AuditDisabled = orgDisabled
								alice := mustMailbox(t, d, "alice@example.org")
								alice.AuditEnabled = auditEnabled
								for _, l := range []LogonType{Admin, Delegate, Owner} {
									customise(alice, l, Update)
								}
								user, opts := actorFor(lt)
								if bypassed {
									d.Bypasses = []Bypass{{Identity: user, Enabled: true}}
									d.Index()
								}
								op := HardDelete // valid for every logon type in both profiles, not in the list
								if inList {
									op = Update
								}
								e := NewEngine(d, NewVolume(), 0)
								got := e.Decide(act(t, op, user, "alice@example.org", t0, opts...))

								var want Decision
								switch {
								case orgDisabled:
									want = Decision{Outcome: NotAudited, Reason: ReasonAuditDisabled}
								case bypassed:
									want = Decision{Outcome: NotAudited, Reason: ReasonBypassed, LogonType: lt}
								case prof == "exchange-2019" && !auditEnabled:
									want = Decision{Outcome: NotAudited, Reason: ReasonMailboxOff, LogonType: lt}
								case !inList:
									want = Decision{Outcome: NotAudited, Reason: ReasonNotInList, LogonType: lt}
								default:
									want = Decision{Outcome: Recorded, LogonType: lt}
								}
								if got.Outcome != want.Outcome || got.Reason != want.Reason || (!orgDisabled && got.LogonType != want.LogonType) {
									t.Errorf("Decide = %v, want %v", got, want)
								}
								out := e.Take()
								if recorded := want.Outcome == Recorded; recorded != (len(out.Records) == 1) {
									t.Errorf("records: %d", len(out.Records))
								}
								// Settings are kept whatever the decision.
								if alice.List(d.Profile(), lt) != Ops(Update) || alice.AuditEnabled != auditEnabled {
									t.Errorf("settings changed")
								}
							})
						}
					}
				}
			}
		}
	}
	if n != 96 {
		t.Errorf("%d combinations, want 96", n)
	}
}

// TestDecideDefaults drives every profile × logon type × operation through
// the engine on a mailbox that follows the defaults: recorded exactly when
// the operation is in policy.md's default set (and, off by default, only
// with AuditEnabled).
func TestDecideDefaults(t *testing.T) {
	for _, prof := range profileNames {
		table := parseTable(t, prof)
		p := mustProfile(t, prof)
		for _, auditEnabled := range []bool{false, true} {
			for _, lt := range []LogonType{Admin, Delegate, Owner} {
				for _, opName := range opNamesInOrder {
					op, _ := ParseOperation(opName)
					t.Run(fmt.Sprintf("%s/AuditEnabled=%v/%s/%s", prof, auditEnabled, lt, opName), func(t *testing.T) {
						d := testDir(prof, stdMailboxes()...)
						mustMailbox(t, d, "alice").AuditEnabled = auditEnabled
						e := NewEngine(d, NewVolume(), 0)
						user, opts := actorFor(lt)
						got := e.Decide(act(t, op, user, "alice@example.org", t0, opts...))
						want := Decision{Outcome: Recorded, LogonType: lt}
						// The owner sending "as" or "on behalf of" her own
						// mailbox is her Send (send.go).
						decided := opName
						if lt == Owner && (op == SendAs || op == SendOnBehalf) {
							decided = "Send"
						}
						switch {
						case !p.OnByDefault && !auditEnabled:
							want = Decision{Outcome: NotAudited, Reason: ReasonMailboxOff, LogonType: lt}
						case !table[decided][lt].def:
							want = Decision{Outcome: NotAudited, Reason: ReasonNotInList, LogonType: lt}
						}
						if got != want {
							t.Errorf("Decide = %v, want %v", got, want)
						}
					})
				}
			}
		}
	}
}

// An operation a list holds but the profile does not accept for the logon
// type is never recorded (e.g. a list kept from another profile).
func TestDecideInvalidInList(t *testing.T) {
	d := stdDir("exchange-online")
	alice := mustMailbox(t, d, "alice")
	customise(alice, Owner, FolderBind, SendAs, Update)
	customise(alice, Admin, MessageBind, Update)
	e := NewEngine(d, NewVolume(), 0)
	for _, c := range []struct {
		a    *Activity
		want Decision
	}{
		{act(t, FolderBind, "alice", "alice", t0), Decision{Outcome: NotAudited, Reason: ReasonNotInList, LogonType: Owner}},
		{act(t, SendAs, "alice", "alice", t0), Decision{Outcome: NotAudited, Reason: ReasonNotInList, LogonType: Owner}},
		{act(t, Update, "alice", "alice", t0), Decision{Outcome: Recorded, LogonType: Owner}},
		{act(t, MessageBind, "admin", "alice", t0, asAdmin), Decision{Outcome: NotAudited, Reason: ReasonNotInList, LogonType: Admin}},
		{act(t, Update, "admin", "alice", t0, asAdmin), Decision{Outcome: Recorded, LogonType: Admin}},
	} {
		if got := e.Decide(c.a); got != c.want {
			t.Errorf("%s by %s: %v, want %v", c.a.Operation, c.a.UserId, got, c.want)
		}
	}
}

func TestLogonTypeClassification(t *testing.T) {
	cases := []struct {
		name, user, mailbox, source, hint string
		hintSources                       []string // nil: the organisation's default
		want                              LogonType
	}{
		{"owner by address", "alice@example.org", "alice@example.org", "dovecot", "", nil, Owner},
		{"owner by address, other case", "ALICE@Example.ORG", "alice@example.org", "dovecot", "", nil, Owner},
		{"owner by login name", "alice", "alice@example.org", "dovecot", "", nil, Owner},
		{"owner by other address", "a.liddell@example.org", "alice@example.org", "dovecot", "", nil, Owner},
		{"owner, mailbox named by alias", "alice@example.org", "alice", "dovecot", "", nil, Owner},
		{"owner by GUID", "", "alice@example.org", "dovecot", "", nil, Owner},
		{"delegate by address", "bob@example.org", "alice@example.org", "dovecot", "", nil, Delegate},
		{"delegate by login name", "bob", "alice@example.org", "dovecot", "", nil, Delegate},
		{"delegate on a shared mailbox", "alice", "shared@example.org", "dovecot", "", nil, Delegate},
		{"account without mailbox", "stranger@elsewhere.org", "alice@example.org", "dovecot", "", nil, Delegate},
		{"admin hint from dovecot", "admin@example.org", "alice@example.org", "dovecot", "Admin", nil, Admin},
		{"admin hint from import", "admin@example.org", "alice@example.org", "import", "Admin", nil, Admin},
		{"admin hint, source case", "admin@example.org", "alice@example.org", "Dovecot", "admin", nil, Admin},
		{"admin hint by an account without mailbox", "ediscovery", "alice@example.org", "dovecot", "Admin", nil, Admin},
		{"admin hint on own mailbox (master login)", "alice", "alice@example.org", "dovecot", "Admin", nil, Admin},
		{"admin hint from api ignored", "admin@example.org", "alice@example.org", "api", "Admin", nil, Delegate},
		{"admin hint from postfix ignored", "admin@example.org", "alice@example.org", "postfix", "Admin", nil, Delegate},
		{"admin hint from api ignored, owner", "alice", "alice@example.org", "api", "Admin", nil, Owner},
		{"admin hint from a configured source", "admin@example.org", "alice@example.org", "api", "Admin", []string{"api"}, Admin},
		{"dovecot no longer trusted", "admin@example.org", "alice@example.org", "dovecot", "Admin", []string{"api"}, Delegate},
		{"no trusted sources", "admin@example.org", "alice@example.org", "dovecot", "Admin", []string{}, Delegate},
		{"an FullAccess administrator is a delegate", "admin@example.org", "alice@example.org", "dovecot", "", nil, Delegate},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := stdDir("exchange-online")
			if c.hintSources != nil {
				d.Org.AdminHintSources = c.hintSources
			}
			d.Permissions = []Permission{{Mailbox: mustMailbox(t, d, "alice").Guid, User: "admin@example.org", Rights: FullAccess}}
			user := c.user
			if user == "" {
				user = mustMailbox(t, d, "alice").Guid.String()
			}
			e := NewEngine(d, NewVolume(), 0)
			got := e.Decide(act(t, Update, user, c.mailbox, t0, withSource(c.source), func(a *Activity) { a.LogonTypeHint = c.hint }))
			if got.Outcome != Recorded || got.LogonType != c.want {
				t.Fatalf("Decide = %v, want Recorded/%s", got, c.want)
			}
			r := e.Take().Records[0]
			if r.LogonType != c.want {
				t.Errorf("record LogonType = %s", r.LogonType)
			}
			wantUT := UserTypeRegular
			if c.want == Admin {
				wantUT = UserTypeAdmin
			}
			if r.UserType != wantUT {
				t.Errorf("UserType = %d, want %d", r.UserType, wantUT)
			}
		})
	}
}

func TestRecordTypeAndObjectId(t *testing.T) {
	type tc struct {
		op       Operation
		lt       LogonType
		opts     []func(*Activity)
		wantType RecordType
		objectId string
	}
	one := withItems("INBOX:1:17")
	two := withItems("INBOX:1:17", "INBOX:1:18")
	inbox := inFolder("/Inbox")
	cases := []tc{
		{Update, Owner, []func(*Activity){inbox, one}, ExchangeItem, "INBOX:1:17"},
		{Update, Owner, []func(*Activity){inbox}, ExchangeItem, "/Inbox"},
		{Update, Owner, nil, ExchangeItem, "alice@example.org"},
		{Update, Owner, []func(*Activity){inbox, two}, ExchangeItemGroup, "/Inbox"},
		{Create, Admin, []func(*Activity){inFolder("/Calendar"), one}, ExchangeItem, "INBOX:1:17"},
		{ApplyRecord, Owner, []func(*Activity){inbox, one}, ExchangeItem, "INBOX:1:17"},
		{Send, Owner, []func(*Activity){inFolder("/Sent"), one}, ExchangeItem, "INBOX:1:17"},
		{SendAs, Delegate, []func(*Activity){one}, ExchangeItem, "INBOX:1:17"},
		{SendOnBehalf, Delegate, []func(*Activity){one}, ExchangeItem, "INBOX:1:17"},
		{UpdateInboxRules, Owner, []func(*Activity){withProp("RuleName", "fwd")}, ExchangeItem, "alice@example.org"},
		{UpdateCalendarDelegation, Owner, []func(*Activity){inFolder("/Calendar")}, ExchangeItem, "/Calendar"},
		{UpdateComplianceTag, Owner, []func(*Activity){inbox, one}, ExchangeItem, "INBOX:1:17"},
		{MailboxLogin, Owner, []func(*Activity){withSession("s")}, ExchangeItem, "alice@example.org"},
		{Move, Owner, []func(*Activity){inbox, one}, ExchangeItemGroup, "INBOX:1:17"},
		{Move, Owner, []func(*Activity){inbox, two}, ExchangeItemGroup, "/Inbox"},
		{MoveToDeletedItems, Owner, []func(*Activity){inbox, one}, ExchangeItemGroup, "INBOX:1:17"},
		{SoftDelete, Owner, []func(*Activity){inbox, two}, ExchangeItemGroup, "/Inbox"},
		{HardDelete, Owner, []func(*Activity){inbox, one}, ExchangeItemGroup, "INBOX:1:17"},
		{RecordDelete, Owner, []func(*Activity){inbox, one}, ExchangeItemGroup, "INBOX:1:17"},
		{Copy, Admin, []func(*Activity){inbox, one}, ExchangeItemGroup, "INBOX:1:17"},
		{FolderBind, Admin, []func(*Activity){inbox}, ExchangeItem, "/Inbox"},
		{FolderBind, Delegate, []func(*Activity){inbox}, ExchangeItem, "/Inbox"},
		{UpdateFolderPermissions, Owner, []func(*Activity){inbox}, ExchangeItem, "/Inbox"},
		{MailItemsAccessed, Owner, []func(*Activity){inbox, syncAccess}, ExchangeItemAggregated, "/Inbox"},
		{SearchQueryInitiated, Owner, []func(*Activity){withProp("SearchQuery", "invoice")}, ExchangeSearch, "alice@example.org"},
		// An item without Id: its parent folder names the object.
		{Update, Owner, []func(*Activity){func(a *Activity) {
			a.Items = []Item{{InternetMessageId: "<m@x>", ParentFolder: &Folder{Path: "/Drafts"}}}
		}}, ExchangeItem, "/Drafts"},
	}
	for i, c := range cases {
		t.Run(fmt.Sprintf("%d/%s/%s", i, c.op, c.lt), func(t *testing.T) {
			d := stdDir("exchange-online")
			alice := mustMailbox(t, d, "alice")
			for _, lt := range []LogonType{Admin, Delegate, Owner} {
				customise(alice, lt, AllOperations()...)
			}
			user, opts := actorFor(c.lt)
			e := NewEngine(d, NewVolume(), 0)
			got := e.Decide(act(t, c.op, user, "alice@example.org", t0, append(opts, c.opts...)...))
			if got.Outcome != Recorded {
				t.Fatalf("Decide = %v", got)
			}
			out := e.Take()
			if len(out.Records) != 1 {
				t.Fatalf("%d records", len(out.Records))
			}
			r := out.Records[0]
			if r.RecordType != c.wantType {
				t.Errorf("RecordType = %d, want %d", r.RecordType, c.wantType)
			}
			if r.ObjectId != c.objectId {
				t.Errorf("ObjectId = %q, want %q", r.ObjectId, c.objectId)
			}
			switch r.RecordType {
			case ExchangeItemGroup:
				if r.Item != nil || len(r.AffectedItems) != len(got0(c.opts)) {
					t.Errorf("group record: Item %v, AffectedItems %v", r.Item, r.AffectedItems)
				}
			case ExchangeItem:
				if n := len(got0(c.opts)); (n == 1) != (r.Item != nil) || r.AffectedItems != nil {
					t.Errorf("item record: Item %v, AffectedItems %v", r.Item, r.AffectedItems)
				}
			case ExchangeItemAggregated:
				if len(r.Folders) != 1 || r.Folders[0].Path != "/Inbox" || r.OperationCount != 1 {
					t.Errorf("aggregated record: %+v", r.Folders)
				}
			}
			if r.Operation != c.op.String() {
				t.Errorf("Operation = %q", r.Operation)
			}
		})
	}
}

// got0 counts the items the options put on an activity.
func got0(opts []func(*Activity)) []Item {
	a := &Activity{}
	for _, o := range opts {
		o(a)
	}
	return a.Items
}

func TestRecordFields(t *testing.T) {
	d := stdDir("exchange-online")
	alice, bob, shared := mustMailbox(t, d, "alice"), mustMailbox(t, d, "bob"), mustMailbox(t, d, "shared")
	for _, lt := range []LogonType{Admin, Delegate, Owner} {
		customise(alice, lt, AllOperations()...)
	}
	e := NewEngine(d, NewVolume(), 41)
	cet := time.FixedZone("CET", 3600)
	a := act(t, Move, "bob", "ALICE", t0.In(cet), inFolder("/Inbox"), withItems("INBOX:1:17"),
		withIP("192.0.2.7"), withClient("Client=IMAP4;name=neomutt"), withSession("sess-1"),
		withProp("Note", "x"), func(a *Activity) {
			a.DestFolder = &Folder{Path: "/Archive"}
			a.DestMailboxOwnerUPN = "shared"
			a.ExternalAccess = true
			a.ClientProcessName, a.ClientVersion, a.ClientMachineName = "neomutt", "2022", "laptop"
			a.OriginatingServer = "mx1"
		})
	if got := e.Decide(a); got != (Decision{Outcome: Recorded, LogonType: Delegate}) {
		t.Fatalf("Decide = %v", got)
	}
	a.OperationProperties[0].Value = "changed after"
	r := e.Take().Records[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"SequenceNumber", r.SequenceNumber, int64(42)},
		{"CreationTime", r.CreationTime, t0},
		{"CreationTime zone", r.CreationTime.Location(), time.UTC},
		{"Operation", r.Operation, "Move"},
		{"ResultStatus", r.ResultStatus, "Succeeded"},
		{"UserId", r.UserId, "bob@example.org"},
		{"UserKey", r.UserKey, bob.Guid.String()},
		{"UserType", r.UserType, UserTypeRegular},
		{"LogonType", r.LogonType, Delegate},
		{"LogonUserDisplayName", r.LogonUserDisplayName, "Bob Builder"},
		{"ExternalAccess", r.ExternalAccess, true},
		{"MailboxGuid", r.MailboxGuid, alice.Guid},
		{"MailboxOwnerUPN", r.MailboxOwnerUPN, "alice@example.org"},
		{"ClientIPAddress", r.ClientIPAddress, "192.0.2.7"},
		{"ClientInfoString", r.ClientInfoString, "Client=IMAP4;name=neomutt"},
		{"ClientProcessName", r.ClientProcessName, "neomutt"},
		{"ClientVersion", r.ClientVersion, "2022"},
		{"ClientMachineName", r.ClientMachineName, "laptop"},
		{"SessionId", r.SessionId, "sess-1"},
		{"OriginatingServer", r.OriginatingServer, "mx1"},
		{"Folder", r.Folder.Path, "/Inbox"},
		{"DestFolder", r.DestFolder.Path, "/Archive"},
		{"CrossMailboxOperation", r.CrossMailboxOperation, true},
		{"DestMailboxId", r.DestMailboxId, shared.Guid},
		{"DestMailboxOwnerUPN", r.DestMailboxOwnerUPN, "shared@example.org"},
		{"AffectedItems", len(r.AffectedItems), 1},
		{"OperationProperties copied", r.Property("Note"), "x"},
		{"Source", r.Source, "dovecot"},
		{"SourceEventId", r.SourceEventId, a.SourceEventId},
		{"ObjectId", r.ObjectId, "INBOX:1:17"},
		{"RecordType", r.RecordType, ExchangeItemGroup},
		{"IsAdmin", r.IsAdmin(), false},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestCrossMailbox(t *testing.T) {
	cases := []struct {
		dest      string
		cross     bool
		destId    string // mailbox whose Guid DestMailboxId holds; "" = none
		destUPN   string
		recType   RecordType
		operation Operation
	}{
		{"", false, "", "", ExchangeItemGroup, Move},
		{"shared@example.org", true, "shared", "shared@example.org", ExchangeItemGroup, Move},
		{"Shared", true, "shared", "shared@example.org", ExchangeItemGroup, Copy},
		{"alice@example.org", false, "", "alice@example.org", ExchangeItemGroup, Move},
		{"a.liddell@example.org", false, "", "alice@example.org", ExchangeItemGroup, Move},
		{"other@elsewhere.org", true, "", "other@elsewhere.org", ExchangeItemGroup, Move},
	}
	for _, c := range cases {
		t.Run(c.dest+"/"+c.operation.String(), func(t *testing.T) {
			d := stdDir("exchange-online")
			customise(mustMailbox(t, d, "alice"), Admin, Copy, Move)
			e := NewEngine(d, NewVolume(), 0)
			if got := e.Decide(act(t, c.operation, "admin", "alice", t0, asAdmin, inFolder("/Inbox"), withItems("i1"),
				func(a *Activity) { a.DestMailboxOwnerUPN = c.dest })); got.Outcome != Recorded {
				t.Fatalf("Decide = %v", got)
			}
			r := e.Take().Records[0]
			var wantId uuid.UUID
			if c.destId != "" {
				wantId = mustMailbox(t, d, c.destId).Guid
			}
			if r.CrossMailboxOperation != c.cross || r.DestMailboxId != wantId || r.DestMailboxOwnerUPN != c.destUPN || r.RecordType != c.recType {
				t.Errorf("cross %v id %v upn %q type %d", r.CrossMailboxOperation, r.DestMailboxId, r.DestMailboxOwnerUPN, r.RecordType)
			}
			if r.UserType != UserTypeAdmin || r.UserId != "admin@example.org" || r.LogonUserDisplayName != "Mail Admin" {
				t.Errorf("admin actor: %d %q %q", r.UserType, r.UserId, r.LogonUserDisplayName)
			}
		})
	}
}

func TestActorWithoutMailbox(t *testing.T) {
	d := stdDir("exchange-online")
	e := NewEngine(d, NewVolume(), 0)
	if got := e.Decide(act(t, Update, "Stranger@Elsewhere.org", "alice", t0)); got != (Decision{Outcome: Recorded, LogonType: Delegate}) {
		t.Fatalf("Decide = %v", got)
	}
	out := e.Take()
	r := out.Records[0]
	if r.UserId != "Stranger@Elsewhere.org" || r.UserKey != "Stranger@Elsewhere.org" || r.LogonUserDisplayName != "Stranger@Elsewhere.org" {
		t.Errorf("actor fields: %q %q %q", r.UserId, r.UserKey, r.LogonUserDisplayName)
	}
	// The actor is not a mailbox: it is not created.
	if len(out.NewMailboxes) != 0 || len(d.Lookup("stranger@elsewhere.org")) != 0 {
		t.Errorf("the actor became a mailbox")
	}
}

func TestMailboxAutoCreated(t *testing.T) {
	for _, c := range []struct {
		profile string
		want    Decision
	}{
		{"exchange-online", Decision{Outcome: Recorded, LogonType: Owner}},
		{"exchange-online-2019", Decision{Outcome: Recorded, LogonType: Owner}},
		{"exchange-2019", Decision{Outcome: NotAudited, Reason: ReasonMailboxOff, LogonType: Owner}},
		{"exchange-2016", Decision{Outcome: NotAudited, Reason: ReasonMailboxOff, LogonType: Owner}},
	} {
		t.Run(c.profile, func(t *testing.T) {
			d := stdDir(c.profile)
			n := len(d.Mailboxes)
			e := NewEngine(d, NewVolume(), 0)
			at := t0.Add(time.Minute)
			if got := e.Decide(act(t, HardDelete, "new@example.org", "new@example.org", at, inFolder("/Inbox"), withItems("i"))); got != c.want {
				t.Errorf("first activity: %v, want %v", got, c.want)
			}
			// A delegate on the same mailbox: no second creation.
			got := e.Decide(act(t, HardDelete, "bob", "NEW@example.org", at))
			if c.want.Outcome == Recorded && got != (Decision{Outcome: Recorded, LogonType: Delegate}) {
				t.Errorf("delegate: %v", got)
			}
			out := e.Take()
			if len(out.NewMailboxes) != 1 || len(d.Mailboxes) != n+1 {
				t.Fatalf("NewMailboxes = %d, directory %d mailboxes", len(out.NewMailboxes), len(d.Mailboxes))
			}
			m := out.NewMailboxes[0]
			if m.PrimarySmtpAddress != "new@example.org" || m.Type != UserMailbox || m.DefaultAuditSet != AllLogons ||
				m.AuditEnabled || m.AuditLogAgeLimit != DefaultAgeLimit || !m.WhenCreated.Equal(at) || m.Guid == uuid.Nil {
				t.Errorf("new mailbox %+v", m)
			}
			if found := d.Lookup("new"); len(found) != 1 || found[0] != m {
				t.Errorf("the new mailbox is not in the directory index")
			}
			for _, r := range out.Records {
				if r.MailboxGuid != m.Guid {
					t.Errorf("record for another mailbox")
				}
			}
			if len(e.Take().NewMailboxes) != 0 {
				t.Errorf("Take did not clear NewMailboxes")
			}
		})
	}
}

func TestAmbiguousMailbox(t *testing.T) {
	mbs := stdMailboxes()
	mbs[1].DisplayName = "Team Inbox"
	mbs[2].DisplayName = "Team Inbox"
	d := testDir("exchange-online", mbs...)
	e := NewEngine(d, NewVolume(), 0)
	if got := e.Decide(act(t, Update, "alice", "team inbox", t0)); got.Outcome != NotAudited || got.Reason != ReasonMailboxUnknown {
		t.Errorf("Decide = %v", got)
	}
	if out := e.Take(); len(out.NewMailboxes) != 0 || len(out.Records) != 0 {
		t.Errorf("output %+v", out)
	}
}

func TestBypass(t *testing.T) {
	type tc struct {
		user, mailbox string
		opts          []func(*Activity)
		bypassed      bool
		lt            LogonType
	}
	cases := []tc{
		// A service account without a mailbox.
		{"svc-backup", "alice", nil, true, Delegate},
		{"SVC-Backup", "shared", nil, true, Delegate},
		{"svc-backup", "alice", []func(*Activity){asAdmin}, true, Admin},
		// A mailbox's address: every identity of the mailbox, every logon type.
		{"bob@example.org", "alice", nil, true, Delegate},
		{"bob", "alice", nil, true, Delegate},
		{"Bob Builder", "alice", nil, true, Delegate},
		{"builder@example.org", "shared", nil, true, Delegate},
		{"bob", "bob", nil, true, Owner},
		{"bob", "alice", []func(*Activity){asAdmin}, true, Admin},
		// A mailbox's other address as the bypass identity.
		{"carol", "alice", nil, true, Delegate},
		// A disabled association bypasses nothing.
		{"admin@example.org", "alice", nil, false, Delegate},
		// Others are recorded.
		{"alice", "alice", nil, false, Owner},
		{"alice", "bob", nil, false, Delegate},
		{"svc-other", "alice", nil, false, Delegate},
	}
	for i, c := range cases {
		t.Run(fmt.Sprintf("%d/%s/%s", i, c.user, c.mailbox), func(t *testing.T) {
			mbs := stdMailboxes()
			mbs[2].EmailAddresses = []string{"c.other@example.org"} // carol
			d := testDir("exchange-online", mbs...)
			d.Bypasses = []Bypass{
				{Identity: "svc-backup", Enabled: true},
				{Identity: "bob@example.org", Enabled: true},
				{Identity: "C.Other@example.org", Enabled: true},
				{Identity: "admin@example.org", Enabled: false},
			}
			d.Index()
			e := NewEngine(d, NewVolume(), 0)
			got := e.Decide(act(t, Update, c.user, c.mailbox, t0, c.opts...))
			want := Decision{Outcome: Recorded, LogonType: c.lt}
			if c.bypassed {
				want = Decision{Outcome: NotAudited, Reason: ReasonBypassed, LogonType: c.lt}
			}
			if got != want {
				t.Errorf("Decide = %v, want %v", got, want)
			}
		})
	}
	// Bypassed identities of every kind are reported by Directory.Bypassed.
	d := testDir("exchange-online", stdMailboxes()...)
	if d.Bypassed("svc-backup", nil) {
		t.Errorf("bypassed with no associations")
	}
}

func TestSequenceContinues(t *testing.T) {
	d := stdDir("exchange-online")
	e := NewEngine(d, NewVolume(), 1000)
	for i := 0; i < 5; i++ {
		e.Decide(act(t, Update, "alice", "alice", t0.Add(time.Duration(i)*time.Second)))
	}
	// An admin audit record made outside Decide takes the next number too.
	e.Append(&Record{RecordType: ExchangeAdmin, Operation: "Set-Mailbox", ResultStatus: "True"})
	e.Decide(act(t, Update, "bob", "alice", t0.Add(10*time.Second), func(a *Activity) { a.ResultStatus = Failed }))
	out := e.Take()
	checkDense(t, 1000, out.Records)
	if e.Seq != 1007 || out.Records[6].ResultStatus != Failed || !out.Records[5].IsAdmin() {
		t.Errorf("Seq = %d, status %s", e.Seq, out.Records[5].ResultStatus)
	}
	if out := e.Take(); len(out.Records) != 0 {
		t.Errorf("Take did not clear")
	}
	if id1, id2 := RecordID(d.Org.Id, 1), RecordID(d.Org.Id, 2); id1 == id2 || id1 != RecordID(d.Org.Id, 1) {
		t.Errorf("RecordID not stable and unique")
	}
}
