#!/usr/bin/python3
"""push-sender throughput against a local push service, and its CPU per push.

  1. bench/push_bench.c: encryption (RFC 8291) and VAPID cost per message
  2. N send orders waiting in the scheduler's journal (a Python journal
     server), the push-sender started on them (wall clock), timed until
     its outbox has delivered all N to tests/e2e/push_service.js --fast
     (a node HTTP/1.1 service that counts and answers 201), with the
     push-sender's own CPU time per push.
  3. the same N as app pushes, half to FCM and half to APNs, against
     tests/e2e/app_push_mocks.js (HTTP/2 over TLS, JWTs verified), in the
     same run: app pushes/s next to web pushes/s.

Usage: bench/push_bench.py [N]   (make bench-senders runs it)
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
from ndtest import ROOT, Pipeline  # noqa: E402
from sendtest import Orders, PushService, vapid_keys  # noqa: E402
from apptest import AppPushMocks  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
BUILD = os.path.join(ROOT, "build", "bench")


def run(service, settings, app=None):
    public, private = vapid_keys()
    os.environ["ND_BENCH_VAPID"] = private
    options = {"input": "scheduler", "topics": "send.push", "vapid-key": "env:ND_BENCH_VAPID",
               "vapid-subject": "mailto:ops@shop.example", "hosts": "127.0.0.1", "allow-http": "yes",
               "templates": os.path.join(ROOT, "conf", "templates")}
    options.update(settings)
    if app:
        options.update(app.options())
    with Pipeline(clock="wall", extra={"push-sender": options}) as p:
        orders = Orders(p)
        keys = service.subscribe("bench")["keys"]
        for i in range(N):
            if app:
                orders.order("push", {"fcm": "fcm-b-%d" % i} if i % 2 else {"apns": "%064x" % i})
            else:
                orders.order("push", {"endpoint": "%s/push/b-%d" % (service.origin, i), "keys": keys})
        def received():
            return app_delivered(app) if app else sum(service.counts().values())
        before = received()
        took, cpu = orders.deliver(p, "push-sender", N)
        got = received() - before
        orders.close()
    return {"pushes_per_s": N / took, "cpu_us_per_push": cpu / N * 1e6, "received": got}


def app_delivered(app):
    return sum(v for k, v in app.counts().items() if k.startswith(("fcm:", "apns:")))


def main():
    subprocess.run(["make", "-s", os.path.join("build", "bench", "push_bench")], cwd=ROOT, check=True)
    micro = json.loads(subprocess.run([os.path.join(BUILD, "push_bench")], capture_output=True,
                                      text=True, check=True).stdout)
    print("push-sender bench (%d pushes, 2 cores shared with the node push service)\n" % N)
    print("per push, one core: encrypt %.1f us (%d-byte JSON), VAPID header %.2f us cached, "
          "%.1f us when signed\n" % (micro["encrypt_us"], micro["plaintext_bytes"],
                                     micro["vapid_cached_us"], micro["vapid_sign_us"]))
    service = PushService(fast=True)
    app = AppPushMocks(tempfile.mkdtemp(prefix="nd-bench-app-"), fast=True)
    try:
        print("%-72s %10s %12s" % ("settings", "pushes/s", "CPU us/push"))
        for name, settings in (
                ("defaults (batch 20, 1 connection, 100 in flight)", {}),
                ("batch 100, 2 connections, 1000 in flight",
                 {"batch": "100", "connections": "2", "max-inflight": "1000"})):
            r = run(service, settings)
            print("%-72s %10.0f %12.1f" % ("web push, " + name, r["pushes_per_s"],
                                           r["cpu_us_per_push"]))
            r = run(service, settings, app)
            print("%-72s %10.0f %12.1f" % ("app push (FCM + APNs, HTTP/2 TLS), " + name,
                                           r["pushes_per_s"], r["cpu_us_per_push"]))
    finally:
        service.close()
        app.close()


if __name__ == "__main__":
    main()
