package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mailaudit/mailaudit/audit"
)

// testAuditLogSearches: searches are kept whole, listed oldest first, and a
// save replaces the search with the same Identity.
func (s *suite) testAuditLogSearches(t *testing.T) {
	ctx := context.Background()
	st := s.new(t)
	if _, err := st.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := st.AuditLogSearches(ctx); err != nil || len(got) != 0 {
		t.Fatalf("a new store has searches: %v %v", got, err)
	}
	t0 := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	first := &audit.AuditLogSearch{
		Identity: uuid.MustParse("5d0c3b5e-6f0b-4a5e-9a55-1d6a1c1b2a01"), Name: "Litigation: alice", CreatedBy: "siem",
		CreationTime: t0.Add(time.Minute), Mailboxes: []string{"alice@example.org", "finance@example.org"},
		StartDate: t0.Add(-14 * 24 * time.Hour), EndDate: t0, LogonTypes: []string{"Delegate", "Admin"},
		Operations: []string{"HardDelete"}, ShowDetails: true, StatusMailRecipients: []string{"legal@example.org"},
		Formats: []string{"xml", "csv"}, State: audit.SearchQueued,
	}
	second := &audit.AuditLogSearch{Identity: uuid.MustParse("00000000-6f0b-4a5e-9a55-1d6a1c1b2a02"), Name: "all",
		CreationTime: t0.Add(2 * time.Minute), StartDate: t0.Add(-time.Hour), EndDate: t0,
		StatusMailRecipients: []string{"a@example.org"}, Formats: []string{"xml"}, State: audit.SearchQueued}
	for _, as := range []*audit.AuditLogSearch{second, first} {
		if err := st.SaveAuditLogSearch(ctx, as); err != nil {
			t.Fatal(err)
		}
	}
	done := *first
	done.State, done.Records, done.CompletedTime, done.DeliveryAttempts, done.LastError =
		audit.SearchDelivering, 42, t0.Add(3*time.Minute), 1, "dial tcp 127.0.0.1:25: connection refused"
	if err := st.SaveAuditLogSearch(ctx, &done); err != nil {
		t.Fatal(err)
	}
	got, err := st.AuditLogSearches(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !reflect.DeepEqual(got[0], &done) || !reflect.DeepEqual(got[1], second) {
		t.Errorf("searches:\n%+v\nwant (oldest first, the first replaced):\n%+v\n%+v", got, &done, second)
	}
}
