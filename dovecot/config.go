package dovecot

import (
	"strings"
	"text/template"
)

// ConfigOptions parameterise the printed configuration.
type ConfigOptions struct {
	LogPath         string // file Dovecot writes the audit lines to (events via event_exporter transport=log, mail_log lines, login lines); mailaudit tails it. Default /var/log/dovecot-audit.log
	SharedPrefix    string // the shared namespace prefix as configured, e.g. "shared/%%u/" (default)
	MasterSeparator string // auth_master_user_separator, default "*"
	// EventsURL, when set, makes Dovecot POST the exported events there
	// (transport = http-post) instead of writing them into the log: the
	// daemon's /api/v1/dovecot/events with an ingest token as the password,
	// http://dovecot:TOKEN@127.0.0.1:8425/api/v1/dovecot/events. Lossy.
	EventsURL string
}

// Defaults of ConfigOptions and Options.
const (
	DefaultLogPath         = "/var/log/dovecot-audit.log"
	DefaultSharedPrefix    = "shared/%%u/"
	DefaultMasterSeparator = "*"
)

// auditedCommands are the IMAP commands whose imap_command_finished events
// are exported. Everything else (FETCH, NOOP, IDLE, LIST, STATUS, …) is left
// out because it is most of an IMAP server's traffic and tells nothing the
// translator uses: reads come from mail_opened, and the implicit \Seen of a
// body FETCH is recognised by time (see the package comment).
var auditedCommands = []string{
	"SELECT", "EXAMINE", // FolderBind
	"SEARCH", "UID SEARCH", // SearchQueryInitiated
	"COPY", "UID COPY", "MOVE", "UID MOVE", // Copy, Move, MoveToDeletedItems
	"STORE", "UID STORE", // SoftDelete, Update
	"EXPUNGE", "UID EXPUNGE", "CLOSE", "DELETE", // HardDelete (CLOSE and DELETE expunge too)
	"APPEND",              // Create
	"SETACL", "DELETEACL", // UpdateFolderPermissions
	"ID", // client name and version sent after login
}

// sieveCommands are the ManageSieve commands that change rules.
var sieveCommands = []string{"PUTSCRIPT", "SETACTIVE", "DELETESCRIPT", "RENAMESCRIPT"}

func filterOr(field string, values []string) string {
	parts := make([]string, len(values))
	for i, v := range values {
		if strings.ContainsAny(v, " ()") {
			v = `"` + v + `"`
		}
		parts[i] = field + "=" + v
	}
	return strings.Join(parts, " OR ")
}

var configTmpl = template.Must(template.New("conf").Parse(`# mailaudit: the Dovecot 2.3 configuration mailbox audit logging needs.
#
# Install as /etc/dovecot/conf.d/95-mailaudit.conf. Debian's dovecot.conf reads
# conf.d/*.conf in name order, and this file must come AFTER every file that sets
# mail_plugins (10-mail.conf, 20-imap.conf, 20-lmtp.conf, 20-managesieve.conf):
# Dovecot applies a global mail_plugins only to protocol { } blocks that follow it,
# so this file appends to mail_plugins inside each protocol block instead.
# Check with "doveconf -n", apply with "doveadm reload" (or "systemctl reload dovecot").
#
# Written for and tested with Dovecot 2.3.19 (Debian 12). Dovecot 2.4 renamed the
# event export settings; this file does not work there.

# --- 1. The audit log file ---------------------------------------------------
# Every line mailaudit reads is an Info-level line: exported events (below),
# mail_log plugin lines and login lines. info_log_path sends exactly those to one
# file; errors and warnings stay where log_path sends them (syslog on Debian).
# mailaudit tails this file from a saved position, so it must be a plain file.
# Rotate it by rename plus "doveadm log reopen" (logrotate postrotate), or
# copytruncate; mailaudit follows both. debug_log_path defaults to this file too:
# debug lines are ignored by mailaudit.
# ADAPT: if you already use info_log_path for something else, mailaudit must tail
# that file instead (and ignores the lines that are not for it).
info_log_path = {{.LogPath}}

# Microsecond timestamps with the UTC offset. mailaudit tells a mail_log line's
# command by time (the implicit \Seen of a FETCH against an explicit STORE), which
# whole seconds cannot do. This changes the timestamp of every Dovecot log FILE
# (not of syslog).
log_timestamp = "%Y-%m-%dT%H:%M:%S.%{usecs}%z "

# --- 2. Who did it ---------------------------------------------------------------
# The prefix of every mail process log line (mail_log lines included): the
# session id joins the line with the exported events, auth_user is the SASL login
# and master is the master user of a master-user login (the Admin logon type).
# mailaudit also reads Dovecot's default prefix, but then a master user is known
# only from the auth_request_finished event.
mail_log_prefix = "%s(%u)<%{pid}><%{session}><auth_user=%{auth_user} master=%{userdb:master_user}>: "

# The login line ("imap-login: Login: …") with the original and SASL user names.
# ADAPT: if you customised login_log_format_elements, keep yours and add
# orig_user=<%{orig_user}> auth_user=<%{auth_user}> and session=<%{session}>.
login_log_format_elements = user=<%u> orig_user=<%{orig_user}> auth_user=<%{auth_user}> method=%m rip=%r lip=%l mpid=%e %c session=<%{session}>

# Master users ("alice{{.MasterSeparator}}admin" logs in to alice's mailbox as the master
# user admin): mailaudit records the master user as the actor, with the Admin logon
# type, from the master_user field of the auth event.
# ADAPT: this must be the separator you use; delete the line if you have no master
# passdb. A master user also needs ACL rights on the mailboxes it opens, for
# example a global ACL line "* user=admin lrwstipekxa".
auth_master_user_separator = {{.MasterSeparator}}

# --- 3. Plugins, in every process that touches mail ----------------------------
# notify + mail_log write one line per deleted, undeleted, expunged, saved, copied
# or re-flagged message: the only source of copy destinations, flag changes, soft
# deletes, Message-IDs and subjects. imap is where users act; pop3 so that POP3
# deletions are seen; lmtp and sieve (ManageSieve) so that the lines of deliveries
# and of Sieve actions are in the same log (mailaudit does not audit deliveries).
# imap_id_retain keeps the client's IMAP ID (name, version) and puts it on the auth
# events as client_id: the ClientInfoString of every record.
protocol imap {
  mail_plugins = $mail_plugins notify mail_log
  imap_id_retain = yes
}
protocol pop3 {
  mail_plugins = $mail_plugins notify mail_log
}
protocol lmtp {
  mail_plugins = $mail_plugins notify mail_log
}
protocol sieve {
  mail_plugins = $mail_plugins notify mail_log
}
# doveadm run from a shell writes mail_log lines to its own stderr, not to the log
# (its expunges and fetches are seen through the exported events instead). Only if
# you run doveadm through the doveadm server or HTTP API, uncomment this so that
# its lines reach the log too:
#protocol doveadm {
#  mail_plugins = $mail_plugins notify mail_log
#}

plugin {
  # Dovecot's default events plus flag_change (Update) and save (Create).
  mail_log_events = delete undelete expunge save copy flag_change mailbox_delete mailbox_rename
  # size is the item's SizeInBytes; msgid and subject identify it in the record.
  mail_log_fields = uid box msgid size flags subject
}

# --- 4. Delegates (shared folders) -------------------------------------------------
# A user acting in another user's folder through the ACL plugin (bob in
# "shared/alice/Archive") is a Delegate; mailaudit reads the owner from the folder
# name, so it must know the prefix: run it with the same shared prefix as here
# ({{.SharedPrefix}}). If you do not share folders yet, this is the usual set-up
# (plus "acl" in mail_plugins and "imap_acl" in protocol imap's mail_plugins):
#namespace shared {
#  type = shared
#  separator = /
#  prefix = {{.SharedPrefix}}
#  location = maildir:%%h/Maildir:INDEXPVT=~/Maildir/shared/%%u
#  subscriptions = no
#  list = children
#}

# --- 5. Exported events -------------------------------------------------------------
{{if .EventsURL}}# transport = http-post makes the stats process POST each event to mailaudit's
# API, with the ingest token in the URL as the password of basic authentication.
# LOSSY: Dovecot sends each event once and drops it when mailaudit is down, slow
# (transport_timeout) or refuses it, and sends events out of order (mailaudit
# puts them back in order). Prefer transport = log (dovecot-config without
# --events-url) wherever mailaudit can read the log file. The mail_log and login
# lines still go to the log above, which mailaudit must still read. The URL holds
# a secret: keep this file readable by root and Dovecot only (doveconf -n prints it).
{{else}}# transport = log makes the stats process write each event as one JSON line
# ("stats: Info: {…}") into the log above: durable while mailaudit is down, in
# order per session. (transport = http-post, dovecot-config --events-url, loses
# events when the receiver is down and sends them out of order; use it only where
# mailaudit cannot read the log.)
{{end}}# Mail processes hand their events to the stats process through the stats-writer
# socket. Keep Dovecot's default for it (mode 0660, group $default_internal_group):
# a mail process connects before it drops to the mail user's privileges, and imap,
# pop3 and lmtp keep that group for reconnecting. Do not open it to every user
# (0666): anyone on the machine could then write events, that is audit records.
event_exporter mailaudit {
  format = json
  format_args = time-rfc3339
{{- if .EventsURL}}
  transport = http-post
  transport_args = {{.EventsURL}}
  transport_timeout = 2sec
{{- else}}
  transport = log
{{- end}}
}
# IMAP commands that are audited or that mail_log lines are matched to.
metric mailaudit_imap {
  exporter = mailaudit
  exporter_include = name hostname timestamps fields
  filter = event=imap_command_finished AND ({{.IMAPFilter}})
}
# Message bodies read (MailItemsAccessed) and messages expunged (HardDelete, and
# the number of messages a MOVE moved). mail_opened for headers or SEARCH is not a
# read and is not exported.
metric mailaudit_mail {
  exporter = mailaudit
  exporter_include = name hostname timestamps fields
  filter = event=mail_expunged OR (event=mail_opened AND (reason_code=imap:fetch_body OR reason_code=doveadm:cmd_fetch))
}
# Successful logins (MailboxLogin; the master user and the IMAP ID of the session)
# and the end of each mail session.
metric mailaudit_session {
  exporter = mailaudit
  exporter_include = name hostname timestamps fields
  filter = (event=auth_request_finished AND success=yes AND (service=imap OR service=pop3 OR service=sieve OR service=submission)) OR event=mail_user_session_finished
}
# ManageSieve changes of Sieve scripts (UpdateInboxRules).
metric mailaudit_sieve {
  exporter = mailaudit
  exporter_include = name hostname timestamps fields
  filter = event=managesieve_command_finished AND ({{.SieveFilter}})
}
`))

// Config returns the Dovecot 2.3 configuration (a conf.d file) mailaudit needs, with comments saying what each part is for and what the administrator must adapt. It must reach imap, lmtp and managesieve processes (see spec: global mail_plugins applies only to protocol blocks after it — so set mail_plugins inside protocol imap/lmtp/sieve blocks with $mail_plugins, as the spec says).
func Config(o ConfigOptions) string {
	if o.LogPath == "" {
		o.LogPath = DefaultLogPath
	}
	if o.SharedPrefix == "" {
		o.SharedPrefix = DefaultSharedPrefix
	}
	if o.MasterSeparator == "" {
		o.MasterSeparator = DefaultMasterSeparator
	}
	if strings.ContainsAny(o.LogPath, " \t#\"") {
		o.LogPath = `"` + strings.ReplaceAll(o.LogPath, `"`, `\"`) + `"`
	}
	var b strings.Builder
	err := configTmpl.Execute(&b, struct {
		ConfigOptions
		IMAPFilter, SieveFilter string
	}{o, filterOr("cmd_name", auditedCommands), filterOr("cmd_name", sieveCommands)})
	if err != nil {
		panic(err) // the template is fixed; only a programming error gets here
	}
	return b.String()
}
