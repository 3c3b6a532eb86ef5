#!/usr/bin/python3
"""mail_bench - messages/s the mail-sender hands to a local SMTP server.

    /usr/bin/python3 bench/mail_bench.py [MESSAGES]    (default 20000)

Against bench/smtp_sink (a C server that accepts and discards, built here
if missing), next to its baseline measured in the same run:

  1. smtp_sink's own pipelined client, one connection   (the ceiling)
  2. mail-sender, 1 SMTP connection                     send order in, rendered,
  3. mail-sender, 4 SMTP connections                    MIME-built, sent, feedback
                                                        committed (fsync per commit)

Each mail-sender run: MESSAGES send orders (the Japanese abandoned cart,
two items, multipart text + HTML, List-Unsubscribe, about 6 KB) are put
on the durable link, and the clock runs until STATS says all are
delivered. bench/bench.py calls main() and prints the same rows.
"""
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from ndtest import ROOT, Pipeline, free_port  # noqa: E402
from mailtest import Orders, mail_options, order  # noqa: E402

SINK = os.path.join(ROOT, "build", "bench", "smtp_sink")


def sink_program():
    if not os.path.exists(SINK):
        subprocess.run(["make", "-s", "build/bench/smtp_sink"], cwd=ROOT, check=True)
    return SINK


def run_sender(port, messages, connections):
    extra = {"pipeline": {"sync": "1"},
             "mail-sender": mail_options(relay="localhost:%d" % port, tls="none", auth=False,
                                         connections=connections, batch=50,
                                         **{"max-inflight": 100 * connections})}
    with Pipeline(clock="wall", extra=extra) as p:
        p.start("mail-sender")
        orders = Orders(p)
        for n in range(messages):
            orders.send(order(n, to="buyer%d@example.com" % n, user="v-%d" % n))
        t0 = time.time()
        delivered = 0
        while delivered < messages and time.time() - t0 < 600:
            orders.pump(0.05)
            delivered = p.control("mail-sender")["outbox"]["delivered"]
        took = time.time() - t0
        orders.close()
        return delivered / took, took


def main(messages=20000):
    port = free_port()
    sink = subprocess.Popen([sink_program(), "-p", str(port)], stdout=subprocess.PIPE, text=True)
    sink.stdout.readline()
    try:
        base = json.loads(subprocess.run([SINK, "-c", str(port), "-n", str(messages), "-s", "6000"],
                                         capture_output=True, text=True, check=True).stdout)
        one, one_s = run_sender(port, messages, 1)
        four, four_s = run_sender(port, messages, 4)
    finally:
        sink.terminate()
        sink.wait()
    rows = [("smtp_sink pipelined client, 1 connection (baseline)", base["messages_per_s"], ""),
            ("mail-sender, 1 SMTP connection", one, "%d messages in %.1f s" % (messages, one_s)),
            ("mail-sender, 4 SMTP connections", four, "%d messages in %.1f s" % (messages, four_s))]
    print("%-52s %14s  %s" % ("measure", "messages/s", "notes"))
    for name, rate, note in rows:
        print("%-52s %14.0f  %s" % (name, rate, note))
    return rows


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20000)
