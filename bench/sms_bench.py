#!/usr/bin/python3
"""sms-sender throughput: SMS requests/s against a local mock API.

N send orders wait in the scheduler's journal; the sms-sender (wall
clock) is started on them and timed until its outbox has delivered all
N to bench/sms_bench.js, a node HTTP/1.1 server answering as Twilio
(201) or Infobip (200) do. Also its CPU time per message, which covers
rendering, GSM-7/UCS-2 counting, the request and the outbox.

Usage: bench/sms_bench.py [N]   (make bench-senders runs it)
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
from ndtest import ROOT, Pipeline  # noqa: E402
from sendtest import E2E, Orders  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20000


def run(base, provider, settings):
    os.environ["ND_BENCH_SMS"] = "bench-secret"
    options = {"input": "scheduler", "topics": "send.sms", "provider": provider, "api-base": base,
               "account": "AC0123456789abcdef0123456789abcdef", "secret": "env:ND_BENCH_SMS",
               "from": "+15550001234", "templates": os.path.join(ROOT, "conf", "templates"),
               "webhook-url": "https://hooks.example"}
    if provider != "twilio":
        del options["account"]
    options.update(settings)
    with Pipeline(clock="wall", extra={"sms-sender": options}) as p:
        orders = Orders(p)
        for i in range(N):
            orders.order("sms", "+4860%07d" % i, locale="ja" if i % 2 else "en")
        took, cpu = orders.deliver(p, "sms-sender", N)
        orders.close()
    return N / took, cpu / N * 1e6


def main():
    mock = subprocess.Popen(["node", os.path.join(ROOT, "bench", "sms_bench.js")],
                            stdout=subprocess.PIPE, text=True, cwd=E2E)
    port = int(mock.stdout.readline().split()[1])
    base = "http://127.0.0.1:%d" % port
    print("sms-sender bench (%d messages, half English GSM-7, half Japanese UCS-2; "
          "2 cores shared with the node mock)\n" % N)
    print("%-58s %12s %14s" % ("provider, settings", "SMS/s", "CPU us/SMS"))
    try:
        for provider in ("twilio", "infobip"):
            for name, settings in (("defaults (batch 20, 1 connection)", {}),
                                   ("batch 100, 2 connections, 1000 in flight",
                                    {"batch": "100", "connections": "2", "max-inflight": "1000"})):
                rate, cpu = run(base, provider, settings)
                print("%-58s %12.0f %14.1f" % ("%s, %s" % (provider, name), rate, cpu))
    finally:
        mock.terminate()
        mock.wait(10)


if __name__ == "__main__":
    main()
