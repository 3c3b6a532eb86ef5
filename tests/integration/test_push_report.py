#!/usr/bin/python3
"""Push click and dismissal reports, end to end (README, push-sender
"Reports"): real collector, real push-sender, tests/e2e/push_service.js
as the browsers and the push service, a Python journal as the scheduler.

  - the push-sender (event-url set) puts "report" in every notification:
    the collector's /v1/push/event URL with a signed token; the browser
    decrypts it (http_ece, the subscription's private key);
  - the service worker's POST of report + "&action=clicked" is answered
    204, readable by any page (CORS *), and the push-sender, which reads
    the collector as a side input, emits feedback.clicked with the order's
    idempotency key and user, for the scheduler;
  - the same report again (a retried fetch) is committed once: one
    feedback.clicked;
  - "dismissed" becomes feedback.dismissed, "shown" is counted in the
    push-sender's STATS;
  - a forged token, a token of another purpose signed with the same
    secret, an unsubscribe token, no token: 403; an unknown action: 400;
    nothing of them reaches the push-sender;
  - without event-url, no "report".
"""
import base64
import hashlib
import hmac
import json
import os
import urllib.error
import urllib.request

from ndtest import ROOT, Pipeline, check, done, wait_for
from sendtest import Orders, PushService, feedback, vapid_keys, until

public, private = vapid_keys()
os.environ["ND_TEST_VAPID"] = private


def b64(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def sign(secret, purpose, payload):
    """A token as nd_token_sign makes one, to forge with the real secret."""
    mac = hmac.new(secret.encode(), b"nudge-" + purpose.encode() + b"\0" + payload.encode(),
                   hashlib.sha256).digest()
    return b64(payload.encode()) + "." + b64(mac)


def post(url):
    req = urllib.request.Request(url, data=b"", method="POST",
                                 headers={"Origin": "https://shop.example"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


service = PushService()
try:
    with Pipeline(clock="event") as p:
        secret_file = os.path.join(p.dir, "secret")
        event_url = "http://127.0.0.1:%d/v1/push/event" % p.http_port
        options = {"input": "scheduler, collector", "topics": "send.push, push.",
                   "vapid-key": "env:ND_TEST_VAPID", "vapid-subject": "mailto:ops@shop.example",
                   "hosts": "127.0.0.1", "allow-http": "yes", "event-url": event_url,
                   "templates": os.path.join(ROOT, "conf", "templates")}
        p.write_config({"pipeline": {"unsubscribe-secret": "file:" + secret_file},
                        "push-sender": options})
        p.start("collector")
        orders = Orders(p)
        p.start("push-sender")
        tap = p.tap("push-sender", "feedback.")
        secret = open(secret_file).read().strip()

        sub = service.subscribe("s1")
        first = orders.order("push", sub, seconds=0)
        second = orders.order("push", sub, seconds=1)
        fb = feedback(tap, second["idempotency_key"], serve=orders.serve)
        got = [json.loads(r.get("payload") or "{}") for r in service.received("s1")]
        check("two pushes delivered and decrypted", len(got) == 2 and fb, (len(got), fb))
        reports = {g.get("key"): g.get("report", "") for g in got}
        report = reports.get(first["idempotency_key"], "")
        check("the notification carries report: <event-url>?t=TOKEN",
              report.startswith(event_url + "?t=") and len(report) > len(event_url) + 40, got[:1])

        status, headers, _ = post(report + "&action=clicked")
        check("the service worker's click report: 204, open to any page (CORS *)",
              status == 204 and headers.get("Access-Control-Allow-Origin") == "*",
              (status, headers))
        status, _, _ = post(report + "&action=clicked")
        check("the same report again (a retry): 204", status == 204, status)

        def clicks():
            orders.serve()
            tap.poll(50)
            return [b for t, b in tap.messages if t == "feedback.clicked"]
        wait_for(lambda: clicks(), 20)
        clicked = clicks()
        check("the push-sender turns it into feedback.clicked for the scheduler",
              len(clicked) >= 1 and clicked[0].get("idempotency_key") == first["idempotency_key"]
              and clicked[0].get("user") == first["user"]
              and clicked[0].get("channel") == "push", clicked)

        status, _, _ = post(reports.get(second["idempotency_key"], "") + "&action=dismissed")
        status_shown, _, _ = post(reports.get(second["idempotency_key"], "") + "&action=shown")
        check("dismissed and shown: 204", (status, status_shown) == (204, 204),
              (status, status_shown))

        def reported():
            orders.serve()
            return p.control("push-sender").get("push", {}).get("reports", {})
        until(lambda: reported().get("shown") == 1 and reported().get("dismissed") == 1,
              serve=orders.serve)
        tap.poll(200)
        topics = [t for t, _ in tap.messages if t in ("feedback.clicked", "feedback.dismissed")]
        check("a retried report is one: one feedback.clicked, one feedback.dismissed",
              sorted(topics) == ["feedback.clicked", "feedback.dismissed"], topics)
        check("shown is counted in the push-sender's STATS",
              reported() == {"shown": 1, "clicked": 1, "dismissed": 1}, reported())

        token = report.split("?t=", 1)[1]
        payload = "%s\n%s" % ("abandoned-cart/e-99/reminder-1/push", "someone-else")
        refused = [
            post(event_url + "?t=" + token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
                 + "&action=clicked"),
            post(event_url + "?t=" + sign(secret, "confirm", payload) + "&action=clicked"),
            post(event_url + "?t=" + sign("not-the-secret", "push-event", payload)
                 + "&action=clicked"),
            post(event_url + "?action=clicked")]
        check("a forged token, another purpose's, another secret's, none: 403 each",
              [r[0] for r in refused] == [403] * 4, [(r[0], r[2]) for r in refused])
        forged = sign(secret, "push-event", payload)
        status, _, _ = post(event_url + "?t=" + forged + "&action=clicked")
        check("(the same payload signed right for push-event passes: the check is the MAC)",
              status == 204, status)
        status, _, answer = post(report + "&action=bought")
        check("an unknown action: 400", status == 400 and "action" in answer, (status, answer))
        status, _, answer = post(event_url.replace("/v1/push/event", "/v1/push/event?t=x")
                                 + "&action=clicked")
        wait_for(lambda: len(clicks()) >= 2, 10)
        others = [b for b in clicks() if b.get("user") == "someone-else"]
        check("nothing refused reached the push-sender (only the rightly signed one)",
              len(clicks()) == 2 and len(others) == 1, clicks())
        log = p.log("collector") + p.log("push-sender")
        check("no token nor secret in the logs", token not in log and secret not in log, None)
        p.stop("push-sender")

        del options["event-url"]
        p.write_config({"pipeline": {"unsubscribe-secret": "file:" + secret_file},
                        "push-sender": options})
        p.start("push-sender")
        orders.order("push", service.subscribe("s2"), seconds=2)
        until(lambda: service.received("s2"), serve=orders.serve)
        plain = json.loads(service.received("s2")[0].get("payload") or "{}")
        check("without event-url: no report", plain.get("title") and "report" not in plain, plain)
        orders.close()
finally:
    service.close()
done()
