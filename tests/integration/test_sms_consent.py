#!/usr/bin/python3
"""sms-sender with the scheduler: a STOP reply ends SMS from every journey.

The scheduler (fed by Python as the segmenter) and the sms-sender with
its webhooks run as in production. Two people, SMS only (no e-mail, no
push), each abandon a cart: the first reminder goes by SMS to both. Then
one replies STOP. The sms-sender stores the opt-out and tells the
scheduler (feedback.unsubscribed, channel sms, the user it knows for the
number); a day later the second reminder ("email, sms") reaches only the
other person. The scheduler's own decision is checked (no send order at
all), and the provider's (one text only).
"""
import os
import time
import urllib.parse

from ndtest import ROOT, Pipeline, check, done, free_port
from schedtest import CART, Feed, Reader, scheduler_options, users_in
from sendtest import SmsProvider, http_post, twilio_signature, until

os.environ["ND_TEST_SMS_TWILIO"] = SmsProvider.TOKEN
sms = SmsProvider("twilio")
port = free_port()
PUBLIC = "https://hooks.shop.example"
extra = {
    "feed": {}, "feedback": {}, "sink": {"input": "scheduler"},
    "scheduler": scheduler_options(input="feed, sms-sender"),
    "sms-sender": {"input": "scheduler", "topics": "send.sms", "provider": "twilio",
                   "api-base": sms.base, "account": SmsProvider.SID,
                   "secret": "env:ND_TEST_SMS_TWILIO", "from": "+15550001234",
                   "templates": os.path.join(ROOT, "conf", "templates"),
                   "http": "127.0.0.1:%d" % port, "webhook-url": PUBLIC},
}
PHONES = {0: "+48600100400", 1: "+48600100500"}
try:
    with Pipeline(clock="event", extra=extra) as p:
        p.start("scheduler")
        p.start("sms-sender")
        feed, reader = Feed(p), Reader(p)
        stopper, other = users_in("abandoned-cart", "treated", 2)
        for i, user in enumerate((stopper, other)):
            feed.send("cart.abandoned", user, 0, cart=CART, session="s-" + user,
                      segments=["hesitating"], traits={"firstName": "Ann", "phone": PHONES[i],
                                                       "sms_consent": True})

        def at(hours):
            feed.tick(hours)
            feed.settle()
            time.sleep(0.3)
            feed.settle()
            reader.drain(p)

        at(1.0)
        until(lambda: len(sms.sent) >= 2, timeout=20, serve=feed.settle)
        check("the first reminder went by SMS to both", sorted(m["to"] for m in sms.sent)
              == sorted(PHONES.values()), sms.sent)

        params = {"From": PHONES[0], "To": "+15550001234", "Body": "STOP", "MessageSid": "SMin1"}
        status, _ = http_post("http://127.0.0.1:%d/sms/inbound" % port, urllib.parse.urlencode(params),
                              headers={"X-Twilio-Signature": twilio_signature(PUBLIC + "/sms/inbound",
                                                                              params)})
        check("the STOP reply is accepted", status == 200, status)
        at(2.0)
        counts = p.control("scheduler")["scheduler"]["counts"]
        check("the scheduler heard feedback.unsubscribed from the sms-sender",
              counts.get("feedback.unsubscribed") == 1, counts)

        at(25.0)                                   # the second reminder is due
        until(lambda: len(sms.sent) >= 3, timeout=10, serve=feed.settle)
        time.sleep(0.5)
        at(26.0)
        second = [s for s in reader.sends() if s["step"] == "reminder-2"]
        check("the second reminder: a send order for the other person only",
              [s["user"] for s in second] == [other], second)
        check("the provider got one more text, to the other number",
              [m["to"] for m in sms.sent[2:]] == [PHONES[1]], sms.sent)
        feed.close()
        reader.close()
finally:
    sms.close()
done()
