// Package dovecot is mailaudit's Dovecot 2.3 source: the configuration Dovecot
// needs (Config) and the translator from Dovecot's log lines to audit activity
// (Translator), plus the tail of the log file (Tail, Source).
//
// # The log
//
// Config makes Dovecot write every Info-level line into one file
// (info_log_path), with microsecond timestamps:
//
//	2026-11-22T04:56:20.071799+0000 <prefix>: Info: <message>
//
// Also read: Dovecot's default timestamp "Nov 22 04:56:20 " (local time,
// year inferred, whole seconds) and syslog's "… host dovecot[pid]: " with an
// RFC 3339 or BSD timestamp and no level. Three kinds of line are for
// mailaudit; every other line is ignored.
//
// Exported events. event_exporter with format=json, transport=log makes the
// stats process write one event per line:
//
//	… stats: Info: {"event":"imap_command_finished","hostname":"vm","start_time":"…Z","end_time":"…Z","fields":{…}}
//
// (With transport=http-post the same objects are posted to the daemon, which
// writes them as such lines into a spool of its own, read beside the log: see
// EventSpool.)
//
// The translator uses imap_command_finished (SELECT, EXAMINE, SEARCH, COPY,
// MOVE, STORE, EXPUNGE, CLOSE, DELETE, APPEND, SETACL, DELETEACL, ID;
// fields session, user, remote_ip, cmd_name, cmd_args, mailbox,
// tagged_reply_state, tagged_reply), mail_opened (reason_code imap:fetch_body
// or doveadm:cmd_fetch), mail_expunged, auth_request_finished (success,
// service, session, user, master_user, remote_ip, client_id),
// mail_user_session_finished and managesieve_command_finished (cmd_name,
// cmd_args, script_name, old_script_name, new_script_name, error). A "stats:"
// line whose message starts with "{" must be a JSON object with an event
// name, or Line returns an error; an event it does not use is ignored, since
// the same log may carry other exports and later versions add events, but
// not silently: Source logs the first event of each such name and counts
// them all. A known event without the fields the translator needs is an
// error.
//
// mail_log lines. The mail_log plugin writes, with mail_log_prefix
// "%s(%u)<%{pid}><%{session}><auth_user=%{auth_user} master=%{userdb:master_user}>: ":
//
//	… imap(bob)<12532><y4Zop9RgWpZ/AAAB><auth_user=bob master=>: Info: delete: box=shared/alice/Archive, uid=2, msgid=<…>, size=462, subject=…, flags=(\Deleted)
//	… imap(alice)<10611><b9Bno9RgjsF/AAAB><auth_user=admin master=admin>: Info: copy from INBOX: box=Archive, uid=2, msgid=<…>, size=462, subject=…, flags=()
//
// with the events delete, undelete, expunge, save, copy and flag_change
// (mailbox_create, mailbox_delete and mailbox_rename lines are read and
// ignored). The session in the prefix is the events' session field; master is
// the master user of a master-user login. Lines of imap, pop3 and doveadm
// processes are used; lmtp's (deliveries, Sieve fileinto) are not audited.
// The fields are in a fixed order and unquoted; subject, msgid and box can
// hold ", key=" and are split by that order (see splitMailLogFields).
//
// Login lines ("imap-login: Info: Login: user=<…>, …, rip=…, session=<…>")
// and "Disconnected" lines tell a session's user, address and end.
//
// # Joining them
//
// Events and mail_log lines reach the log by different paths: a mail process
// writes its mail_log lines straight to the log process, while its events go
// through the stats process, so the lines of a command come before its event,
// and under load the lines of the next command can too (observed: a DELETE's
// expunge line before the preceding COPY's event). The translator keeps, per
// session, the lines and mail_expunged events no command has claimed. A
// command's event claims the lines of its kind, folder and messages (COPYUID
// and APPENDUID replies, mail_expunged UIDs) that are not older than its
// start_time; unclaimed lines older than its start belong to no command still
// to come and become activity on their own (POP3 and doveadm lines always do).
// A command whose reply or events promise more lines than came is held until
// they come (then the line that completes it is its SourceEventId), the
// session ends, or Flush gives up on them.
//
// # Mapping
//
// Actor: a session with a master user (auth_request_finished.master_user or
// the mail_log prefix) acts as the master user with LogonTypeHint Admin; a
// doveadm session (reason_code doveadm:*) as "doveadm", Admin; otherwise the
// session user. Mailbox: the owner in a shared-namespace folder name
// (Options.SharedPrefix), else the session user.
//
//	MailboxLogin            auth_request_finished success=yes, service imap/pop3/sieve/submission; once per session
//	FolderBind              SELECT/EXAMINE, OK or not
//	MailItemsAccessed       mail_opened with imap:fetch_body or doveadm:cmd_fetch; one item, MailAccessType=Bind
//	                        (the engine records it as MessageBind under a profile without MailItemsAccessed)
//	SearchQueryInitiated    SEARCH/UID SEARCH; SearchQuery = cmd_args
//	Copy                    COPY/UID COPY + its copy lines; one activity, items by source UID
//	Move/MoveToDeletedItems MOVE/UID MOVE + copy and expunge lines (+ mail_expunged); one activity;
//	                        MoveToDeletedItems when the destination is a trash folder
//	SoftDelete              STORE's delete lines; one activity per command
//	Update                  STORE's flag_change/undelete lines; one activity per message
//	                        (flag_change outside a STORE, e.g. FETCH's implicit \Seen, is dropped)
//	HardDelete              EXPUNGE/UID EXPUNGE/CLOSE/DELETE's expunge lines, else their mail_expunged
//	                        events; doveadm's mail_expunged (grouped at its session's end); unclaimed expunge lines
//	Create                  APPEND's save lines; one activity per message
//	UpdateFolderPermissions SETACL/DELETEACL; Member, Rights
//	UpdateInboxRules        ManageSieve PUTSCRIPT/SETACTIVE/DELETESCRIPT/RENAMESCRIPT; RuleName,
//	                        RuleOperation (the command), NewRuleName; Failed when the event has error
//
// A failed command (NO, BAD) gives its activity with ResultStatus Failed and no
// items. One refused as BAD before Dovecot read its arguments has neither
// mailbox nor cmd_args in its event: it is in the folder the session last
// selected, and gives nothing when none is. Item ids are "<folder>:<uid>" with the folder as its owner names it:
// Dovecot logs no UIDVALIDITY with a message.
//
// # What Dovecot 2.3 does not log
//
// Found with the harness (testdata/harness): header and flag fetches served
// from the index cache fire no event, and mail_opened names no Message-ID, so
// reads carry the folder and UID only; SELECT+FETCH FLAGS synchronisation
// (MailAccessType Sync) is not told apart; MOVE's COPYUID is untagged and not
// in the event; CREATE's USE (\Trash) and the namespaces' special_use are not
// logged, so MoveToDeletedItems goes by folder name (Options.TrashFolders);
// doveadm run from a shell writes its mail_log lines to its own stderr and
// fires no event for flag changes, copies or saves, and its actor is only
// "doveadm"; POP3 has no command events (its deletions come from mail_log
// lines at QUIT, its reads not at all); Dovecot answers "Mailbox doesn't
// exist" both for a folder that does not exist and for one the user may not
// see, so a failed SELECT of shared/<x>/… names a mailbox <x> that may not
// exist; cmd_args is cut at about 1 KB and literals are elided ("<107 byte
// literal>"), so a SearchQuery can be incomplete.
package dovecot
