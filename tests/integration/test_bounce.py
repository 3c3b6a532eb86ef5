#!/usr/bin/python3
"""Bounces and complaints after the SMTP session: VERP, nd-bounce, suppression.

The mail-sender sends real messages to a real SMTP server (aiosmtpd) with
"return-path = bounces@shop.example": each MAIL FROM is
bounces+TOKEN@shop.example. Reports about those messages are then built
with Python's email package, as a remote MTA or a mailbox provider would
send them, and fed to nd-bounce:

  - a DSN (multipart/report; report-type=delivery-status, Action failed,
    Status 5.1.1) on stdin, as Postfix's pipe would: feedback.bounced
    {"kind": "hard", "suppressed": true}, and the next order to that
    address is not delivered; the same DSN again emits nothing new;
  - a DSN with Action delayed, Status 4.4.7: feedback.bounced {"kind":
    "soft"}, no suppression: the next order is delivered;
  - an ARF complaint (report-type=feedback-report, Feedback-Type abuse),
    found through the attached original's Return-Path: feedback.complained,
    and the next order is not delivered;
  - a DSN dropped into a Maildir, nd-bounce --maildir DIR --once: handled,
    moved from new/ to cur/, the address suppressed;
  - a tampered token: exit 65, one line saying why, nothing emitted;
  - an auto-reply (no report): exit 0, nothing emitted;
  - the mail-sender's STATS count the bounces.

Then the scheduler reads that feedback (the mail-sender's own bodies, as
emitted above, keyed to its send orders): after a hard bounce and a
complaint the second abandoned-cart reminder goes to nobody, after a soft
bounce it goes; nd-report counts each under the step and channel.
"""
import base64
import hashlib
import json
import os
import subprocess
from email.message import Message
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
import email.policy

from ndtest import BIN, Pipeline, check, done, free_port
from mailtest import Journal, Orders, mail_options, order, parse, wait
from schedtest import Feed, Reader, pipeline_extra, users_in
from smtpd import SmtpServer

DOMAIN = "@shop.example"


def dsn(envelope_to, final_rcpt, action, status, diagnostic, original):
    """A delivery status notification (RFC 3464) about original."""
    report = MIMEMultipart("report", report_type="delivery-status")
    report["From"] = "Mail Delivery System <MAILER-DAEMON@mx.example.com>"
    report["To"] = envelope_to
    report["Delivered-To"] = envelope_to
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report.attach(MIMEText("I'm sorry to have to inform you that your message could not\n"
                           "be delivered to one or more recipients.\n", "plain", "us-ascii"))
    per_message, per_recipient = Message(), Message()
    per_message["Reporting-MTA"] = "dns; mx.example.com"
    per_message["Arrival-Date"] = "Mon, 2 Mar 2026 12:00:05 +0000"
    per_recipient["Final-Recipient"] = "rfc822; " + final_rcpt
    per_recipient["Original-Recipient"] = "rfc822; " + final_rcpt
    per_recipient["Action"] = action
    per_recipient["Status"] = status
    per_recipient["Remote-MTA"] = "dns; mx2.example.com"
    per_recipient["Diagnostic-Code"] = diagnostic
    status_part = Message()
    status_part["Content-Type"] = "message/delivery-status"
    status_part.set_payload([per_message, per_recipient])
    report.attach(status_part)
    headers = original.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace")
    report.attach(MIMEText(headers + "\n", "rfc822-headers", "us-ascii"))
    return report.as_bytes(policy=email.policy.SMTP)


def arf(original_with_return_path):
    """A feedback report (RFC 5965) as a mailbox provider sends one: to the
    shop's abuse desk, the original attached with its Return-Path."""
    report = MIMEMultipart("report", report_type="feedback-report")
    report["From"] = "Feedback Loop <fbl@isp.example.net>"
    report["To"] = "abuse-desk@shop.example"
    report["Subject"] = "FW: spam complaint"
    report.attach(MIMEText("This is an email abuse report for an email message received "
                           "from IP 192.0.2.1.\n", "plain", "us-ascii"))
    feedback = Message()
    feedback["Content-Type"] = "message/feedback-report"
    feedback.set_payload("Feedback-Type: abuse\nUser-Agent: SomeISP-FBL/1.0\nVersion: 1\n"
                         "Original-Rcpt-To: <complain@example.com>\n"
                         "Arrival-Date: Mon, 2 Mar 2026 12:00:05 +0000\n"
                         "Source-IP: 192.0.2.1\n")
    report.attach(feedback)
    report.attach(MIMEMessage(parse(original_with_return_path)))
    return report.as_bytes()


with Pipeline(clock="event") as p:
    server = SmtpServer(p.dir, tls=None)
    server.start()
    intake = "127.0.0.1:%d" % free_port()
    p.write_config({"mail-sender": mail_options(
        relay="localhost:%d" % server.port, tls="none", auth=False,
        **{"return-path": "bounces@shop.example", "bounce-intake": intake})})
    p.start("mail-sender")
    orders, journal = Orders(p), Journal(p)
    pumps = [orders.pump, journal.poll]

    def feedback(kind=None):
        journal.poll(0.05)
        return journal.feedback(kind)

    def settle(count, timeout=15):
        return wait(lambda: len(feedback()) >= count, pumps, timeout)

    def nd_bounce(data, *args):
        r = subprocess.run([os.path.join(BIN, "nd-bounce"), "--intake", intake] + list(args),
                           input=data, capture_output=True, timeout=30)
        return r.returncode, r.stderr.decode("utf-8", "replace")

    addresses = ["hard@example.com", "soft@example.com", "complain@example.com",
                 "boxed@example.com", "forged@example.com"]
    for n, address in enumerate(addresses, 1):
        orders.send(order(n, to=address, minutes=n * 0.1))
    settle(len(addresses))
    sent = {rcpts[0]: (mail_from, data) for mail_from, rcpts, data in server.messages}
    check("five messages delivered", len(sent) == 5 and len(feedback("delivered")) == 5,
          (sorted(sent), feedback()))
    envelope = {a: sent[a][0] for a in sent}
    tokens = {a: f[len("bounces+"):-len(DOMAIN)] for a, f in envelope.items()}
    check("each MAIL FROM is bounces+TOKEN@shop.example, a token of its own",
          all(f.startswith("bounces+") and f.endswith(DOMAIN) for f in envelope.values())
          and len(set(tokens.values())) == 5, envelope)
    token = tokens["hard@example.com"]
    payload = base64.b32decode(token.upper() + "=" * (-len(token) % 8))
    check("the token names the order, not the address: 22 bytes, its id the key's SHA-256",
          len(payload) == 22 and payload[6:14]
          == hashlib.sha256(b"abandoned-cart/e1-1/reminder-1/email").digest()[:8]
          and b"hard" not in payload, payload)
    check("each return path's local part fits RFC 5321's 64 characters, in lower-case base32",
          all(len(f.split("@")[0]) <= 64 and set(t) <= set("abcdefghijklmnopqrstuvwxyz234567")
              for f, t in zip(envelope.values(), tokens.values())),
          [len(f.split("@")[0]) for f in envelope.values()])

    # A hard bounce on stdin
    before = len(feedback())
    hard = dsn(envelope["hard@example.com"], "hard@example.com", "failed", "5.1.1",
               "smtp; 550 5.1.1 <hard@example.com>: Recipient address rejected: User unknown",
               sent["hard@example.com"][1])
    rc, err = nd_bounce(hard, "--recipient", envelope["hard@example.com"])
    settle(before + 1)
    bounced = feedback("bounced")
    check("a hard DSN on stdin: exit 0, feedback.bounced kind hard, suppressed, for order 1",
          rc == 0 and len(bounced) == 1 and bounced[0]["kind"] == "hard"
          and bounced[0]["suppressed"] is True and bounced[0]["status"] == "5.1.1"
          and bounced[0]["idempotency_key"] == "abandoned-cart/e1-1/reminder-1/email"
          and bounced[0]["user"] == "v-1" and bounced[0]["channel"] == "email", (rc, err, bounced))
    check("the reason quotes the remote server with the address masked",
          bounced and "550 5.1.1" in bounced[0]["reason"] and "hard@" not in bounced[0]["reason"],
          bounced)
    rc, err = nd_bounce(hard, "--recipient", envelope["hard@example.com"])
    check("the same DSN again: exit 0, nothing new", rc == 0 and len(feedback()) == before + 1
          and "reported before" in p.log("mail-sender"), (rc, err, feedback()[before:]))

    # A soft bounce, found through Delivered-To (no --recipient)
    soft = dsn(envelope["soft@example.com"], "soft@example.com", "delayed", "4.4.7",
               "smtp; 451 4.4.7 mailbox temporarily unavailable", sent["soft@example.com"][1])
    rc, err = nd_bounce(soft)
    settle(before + 2)
    soft_fb = [b for b in feedback("bounced") if b.get("kind") == "soft"]
    check("a delayed 4.4.7 DSN: feedback.bounced kind soft, not suppressed",
          rc == 0 and len(soft_fb) == 1 and soft_fb[0]["suppressed"] is False
          and soft_fb[0]["idempotency_key"] == "abandoned-cart/e1-2/reminder-1/email", (rc, err, soft_fb))

    # A complaint: the token is in the attached original's Return-Path
    original = b"Return-Path: <" + envelope["complain@example.com"].encode() + b">\r\n" \
        + sent["complain@example.com"][1]
    rc, err = nd_bounce(arf(original))
    settle(before + 3)
    complained = feedback("complained")
    check("an ARF abuse report: exit 0, feedback.complained for order 3",
          rc == 0 and len(complained) == 1
          and complained[0]["idempotency_key"] == "abandoned-cart/e1-3/reminder-1/email"
          and complained[0]["feedback_type"] == "abuse" and complained[0]["user"] == "v-3",
          (rc, err, complained))

    # A hard bounce through a Maildir
    maildir = os.path.join(p.dir, "bounces")
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(maildir, sub))
    with open(os.path.join(maildir, "new", "1772452900.M1P1.mx"), "wb") as f:
        f.write(dsn(envelope["boxed@example.com"], "boxed@example.com", "failed", "5.2.1",
                    "smtp; 550 5.2.1 mailbox disabled", sent["boxed@example.com"][1]))
    rc, err = nd_bounce(b"", "--maildir", maildir, "--once")
    settle(before + 4)
    boxed = [b for b in feedback("bounced") if b["idempotency_key"].endswith("e1-4/reminder-1/email")]
    check("--maildir: exit 0, feedback.bounced hard for order 4, moved from new/ to cur/",
          rc == 0 and len(boxed) == 1 and boxed[0]["suppressed"] is True
          and os.listdir(os.path.join(maildir, "new")) == []
          and os.listdir(os.path.join(maildir, "cur")) == ["1772452900.M1P1.mx:2,S"],
          (rc, err, boxed, os.listdir(os.path.join(maildir, "cur"))))

    # A tampered token: one character of the MAC changed
    token = tokens["forged@example.com"]
    forged_token = token[:-3] + ("a" if token[-3] != "a" else "b") + token[-2:]
    forged_to = "bounces+" + forged_token + DOMAIN
    count = len(feedback())
    rc, err = nd_bounce(dsn(forged_to, "forged@example.com", "failed", "5.1.1",
                            "smtp; 550 5.1.1 no such user", sent["forged@example.com"][1]),
                        "--recipient", forged_to)
    wait(lambda: False, pumps, 0.5)
    check("a tampered token: exit 65, one line saying so, nothing emitted",
          rc == 65 and "forged or altered" in err and len(err.strip().splitlines()) == 1
          and len(feedback()) == count, (rc, err, feedback()[count:]))
    rc, err = nd_bounce(b"From: someone@example.org\r\nTo: " + envelope["forged@example.com"].encode()
                        + b"\r\nSubject: Out of office\r\n\r\nI am away until Monday.\r\n")
    wait(lambda: False, pumps, 0.3)
    check("an auto-reply (no report): exit 0, nothing emitted",
          rc == 0 and "ignored" in err and len(feedback()) == count, (rc, err))

    # The next journey's orders: only the soft-bounced address gets one
    for n, address in enumerate(addresses[:4], 11):
        orders.send(order(n, to=address, minutes=5 + n * 0.1))
    settle(count + 4)
    delivered = [rcpts[0] for _, rcpts, _ in server.messages[5:]]
    later = {b["idempotency_key"].split("/")[1]: b for b in feedback()[count:]}
    check("next orders: the soft-bounced address is mailed, the others are not",
          delivered == ["soft@example.com"], delivered)
    check("... the hard-bounced ones answered feedback.bounced, the complaint's unsubscribed",
          later.get("e1-11", {}).get("reason", "").startswith("suppressed: the address bounced")
          and "complained" in later.get("e1-13", {}).get("reason", "")
          and later.get("e1-14", {}).get("reason", "").startswith("suppressed: the address bounced")
          and [t for _, t, b in journal.messages if b.get("idempotency_key", "").split("/")[1:2]
               == ["e1-13"]] == ["feedback.unsubscribed"]
          and later.get("e1-12", {}).get("attempts") == 1, later)
    stats = p.control("mail-sender")
    check("STATS count them: 2 hard, 1 soft, 1 complaint, the forgery refused",
          stats.get("bounces", {}).get("hard") == 2 and stats["bounces"]["soft"] == 1
          and stats["bounces"]["complaints"] == 1 and stats["bounces"]["refused"] == 1,
          stats.get("bounces"))
    orders.close()
    journal.close()
    server.stop()
    emitted = {"hard": bounced[0], "soft": soft_fb[0], "complained": complained[0]}

with Pipeline(clock="event", extra=pipeline_extra()) as p:
    p.start("scheduler")
    feed, reader = Feed(p), Reader(p)
    A, B, C = users_in("abandoned-cart", "treated", 3)

    def at(hours):
        feed.tick(hours)
        feed.settle()
        reader.drain(p)

    def sends(user, step):
        return [s for s in reader.sends(user) if s["step"] == step]

    for user in (A, B, C):
        feed.abandon(user, 0)
    at(1.0)
    first = {u: sends(u, "reminder-1") for u in (A, B, C)}
    check("the first reminders go by e-mail", all([s["channel"] for s in first[u]] == ["email"]
                                                 for u in first), first)
    for user, which in ((A, "hard"), (B, "soft"), (C, "complained")):
        body = {k: v for k, v in emitted[which].items() if k not in ("id", "user", "time")}
        body["idempotency_key"] = first[user][0]["idempotency_key"] if first[user] else "?"
        topic = "feedback.complained" if which == "complained" else "feedback.bounced"
        feed.send(topic, user, 1.5, server=feed.back, **body)
    at(24.0)
    second = {u: [s["channel"] for s in sends(u, "reminder-2")] for u in (A, B, C)}
    check("second reminder: none after a hard bounce or a complaint, by e-mail after a soft one",
          second == {A: [], B: ["email"], C: []}, second)
    out = subprocess.run([os.path.join(BIN, "nd-report"), "-c", p.config, "--json"],
                         capture_output=True, text=True)
    metrics = {}
    for v in json.loads(out.stdout or "{}").get("counters", {}).get("abandoned-cart", {}).values():
        for metric, n in v.get("steps", {}).get("reminder-1", {}).get("email", {}).items():
            metrics[metric] = metrics.get(metric, 0) + n
    check("nd-report counts them under reminder-1 by e-mail: bounced, soft-bounced, complained",
          metrics.get("bounced") == 1 and metrics.get("soft-bounced") == 1
          and metrics.get("complained") == 1, (metrics, out.stderr))
    totals = p.control("scheduler")["scheduler"]["counts"]
    check("the scheduler's STATS count both bounces", totals.get("feedback.bounced") == 2, totals)
    feed.close()
    reader.close()
done()
