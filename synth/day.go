package synth

import (
	"time"

	"github.com/mailaudit/mailaudit/audit"
)

// The people of the demo organisation.
const (
	CEO       = "alice@example.org"
	Assistant = "bob@example.org"
	Finance   = "carol@example.org"
	Shared    = "finance@example.org"
	ITAdmin   = "dave@example.org"
	Backup    = "svc-backup"
	// AttackerIP is where a stolen password of the CEO is used from.
	AttackerIP = "203.0.113.66"
)

// Day is a working day of the demo organisation starting at day (midnight
// UTC): owners reading and filing mail, the CEO's assistant working in her
// mailbox, finance using its shared mailbox, an administrator reading a
// mailbox through a master-user login, a backup service account touching
// everything, and, at night, the CEO's password used from an unknown address
// to read mail and add a forwarding rule.
func (g *Gen) Day(day time.Time, fn func(*audit.Activity)) {
	at := func(h, m int) time.Time { return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	work := func(s *Session, from time.Time, n int, ops ...audit.Operation) {
		t := from
		fn(g.Activity(s, t, audit.MailboxLogin))
		for i := 0; i < n; i++ {
			t = t.Add(time.Duration(20+g.r.IntN(200)) * time.Second)
			op := g.Op()
			if len(ops) > 0 {
				op = ops[g.r.IntN(len(ops))]
			}
			fn(g.Activity(s, t, op))
		}
	}
	for _, owner := range []string{CEO, Assistant, Finance, ITAdmin} {
		work(g.NewSession(owner, owner), at(8, g.r.IntN(50)), 60)
		work(g.NewSession(owner, owner), at(13, g.r.IntN(50)), 40)
	}
	// The assistant in the CEO's mailbox: reading, filing, deleting, sending as her.
	work(g.NewSession(Assistant, CEO), at(9, 15), 25, audit.FolderBind, audit.MailItemsAccessed, audit.Move,
		audit.MoveToDeletedItems, audit.SoftDelete, audit.Update, audit.SendAs)
	// Finance in its shared mailbox.
	work(g.NewSession(Finance, Shared), at(10, 5), 30, audit.FolderBind, audit.MailItemsAccessed, audit.SendAs,
		audit.Create, audit.Update, audit.HardDelete)
	// An administrator reads the CEO's mail through a master-user login.
	admin := g.NewSession(ITAdmin, CEO)
	admin.Hint = "Admin"
	work(admin, at(11, 40), 8, audit.FolderBind, audit.MailItemsAccessed, audit.Copy)
	// The backup account touches every mailbox at night; it is bypassed.
	for _, m := range []string{CEO, Assistant, Finance, ITAdmin, Shared} {
		work(g.NewSession(Backup, m), at(2, 0), 20, audit.FolderBind, audit.MailItemsAccessed)
	}
	// The CEO's password, used at night from an unknown address.
	thief := g.NewSession(CEO, CEO)
	thief.IP, thief.Client = AttackerIP, "Client=IMAP4;name=python-imaplib"
	work(thief, at(3, 12), 30, audit.MailItemsAccessed, audit.SearchQueryInitiated)
	fn(g.Activity(thief, at(3, 41), audit.UpdateInboxRules))
	fn(g.Activity(thief, at(3, 42), audit.MoveToDeletedItems))
}
