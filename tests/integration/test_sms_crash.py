#!/usr/bin/python3
"""sms-sender: kill -9 with 10 000 SMS queued, restart, none lost.

10 000 send orders wait in the sms-sender's outbox; it is killed -9
twice while it sends to a Twilio-style API and restarted. Every message
reaches the provider; the only duplicates are those in flight at a kill
(at most max-inflight per kill; printed); the outbox counts each order
delivered once and its journal holds one feedback per order.
"""
# tests/run: start first (one of the longest)
import collections
import os
import time

from ndtest import ROOT, Pipeline, check, check_kills_in_flight, done
from schedtest import Reader
from sendtest import Orders, SmsProvider

N = 10000
INFLIGHT = 100
os.environ["ND_TEST_SMS_TWILIO"] = SmsProvider.TOKEN
sms = SmsProvider("twilio")
options = {"input": "scheduler", "topics": "send.sms", "provider": "twilio", "api-base": sms.base,
           "account": SmsProvider.SID, "secret": "env:ND_TEST_SMS_TWILIO", "from": "+15550001234",
           "templates": os.path.join(ROOT, "conf", "templates"), "webhook-url": "https://hooks.example",
           "max-inflight": str(INFLIGHT), "batch": "50", "connections": "2"}
with Pipeline(clock="event", sync=True, extra={"sms-sender": options, "sink": {"input": "sms-sender"}}) as p:
    orders = Orders(p)
    for i in range(N):
        orders.order("sms", "+4860%07d" % i)
    p.start("sms-sender")
    reader = Reader(p, stage="sms-sender")
    marks = []
    for target in (N // 4, N // 2):
        deadline = time.time() + 120
        while len(sms.sent) < target and time.time() < deadline:
            orders.serve(0.05)
        p.kill("sms-sender")
        marks.append(len(sms.sent))      # what reached the provider before it died
        p.start("sms-sender")
    deadline = time.time() + 300
    while time.time() < deadline and p.control("sms-sender")["outbox"]["delivered"] < N:
        orders.serve(0.05)
    outbox = p.control("sms-sender")["outbox"]
    per_key = collections.Counter(m["key"] for m in sms.sent)
    lost = [i for i in range(N) if per_key["abandoned-cart/e-%d/reminder-1/sms" % (i + 1)] == 0]
    duplicates = sum(c - 1 for c in per_key.values())
    print("# killed -9 %d times; %d of %d SMS sent twice (in flight at a kill)" % (len(marks), duplicates, N))
    check_kills_in_flight("the sms-sender (delivered at the provider)", marks, 2, N)
    check("none lost: all %d reached the provider" % N, not lost, lost[:10])
    check("duplicates at most the in-flight window per kill (%d <= %d)" % (duplicates, INFLIGHT * len(marks)),
          duplicates <= INFLIGHT * len(marks), duplicates)
    check("the outbox counts each delivered once", outbox["delivered"] == N, outbox)
    deadline = time.time() + 60
    while time.time() < deadline and reader.position < p.control("sms-sender")["journal"]["head"]:
        reader.poll(0.2)
    feedback = collections.Counter(b["idempotency_key"] for _, t, b in reader.messages
                                   if t.startswith("feedback."))
    check("the journal holds exactly one feedback per order",
          len(feedback) == N and set(feedback.values()) == {1}, (len(feedback), feedback.most_common(3)))
    check("every request was as documented", not sms.problems, sms.problems[:3])
    reader.close()
    orders.close()
sms.close()
done()
