#!/usr/bin/python3
"""push-sender and sms-sender over https, as the real services are reached.

The push service (tests/e2e/push_service.js --tls) is node's HTTP/2
server with HTTP/1.1 allowed, on a certificate made here by openssl req;
the push-sender trusts it through tls-ca alone (verification stays on).
The pushes must arrive over HTTP/2 and share connections: several waves
of orders, each waited for before the next, travel over fewer
connections than requests. The Twilio-style SMS mock serves https with
HTTP/1.1; its requests must reuse kept-alive connections, at most
per-host of them. A tls-ca that cannot be read stops a sender at start.
"""
import os
import tempfile

from ndtest import ROOT, Pipeline, check, done
from sendtest import Orders, PushService, SmsProvider, until, vapid_keys

WAVES, PER_WAVE = 3, 8
os.environ["ND_TEST_VAPID"] = vapid_keys()[1]
os.environ["ND_TEST_SMS_TWILIO"] = SmsProvider.TOKEN
TEMPLATES = os.path.join(ROOT, "conf", "templates")


def in_waves(orders, send, delivered):
    """Sends WAVES waves of PER_WAVE orders, each delivered before the next
    starts, so connections must outlive a batch to be reused."""
    for wave in range(WAVES):
        for i in range(PER_WAVE):
            send(wave * PER_WAVE + i, wave * 60)
        until(lambda: delivered() >= (wave + 1) * PER_WAVE, serve=orders.serve)
    return delivered()


def push(certs):
    service = PushService(tls=certs)
    options = {"input": "scheduler", "topics": "send.push", "vapid-key": "env:ND_TEST_VAPID",
               "vapid-subject": "mailto:ops@shop.example", "hosts": "127.0.0.1",
               "tls-ca": service.ca, "templates": TEMPLATES}
    try:
        with Pipeline(clock="event", extra={"push-sender": options}) as p:
            orders = Orders(p)
            p.start("push-sender")
            subs = [service.subscribe("s%d" % i) for i in range(WAVES * PER_WAVE)]
            total = in_waves(orders, lambda n, t: orders.order("push", subs[n], seconds=t),
                             lambda: service.transport()["pushes"])
            t = service.transport()
            got = service.received()
            print("# push: %d requests over %d connection(s), HTTP versions %s"
                  % (t["pushes"], t["connections"], t["versions"]))
            check("every push reached the https service and decrypted",
                  total == WAVES * PER_WAVE and len(got) == total
                  and all("payload" in r and r["status"] == 201 for r in got), got[:2])
            check("every push went over HTTP/2", t["versions"] == {"2.0": total}, t)
            check("connections were reused across batches (%d for %d pushes)"
                  % (t["connections"], total), 0 < t["connections"] < WAVES, t)
            check("the VAPID aud is the https origin",
                  all(r["vapid"]["aud"] == service.origin and r["vapid"]["valid"] for r in got),
                  got[:1])
            p.stop("push-sender")
            p.write_config({"push-sender": dict(options, **{"tls-ca": certs + "/none.pem"})})
            status = p.refused("push-sender")
            check("an unreadable tls-ca stops the push-sender at start",
                  status == 78 and "tls-ca" in p.log("push-sender"), (status, p.log("push-sender")[-300:]))
    finally:
        service.close()


def sms(certs):
    provider = SmsProvider("twilio", tls=certs)
    options = {"input": "scheduler", "topics": "send.sms", "provider": "twilio",
               "api-base": provider.base, "from": "+15550001234", "account": SmsProvider.SID,
               "secret": "env:ND_TEST_SMS_TWILIO", "tls-ca": provider.ca, "per-host": "2",
               "templates": TEMPLATES}
    try:
        with Pipeline(clock="event", extra={"sms-sender": options}) as p:
            orders = Orders(p)
            p.start("sms-sender")
            total = in_waves(orders,
                             lambda n, t: orders.order("sms", "+486001%05d" % n, seconds=t),
                             lambda: len(provider.sent))
            print("# sms: %d requests over %d connection(s) (HTTP/1.1 keep-alive, per-host 2)"
                  % (provider.requests, provider.connections))
            check("every SMS reached the https provider, once, well formed",
                  total == WAVES * PER_WAVE == provider.requests and not provider.problems,
                  (total, provider.requests, provider.problems))
            check("the SMS connections were kept alive and reused (%d for %d requests)"
                  % (provider.connections, provider.requests),
                  0 < provider.connections <= 2, provider.connections)
    finally:
        provider.close()


with tempfile.TemporaryDirectory(prefix="nd-tls-") as certs:
    push(certs)
with tempfile.TemporaryDirectory(prefix="nd-tls-") as certs:
    sms(certs)
done()
