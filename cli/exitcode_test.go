package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExitCodes: each kind of failure exits with the status cli.md gives
// it, with a message that names the problem. The steps share one data
// directory and run in order.
func TestExitCodes(t *testing.T) {
	data := t.TempDir()
	jsonl := filepath.Join(t.TempDir(), "bad.jsonl")
	if err := os.WriteFile(jsonl, []byte(`{"SourceEventId":"1","Source":"test","CreationTime":"2026-11-22T09:00:00Z","Operation":"HardDelete","UserId":"alice@example.org","MailboxOwnerUPN":"alice@example.org"}`+"\n{not json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args    []string
		code    int
		message string // in standard error
	}{
		{[]string{"new-mailbox", "alice@example.org"}, ExitOK, ""},
		{[]string{"new-mailbox", "bob@example.org", "--display-name", "alice"}, ExitOK, ""},
		{[]string{"new-mailbox", "alice@example.org"}, ExitRefused, "alice@example.org"},
		{[]string{"set-mailbox", "alice@example.org", "--audit-delegate", "MessageBind"}, ExitRefused, "Invalid audit operation specified. Supported audit operations for Delegate are None,"},
		{[]string{"set-mailbox", "alice@example.org", "--audit-owner-add", "HardDelete"}, ExitRefused, "The input operation(s) is/are already being audited"},
		{[]string{"set-mailbox", "alice", "--audit-enabled=true"}, ExitRefused, "bob@example.org"}, // several match
		{[]string{"set-mailbox", "nobody", "--audit-enabled=true"}, ExitNotFound, "nobody"},
		{[]string{"search-mailbox-audit-log", "nobody@example.org"}, ExitNotFound, "nobody@example.org"},
		{[]string{"search-mailbox-audit-log", "--start", "2026-02-30"}, ExitRefused, "2026-02-30"},
		{[]string{"ingest", filepath.Join(t.TempDir(), "missing.jsonl")}, ExitNotFound, "missing.jsonl"},
		{[]string{"ingest", jsonl}, ExitRefused, "line 2: "},
		{[]string{"get-mailbox", "--filter", "AuditEnabled -eq"}, ExitRefused, ""},
		{[]string{"get-mailbox", "--filter", "Nonsense -eq $true"}, ExitRefused, "Nonsense"},
		{[]string{"get-mailbox", "-o", "yaml"}, ExitUsage, "yaml"},
		{[]string{"get-mailbox", "--no-such-flag"}, ExitUsage, "no-such-flag"},
		{[]string{"no-such-command"}, ExitUsage, "no-such-command"},
		{[]string{"set-organization-config", "--audit-profile", "exchange-2003"}, ExitRefused, "Unknown audit profile 'exchange-2003'."},
		{[]string{"search-unified-audit-log", "--result-size", "many"}, ExitUsage, "many"},
	} {
		code, _, stderr := runCLI(t, nil, append([]string{"--data", data}, tc.args...)...)
		if code != tc.code {
			t.Errorf("mailaudit %s: exit %d, want %d (stderr %q)", strings.Join(tc.args, " "), code, tc.code, stderr)
		}
		if tc.message != "" && !strings.Contains(stderr, tc.message) {
			t.Errorf("mailaudit %s: stderr %q does not name %q", strings.Join(tc.args, " "), stderr, tc.message)
		}
	}
}
