package storetest

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mailaudit/mailaudit/audit"
)

// Contents is what Fill wrote, for Verify to find again.
type Contents struct {
	Org         *audit.Organization
	Mailboxes   []*audit.Mailbox
	Permissions []audit.Permission
	Bypasses    []audit.Bypass
	Volume      map[string]string
	Records     []*audit.Record // as Search returns them
	Events      []audit.Event
	Positions   map[string]string
	Seq         int64
}

// Fill writes a bit of everything to a new store, in several commits, the
// last of which leaves the newest record expired and deleted by retention.
func Fill(t *testing.T, st audit.Store) *Contents {
	t.Helper()
	state := mustLoad(t, st)
	f := NewFixture()
	c := &Contents{
		Org:       Organization(state.Dir.Org.Id),
		Mailboxes: f.Mailboxes(),
		Permissions: []audit.Permission{
			{Mailbox: f.Alice.Guid, User: f.Bob.PrimarySmtpAddress, Rights: audit.FullAccess, WhenCreated: t0.Add(-30 * day)},
			{Mailbox: f.Shared.Guid, User: f.Bob.PrimarySmtpAddress, Rights: audit.SendAsRight, WhenCreated: t0.Add(-20 * day)},
		},
		Bypasses:  []audit.Bypass{{Identity: "svc-backup", Enabled: true, WhenCreated: t0.Add(-day), WhenChanged: t0.Add(-time.Hour)}},
		Volume:    map[string]string{"login:imap-7f3a": `"2026-11-22T09:59:00Z"`, "th:" + f.Shared.Guid.String(): `{"t":["2026-11-22T09:58:00Z"]}`},
		Positions: map[string]string{"dovecot": "/var/log/dovecot.log:ino=1311:off=50917", "api": "req-4711"},
	}
	all := f.Corpus(corpusStart, corpusStep, 40)
	var events []audit.Event
	for _, r := range all {
		if r.Source != "" && r.SourceEventId != "" {
			e := audit.Event{EventKey: audit.EventKey{Source: r.Source, Id: r.SourceEventId}, Time: eventTime(r.CreationTime)}
			c.Events = append(c.Events, e)
			events = append(events, e)
		}
	}
	var volume []audit.VolumeEntry
	for k, v := range c.Volume {
		volume = append(volume, audit.VolumeEntry{Key: k, Value: []byte(v)})
	}
	mustCommit(t, st, &audit.Commit{Org: c.Org, Mailboxes: c.Mailboxes, AddPermissions: c.Permissions, Bypasses: c.Bypasses})
	mustCommit(t, st, &audit.Commit{Records: all[:25], Events: events[:10], Volume: volume})
	mustCommit(t, st, &audit.Commit{Records: all[25:], Events: events[10:], Positions: c.Positions,
		Counts: map[int64]int{9: 12, 35: 2}})
	all[8].OperationCount, all[34].OperationCount = 12, 2

	// An old record of Carol's, imported last, expires at once.
	old := f.Seq(f.RemovedMailboxLogin(t0.Add(-30 * day)))
	mustCommit(t, st, &audit.Commit{Records: old})
	n, err := st.Retain(ctx(t), audit.Retention{Mailboxes: map[uuid.UUID]time.Time{f.Carol.Guid: t0.Add(-7 * day)}})
	if err != nil || n == 0 {
		t.Fatalf("Retain = %d, %v", n, err)
	}
	for _, r := range all {
		if !(r.MailboxGuid == f.Carol.Guid && !r.IsAdmin() && r.CreationTime.Before(t0.Add(-7*day))) {
			c.Records = append(c.Records, r)
		}
	}
	c.Records = expect(&audit.Query{}, c.Records)
	c.Seq = f.LastSeq()
	return c
}

// Verify checks that the store holds what Fill wrote.
func Verify(t *testing.T, st audit.Store, c *Contents) {
	t.Helper()
	state := mustLoad(t, st)
	if !canonEqual(state.Dir.Org, c.Org) {
		t.Errorf("organisation: %v", diff(canon(state.Dir.Org), canon(c.Org)))
	}
	checkMailboxes(t, state.Dir, c.Mailboxes)
	checkPermissions(t, state.Dir.Permissions, c.Permissions)
	checkBypasses(t, state.Dir.Bypasses, c.Bypasses)
	checkVolume(t, state.Volume, c.Volume)
	if state.Seq != c.Seq {
		t.Errorf("Load().Seq = %d, want %d", state.Seq, c.Seq)
	}
	sameRecords(t, "Search", searchAll(t, st, audit.Query{}), c.Records)
	f := NewFixture()
	for _, m := range []*audit.Mailbox{f.Alice, f.Shared} {
		q := audit.Query{Mailboxes: []uuid.UUID{m.Guid}}
		sameRecords(t, "Search of "+m.PrimarySmtpAddress, searchAll(t, st, q), expect(&q, c.Records))
	}
	seen, err := st.Seen(ctx(t), c.Events)
	if err != nil {
		t.Fatalf("Seen: %v", err)
	}
	for _, k := range c.Events {
		if !seen[k] {
			t.Errorf("Seen(%+v) = false", k)
		}
	}
	for src, want := range c.Positions {
		if got, err := st.Position(ctx(t), src); err != nil || got != want {
			t.Errorf("Position(%q) = %q, %v; want %q", src, got, err, want)
		}
	}
}
