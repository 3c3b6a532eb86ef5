#!/usr/bin/python3
"""Double opt-in: what a browser's public write key sends is a claim.

The whole pipeline - collector, sessionizer, segmenter, scheduler (the
shipped welcome and abandoned-cart journeys), mail-sender (Maildir) and
sms-sender (spool) - real processes, event time from T0 (a Monday noon
UTC), never a sleep for time.

  Eve's page sends identify with a stranger's address and
  email_consent: true through a browser key (the collector marks such
  events "via": "browser"), and leaves a cart. The stranger gets the
  confirmation mail at once, and nothing else: the same identify again
  asks nothing more, no cart reminder, no welcome. Bo, identified
  through the server key, gets his welcome two hours later as before.

  The link: GET shows a page with a button and confirms nothing (mail
  scanners fetch links); a forged token, one made for another purpose
  and an expired one are refused; POST confirms, and two hours later the
  welcome mail goes to the now confirmed address.

  SMS: Sam's page gives a phone with sms_consent: the spool gets one
  text with a 6-digit code. A wrong code is 400, the right one (through
  /v1/confirm) makes Sam reachable by SMS; five tries an hour for one
  person, then 429 with Retry-After.

Until the collector marks browser-key events itself (the intake part of
issue 9), the helper shop.browser() sends "via": "browser" in the body with
the server key, which this collector passes on as is; once ndtest names
a BROWSER_KEY it posts with that key instead.
"""
import base64
import datetime
import glob
import hashlib
import hmac
import json
import os
import re
import urllib.error
import urllib.request

import ndtest
from ndtest import JournalReader, Pipeline, check, done, wait_for
from mailtest import SECRET_ENV, mail_options, maildir_mails
from schedtest import Reader, journeys_only, scheduler_options
from shoptest import Shop, shipped

T0 = datetime.datetime(2026, 3, 2, 12, 0, 0, tzinfo=datetime.timezone.utc)
STRANGER, BO, SAM_PHONE = "stranger@example.com", "bo@example.com", "+48600100200"


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(purpose, payload, secret=None):
    """nd_token_sign, in Python: what a forger without the secret cannot make."""
    secret = (secret or os.environ[SECRET_ENV]).encode()
    mac = hmac.new(secret, b"nudge-" + purpose.encode() + b"\0" + payload.encode(), hashlib.sha256)
    return b64(payload.encode()) + "." + b64(mac.digest())


extra = {
    "pipeline": {"unsubscribe-secret": "env:" + SECRET_ENV},
    "sessionizer": {"input": "collector", "topics": shipped("sessionizer", "topics") or ""},
    "segmenter": {"input": "sessionizer", "segments": os.path.join(ndtest.ROOT, "conf", "segments.zpl")},
    "sink": {"input": "scheduler"},
    "watch": {"input": "sessionizer"},
}

with Pipeline(clock="event", extra=extra) as p:
    maildir, spool = os.path.join(p.dir, "mail"), os.path.join(p.dir, "sms")
    base = "http://127.0.0.1:%d" % p.http_port
    sched = scheduler_options(journeys_only("welcome", "abandoned-cart"),
                              input="segmenter, mail-sender, sms-sender",
                              **{"confirm-url": base + "/confirm"})
    mail = mail_options(input="scheduler, collector", maildir=maildir,
                        **{"unsubscribe-url": base + "/unsubscribe"})
    del mail["unsubscribe-secret"]          # from [pipeline], as shipped
    sms = {"input": "scheduler", "topics": "send.sms", "spool": spool, "from": "+15550001234",
           "templates": os.path.join(ndtest.ROOT, "conf", "templates")}
    p.write_config(dict(extra, scheduler=sched, **{"mail-sender": mail, "sms-sender": sms}))
    for stage in ("collector", "sessionizer", "segmenter", "scheduler", "mail-sender", "sms-sender"):
        p.start(stage)
    links = (("collector", "sessionizer"), ("sessionizer", "segmenter"), ("segmenter", "scheduler"),
             ("scheduler", "mail-sender"), ("scheduler", "sms-sender"), ("collector", "mail-sender"),
             ("mail-sender", "scheduler"), ("sms-sender", "scheduler"))
    shop, reader = Shop(p, links), Reader(p)
    watch = JournalReader(p, "sessionizer", "watch", 50000)

    def mails(address=None):
        return maildir_mails(maildir, address)

    def texts():
        found = []
        for path in sorted(glob.glob(os.path.join(spool, "*.json"))):
            with open(path) as f:
                found.append(json.load(f))
        return found

    def body_text(message):
        return message.get_body(("plain",)).get_content()

    def request(method, url, data=None):
        req = urllib.request.Request(url, data=data, method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, resp.read().decode(), dict(resp.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(), dict(e.headers)

    def profile_contact(anon):
        """The latest contact flags the sessionizer announced for anon's visitor."""
        watch.poll(0.3)
        found = None
        for _, topic, body in watch.messages:
            if topic == "profile.updated" and anon in body.get("anonymousIds", []):
                found = body.get("contact")
        return found

    # ----------------------------------------------- claims, not facts --
    eve_identify = shop.event("identify", 0, "a-eve", traits={
        "email": STRANGER, "email_consent": True, "firstName": "Eve", "locale": "en"})
    shop.browser(eve_identify, shop.add(1, "a-eve", "Socks", "p-socks", 9.5),
            shop.event("identify", 2, "a-sam", traits={"phone": SAM_PHONE, "sms_consent": True}))
    shop.send(shop.event("identify", 2, "a-bo", userId="u-bo", traits={"email": BO, "firstName": "Bo"}))
    wait_for(lambda: len(mails(STRANGER)) >= 1 and len(texts()) >= 1, 15)
    stats = p.control("sessionizer")
    check("the sessionizer claimed the stranger's address and Sam's phone, nothing of Bo's",
          stats.get("contacts_claimed") == 2, stats)
    confirm = mails(STRANGER)
    check("the stranger gets the confirmation mail at once",
          len(confirm) == 1 and "confirm" in str(confirm[0]["Subject"]).lower(),
          [str(m["Subject"]) for m in confirm])
    text = body_text(confirm[0]) if confirm else ""
    match = re.search(re.escape(base) + r"/confirm\?t=([A-Za-z0-9_.-]+)", text)
    check("its link points at the collector's /confirm, and it says nothing happens if ignored",
          match is not None and "ignore this message: nothing happens" in text, text[:600])
    link = match.group(0) if match else base + "/confirm?t=x"
    sent = reader.drain(p) and [s for s in reader.sends() if s.get("journey") == "confirm"]
    check("the confirmation is a send order outside the journeys, keyed confirm/email/...",
          sent and sent[0]["template"] == "confirm/email"
          and sent[0]["idempotency_key"].startswith("confirm/email/"), sent)
    code_texts = texts()
    code = re.search(r"\b(\d{6})\b", code_texts[0]["text"]).group(1) if code_texts else "000000"
    check("Sam's phone gets one text with a 6-digit code",
          [t["to"] for t in code_texts] == [SAM_PHONE] and "code" in code_texts[0]["text"], code_texts)
    check("the profiles hold neither claimed address",
          profile_contact("a-eve") in (None, {"email": False, "sms": False, "push": False})
          and not (profile_contact("a-sam") or {}).get("sms"),
          (profile_contact("a-eve"), profile_contact("a-sam")))

    shop.browser(dict(eve_identify, messageId="m-again", timestamp=shop.event("page", 5, "x")["timestamp"]))
    check("the same identify again claims nothing more",
          p.control("sessionizer").get("contacts_claimed") == 2, p.control("sessionizer"))

    for minutes in (40, 95, 130):
        shop.tick(minutes)
    wait_for(lambda: len(mails(BO)) >= 1, 15)
    reader.drain(p)
    check("Bo (server key) gets his welcome at +2 h, as before",
          [s["journey"] + "/" + s["step"] for s in reader.sends() if s["to"] == BO] == ["welcome/hello"]
          and len(mails(BO)) == 1, [(s["to"], s["step"]) for s in reader.sends()])
    check("the stranger: only the confirmation mail - no cart reminder, no welcome",
          len(mails(STRANGER)) == 1 and [s["journey"] for s in reader.sends() if s["to"] == STRANGER]
          == ["confirm"], [(s["to"], s["journey"], s["step"]) for s in reader.sends()])

    # --------------------------------------------------------- the link --
    accepted = p.control("collector")["accepted"]
    status, page, headers = request("GET", link)
    check("GET shows a page with a button that posts the link, and commits nothing",
          status == 200 and 'method="post"' in page and "<button" in page
          and headers.get("Content-Type", "").startswith("text/html")
          and p.control("collector")["accepted"] == accepted, (status, page[:400]))
    forged = link[:-3] + ("A" if link[-3] != "A" else "B") + link[-2:]
    status_forged, _, _ = request("POST", forged, b"")
    payload = "email\na:a-eve\n%s\n%d" % (STRANGER, int(T0.timestamp()) + 3600)
    status_other, _, _ = request("POST", base + "/confirm?t=" + token("push-event", payload), b"")
    status_wrong_key, _, _ = request("POST", base + "/confirm?t=" + token("confirm", payload, "guess"), b"")
    expired = "email\na:a-eve\n%s\n%d" % (STRANGER, int(T0.timestamp()) + 60)
    status_expired, page_expired, _ = request("POST", base + "/confirm?t=" + token("confirm", expired), b"")
    check("a forged token, another purpose's, another secret's: 400; an expired one: 410",
          (status_forged, status_other, status_wrong_key, status_expired) == (400, 400, 400, 410)
          and "expired" in page_expired, (status_forged, status_other, status_wrong_key, status_expired))
    check("none of them committed anything", p.control("collector")["accepted"] == accepted,
          p.control("collector"))
    status, page, _ = request("POST", link, b"")
    check("POST confirms (200, committed)", status == 200 and "confirmed" in page, (status, page[:300]))
    request("POST", link, b"")
    shop.settle()
    check("the stranger's profile now holds the address: reachable by e-mail",
          (profile_contact("a-eve") or {}).get("email") is True, profile_contact("a-eve"))
    for minutes in (200, 260):
        shop.tick(minutes)
    wait_for(lambda: len(mails(STRANGER)) >= 2, 15)
    reader.drain(p)
    check("two hours after the confirmation, the welcome mail goes to the confirmed address",
          [s["journey"] + "/" + s["step"] for s in reader.sends() if s["to"] == STRANGER]
          == ["confirm/email", "welcome/hello"] and len(mails(STRANGER)) == 2,
          [(s["to"], s["journey"], s["step"]) for s in reader.sends()])

    # ---------------------------------------------------------- the code --
    wrong = "%06d" % ((int(code) + 1) % 1000000)
    status, answer = p.post("/v1/confirm", {"anonymousId": "a-sam", "phone": SAM_PHONE, "code": wrong})
    check("a wrong code: 400 with a reason", status == 400 and "wrong" in answer.get("error", ""),
          (status, answer))
    status, answer = p.post("/v1/confirm", {"anonymousId": "a-sam", "phone": SAM_PHONE, "code": code})
    check("the right code: 200 confirmed", status == 200 and answer == {"confirmed": True},
          (status, answer))
    shop.settle()
    check("Sam is now reachable by SMS", (profile_contact("a-sam") or {}).get("sms") is True,
          profile_contact("a-sam"))
    statuses = [p.post("/v1/confirm", {"anonymousId": "a-mallory", "phone": "+48600100999",
                                       "code": "%06d" % n})[0] for n in range(6)]
    status, answer = p.post("/v1/confirm", {"anonymousId": "a-mallory", "phone": "+48600100999",
                                            "code": "123456"}, key=None,
                            headers={"Authorization": "Basic " + base64.b64encode(
                                (ndtest.WRITE_KEY + ":").encode()).decode()})
    check("five tries an hour for one person, then 429",
          statuses[:5] == [400] * 5 and statuses[5] == 429 and status == 429, (statuses, status))
    status, answer = p.post("/v1/confirm", {"anonymousId": "a-sam", "phone": SAM_PHONE, "code": code},
                            key="not-a-key")
    check("/v1/confirm needs a write key", status == 401, (status, answer))

    logs = "".join(p.log(s) for s in ("collector", "sessionizer", "segmenter", "scheduler"))
    check("no claimed address or phone number in the logs",
          STRANGER not in logs and SAM_PHONE not in logs and "+48600100999" not in logs,
          [line for line in logs.splitlines() if "example.com" in line or "+486" in line][:5])
    watch.close()
    reader.close()
done()
