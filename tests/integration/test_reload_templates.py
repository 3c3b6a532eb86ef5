#!/usr/bin/python3
"""SIGHUP reloads the senders' templates: a changed message without a restart.

The push-sender (spool), the sms-sender (spool) and the mail-sender
(Maildir) read one templates directory; a Python journal stands in for
the scheduler; event time, no sleeps.

  - a template changed on disk is not used until SIGHUP; after it (a
    "reloaded: N <channel> templates from DIR" line) the next message of
    each channel carries the new text;
  - a template that does not compile is refused with its file name
    ("reload refused: <file>: ...; still running the previous
    templates"): the sender runs on, HEALTH ok, and sends with the set it
    had, untouched by the broken file;
  - fixed again, a RELOAD on the control socket takes it;
  - onsite renders at order time: after SIGHUP the next order's message
    has the new title, one stored before keeps its own.
"""
import email
import email.policy
import glob
import hashlib
import json
import os
import shutil
import signal

import urllib.request

from ndtest import ROOT, Pipeline, check, done, free_port, wait_for
from sendtest import Orders, feedback

SUBSCRIPTION = {"endpoint": "https://fcm.googleapis.com/fcm/send/abc",
                "keys": {"p256dh": "BNc", "auth": "tBH"}}
SENDERS = ("push-sender", "sms-sender", "mail-sender")


def reloads(p, stage):
    return [l for l in p.log(stage).splitlines() if "reloaded: " in l or "reload refused: " in l]


def hangup(p, stage):
    before = len(reloads(p, stage))
    p.procs[stage].send_signal(signal.SIGHUP)
    wait_for(lambda: len(reloads(p, stage)) > before, timeout=20)
    return (reloads(p, stage) or [""])[-1]


with Pipeline(clock="event") as p:
    templates = os.path.join(p.dir, "templates")
    shutil.copytree(os.path.join(ROOT, "conf", "templates"), templates)
    here = os.path.join(templates, "abandoned-cart", "reminder-1", "en")
    push_spool, sms_spool, maildir = (os.path.join(p.dir, d) for d in ("push", "sms", "mail"))
    common = {"input": "scheduler", "templates": templates}
    p.write_config({
        "push-sender": dict(common, topics="send.push", spool=push_spool,
                            **{"vapid-subject": "mailto:ops@shop.example"}),
        "sms-sender": dict(common, topics="send.sms", spool=sms_spool, **{"stop-footer": "no"}),
        "mail-sender": dict(common, topics="send.email", maildir=maildir,
                            **{"from": "Example Shop <shop@shop.example>"})})
    orders = Orders(p)
    for stage in SENDERS:
        p.start(stage)
    taps = {stage: p.tap(stage, "feedback.") for stage in SENDERS}

    def sent():
        """One order per channel; what each message says: the push's title,
        the text of the SMS, the mail's Subject."""
        said = {}
        for stage, channel, to in (("push-sender", "push", SUBSCRIPTION),
                                   ("sms-sender", "sms", "+48600100200"),
                                   ("mail-sender", "email", "ann@example.com")):
            o = orders.order(channel, to)
            fb = feedback(taps[stage], o["idempotency_key"], serve=orders.serve)
            if [t for t, _ in fb] != ["feedback.delivered"]:
                said[channel] = "not delivered: %s" % fb
                continue
            provider_id = fb[0][1].get("provider_id", "")
            if channel == "push":
                said[channel] = json.load(open(os.path.join(push_spool, provider_id + ".json")))["title"]
            elif channel == "sms":
                said[channel] = json.load(open(os.path.join(sms_spool, provider_id + ".json")))["text"]
            else:
                #  Message-ID: the first 32 hex digits of the key's SHA-256
                mid = "<%s@" % hashlib.sha256(o["idempotency_key"].encode()).hexdigest()[:32]
                mails = [email.message_from_binary_file(open(f, "rb"), policy=email.policy.default)
                         for f in glob.glob(os.path.join(maildir, "new", "*"))]
                mine = [m for m in mails if str(m["Message-ID"]).startswith(mid)]
                said[channel] = str(mine[0]["Subject"]) if len(mine) == 1 else "mails: %d" % len(mine)
        return said

    before = sent()
    check("the shipped texts at first",
          before == {"push": "You left something in your cart",
                     "sms": "Ann, your cart at Example Shop (114.90 EUR) is still waiting: "
                            "https://shop.example/cart",
                     "email": "Ann, you left something in your cart"}, before)

    for name, text in (("push.title", "Still thinking, {{first_name}}?"),
                       ("sms.text", "{{first_name}}: your cart waits. {{{shop.url}}}/cart"),
                       ("email.subject", "{{first_name}}, your cart misses you")):
        with open(os.path.join(here, name + ".mustache"), "w") as f:
            f.write(text + "\n")
    check("changed on disk, not used before SIGHUP", sent() == before, before)

    said = {stage: hangup(p, stage) for stage in SENDERS}
    check("SIGHUP: each says 'reloaded: N <channel> templates from DIR'",
          all(("templates from " + templates) in said[s] and "reloaded: " in said[s] for s in SENDERS)
          and " push templates" in said["push-sender"] and " sms templates" in said["sms-sender"]
          and " e-mail templates" in said["mail-sender"], said)
    after = sent()
    check("the next message of each channel has the new text",
          after == {"push": "Still thinking, Ann?",
                    "sms": "Ann: your cart waits. https://shop.example/cart",
                    "email": "Ann, your cart misses you"}, after)

    # A template that does not compile: refused, the set in use stays
    for name in ("push.body", "sms.text", "email.text"):
        with open(os.path.join(here, name + ".mustache"), "w") as f:
            f.write("Broken {{#cart}} never closed\n")
    said = {stage: hangup(p, stage) for stage in SENDERS}
    check("a broken template: 'reload refused: <file>: ...; still running the previous templates'",
          all("reload refused: " + here in said[s]
              and said[s].endswith("; still running the previous templates") for s in SENDERS), said)
    check("every sender runs on and answers HEALTH ok",
          all(p.procs[s].poll() is None and p.control(s, "HEALTH")["status"] == "ok"
              for s in SENDERS))
    check("and sends with the set it had, untouched by the broken files", sent() == after, sent())

    shutil.copy(os.path.join(ROOT, "conf", "templates", "abandoned-cart", "reminder-1", "en",
                             "sms.text.mustache"), here)
    answer = p.control("sms-sender", "RELOAD")
    check("fixed, RELOAD on the control socket takes it",
          answer.get("reloaded") is True and "sms templates" in answer.get("what", ""), answer)
    check("the SMS is the shipped text again", sent()["sms"].startswith("Ann, your cart at"))
    stats = p.control("sms-sender")
    check("STATS: 2 reloads done, 1 refused", stats["reloads"]["done"] == 2
          and stats["reloads"]["refused"] == 1 and stats["reloads"]["last_refused"] == "",
          stats["reloads"])
    for stage in SENDERS:
        p.stop(stage)

with Pipeline(clock="event") as p:
    templates = os.path.join(p.dir, "templates")
    shutil.copytree(os.path.join(ROOT, "conf", "templates"), templates)
    port = free_port()
    p.write_config({"onsite": {"input": "scheduler", "topics": "send.onsite", "templates": templates,
                               "http": "127.0.0.1:%d" % port}})
    orders = Orders(p)
    p.start("onsite")

    def titles(visitor):
        url = "http://127.0.0.1:%d/onsite/poll?visitor=%s&wait=0" % (port, visitor)
        with urllib.request.urlopen(url, timeout=20) as answer:
            return [m.get("title") for m in json.loads(answer.read()).get("messages", [])]

    def shown(visitor):
        orders.order("onsite", [visitor], template="cart-returned/waiting")
        return wait_for(lambda: (orders.serve(), titles(visitor))[1], timeout=20) or []

    check("onsite: the shipped title at first", shown("anon-1") == ["Your cart is waiting"])
    with open(os.path.join(templates, "cart-returned", "waiting", "en", "onsite.title.mustache"),
              "w") as f:
        f.write("{{first_name}}, still want these?\n")
    said = hangup(p, "onsite")
    check("onsite: 'reloaded: N onsite templates from DIR'",
          ("onsite templates from " + templates) in said, said)
    check("the next order's message has the new title", shown("anon-2") == ["Ann, still want these?"],
          titles("anon-2"))
    check("a message stored before keeps the title it was rendered with",
          titles("anon-1") == ["Your cart is waiting"], titles("anon-1"))
    p.stop("onsite")

done()
