package service

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/mailaudit/mailaudit/audit"
)

// The non-owner mailbox access report (get-non-owner-mailbox-access-report),
// after the Exchange admin center's "Run a non-owner mailbox access report":
// for a period (by default the last two weeks) and a set of mailboxes (by
// default all), which mailboxes were accessed by whom other than their
// owners, how often, with what, and the entries behind each line. Unlike the
// admin center's, it has no cap on mailboxes or entries.

// AccessType is the report's filter on who accessed a mailbox.
type AccessType string

// The admin center's access types. All are of non-owner logons (Admin,
// Delegate); the operator's staff (ExternalAccess) are External, and
// AllNonOwners includes them, the other two leave them out.
const (
	AllNonOwners               AccessType = "AllNonOwners"
	ExternalUsers              AccessType = "External"
	AdministratorsAndDelegates AccessType = "AdministratorsAndDelegates"
	Administrators             AccessType = "Administrators"
)

// accessTypes lists the access types with the admin center's wording.
var accessTypes = []struct {
	t     AccessType
	label string
}{
	{AllNonOwners, "All non-owners"},
	{ExternalUsers, "External users"},
	{AdministratorsAndDelegates, "Administrators and delegated users"},
	{Administrators, "Administrators"},
}

// Label is the admin center's wording of the access type.
func (t AccessType) Label() string {
	for _, a := range accessTypes {
		if a.t == t {
			return a.label
		}
	}
	return string(t)
}

func squash(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '_' {
			return -1
		}
		return r
	}, strings.ToLower(strings.TrimSpace(s)))
}

// ParseAccessType reads an access type by its name or the admin center's
// wording, case-insensitively and ignoring spaces and hyphens; "" is
// AllNonOwners.
func ParseAccessType(s string) (AccessType, error) {
	if strings.TrimSpace(s) == "" {
		return AllNonOwners, nil
	}
	k := squash(s)
	for _, a := range accessTypes {
		if k == squash(string(a.t)) || k == squash(a.label) {
			return a.t, nil
		}
	}
	if k == "administratorsanddelegates" || k == "adminsanddelegates" {
		return AdministratorsAndDelegates, nil
	}
	return "", audit.Errorf(audit.EInvalid, "Unknown access type '%s'. Access types are AllNonOwners (All non-owners), External (External users), "+
		"AdministratorsAndDelegates (Administrators and delegated users) and Administrators.", s)
}

// NonOwnerReportDays is the report's default period: the admin center's
// "past two weeks".
const NonOwnerReportDays = 14

// NonOwnerWindow reads the report's period: by default the last two weeks,
// ending now.
func NonOwnerWindow(start, end string, now time.Time) (time.Time, time.Time, error) {
	e := now
	var err error
	if end != "" {
		if e, err = ParseWhen(end, now); err != nil {
			return time.Time{}, time.Time{}, err
		}
	}
	s := e.Add(-NonOwnerReportDays * 24 * time.Hour)
	if start != "" {
		if s, err = ParseWhen(start, now); err != nil {
			return time.Time{}, time.Time{}, err
		}
	}
	return s, e, nil
}

// NonOwnerReportSpec is the report's question.
type NonOwnerReportSpec struct {
	// Start and End bound the period (End exclusive); a zero End is now and
	// a zero Start two weeks before End.
	Start, End time.Time
	// Mailboxes are the mailboxes to report on; none means all.
	Mailboxes []string
	// AccessType is an AccessType's name or the admin center's wording; ""
	// is AllNonOwners.
	AccessType string
	// Entries keeps the entries behind each line (--show-details, the JSON
	// and CSV outputs); without it the report has the lines only.
	Entries bool
	// SortBy orders the lines: accesses (most first; the default), mailbox,
	// actor or last (most recent first).
	SortBy string
}

// NonOwnerReport answers the question: which mailboxes were accessed by
// which non-owners in the period. It is also the HTTP API's answer.
type NonOwnerReport struct {
	Start, End time.Time
	AccessType AccessType
	// AccessTypeLabel is the admin center's wording of AccessType.
	AccessTypeLabel string
	// Mailboxes are the mailboxes asked about; empty means all.
	Mailboxes []string
	// MailboxesAccessed and NonOwners count the distinct mailboxes and
	// accounts of the lines; Accesses the operations (an aggregated entry,
	// such as MailItemsAccessed's, counts each it stands for), Entries the
	// audit records.
	MailboxesAccessed int
	NonOwners         int
	Accesses          int
	Entries           int
	Lines             []*NonOwnerLine
}

// NonOwnerLine is one mailbox accessed by one account with one logon type.
type NonOwnerLine struct {
	Mailbox     string
	MailboxGuid uuid.UUID
	MailboxType string
	AccessedBy  string
	// LogonType is Admin or Delegate (Owner only for the operator's staff
	// acting on their own mailbox); ExternalAccess marks the operator's staff.
	LogonType      string
	ExternalAccess bool
	// Accesses counts operations, EntryCount the entries behind the line,
	// Failed those that did not succeed.
	Accesses          int
	EntryCount        int
	Failed            int
	First, Last       time.Time
	Operations        []OperationCount
	ClientIPAddresses []string
	ClientInfoStrings []string
	// Entries are the audit records behind the line, oldest first, when
	// the report was asked for them.
	Entries []*NonOwnerEntry `json:",omitempty"`

	ips, clients map[string]int
	ops          map[string]*OperationCount
}

// OperationCount is how often one operation was done.
type OperationCount struct {
	Operation string
	// Action is the admin center's label of the operation ("Open Folder"
	// for FolderBind), else the operation's name.
	Action string
	Count  int
}

// NonOwnerEntry is one audit record behind a line: who, when, what, on
// which folder and messages, and whether it succeeded.
type NonOwnerEntry struct {
	Id             string
	LastAccessed   time.Time
	AccessedBy     string
	LogonType      string
	ExternalAccess bool
	Operation      string
	Action         string
	// Count is how many operations the entry stands for (an aggregated
	// MailItemsAccessed record, a delegate's FolderBinds of a day).
	Count            int
	Folder           string
	DestFolder       string `json:",omitempty"`
	Messages         []Message
	Result           string
	ClientIPAddress  string
	ClientInfoString string

	seq int64 // orders entries of the same time
}

// Message is a message an entry acted on.
type Message struct {
	InternetMessageId string `json:",omitempty"`
	Subject           string `json:",omitempty"`
	Folder            string `json:",omitempty"`
}

// eacActions are the admin center's labels of operations.
var eacActions = map[string]string{
	"FolderBind":  "Open Folder",
	"MessageBind": "Open Message",
}

// Action is the admin center's label of an operation, else its name.
func Action(op string) string {
	if a, ok := eacActions[op]; ok {
		return a
	}
	return op
}

// mailboxRecordTypes are the record types of mailbox activity.
var mailboxRecordTypes = []audit.RecordType{audit.ExchangeItem, audit.ExchangeItemGroup, audit.ExchangeItemAggregated, audit.ExchangeSearch}

// nonOwnerQuery turns an access type into the store's query. Every access
// type is of non-owner logons (Admin, Delegate): an owner in the own mailbox
// is never in the report, whatever else the record says. The operator's
// staff (ExternalAccess) are their own access type, as external users are in
// the admin center, so AdministratorsAndDelegates and Administrators leave
// them out (keep says which records of the query belong).
func nonOwnerQuery(t AccessType) (q *audit.Query, keep func(*audit.Record) bool) {
	q = &audit.Query{RecordTypes: mailboxRecordTypes, LogonTypes: []audit.LogonType{audit.Admin, audit.Delegate}}
	internal := func(r *audit.Record) bool { return !r.ExternalAccess && r.LogonType != audit.Owner }
	switch t {
	case ExternalUsers:
		q.ExternalOnly = true
	case AdministratorsAndDelegates:
		return q, internal
	case Administrators:
		q.LogonTypes = []audit.LogonType{audit.Admin}
		return q, internal
	}
	return q, func(r *audit.Record) bool { return r.LogonType != audit.Owner }
}

type lineKey struct {
	mbx      uuid.UUID
	actor    string
	logon    audit.LogonType
	external bool
}

// tally is one worker's share of the report: its lines, by key.
type tally struct {
	lines map[lineKey]*NonOwnerLine
	// mailboxes names mailboxes by GUID (shared, read-only).
	mailboxes map[uuid.UUID]mailboxInfo
	org       uuid.UUID
	entries   bool
	keep      func(*audit.Record) bool
}

type mailboxInfo struct{ addr, typ string }

func (t *tally) add(r *audit.Record) error {
	if !t.keep(r) {
		return nil
	}
	k := lineKey{r.MailboxGuid, strings.ToLower(r.UserId), r.LogonType, r.ExternalAccess}
	l := t.lines[k]
	if l == nil {
		info, ok := t.mailboxes[r.MailboxGuid]
		if !ok {
			info.addr = r.MailboxOwnerUPN
		}
		l = &NonOwnerLine{Mailbox: info.addr, MailboxGuid: r.MailboxGuid, MailboxType: info.typ, AccessedBy: r.UserId,
			LogonType: r.LogonType.String(), ExternalAccess: r.ExternalAccess, First: r.CreationTime, Last: r.CreationTime,
			ips: map[string]int{}, clients: map[string]int{}, ops: map[string]*OperationCount{}}
		t.lines[k] = l
	}
	n := max(r.OperationCount, 1)
	l.Accesses += n
	l.EntryCount++
	if r.CreationTime.Before(l.First) {
		l.First = r.CreationTime
	}
	if r.CreationTime.After(l.Last) {
		l.Last = r.CreationTime
	}
	if r.ResultStatus != "" && r.ResultStatus != audit.Succeeded {
		l.Failed++
	}
	oc := l.ops[r.Operation]
	if oc == nil {
		oc = &OperationCount{Operation: r.Operation, Action: Action(r.Operation)}
		l.ops[r.Operation] = oc
	}
	oc.Count += n
	if r.ClientIPAddress != "" {
		l.ips[r.ClientIPAddress]++
	}
	if r.ClientInfoString != "" {
		l.clients[r.ClientInfoString]++
	}
	if t.entries {
		l.Entries = append(l.Entries, entry(t.org, r, n))
	}
	return nil
}

// merge adds another worker's lines to t's.
func (t *tally) merge(o *tally) {
	for k, ol := range o.lines {
		l := t.lines[k]
		if l == nil {
			t.lines[k] = ol
			continue
		}
		l.Accesses += ol.Accesses
		l.EntryCount += ol.EntryCount
		l.Failed += ol.Failed
		if ol.First.Before(l.First) {
			l.First = ol.First
		}
		if ol.Last.After(l.Last) {
			l.Last = ol.Last
		}
		for op, oc := range ol.ops {
			if c := l.ops[op]; c != nil {
				c.Count += oc.Count
			} else {
				l.ops[op] = oc
			}
		}
		for ip, n := range ol.ips {
			l.ips[ip] += n
		}
		for c, n := range ol.clients {
			l.clients[c] += n
		}
		l.Entries = append(l.Entries, ol.Entries...)
	}
}

// reportChunk is how much of the period one search covers: the period is
// searched a day at a time by as many workers as there are processors, each
// keeping a tally of its own, and the tallies are merged at the end.
const reportChunk = 24 * time.Hour

// NonOwnerAccessReport runs the report. It streams the period's non-owner
// records from the store, keeping per line only counts (and the entries
// when asked), so its memory grows with the lines and entries it reports,
// not with the log.
func (s *Service) NonOwnerAccessReport(ctx context.Context, spec NonOwnerReportSpec) (*NonOwnerReport, error) {
	t, err := ParseAccessType(spec.AccessType)
	if err != nil {
		return nil, err
	}
	sortBy, err := lineOrder(spec.SortBy)
	if err != nil {
		return nil, err
	}
	if spec.End.IsZero() {
		spec.End = s.Now()
	}
	if spec.Start.IsZero() {
		spec.Start = spec.End.Add(-NonOwnerReportDays * 24 * time.Hour)
	}
	if err := checkWindow(spec.Start, spec.End); err != nil {
		return nil, err
	}
	q, keep := nonOwnerQuery(t)
	rep := &NonOwnerReport{Start: spec.Start.UTC(), End: spec.End.UTC(), AccessType: t, AccessTypeLabel: t.Label(), Mailboxes: []string{}}
	// Mailboxes are known by GUID in records; their address and type come
	// from the directory as it is now (removed mailboxes included).
	mailboxes := map[uuid.UUID]mailboxInfo{}
	s.mu.Lock()
	for _, id := range split(spec.Mailboxes) {
		m, err := s.dir.ResolveAny(id)
		if err != nil {
			s.mu.Unlock()
			return nil, err
		}
		if !containsGuid(q.Mailboxes, m.Guid) {
			q.Mailboxes = append(q.Mailboxes, m.Guid)
			rep.Mailboxes = append(rep.Mailboxes, m.PrimarySmtpAddress)
		}
	}
	for _, m := range s.dir.Mailboxes {
		mailboxes[m.Guid] = mailboxInfo{m.PrimarySmtpAddress, string(m.Type)}
	}
	org := s.dir.Org.Id
	s.mu.Unlock()

	var chunks [][2]time.Time
	for from := spec.Start; from.Before(spec.End); from = from.Add(reportChunk) {
		chunks = append(chunks, [2]time.Time{from, minTime(from.Add(reportChunk), spec.End)})
	}
	workers := min(runtime.GOMAXPROCS(0), len(chunks))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan [2]time.Time)
	tallies := make([]*tally, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for i := range workers {
		tl := &tally{lines: map[lineKey]*NonOwnerLine{}, mailboxes: mailboxes, org: org, entries: spec.Entries, keep: keep}
		tallies[i] = tl
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				cq := *q
				cq.Start, cq.End = c[0], c[1]
				if _, err := s.store.Search(ctx, &cq, tl.add); err != nil {
					errs[i] = err
					cancel()
					for range work {
					}
					return
				}
			}
		}()
	}
feed:
	for _, c := range chunks {
		select {
		case work <- c:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	all := &tally{lines: map[lineKey]*NonOwnerLine{}}
	for _, tl := range tallies {
		all.merge(tl)
	}
	mbxs, actors := map[uuid.UUID]bool{}, map[string]bool{}
	for k, l := range all.lines {
		mbxs[k.mbx], actors[k.actor] = true, true
		rep.Accesses += l.Accesses
		rep.Entries += l.EntryCount
		for _, oc := range l.ops {
			l.Operations = append(l.Operations, *oc)
		}
		sort.Slice(l.Operations, func(i, j int) bool {
			a, b := l.Operations[i], l.Operations[j]
			return a.Count > b.Count || a.Count == b.Count && a.Operation < b.Operation
		})
		l.ClientIPAddresses, l.ClientInfoStrings = byCount(l.ips), byCount(l.clients)
		sort.Slice(l.Entries, func(i, j int) bool {
			a, b := l.Entries[i], l.Entries[j]
			return a.LastAccessed.Before(b.LastAccessed) || a.LastAccessed.Equal(b.LastAccessed) && a.seq < b.seq
		})
		l.ips, l.clients, l.ops = nil, nil, nil
		rep.Lines = append(rep.Lines, l)
	}
	rep.MailboxesAccessed, rep.NonOwners = len(mbxs), len(actors)
	sort.Slice(rep.Lines, func(i, j int) bool { return sortBy(rep.Lines[i], rep.Lines[j]) })
	if rep.Lines == nil {
		rep.Lines = []*NonOwnerLine{}
	}
	return rep, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func containsGuid(list []uuid.UUID, g uuid.UUID) bool {
	for _, e := range list {
		if e == g {
			return true
		}
	}
	return false
}

// byCount lists a tally's keys, most frequent first.
func byCount(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return m[out[i]] > m[out[j]] || m[out[i]] == m[out[j]] && out[i] < out[j] })
	return out
}

// entry is a record as the report shows it.
func entry(org uuid.UUID, r *audit.Record, n int) *NonOwnerEntry {
	e := &NonOwnerEntry{Id: audit.RecordID(org, r.SequenceNumber).String(), LastAccessed: r.CreationTime, AccessedBy: r.UserId,
		LogonType: r.LogonType.String(), ExternalAccess: r.ExternalAccess, Operation: r.Operation, Action: Action(r.Operation),
		Count: n, Result: r.ResultStatus, ClientIPAddress: r.ClientIPAddress, ClientInfoString: r.ClientInfoString, Messages: []Message{},
		seq: r.SequenceNumber}
	if e.Result == "" {
		e.Result = audit.Succeeded
	}
	if r.Folder != nil {
		e.Folder = r.Folder.Path
	}
	if r.DestFolder != nil {
		e.DestFolder = r.DestFolder.Path
	}
	for i, f := range r.Folders {
		if i == 0 {
			e.Folder = f.Path
		} else if f.Path != e.Folder {
			e.Folder += ", " + f.Path
		}
		for _, it := range f.FolderItems {
			e.Messages = append(e.Messages, Message{InternetMessageId: it.InternetMessageId, Subject: it.Subject, Folder: f.Path})
		}
	}
	if len(r.Folders) == 0 {
		for _, it := range r.Items() {
			m := Message{InternetMessageId: it.InternetMessageId, Subject: it.Subject}
			if it.ParentFolder != nil {
				m.Folder = it.ParentFolder.Path
			}
			if m.Folder == "" {
				m.Folder = e.Folder
			}
			e.Messages = append(e.Messages, m)
		}
	}
	if e.Folder == "" && len(e.Messages) > 0 {
		e.Folder = e.Messages[0].Folder
	}
	return e
}

// lineOrder reads --sort-by.
func lineOrder(s string) (func(a, b *NonOwnerLine) bool, error) {
	tie := func(a, b *NonOwnerLine) bool {
		if a.Mailbox != b.Mailbox {
			return strings.ToLower(a.Mailbox) < strings.ToLower(b.Mailbox)
		}
		if a.AccessedBy != b.AccessedBy {
			return strings.ToLower(a.AccessedBy) < strings.ToLower(b.AccessedBy)
		}
		if a.LogonType != b.LogonType {
			return a.LogonType < b.LogonType
		}
		return !a.ExternalAccess && b.ExternalAccess
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "accesses", "count":
		return func(a, b *NonOwnerLine) bool {
			if a.Accesses != b.Accesses {
				return a.Accesses > b.Accesses
			}
			return tie(a, b)
		}, nil
	case "mailbox":
		return tie, nil
	case "actor", "accessedby":
		return func(a, b *NonOwnerLine) bool {
			if !strings.EqualFold(a.AccessedBy, b.AccessedBy) {
				return strings.ToLower(a.AccessedBy) < strings.ToLower(b.AccessedBy)
			}
			return tie(a, b)
		}, nil
	case "last":
		return func(a, b *NonOwnerLine) bool {
			if !a.Last.Equal(b.Last) {
				return a.Last.After(b.Last)
			}
			return tie(a, b)
		}, nil
	}
	return nil, audit.Errorf(audit.EInvalid, "Unknown sort order '%s'. Lines sort by accesses, mailbox, actor or last.", s)
}

// Summary is the report's answer in one sentence.
func (r *NonOwnerReport) Summary() string {
	plural := func(n int, one, many string) string {
		if n == 1 {
			return fmt.Sprintf("%d %s", n, one)
		}
		return fmt.Sprintf("%d %s", n, many)
	}
	who, whom := "non-owner", "non-owners"
	switch r.AccessType {
	case ExternalUsers:
		who, whom = "external user", "external users"
	case AdministratorsAndDelegates:
		who, whom = "administrator or delegate", "administrators and delegates"
	case Administrators:
		who, whom = "administrator", "administrators"
	}
	scope := "all mailboxes"
	if len(r.Mailboxes) > 0 {
		scope = plural(len(r.Mailboxes), "mailbox asked about", "mailboxes asked about")
	}
	return fmt.Sprintf("%s accessed by %s from %s to %s (%s; access type: %s): %s in %s.",
		plural(r.MailboxesAccessed, "mailbox", "mailboxes"), plural(r.NonOwners, who, whom),
		r.Start.UTC().Format(time.RFC3339), r.End.UTC().Format(time.RFC3339), scope, r.AccessTypeLabel,
		plural(r.Accesses, "access", "accesses"), plural(r.Entries, "audit entry", "audit entries"))
}
