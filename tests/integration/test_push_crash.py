#!/usr/bin/python3
"""push-sender: kill -9 with 10 000 pushes queued, restart, none lost.

10 000 send orders, each to its own subscription endpoint, wait in the
push-sender's outbox; it is killed -9 twice while it delivers and
restarted. At the end the push service has received every one of them;
the only duplicates are pushes that were in flight at a kill (at most
max-inflight per kill; the test prints how many). Read from the
push-sender's own journal, every order has exactly one feedback.
"""
# tests/run: start first (one of the longest)
import os
import time

from ndtest import ROOT, Pipeline, check, check_kills_in_flight, done
from schedtest import Reader
from sendtest import Orders, PushService, vapid_keys

N = 10000
INFLIGHT = 100
public, private = vapid_keys()
os.environ["ND_TEST_VAPID"] = private
service = PushService(fast=True)
options = {"input": "scheduler", "topics": "send.push", "vapid-key": "env:ND_TEST_VAPID",
           "vapid-subject": "mailto:ops@shop.example", "hosts": "127.0.0.1", "allow-http": "yes",
           "templates": os.path.join(ROOT, "conf", "templates"), "max-inflight": str(INFLIGHT),
           "batch": "50", "connections": "2"}
try:
    with Pipeline(clock="event", sync=True, extra={"push-sender": options, "sink": {"input": "push-sender"}}) as p:
        orders = Orders(p)
        keys = service.subscribe("template")["keys"]
        for i in range(N):
            orders.order("push", {"endpoint": "%s/push/k-%d" % (service.origin, i), "keys": keys})
        p.start("push-sender")
        reader = Reader(p, stage="push-sender")

        def delivered():
            return sum(service.counts().values())

        marks = []
        for target in (N // 4, N // 2):
            deadline = time.time() + 120
            while delivered() < target and time.time() < deadline:
                orders.serve(0.05)
            p.kill("push-sender")
            marks.append(delivered())      # what reached the provider before it died
            p.start("push-sender")
        deadline = time.time() + 300
        while time.time() < deadline:
            orders.serve(0.05)
            outbox = p.control("push-sender")["outbox"]
            if outbox["delivered"] >= N:
                break
        counts = service.counts()
        lost = [i for i in range(N) if counts.get("k-%d" % i, 0) == 0]
        duplicates = sum(c - 1 for c in counts.values() if c > 1)
        print("# killed -9 %d times; %d of %d pushes delivered twice (in flight at a kill)"
              % (len(marks), duplicates, N))
        check_kills_in_flight("the push-sender (delivered at the provider)", marks, 2, N)
        if not check("none lost: every one of %d pushes reached the service" % N, not lost, lost[:10]):
            print(p.log("push-sender")[-3000:])
        check("duplicates at most the in-flight window per kill (%d <= %d)"
              % (duplicates, INFLIGHT * len(marks)), duplicates <= INFLIGHT * len(marks), duplicates)
        check("the outbox counts each delivered once", outbox["delivered"] == N, outbox)
        deadline = time.time() + 60
        while time.time() < deadline and not reader.position >= p.control("push-sender")["journal"]["head"]:
            reader.poll(0.2)
        per_key = {}
        for _, topic, body in reader.messages:
            if topic.startswith("feedback."):
                per_key[body["idempotency_key"]] = per_key.get(body["idempotency_key"], 0) + 1
        check("the journal holds exactly one feedback per order",
              len(per_key) == N and set(per_key.values()) == {1},
              (len(per_key), {k: v for k, v in per_key.items() if v != 1}))
        check("the restart said how many were in flight",
              "were in flight when the stage stopped" in p.log("push-sender"), p.log("push-sender")[-1500:])
        reader.close()
        orders.close()
finally:
    service.close()
done()
