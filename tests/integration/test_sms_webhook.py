#!/usr/bin/python3
"""sms-sender webhooks: STOP / START / HELP and delivery receipts.

Twilio-style: inbound messages and status callbacks are form posts
signed with X-Twilio-Signature, computed here by Twilio's own Node
library (tests/e2e/twilio_sign.js). Infobip-style: JSON, with ?token=.

  - STOP from a number two people share: both get feedback.unsubscribed
    (channel sms) for the scheduler; orders to it are refused from then
    on without reaching the provider, also after kill -9 and restart
    (the opt-out was on disk before the provider heard 200);
  - a wrongly signed or unsigned request is refused and changes nothing;
  - HELP is answered with help-text (TwiML); START lifts the opt-out,
    feedback.resubscribed, and the next order goes out;
  - receipts: undelivered -> feedback.failed with the provider's error,
    an unknown subscriber -> feedback.unreachable, delivered -> counted
    (the scheduler heard "delivered" when the provider took it).
"""
import json
import os
import time
import urllib.parse

from ndtest import ROOT, Pipeline, check, done, free_port
from sendtest import Orders, SmsProvider, feedback, http_post, twilio_signature, until

PUBLIC = "https://hooks.shop.example"
PHONE = "+48600100200"
os.environ["ND_TEST_SMS_TWILIO"] = SmsProvider.TOKEN
os.environ["ND_TEST_SMS_INFOBIP"] = SmsProvider.API_KEY
os.environ["ND_TEST_WEBHOOK_TOKEN"] = "hook-secret-123"


def options(provider, base, port):
    o = {"input": "scheduler", "topics": "send.sms", "provider": provider, "api-base": base,
         "templates": os.path.join(ROOT, "conf", "templates"), "webhook-url": PUBLIC,
         "http": "127.0.0.1:%d" % port, "help-text": "Example Shop: reply STOP to opt out. <help>"}
    if provider == "twilio":
        o.update({"account": SmsProvider.SID, "secret": "env:ND_TEST_SMS_TWILIO",
                  "from": "+15550001234"})
    else:
        o.update({"secret": "env:ND_TEST_SMS_INFOBIP", "from": "ExampleShop",
                  "webhook-token": "env:ND_TEST_WEBHOOK_TOKEN"})
    return o


class Twilio:
    def __init__(self, port):
        self.port = port

    def post(self, path_query, params, sign=True, signature=None):
        body = urllib.parse.urlencode(params)
        headers = {}
        if sign:
            headers["X-Twilio-Signature"] = signature or twilio_signature(PUBLIC + path_query, params)
        return http_post("http://127.0.0.1:%d%s" % (self.port, path_query), body, headers=headers)

    def inbound(self, text, phone=PHONE, **kw):
        return self.post("/sms/inbound", {"From": phone, "To": "+15550001234", "Body": text,
                                          "MessageSid": "SMin%d" % time.time_ns()}, **kw)

    def receipt(self, key, status, error=None):
        params = {"MessageSid": "SM1", "MessageStatus": status, "To": PHONE}
        if error:
            params["ErrorCode"] = error
        return self.post("/sms/status?key=" + urllib.parse.quote(key, safe=""), params)


class Infobip:
    def __init__(self, port):
        self.port = port

    def post(self, path, doc, token="hook-secret-123"):
        q = "?token=" + token if token else ""
        return http_post("http://127.0.0.1:%d%s%s" % (self.port, path, q), json.dumps(doc),
                         content_type="application/json")

    def inbound(self, text, phone=PHONE, **kw):
        return self.post("/sms/inbound", {"results": [{"messageId": "in-1", "from": phone.lstrip("+"),
                         "to": "447860099299", "text": text, "cleanText": text}],
                         "messageCount": 1, "pendingMessageCount": 0}, **kw)

    def receipt(self, key, group, name, error="NO_ERROR"):
        return self.post("/sms/status", {"results": [{"bulkId": "b", "messageId": "m-x",
                         "to": PHONE.lstrip("+"), "callbackData": key,
                         "status": {"groupId": 2, "groupName": group, "id": 5, "name": name},
                         "error": {"groupId": 1, "name": error, "permanent": True}}]})


def bodies(tap, topic, count, timeout=10):
    """Waits for count messages on topic; returns their bodies."""
    def got():
        tap.poll(50)
        found = [b for t, b in tap.messages if t == topic]
        return found if len(found) >= count else None
    return until(got, timeout=timeout) or [b for t, b in tap.messages if t == topic]


def run(provider):
    sms = SmsProvider(provider)
    port = free_port()
    hooks = Twilio(port) if provider == "twilio" else Infobip(port)
    name = provider.capitalize() + "-style"
    with Pipeline(clock="event", extra={"sms-sender": options(provider, sms.base, port)}) as p:
        orders = Orders(p)
        p.start("sms-sender")
        tap = p.tap("sms-sender", "feedback.")

        a = orders.order("sms", PHONE, user="u-ann")
        b = orders.order("sms", PHONE, user="u-bob")          # the same phone
        c = orders.order("sms", "+48600100299", user="u-cy")
        for o in (a, b, c):
            feedback(tap, o["idempotency_key"], serve=orders.serve)
        check("%s: three sent" % name, len(sms.sent) == 3, sms.sent)

        # refused requests change nothing
        if provider == "twilio":
            bad = hooks.inbound("STOP", signature="AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
            unsigned = hooks.inbound("STOP", sign=False)
        else:
            bad = hooks.inbound("STOP", token="wrong")
            unsigned = hooks.inbound("STOP", token=None)
        check("%s: a wrongly signed webhook is refused (403)" % name, bad[0] == 403, bad)
        check("%s: an unsigned one too" % name, unsigned[0] == 403, unsigned)
        check("%s: ... and nothing was stored" % name,
              p.control("sms-sender")["sms"]["opted_out"] == 0, p.control("sms-sender")["sms"])

        status, text = hooks.inbound("Stop")
        check("%s: STOP is answered 200" % name, status == 200, (status, text))
        if provider == "twilio":
            check("twilio: with an empty TwiML Response", "<Response></Response>" in text, text)
        stops = bodies(tap, "feedback.unsubscribed", 2)
        check("%s: feedback.unsubscribed for both people with that number" % name,
              sorted(b["user"] for b in stops) == ["u-ann", "u-bob"]
              and all(b["phone"] == PHONE and b["channel"] == "sms" for b in stops), stops)

        p.kill("sms-sender")                    # kill -9 right after the 200
        p.start("sms-sender")
        tap = p.tap("sms-sender", "feedback.")  # the new process's PUB socket
        requests = sms.requests
        d = orders.order("sms", PHONE, user="u-ann", seconds=10)
        fb = feedback(tap, d["idempotency_key"], serve=orders.serve)
        check("%s: after STOP (and kill -9) an order to the number is refused" % name,
              [t for t, _ in fb] == ["feedback.unsubscribed"] and "opted out" in fb[0][1]["reason"], fb)
        check("%s: ... without a request to the provider" % name, sms.requests == requests,
              (requests, sms.requests))

        status, text = hooks.inbound("HELP")
        if provider == "twilio":
            check("twilio: HELP is answered with help-text in TwiML",
                  status == 200 and "<Message>Example Shop: reply STOP to opt out. &lt;help&gt;</Message>"
                  in text, text)
        else:
            check("infobip: HELP is answered 200", status == 200, (status, text))

        status, _ = hooks.inbound("START")
        starts = bodies(tap, "feedback.resubscribed", 2)
        check("%s: START: feedback.resubscribed for both" % name,
              status == 200 and sorted(b["user"] for b in starts) == ["u-ann", "u-bob"], starts)
        e = orders.order("sms", PHONE, user="u-ann", seconds=20)
        fb = feedback(tap, e["idempotency_key"], serve=orders.serve)
        check("%s: after START the next order is sent" % name,
              [t for t, _ in fb] == ["feedback.delivered"] and sms.sent[-1]["key"] == e["idempotency_key"], fb)

        # receipts
        if provider == "twilio":
            r1 = hooks.receipt(a["idempotency_key"], "undelivered", "30003")
            r2 = hooks.receipt(c["idempotency_key"], "delivered")
            r3 = hooks.receipt(b["idempotency_key"], "failed", "30005")
        else:
            r1 = hooks.receipt(a["idempotency_key"], "UNDELIVERABLE", "UNDELIVERABLE_NOT_DELIVERED",
                               "EC_ABSENT_SUBSCRIBER")
            r2 = hooks.post("/sms/status", {"results": [{"messageId": "m-3", "to": "48600100299",
                            "callbackData": c["idempotency_key"],
                            "status": {"groupId": 3, "groupName": "DELIVERED",
                                       "name": "DELIVERED_TO_HANDSET"}}]})
            r3 = hooks.receipt(b["idempotency_key"], "UNDELIVERABLE", "UNDELIVERABLE_NOT_DELIVERED",
                               "EC_UNKNOWN_SUBSCRIBER")
        check("%s: receipts are answered 200" % name, r1[0] == r2[0] == r3[0] == 200, (r1, r2, r3))
        fa = [x for x in feedback(tap, a["idempotency_key"]) if x[1]["id"].endswith("#receipt")]
        fb_ = [x for x in feedback(tap, b["idempotency_key"]) if x[1]["id"].endswith("#receipt")]
        check("%s: an undelivered receipt -> feedback.failed for that order, with the error" % name,
              [t for t, _ in fa] == ["feedback.failed"] and fa[0][1]["user"] == "u-ann"
              and fa[0][1]["journey"] == "abandoned-cart" and fa[0][1]["step"] == "reminder-1"
              and ("30003" in fa[0][1]["reason"] or "ABSENT" in fa[0][1]["reason"]), fa)
        check("%s: an unknown subscriber -> feedback.unreachable" % name,
              [t for t, _ in fb_] == ["feedback.unreachable"], fb_)
        stats = p.control("sms-sender")
        check("%s: a delivered receipt is counted, not told twice" % name,
              stats["sms"]["receipts"]["delivered"] == 1
              and not [1 for t, b in tap.messages if b.get("idempotency_key") == c["idempotency_key"]
                       and t != "feedback.delivered"], stats["sms"])
        again = hooks.receipt(a["idempotency_key"], *(("undelivered", "30003") if provider == "twilio"
                              else ("UNDELIVERABLE", "UNDELIVERABLE_NOT_DELIVERED", "EC_ABSENT_SUBSCRIBER")))
        time.sleep(0.3)
        tap.poll(50)
        check("%s: a repeated receipt is not told again" % name, again[0] == 200 and len(
              [1 for t, b in tap.messages if b.get("id") == a["idempotency_key"] + "#receipt"]) == 1,
              again)
        log = p.log("sms-sender")
        check("%s: the log masks numbers" % name, PHONE not in log and "+4860*****00" in log, log[-1500:])
        orders.close()
    sms.close()


def open_infobip_hooks():
    """Infobip signs nothing: without webhook-token anyone's JSON STOP was
    stored. Now the start is refused at the line, unless the operator says
    webhook-token = none, which the log then says at every start."""
    sms = SmsProvider("infobip")
    opts = options("infobip", sms.base, free_port())
    del opts["webhook-token"]
    with Pipeline(clock="event", extra={"sms-sender": opts}) as p:
        status = p.refused("sms-sender")
        log = p.log("sms-sender")
        check("infobip: webhooks without webhook-token refuse the start with file:line",
              status not in (0, None) and "webhook-token" in log and "pipeline.zpl:" in log
              and "no signature" in log, (status, log[-600:]))
    opts["webhook-token"] = "none"
    port = int(opts["http"].rsplit(":", 1)[1])
    with Pipeline(clock="event", extra={"sms-sender": opts}) as p:
        p.start("sms-sender")
        status, text = http_post("http://127.0.0.1:%d/sms/inbound" % port, json.dumps(
            {"results": [{"messageId": "in-1", "from": "48600100200", "to": "ExampleShop",
                          "text": "HELP", "cleanText": "HELP", "keyword": "HELP"}]}),
            "application/json")
        check("infobip: with webhook-token = none it starts, says so in its log, and takes hooks",
              status == 200 and "unauthenticated" in p.log("sms-sender"), (status, text))
    sms.close()


run("twilio")
run("infobip")
open_infobip_hooks()
done()
