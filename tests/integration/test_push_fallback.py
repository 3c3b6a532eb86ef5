#!/usr/bin/python3
"""push-sender with the scheduler: a dead subscription falls back to SMS, once.

The scheduler (fed by Python as the segmenter), the push-sender and the
sms-sender run as in production: the senders read the scheduler's send
orders, the scheduler reads their feedback. A person with a push
subscription and a phone abandons a cart; the node push service answers
410 for their subscription. The push-sender says feedback.unreachable;
the scheduler sends the same step by SMS instead; the Twilio-style mock
gets exactly one text, and nothing more follows for that step.
"""
import os
import time

from ndtest import ROOT, Pipeline, check, done
from schedtest import Feed, Reader, scheduler_options, users_in
from sendtest import PushService, SmsProvider, until, vapid_keys

public, private = vapid_keys()
os.environ["ND_TEST_VAPID"] = private
os.environ["ND_TEST_SMS_TWILIO"] = SmsProvider.TOKEN
service = PushService()
sms = SmsProvider("twilio")
extra = {
    "feed": {}, "feedback": {}, "sink": {"input": "scheduler"},
    "scheduler": scheduler_options(input="feed, push-sender, sms-sender"),
    "push-sender": {"input": "scheduler", "topics": "send.push", "vapid-key": "env:ND_TEST_VAPID",
                    "vapid-subject": "mailto:ops@shop.example", "hosts": "127.0.0.1",
                    "allow-http": "yes", "templates": os.path.join(ROOT, "conf", "templates")},
    "sms-sender": {"input": "scheduler", "topics": "send.sms", "provider": "twilio",
                   "api-base": sms.base, "account": SmsProvider.SID,
                   "secret": "env:ND_TEST_SMS_TWILIO", "from": "+15550001234",
                   "templates": os.path.join(ROOT, "conf", "templates")},
}
try:
    with Pipeline(clock="event", extra=extra) as p:
        for stage in ("scheduler", "push-sender", "sms-sender"):
            p.start(stage)
        feed, reader = Feed(p), Reader(p)
        user, = users_in("abandoned-cart", "treated", 1)
        sub = service.subscribe("gone")
        service.script("gone", [410])
        feed.abandon(user, 0, push=True, phone=True, push_subscription=sub)
        feed.tick(1.0)
        feed.settle()
        got = until(lambda: sms.sent, timeout=30, serve=lambda: feed.settle())
        time.sleep(0.5)
        feed.tick(2.0)                          # time passes: nothing more for this step
        feed.settle()
        time.sleep(0.5)
        reader.drain(p)
        sends = [s for s in reader.sends(user) if s["step"] == "reminder-1"]
        check("the push service was asked once and said 410", [r["status"] for r in
              service.received("gone")] == [410], service.received("gone"))
        check("the scheduler sent the step by push, then by SMS",
              [s["channel"] for s in sends] == ["push", "sms"], sends)
        check("the SMS names the failed push as fallback_of",
              len(sends) == 2 and sends[1].get("fallback_of") == sends[0]["idempotency_key"], sends)
        check("the SMS provider got exactly one text, to the person's phone",
              len(sms.sent) == 1 and sms.sent[0]["to"] == "+48600100200"
              and "Example Shop" in sms.sent[0]["text"], sms.sent)
        counts = p.control("scheduler")["scheduler"]["counts"]
        check("the scheduler heard unreachable (push) and delivered (SMS)",
              counts.get("feedback.unreachable") == 1 and counts.get("feedback.delivered") == 1, counts)
        check("the push-sender remembers the subscription as dead",
              p.control("push-sender")["push"]["dead_subscriptions"] == 1, p.control("push-sender"))
        feed.close()
        reader.close()
finally:
    service.close()
    sms.close()
done()
