#!/usr/bin/python3
"""The shipped pipeline, end to end, under supervisord as `make run` runs it.

A copy of conf/pipeline.zpl changes only what must differ here: the clock
(event, moved by /v1/tick), the state and run directories and the ports
(private), and the providers: the push-sender at push_service.js over
https with HTTP/2, the sms-sender at a Twilio-style mock over https, the
mail-sender at a real SMTP server (aiosmtpd) with STARTTLS and AUTH. Each
trusts its service's certificate through tls-ca. Everything else - every
stage, journey, template, segment, cap and quiet hour - is as shipped.
The Makefile's run target is followed step for step (var/ directories,
nd-vapid, nd-supervisor, supervisord -n) in a private working directory
whose conf/ is the repository's.

Three shoppers identify through the collector and leave a cart behind:
  Pia   e-mail, phone with sms_consent, a push subscription -> push
  Sam   e-mail, phone with sms_consent                      -> SMS
  Mia   e-mail, phone without consent                       -> e-mail
About an hour after each visit ends, the abandoned-cart journey's first
reminder goes out on the first channel that reaches them. Each service
gets exactly one message, and it says what the events said (the items,
the cart's value, the name). No stage may die on the way: supervisord
would restart it and hide the crash, so each keeps its first pid.
"""
import datetime
import os
import re
import subprocess
import time

from ndtest import BIN, ROOT, Pipeline, check, done, free_port, wait_for
from mailtest import parse
from schedtest import users_in
from sendtest import PushService, SmsProvider
from smtpd import SmtpServer
from test_supervisor import alive, status_of, stop_supervisord

WRITE_KEY = "nudge-dev-write-key"       # the shipped one
SMTP_USER, SMTP_PASSWORD = "nudge", "smtp-s3cret"
T0 = datetime.datetime(2026, 3, 2, 12, 0, 0)       # a Monday noon UTC, outside quiet hours
STAGES = ("collector", "sessionizer", "segmenter", "chat-bridge", "scheduler", "mail-sender",
          "push-sender", "sms-sender", "onsite")
PIA, SAM, MIA = users_in("abandoned-cart", "treated", 3, prefix="shopper-")


def ts(minutes):
    return (T0 + datetime.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def shipped_copy(text, changes):
    """conf/pipeline.zpl with changes {section: {option: value or None}}:
    each option's line in that section, set or commented out, becomes
    "option = value" (None: goes); an option the file lacks is added under
    the section's name. Every other line stays as shipped."""
    out, section, headers, missing = [], None, {}, {}
    for line in text.splitlines():
        if re.match(r"^[a-z-]+\s*(#.*)?$", line):
            section = line.split()[0]
            headers[section] = len(out)
            missing[section] = dict(changes.get(section, {}))
        m = re.match(r"^    #?\s*([a-z-]+) = ", line)
        if m and m.group(1) in missing.get(section, {}):
            value = missing[section].pop(m.group(1))
            line = None if value is None else '    %s = "%s"' % (m.group(1), value)
        if line is not None:
            out.append(line)
    for section in sorted(headers, key=headers.get, reverse=True):
        at = headers[section] + 1
        out[at:at] = ['    %s = "%s"' % kv for kv in missing[section].items() if kv[1] is not None]
    return "\n".join(out) + "\n"


def configure(p, push, sms, smtp):
    ports = {"chat": free_port(), "webhooks": free_port(), "onsite": free_port()}
    changes = {
        "pipeline": {"clock": "event", "state": p.dir + "/state", "run": p.dir + "/run"},
        "collector": {"http": "127.0.0.1:%d" % p.http_port},
        "chat-bridge": {"http": "127.0.0.1:%d" % ports["chat"]},
        "onsite": {"http": "127.0.0.1:%d" % ports["onsite"]},
        "mail-sender": {"relay": "localhost:%d" % smtp.port, "tls": "starttls",
                        "tls-ca": smtp.cert, "user": SMTP_USER,
                        "password": "env:NUDGE_SMTP_PASSWORD",
                        "unsubscribe-url": "http://127.0.0.1:%d/unsubscribe" % p.http_port},
        "push-sender": {"hosts": "127.0.0.1", "tls-ca": push.ca},
        "sms-sender": {"provider": "twilio", "api-base": sms.base, "account": SmsProvider.SID,
                       "secret": "env:NUDGE_SMS_SECRET", "tls-ca": sms.ca, "spool": None,
                       "http": "127.0.0.1:%d" % ports["webhooks"]},
    }
    with open(os.path.join(ROOT, "conf", "pipeline.zpl")) as f:
        text = shipped_copy(f.read(), changes)
    p.config = os.path.join(p.dir, "conf-pipeline.zpl")
    with open(p.config, "w") as f:
        f.write(text)
    return text


def make_run(p):
    """What `make run` does, in p.dir: returns supervisord and its config."""
    os.symlink(os.path.join(ROOT, "conf"), os.path.join(p.dir, "conf"))
    for sub in ("var/run", "var/state", "var/log"):
        os.makedirs(os.path.join(p.dir, sub), exist_ok=True)
    subprocess.run([os.path.join(BIN, "nd-vapid"), "-o", "var/vapid.key"], cwd=p.dir, check=True,
                   stdout=subprocess.DEVNULL)
    conf = os.path.join(p.dir, "var", "supervisord.conf")
    subprocess.run([os.path.join(BIN, "nd-supervisor"), "-c", p.config, "--bin", BIN,
                    "--dir", p.dir, "-o", conf], check=True)
    env = dict(os.environ, NUDGE_SMS_SECRET=SmsProvider.TOKEN, NUDGE_SMTP_PASSWORD=SMTP_PASSWORD)
    log = open(os.path.join(p.dir, "supervisord.out"), "ab")
    proc = subprocess.Popen(["supervisord", "-n", "-c", conf], cwd=p.dir, env=env, stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    return proc, conf


def pids(conf):
    """{stage: pid} of the RUNNING programs."""
    return {name: pid for name, (state, pid) in status_of(conf).items() if state == "RUNNING"}


def healthy(p, stage):
    try:
        return p.control(stage, "HEALTH", timeout_ms=1000) is not None
    except (RuntimeError, ValueError):
        return False


class Shop:
    """Segment events through the collector, and event time through /v1/tick."""

    def __init__(self, p):
        self.p, self.n = p, 0

    def event(self, kind, minutes, user, **fields):
        self.n += 1
        e = {"type": kind, "messageId": "e2e-%d" % self.n, "userId": user,
             "anonymousId": "anon-" + user, "timestamp": ts(minutes)}
        e.update(fields)
        return e

    def identify(self, minutes, user, **traits):
        return self.event("identify", minutes, user, traits=traits)

    def add(self, minutes, user, name, product_id, price, quantity=1):
        return self.event("track", minutes, user, event="Product Added", properties={
            "product_id": product_id, "name": name, "price": price, "quantity": quantity,
            "currency": "EUR", "url": "https://shop.example/p/" + product_id})

    def send(self, *events):
        status, answer = self.p.post("/v1/batch", {"batch": list(events)}, key=WRITE_KEY)
        check("the collector accepts %d events" % len(events), status == 200, (status, answer))

    def tick(self, minutes):
        status, answer = self.p.post("/v1/tick", {"time": ts(minutes)}, key=WRITE_KEY)
        if status != 200:
            raise RuntimeError("/v1/tick answered %s: %s" % (status, answer))
        self.settle()

    def settle(self, timeout=30):
        """Waits until every stage has read everything upstream of it."""
        def caught_up():
            for stage in STAGES:
                for upstream, link in self.p.control(stage).get("inputs", {}).items():
                    if link["position"] < self.p.control(upstream)["journal"]["head"]:
                        return False
            return True
        return wait_for(caught_up, timeout=timeout, interval=0.1)


def mail_text(data):
    """The plain-text part of a message, decoded."""
    part = parse(data).get_body(preferencelist=("plain",))
    return part.get_content() if part else ""


def run(p, push, sms, smtp):
    shop = Shop(p)
    subscription = push.subscribe("pia")
    shop.send(
        shop.identify(0, PIA, email="pia@example.com", firstName="Pia", phone="+48600100201",
                      sms_consent=True, push_subscription=subscription),
        shop.add(1, PIA, "Trail shoe", "p-shoe", 89.9),
        shop.identify(1, SAM, email="sam@example.com", firstName="Sam", phone="+48600100202",
                      sms_consent=True),
        shop.add(2, SAM, "Rain jacket", "p-jacket", 120.0),
        shop.identify(2, MIA, email="mia@example.com", firstName="Mia", phone="+48600100203"),
        shop.add(3, MIA, "Wool socks", "p-socks", 12.5, quantity=2),
        shop.add(3, MIA, "Beanie", "p-beanie", 19.0))
    shop.tick(40)
    shop.tick(90)
    # Settled, a sender has taken every order there is into its outbox
    outboxes = {s: p.control(s)["outbox"] for s in ("push-sender", "sms-sender", "mail-sender")}
    check("nothing before an hour has passed since the visits ended (+1 h 30)",
          not any(n for box in outboxes.values() for n in box.values())
          and (push.transport()["pushes"], sms.requests, len(smtp.attempts)) == (0, 0, 0),
          (outboxes, push.received(), sms.sent, len(smtp.attempts)))
    shop.tick(100)
    arrived = wait_for(lambda: push.transport()["pushes"] and sms.requests and smtp.messages,
                       timeout=30, interval=0.1)
    check("at +1 h 40 a push, an SMS and a mail have arrived", arrived,
          (push.transport(), sms.requests, len(smtp.messages)))
    shop.tick(110)              # the feedback back to the scheduler, and anything else due
    shop.settle()

    outboxes = {s: p.control(s)["outbox"] for s in ("push-sender", "sms-sender", "mail-sender")}
    check("each sender settled one order as delivered, with nothing left to retry",
          all((b["delivered"], b["retrying"], b["sending"], b["queued"]) == (1, 0, 0, 0)
              for b in outboxes.values()), outboxes)
    got = push.received()
    payload = got[0].get("payload", "") if got else ""
    check("the push service got one push, for Pia, over HTTP/2, VAPID valid",
          len(got) == 1 and got[0]["id"] == "pia" and got[0]["httpVersion"] == "2.0"
          and got[0]["vapid"]["valid"], got)
    check("it decrypts to Pia's reminder with her trail shoe",
          "Trail shoe" in payload and "Pia" in payload, payload)
    check("the SMS provider got one text, to Sam, well formed",
          sms.requests == 1 and len(sms.sent) == 1 and sms.sent[0]["to"] == "+48600100202"
          and not sms.problems, (sms.requests, sms.sent, sms.problems))
    text = sms.sent[0]["text"] if sms.sent else ""
    check("it gives Sam's cart's value (the jacket, 120.00 EUR) and the shop",
          "(€120.00)" in text and "Example Shop" in text, text)
    check("the SMTP server got one mail, to Mia, once tried",
          len(smtp.messages) == 1 and len(smtp.attempts) == 1
          and smtp.messages[0][1] == ["mia@example.com"], [m[:2] for m in smtp.messages])
    body = mail_text(smtp.messages[0][2]) if smtp.messages else ""
    check("it lists Mia's socks and beanie and the total (44.00)",
          "Wool socks" in body and "Beanie" in body and "44.00" in body and "Mia" in body, body)
    private_files(p)


def private_files(p):
    """Every file the stages made (state, journals, sockets) and the keys
    are the service user's alone: they hold addresses and subscriptions."""
    shared, seen = [], 0
    for top in ("state", "run"):
        for root, dirs, files in os.walk(os.path.join(p.dir, top)):
            for name in [root] + [os.path.join(root, f) for f in dirs + files]:
                seen += 1
                if os.lstat(name).st_mode & 0o077:
                    shared.append((name[len(p.dir):], oct(os.lstat(name).st_mode & 0o777)))
    for key in ("var/vapid.key", "var/unsubscribe.secret"):
        path = os.path.join(p.dir, key)
        if os.path.exists(path) and os.stat(path).st_mode & 0o077:
            shared.append((key, oct(os.stat(path).st_mode & 0o777)))
    check("none of the %d files and directories under state/ and run/, nor the keys, "
          "is readable by other users" % seen, seen > 20 and not shared, shared)


def main():
    with Pipeline(clock="event") as p:
        for name in ("push-tls", "sms-tls"):        # each its own cert.pem and key.pem
            os.makedirs(os.path.join(p.dir, name))
        push = PushService(tls=os.path.join(p.dir, "push-tls"))
        sms = SmsProvider("twilio", tls=os.path.join(p.dir, "sms-tls"))
        smtp = SmtpServer(p.dir, tls="starttls", auth=(SMTP_USER, SMTP_PASSWORD)).start()
        configure(p, push, sms, smtp)
        started = time.time()
        proc, conf = make_run(p)
        first = {}
        try:
            # RUNNING once up for supervisord's startsecs
            first = wait_for(lambda: sorted(pids(conf)) == sorted(STAGES) and pids(conf),
                             timeout=40, interval=0.3)
            up = first and all(healthy(p, s) for s in STAGES)
            check("every shipped stage is RUNNING under supervisord and answers HEALTH",
                  up, (first, open(
                      os.path.join(p.dir, "supervisord.out")).read()[-3000:]))
            if up:
                run(p, push, sms, smtp)
            check("no stage died on the way (each keeps its first pid)", pids(conf) == first,
                  (first, pids(conf)))
        finally:
            status = stop_supervisord(proc)
            smtp.stop()
            sms.close()
            push.close()
        check("supervisord stops cleanly on SIGTERM, and no stage outlives it",
              status == 0 and first and not any(alive(pid) for pid in first.values()),
              (status, first))
        print("# %.1f s from supervisord's start to its end" % (time.time() - started))
    done()


main()
