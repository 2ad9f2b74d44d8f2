package audit

import "strings"

// olderBind reports whether a MailItemsAccessed activity is to be recorded in
// the form that came before it: a Bind (a read of message content) for a
// logon type the profile cannot audit for MailItemsAccessed. The profiles of
// Exchange before MailItemsAccessed (exchange-online-2019, exchange-2019,
// exchange-2016) record reads as MessageBind, which a source cannot know:
// sources report what was read, the profile decides how it is recorded. A
// Sync has no older form.
func olderBind(a *Activity, valid OpSet) bool {
	return a.Operation == MailItemsAccessed && !valid.Has(MailItemsAccessed) &&
		!strings.EqualFold(a.Property("MailAccessType"), "Sync")
}

// messageBinds records a read as MessageBind: one record per message opened,
// not aggregated, not de-duplicated, not throttled, as those profiles have
// it. A read that names no message is one record of its folder.
func (e *Engine) messageBinds(a *Activity, mbx, actor *Mailbox, lt LogonType) Decision {
	p := e.Dir.Profile()
	if !(mbx.List(p, lt) & p.ValidFor(mbx.Type, lt)).Has(MessageBind) {
		return Decision{Outcome: NotAudited, Reason: ReasonNotInList, LogonType: lt}
	}
	b := *a
	b.Operation = MessageBind
	// MailAccessType belongs to MailItemsAccessed records.
	b.OperationProperties = nil
	for _, nv := range a.OperationProperties {
		if !strings.EqualFold(nv.Name, "MailAccessType") {
			b.OperationProperties = append(b.OperationProperties, nv)
		}
	}
	if len(a.Items) == 0 {
		e.emit(e.record(&b, mbx, actor, lt))
	}
	for _, it := range a.Items {
		b.Items = []Item{it}
		e.emit(e.record(&b, mbx, actor, lt))
	}
	return Decision{Outcome: Recorded, LogonType: lt}
}
