"""Drives a real ManageSieve server over a socket (RFC 5804), as a mail client's
rules editor would.

usage: managesieve.py HOST PORT USER PASSWORD < steps.json

steps: ["put", NAME, SCRIPT], ["activate", NAME], ["rename", OLD, NEW], ["delete", NAME], ["deactivate"].
It prints, as JSON, one [verb, result] per step; result is OK or NO.
"""
import base64
import json
import socket
import sys

host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
steps = json.load(sys.stdin)
sock = socket.create_connection((host, port))
f = sock.makefile("rwb")


def response():
    """Reads lines up to the OK/NO/BYE one and returns its first word."""
    while True:
        line = f.readline().decode()
        if not line:
            raise SystemExit("managesieve.py: connection closed")
        word = line.split(" ", 1)[0].strip().upper()
        if word in ("OK", "NO", "BYE"):
            return word


def send(command, literal=None):
    data = command.encode()
    if literal is not None:
        body = literal.encode()
        data += b" {%d+}\r\n" % len(body) + body
    f.write(data + b"\r\n")
    f.flush()
    return response()


response()  # the greeting and capabilities
auth = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
if send('AUTHENTICATE "PLAIN" "%s"' % auth) != "OK":
    raise SystemExit("managesieve.py: login failed")
out = []
for verb, *args in steps:
    if verb == "put":
        result = send('PUTSCRIPT "%s"' % args[0], args[1])
    elif verb == "activate":
        result = send('SETACTIVE "%s"' % args[0])
    elif verb == "deactivate":
        result = send('SETACTIVE ""')
    elif verb == "rename":
        result = send('RENAMESCRIPT "%s" "%s"' % (args[0], args[1]))
    elif verb == "delete":
        result = send('DELETESCRIPT "%s"' % args[0])
    else:
        raise SystemExit("managesieve.py: unknown step " + verb)
    out.append([verb, result])
send("LOGOUT")
print(json.dumps(out))
