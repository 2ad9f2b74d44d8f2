package audit

import (
	"strings"
)

// Sending as someone else. A source that watches submissions (the Postfix
// milter) reports what the headers say: SendAs when From names a mailbox and
// there is no Sender, SendOnBehalf when a Sender names someone else. It
// cannot tell whether the login owns the From address, whether the Sender is
// the login, or whether From is a mailbox at all; the directory can, so the
// engine settles it here:
//
//   - From names no mailbox of the directory (ceo@bank.example): the header
//     is the sender's claim, not a mailbox first seen, so no mailbox is
//     created for it. The send is recorded on the login's own mailbox, where
//     an investigator looks for what the account did, as the owner's Send
//     with the From kept in SendAsUserSmtp (SendOnBehalfOfUserSmtp), flagged
//     FromIsMailbox=False and SendWithoutGrant=True: nobody holds a grant on
//     an address the directory does not know.
//   - A SendOnBehalf whose Sender names the From mailbox itself makes no
//     on-behalf claim: it is a SendAs.
//   - A SendAs or SendOnBehalf by the mailbox's own account is a Send.
//   - For a real SendAs or SendOnBehalf the engine records whether the
//     account held the grant, and flags the send when it did not.
//   - A Sender header naming someone other than the login (a third account,
//     or an address of nobody) is a claim that someone else sent the
//     message: SenderIsLogin=False, flagged like a send without the grant,
//     since no grant lets an account send in another account's name.

// The OperationProperties the engine sets on send records. Values a source
// sent under these names are replaced: a client must not be able to claim a
// grant, or to clear a flag.
const (
	// PropGrantRequired names the grant the operation needs: SendAs or
	// SendOnBehalf.
	PropGrantRequired = "GrantRequired"
	// PropGrantHeld is True when the account held that grant on the
	// mailbox when the activity was decided, else False.
	PropGrantHeld = "GrantHeld"
	// PropGrantsHeld lists every grant the account held on the mailbox
	// (FullAccess,SendAs,SendOnBehalf), or None.
	PropGrantsHeld = "GrantsHeld"
	// PropSenderIsLogin, on a send whose Sender header names someone other
	// than the From mailbox, is True when the Sender is the login's account,
	// else False.
	PropSenderIsLogin = "SenderIsLogin"
	// PropFromIsMailbox is set to False, and only set, when From names no
	// mailbox of the directory.
	PropFromIsMailbox = "FromIsMailbox"
	// PropSendWithoutGrant is set to True, and only set, when no grant
	// covers what the message claims: the grant was not held, From is no
	// mailbox, or the Sender is not the login. It is the flag an
	// investigator searches for.
	PropSendWithoutGrant = "SendWithoutGrant"
)

// PropHeaderSender is the property a source reports the Sender header's
// address in (the milter does); the engine compares it with the login.
const PropHeaderSender = "HeaderSender"

// engineSendProps are the properties only the engine may set, in the order
// it sets them.
var engineSendProps = []string{PropGrantRequired, PropGrantHeld, PropGrantsHeld, PropSenderIsLogin, PropFromIsMailbox, PropSendWithoutGrant}

// sendCase is what the engine settled about a send before policy.
type sendCase struct {
	// need is the grant the send needs; "" for the owner's own Send.
	need AccessRight
	// foreign: From names no mailbox, and the send is on the login's own.
	foreign bool
}

func isSend(op Operation) bool { return op == Send || op == SendAs || op == SendOnBehalf }

// foreignSend returns, for a SendAs or SendOnBehalf whose mailbox (From)
// names no mailbox of the directory, a copy of the activity on the login's
// own mailbox; for any other activity, the activity itself. Only an unknown
// address is foreign: several matches are as ambiguous as for any activity.
func (e *Engine) foreignSend(a *Activity) (*Activity, bool) {
	if a.Operation != SendAs && a.Operation != SendOnBehalf || len(e.Dir.Lookup(a.MailboxOwnerUPN)) != 0 {
		return a, false
	}
	c := *a
	c.MailboxOwnerUPN = strings.TrimSpace(a.UserId)
	return &c, true
}

// settleSend returns the activity with the operation it really is, and what
// the send needs (see the top of the file). The caller's activity is not
// changed.
func (e *Engine) settleSend(a *Activity, mbx, actor *Mailbox, foreign bool) (*Activity, sendCase) {
	if a.Operation != SendAs && a.Operation != SendOnBehalf {
		return a, sendCase{}
	}
	c := *a
	need := SendAsRight
	if a.Operation == SendOnBehalf {
		need = SendOnBehalfRight
	}
	if foreign {
		// The owner's Send: the only send operation valid on one's own
		// mailbox. The From stays where the source put it.
		c.Operation = Send
		return &c, sendCase{need: need, foreign: true}
	}
	if c.Operation == SendOnBehalf && e.names(c.Property(PropHeaderSender), mbx) {
		c.Operation, need = SendAs, SendAsRight
		c.SendAsUserSmtp, c.SendOnBehalfOfUserSmtp = c.SendOnBehalfOfUserSmtp, ""
	}
	if actor != nil && actor == mbx {
		c.Operation = Send
		c.SendAsUserSmtp, c.SendOnBehalfOfUserSmtp = "", ""
		return &c, sendCase{}
	}
	return &c, sendCase{need: need}
}

// names reports whether an address names exactly the mailbox m.
func (e *Engine) names(addr string, m *Mailbox) bool {
	ms := e.Dir.Lookup(addr)
	return addr != "" && len(ms) == 1 && ms[0] == m
}

// Grants lists the rights an account holds on a mailbox, in the order
// FullAccess, SendAs, SendOnBehalf. A grant names its user by the user's
// primary address when the user has a mailbox (add-mailbox-permission
// stores it so), else by the account name: both are matched.
func (d *Directory) Grants(m *Mailbox, user string, actor *Mailbox) []AccessRight {
	var held [3]bool
	user = strings.TrimSpace(user)
	for _, p := range d.Permissions {
		if p.Mailbox != m.Guid {
			continue
		}
		if !strings.EqualFold(p.User, user) && (actor == nil || !strings.EqualFold(p.User, actor.PrimarySmtpAddress)) {
			continue
		}
		switch p.Rights {
		case FullAccess:
			held[0] = true
		case SendAsRight:
			held[1] = true
		case SendOnBehalfRight:
			held[2] = true
		}
	}
	var out []AccessRight
	for i, r := range []AccessRight{FullAccess, SendAsRight, SendOnBehalfRight} {
		if held[i] {
			out = append(out, r)
		}
	}
	return out
}

// checkSend sets the engine's properties on a send record. Only the grant of
// the operation's own name matches: as in Exchange, FullAccess lets a
// delegate read a mailbox but not send as it, and SendAs does not make a
// message "on behalf of" legitimate. Every grant held is listed, so an
// investigator sees FullAccess where it is the explanation.
func (e *Engine) checkSend(r *Record, a *Activity, mbx, actor *Mailbox, sc sendCase) {
	if !isSend(a.Operation) {
		return
	}
	// A source's claims go; the engine's answer comes in a fixed order.
	for _, name := range engineSendProps {
		removeProperty(r, name)
	}
	flag := false
	if sc.need != "" {
		held, list := false, "None"
		if !sc.foreign {
			grants := e.Dir.Grants(mbx, a.UserId, actor)
			names := make([]string, len(grants))
			for i, g := range grants {
				names[i] = string(g)
				held = held || g == sc.need
			}
			if len(names) > 0 {
				list = strings.Join(names, ",")
			}
		}
		setProperty(r, PropGrantRequired, string(sc.need))
		setProperty(r, PropGrantHeld, boolName(held))
		setProperty(r, PropGrantsHeld, list)
		flag = !held
	}
	// A Sender naming the From mailbox claims nothing (settleSend made it a
	// SendAs); with a foreign From there is no From mailbox to name.
	if sender := strings.TrimSpace(a.Property(PropHeaderSender)); sender != "" && (sc.foreign || !e.names(sender, mbx)) {
		isLogin := strings.EqualFold(sender, strings.TrimSpace(a.UserId)) || actor != nil && e.names(sender, actor)
		setProperty(r, PropSenderIsLogin, boolName(isLogin))
		flag = flag || !isLogin
	}
	if sc.foreign {
		setProperty(r, PropFromIsMailbox, "False")
	}
	if flag {
		setProperty(r, PropSendWithoutGrant, "True")
	}
}

func removeProperty(r *Record, name string) {
	props := r.OperationProperties[:0]
	for _, p := range r.OperationProperties {
		if !strings.EqualFold(p.Name, name) {
			props = append(props, p)
		}
	}
	r.OperationProperties = props
}
