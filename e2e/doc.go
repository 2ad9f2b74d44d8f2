// Package e2e holds the end-to-end tests: a real Dovecot from Debian's
// packages, started by the tests in a temporary directory on loopback, with
// the configuration `mailaudit dovecot-config` prints; `mailaudit serve`
// reading its log; real clients (python3's imaplib, curl, mbsync, raw
// ManageSieve) acting on mailboxes; and the audit log checked through
// `mailaudit search-mailbox-audit-log -o json`, as an auditor would.
//
// The Postfix tests (postfix_test.go) add a real Postfix 3.7 of their own
// (postfix -c on a configuration, queue and data directory in the test's
// directory, submission on a loopback port, SASL and LMTP delivery through
// the test Dovecot) with the settings `mailaudit postfix-config` prints, and
// submit each case with both swaks and python3's smtplib; the outage tests
// (postfix_outage_test.go) stop, kill and hang (SIGSTOP) mailaudit under it
// and read Postfix's own log to tell which messages the milter answered.
//
// The background search tests (searchmail_test.go) mail results through a
// real Postfix relay into the test Dovecot over LMTP and read them back over
// IMAP: one relay on loopback without TLS, and one that takes mail only over
// STARTTLS, with a certificate of a CA the test makes (crypto/x509), and
// only with SASL AUTH through the test Dovecot, with a small
// message_size_limit and extra smtpd services without STARTTLS and without
// the EHLO SIZE keyword, for the failures.
//
// The tests need root (Dovecot switches to the mail user, Postfix to its
// own) and the packages that scripts/test-deps installs; without them they
// are skipped, saying why.
package e2e
