#!/usr/bin/python3
"""sms-sender: Twilio-style and Infobip-style APIs, checked request by request.

Mock providers in the test (sendtest.SmsProvider) check each request's
method, path, authentication, encoding and fields as the providers
document them. A Python journal stands in for the scheduler; event time.

  - an English text goes as GSM-7, one segment; a long Japanese one as
    UCS-2 with the segment count an independent counter gives, on every
    feedback ("segments", "encoding");
  - 429 with Retry-After, then 201: with the clock a second short of it,
    nothing; at it, the retry; sent once;
  - a text over its journey's maximum segments fails with the reason and
    never reaches the provider; a number that is not E.164 is unreachable;
  - an order for someone whose local time is night is held until their
    quiet hours end;
  - the same through the Infobip-style API.
"""
import json
import os
import urllib.parse

from ndtest import ROOT, Pipeline, check, done
from sendtest import DATA, Orders, SmsProvider, feedback, sms_segments, until

os.environ["ND_TEST_SMS_TWILIO"] = SmsProvider.TOKEN
os.environ["ND_TEST_SMS_INFOBIP"] = SmsProvider.API_KEY
LONG_JA = dict(DATA, shop={"name": "東京のとても素敵なオンラインショップ・ナッジ本店（公式）", "url": "https://shop.example"})
EN_TEXT = "Ann, your cart at Example Shop (114.90 EUR) is still waiting: https://shop.example/cart"
JA_TEXT = ("東京のとても素敵なオンラインショップ・ナッジ本店（公式）: カートに商品が残っています"
           "（114.90 EUR）。https://shop.example/cart")


def options(provider, base):
    o = {"input": "scheduler", "topics": "send.sms", "provider": provider, "api-base": base,
         "from": "+15550001234" if provider == "twilio" else "ExampleShop",
         "templates": os.path.join(ROOT, "conf", "templates"),
         "webhook-url": "https://hooks.shop.example", "max-segments": "3, long-journey: 1",
         "retry-base": "10s", "retry-cap": "10m",
         "stop-footer": "no"}      # texts exactly as rendered here; the footer: test_compliance
    if provider == "twilio":
        o.update({"account": SmsProvider.SID, "secret": "env:ND_TEST_SMS_TWILIO"})
    else:
        o.update({"secret": "env:ND_TEST_SMS_INFOBIP"})
    return o


def sent_for(sms, key):
    return [m for m in sms.sent if m["key"] == key]


def run(provider):
    sms = SmsProvider(provider)
    name = provider.capitalize() + "-style"
    with Pipeline(clock="event", extra={"sms-sender": options(provider, sms.base)}) as p:
        orders = Orders(p)
        p.start("sms-sender")
        tap = p.tap("sms-sender", "feedback.")
        ticks = p.tap("sms-sender", "tick")

        o = orders.order("sms", "+48600100200")
        fb = feedback(tap, o["idempotency_key"], serve=orders.serve)
        msg = sent_for(sms, o["idempotency_key"])
        check("%s: delivered" % name, [t for t, _ in fb] == ["feedback.delivered"], fb)
        check("%s: the provider got To, From and the rendered text" % name,
              len(msg) == 1 and msg[0]["to"] in ("+48600100200", "48600100200")
              and msg[0]["text"] == EN_TEXT, (msg, sms.problems))
        check("%s: every request was as documented (method, path, auth, encoding, fields)" % name,
              not sms.problems, sms.problems)
        expect_cb = ("https://hooks.shop.example/sms/status?key="
                     + urllib.parse.quote(o["idempotency_key"], safe="")
                     if provider == "twilio" else "https://hooks.shop.example/sms/status")
        check("%s: the receipt URL and our key ride along" % name,
              msg and msg[0]["callback"] == expect_cb and msg[0]["key"] == o["idempotency_key"], msg)
        body = fb[0][1] if fb else {}
        check("%s: GSM-7, 1 segment in the feedback" % name,
              (body.get("encoding"), body.get("segments")) == ("GSM-7", 1)
              and sms_segments(EN_TEXT)[::2] == ("GSM-7", 1), body)
        check("%s: the provider's message id in the feedback" % name,
              body.get("provider") == provider and body.get("provider_id"), body)

        o = orders.order("sms", "+48600100201", locale="ja", data=LONG_JA)
        fb = feedback(tap, o["idempotency_key"], serve=orders.serve)
        msg = sent_for(sms, o["idempotency_key"])
        encoding, units, segments = sms_segments(JA_TEXT)
        body = fb[0][1] if fb else {}
        check("%s: a Japanese text reaches the provider intact" % name,
              msg and msg[0]["text"] == JA_TEXT, (msg, JA_TEXT))
        check("%s: ... as UCS-2 in %d segments (%d UTF-16 units)" % (name, segments, units),
              encoding == "UCS-2" and segments == 2 and body.get("encoding") == "UCS-2"
              and body.get("segments") == segments, body)

        # 429 with Retry-After 60 s at event time 1 s, then 201: the retry
        # is due at 61 s; the clock goes to 60 s, then to 61 s
        sms.script(429, retry_after=60)
        o = orders.order("sms", "+48600100202", seconds=1)
        until(lambda: sms.requests >= 3, serve=orders.serve)
        orders.tick_seen(ticks, 60)
        outbox = p.control("sms-sender")["outbox"]
        check("%s: 429: at 1 s before Retry-After ends, still waiting and not sent" % name,
              outbox["retrying"] == 1 and outbox["sending"] == 0 and sms.requests == 3,
              (outbox, sms.requests))
        orders.tick_seen(ticks, 61)
        # STATS before the count: the retry may finish between the two
        outbox = p.control("sms-sender")["outbox"]
        check("%s: at 61 s the retry is out (sending) or done" % name,
              outbox["sending"] == 1 or sms.requests == 4, (outbox, sms.requests))
        fb = feedback(tap, o["idempotency_key"], serve=orders.serve)
        check("%s: 429 then 2xx: sent once, delivered once" % name,
              len(sent_for(sms, o["idempotency_key"])) == 1 and sms.requests == 4
              and [t for t, _ in fb] == ["feedback.delivered"] and fb[0][1].get("attempts") == 2,
              (sms.requests, fb))

        # too long for its journey; not E.164
        before = sms.requests
        o = orders.order("sms", "+48600100203", seconds=70, locale="ja", data=LONG_JA,
                         journey="long-journey")
        fb = feedback(tap, o["idempotency_key"], serve=orders.serve)
        reason = fb[0][1].get("reason", "") if fb else ""
        check("%s: over the journey's maximum segments: failed, with the count" % name,
              [t for t, _ in fb] == ["feedback.failed"] and "too long: 2 segments" in reason
              and "1 allowed" in reason and fb[0][1].get("segments") == 2, fb)
        o = orders.order("sms", "0048600100204", seconds=70)
        fb = feedback(tap, o["idempotency_key"], serve=orders.serve)
        check("%s: a number that is not E.164 is unreachable" % name,
              [t for t, _ in fb] == ["feedback.unreachable"], fb)
        check("%s: neither reached the provider" % name, sms.requests == before, sms.requests)

        # quiet hours: 12:01 UTC is 21:01 in Tokyo
        o = orders.order("sms", "+81901234567", seconds=70, tz="Asia/Tokyo")
        orders.tick_seen(ticks, 71)
        check("%s: not sent at 21:01 in the person's zone" % name,
              not sent_for(sms, o["idempotency_key"])
              and p.control("sms-sender")["outbox"]["sending"] == 0, sms.sent[-1:])
        orders.tick(12 * 3600 + 60)             # 09:00 in Tokyo
        fb = feedback(tap, o["idempotency_key"], serve=orders.serve)
        check("%s: sent when their quiet hours end" % name,
              len(sent_for(sms, o["idempotency_key"])) == 1
              and [t for t, _ in fb] == ["feedback.delivered"], fb)
        log = p.log("sms-sender")
        check("%s: no full phone number and no secret in the log" % name,
              "+48600100200" not in log and "+81901234567" not in log
              and SmsProvider.TOKEN not in log and SmsProvider.API_KEY not in log, log[-1500:])
        orders.close()
    sms.close()


run("twilio")
run("infobip")

done()
