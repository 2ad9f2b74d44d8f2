#!/usr/bin/env python3
"""Build testdata/*.txtar from a capture directory (go test -run TestLive -live
-capture DIR). Each archive gets its description and the log lines of its
scenarios; run `go test -run TestGolden -update` afterwards to (re)write the
expected activity, and review the diff.

Usage: archives.py CAPTURE_DIR TESTDATA_DIR
"""
import os, sys

ARCHIVES = [
    ('mailboxlogin', ['login_owner', 'login_delegate', 'login_admin', 'login_failed', 'login_id_after'],
     'MailboxLogin: one per session from auth_request_finished success=yes, with the IMAP ID\n'
     '(imap_id_retain puts it on the auth event as client_id, or the ID command after login).\n'
     'alice (owner), bob (owner of his own mailbox), alice*admin (master user admin: UserId admin,\n'
     'LogonTypeHint Admin), a failed login (nothing), carol sending ID after login.'),
    ('folderbind', ['folderbind_owner', 'folderbind_delegate', 'folderbind_admin', 'folderbind_failed'],
     'FolderBind: SELECT and EXAMINE. bob in shared/alice/Archive is a delegate of alice; his SELECT of\n'
     'shared/alice/INBOX (no rights) fails, as does alice\'s SELECT of a folder that does not exist.'),
    ('mailitemsaccessed', ['bind_owner', 'bind_delegate', 'bind_admin', 'doveadm_fetch'],
     'MailItemsAccessed Bind: mail_opened with reason_code imap:fetch_body (FETCH BODY[],\n'
     'BODY.PEEK[TEXT]), not FLAGS ENVELOPE. The implicit \\Seen flag_change of alice\'s FETCH 1 (BODY[])\n'
     'is not an Update. doveadm fetch reads as doveadm, Admin.'),
    ('searchqueryinitiated', ['search_owner', 'search_delegate', 'search_admin'],
     'SearchQueryInitiated: SEARCH and UID SEARCH with the query. SEARCH TEXT opens messages\n'
     '(mail_opened reason search), which are not reads and are not even exported.'),
    ('copy', ['copy_owner', 'copy_admin', 'copy_failed'],
     'Copy: COPY/UID COPY and their copy lines, one activity per command, items named by source\n'
     'UID through COPYUID. A COPY to a folder that does not exist fails.'),
    ('move', ['move_owner', 'move_delegate', 'move_admin', 'move_special_use'],
     'Move and MoveToDeletedItems: MOVE/UID MOVE, each one activity from its copy and expunge lines.\n'
     'To Trash: MoveToDeletedItems. bob moves from alice\'s Archive into his own INBOX (cross-mailbox).\n'
     'Bin was created with CREATE Bin (USE (\\Trash)), which Dovecot does not log: a plain Move.'),
    ('softdelete', ['softdelete_owner', 'softdelete_delegate', 'softdelete_admin'],
     'SoftDelete: STORE +FLAGS (\\Deleted) (delete lines, one activity per command with its items);\n'
     'STORE -FLAGS (\\Deleted) is an undelete: an Update per message.'),
    ('update', ['flags_owner', 'flags_delegate', 'flags_admin'],
     'Update: STORE of flags and keywords (flag_change lines), one activity per message; bob\'s STORE of\n'
     '\\Flagged and $Important logs two lines for one message: one Update.'),
    ('harddelete', ['expunge_owner', 'expunge_delegate', 'expunge_close_admin', 'delete_folder_owner', 'doveadm_expunge'],
     'HardDelete: EXPUNGE, UID EXPUNGE, CLOSE and DELETE of a folder with mail, one activity per command\n'
     'with all its items; doveadm expunge (mail_expunged events only: doveadm\'s mail_log goes to its\n'
     'stderr) as doveadm, Admin. In delete_folder_owner the DELETE\'s expunge line reached the log before\n'
     'the preceding COPY\'s event (real reordering): it must go to the DELETE, not the COPY.'),
    ('create', ['append_owner', 'append_delegate', 'append_admin'],
     'Create: APPEND and its save line.'),
    ('updatefolderpermissions', ['acl_owner', 'acl_admin', 'acl_failed'],
     'UpdateFolderPermissions: SETACL and DELETEACL (GETACL is not audited); carol\'s SETACL on\n'
     'alice\'s folder fails.'),
    ('updateinboxrules', ['sieve_owner', 'sieve_admin'],
     'UpdateInboxRules: ManageSieve PUTSCRIPT, SETACTIVE, RENAMESCRIPT, SETACTIVE "" and DELETESCRIPT,\n'
     'a PUTSCRIPT that does not compile (Failed), and the master user admin (SASL PLAIN authzid alice)\n'
     'installing a redirect.'),
]


def main():
    cap, out = sys.argv[1], sys.argv[2]
    for name, scenarios, desc in ARCHIVES:
        parts = []
        for s in scenarios:
            with open(os.path.join(cap, s + '.log'), 'rb') as f:
                parts.append(f.read())
        log = b''.join(sorted(parts))  # in the order they happened
        with open(os.path.join(out, name + '.txtar'), 'wb') as f:
            f.write(desc.encode() + b'\n-- log --\n' + log)
        print(name, log.count(b'\n'), 'lines')


if __name__ == '__main__':
    main()
