package milter

import (
	"fmt"
	"strings"
)

// Macros are the Postfix macro settings the milter needs: Postfix's defaults
// plus {client_addr} at MAIL (so that every message of a connection has the
// client's address) and {auth_authen} at the end of data.
var Macros = [][2]string{
	{"milter_connect_macros", "j {daemon_name} {daemon_addr} v _ {client_addr}"},
	{"milter_mail_macros", "i {auth_type} {auth_authen} {auth_author} {mail_addr} {mail_host} {mail_mailer} {client_addr}"},
	{"milter_end_of_data_macros", "i {auth_authen} {client_addr}"},
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
# The submission service, with SASL through Dovecot and the milter. If it
# has milters already, list mailaudit's last (it records the message once
# the others have let it through):
#   -o { smtpd_milters = inet:localhost:8891, { ` + addr + `, default_action=accept } }
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
	fmt.Fprintf(&b, "  -o { smtpd_milters = { %s, default_action=accept } }\n", addr)
	return b.String(), nil
}
