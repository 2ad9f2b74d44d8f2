package audit

import (
	"time"

	"github.com/google/uuid"
)

// AuditLogSearch is a background search of mailbox audit records
// (New-MailboxAuditLogSearch): the daemon runs it, keeps its result and mails
// it to StatusMailRecipients. Searches are kept in the store, so they survive
// a restart and run to completion.
type AuditLogSearch struct {
	// Identity is the search's GUID (Get-AuditLogSearch -Identity).
	Identity uuid.UUID
	// Name is the mail's subject line; at most 64 characters.
	Name         string
	CreatedBy    string
	CreationTime time.Time

	// The question, as search-mailbox-audit-log takes it. Mailboxes are the
	// resolved primary addresses; none means every mailbox.
	Mailboxes      []string
	StartDate      time.Time
	EndDate        time.Time
	LogonTypes     []string
	Operations     []string
	ShowDetails    bool
	ExternalAccess bool
	// StatusMailRecipients are who the result is mailed to.
	StatusMailRecipients []string
	// Formats are the result's attachments: xml (SearchResult.xml) always,
	// csv and json on request.
	Formats []string

	// State is where the search is; see the SearchState constants.
	State SearchState
	// Records is how many records the result holds, once it is complete.
	Records       int64
	CompletedTime time.Time
	// Delivery: attempts so far, the last failure, when the next attempt is
	// due, and when the mail was accepted by the relay.
	DeliveryAttempts int
	LastError        string
	NextAttempt      time.Time
	DeliveredTime    time.Time
	// ResultExpiredTime is when retention deleted the kept result of a
	// finished search (the daemon's retention.search_result_age_limit);
	// the search itself stays listed.
	ResultExpiredTime time.Time `json:",omitzero"`
}

// SearchState is where a background search is.
type SearchState string

// The states, in the order a search goes through them.
const (
	// SearchQueued: created, waiting for the daemon.
	SearchQueued SearchState = "Queued"
	// SearchRunning: the daemon is writing the result. After a crash it is
	// queued again and runs from the start.
	SearchRunning SearchState = "Running"
	// SearchDelivering: the result is complete and being mailed (retried
	// with back-off while the relay refuses or cannot be reached).
	SearchDelivering SearchState = "Delivering"
	// SearchDelivered: the relay accepted the mail.
	SearchDelivered SearchState = "Delivered"
	// SearchFailed: the search itself failed (LastError says why).
	SearchFailed SearchState = "Failed"
	// SearchDeliveryFailed: every delivery attempt failed; the result can
	// still be downloaded.
	SearchDeliveryFailed SearchState = "DeliveryFailed"
)

// Pending reports whether the search has work left.
func (s SearchState) Pending() bool {
	return s == SearchQueued || s == SearchRunning || s == SearchDelivering
}
