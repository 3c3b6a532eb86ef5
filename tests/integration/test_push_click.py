#!/usr/bin/python3
"""A click on a push notification reaches the scheduler, every part real:
scheduler (shipped abandoned-cart journey, event time) -> push-sender ->
tests/e2e/push_service.js (the browser and its push service) -> the
notification's "report" URL -> collector -> push-sender (the collector as
its side input) -> feedback.clicked -> scheduler. Python stands in only
for the segmenter (the cart.abandoned that starts the journey).

  - the reminder goes by push at +1 h, and the decrypted notification
    carries report = <event-url>?t=TOKEN;
  - the service worker's POST of report + "&action=clicked" (twice, as a
    retried fetch) is answered 204;
  - the scheduler counts one feedback.clicked (STATS), and nd-report one
    click for reminder-1 by push.
"""
import json
import os
import subprocess
import urllib.request

from ndtest import BIN, ROOT, Pipeline, check, done
from schedtest import Feed, journeys_only, scheduler_options, users_in
from sendtest import PushService, vapid_keys, until

public, private = vapid_keys()
os.environ["ND_TEST_VAPID"] = private
service = PushService()
try:
    with Pipeline(clock="event") as p:
        secret = "file:" + os.path.join(p.dir, "secret")
        event_url = "http://127.0.0.1:%d/v1/push/event" % p.http_port
        p.write_config({
            "pipeline": {"unsubscribe-secret": secret},
            "feed": {}, "feedback": {},
            "scheduler": scheduler_options(journeys_only("abandoned-cart"),
                                           input="feed, push-sender"),
            "push-sender": {"input": "scheduler, collector", "topics": "send.push, push.",
                            "vapid-key": "env:ND_TEST_VAPID", "event-url": event_url,
                            "vapid-subject": "mailto:ops@shop.example", "hosts": "127.0.0.1",
                            "allow-http": "yes",
                            "templates": os.path.join(ROOT, "conf", "templates")}})
        for stage in ("collector", "scheduler", "push-sender"):
            p.start(stage)
        feed = Feed(p)
        user, = users_in("abandoned-cart", "treated", 1)
        sub = service.subscribe("ann")
        feed.abandon(user, 0, push=True, push_subscription=sub)
        feed.tick(1.0)
        feed.settle()
        until(lambda: service.received("ann"), timeout=30, serve=feed.settle)
        got = service.received("ann")
        payload = json.loads(got[0].get("payload") or "{}") if got else {}
        report = payload.get("report", "")
        check("the +1 h reminder went by push, with a report URL",
              len(got) == 1 and payload.get("step") == "reminder-1"
              and report.startswith(event_url + "?t="), payload)

        def click():
            req = urllib.request.Request(report + "&action=clicked", data=b"", method="POST")
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status
        statuses = [click(), click()]
        check("the service worker's click, and its retry: 204 each", statuses == [204, 204],
              statuses)

        def clicks():
            return p.control("scheduler")["scheduler"]["counts"].get("feedback.clicked", 0)
        until(lambda: clicks() >= 1, timeout=30, serve=feed.settle)
        feed.tick(1.5)                  # later feedback would have come by now
        feed.settle()
        check("the scheduler counts one feedback.clicked", clicks() == 1,
              p.control("scheduler")["scheduler"]["counts"])
        out = subprocess.run([os.path.join(BIN, "nd-report"), "-c", p.config, "--json"],
                             capture_output=True, text=True)
        steps = {}
        for _, v in json.loads(out.stdout or "{}").get("counters", {}).get(
                "abandoned-cart", {}).items():
            for step, channels in v.get("steps", {}).items():
                for channel, metrics in channels.items():
                    for metric, n in metrics.items():
                        steps[(step, channel, metric)] = steps.get((step, channel, metric), 0) + n
        check("nd-report: one click for reminder-1 by push",
              steps.get(("reminder-1", "push", "clicked")) == 1
              and steps.get(("reminder-1", "push", "delivered")) == 1, steps)
        feed.close()
finally:
    service.close()
done()
