package audit

import (
	"strings"
)

// Sending as someone else. A source that watches submissions (the Postfix
// milter) reports what the headers say: SendAs when From names a mailbox and
// there is no Sender, SendOnBehalf when a Sender names someone else. It
// cannot tell whether the login owns the From address; the directory can, so
// the engine settles it here: a "SendAs" by the mailbox's own account is a
// Send, and for a real SendAs or SendOnBehalf the engine records whether the
// account held the grant, and flags the send when it did not.

// The OperationProperties the engine sets on SendAs and SendOnBehalf records.
// Values a source sent under these names are replaced: a client must not be
// able to claim a grant.
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
	// PropSendWithoutGrant is set to True, and only set, when the grant was
	// not held: the flag an investigator searches for.
	PropSendWithoutGrant = "SendWithoutGrant"
)

// settleSend returns the activity with the operation it really is: a SendAs
// or SendOnBehalf by the account that owns the mailbox is that owner's Send
// (the source saw the From address, not who owns it). The caller's activity
// is not changed.
func settleSend(a *Activity, mbx, actor *Mailbox) *Activity {
	if (a.Operation != SendAs && a.Operation != SendOnBehalf) || actor == nil || actor != mbx {
		return a
	}
	c := *a
	c.Operation = Send
	c.SendAsUserSmtp, c.SendOnBehalfOfUserSmtp = "", ""
	return &c
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

// checkGrant records on a SendAs or SendOnBehalf record whether the account
// held the matching grant. Only the grant of the same name matches: as in
// Exchange, FullAccess lets a delegate read a mailbox but not send as it, and
// SendAs does not make a message "on behalf of" legitimate. Every grant held
// is listed, so an investigator sees FullAccess where it is the explanation.
func (e *Engine) checkGrant(r *Record, a *Activity, mbx, actor *Mailbox) {
	var need AccessRight
	switch a.Operation {
	case SendAs:
		need = SendAsRight
	case SendOnBehalf:
		need = SendOnBehalfRight
	default:
		return
	}
	held := e.Dir.Grants(mbx, a.UserId, actor)
	ok := false
	names := make([]string, len(held))
	for i, g := range held {
		names[i] = string(g)
		ok = ok || g == need
	}
	list := strings.Join(names, ",")
	if list == "" {
		list = "None"
	}
	// A source's claims go; the engine's answer comes in a fixed order.
	for _, name := range []string{PropGrantRequired, PropGrantHeld, PropGrantsHeld, PropSendWithoutGrant} {
		removeProperty(r, name)
	}
	setProperty(r, PropGrantRequired, string(need))
	setProperty(r, PropGrantHeld, boolName(ok))
	setProperty(r, PropGrantsHeld, list)
	if !ok {
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
