// Package synth makes realistic, reproducible mailbox activity: a small
// organisation's day for the demo, and large workloads for the benchmarks.
// Everything comes from a seeded generator, so a run can be repeated exactly.
package synth

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/mailaudit/mailaudit/audit"
)

var subjects = []string{
	"Quarterly report draft", "Re: Budget 2027", "Board meeting minutes", "Invoice 48213 overdue",
	"Fwd: Contract renewal", "Lunch on Friday?", "Password reset request", "Re: Re: Project Atlas timeline",
	"Wire transfer confirmation", "Team offsite agenda", "Your payslip for October", "Security incident follow-up",
	"Re: Customer complaint #5521", "Travel booking confirmation", "Holiday rota", "NDA for review",
}

var clients = []string{
	"Client=IMAP4;name=Thunderbird;version=115.6.0",
	"Client=IMAP4;name=neomutt;version=20220429",
	"Client=IMAP4;name=iPhone Mail;version=21C66",
	"Client=IMAP4;name=Evolution;version=3.46.4",
}

var folders = []string{"/Inbox", "/Inbox", "/Inbox", "/Sent", "/Archive", "/Drafts", "/Projects/Atlas"}

// Gen produces activity from a seeded source.
type Gen struct {
	r      *rand.Rand
	seed   uint64
	n      int
	Source string
	Domain string
}

// New makes a generator; the same seed gives the same activity.
func New(seed uint64) *Gen {
	return &Gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), seed: seed, Source: "synth", Domain: "example.org"}
}

func (g *Gen) pick(list []string) string { return list[g.r.IntN(len(list))] }

func (g *Gen) session() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	b := make([]byte, 16)
	for i := range b {
		b[i] = alphabet[g.r.IntN(len(alphabet))]
	}
	return string(b)
}

func (g *Gen) item(folder string) audit.Item {
	uid := g.r.IntN(40000) + 1
	return audit.Item{
		Id:                fmt.Sprintf("%s:1795316229:%d", folder[1:], uid),
		InternetMessageId: fmt.Sprintf("<%08x.%04x@mail.%s>", g.r.Uint32(), g.r.IntN(1<<16), g.Domain),
		Subject:           g.pick(subjects),
		SizeInBytes:       int64(2000 + g.r.IntN(80000)),
	}
}

// Session is one client connection: who, from where, with what.
type Session struct {
	User, Mailbox string
	Id, IP        string
	Client        string
	Hint          string // "Admin" for a master-user login
}

// NewSession opens a session of user on mailbox.
func (g *Gen) NewSession(user, mailbox string) *Session {
	return &Session{User: user, Mailbox: mailbox, Id: g.session(),
		IP: fmt.Sprintf("198.51.100.%d", 1+g.r.IntN(250)), Client: g.pick(clients)}
}

// Activity makes one activity of a session.
func (g *Gen) Activity(s *Session, t time.Time, op audit.Operation) *audit.Activity {
	g.n++
	a := &audit.Activity{
		// Like a log position (file and offset), the shape sources use.
		SourceEventId:    fmt.Sprintf("%x:%d", g.seed%0xfffff, g.n*211),
		Source:           g.Source,
		CreationTime:     audit.Time{Time: t.UTC()},
		Operation:        op,
		UserId:           s.User,
		MailboxOwnerUPN:  s.Mailbox,
		ResultStatus:     audit.Succeeded,
		LogonTypeHint:    s.Hint,
		ClientIPAddress:  s.IP,
		ClientInfoString: s.Client,
		SessionId:        s.Id,
	}
	folder := g.pick(folders)
	switch op {
	case audit.MailboxLogin:
	case audit.FolderBind:
		a.Folder = &audit.Folder{Path: folder}
	case audit.SearchQueryInitiated:
		a.Folder = &audit.Folder{Path: folder}
		a.OperationProperties = []audit.NameValue{{Name: "SearchQuery", Value: "SUBJECT \"" + g.pick(subjects)[:6] + "\""}}
	case audit.MailItemsAccessed:
		a.Folder = &audit.Folder{Path: folder}
		a.Items = []audit.Item{g.item(folder)}
		a.OperationProperties = []audit.NameValue{{Name: "MailAccessType", Value: "Bind"}}
	case audit.Move, audit.Copy:
		a.Folder = &audit.Folder{Path: folder}
		a.DestFolder = &audit.Folder{Path: "/Archive"}
		a.Items = []audit.Item{g.item(folder)}
	case audit.MoveToDeletedItems:
		a.Folder = &audit.Folder{Path: folder}
		a.DestFolder = &audit.Folder{Path: "/Trash"}
		a.Items = []audit.Item{g.item(folder)}
	case audit.Send, audit.SendAs, audit.SendOnBehalf:
		it := g.item("/Sent")
		it.ParentFolder = &audit.Folder{Path: "/Sent"}
		a.Items = []audit.Item{it}
	case audit.UpdateInboxRules:
		a.OperationProperties = []audit.NameValue{{Name: "RuleName", Value: "roundcube"}, {Name: "RuleOperation", Value: "PUTSCRIPT"}}
	case audit.UpdateFolderPermissions:
		a.Folder = &audit.Folder{Path: folder}
		a.OperationProperties = []audit.NameValue{{Name: "Member", Value: "bob@" + g.Domain}, {Name: "Rights", Value: "lrs"}}
	default:
		a.Folder = &audit.Folder{Path: folder}
		n := 1 + g.r.IntN(3)
		for range n {
			a.Items = append(a.Items, g.item(folder))
		}
	}
	return a
}

// mix is the operation mix of ordinary mail use: mostly reading.
var mix = []struct {
	op     audit.Operation
	weight int
}{
	{audit.MailItemsAccessed, 55}, {audit.FolderBind, 12}, {audit.Update, 8}, {audit.SearchQueryInitiated, 4},
	{audit.MoveToDeletedItems, 5}, {audit.SoftDelete, 3}, {audit.HardDelete, 2}, {audit.Move, 4},
	{audit.Send, 4}, {audit.Create, 2}, {audit.Copy, 1},
}

// Op draws an operation from the mix of ordinary use.
func (g *Gen) Op() audit.Operation {
	n := g.r.IntN(100)
	for _, m := range mix {
		if n < m.weight {
			return m.op
		}
		n -= m.weight
	}
	return audit.MailItemsAccessed
}

// Workload streams n activities across mailboxes (user0000@…), spread evenly
// over days ending at end, in time order: the shape of a whole organisation's
// log. Most activity is owners' own; one in ten is a delegate's.
func (g *Gen) Workload(n, mailboxes, days int, end time.Time, fn func(*audit.Activity) error) error {
	start := end.Add(-time.Duration(days) * 24 * time.Hour)
	step := time.Duration(days) * 24 * time.Hour / time.Duration(n)
	sessions := make([]*Session, mailboxes)
	for i := 0; i < n; i++ {
		m := g.r.IntN(mailboxes)
		s := sessions[m]
		if s == nil || g.r.IntN(20) == 0 {
			owner := Address(m, g.Domain)
			user := owner
			if g.r.IntN(10) == 0 {
				user = Address(g.r.IntN(mailboxes), g.Domain)
			}
			s = g.NewSession(user, owner)
			sessions[m] = s
		}
		if err := fn(g.Activity(s, start.Add(time.Duration(i)*step), g.Op())); err != nil {
			return err
		}
	}
	return nil
}

// Address is the address of workload mailbox i.
func Address(i int, domain string) string { return fmt.Sprintf("user%05d@%s", i, domain) }
