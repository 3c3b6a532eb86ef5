#!/usr/bin/python3
"""push-sender: real Web Push requests to a node push service.

tests/e2e/push_service.js plays the browsers (P-256 keys made with node
crypto ECDH) and the push service. A Python journal stands in for the
scheduler. Checked on the receiving side, with third-party code: the
payload decrypts with the npm http_ece package and the subscription's
private key; the VAPID JWT verifies with node crypto (ES256, r||s) and
names the right aud, exp and sub; TTL, Urgency, Topic, Content-Encoding.
Then: 410 -> feedback.unreachable and the subscription is not tried
again; 429 with Retry-After -> retried at the event time it names (the
clock stopped a second short: nothing; the retry's TTL says when it went),
delivered once;
413 -> feedback.failed; a repeated idempotency key is sent once; bad
keys, foreign hosts and missing templates fail with a reason.
"""
import json
import os
import subprocess

from ndtest import ROOT, Pipeline, check, done
from sendtest import E2E, Orders, PushService, feedback, is_reminder, iso, vapid_keys, until

public, private = vapid_keys()
os.environ["ND_TEST_VAPID"] = private
# The npm web-push library takes nd-vapid's keys as its own
r = subprocess.run(["node", "-e", "require('web-push').setVapidDetails('mailto:ops@shop.example', "
                    "process.argv[1], process.argv[2]); console.log('ok')", public, private],
                   cwd=E2E, capture_output=True, text=True)
check("web-push (npm) accepts the key pair nd-vapid made", r.stdout.strip() == "ok", r.stderr)
service = PushService()
options = {"input": "scheduler", "topics": "send.push", "vapid-key": "env:ND_TEST_VAPID",
           "vapid-subject": "mailto:ops@shop.example", "hosts": "127.0.0.1",
           "allow-http": "yes", "templates": os.path.join(ROOT, "conf", "templates"),
           "retry-base": "10s", "retry-cap": "10m"}
try:
    with Pipeline(clock="event", extra={"push-sender": options}) as p:
        orders = Orders(p)
        p.start("push-sender")
        tap = p.tap("push-sender", "feedback.")
        ticks = p.tap("push-sender", "tick")
        log = p.log("push-sender")
        check("the log shows the public key, never the private one",
              public in log and private not in log, log[-500:])

        # 1. one push, checked end to end
        sub = service.subscribe("s1")
        first = orders.order("push", sub, seconds=0)
        fb = feedback(tap, first["idempotency_key"], serve=orders.serve)
        check("feedback.delivered", [t for t, _ in fb] == ["feedback.delivered"], fb)
        got = service.received("s1")
        check("the push service got one request", len(got) == 1, got)
        r = got[0] if got else {}
        payload = json.loads(r.get("payload") or "{}")
        check("http_ece decrypts it with the subscription's private key", "payload" in r, r)
        check("the notification is the rendered template", is_reminder(payload), payload)
        check("it names the journey, step and key for the service worker",
              payload.get("tag") == "abandoned-cart" and payload.get("step") == "reminder-1"
              and payload.get("key") == first["idempotency_key"], payload)
        v = r.get("vapid", {})
        check("the VAPID JWT verifies (ES256, node crypto, r||s)", v.get("signatureOk") is True, v)
        check("aud is the push service's origin", v.get("aud") == service.origin, v)
        check("exp is in the future and at most 24 h ahead", v.get("expOk") is True, v)
        check("sub is the configured mailto:", v.get("sub") == "mailto:ops@shop.example", v)
        check("k is the key nd-vapid printed", v.get("k") == public, v)
        h = r.get("headers", {})
        check("Content-Encoding aes128gcm, octet-stream",
              h.get("content-encoding") == "aes128gcm"
              and h.get("content-type") == "application/octet-stream", h)
        check("TTL, Urgency and Topic (RFC 8030)",
              h.get("ttl") == "86400" and h.get("urgency") == "normal"
              and h.get("topic") == "abandoned-cart", h)

        # the same idempotency key again: not sent again
        orders.order("push", sub, key=first["idempotency_key"])
        until(lambda: p.control("push-sender")["outbox"]["duplicates"] >= 1, serve=orders.serve)
        check("a repeated idempotency key is not pushed again", len(service.received("s1")) == 1,
              service.received("s1"))

        # a Japanese template, urgency from the order
        sub_ja = service.subscribe("s-ja")
        ja = orders.order("push", sub_ja, locale="ja", urgency="high")
        feedback(tap, ja["idempotency_key"], serve=orders.serve)
        got = service.received("s-ja")
        payload = json.loads(got[0].get("payload") or "{}") if got else {}
        check("UTF-8 survives encryption (ja template)",
              "カート" in payload.get("title", "") + payload.get("body", ""), payload)
        check("the order's urgency is used", got and got[0]["headers"]["urgency"] == "high", got)

        # 2. 410: unreachable, and the subscription is not tried again
        gone = service.subscribe("s-gone")
        service.script("s-gone", [410])
        o = orders.order("push", gone)
        fb = feedback(tap, o["idempotency_key"], serve=orders.serve)
        check("410 -> feedback.unreachable", [t for t, _ in fb] == ["feedback.unreachable"], fb)
        reason = fb[0][1].get("reason", "") if fb else ""
        check("its reason names the status and origin, not the endpoint's token",
              "410" in reason and service.origin in reason and "/push/" not in reason, reason)
        check("the feedback carries what the scheduler needs",
              fb and all(fb[0][1].get(k) == o[k] for k in ("user", "journey", "step", "channel",
                                                           "variant", "instance")), fb)
        o2 = orders.order("push", gone)
        fb = feedback(tap, o2["idempotency_key"], serve=orders.serve)
        check("a later order to the dead subscription: unreachable without a request",
              [t for t, _ in fb] == ["feedback.unreachable"] and len(service.received("s-gone")) == 1,
              (fb, service.received("s-gone")))

        # 3. 429 with Retry-After 120 s at event time 1 s: the retry is due
        # at 121 s. The clock goes to 1 s short of it, then to it; the TTL
        # the retry carries (not_after minus the try's event time) says
        # when it went, to the second.
        busy = service.subscribe("s-busy")
        service.script("s-busy", [429], retry_after=120)
        o = orders.order("push", busy, seconds=1, not_after=iso(1 + 86400))
        until(lambda: len(service.received("s-busy")) == 1, serve=orders.serve)
        check("the clock at 120 s passed the push-sender", orders.tick_seen(ticks, 120))
        outbox = p.control("push-sender")["outbox"]
        got = service.received("s-busy")
        check("429: at 1 s before Retry-After ends, still waiting and not sent",
              outbox["retrying"] == 1 and outbox["sending"] == 0 and len(got) == 1, (outbox, got))
        orders.tick_seen(ticks, 121)
        fb = feedback(tap, o["idempotency_key"], serve=orders.serve)
        got = service.received("s-busy")
        check("429 then 201: delivered once", [x["status"] for x in got] == [429, 201]
              and [t for t, _ in fb] == ["feedback.delivered"], (got, fb))
        check("the retry went at event time 121 s, as Retry-After asked (TTL 86400, then 86280)",
              [x["headers"]["ttl"] for x in got] == ["86400", "86280"], got)
        check("attempts = 2 in the feedback", fb and fb[0][1].get("attempts") == 2, fb)

        # 413: too big for this service
        big = service.subscribe("s-big")
        service.script("s-big", [413])
        o = orders.order("push", big, seconds=130)
        fb = feedback(tap, o["idempotency_key"], serve=orders.serve)
        check("413 -> feedback.failed, payload too large",
              [t for t, _ in fb] == ["feedback.failed"] and "too large" in fb[0][1].get("reason", ""),
              fb)

        # bad keys, a foreign host, a missing template
        bad = dict(service.subscribe("s-bad"))
        bad["keys"] = {"p256dh": "BAAA", "auth": "x"}
        o = orders.order("push", bad, seconds=130)
        fb = feedback(tap, o["idempotency_key"], serve=orders.serve)
        check("a subscription with broken keys is unreachable",
              [t for t, _ in fb] == ["feedback.unreachable"], fb)
        foreign = dict(sub, endpoint="http://169.254.169.254/latest/meta-data")
        o = orders.order("push", foreign, seconds=130)
        fb = feedback(tap, o["idempotency_key"], serve=orders.serve)
        check("an endpoint off the allowed hosts fails, nothing is posted",
              [t for t, _ in fb] == ["feedback.failed"] and "hosts" in fb[0][1].get("reason", ""), fb)
        o = orders.order("push", sub, seconds=130, template="no-such/template")
        fb = feedback(tap, o["idempotency_key"], serve=orders.serve)
        check("a missing template fails with its name",
              [t for t, _ in fb] == ["feedback.failed"] and "no-such/template" in fb[0][1]["reason"], fb)

        stats = p.control("push-sender")
        check("STATS: outbox and the public key", stats["outbox"]["delivered"] == 3
              and stats["push"]["vapid_public_key"] == public
              and stats["push"]["dead_subscriptions"] >= 1, stats)
        log = p.log("push-sender")
        check("no subscription secrets in the log",
              sub["keys"]["auth"] not in log and sub["keys"]["p256dh"] not in log
              and private not in log and "/push/" not in log, log[-2000:])
        orders.close()
finally:
    service.close()

# bad configuration: one line, non-zero
from ndtest import BIN
with Pipeline(clock="event", extra={"push-sender": dict(options, **{"vapid-key": "env:ND_NO_SUCH"})}) as p:
    r = subprocess.run([os.path.join(BIN, "push-sender"), "--config", p.config],
                       capture_output=True, text=True, cwd=p.dir, timeout=20)
    check("a missing VAPID key stops the program with a reason",
          r.returncode != 0 and "ND_NO_SUCH" in r.stderr and "nd-vapid" in r.stderr, r.stderr)
with Pipeline(clock="event", extra={"push-sender": dict(options, **{"vapid-subject": "ops@x"})}) as p:
    r = subprocess.run([os.path.join(BIN, "push-sender"), "--config", p.config],
                       capture_output=True, text=True, cwd=p.dir, timeout=20)
    check("a vapid-subject that is not mailto:/https: is refused",
          r.returncode != 0 and "vapid-subject" in r.stderr, r.stderr)

done()
