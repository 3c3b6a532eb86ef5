#!/usr/bin/python3
"""sms-sender with no provider configured: the local spool (make run's default).

A Python journal stands in for the scheduler; event time.

  - with no provider, secret, account or from set, the stage starts and
    says where texts go; each order becomes one JSON file in var/sms
    (to, text, segments, encoding, idempotency key), mode 0600, nothing
    half-written left, and feedback.delivered with "provider": "spool"
    and the file's id;
  - a Japanese text is counted as UCS-2 in the file and the feedback;
    one over its journey's maximum still fails and writes nothing;
  - the webhooks take a plain form, so STOP / HELP / START can be tried
    with curl: STOP stores the opt-out (the next order settles as
    feedback.unsubscribed, no file), HELP is answered with help-text,
    START lifts it; a failed receipt becomes feedback.failed;
  - a spool directory that cannot be made stops the start with the
    reason; twilio still wants its secret.
"""
import json
import os
import stat
import subprocess
import urllib.parse

from ndtest import BIN, ROOT, Pipeline, check, done, free_port, wait_for
from sendtest import DATA, Orders, feedback, http_post

EN_TEXT = "Ann, your cart at Example Shop (114.90 EUR) is still waiting: https://shop.example/cart"
LONG_JA = dict(DATA, shop={"name": "東京のとても素敵なオンラインショップ・ナッジ本店（公式）",
                           "url": "https://shop.example"})
PHONE = "+48600100200"


def spooled(p):
    spool = os.path.join(p.dir, "var", "sms")
    names = sorted(os.listdir(spool)) if os.path.isdir(spool) else []
    texts = {}
    for name in names:
        if name.endswith(".json"):
            with open(os.path.join(spool, name)) as f:
                texts[name[:-5]] = json.load(f)
    return spool, names, texts


port = free_port()
options = {"input": "scheduler", "topics": "send.sms",
           "templates": os.path.join(ROOT, "conf", "templates"), "max-segments": "3, long-journey: 1",
           "http": "127.0.0.1:%d" % port, "help-text": "Example Shop: reply STOP to opt out."}
with Pipeline(clock="event", extra={"sms-sender": options}) as p:
    orders = Orders(p)
    p.start("sms-sender")
    tap = p.tap("sms-sender", "feedback.")
    check("no provider configured: it starts and says texts go to the spool",
          "texts go to the spool var/sms" in p.log("sms-sender"), p.log("sms-sender")[-600:])

    o = orders.order("sms", PHONE, user="u-ann")
    fb = feedback(tap, o["idempotency_key"], serve=orders.serve)
    spool, names, texts = spooled(p)
    body = fb[0][1] if fb else {}
    mine = texts.get(body.get("provider_id"), {})
    check("feedback.delivered, provider spool, with the file's id",
          [t for t, _ in fb] == ["feedback.delivered"] and body.get("provider") == "spool"
          and body.get("provider_id") in texts, (fb, names))
    check("the file holds to, the rendered text (the number's first: with the STOP footer), "
          "GSM-7, 1 segment and the key",
          mine.get("to") == PHONE and mine.get("text") == EN_TEXT + "\nReply STOP to opt out" and mine.get("encoding") == "GSM-7"
          and mine.get("segments") == 1 and mine.get("idempotency_key") == o["idempotency_key"], mine)
    check("one file, mode 0600 in a 0700 directory, no temporary left",
          names == [body.get("provider_id", "?") + ".json"]
          and stat.S_IMODE(os.stat(os.path.join(spool, names[0])).st_mode) == 0o600
          and stat.S_IMODE(os.stat(spool).st_mode) == 0o700, names)

    o = orders.order("sms", "+48600100201", locale="ja", data=LONG_JA, seconds=1)
    fb = feedback(tap, o["idempotency_key"], serve=orders.serve)
    _, names, texts = spooled(p)
    mine = texts.get(fb[0][1].get("provider_id") if fb else None, {})
    check("a Japanese text: UCS-2, 2 segments, in the file and the feedback",
          mine.get("encoding") == "UCS-2" and mine.get("segments") == 2
          and fb[0][1].get("encoding") == "UCS-2" and "東京" in mine.get("text", ""), (fb, mine))

    o = orders.order("sms", "+48600100202", locale="ja", data=LONG_JA, journey="long-journey",
                     seconds=2)
    fb = feedback(tap, o["idempotency_key"], serve=orders.serve)
    check("over the journey's maximum: failed, and no file",
          [t for t, _ in fb] == ["feedback.failed"] and len(spooled(p)[1]) == 2, (fb, spooled(p)[1]))

    # The webhooks, as a developer would try them with curl
    url = "http://127.0.0.1:%d" % port
    status, text = http_post(url + "/sms/inbound", urllib.parse.urlencode({"From": PHONE, "Body": "STOP"}))
    check("STOP by hand is answered 200", status == 200, (status, text))

    def unsubscribed():
        orders.serve()
        tap.poll(50)
        return [b for t, b in tap.messages if t == "feedback.unsubscribed" and b.get("phone") == PHONE]
    unsub = wait_for(unsubscribed) or []
    check("... and feedback.unsubscribed for the person with that number",
          [b["user"] for b in unsub] == ["u-ann"], tap.messages[-3:])
    o = orders.order("sms", PHONE, user="u-ann", seconds=3)
    fb = feedback(tap, o["idempotency_key"], serve=orders.serve)
    check("after STOP an order to the number settles unsubscribed, no file",
          [t for t, _ in fb] == ["feedback.unsubscribed"] and len(spooled(p)[1]) == 2, fb)
    status, text = http_post(url + "/sms/inbound", "From=%2B48600100200&Body=help")
    check("HELP is answered with help-text", status == 200
          and text.strip() == "Example Shop: reply STOP to opt out.", (status, text))
    status, text = http_post(url + "/sms/inbound", "From=%2B48600100200&Body=START")
    o = orders.order("sms", PHONE, user="u-ann", seconds=4)
    fb = feedback(tap, o["idempotency_key"], serve=orders.serve)
    check("after START the next order is spooled again",
          status == 200 and [t for t, _ in fb] == ["feedback.delivered"] and len(spooled(p)[1]) == 3, fb)
    status, text = http_post(url + "/sms/status", urllib.parse.urlencode(
        {"key": o["idempotency_key"], "status": "failed"}))
    fb = [x for x in feedback(tap, o["idempotency_key"], serve=orders.serve)
          if x[1]["id"].endswith("#receipt")]
    check("a failed receipt by hand -> feedback.failed for that order",
          status == 200 and [t for t, _ in fb] == ["feedback.failed"], (status, text, fb))
    status, _ = http_post(url + "/sms/status", "key=x&status=maybe")
    check("a receipt with an unknown status is refused", status == 403, status)
    log = p.log("sms-sender")
    check("no full phone number in the log", PHONE not in log, log[-1500:])
    orders.close()

# Bad configurations stop the start with one line
for name, extra, expect in (
        ("a spool that cannot be made", {"spool": "/proc/nudge-spool"}, "spool"),
        ("twilio without its secret", {"provider": "twilio", "account": "AC1", "from": "+15550001234",
                                       "secret": "env:ND_TEST_UNSET_SECRET"}, "ND_TEST_UNSET_SECRET")):
    with Pipeline(clock="event", extra={"sms-sender": dict(options, **extra)}) as p:
        rc = p.refused("sms-sender")
        check("%s: exits 78 (EX_CONFIG) with the reason" % name, rc == 78 and expect in p.log("sms-sender"),
              (rc, p.log("sms-sender")[-400:]))

r = subprocess.run([os.path.join(BIN, "sms-sender"), "--help"], capture_output=True, text=True)
check("--help names the spool", r.returncode == 0 and "spool" in r.stdout, r.stdout[-400:])
done()
