package milter

import (
	"fmt"
	"strings"
	"time"
)

// Macros are the Postfix macro settings the milter needs: Postfix's defaults
// plus {client_addr} at MAIL (so that every message of a connection has the
// client's address) and {auth_authen} at the end of data.
var Macros = [][2]string{
	{"milter_connect_macros", "j {daemon_name} {daemon_addr} v _ {client_addr}"},
	{"milter_mail_macros", "i {auth_type} {auth_authen} {auth_author} {mail_addr} {mail_host} {mail_mailer} {client_addr}"},
	{"milter_end_of_data_macros", "i {auth_authen} {client_addr}"},
}

// The time limits printed for mailaudit's milter, in place of Postfix's
// defaults (milter_connect_timeout 30s, milter_command_timeout 30s,
// milter_content_timeout 300s), which a hung daemon (stopped, swapping,
// deadlocked: alive, so the kernel still accepts connections on its socket)
// would make every submission wait. Once one expires, Postfix goes on without
// the milter for the rest of the session (default_action=accept), so a hung
// daemon costs a session at most one of them. Postfix 3.7 applies them so
// (tested, e2e/postfix_outage_test.go): connect_timeout to the connect
// alone, command_timeout to each event and reply including the negotiation
// that opens every session, content_timeout to the message and the answer
// at its end.
const (
	// ConnectTimeout bounds the connect itself, which waits only when the
	// daemon's listen backlog is full: a daemon hung long enough for
	// thousands of sessions to queue up on it.
	ConnectTimeout = 5 * time.Second
	// CommandTimeout bounds an event and its reply. The negotiation is the
	// only command the milter answers (Protocol asks for no other reply
	// before the end of the message), one packet each way that a working
	// daemon answers in well under a millisecond: this is the wait of every
	// session that starts while the daemon hangs.
	CommandTimeout = 5 * time.Second
	// ContentTimeout bounds sending the message and reading the answer at
	// its end, which waits for the record to be in the spool. A message
	// whose record waits behind another's write gives up after
	// DefaultAppendTimeout: the milter lets it through and logs it as not
	// recorded, with its queue id. The message whose own write the disk
	// holds up cannot be answered before the disk returns: the milter logs
	// it after DefaultAppendTimeout, with its queue id, and Postfix lets it
	// through at this limit. Either way the log says which message, not
	// only Postfix's. It is also the wait of a message whose end was in
	// flight when the daemon hung.
	ContentTimeout = DefaultAppendTimeout + 5*time.Second
)

// MilterSetting is the smtpd_milters entry for the milter at addr (in
// Postfix's form, see PostfixAddress): Postfix 3.0's per-milter settings, so
// that the short time limits and accept-on-failure apply to mailaudit's
// milter and not to others the service may have.
func MilterSetting(addr string) string {
	return fmt.Sprintf("{ %s, connect_timeout=%s, command_timeout=%s, content_timeout=%s, default_action=accept }",
		addr, postfixTime(ConnectTimeout), postfixTime(CommandTimeout), postfixTime(ContentTimeout))
}

// postfixTime writes a duration as a Postfix time value (whole seconds).
func postfixTime(d time.Duration) string {
	return fmt.Sprintf("%ds", int64(d/time.Second))
}

// PostfixOptions shape the printed Postfix configuration.
type PostfixOptions struct {
	// Milter is the address mailaudit serve's milter listens on.
	Milter string
	// Service is the master.cf service name of the submission service:
	// "submission" (port 587), or HOST:PORT.
	Service string
	// SASLPath is smtpd_sasl_path: Dovecot's auth socket for Postfix,
	// relative to the queue directory ("private/auth"), or inet:HOST:PORT.
	SASLPath string
	// RequireTLS makes the submission service refuse clients that do not
	// start TLS (smtpd_tls_security_level = encrypt).
	RequireTLS bool
}

// PostfixConfig is the main.cf and master.cf text that puts the milter on
// the submission service, without ever holding mail up.
func PostfixConfig(o PostfixOptions) (string, error) {
	addr, err := PostfixAddress(o.Milter)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(`# Postfix settings for mailaudit's milter, which records who sent mail as whom
# (Send, SendAs, SendOnBehalf). Printed by mailaudit postfix-config; see
# docs/postfix.md.

# ---- main.cf ----
# A milter that is down, slow or broken never holds mail: Postfix goes on
# as if it were not there.
milter_default_action = accept
milter_protocol = 6
# What the milter reads: the SASL login, the queue id, the client's address.
`)
	for _, m := range Macros {
		fmt.Fprintf(&b, "%s = %s\n", m[0], m[1])
	}
	b.WriteString(`# Queue ids that are never reused: they identify a message's record.
enable_long_queue_ids = yes

# ---- master.cf ----
# The submission service, with SASL through Dovecot and the milter. The
# milter's own time limits keep a hung (not dead) mailaudit from holding
# mail: a session waits at most ` + postfixTime(CommandTimeout) + ` for it to answer the connection,
# ` + postfixTime(ContentTimeout) + ` for the answer at the end of a message (the record is spooled first;
# a disk slower than ` + postfixTime(DefaultAppendTimeout) + ` is logged), then goes on without it. If the service has
# milters already, list mailaudit's last (it records the message once the
# others have let it through):
#   -o { smtpd_milters = inet:localhost:8891, ` + MilterSetting(addr) + ` }
`)
	fmt.Fprintf(&b, "%s inet n - n - - smtpd\n", o.Service)
	fmt.Fprintf(&b, "  -o syslog_name=postfix/submission\n")
	if o.RequireTLS {
		b.WriteString("  -o smtpd_tls_security_level=encrypt\n")
	}
	b.WriteString("  -o smtpd_sasl_auth_enable=yes\n")
	b.WriteString("  -o smtpd_sasl_type=dovecot\n")
	fmt.Fprintf(&b, "  -o smtpd_sasl_path=%s\n", o.SASLPath)
	b.WriteString("  -o smtpd_client_restrictions=permit_sasl_authenticated,reject\n")
	fmt.Fprintf(&b, "  -o { smtpd_milters = %s }\n", MilterSetting(addr))
	return b.String(), nil
}
