#!/usr/bin/python3
"""Senders on the event clock are a faithful simulation of live sending
(README, "Time"): everything time-related reads the stage's clock.

Python journals stand in for the scheduler and feed a real sms-sender
(spool, rate = 1 text a second) and a real mail-sender (Maildir); no tick
comes between the texts, so only event time can space them.

  - five texts due at once go out one event-second apart: the spool says
    each was sent at T, T+1s ... T+4s, while the wall clock moved well
    under a second per text would allow nothing of the kind;
  - none of them expires, although the clock then jumps 13 hours (past
    the 12 h lifetime) in one tick: each was judged at its own due time;
  - a text due after its not_after (quiet hours) settles as failed, too
    late, without reaching the spool;
  - an e-mail's Date: header is the event time it went, not today.
"""
import email.utils
import glob
import json
import os

from mailtest import mail_options, order as mail_order
from ndtest import ROOT, JournalReader, Pipeline, check, done, wait_for
from sendtest import T0, Orders, iso

PHONE = "+48600100200"
sms = {"input": "scheduler", "topics": "send.sms", "rate": "1", "lifetime": "12h",
       "templates": os.path.join(ROOT, "conf", "templates")}
mail = mail_options(input="shop", topics="send.email", maildir="mail")
extra = {"sms-sender": sms, "mail-sender": mail, "shop": {},
         "reader": {"input": "sms-sender, mail-sender"}}

with Pipeline(clock="event", extra=extra) as p:
    orders, mail_orders = Orders(p), Orders(p, "shop")
    orders.tick(0)
    texts = [orders.order("sms", PHONE) for _ in range(5)]
    late = orders.order("sms", PHONE, not_after=iso(-60))
    mail_body = mail_order(1)
    mail_body["time"] = iso(30)
    mail_orders.journal.append("send.email", mail_body)
    orders.tick(13 * 3600)
    p.start("sms-sender")
    p.start("mail-sender")
    reader = JournalReader(p, "sms-sender", "reader", 1000)
    mails = JournalReader(p, "mail-sender", "reader", 1000)

    def settled():
        orders.serve()
        mail_orders.serve()
        reader.poll(0.1)
        mails.poll(0.1)
        got = [b for _, t, b in reader.messages if t.startswith("feedback.")]
        return len(got) == 6 and any(t.startswith("feedback.") for _, t, _ in mails.messages)
    check("every order settles", wait_for(settled, 30), reader.messages)

    spool = {}
    for path in glob.glob(os.path.join(p.dir, "var", "sms", "*.json")):
        with open(path) as f:
            record = json.load(f)
        spool[record["idempotency_key"]] = record["sent"]
    sent = sorted(spool.get(o["idempotency_key"], "") for o in texts)
    check("five texts at 1/s go out one event-second apart",
          sent == [iso(s) for s in range(5)], sent)
    feedback = {b["idempotency_key"]: t for _, t, b in reader.messages if t.startswith("feedback.")}
    check("none expires when the clock then jumps past the lifetime",
          all(feedback.get(o["idempotency_key"]) == "feedback.delivered" for o in texts), feedback)
    failed = [b for _, t, b in reader.messages if t == "feedback.failed"]
    check("a text past its not_after fails as too late, and is not spooled",
          len(failed) == 1 and failed[0]["idempotency_key"] == late["idempotency_key"]
          and "too late" in failed[0].get("reason", "") and late["idempotency_key"] not in spool,
          failed)

    files = glob.glob(os.path.join(p.dir, "mail", "new", "*"))
    date = None
    if len(files) == 1:
        with open(files[0], "rb") as f:
            head = f.read().split(b"\r\n\r\n")[0].decode()
        date = next((line[6:] for line in head.split("\r\n") if line.startswith("Date: ")), None)
    want = (T0.timestamp() + 30)
    check("the e-mail's Date: is the event time it went",
          date is not None and email.utils.parsedate_to_datetime(date).timestamp() == want,
          (date, files))
    reader.close()
    mails.close()
done()
