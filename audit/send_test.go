package audit

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// A source reports sends as the headers show them; the engine decides which
// are the owner's own Send, and whether a SendAs or SendOnBehalf had its
// grant.
func TestDecideSends(t *testing.T) {
	type grant struct {
		mailbox, user string
		right         AccessRight
	}
	from := func(addr string) func(*Activity) {
		return func(a *Activity) {
			switch a.Operation {
			case SendAs:
				a.SendAsUserSmtp = addr
			case SendOnBehalf:
				a.SendOnBehalfOfUserSmtp = addr
			}
			a.Source = "postfix"
			a.Items = []Item{{InternetMessageId: "<m1@example.org>", Subject: "Hello", SizeInBytes: 512}}
		}
	}
	cases := []struct {
		name          string
		op            Operation
		user, mailbox string
		grants        []grant
		extra         []func(*Activity)
		profile       string

		want     Decision
		wantOp   Operation
		props    string // the engine's properties, "" for none
		sendAs   string // SendAsUserSmtp on the record
		onBehalf string // SendOnBehalfOfUserSmtp on the record
		// on is the mailbox the record is on, when not mailbox; a mailbox
		// that does not exist must not be created.
		on string
	}{
		{name: "owner's SendAs is a Send", op: SendAs, user: "alice", mailbox: "alice@example.org",
			want: Decision{Outcome: Recorded, LogonType: Owner}, wantOp: Send},
		{name: "owner sending from a further address", op: SendAs, user: "alice@example.org", mailbox: "a.liddell@example.org",
			want: Decision{Outcome: Recorded, LogonType: Owner}, wantOp: Send},
		{name: "owner naming herself as Sender too", op: SendOnBehalf, user: "alice", mailbox: "alice@example.org",
			want: Decision{Outcome: Recorded, LogonType: Owner}, wantOp: Send},
		{name: "SendAs without any grant is flagged", op: SendAs, user: "bob", mailbox: "alice@example.org",
			want: Decision{Outcome: Recorded, LogonType: Delegate}, wantOp: SendAs,
			props: "GrantRequired=SendAs GrantHeld=False GrantsHeld=None SendWithoutGrant=True", sendAs: "alice@example.org"},
		{name: "SendAs with the grant", op: SendAs, user: "bob", mailbox: "alice@example.org",
			grants: []grant{{"alice", "bob@example.org", SendAsRight}},
			want:   Decision{Outcome: Recorded, LogonType: Delegate}, wantOp: SendAs,
			props: "GrantRequired=SendAs GrantHeld=True GrantsHeld=SendAs", sendAs: "alice@example.org"},
		{name: "a grant stored under the account name matches the login", op: SendAs, user: "Bob", mailbox: "alice@example.org",
			grants: []grant{{"alice", "bob", SendAsRight}},
			want:   Decision{Outcome: Recorded, LogonType: Delegate}, wantOp: SendAs,
			props: "GrantRequired=SendAs GrantHeld=True GrantsHeld=SendAs", sendAs: "alice@example.org"},
		{name: "a login by further address matches a grant by primary address", op: SendAs, user: "builder@example.org", mailbox: "alice",
			grants: []grant{{"alice", "bob@example.org", SendAsRight}},
			want:   Decision{Outcome: Recorded, LogonType: Delegate}, wantOp: SendAs,
			props: "GrantRequired=SendAs GrantHeld=True GrantsHeld=SendAs", sendAs: "alice"},
		{name: "FullAccess does not allow SendAs", op: SendAs, user: "bob", mailbox: "alice@example.org",
			grants: []grant{{"alice", "bob@example.org", FullAccess}},
			want:   Decision{Outcome: Recorded, LogonType: Delegate}, wantOp: SendAs,
			props: "GrantRequired=SendAs GrantHeld=False GrantsHeld=FullAccess SendWithoutGrant=True", sendAs: "alice@example.org"},
		{name: "SendOnBehalf with the grant", op: SendOnBehalf, user: "bob", mailbox: "alice@example.org",
			grants: []grant{{"alice", "bob@example.org", SendOnBehalfRight}, {"alice", "bob@example.org", FullAccess}},
			want:   Decision{Outcome: Recorded, LogonType: Delegate}, wantOp: SendOnBehalf,
			props: "GrantRequired=SendOnBehalf GrantHeld=True GrantsHeld=FullAccess,SendOnBehalf", onBehalf: "alice@example.org"},
		{name: "SendAs does not make on-behalf legitimate", op: SendOnBehalf, user: "bob", mailbox: "alice@example.org",
			grants: []grant{{"alice", "bob@example.org", SendAsRight}},
			want:   Decision{Outcome: Recorded, LogonType: Delegate}, wantOp: SendOnBehalf,
			props: "GrantRequired=SendOnBehalf GrantHeld=False GrantsHeld=SendAs SendWithoutGrant=True", onBehalf: "alice@example.org"},
		{name: "a grant on another mailbox does not count", op: SendAs, user: "bob", mailbox: "alice@example.org",
			grants: []grant{{"carol", "bob@example.org", SendAsRight}},
			want:   Decision{Outcome: Recorded, LogonType: Delegate}, wantOp: SendAs,
			props: "GrantRequired=SendAs GrantHeld=False GrantsHeld=None SendWithoutGrant=True", sendAs: "alice@example.org"},
		{name: "another account's grant does not count", op: SendAs, user: "bob", mailbox: "alice@example.org",
			grants: []grant{{"alice", "carol@example.org", SendAsRight}},
			want:   Decision{Outcome: Recorded, LogonType: Delegate}, wantOp: SendAs,
			props: "GrantRequired=SendAs GrantHeld=False GrantsHeld=None SendWithoutGrant=True", sendAs: "alice@example.org"},
		{name: "an account with no mailbox holding the grant", op: SendAs, user: "svc-crm", mailbox: "shared@example.org",
			grants: []grant{{"shared", "svc-crm", SendAsRight}},
			want:   Decision{Outcome: Recorded, LogonType: Delegate}, wantOp: SendAs,
			props: "GrantRequired=SendAs GrantHeld=True GrantsHeld=SendAs", sendAs: "shared@example.org"},
		{name: "a claimed grant is replaced by the directory's answer", op: SendAs, user: "bob", mailbox: "alice@example.org",
			extra: []func(*Activity){withProp("GrantHeld", "True"), withProp("QueueId", "4Xq")},
			want:  Decision{Outcome: Recorded, LogonType: Delegate}, wantOp: SendAs,
			props: "GrantRequired=SendAs GrantHeld=False GrantsHeld=None SendWithoutGrant=True", sendAs: "alice@example.org"},
		{name: "a claimed flag is replaced too", op: SendAs, user: "bob", mailbox: "alice@example.org",
			grants: []grant{{"alice", "bob@example.org", SendAsRight}},
			extra:  []func(*Activity){withProp("SendWithoutGrant", "False")},
			want:   Decision{Outcome: Recorded, LogonType: Delegate}, wantOp: SendAs,
			props: "GrantRequired=SendAs GrantHeld=True GrantsHeld=SendAs", sendAs: "alice@example.org"},
		// A From that is no mailbox: on the sender's own mailbox, no
		// mailbox made for the address.
		{name: "SendAs of an address that is no mailbox", op: SendAs, user: "bob", mailbox: "ceo@bank.example", on: "bob@example.org",
			want: Decision{Outcome: Recorded, LogonType: Owner}, wantOp: Send,
			props: "GrantRequired=SendAs GrantHeld=False GrantsHeld=None FromIsMailbox=False SendWithoutGrant=True", sendAs: "ceo@bank.example"},
		{name: "on behalf of an address that is no mailbox", op: SendOnBehalf, user: "bob", mailbox: "ceo@bank.example", on: "bob@example.org",
			extra: []func(*Activity){withProp("HeaderSender", "bob@example.org")},
			want:  Decision{Outcome: Recorded, LogonType: Owner}, wantOp: Send,
			props: "GrantRequired=SendOnBehalf GrantHeld=False GrantsHeld=None SenderIsLogin=True FromIsMailbox=False SendWithoutGrant=True", onBehalf: "ceo@bank.example"},
		{name: "a foreign From naming a third account as Sender", op: SendOnBehalf, user: "bob", mailbox: "ceo@bank.example", on: "bob@example.org",
			extra: []func(*Activity){withProp("HeaderSender", "carol@example.org")},
			want:  Decision{Outcome: Recorded, LogonType: Owner}, wantOp: Send,
			props: "GrantRequired=SendOnBehalf GrantHeld=False GrantsHeld=None SenderIsLogin=False FromIsMailbox=False SendWithoutGrant=True", onBehalf: "ceo@bank.example"},
		{name: "a removed mailbox's address is no mailbox", op: SendAs, user: "bob", mailbox: "gone@example.org", on: "bob@example.org",
			want: Decision{Outcome: Recorded, LogonType: Owner}, wantOp: Send,
			props: "GrantRequired=SendAs GrantHeld=False GrantsHeld=None FromIsMailbox=False SendWithoutGrant=True", sendAs: "gone@example.org"},
		{name: "the owner's address the directory does not know", op: SendAs, user: "alice", mailbox: "alice@old.example", on: "alice@example.org",
			want: Decision{Outcome: Recorded, LogonType: Owner}, wantOp: Send,
			props: "GrantRequired=SendAs GrantHeld=False GrantsHeld=None FromIsMailbox=False SendWithoutGrant=True", sendAs: "alice@old.example"},
		{name: "a claimed FromIsMailbox is replaced", op: SendAs, user: "bob", mailbox: "shared@example.org",
			grants: []grant{{"shared", "bob@example.org", SendAsRight}},
			extra:  []func(*Activity){withProp("FromIsMailbox", "False"), withProp("SenderIsLogin", "False")},
			want:   Decision{Outcome: Recorded, LogonType: Delegate}, wantOp: SendAs,
			props: "GrantRequired=SendAs GrantHeld=True GrantsHeld=SendAs", sendAs: "shared@example.org"},
		{name: "a login with no mailbox sending as no mailbox gets one, the From none", op: SendAs, user: "svc-crm@example.org", mailbox: "noreply@bank.example", on: "svc-crm@example.org",
			want: Decision{Outcome: Recorded, LogonType: Owner}, wantOp: Send,
			props: "GrantRequired=SendAs GrantHeld=False GrantsHeld=None FromIsMailbox=False SendWithoutGrant=True", sendAs: "noreply@bank.example"},
		// The Sender header: the login, a third account, the From mailbox.
		{name: "on behalf, the Sender the login", op: SendOnBehalf, user: "bob", mailbox: "alice@example.org",
			grants: []grant{{"alice", "bob@example.org", SendOnBehalfRight}},
			extra:  []func(*Activity){withProp("HeaderSender", "builder@example.org")},
			want:   Decision{Outcome: Recorded, LogonType: Delegate}, wantOp: SendOnBehalf,
			props: "GrantRequired=SendOnBehalf GrantHeld=True GrantsHeld=SendOnBehalf SenderIsLogin=True", onBehalf: "alice@example.org"},
		{name: "on behalf, the Sender a third account, with the grant", op: SendOnBehalf, user: "bob", mailbox: "alice@example.org",
			grants: []grant{{"alice", "bob@example.org", SendOnBehalfRight}},
			extra:  []func(*Activity){withProp("HeaderSender", "carol@example.org")},
			want:   Decision{Outcome: Recorded, LogonType: Delegate}, wantOp: SendOnBehalf,
			props: "GrantRequired=SendOnBehalf GrantHeld=True GrantsHeld=SendOnBehalf SenderIsLogin=False SendWithoutGrant=True", onBehalf: "alice@example.org"},
		{name: "on behalf, the Sender an address of nobody", op: SendOnBehalf, user: "bob", mailbox: "alice@example.org",
			grants: []grant{{"alice", "bob@example.org", SendOnBehalfRight}},
			extra:  []func(*Activity){withProp("HeaderSender", "secretary@bank.example")},
			want:   Decision{Outcome: Recorded, LogonType: Delegate}, wantOp: SendOnBehalf,
			props: "GrantRequired=SendOnBehalf GrantHeld=True GrantsHeld=SendOnBehalf SenderIsLogin=False SendWithoutGrant=True", onBehalf: "alice@example.org"},
		{name: "a login with no mailbox named as Sender by its name", op: SendOnBehalf, user: "svc-crm", mailbox: "shared@example.org",
			grants: []grant{{"shared", "svc-crm", SendOnBehalfRight}},
			extra:  []func(*Activity){withProp("HeaderSender", "SVC-CRM")},
			want:   Decision{Outcome: Recorded, LogonType: Delegate}, wantOp: SendOnBehalf,
			props: "GrantRequired=SendOnBehalf GrantHeld=True GrantsHeld=SendOnBehalf SenderIsLogin=True", onBehalf: "shared@example.org"},
		{name: "the Sender another address of the From mailbox: a SendAs", op: SendOnBehalf, user: "bob", mailbox: "alice@example.org",
			grants: []grant{{"alice", "bob@example.org", SendOnBehalfRight}},
			extra:  []func(*Activity){withProp("HeaderSender", "a.liddell@example.org")},
			want:   Decision{Outcome: Recorded, LogonType: Delegate}, wantOp: SendAs,
			props: "GrantRequired=SendAs GrantHeld=False GrantsHeld=SendOnBehalf SendWithoutGrant=True", sendAs: "alice@example.org"},
		{name: "the owner naming a third account as Sender", op: SendOnBehalf, user: "alice", mailbox: "alice@example.org",
			extra: []func(*Activity){withProp("HeaderSender", "carol@example.org")},
			want:  Decision{Outcome: Recorded, LogonType: Owner}, wantOp: Send,
			props: "SenderIsLogin=False SendWithoutGrant=True"},
		{name: "the owner naming another of her addresses as Sender", op: SendOnBehalf, user: "alice", mailbox: "alice@example.org",
			extra: []func(*Activity){withProp("HeaderSender", "a.liddell@example.org")},
			want:  Decision{Outcome: Recorded, LogonType: Owner}, wantOp: Send},
		{name: "a Send reported as such by its owner is kept", op: Send, user: "alice", mailbox: "alice@example.org",
			want: Decision{Outcome: Recorded, LogonType: Owner}, wantOp: Send},
		{name: "a trusted Admin's SendAs keeps its grant check", op: SendAs, user: "admin", mailbox: "alice@example.org",
			extra: []func(*Activity){withSource("dovecot"), asAdmin},
			want:  Decision{Outcome: Recorded, LogonType: Admin}, wantOp: SendAs,
			props: "GrantRequired=SendAs GrantHeld=False GrantsHeld=None SendWithoutGrant=True", sendAs: "alice@example.org"},
		{name: "policy still decides: Delegate SendOnBehalf is not audited by default in exchange-2016",
			op: SendOnBehalf, user: "bob", mailbox: "alice@example.org", profile: "exchange-2016",
			want: Decision{Outcome: NotAudited, Reason: ReasonNotInList, LogonType: Delegate}},
		{name: "and the owner's Send is not valid in exchange-2016", op: SendAs, user: "alice", mailbox: "alice@example.org", profile: "exchange-2016",
			want: Decision{Outcome: NotAudited, Reason: ReasonNotInList, LogonType: Owner}},
		// The price of recording a foreign From as the owner's Send: where
		// the owner's Send cannot be audited, neither can it (docs/postfix.md).
		{name: "a foreign From follows the owner's Send: not valid in exchange-online-2019", op: SendAs, user: "bob", mailbox: "ceo@bank.example", profile: "exchange-online-2019",
			want: Decision{Outcome: NotAudited, Reason: ReasonNotInList, LogonType: Owner}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := stdDir(c.profile)
			gone := NewMailbox("gone@example.org", UserMailbox, t0.Add(-2*time.Hour))
			gone.WhenRemoved = t0.Add(-time.Hour)
			d.Add(gone)
			mailboxes := len(d.Mailboxes)
			for _, g := range c.grants {
				d.Permissions = append(d.Permissions, Permission{Mailbox: mustMailbox(t, d, g.mailbox).Guid, User: g.user, Rights: g.right, WhenCreated: t0})
			}
			e := NewEngine(d, NewVolume(), 0)
			a := act(t, c.op, c.user, c.mailbox, t0, append([]func(*Activity){from(c.mailbox)}, c.extra...)...)
			before := *a
			got := e.Decide(a)
			if got != c.want {
				t.Fatalf("decision %+v, want %+v", got, c.want)
			}
			if a.Operation != before.Operation || a.SendAsUserSmtp != before.SendAsUserSmtp || a.MailboxOwnerUPN != before.MailboxOwnerUPN ||
				len(a.OperationProperties) != len(before.OperationProperties) {
				t.Errorf("Decide changed the caller's activity: %+v", a)
			}
			var recs []*Record
			out := e.Take()
			for _, r := range out.Records {
				if r.RecordType != ExchangeAdmin {
					recs = append(recs, r)
				}
			}
			// The only mailbox a send may create is the login's own, never
			// one for the From address.
			for _, m := range out.NewMailboxes {
				if !strings.EqualFold(m.PrimarySmtpAddress, c.user) {
					t.Errorf("a mailbox was created for %s", m.PrimarySmtpAddress)
				}
			}
			if n := len(d.Mailboxes) - mailboxes; n != len(out.NewMailboxes) {
				t.Errorf("%d mailboxes added to the directory, %d reported", n, len(out.NewMailboxes))
			}
			if c.want.Outcome != Recorded {
				if len(recs) != 0 {
					t.Fatalf("records %+v, want none", recs)
				}
				return
			}
			if len(recs) != 1 {
				t.Fatalf("%d records, want 1", len(recs))
			}
			r := recs[0]
			on := c.on
			if on == "" {
				on = c.mailbox
			}
			if m := mustMailbox(t, d, on); r.MailboxGuid != m.Guid || r.MailboxOwnerUPN != m.PrimarySmtpAddress {
				t.Errorf("record on %s, want %s", r.MailboxOwnerUPN, m.PrimarySmtpAddress)
			}
			if r.Operation != c.wantOp.String() {
				t.Errorf("Operation %s, want %s", r.Operation, c.wantOp)
			}
			if got := grantProps(r); got != c.props {
				t.Errorf("properties %q, want %q", got, c.props)
			}
			if r.SendAsUserSmtp != c.sendAs || r.SendOnBehalfOfUserSmtp != c.onBehalf {
				t.Errorf("SendAsUserSmtp %q, SendOnBehalfOfUserSmtp %q; want %q, %q", r.SendAsUserSmtp, r.SendOnBehalfOfUserSmtp, c.sendAs, c.onBehalf)
			}
			if r.RecordType != ExchangeItem || r.Item == nil || r.Item.InternetMessageId != "<m1@example.org>" {
				t.Errorf("record type %d, item %+v: want an item record with the message", r.RecordType, r.Item)
			}
			for _, p := range r.OperationProperties {
				if p.Name == "QueueId" && p.Value != "4Xq" {
					t.Errorf("the source's own property changed: %+v", p)
				}
			}
		})
	}
}

// grantProps prints the engine's send properties a record carries, in order.
func grantProps(r *Record) string {
	var out []string
	for _, p := range r.OperationProperties {
		if slices.Contains(engineSendProps, p.Name) {
			out = append(out, p.Name+"="+p.Value)
		}
	}
	return strings.Join(out, " ")
}

// A grant taken back stops counting at once: the directory is read at each
// decision, not cached.
func TestDecideSendGrantRevoked(t *testing.T) {
	d := stdDir("")
	alice := mustMailbox(t, d, "alice")
	d.Permissions = []Permission{{Mailbox: alice.Guid, User: "bob@example.org", Rights: SendAsRight, WhenCreated: t0}}
	e := NewEngine(d, NewVolume(), 0)
	e.Decide(act(t, SendAs, "bob", "alice", t0))
	d.Permissions = nil
	e.Decide(act(t, SendAs, "bob", "alice", t0.Add(1)))
	recs := e.Take().Records
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2", len(recs))
	}
	if a, b := grantProps(recs[0]), grantProps(recs[1]); !strings.Contains(a, "GrantHeld=True") || !strings.Contains(b, "GrantHeld=False") {
		t.Errorf("before and after revoking: %q, %q", a, b)
	}
}

func TestDirectoryGrants(t *testing.T) {
	d := stdDir("")
	alice, bob := mustMailbox(t, d, "alice"), mustMailbox(t, d, "bob")
	d.Permissions = []Permission{
		{Mailbox: alice.Guid, User: "bob@example.org", Rights: SendOnBehalfRight},
		{Mailbox: alice.Guid, User: "BOB@example.org", Rights: FullAccess},
		{Mailbox: alice.Guid, User: "svc", Rights: SendAsRight},
		{Mailbox: bob.Guid, User: "svc", Rights: FullAccess},
	}
	for _, c := range []struct {
		user  string
		actor *Mailbox
		on    *Mailbox
		want  string
	}{
		{"bob", bob, alice, "FullAccess,SendOnBehalf"},
		{"bob", nil, alice, ""}, // a login that resolves to no mailbox matches by name only
		{"svc", nil, alice, "SendAs"},
		{"svc", nil, bob, "FullAccess"},
		{"carol", nil, alice, ""},
	} {
		var names []string
		for _, g := range d.Grants(c.on, c.user, c.actor) {
			names = append(names, string(g))
		}
		if got := strings.Join(names, ","); got != c.want {
			t.Errorf("grants of %s on %s: %q, want %q", c.user, c.on.PrimarySmtpAddress, got, c.want)
		}
	}
}
