// Package e2e holds the end-to-end tests: a real Dovecot from Debian's
// packages, started by the tests in a temporary directory on loopback, with
// the configuration `mailaudit dovecot-config` prints; `mailaudit serve`
// reading its log; real clients (python3's imaplib, curl, mbsync, raw
// ManageSieve) acting on mailboxes; and the audit log checked through
// `mailaudit search-mailbox-audit-log -o json`, as an auditor would.
//
// The tests need root (Dovecot switches to the mail user) and the packages
// that scripts/test-deps installs; without them they are skipped, saying why.
package e2e
