package storetest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mailaudit/mailaudit/audit"
)

// corpusStart and corpusStep place the search corpus: 50 records, one every
// 17 minutes, the last a few hours before t0.
var (
	corpusStart = t0.Add(-20 * time.Hour)
	corpusStep  = 17 * time.Minute
)

type searchCase struct {
	name string
	q    audit.Query
	none bool // the query must find nothing
	all  bool // the query may find everything
}

func (s *suite) testSearch(t *testing.T) {
	st := s.new(t)
	mustLoad(t, st)
	f := NewFixture()
	all := f.Corpus(corpusStart, corpusStep, 50)
	mustCommit(t, st, &audit.Commit{Mailboxes: f.Mailboxes(), Records: all[:20]})
	mustCommit(t, st, &audit.Commit{Records: all[20:]})
	sorted := expect(&audit.Query{}, all)

	t.Run("Order", func(t *testing.T) {
		sameRecords(t, "Search", searchAll(t, st, audit.Query{}), sorted)
		ties := 0
		for i := 1; i < len(sorted); i++ {
			if sorted[i].CreationTime.Equal(sorted[i-1].CreationTime) {
				ties++
			}
		}
		if ties == 0 {
			t.Fatal("the corpus has no records with the same CreationTime")
		}
	})

	t.Run("Filters", func(t *testing.T) {
		for _, c := range searchCases(f, all, sorted) {
			t.Run(c.name, func(t *testing.T) {
				c.q.UserMailboxes = userMailboxes(f, c.q.UserIds)
				want := expect(&c.q, all)
				switch {
				case c.none && len(want) > 0:
					t.Fatalf("bad case: the reference finds %d records", len(want))
				case !c.none && len(want) == 0:
					t.Fatalf("bad case: the reference finds nothing")
				case !c.none && !c.all && len(want) == len(all):
					t.Fatalf("bad case: the reference finds everything")
				}
				sameRecords(t, "Search "+describe(&c.q), searchAll(t, st, c.q), want)
				paged := c.q
				paged.Limit = 4
				if got := searchAll(t, st, paged); fmt.Sprint(seqs(got)) != fmt.Sprint(seqs(want)) {
					t.Errorf("Search %s, page by page: got %v, want %v", describe(&paged), seqs(got), seqs(want))
				}
			})
		}
	})

	t.Run("StartInclusiveEndExclusive", func(t *testing.T) {
		at := sorted[20].CreationTime
		for _, r := range searchAll(t, st, audit.Query{Start: at}) {
			if r.CreationTime.Before(at.Truncate(time.Millisecond)) {
				t.Errorf("Search Start=%s found record %d of %s", at.Format(time.RFC3339Nano), r.SequenceNumber, r.CreationTime.Format(time.RFC3339Nano))
			}
		}
		if got := searchAll(t, st, audit.Query{Start: at, End: at.Add(time.Millisecond)}); len(got) == 0 {
			t.Errorf("Search Start=%s found no record of that time: Start is inclusive", at.Format(time.RFC3339Nano))
		}
		for _, r := range searchAll(t, st, audit.Query{End: at}) {
			if !r.CreationTime.Before(at) {
				t.Errorf("Search End=%s found record %d of %s: End is exclusive", at.Format(time.RFC3339Nano), r.SequenceNumber, r.CreationTime.Format(time.RFC3339Nano))
			}
		}
	})

	t.Run("Paging", func(t *testing.T) {
		for _, c := range []struct {
			limit, pages int
			q            audit.Query
		}{
			{limit: 7, pages: 8},
			{limit: 5, pages: 10}, // the last page is full and has no cursor
			{limit: 1, pages: 50},
			{limit: 49, pages: 2},
			{limit: 50, pages: 1},
			{limit: 51, pages: 1},
			// Filters applied after the database's own.
			{limit: 2, q: audit.Query{FreeText: "inbox"}},
			{limit: 3, q: audit.Query{FreeText: "/", Mailboxes: []uuid.UUID{f.Alice.Guid, f.Shared.Guid}}},
			{limit: 2, q: audit.Query{ObjectIds: []string{"/Inbox", "example.org"}}},
			{limit: 2, q: audit.Query{FreeText: "invoice", LogonTypes: []audit.LogonType{audit.Delegate}}},
		} {
			q := c.q
			q.Limit = c.limit
			want := expect(&q, all)
			if len(want) <= c.limit && c.pages != 1 {
				t.Fatalf("bad case %s: only %d records", describe(&q), len(want))
			}
			if c.pages == 0 {
				c.pages = (len(want) + c.limit - 1) / c.limit
			}
			var got []*audit.Record
			pages := 0
			for {
				var page []*audit.Record
				next, err := st.Search(ctx(t), &q, func(r *audit.Record) error { page = append(page, r); return nil })
				if err != nil {
					t.Fatalf("Search %s: %v", describe(&q), err)
				}
				pages++
				got = append(got, page...)
				if next == "" {
					break
				}
				if pages > c.pages {
					t.Fatalf("Search %s: more than %d pages", describe(&q), c.pages)
				}
				if len(page) != c.limit {
					t.Errorf("Search %s: page %d has %d records before the end", describe(&q), pages, len(page))
				}
				q.Cursor = next
			}
			if pages != c.pages {
				t.Errorf("Search %s: %d pages, want %d (the last page must return the cursor \"\")", describe(&c.q), pages, c.pages)
			}
			sameRecords(t, fmt.Sprintf("Search %s page by page", describe(&c.q)), got, want)
		}
	})

	t.Run("LimitZero", func(t *testing.T) {
		n := 0
		next, err := st.Search(ctx(t), &audit.Query{}, func(*audit.Record) error { n++; return nil })
		if err != nil || next != "" || n != len(all) {
			t.Errorf("Search with Limit 0 = %d records, cursor %q, %v; want %d, \"\", nil", n, next, err, len(all))
		}
	})

	t.Run("InvalidCursor", func(t *testing.T) {
		for _, c := range []string{"not a cursor!", "\x00\xff", "🙂"} {
			called := false
			_, err := st.Search(ctx(t), &audit.Query{Limit: 5, Cursor: c}, func(*audit.Record) error { called = true; return nil })
			if audit.ErrorCode(err) != audit.EInvalid {
				t.Errorf("Search with cursor %q: error %v (code %s), want code %s", c, err, audit.ErrorCode(err), audit.EInvalid)
			}
			if called {
				t.Errorf("Search with cursor %q returned records", c)
			}
		}
	})

	s.run(t, "LaterCommits", s.testLaterCommits)

	t.Run("StopOnError", func(t *testing.T) {
		stop := errors.New("the reader went away")
		for _, q := range []audit.Query{{}, {Limit: 10}, {FreeText: "inbox"}} {
			n := 0
			next, err := st.Search(ctx(t), &q, func(*audit.Record) error {
				n++
				if n == 3 {
					return fmt.Errorf("writing: %w", stop)
				}
				return nil
			})
			if !errors.Is(err, stop) {
				t.Errorf("Search %s: fn's error came back as %v", describe(&q), err)
			}
			if n != 3 {
				t.Errorf("Search %s: fn was called %d times, want 3: an error stops the search", describe(&q), n)
			}
			if next != "" {
				t.Errorf("Search %s stopped by fn returned a cursor %q", describe(&q), next)
			}
		}
	})
}

// userMailboxes are the mailboxes of the accounts in userIds, as the services
// fill Query.UserMailboxes.
func userMailboxes(f *Fixture, userIds []string) []uuid.UUID {
	var out []uuid.UUID
	for _, u := range userIds {
		for _, m := range f.Mailboxes() {
			if strings.EqualFold(m.PrimarySmtpAddress, u) {
				out = append(out, m.Guid)
			}
		}
	}
	return out
}

// searchCases are the filters, each alone and combined, over the corpus.
func searchCases(f *Fixture, all, sorted []*audit.Record) []searchCase {
	find := func(pred func(*audit.Record) bool) *audit.Record {
		for _, r := range all {
			if pred(r) {
				return r
			}
		}
		panic("storetest: the corpus has no such record")
	}
	secondAffected := find(func(r *audit.Record) bool { return len(r.AffectedItems) > 1 }).AffectedItems[1].Id
	aggregated := find(func(r *audit.Record) bool { return r.RecordType == audit.ExchangeItemAggregated })
	aggMsgId := aggregated.Folders[1].FolderItems[0].InternetMessageId
	aliceItem := find(func(r *audit.Record) bool { return r.Item != nil && r.MailboxGuid == f.Alice.Guid }).Item.Id
	start, end := sorted[30].CreationTime, sorted[10].CreationTime
	first := sorted[len(sorted)-1].CreationTime
	mbx := func(ms ...*audit.Mailbox) []uuid.UUID {
		var out []uuid.UUID
		for _, m := range ms {
			out = append(out, m.Guid)
		}
		return out
	}
	lt := func(lts ...audit.LogonType) []audit.LogonType { return lts }
	rt := func(rts ...audit.RecordType) []audit.RecordType { return rts }
	strs := func(s ...string) []string { return s }
	return []searchCase{
		{name: "Everything", all: true},

		{name: "Mailboxes/One", q: audit.Query{Mailboxes: mbx(f.Alice)}},
		{name: "Mailboxes/Several", q: audit.Query{Mailboxes: mbx(f.Alice, f.Shared, f.Room)}},
		{name: "Mailboxes/Removed", q: audit.Query{Mailboxes: mbx(f.Carol)}},
		{name: "Mailboxes/NoRecords", q: audit.Query{Mailboxes: mbx(f.Bob)}, none: true},
		{name: "Mailboxes/Unknown", q: audit.Query{Mailboxes: []uuid.UUID{uuid.New()}}, none: true},
		{name: "Mailboxes/UnknownAndKnown", q: audit.Query{Mailboxes: append([]uuid.UUID{uuid.New()}, f.Room.Guid)}},

		{name: "Time/Start", q: audit.Query{Start: start}},
		{name: "Time/End", q: audit.Query{End: end}},
		{name: "Time/Window", q: audit.Query{Start: start, End: end}},
		{name: "Time/EmptyWindow", q: audit.Query{Start: start, End: start}, none: true},
		{name: "Time/BeforeEverything", q: audit.Query{End: first.Add(-time.Hour)}, none: true},
		{name: "Time/AfterEverything", q: audit.Query{Start: t0.Add(time.Hour)}, none: true},

		{name: "Operations/One", q: audit.Query{Operations: strs("Update")}},
		{name: "Operations/CaseInsensitive", q: audit.Query{Operations: strs("uPDATE")}},
		{name: "Operations/Several", q: audit.Query{Operations: strs("SoftDelete", "Move", "SendAs")}},
		{name: "Operations/AdminCommand", q: audit.Query{Operations: strs("set-mailbox")}},
		{name: "Operations/NeverStored", q: audit.Query{Operations: strs("HardDelete")}, none: true},
		{name: "Operations/StoredAsSomethingElse", q: audit.Query{Operations: strs("alice@example.org", "/Inbox")}, none: true},

		{name: "LogonTypes/Owner", q: audit.Query{LogonTypes: lt(audit.Owner)}},
		{name: "LogonTypes/DelegateAdmin", q: audit.Query{LogonTypes: lt(audit.Delegate, audit.Admin)}},
		{name: "LogonTypes/Admin", q: audit.Query{LogonTypes: lt(audit.Admin)}},
		{name: "External", q: audit.Query{External: true}},
		{name: "External/OrOwner", q: audit.Query{External: true, LogonTypes: lt(audit.Owner)}},
		{name: "ExternalOnly", q: audit.Query{ExternalOnly: true}},
		{name: "ExternalOnly/AndAdmin", q: audit.Query{ExternalOnly: true, LogonTypes: lt(audit.Admin)}},
		{name: "ExternalOnly/AndDelegate", q: audit.Query{ExternalOnly: true, LogonTypes: lt(audit.Delegate)}, none: true},

		{name: "UserIds/One", q: audit.Query{UserIds: strs("bob@example.org")}},
		{name: "UserIds/CaseInsensitive", q: audit.Query{UserIds: strs("BOB@Example.ORG")}},
		{name: "UserIds/Several", q: audit.Query{UserIds: strs("admin@example.org", "support@provider.example")}},
		{name: "UserIds/Owner", q: audit.Query{UserIds: strs("alice@example.org")}},
		{name: "UserIds/OwnerAndDelegate", q: audit.Query{UserIds: strs("Alice@example.org", "bob@example.org")}},
		{name: "UserIds/RemovedOwner", q: audit.Query{UserIds: strs("carol@example.org")}},
		{name: "UserIds/NeverStored", q: audit.Query{UserIds: strs("mallory@example.net")}, none: true},
		{name: "UserIds/StoredAsSomethingElse", q: audit.Query{UserIds: strs("projects@example.org", "Update")}, none: true},

		{name: "ObjectIds/ObjectId", q: audit.Query{ObjectIds: strs("example.org")}},
		{name: "ObjectIds/FolderPath", q: audit.Query{ObjectIds: strs("/Inbox")}},
		{name: "ObjectIds/ItemId", q: audit.Query{ObjectIds: strs(secondAffected)}},
		{name: "ObjectIds/InternetMessageId", q: audit.Query{ObjectIds: strs(aggMsgId)}},
		{name: "ObjectIds/Several", q: audit.Query{ObjectIds: strs(aliceItem, aggMsgId, f.Room.PrimarySmtpAddress)}},
		{name: "ObjectIds/NeverStored", q: audit.Query{ObjectIds: strs("INBOX:1:99999", "<nothing@example.net>")}, none: true},

		{name: "IPAddresses/One", q: audit.Query{IPAddresses: strs("192.0.2.15")}},
		{name: "IPAddresses/CaseInsensitive", q: audit.Query{IPAddresses: strs("2001:DB8::7")}},
		{name: "IPAddresses/Several", q: audit.Query{IPAddresses: strs("192.0.2.10", "198.51.100.23")}},
		{name: "IPAddresses/NeverStored", q: audit.Query{IPAddresses: strs("203.0.113.9")}, none: true},

		{name: "FreeText/Subject", q: audit.Query{FreeText: "quarterly"}},
		{name: "FreeText/CaseInsensitive", q: audit.Query{FreeText: "QUARTERLY Report"}},
		{name: "FreeText/DestFolder", q: audit.Query{FreeText: "recoverable items"}},
		{name: "FreeText/FolderPath", q: audit.Query{FreeText: "projects/mailaudit"}},
		{name: "FreeText/AggregatedItemSubject", q: audit.Query{FreeText: "retention policy"}},
		{name: "FreeText/Folder", q: audit.Query{FreeText: "/calendar"}},
		{name: "FreeText/NeverStored", q: audit.Query{FreeText: "zzz-nothing"}, none: true},
		{name: "FreeText/NotClientInfo", q: audit.Query{FreeText: "neomutt"}, none: true},
		{name: "FreeText/NotUserId", q: audit.Query{FreeText: "bob@example.org"}, none: true},
		{name: "FreeText/NotOperation", q: audit.Query{FreeText: "Set-Mailbox"}, none: true},
		{name: "FreeText/NotIPAddress", q: audit.Query{FreeText: "198.51.100"}, none: true},
		{name: "FreeText/NotProperty", q: audit.Query{FreeText: "from:bob"}, none: true},
		{name: "FreeText/NotParameter", q: audit.Query{FreeText: "AuditEnabled"}, none: true},
		{name: "FreeText/NotServer", q: audit.Query{FreeText: "mailaudit-1"}, none: true},
		{name: "FreeText/NotObjectId", q: audit.Query{FreeText: "example.org"}, none: true},

		{name: "RecordTypes/Admin", q: audit.Query{RecordTypes: rt(audit.ExchangeAdmin)}},
		{name: "RecordTypes/Several", q: audit.Query{RecordTypes: rt(audit.ExchangeItemAggregated, audit.ExchangeSearch)}},
		{name: "RecordTypes/Group", q: audit.Query{RecordTypes: rt(audit.ExchangeItemGroup)}},
		{name: "RecordTypes/NeverStored", q: audit.Query{RecordTypes: rt(999)}, none: true},

		{name: "Combined/MailboxOperationStart", q: audit.Query{Mailboxes: mbx(f.Alice), Operations: strs("update"), Start: start}},
		{name: "Combined/MailboxUserRecordType", q: audit.Query{Mailboxes: mbx(f.Shared), UserIds: strs("bob@example.org"), RecordTypes: rt(audit.ExchangeItemAggregated)}},
		{name: "Combined/LogonTypeFreeText", q: audit.Query{LogonTypes: lt(audit.Delegate), FreeText: "invoice"}},
		{name: "Combined/MailboxExternalIP", q: audit.Query{Mailboxes: mbx(f.Room), ExternalOnly: true, IPAddresses: strs("2001:db8::7")}},
		{name: "Combined/AdminRecordsHaveNoMailbox", q: audit.Query{Mailboxes: mbx(f.Alice), Operations: strs("Set-Mailbox")}, none: true},
		{name: "Combined/ObjectOfAnotherMailbox", q: audit.Query{Mailboxes: mbx(f.Shared), ObjectIds: strs(aliceItem)}, none: true},
		{name: "Combined/OwnerMailboxOperation", q: audit.Query{UserIds: strs("alice@example.org"), Mailboxes: mbx(f.Alice), Operations: strs("Update")}},
		{name: "Combined/OwnerOfAnotherMailbox", q: audit.Query{UserIds: strs("alice@example.org"), Mailboxes: mbx(f.Shared)}, none: true},
		{name: "Combined/UserRecordTypeEnd", q: audit.Query{UserIds: strs("admin@example.org"), RecordTypes: rt(audit.ExchangeAdmin), End: end}},
		{name: "Combined/FreeTextMailboxLogonType", q: audit.Query{FreeText: "inbox", Mailboxes: mbx(f.Alice), LogonTypes: lt(audit.Owner)}},
		{name: "Combined/Everything", q: audit.Query{Mailboxes: mbx(f.Alice, f.Shared), Start: first, End: t0, Operations: strs("SoftDelete", "MailItemsAccessed"),
			LogonTypes: lt(audit.Delegate), UserIds: strs("bob@example.org"), ObjectIds: strs("/Inbox"), IPAddresses: strs("198.51.100.23"),
			FreeText: "invoice", RecordTypes: rt(audit.ExchangeItemGroup, audit.ExchangeItemAggregated)}},
	}
}

// testLaterCommits pages through a search while records are committed: the
// pages continue where they were, newer records stay out, older ones come in.
func (s *suite) testLaterCommits(t *testing.T, st audit.Store, _ *audit.State) {
	f := NewFixture()
	all := f.Corpus(corpusStart, corpusStep, 20)
	mustCommit(t, st, &audit.Commit{Mailboxes: f.Mailboxes(), Records: all})
	q := audit.Query{Limit: 6}
	var got []*audit.Record
	next, err := st.Search(ctx(t), &q, func(r *audit.Record) error { got = append(got, r); return nil })
	if err != nil || next == "" || len(got) != 6 {
		t.Fatalf("Search %s = %d records, cursor %q, %v", describe(&q), len(got), next, err)
	}
	last := got[len(got)-1]
	later := f.Corpus(t0, time.Minute, 4)
	older := f.Seq(f.OwnerUpdate(corpusStart.Add(-time.Hour)), f.SearchQuery(last.CreationTime))
	mustCommit(t, st, &audit.Commit{Records: append(later, older...)})
	all = append(all, append(later, older...)...)
	sorted := expect(&audit.Query{}, all)
	var want []*audit.Record
	for i, r := range sorted {
		if r.SequenceNumber == last.SequenceNumber {
			want = sorted[i+1:]
		}
	}
	q.Cursor = next
	got = searchAll(t, st, q)
	sameRecords(t, "the pages after records were committed", got, want)
}
