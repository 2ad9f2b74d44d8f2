package service

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailaudit/mailaudit/audit"
)

// The organisation the report tests run over, with known answers:
//
//   - alice@: a user mailbox with default lists. bob@ holds FullAccess and
//     SendAs on it and works in it; dave@ reads it through a master-user login
//     (Admin); ops@provider.example, the operator's staff, changes a message
//     (ExternalAccess).
//   - carol@: customised lists (Owner replaced, Delegate with FolderBind
//     added); bob@ opens its Inbox twice in a day (one FolderBind record
//     counting two).
//   - team@: a group mailbox (fixed lists) that carol@ works in.
//   - finance@: a shared mailbox. svc-backup, a service account with
//     FullAccess on it, is recorded there once and then bypassed; ops@ acts on
//     it as an administrator.
//
// Everything else (owners in their own mailboxes, activity outside the
// period, a bypassed account's activity, operations not in the lists) must
// not appear in the non-owner report.
const reportActivity = `{"SourceEventId":"1","Source":"test","CreationTime":"2026-11-05T10:00:00Z","Operation":"SoftDelete","UserId":"bob@example.org","MailboxOwnerUPN":"alice@example.org","Items":[{"Id":"INBOX:1:1"}]}
{"SourceEventId":"2","Source":"test","CreationTime":"2026-11-09T02:00:00Z","Operation":"HardDelete","UserId":"svc-backup","MailboxOwnerUPN":"finance@example.org","Folder":{"Path":"/Inbox"},"Items":[{"Id":"INBOX:1:2","InternetMessageId":"<inv-1@example.org>","Subject":"Invoice 1"}],"ClientIPAddress":"192.0.2.9","ClientInfoString":"Client=IMAP4;name=backupd"}
`

const reportActivityAfterBypass = `{"SourceEventId":"3","Source":"test","CreationTime":"2026-11-10T02:00:00Z","Operation":"HardDelete","UserId":"svc-backup","MailboxOwnerUPN":"finance@example.org","Items":[{"Id":"INBOX:1:3"}]}
{"SourceEventId":"4","Source":"test","CreationTime":"2026-11-10T08:00:00Z","Operation":"MailItemsAccessed","UserId":"alice@example.org","MailboxOwnerUPN":"alice@example.org","Folder":{"Path":"/Inbox"},"Items":[{"Id":"INBOX:1:4"}],"OperationProperties":[{"Name":"MailAccessType","Value":"Bind"}]}
{"SourceEventId":"5","Source":"test","CreationTime":"2026-11-10T09:00:00Z","Operation":"SoftDelete","UserId":"bob@example.org","MailboxOwnerUPN":"alice@example.org","Folder":{"Path":"/Inbox"},"Items":[{"Id":"INBOX:1:5","InternetMessageId":"<a@example.org>","Subject":"Board minutes"},{"Id":"INBOX:1:6","InternetMessageId":"<b@example.org>","Subject":"Salaries"}],"ClientIPAddress":"198.51.100.7","ClientInfoString":"Client=IMAP4;name=Thunderbird;version=115.6.0","SessionId":"s1"}
{"SourceEventId":"6","Source":"test","CreationTime":"2026-11-10T09:05:00Z","Operation":"Update","UserId":"bob@example.org","MailboxOwnerUPN":"alice@example.org","Folder":{"Path":"/Inbox"},"Items":[{"Id":"INBOX:1:7","InternetMessageId":"<c@example.org>","Subject":"Offer"}],"ClientIPAddress":"198.51.100.7","ClientInfoString":"Client=IMAP4;name=Thunderbird;version=115.6.0","SessionId":"s1"}
{"SourceEventId":"7","Source":"test","CreationTime":"2026-11-11T08:00:00Z","Operation":"MailItemsAccessed","UserId":"bob@example.org","MailboxOwnerUPN":"alice@example.org","Folder":{"Path":"/Inbox"},"Items":[{"Id":"INBOX:1:8","InternetMessageId":"<d@example.org>","Subject":"Wire transfer"}],"OperationProperties":[{"Name":"MailAccessType","Value":"Bind"}],"ClientIPAddress":"198.51.100.8","ClientInfoString":"Client=IMAP4;name=neomutt","SessionId":"s2"}
{"SourceEventId":"8","Source":"test","CreationTime":"2026-11-11T08:00:10Z","Operation":"MailItemsAccessed","UserId":"bob@example.org","MailboxOwnerUPN":"alice@example.org","Folder":{"Path":"/Inbox"},"Items":[{"Id":"INBOX:1:9","InternetMessageId":"<e@example.org>","Subject":"Payslip"}],"OperationProperties":[{"Name":"MailAccessType","Value":"Bind"}],"ClientIPAddress":"198.51.100.8","ClientInfoString":"Client=IMAP4;name=neomutt","SessionId":"s2"}
{"SourceEventId":"9","Source":"test","CreationTime":"2026-11-11T08:00:20Z","Operation":"MailItemsAccessed","UserId":"bob@example.org","MailboxOwnerUPN":"alice@example.org","Folder":{"Path":"/Inbox"},"Items":[{"Id":"INBOX:1:10","InternetMessageId":"<f@example.org>","Subject":"NDA"}],"OperationProperties":[{"Name":"MailAccessType","Value":"Bind"}],"ClientIPAddress":"198.51.100.8","ClientInfoString":"Client=IMAP4;name=neomutt","SessionId":"s2"}
{"SourceEventId":"10","Source":"test","CreationTime":"2026-11-11T10:00:00Z","Operation":"FolderBind","UserId":"bob@example.org","MailboxOwnerUPN":"carol@example.org","Folder":{"Path":"/Inbox"},"ClientIPAddress":"198.51.100.7"}
{"SourceEventId":"11","Source":"test","CreationTime":"2026-11-11T10:30:00Z","Operation":"MailboxLogin","UserId":"carol@example.org","MailboxOwnerUPN":"carol@example.org","SessionId":"s3"}
{"SourceEventId":"12","Source":"test","CreationTime":"2026-11-11T12:00:00Z","Operation":"FolderBind","UserId":"bob@example.org","MailboxOwnerUPN":"carol@example.org","Folder":{"Path":"/Inbox"},"ClientIPAddress":"198.51.100.7"}
{"SourceEventId":"13","Source":"test","CreationTime":"2026-11-12T10:00:00Z","Operation":"SendAs","UserId":"bob@example.org","MailboxOwnerUPN":"alice@example.org","Items":[{"Id":"Sent:1:1","InternetMessageId":"<g@example.org>","Subject":"Approved","ParentFolder":{"Path":"/Sent"}}],"ClientIPAddress":"198.51.100.7","ClientInfoString":"Client=IMAP4;name=Thunderbird;version=115.6.0"}
{"SourceEventId":"14","Source":"test","CreationTime":"2026-11-12T10:01:00Z","Operation":"SoftDelete","UserId":"bob@example.org","MailboxOwnerUPN":"alice@example.org","ResultStatus":"Failed","Folder":{"Path":"/Sent"},"Items":[{"Id":"Sent:1:1"}],"ClientIPAddress":"198.51.100.7","ClientInfoString":"Client=IMAP4;name=Thunderbird;version=115.6.0"}
{"SourceEventId":"15","Source":"test","CreationTime":"2026-11-13T14:00:00Z","Operation":"Create","UserId":"carol@example.org","MailboxOwnerUPN":"team@example.org","Folder":{"Path":"/Calendar"},"Items":[{"Id":"Calendar:1:1","Subject":"Offsite"}]}
{"SourceEventId":"16","Source":"test","CreationTime":"2026-11-13T14:05:00Z","Operation":"SoftDelete","UserId":"carol@example.org","MailboxOwnerUPN":"team@example.org","Folder":{"Path":"/Calendar"},"Items":[{"Id":"Calendar:1:1","Subject":"Offsite"}]}
{"SourceEventId":"17","Source":"test","CreationTime":"2026-11-13T14:10:00Z","Operation":"MailItemsAccessed","UserId":"carol@example.org","MailboxOwnerUPN":"team@example.org","Folder":{"Path":"/Inbox"},"Items":[{"Id":"INBOX:1:1"}],"OperationProperties":[{"Name":"MailAccessType","Value":"Bind"}]}
{"SourceEventId":"18","Source":"dovecot","CreationTime":"2026-11-15T11:00:00Z","Operation":"HardDelete","UserId":"dave@example.org","MailboxOwnerUPN":"alice@example.org","LogonTypeHint":"Admin","Folder":{"Path":"/Inbox"},"Items":[{"Id":"INBOX:1:11","InternetMessageId":"<h@example.org>","Subject":"Complaint"}],"ClientIPAddress":"10.0.0.5"}
{"SourceEventId":"19","Source":"dovecot","CreationTime":"2026-11-15T11:01:00Z","Operation":"Copy","UserId":"dave@example.org","MailboxOwnerUPN":"alice@example.org","LogonTypeHint":"Admin","Folder":{"Path":"/Inbox"},"DestFolder":{"Path":"/Export"},"Items":[{"Id":"INBOX:1:12"}],"ClientIPAddress":"10.0.0.5"}
{"SourceEventId":"20","Source":"dovecot","CreationTime":"2026-11-15T11:02:00Z","Operation":"MoveToDeletedItems","UserId":"dave@example.org","MailboxOwnerUPN":"alice@example.org","LogonTypeHint":"Admin","Folder":{"Path":"/Inbox"},"DestFolder":{"Path":"/Trash"},"Items":[{"Id":"INBOX:1:13","Subject":"Old"}],"ClientIPAddress":"10.0.0.5"}
{"SourceEventId":"21","Source":"test","CreationTime":"2026-11-16T03:00:00Z","Operation":"Update","UserId":"ops@provider.example","MailboxOwnerUPN":"alice@example.org","ExternalAccess":true,"Folder":{"Path":"/Inbox"},"Items":[{"Id":"INBOX:1:14"}],"ClientIPAddress":"203.0.113.1"}
{"SourceEventId":"22","Source":"dovecot","CreationTime":"2026-11-16T04:00:00Z","Operation":"HardDelete","UserId":"ops@provider.example","MailboxOwnerUPN":"finance@example.org","LogonTypeHint":"Admin","ExternalAccess":true,"Folder":{"Path":"/Inbox"},"Items":[{"Id":"INBOX:1:15"}],"ClientIPAddress":"203.0.113.1"}
{"SourceEventId":"23","Source":"test","CreationTime":"2026-11-23T09:00:00Z","Operation":"SoftDelete","UserId":"bob@example.org","MailboxOwnerUPN":"alice@example.org","Items":[{"Id":"INBOX:1:16"}]}
`

var (
	reportStart = time.Date(2026, 11, 8, 0, 0, 0, 0, time.UTC)
	reportEnd   = time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	bypassAt    = time.Date(2026, 11, 9, 12, 0, 0, 0, time.UTC)
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// reportOrg builds the organisation above.
func reportOrg(t *testing.T) *Service {
	t.Helper()
	ctx := context.Background()
	svc, st := openService(t, t.TempDir())
	t.Cleanup(func() { st.Close() })
	clock := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	svc.Now = func() time.Time { return clock }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []NewMailboxSpec{{Address: "alice@example.org"}, {Address: "bob@example.org"}, {Address: "carol@example.org"},
		{Address: "dave@example.org"}, {Address: "team@example.org", Type: "GroupMailbox"}, {Address: "finance@example.org", Type: "SharedMailbox"}} {
		_, err := svc.NewMailbox(ctx, "admin", m)
		must(err)
	}
	for _, g := range [][3]string{{"alice", "bob", "FullAccess"}, {"alice", "bob", "SendAs"}, {"finance", "svc-backup", "FullAccess"},
		{"team", "carol", "FullAccess"}, {"finance", "carol", "FullAccess"}} {
		_, err := svc.AddPermission(ctx, "admin", g[0], g[1], g[2])
		must(err)
	}
	var ch audit.MailboxChange
	ch.Lists[audit.Owner].Replace = []string{"MailboxLogin,HardDelete"}
	ch.Lists[audit.Delegate].Add = []string{"FolderBind"}
	res, err := svc.SetMailbox(ctx, "admin", MailboxQuery{Identity: "carol"}, ch, nil)
	must(err)
	must(res[0].Err)
	ingest := func(lines string) {
		t.Helper()
		rep, err := svc.Ingest(ctx, strings.NewReader(lines), IngestOptions{})
		must(err)
		if len(rep.Refused) > 0 {
			t.Fatalf("refused: %+v", rep.Refused)
		}
	}
	clock = time.Date(2026, 11, 9, 3, 0, 0, 0, time.UTC)
	ingest(reportActivity)
	clock = bypassAt
	_, err = svc.SetBypass(ctx, "admin", MailboxQuery{Identity: "svc-backup"}, true)
	must(err)
	clock = time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	ingest(reportActivityAfterBypass)
	must(svc.Flush(ctx))
	return svc
}

// lineKey of a report line, as the tests name it.
func lineName(l *NonOwnerLine) string {
	name := fmt.Sprintf("%s %s %s", strings.TrimSuffix(l.Mailbox, "@example.org"), l.AccessedBy, l.LogonType)
	if l.ExternalAccess {
		name += " external"
	}
	return name
}

func TestNonOwnerAccessReport(t *testing.T) {
	svc := reportOrg(t)
	ctx := context.Background()
	type want struct {
		lines                                   []string // in report order
		mailboxes, nonOwners, accesses, entries int
	}
	var (
		aliceBob   = "alice bob@example.org Delegate"
		aliceDave  = "alice dave@example.org Admin"
		carolBob   = "carol bob@example.org Delegate"
		teamCarol  = "team carol@example.org Delegate"
		aliceOps   = "alice ops@provider.example Delegate external"
		financeOps = "finance ops@provider.example Admin external"
		financeSvc = "finance svc-backup Delegate"
	)
	tests := []struct {
		name string
		spec NonOwnerReportSpec
		want want
	}{
		{"all non-owners", NonOwnerReportSpec{},
			want{[]string{aliceBob, aliceDave, carolBob, teamCarol, aliceOps, financeOps, financeSvc}, 4, 5, 16, 13}},
		{"EAC wording, any case", NonOwnerReportSpec{AccessType: "ALL NON-OWNERS"},
			want{[]string{aliceBob, aliceDave, carolBob, teamCarol, aliceOps, financeOps, financeSvc}, 4, 5, 16, 13}},
		{"external users", NonOwnerReportSpec{AccessType: "External users"},
			want{[]string{aliceOps, financeOps}, 2, 1, 2, 2}},
		// The operator's staff are external users, not administrators or
		// delegates, whatever their logon type.
		{"administrators and delegates", NonOwnerReportSpec{AccessType: "AdministratorsAndDelegates"},
			want{[]string{aliceBob, aliceDave, carolBob, teamCarol, financeSvc}, 4, 4, 14, 11}},
		{"administrators", NonOwnerReportSpec{AccessType: "administrators"},
			want{[]string{aliceDave}, 1, 1, 2, 2}},
		{"some mailboxes", NonOwnerReportSpec{Mailboxes: []string{"carol", "team@example.org,finance"}},
			want{[]string{carolBob, teamCarol, financeOps, financeSvc}, 3, 4, 6, 5}},
		{"sorted by mailbox", NonOwnerReportSpec{SortBy: "mailbox"},
			want{[]string{aliceBob, aliceDave, aliceOps, carolBob, financeOps, financeSvc, teamCarol}, 4, 5, 16, 13}},
		{"sorted by last access", NonOwnerReportSpec{SortBy: "last"},
			want{[]string{financeOps, aliceOps, aliceDave, teamCarol, aliceBob, carolBob, financeSvc}, 4, 5, 16, 13}},
		{"a period with nobody", NonOwnerReportSpec{Start: at("2026-11-17T00:00:00Z"), End: at("2026-11-23T00:00:00Z")},
			want{nil, 0, 0, 0, 0}},
		{"the default period: two weeks before the end", NonOwnerReportSpec{Start: time.Time{}, End: at("2026-11-10T09:01:00Z")},
			// 2026-10-27T09:01 to 2026-11-10T09:01: bob's first SoftDelete, before the other tests' period, is in.
			want{[]string{aliceBob, financeSvc}, 2, 2, 3, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := tc.spec
			if spec.Start.IsZero() && spec.End.IsZero() {
				spec.Start, spec.End = reportStart, reportEnd
			}
			spec.Entries = true
			rep, err := svc.NonOwnerAccessReport(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, l := range rep.Lines {
				got = append(got, lineName(l))
			}
			if !slices.Equal(got, tc.want.lines) {
				t.Errorf("lines:\n got %q\nwant %q", got, tc.want.lines)
			}
			if rep.MailboxesAccessed != tc.want.mailboxes || rep.NonOwners != tc.want.nonOwners || rep.Accesses != tc.want.accesses || rep.Entries != tc.want.entries {
				t.Errorf("%d mailboxes, %d non-owners, %d accesses, %d entries; want %d, %d, %d, %d", rep.MailboxesAccessed, rep.NonOwners,
					rep.Accesses, rep.Entries, tc.want.mailboxes, tc.want.nonOwners, tc.want.accesses, tc.want.entries)
			}
		})
	}
}

// TestNonOwnerReportLines checks every figure of each line and every entry
// behind it.
func TestNonOwnerReportLines(t *testing.T) {
	svc := reportOrg(t)
	rep, err := svc.NonOwnerAccessReport(context.Background(), NonOwnerReportSpec{Start: reportStart, End: reportEnd, Entries: true})
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]*NonOwnerLine{}
	for _, l := range rep.Lines {
		lines[lineName(l)] = l
	}
	type entryWant struct {
		when, action, folder, dest, result, ip string
		count                                  int
		messages                               []Message
	}
	tests := []struct {
		line                      string
		mailboxType               string
		accesses, entries, failed int
		first, last               string
		ops                       []OperationCount
		ips, clients              []string
		entryWants                []entryWant
	}{
		{line: "alice bob@example.org Delegate", mailboxType: "UserMailbox", accesses: 7, entries: 5, failed: 1,
			first: "2026-11-10T09:00:00Z", last: "2026-11-12T10:01:00Z",
			ops: []OperationCount{{"MailItemsAccessed", "MailItemsAccessed", 3}, {"SoftDelete", "SoftDelete", 2}, {"SendAs", "SendAs", 1}, {"Update", "Update", 1}},
			ips: []string{"198.51.100.7", "198.51.100.8"}, clients: []string{"Client=IMAP4;name=Thunderbird;version=115.6.0", "Client=IMAP4;name=neomutt"},
			entryWants: []entryWant{
				{"2026-11-10T09:00:00Z", "SoftDelete", "/Inbox", "", "Succeeded", "198.51.100.7", 1,
					[]Message{{"<a@example.org>", "Board minutes", "/Inbox"}, {"<b@example.org>", "Salaries", "/Inbox"}}},
				{"2026-11-10T09:05:00Z", "Update", "/Inbox", "", "Succeeded", "198.51.100.7", 1, []Message{{"<c@example.org>", "Offer", "/Inbox"}}},
				{"2026-11-11T08:00:00Z", "MailItemsAccessed", "/Inbox", "", "Succeeded", "198.51.100.8", 3,
					[]Message{{"<d@example.org>", "Wire transfer", "/Inbox"}, {"<e@example.org>", "Payslip", "/Inbox"}, {"<f@example.org>", "NDA", "/Inbox"}}},
				{"2026-11-12T10:00:00Z", "SendAs", "/Sent", "", "Succeeded", "198.51.100.7", 1, []Message{{"<g@example.org>", "Approved", "/Sent"}}},
				{"2026-11-12T10:01:00Z", "SoftDelete", "/Sent", "", "Failed", "198.51.100.7", 1, []Message{{"", "", "/Sent"}}},
			}},
		{line: "carol bob@example.org Delegate", mailboxType: "UserMailbox", accesses: 2, entries: 1,
			first: "2026-11-11T10:00:00Z", last: "2026-11-11T10:00:00Z",
			ops: []OperationCount{{"FolderBind", "Open Folder", 2}}, ips: []string{"198.51.100.7"}, clients: []string{},
			entryWants: []entryWant{{"2026-11-11T10:00:00Z", "Open Folder", "/Inbox", "", "Succeeded", "198.51.100.7", 2, []Message{}}}},
		{line: "team carol@example.org Delegate", mailboxType: "GroupMailbox", accesses: 2, entries: 2,
			first: "2026-11-13T14:00:00Z", last: "2026-11-13T14:05:00Z",
			ops: []OperationCount{{"Create", "Create", 1}, {"SoftDelete", "SoftDelete", 1}}, ips: []string{}, clients: []string{},
			entryWants: []entryWant{
				{"2026-11-13T14:00:00Z", "Create", "/Calendar", "", "Succeeded", "", 1, []Message{{"", "Offsite", "/Calendar"}}},
				{"2026-11-13T14:05:00Z", "SoftDelete", "/Calendar", "", "Succeeded", "", 1, []Message{{"", "Offsite", "/Calendar"}}},
			}},
		{line: "alice dave@example.org Admin", mailboxType: "UserMailbox", accesses: 2, entries: 2,
			first: "2026-11-15T11:00:00Z", last: "2026-11-15T11:02:00Z",
			ops: []OperationCount{{"HardDelete", "HardDelete", 1}, {"MoveToDeletedItems", "MoveToDeletedItems", 1}}, ips: []string{"10.0.0.5"}, clients: []string{},
			entryWants: []entryWant{
				{"2026-11-15T11:00:00Z", "HardDelete", "/Inbox", "", "Succeeded", "10.0.0.5", 1, []Message{{"<h@example.org>", "Complaint", "/Inbox"}}},
				{"2026-11-15T11:02:00Z", "MoveToDeletedItems", "/Inbox", "/Trash", "Succeeded", "10.0.0.5", 1, []Message{{"", "Old", "/Inbox"}}},
			}},
		{line: "alice ops@provider.example Delegate external", mailboxType: "UserMailbox", accesses: 1, entries: 1,
			first: "2026-11-16T03:00:00Z", last: "2026-11-16T03:00:00Z",
			ops: []OperationCount{{"Update", "Update", 1}}, ips: []string{"203.0.113.1"}, clients: []string{},
			entryWants: []entryWant{{"2026-11-16T03:00:00Z", "Update", "/Inbox", "", "Succeeded", "203.0.113.1", 1, []Message{{"", "", "/Inbox"}}}}},
		{line: "finance ops@provider.example Admin external", mailboxType: "SharedMailbox", accesses: 1, entries: 1,
			first: "2026-11-16T04:00:00Z", last: "2026-11-16T04:00:00Z",
			ops: []OperationCount{{"HardDelete", "HardDelete", 1}}, ips: []string{"203.0.113.1"}, clients: []string{},
			entryWants: []entryWant{{"2026-11-16T04:00:00Z", "HardDelete", "/Inbox", "", "Succeeded", "203.0.113.1", 1, []Message{{"", "", "/Inbox"}}}}},
		{line: "finance svc-backup Delegate", mailboxType: "SharedMailbox", accesses: 1, entries: 1,
			first: "2026-11-09T02:00:00Z", last: "2026-11-09T02:00:00Z",
			ops: []OperationCount{{"HardDelete", "HardDelete", 1}}, ips: []string{"192.0.2.9"}, clients: []string{"Client=IMAP4;name=backupd"},
			entryWants: []entryWant{{"2026-11-09T02:00:00Z", "HardDelete", "/Inbox", "", "Succeeded", "192.0.2.9", 1,
				[]Message{{"<inv-1@example.org>", "Invoice 1", "/Inbox"}}}}},
	}
	if len(lines) != len(tests) {
		t.Errorf("%d lines, want %d", len(lines), len(tests))
	}
	for _, tc := range tests {
		t.Run(tc.line, func(t *testing.T) {
			l := lines[tc.line]
			if l == nil {
				t.Fatalf("no line %q", tc.line)
			}
			if l.MailboxType != tc.mailboxType || l.Accesses != tc.accesses || l.EntryCount != tc.entries || l.Failed != tc.failed {
				t.Errorf("type %s, %d accesses, %d entries, %d failed; want %s, %d, %d, %d", l.MailboxType, l.Accesses, l.EntryCount, l.Failed,
					tc.mailboxType, tc.accesses, tc.entries, tc.failed)
			}
			if !l.First.Equal(at(tc.first)) || !l.Last.Equal(at(tc.last)) {
				t.Errorf("first %s, last %s; want %s, %s", l.First, l.Last, tc.first, tc.last)
			}
			if !slices.Equal(l.Operations, tc.ops) {
				t.Errorf("operations %v, want %v", l.Operations, tc.ops)
			}
			if !slices.Equal(l.ClientIPAddresses, tc.ips) || !slices.Equal(l.ClientInfoStrings, tc.clients) {
				t.Errorf("clients %q %q, want %q %q", l.ClientIPAddresses, l.ClientInfoStrings, tc.ips, tc.clients)
			}
			if len(l.Entries) != len(tc.entryWants) {
				t.Fatalf("%d entries, want %d", len(l.Entries), len(tc.entryWants))
			}
			for i, w := range tc.entryWants {
				e := l.Entries[i]
				if !e.LastAccessed.Equal(at(w.when)) || e.Action != w.action || e.Folder != w.folder || e.DestFolder != w.dest ||
					e.Result != w.result || e.ClientIPAddress != w.ip || e.Count != w.count || e.AccessedBy != l.AccessedBy || e.Id == "" {
					t.Errorf("entry %d: %+v\nwant %+v", i, e, w)
				}
				if !slices.Equal(e.Messages, w.messages) {
					t.Errorf("entry %d messages %+v, want %+v", i, e.Messages, w.messages)
				}
			}
		})
	}
	// Without entries, the same lines.
	short, err := svc.NonOwnerAccessReport(context.Background(), NonOwnerReportSpec{Start: reportStart, End: reportEnd})
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range short.Lines {
		if l.Entries != nil || lineName(l) != lineName(rep.Lines[i]) || l.Accesses != rep.Lines[i].Accesses {
			t.Errorf("line %d without entries: %s, %d accesses, %d entries listed", i, lineName(l), l.Accesses, len(l.Entries))
		}
	}
	want := "4 mailboxes accessed by 5 non-owners from 2026-11-08T00:00:00Z to 2026-11-22T00:00:00Z (all mailboxes; access type: All non-owners): 16 accesses in 13 audit entries."
	if rep.Summary() != want {
		t.Errorf("summary %q\nwant %q", rep.Summary(), want)
	}
}

func TestNonOwnerReportRefuses(t *testing.T) {
	svc := reportOrg(t)
	for _, tc := range []struct {
		name string
		spec NonOwnerReportSpec
		code string
		msg  string
	}{
		{"dates reversed", NonOwnerReportSpec{Start: reportEnd, End: reportStart}, audit.EInvalid,
			"The start date (2026-11-22T00:00:00Z) must be before the end date (2026-11-08T00:00:00Z)."},
		{"unknown mailbox", NonOwnerReportSpec{Mailboxes: []string{"alice", "ghost@example.org"}}, audit.ENotFound,
			"The mailbox 'ghost@example.org' couldn't be found."},
		{"unknown access type", NonOwnerReportSpec{AccessType: "Janitors"}, audit.EInvalid,
			"Unknown access type 'Janitors'. Access types are AllNonOwners (All non-owners), External (External users), AdministratorsAndDelegates (Administrators and delegated users) and Administrators."},
		{"unknown order", NonOwnerReportSpec{SortBy: "size"}, audit.EInvalid,
			"Unknown sort order 'size'. Lines sort by accesses, mailbox, actor or last."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := svc.NonOwnerAccessReport(context.Background(), tc.spec)
			if audit.ErrorCode(err) != tc.code || err.Error() != tc.msg {
				t.Errorf("error %v (%s), want %q (%s)", err, audit.ErrorCode(err), tc.msg, tc.code)
			}
		})
	}
}

func TestParseAccessType(t *testing.T) {
	for in, want := range map[string]AccessType{
		"": AllNonOwners, "AllNonOwners": AllNonOwners, "all non-owners": AllNonOwners, "All Non Owners": AllNonOwners,
		"External": ExternalUsers, "external users": ExternalUsers, "EXTERNALUSERS": ExternalUsers,
		"AdministratorsAndDelegates": AdministratorsAndDelegates, "Administrators and delegated users": AdministratorsAndDelegates,
		"administrators-and-delegates": AdministratorsAndDelegates, "Administrators": Administrators, " administrators ": Administrators,
	} {
		if got, err := ParseAccessType(in); err != nil || got != want {
			t.Errorf("ParseAccessType(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
}

func configOf(rep *AuditConfigReport, mailbox string) *MailboxAuditConfig {
	for _, c := range rep.Mailboxes {
		if c.Mailbox == mailbox {
			return c
		}
	}
	return nil
}

func listOf(c *MailboxAuditConfig, lt string) AuditListConfig {
	for _, l := range c.Lists {
		if l.LogonType == lt {
			return l
		}
	}
	return AuditListConfig{}
}

func TestAuditConfigurationReport(t *testing.T) {
	svc := reportOrg(t)
	rep, err := svc.AuditConfigurationReport(context.Background(), MailboxQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.AuditProfile != "exchange-online" || !rep.OnByDefault || rep.AuditDisabled || rep.MailboxCount != 6 || rep.Audited != 6 ||
		rep.NotAudited != 0 || rep.Customised != 1 || rep.MissingDefaults != 1 || rep.BypassedAccess != 1 {
		t.Errorf("organisation and counts: %+v", *rep)
	}
	var order []string
	for _, c := range rep.Mailboxes {
		order = append(order, c.Mailbox)
	}
	if want := []string{"alice@example.org", "bob@example.org", "carol@example.org", "dave@example.org", "finance@example.org", "team@example.org"}; !slices.Equal(order, want) {
		t.Errorf("mailboxes %q, want %q", order, want)
	}
	alice := configOf(rep, "alice@example.org")
	if !alice.Audited || alice.Reason != "on by default (exchange-online)" || len(alice.Customised) != 0 || len(alice.BypassedAccess) != 0 ||
		!slices.Equal(alice.Notes, []string{"Profile exchange-online audits every mailbox (its AuditEnabled=False is ignored)."}) {
		t.Errorf("alice: %+v", *alice)
	}
	for _, l := range alice.Lists {
		if l.Follows != "DefaultAuditSet" || len(l.Missing)+len(l.Extra)+len(l.MissingNewDefaults)+len(l.Unsupported) != 0 || !slices.Equal(l.Operations, l.Defaults) {
			t.Errorf("alice's %s list: %+v", l.LogonType, l)
		}
	}

	carol := configOf(rep, "carol@example.org")
	if !slices.Equal(carol.Customised, []string{"Delegate", "Owner"}) || !slices.Equal(carol.DefaultAuditSet, []string{"Admin"}) {
		t.Errorf("carol customised %q, DefaultAuditSet %q", carol.Customised, carol.DefaultAuditSet)
	}
	owner := listOf(carol, "Owner")
	if owner.Follows != "Customised" || !slices.Equal(owner.Operations, []string{"HardDelete", "MailboxLogin"}) ||
		!slices.Equal(owner.Missing, []string{"ApplyRecord", "MailItemsAccessed", "MoveToDeletedItems", "Send", "SoftDelete", "Update",
			"UpdateCalendarDelegation", "UpdateFolderPermissions", "UpdateInboxRules"}) ||
		!slices.Equal(owner.Extra, []string{"MailboxLogin"}) || !slices.Equal(owner.MissingNewDefaults, []string{"ApplyRecord", "MailItemsAccessed", "Send"}) {
		t.Errorf("carol's Owner list: %+v", owner)
	}
	delegate := listOf(carol, "Delegate")
	if delegate.Follows != "Customised" || len(delegate.Missing) != 0 || !slices.Equal(delegate.Extra, []string{"FolderBind"}) {
		t.Errorf("carol's Delegate list: %+v", delegate)
	}
	if admin := listOf(carol, "Admin"); admin.Follows != "DefaultAuditSet" {
		t.Errorf("carol's Admin list: %+v", admin)
	}
	wantNote := "The customised Owner list lacks ApplyRecord, MailItemsAccessed, MoveToDeletedItems, Send, SoftDelete, Update, " +
		"UpdateCalendarDelegation, UpdateFolderPermissions, UpdateInboxRules, which the exchange-online defaults include " +
		"(ApplyRecord, MailItemsAccessed, Send added since exchange-online-2019)."
	if !slices.Contains(carol.Notes, wantNote) {
		t.Errorf("carol's notes %q lack %q", carol.Notes, wantNote)
	}

	team := configOf(rep, "team@example.org")
	for _, l := range team.Lists {
		if l.Follows != "Fixed" || len(l.Missing)+len(l.Extra) != 0 {
			t.Errorf("team's %s list: %+v", l.LogonType, l)
		}
	}
	if got := listOf(team, "Owner").Operations; !slices.Equal(got, []string{"HardDelete", "MoveToDeletedItems", "SoftDelete", "Update"}) {
		t.Errorf("team's Owner list %q", got)
	}

	finance := configOf(rep, "finance@example.org")
	wantAccess := []BypassedGrantee{{Account: "svc-backup", Access: []string{"FullAccess", "RecordedBefore"}, BypassedSince: bypassAt,
		LastRecorded: at("2026-11-09T02:00:00Z")}}
	if fmt.Sprint(finance.BypassedAccess) != fmt.Sprint(wantAccess) {
		t.Errorf("finance's bypassed access %+v, want %+v", finance.BypassedAccess, wantAccess)
	}
	if want := "svc-backup holds FullAccess, was recorded acting on it until 2026-11-09T02:00:00Z and is bypassed since 2026-11-09T12:00:00Z: nothing it does here is recorded."; !slices.Contains(finance.Notes, want) {
		t.Errorf("finance's notes %q lack %q", finance.Notes, want)
	}
	wantAccounts := []BypassedAccount{{Account: "svc-backup", BypassedSince: bypassAt, WhenCreated: bypassAt, Mailbox: "",
		Grants: []string{"finance@example.org (FullAccess)"}, RecordedOn: []string{"finance@example.org"}}}
	if fmt.Sprint(rep.BypassedAccounts) != fmt.Sprint(wantAccounts) {
		t.Errorf("bypassed accounts %+v, want %+v", rep.BypassedAccounts, wantAccounts)
	}
	want := "6 mailboxes: 6 audited, 0 not audited; 1 with customised lists (1 lacking operations of the defaults); 1 that a bypassed account can act on unrecorded. Bypassed accounts: svc-backup."
	if rep.Summary() != want {
		t.Errorf("summary %q\nwant %q", rep.Summary(), want)
	}
}

// TestAuditConfigurationReportWhy: the reason follows the organisation, the
// profile and AuditEnabled; bypassed owners and grantees are named.
func TestAuditConfigurationReportWhy(t *testing.T) {
	ctx := context.Background()
	yes, no := true, false
	tests := []struct {
		name   string
		change func(t *testing.T, svc *Service)
		q      MailboxQuery
		check  func(t *testing.T, rep *AuditConfigReport)
	}{
		{"organisation AuditDisabled", func(t *testing.T, svc *Service) {
			if _, _, err := svc.SetOrganization(ctx, "admin", OrgChange{AuditDisabled: &yes}, nil); err != nil {
				t.Fatal(err)
			}
		}, MailboxQuery{}, func(t *testing.T, rep *AuditConfigReport) {
			if rep.Audited != 0 || rep.NotAudited != 6 || !rep.AuditDisabled {
				t.Errorf("%d audited, %d not", rep.Audited, rep.NotAudited)
			}
			c := configOf(rep, "finance@example.org")
			if c.Audited || c.Reason != "organisation AuditDisabled" ||
				!slices.Equal(c.Notes, []string{"The organisation's AuditDisabled is True: nothing is recorded for any mailbox."}) {
				t.Errorf("finance: %+v", *c)
			}
			if !strings.HasSuffix(rep.Summary(), "The organisation's AuditDisabled is True: nothing is recorded.") {
				t.Errorf("summary %q", rep.Summary())
			}
		}},
		{"off-by-default profile and AuditEnabled", func(t *testing.T, svc *Service) {
			p := "exchange-2019"
			if _, _, err := svc.SetOrganization(ctx, "admin", OrgChange{Profile: &p}, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.SetMailbox(ctx, "admin", MailboxQuery{Identity: "alice"}, audit.MailboxChange{AuditEnabled: &yes}, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.SetMailbox(ctx, "admin", MailboxQuery{Identity: "bob"}, audit.MailboxChange{AuditEnabled: &no}, nil); err != nil {
				t.Fatal(err)
			}
		}, MailboxQuery{}, func(t *testing.T, rep *AuditConfigReport) {
			if rep.Audited != 1 || rep.NotAudited != 5 || rep.OnByDefault {
				t.Errorf("%d audited, %d not", rep.Audited, rep.NotAudited)
			}
			alice, bob := configOf(rep, "alice@example.org"), configOf(rep, "bob@example.org")
			if !alice.Audited || alice.Reason != "AuditEnabled" || bob.Audited || bob.Reason != "AuditEnabled is False (exchange-2019)" {
				t.Errorf("alice %v %q, bob %v %q", alice.Audited, alice.Reason, bob.Audited, bob.Reason)
			}
			// Owner's defaults are none under exchange-2019: an audited
			// mailbox records nothing its owner does.
			if !slices.Contains(alice.Notes, "The Owner list is empty: nothing done with Owner logons is recorded.") {
				t.Errorf("alice's notes %q", alice.Notes)
			}
			// carol's customised Delegate list keeps operations
			// exchange-2019 does not know.
			carol := configOf(rep, "carol@example.org")
			if d := listOf(carol, "Delegate"); !slices.Equal(d.Unsupported, []string{"ApplyRecord", "MailItemsAccessed"}) {
				t.Errorf("carol's Delegate list: %+v", d)
			}
			if o := listOf(carol, "Owner"); len(o.Missing) != 0 || !slices.Equal(o.Extra, []string{"HardDelete", "MailboxLogin"}) || len(o.MissingNewDefaults) != 0 {
				t.Errorf("carol's Owner list: %+v", o)
			}
		}},
		{"a bypassed owner and grantee", func(t *testing.T, svc *Service) {
			if _, err := svc.SetBypass(ctx, "admin", MailboxQuery{Identity: "bob"}, true); err != nil {
				t.Fatal(err)
			}
		}, MailboxQuery{}, func(t *testing.T, rep *AuditConfigReport) {
			if rep.BypassedAccess != 4 || len(rep.BypassedAccounts) != 2 {
				t.Errorf("%d mailboxes with bypassed access, %d accounts", rep.BypassedAccess, len(rep.BypassedAccounts))
			}
			for mbx, want := range map[string]string{
				"alice@example.org":   "[{bob@example.org [FullAccess SendAs RecordedBefore] 2026-11-24 00:00:00 +0000 UTC 2026-11-23 09:00:00 +0000 UTC}]",
				"bob@example.org":     "[{bob@example.org [Owner] 2026-11-24 00:00:00 +0000 UTC 0001-01-01 00:00:00 +0000 UTC}]",
				"carol@example.org":   "[{bob@example.org [RecordedBefore] 2026-11-24 00:00:00 +0000 UTC 2026-11-11 10:00:00 +0000 UTC}]",
				"finance@example.org": "[{svc-backup [FullAccess RecordedBefore] 2026-11-09 12:00:00 +0000 UTC 2026-11-09 02:00:00 +0000 UTC}]",
				"team@example.org":    "[]",
			} {
				if got := fmt.Sprint(configOf(rep, mbx).BypassedAccess); got != want {
					t.Errorf("%s: bypassed access %s, want %s", mbx, got, want)
				}
			}
			bob := rep.BypassedAccounts[0]
			if bob.Account != "bob@example.org" || bob.Mailbox != "bob@example.org" ||
				!slices.Equal(bob.Grants, []string{"alice@example.org (FullAccess)", "alice@example.org (SendAs)"}) ||
				!slices.Equal(bob.RecordedOn, []string{"alice@example.org", "carol@example.org"}) {
				t.Errorf("bob's bypass: %+v", bob)
			}
		}},
		{"by type", nil, MailboxQuery{Types: []string{"GroupMailbox,SharedMailbox"}}, func(t *testing.T, rep *AuditConfigReport) {
			if rep.MailboxCount != 2 || rep.Mailboxes[0].Mailbox != "finance@example.org" || rep.Mailboxes[1].Mailbox != "team@example.org" ||
				len(rep.BypassedAccounts) != 1 {
				t.Errorf("%d mailboxes, %d bypassed accounts", rep.MailboxCount, len(rep.BypassedAccounts))
			}
		}},
		{"by filter", nil, MailboxQuery{Filter: "Alias -like 'c*'"}, func(t *testing.T, rep *AuditConfigReport) {
			if rep.MailboxCount != 1 || rep.Mailboxes[0].Mailbox != "carol@example.org" {
				t.Errorf("%d mailboxes: %+v", rep.MailboxCount, rep.Mailboxes)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc := reportOrg(t)
			if tc.change != nil {
				tc.change(t, svc)
			}
			rep, err := svc.AuditConfigurationReport(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, rep)
		})
	}
	svc := reportOrg(t)
	if _, err := svc.AuditConfigurationReport(ctx, MailboxQuery{Identity: "ghost"}); audit.ErrorCode(err) != audit.ENotFound {
		t.Errorf("an unknown mailbox: %v", err)
	}
	if _, err := svc.AuditConfigurationReport(ctx, MailboxQuery{Filter: "Colour -eq 'red'"}); audit.ErrorCode(err) != audit.EInvalid {
		t.Errorf("an unknown property: %v", err)
	}
}
