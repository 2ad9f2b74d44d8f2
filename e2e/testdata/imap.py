"""Drives a real IMAP server with python's imaplib, as a mail client would.

usage: imap.py HOST PORT USER PASSWORD < steps.json
       imap.py HOST PORT USER PASSWORD --session

With --session it logs in, then reads one step (a JSON list) per line and answers each with its result
(one JSON list per line) at once, until its input ends: a session the caller drives step by step.

steps.json is a list of steps, each a list: a verb and its arguments:
  ["id", NAME, VERSION]          IMAP ID (before the login, as clients send it)
  ["select", FOLDER] / ["examine", FOLDER]
  ["fetch", UIDS]                UID FETCH UIDS (BODY[]): reads the messages
  ["search", CRITERION...]       UID SEARCH
  ["copy", UIDS, DEST] / ["move", UIDS, DEST]
  ["store", UIDS, ITEM, FLAGS]   UID STORE, e.g. ["store", "1", "+FLAGS", "(\\Deleted)"]
  ["expunge"]
  ["append", FOLDER, MESSAGE]
  ["setacl", FOLDER, USER, RIGHTS] / ["deleteacl", FOLDER, USER]
  ["create", FOLDER]
It prints, as JSON, one [verb, result, tagged reply, time] per step; result is OK, NO or BAD, and time is
when the tagged reply arrived (seconds since the epoch, as text).
"""
import imaplib
import json
import sys
import time

host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
session = sys.argv[5:] == ["--session"]
steps = [] if session else json.load(sys.stdin)
imap = imaplib.IMAP4(host, port)
imaplib.Commands.setdefault("ID", ("NONAUTH", "AUTH", "SELECTED"))
out = []
for verb, *args in [s for s in steps if s[0] == "id"]:
    typ, data = imap._simple_command("ID", '("name" "%s" "version" "%s")' % (args[0], args[1]))
    out.append([verb, typ, "", repr(time.time())])
imap.login(user, password)


def run(verb, args):
    """Runs one step and returns [verb, result, tagged reply, time]."""
    try:
        if verb == "select":
            typ, data = imap.select(args[0])
        elif verb == "examine":
            typ, data = imap.select(args[0], readonly=True)
        elif verb == "fetch":
            typ, data = imap.uid("FETCH", args[0], "(BODY[])")
        elif verb == "search":
            typ, data = imap.uid("SEARCH", *args)
        elif verb in ("copy", "move"):
            typ, data = imap.uid(verb.upper(), args[0], args[1])
        elif verb == "store":
            typ, data = imap.uid("STORE", args[0], args[1], args[2])
        elif verb == "expunge":
            typ, data = imap.expunge()
        elif verb == "append":
            typ, data = imap.append(args[0], "", imaplib.Time2Internaldate(time.time()), args[1].encode())
        elif verb == "setacl":
            typ, data = imap.setacl(args[0], args[1], args[2])
        elif verb == "deleteacl":
            typ, data = imap.deleteacl(args[0], args[1])
        elif verb == "create":
            typ, data = imap.create(args[0])
        else:
            raise SystemExit("imap.py: unknown step " + verb)
    except imaplib.IMAP4.error as e:
        typ, data = "NO", [str(e).encode()]
    reply = data[-1] if data and isinstance(data[-1], bytes) else b""
    return [verb, typ, reply.decode(errors="replace"), repr(time.time())]


if session:
    for line in sys.stdin:
        verb, *args = json.loads(line)
        print(json.dumps(run(verb, args)), flush=True)
else:
    for verb, *args in [s for s in steps if s[0] != "id"]:
        out.append(run(verb, args))
try:
    imap.logout()
except imaplib.IMAP4.error:
    pass  # e.g. the server made the mailbox read-only on the way out
if not session:
    print(json.dumps(out))
