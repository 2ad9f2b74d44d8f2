#!/usr/bin/env python3
"""Submits messages over SMTP with SASL PLAIN, one connection per message,
for the end-to-end tests: python3 smtp.py HOST PORT < messages.json

Each message is an object:
  {"id": "m1", "login": "bob", "password": "bobpw", "authzid": "",
   "from": "shared@example.org", "rcpts": ["alice@example.org"],
   "headers": [["From", "shared@example.org"], ["Subject", "Hi"]],
   "body_bytes": 0}
authzid, when set, is sent as PLAIN's authorisation identity (a Dovecot
master-user login: authzid=alice, login=admin). body_bytes makes a body of
about that many bytes (of 76-character lines). Optional:
  "data_file": "/path"  the whole message (headers and body) to send, instead
                        of headers and body_bytes
  "timeout": 15         seconds each network operation may take (default 60):
                        a reply that takes longer fails the message
  "pause": "/path"      after RCPT, print {"id": …, "paused": true} and wait
                        for the file to exist before DATA

Prints, as soon as each message is done, one JSON line:
  {"id": "m1", "start": 1795316229.12, "end": 1795316229.15,
   "code": 250, "reply": "2.0.0 Ok: queued as 4Xq…", "queue_id": "4Xq…"}
start is taken before connecting, end when the reply to the end of DATA
arrived (time.time(), seconds). A failure has "error" instead.
"""
import base64
import json
import os
import smtplib
import sys
import time


def body(n):
    line = ("x" * 74) + "\r\n"
    text = "Hello.\r\n"
    if n > len(text):
        text += line * ((n - len(text)) // len(line))
    return text


def send(host, port, m):
    out = {"id": m["id"]}
    out["start"] = time.time()
    try:
        s = smtplib.SMTP(host, port, timeout=m.get("timeout", 60))
        s.ehlo("client.example.net")
        if m.get("authzid"):
            cred = "%s\0%s\0%s" % (m["authzid"], m["login"], m["password"])
            code, resp = s.docmd("AUTH", "PLAIN " + base64.b64encode(cred.encode()).decode())
            if code != 235:
                raise smtplib.SMTPAuthenticationError(code, resp)
        else:
            s.login(m["login"], m["password"])
        if m.get("data_file"):
            with open(m["data_file"], "rb") as f:
                data = f.read()
        else:
            data = "".join("%s: %s\r\n" % (k, v) for k, v in m["headers"])
            data += "\r\n" + body(m.get("body_bytes", 0))
            data = data.encode()
        code, resp = s.mail(m["from"])
        if code >= 400:
            raise smtplib.SMTPSenderRefused(code, resp, m["from"])
        for r in m["rcpts"]:
            code, resp = s.rcpt(r)
            if code >= 400:
                raise smtplib.SMTPRecipientsRefused({r: (code, resp)})
        if m.get("pause"):
            print(json.dumps({"id": m["id"], "paused": True}), flush=True)
            while not os.path.exists(m["pause"]):
                time.sleep(0.02)
        code, resp = s.data(data)
        out["end"] = time.time()
        out["code"] = code
        out["reply"] = resp.decode(errors="replace")
        if "queued as " in out["reply"]:
            out["queue_id"] = out["reply"].rsplit("queued as ", 1)[1].strip()
        s.quit()
    except Exception as e:  # reported, not raised: the caller decides
        out["end"] = time.time()
        out["error"] = "%s: %s" % (type(e).__name__, e)
    return out


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    for m in json.load(sys.stdin):
        print(json.dumps(send(host, port, m)), flush=True)


if __name__ == "__main__":
    main()
