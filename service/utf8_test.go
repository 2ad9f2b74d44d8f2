package service

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mailaudit/mailaudit/audit"
)

// TestInvalidUTF8: bytes that are not UTF-8 (a mail_log subject, an 8-bit
// header at the milter, a display name typed in Latin-1) are kept as U+FFFD,
// and the records that hold them are stored and found like any other: one
// undecodable record would otherwise break every search that reaches it.
func TestInvalidUTF8(t *testing.T) {
	svc, st := openService(t, t.TempDir())
	defer st.Close()
	ctx := context.Background()
	if _, err := svc.NewMailbox(ctx, "root", NewMailboxSpec{Address: "alice@example.org", DisplayName: "Alice M\xfcller"}); err != nil {
		t.Fatal(err)
	}
	when := time.Now().UTC().Add(-time.Hour)
	acts := []*audit.Activity{{SourceEventId: "1", Source: "dovecot", CreationTime: audit.Time{Time: when}, Operation: audit.HardDelete,
		UserId: "alice@example.org", MailboxOwnerUPN: "alice@example.org", ClientInfoString: "Client=IMAP4;name=\xe9lm",
		Folder: &audit.Folder{Path: "/Entw\xfcrfe"}, Items: []audit.Item{{Id: "INBOX:1:1", Subject: "caf\xe9 \xff", InternetMessageId: "<a\xff@example.org>"}},
		OperationProperties: []audit.NameValue{{Name: "Rule", Value: "\xc0\xaf"}}}}
	if _, err := svc.IngestActivities(ctx, acts, nil); err != nil {
		t.Fatal(err)
	}
	var got []*audit.Record
	if _, err := svc.SearchUnifiedAuditLog(ctx, UnifiedSearch{Start: when.Add(-time.Hour)}, func(r *audit.Record) error {
		got = append(got, r)
		return nil
	}); err != nil {
		t.Fatalf("searching records that held invalid UTF-8: %v", err)
	}
	var mailbox, admin int
	for _, r := range got {
		b, _ := json.Marshal(r)
		if !utf8.Valid(b) || strings.Contains(string(b), `\ufffd`) {
			t.Errorf("record not clean UTF-8: %s", b)
		}
		switch r.Operation {
		case "HardDelete":
			mailbox++
			if s := r.Items()[0].Subject; s != "caf\uFFFD \uFFFD" {
				t.Errorf("subject %q", s)
			}
			if r.Folder.Path != "/Entw\uFFFDrfe" || r.ClientInfoString != "Client=IMAP4;name=\uFFFDlm" {
				t.Errorf("folder %q, client %q", r.Folder.Path, r.ClientInfoString)
			}
		case "New-Mailbox":
			admin++
		}
	}
	if mailbox != 1 || admin != 1 {
		t.Errorf("%d HardDelete and %d New-Mailbox records, want one each", mailbox, admin)
	}
}
