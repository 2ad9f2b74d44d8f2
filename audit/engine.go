package audit

import (
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// The windows of the volume controls (policy.md, "Volume controls").
const (
	folderBindWindow = 24 * time.Hour
	aggregateWindow  = 2 * time.Minute
	itemDedupWindow  = time.Hour
	throttlePeriod   = 24 * time.Hour
)

// Outcome is what the engine did with one activity.
type Outcome uint8

// Outcomes of Decide.
const (
	// Recorded: the activity made a new record.
	Recorded Outcome = iota
	// Aggregated: the activity was counted into a record (an open
	// MailItemsAccessed aggregate, or an earlier delegate FolderBind).
	Aggregated
	// NotAudited: policy says not to record it; Decision.Reason says why.
	NotAudited
)

// Reasons an activity is not audited, as the ingest report prints them.
const (
	ReasonAuditDisabled  = "organisation auditing disabled"
	ReasonBypassed       = "actor bypassed"
	ReasonMailboxOff     = "mailbox auditing not enabled"
	ReasonNotInList      = "operation not audited for the logon type"
	ReasonThrottled      = "MailItemsAccessed throttled"
	ReasonItemSeen       = "item already bound within the hour"
	ReasonSessionLogged  = "login already recorded for the session"
	ReasonMailboxUnknown = "mailbox identity ambiguous"
)

// Decision is the engine's verdict on one activity.
type Decision struct {
	Outcome   Outcome
	Reason    string
	LogonType LogonType
}

// Remember reports whether the activity's key must be kept, so that a
// re-delivery is not decided again: true for everything that changed the log
// or the volume state, and for the refusals that depended on that state.
// Policy refusals depend only on the directory and are simply decided again.
func (d Decision) Remember() bool {
	switch d.Outcome {
	case Recorded, Aggregated:
		return true
	}
	switch d.Reason {
	case ReasonThrottled, ReasonItemSeen, ReasonSessionLogged:
		return true
	}
	return false
}

// Output is what a run of decisions produced, for the store to commit in one
// transaction: records in sequence order, delegate FolderBind counts by
// record sequence number, mailboxes first seen, and volume-state changes.
type Output struct {
	Records      []*Record
	Counts       map[int64]int
	NewMailboxes []*Mailbox
	Volume       []VolumeEntry
}

// Engine turns activity into audit records under the directory's policy. It
// does no I/O and reads no clock: time is the activity's. It is not safe for
// concurrent use.
type Engine struct {
	Dir *Directory
	Vol *Volume
	// Seq is the last sequence number assigned.
	Seq int64
	// Clock is the latest time seen; windows end by it.
	Clock time.Time
	// latest is the latest activity's time. Volume state is let go of by it
	// rather than by Clock (Volume.prune), and the throttles count the
	// records of the day before it, as Volume.Recount rebuilds them.
	latest time.Time

	out Output
}

// NewEngine makes an engine over a directory and volume state, continuing
// after sequence number seq.
func NewEngine(dir *Directory, vol *Volume, seq int64) *Engine {
	return &Engine{Dir: dir, Vol: vol, Seq: seq}
}

// Decide classifies one valid activity and applies policy and the volume
// controls to it.
func (e *Engine) Decide(a *Activity) Decision {
	t := a.CreationTime.UTC()
	if t.After(e.Clock) {
		e.Clock = t
	}
	if t.After(e.latest) {
		e.latest = t
	}
	// A send's From is the sender's claim: an address that names no
	// mailbox makes none (send.go).
	a, foreign := e.foreignSend(a)
	mbx, d, ok := e.mailbox(a, t)
	if !ok {
		return d
	}
	org := e.Dir.Org
	if org.AuditDisabled {
		return Decision{Outcome: NotAudited, Reason: ReasonAuditDisabled}
	}
	var actor *Mailbox
	if ms := e.Dir.Lookup(a.UserId); len(ms) == 1 {
		actor = ms[0]
	}
	a, sc := e.settleSend(a, mbx, actor, foreign)
	lt := e.logonType(a, mbx, actor)
	if e.Dir.Bypassed(a.UserId, actor) {
		return Decision{Outcome: NotAudited, Reason: ReasonBypassed, LogonType: lt}
	}
	p := e.Dir.Profile()
	if !p.OnByDefault && !mbx.AuditEnabled {
		return Decision{Outcome: NotAudited, Reason: ReasonMailboxOff, LogonType: lt}
	}
	if olderBind(a, p.ValidFor(mbx.Type, lt)) {
		return e.messageBinds(a, mbx, actor, lt)
	}
	if !(mbx.List(p, lt) & p.ValidFor(mbx.Type, lt)).Has(a.Operation) {
		return Decision{Outcome: NotAudited, Reason: ReasonNotInList, LogonType: lt}
	}
	r := e.record(a, mbx, actor, lt)
	e.checkSend(r, a, mbx, actor, sc)
	switch {
	case a.Operation == MailboxLogin && a.SessionId != "":
		key := mbx.Guid.String() + "|" + a.SessionId
		if at, ok := e.Vol.logins[key]; ok && t.Before(at.Add(24*time.Hour)) {
			return Decision{Outcome: NotAudited, Reason: ReasonSessionLogged, LogonType: lt}
		}
		e.Vol.logins[key] = t
		e.Vol.touch("login", key)
	case a.Operation == FolderBind && lt == Delegate:
		return e.folderBind(r, t)
	case a.Operation == MailItemsAccessed:
		if strings.EqualFold(a.Property("MailAccessType"), "Sync") {
			setProperty(r, "MailAccessType", "Sync")
			setProperty(r, "IsThrottled", "False")
			e.countAccess(mbx.Guid, t)
			break
		}
		return e.bind(r, mbx, t)
	}
	e.emit(r)
	return Decision{Outcome: Recorded, LogonType: lt}
}

// mailbox resolves the mailbox acted on, creating it with the profile's
// defaults when it is new, so that new mailboxes are audited from the start.
func (e *Engine) mailbox(a *Activity, t time.Time) (*Mailbox, Decision, bool) {
	switch ms := e.Dir.Lookup(a.MailboxOwnerUPN); len(ms) {
	case 1:
		return ms[0], Decision{}, true
	case 0:
		m := NewMailbox(strings.TrimSpace(a.MailboxOwnerUPN), UserMailbox, t)
		e.Dir.Add(m)
		e.out.NewMailboxes = append(e.out.NewMailboxes, m)
		// A directory change like any other: it is recorded.
		e.emit(&Record{
			RecordType: ExchangeAdmin, CreationTime: t, Operation: "New-Mailbox", ResultStatus: "True",
			UserId: "mailaudit", UserKey: "mailaudit", UserType: UserTypeAdmin,
			MailboxGuid: m.Guid, MailboxOwnerUPN: m.PrimarySmtpAddress, ObjectId: m.PrimarySmtpAddress,
			Parameters: []NameValue{{Name: "PrimarySmtpAddress", Value: m.PrimarySmtpAddress},
				{Name: "RecipientTypeDetails", Value: string(m.Type)},
				{Name: "Reason", Value: "first seen in activity from " + a.Source}},
			Source: a.Source, SourceEventId: a.SourceEventId,
		})
		return m, Decision{}, true
	}
	return nil, Decision{Outcome: NotAudited, Reason: ReasonMailboxUnknown}, false
}

// logonType classifies the actor: Admin only on a trusted hint, Owner when the
// actor is the mailbox, Delegate for anyone else.
func (e *Engine) logonType(a *Activity, mbx, actor *Mailbox) LogonType {
	if strings.EqualFold(a.LogonTypeHint, "Admin") && containsFold(e.Dir.Org.AdminHintSources, a.Source) {
		return Admin
	}
	if actor == mbx {
		return Owner
	}
	return Delegate
}

func (e *Engine) record(a *Activity, mbx, actor *Mailbox, lt LogonType) *Record {
	r := &Record{
		RecordType:             recordTypeFor(a.Operation, len(a.Items)),
		CreationTime:           a.CreationTime.UTC(),
		Operation:              a.Operation.String(),
		ResultStatus:           a.ResultStatus,
		UserId:                 a.UserId,
		UserKey:                a.UserId,
		LogonType:              lt,
		LogonUserDisplayName:   a.UserId,
		ExternalAccess:         a.ExternalAccess,
		MailboxGuid:            mbx.Guid,
		MailboxOwnerUPN:        mbx.PrimarySmtpAddress,
		ClientIPAddress:        a.ClientIPAddress,
		ClientInfoString:       a.ClientInfoString,
		ClientProcessName:      a.ClientProcessName,
		ClientVersion:          a.ClientVersion,
		ClientMachineName:      a.ClientMachineName,
		SessionId:              a.SessionId,
		OriginatingServer:      a.OriginatingServer,
		SendAsUserSmtp:         a.SendAsUserSmtp,
		SendOnBehalfOfUserSmtp: a.SendOnBehalfOfUserSmtp,
		OperationProperties:    append([]NameValue(nil), a.OperationProperties...),
		Source:                 a.Source,
		SourceEventId:          a.SourceEventId,
	}
	if actor != nil {
		r.UserId = actor.UserPrincipalName()
		r.UserKey = actor.Guid.String()
		r.LogonUserDisplayName = actor.DisplayName
	}
	if lt == Admin {
		r.UserType = UserTypeAdmin
	}
	if a.DestMailboxOwnerUPN != "" {
		r.DestMailboxOwnerUPN = a.DestMailboxOwnerUPN
		if dest := e.Dir.Lookup(a.DestMailboxOwnerUPN); len(dest) == 1 {
			r.DestMailboxOwnerUPN = dest[0].PrimarySmtpAddress
			r.CrossMailboxOperation = dest[0] != mbx
			if r.CrossMailboxOperation {
				r.DestMailboxId = dest[0].Guid
			}
		} else {
			r.CrossMailboxOperation = !strings.EqualFold(a.DestMailboxOwnerUPN, mbx.PrimarySmtpAddress)
		}
	}
	folder := a.Folder
	if folder == nil && len(a.Items) > 0 && a.Items[0].ParentFolder != nil {
		folder = a.Items[0].ParentFolder
	}
	switch r.RecordType {
	case ExchangeItemAggregated:
		if folder == nil {
			folder = &Folder{}
		}
		r.Folders = []AggregatedFolder{{Id: folder.Id, Path: folder.Path, FolderItems: append([]Item{}, a.Items...)}}
		r.OperationCount = 1
	case ExchangeItemGroup:
		r.Folder, r.DestFolder = folder, a.DestFolder
		r.AffectedItems = append([]Item(nil), a.Items...)
	default:
		r.Folder, r.DestFolder = folder, a.DestFolder
		if len(a.Items) == 1 {
			it := a.Items[0]
			r.Item = &it
		}
	}
	switch {
	case len(a.Items) == 1 && a.Items[0].Id != "":
		r.ObjectId = a.Items[0].Id
	case folder != nil && folder.Path != "":
		r.ObjectId = folder.Path
	default:
		r.ObjectId = mbx.PrimarySmtpAddress
	}
	return r
}

// folderBind keeps one delegate FolderBind record per delegate, mailbox and
// folder per 24 hours and counts later binds into it.
func (e *Engine) folderBind(r *Record, t time.Time) Decision {
	key := r.MailboxGuid.String() + "|" + strings.ToLower(r.UserId) + "|" + folderPath(r.Folder)
	if w := e.Vol.folderBinds[key]; w != nil && !t.Before(w.Start) && t.Before(w.Start.Add(folderBindWindow)) {
		w.Count++
		if e.out.Counts == nil {
			e.out.Counts = map[int64]int{}
		}
		e.out.Counts[w.Seq] = w.Count
		e.Vol.touch("fb", key)
		return Decision{Outcome: Aggregated, LogonType: r.LogonType}
	}
	r.OperationCount = 1
	e.emit(r)
	e.Vol.folderBinds[key] = &bindWindow{Start: t, Seq: r.SequenceNumber, Count: 1}
	e.Vol.touch("fb", key)
	return Decision{Outcome: Recorded, LogonType: r.LogonType}
}

// bind aggregates MailItemsAccessed binds by context over two minutes, drops
// items bound again within the hour, and throttles busy mailboxes.
func (e *Engine) bind(r *Record, mbx *Mailbox, t time.Time) Decision {
	ctx := strings.Join([]string{mbx.Guid.String(), strings.ToLower(r.UserId), r.LogonType.String(),
		r.ClientIPAddress, r.ClientInfoString, r.SessionId, r.Folders[0].Path}, "|")
	lt := r.LogonType
	th := e.throttle(mbx.Guid, t)
	if t.Before(th.Until) {
		return Decision{Outcome: NotAudited, Reason: ReasonThrottled, LogonType: lt}
	}
	seen := e.Vol.seen[ctx]
	var fresh []Item
	for _, it := range r.Folders[0].FolderItems {
		k := itemKey(it)
		if at, ok := seen[k]; ok && !t.Before(at) && t.Before(at.Add(itemDedupWindow)) {
			continue
		}
		fresh = append(fresh, it)
	}
	if len(fresh) == 0 && len(r.Folders[0].FolderItems) > 0 {
		return Decision{Outcome: NotAudited, Reason: ReasonItemSeen, LogonType: lt}
	}
	if seen == nil {
		seen = map[string]time.Time{}
		e.Vol.seen[ctx] = seen
	}
	for _, it := range fresh {
		seen[itemKey(it)] = t
	}
	e.Vol.touch("seen", ctx)

	if ag := e.Vol.aggregates[ctx]; ag != nil {
		if !t.Before(ag.Start) && t.Before(ag.Start.Add(aggregateWindow)) {
			ag.Record.Folders[0].FolderItems = append(ag.Record.Folders[0].FolderItems, fresh...)
			ag.Record.OperationCount++
			ag.Record.ObjectId = aggregateObjectId(ag.Record)
			e.Vol.touch("ag", ctx)
			return Decision{Outcome: Aggregated, LogonType: lt}
		}
		e.seal(ctx)
	}
	r.Folders[0].FolderItems = fresh
	r.ObjectId = aggregateObjectId(r)
	setProperty(r, "MailAccessType", "Bind")
	if len(th.Times) >= e.throttleLimit() {
		// The mailbox has had its share: this record marks the start of 24
		// hours in which binds are not recorded.
		th.Until = t.Add(throttlePeriod)
		setProperty(r, "IsThrottled", "True")
		e.countAccess(mbx.Guid, t)
		e.emit(r)
		return Decision{Outcome: Recorded, LogonType: lt}
	}
	setProperty(r, "IsThrottled", "False")
	e.countAccess(mbx.Guid, t)
	e.Vol.aggregates[ctx] = &aggregate{Start: t, Record: r}
	e.Vol.touch("ag", ctx)
	return Decision{Outcome: Recorded, LogonType: lt}
}

// aggregateObjectId names what a Bind record covers, as record does for
// other records: its one item, else its folder, else the mailbox.
func aggregateObjectId(r *Record) string {
	f := r.Folders[0]
	switch {
	case len(f.FolderItems) == 1 && f.FolderItems[0].Id != "":
		return f.FolderItems[0].Id
	case f.Path != "":
		return f.Path
	}
	return r.MailboxOwnerUPN
}

func (e *Engine) throttleLimit() int {
	if n := e.Dir.Org.MailItemsAccessedThrottle; n > 0 {
		return n
	}
	return 1000
}

func (e *Engine) throttle(g uuid.UUID, t time.Time) *throttle {
	th := e.Vol.throttles[g]
	if th == nil {
		th = &throttle{}
		e.Vol.throttles[g] = th
	}
	th.prune(t)
	return th
}

// countAccess counts a MailItemsAccessed record towards the mailbox's throttle.
func (e *Engine) countAccess(g uuid.UUID, t time.Time) {
	th := e.throttle(g, t)
	th.Times = append(th.Times, t)
}

// seal appends an open aggregate to the output.
func (e *Engine) seal(ctx string) {
	ag := e.Vol.aggregates[ctx]
	delete(e.Vol.aggregates, ctx)
	e.Vol.touch("ag", ctx)
	e.emit(ag.Record)
}

// emit assigns the next sequence number and queues the record.
func (e *Engine) emit(r *Record) {
	e.Seq++
	r.SequenceNumber = e.Seq
	e.out.Records = append(e.out.Records, r)
}

// Advance moves the clock to now (if later), seals the aggregates whose
// window has ended by it and forgets state that can no longer matter to
// activity after the newest.
func (e *Engine) Advance(now time.Time) {
	if now.After(e.Clock) {
		e.Clock = now
	}
	type dueAggregate struct {
		ctx   string
		start time.Time
	}
	var due []dueAggregate
	for ctx, ag := range e.Vol.aggregates {
		if !e.Clock.Before(ag.Start.Add(aggregateWindow)) {
			due = append(due, dueAggregate{ctx, ag.Start})
		}
	}
	// Seal in time order so that sequence numbers follow the windows.
	slices.SortFunc(due, func(a, b dueAggregate) int {
		if c := a.start.Compare(b.start); c != 0 {
			return c
		}
		return strings.Compare(a.ctx, b.ctx)
	})
	for _, d := range due {
		e.seal(d.ctx)
	}
	e.Vol.prune(e.latest)
}

// Take returns and clears what the decisions since the last call produced.
func (e *Engine) Take() Output {
	out := e.out
	out.Volume = e.Vol.Changes()
	e.out = Output{}
	return out
}

func setProperty(r *Record, name, value string) {
	for i, p := range r.OperationProperties {
		if p.Name == name {
			r.OperationProperties[i].Value = value
			return
		}
	}
	r.OperationProperties = append(r.OperationProperties, NameValue{Name: name, Value: value})
}

func folderPath(f *Folder) string {
	if f == nil {
		return ""
	}
	return f.Path
}

func itemKey(it Item) string {
	if it.Id != "" {
		return it.Id
	}
	return it.InternetMessageId
}

// Append queues a record made outside Decide (an admin audit record),
// assigning it the next sequence number.
func (e *Engine) Append(r *Record) { e.emit(r) }
