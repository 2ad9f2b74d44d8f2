package milter

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mailaudit/mailaudit/audit"
)

var at = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func TestActivity(t *testing.T) {
	base := func() *Message {
		return &Message{At: at, Login: "bob", AuthType: "PLAIN", ClientAddr: "192.0.2.7", QueueId: "4Xq9Lk1", Server: "mx.example.org",
			EnvelopeFrom: "bob@example.org", Recipients: []string{"carol@example.net"},
			From: "Bob <bob@example.org>", MessageId: "<m1@example.org>", Subject: "Hello", Size: 812}
	}
	cases := []struct {
		name     string
		edit     func(*Message)
		hostname string
		err      error

		op       audit.Operation
		mailbox  string
		sendAs   string
		onBehalf string
		props    string // OperationProperties as Name=Value, space-separated
		check    func(*testing.T, *audit.Activity)
	}{
		{name: "From is the login's own address: SendAs, which the engine makes a Send",
			op: audit.SendAs, mailbox: "bob@example.org", sendAs: "bob@example.org",
			props: "QueueId=4Xq9Lk1 EnvelopeFrom=bob@example.org HeaderFrom=bob@example.org Recipients=carol@example.net RecipientCount=1 AuthMethod=PLAIN"},
		{name: "From another mailbox, no Sender: SendAs",
			edit: func(m *Message) { m.From = `"Alice Liddell" <alice@example.org>` },
			op:   audit.SendAs, mailbox: "alice@example.org", sendAs: "alice@example.org",
			props: "QueueId=4Xq9Lk1 EnvelopeFrom=bob@example.org HeaderFrom=alice@example.org Recipients=carol@example.net RecipientCount=1 AuthMethod=PLAIN"},
		{name: "Sender names the login, From another: SendOnBehalf",
			edit: func(m *Message) { m.From, m.Sender = "alice@example.org", "Bob <bob@example.org>" },
			op:   audit.SendOnBehalf, mailbox: "alice@example.org", onBehalf: "alice@example.org",
			props: "QueueId=4Xq9Lk1 EnvelopeFrom=bob@example.org HeaderFrom=alice@example.org HeaderSender=bob@example.org Recipients=carol@example.net RecipientCount=1 AuthMethod=PLAIN"},
		{name: "a Sender equal to From (any case) is no on-behalf",
			edit: func(m *Message) { m.From, m.Sender = "alice@example.org", "ALICE@example.org" },
			op:   audit.SendAs, mailbox: "alice@example.org", sendAs: "alice@example.org"},
		{name: "a Sender naming a third account is still on behalf of From",
			edit: func(m *Message) { m.From, m.Sender = "alice@example.org", "carol@example.org" },
			op:   audit.SendOnBehalf, mailbox: "alice@example.org", onBehalf: "alice@example.org"},
		{name: "several From addresses: the first is the mailbox",
			edit: func(m *Message) { m.From = "alice@example.org, carol@example.org" },
			op:   audit.SendAs, mailbox: "alice@example.org", sendAs: "alice@example.org"},
		{name: "no From header: the envelope sender",
			edit: func(m *Message) { m.From, m.EnvelopeFrom = "", "shared@example.org" },
			op:   audit.SendAs, mailbox: "shared@example.org", sendAs: "shared@example.org"},
		{name: "no From and a null sender: the login itself",
			edit: func(m *Message) { m.From, m.EnvelopeFrom = "", "" },
			op:   audit.SendAs, mailbox: "bob", sendAs: "bob"},
		{name: "a From net/mail refuses is read leniently",
			edit: func(m *Message) { m.From = "Alice Liddell, Esq. <alice@example.org>" },
			op:   audit.SendAs, mailbox: "alice@example.org", sendAs: "alice@example.org"},
		{name: "a bare-word From with an @ in it",
			edit: func(m *Message) { m.From = "alice@example.org (Alice" },
			op:   audit.SendAs, mailbox: "alice@example.org", sendAs: "alice@example.org"},
		{name: "unauthenticated mail is not audited",
			edit: func(m *Message) { m.Login = "" }, err: ErrUnauthenticated},
		{name: "a configured hostname is the OriginatingServer", hostname: "mail1.example.org",
			op: audit.SendAs, mailbox: "bob@example.org", sendAs: "bob@example.org",
			check: func(t *testing.T, a *audit.Activity) {
				if a.OriginatingServer != "mail1.example.org" {
					t.Errorf("OriginatingServer %q", a.OriginatingServer)
				}
			}},
		{name: "the item, the client and the time",
			op: audit.SendAs, mailbox: "bob@example.org", sendAs: "bob@example.org",
			check: func(t *testing.T, a *audit.Activity) {
				want := audit.Item{InternetMessageId: "<m1@example.org>", Subject: "Hello", SizeInBytes: 812}
				if len(a.Items) != 1 || a.Items[0].InternetMessageId != want.InternetMessageId || a.Items[0].Subject != want.Subject || a.Items[0].SizeInBytes != want.SizeInBytes {
					t.Errorf("items %+v, want [%+v]", a.Items, want)
				}
				if a.Source != "postfix" || a.SourceEventId != "4Xq9Lk1" || a.UserId != "bob" || a.ClientIPAddress != "192.0.2.7" ||
					a.ClientInfoString != "Client=SMTP" || a.OriginatingServer != "mx.example.org" || !a.CreationTime.Equal(at) {
					t.Errorf("activity %+v", a)
				}
			}},
		{name: "an encoded subject is decoded",
			edit: func(m *Message) { m.Subject = "=?UTF-8?B?R3LDvMOfZQ==?= =?UTF-8?Q?aus_K=C3=B6ln?=" },
			op:   audit.SendAs, mailbox: "bob@example.org", sendAs: "bob@example.org",
			check: func(t *testing.T, a *audit.Activity) {
				if a.Items[0].Subject != "Grüßeaus Köln" {
					t.Errorf("subject %q", a.Items[0].Subject)
				}
			}},
		{name: "a subject that is not valid RFC 2047 is kept as sent",
			edit: func(m *Message) { m.Subject = "=?x-unknown?Q?abc?=" },
			op:   audit.SendAs, mailbox: "bob@example.org", sendAs: "bob@example.org",
			check: func(t *testing.T, a *audit.Activity) {
				if a.Items[0].Subject != "=?x-unknown?Q?abc?=" {
					t.Errorf("subject %q", a.Items[0].Subject)
				}
			}},
		{name: "without a queue id the activity still has a unique id",
			edit: func(m *Message) { m.QueueId = "" },
			op:   audit.SendAs, mailbox: "bob@example.org", sendAs: "bob@example.org",
			check: func(t *testing.T, a *audit.Activity) {
				if !strings.HasPrefix(a.SourceEventId, "noqueueid-") || len(a.SourceEventId) < 20 {
					t.Errorf("SourceEventId %q", a.SourceEventId)
				}
			}},
		{name: "a long recipient list is cut, its count is not",
			edit: func(m *Message) {
				m.Recipients = nil
				for i := range 150 {
					m.Recipients = append(m.Recipients, fmt.Sprintf("r%d@example.net", i))
				}
			},
			op: audit.SendAs, mailbox: "bob@example.org", sendAs: "bob@example.org",
			check: func(t *testing.T, a *audit.Activity) {
				r := a.Property("Recipients")
				if n := strings.Count(r, "@"); n != maxRecipients || !strings.HasSuffix(r, ",…") || a.Property("RecipientCount") != "150" {
					t.Errorf("%d recipients listed (%q…), count %s", n, r[:40], a.Property("RecipientCount"))
				}
			}},
		{name: "a huge subject is clipped at a character boundary",
			edit: func(m *Message) { m.Subject = strings.Repeat("é", maxField) },
			op:   audit.SendAs, mailbox: "bob@example.org", sendAs: "bob@example.org",
			check: func(t *testing.T, a *audit.Activity) {
				s := a.Items[0].Subject
				if len(s) > maxField+len("…") || !strings.HasSuffix(s, "…") || !strings.HasPrefix(s, "éé") || strings.ContainsRune(s, '\uFFFD') {
					t.Errorf("subject of %d bytes", len(s))
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := base()
			if c.edit != nil {
				c.edit(m)
			}
			a, err := Activity(m, c.hostname)
			if c.err != nil || err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("error %v, want %v", err, c.err)
				}
				return
			}
			if a.Operation != c.op || a.MailboxOwnerUPN != c.mailbox || a.SendAsUserSmtp != c.sendAs || a.SendOnBehalfOfUserSmtp != c.onBehalf {
				t.Errorf("%s of %s (SendAs %q, on behalf of %q); want %s of %s (%q, %q)",
					a.Operation, a.MailboxOwnerUPN, a.SendAsUserSmtp, a.SendOnBehalfOfUserSmtp, c.op, c.mailbox, c.sendAs, c.onBehalf)
			}
			if c.props != "" {
				var got []string
				for _, p := range a.OperationProperties {
					got = append(got, p.Name+"="+p.Value)
				}
				if g := strings.Join(got, " "); g != c.props {
					t.Errorf("properties\n %s\nwant\n %s", g, c.props)
				}
			}
			if c.check != nil {
				c.check(t, a)
			}
			// What goes to the spool must come back as the same activity.
			if err := a.Validate(); err != nil {
				t.Errorf("invalid activity: %v", err)
			}
		})
	}
}
