#!/usr/bin/python3
"""HEALTH says stuck when an input stands still while its upstream has
entries for it (issue 12, part of 5), and not when the wait is deliberate.

With "stall-after = 1s":
  - a relay that keeps up with the collector is "ok";
  - a paused relay, with the collector's journal growing, is "ok" and says
    "paused" (nd-ctl exits 0): the operator asked it to wait;
  - an event-time relay whose collector input is a side input waits for the
    clock, which its other input has not brought: "ok", it is meant to wait;
  - a relay whose upstream lost entries 1-4 and sends from 5 on never
    moves (each message is out of sequence): "stuck" with the input and the
    reason, nd-ctl exits 3; once the upstream serves from 1 it is "ok";
  - an event-time mail-sender whose SMTP relay takes the connection and
    never answers: the scheduler's next entry waits for the mail out with
    the worker (the clock waits for work due now), so it is "stuck" with
    that reason; when the relay's timeout ends the wait, "ok" again.
"""
import json
import os
import socket
import subprocess
import time

import zmq

import mailtest
from ndtest import BIN, JournalServer, Pipeline, check, done, free_port, wait_for


def health(p, stage):
    proc = subprocess.run([os.path.join(BIN, "nd-ctl"), "-c", p.config, stage, "health"],
                          capture_output=True, text=True, timeout=30)
    try:
        return proc.returncode, json.loads(proc.stdout)
    except ValueError:
        return proc.returncode, {"unparsed": proc.stdout + proc.stderr}


def events(first, count, stamp="2026-05-01T10:00:00.000Z"):
    return {"batch": [{"type": "track", "event": "Product Viewed", "anonymousId": "a%d" % i,
                       "messageId": "st-%d" % i, "timestamp": stamp} for i in range(first, first + count)]}


def serve_lossy(sock, count, first, duration):
    """An upstream that lost its entries before first: to every HELLO or
    ACK it sends first..count, which never follow the consumer's position."""
    deadline = time.time() + duration
    while time.time() < deadline:
        if not sock.poll(50):
            continue
        name = sock.recv_multipart()[0]
        for seq in range(first, count + 1):
            body = json.dumps({"id": "l-%d" % seq, "user": "u", "time": "2026-05-01T10:00:00.000Z"})
            sock.send_multipart([name, b"MSG", str(seq).encode(), b"event.track", body.encode()])


with Pipeline(clock="wall", extra={"relay": {"input": "collector", "stall-after": "1s"}}) as p:
    p.start("collector")
    p.start("relay")
    status, _ = p.post("/v1/batch", events(0, 100))
    check("the relay forwards what the collector takes",
          status == 200 and wait_for(lambda: p.control("relay").get("forwarded") == 100),
          p.control("relay"))
    time.sleep(2.2)
    status, answer = health(p, "relay")
    check("keeping up, it is ok", status == 0 and answer.get("status") == "ok", (status, answer))

    subprocess.run([os.path.join(BIN, "nd-ctl"), "-c", p.config, "relay", "pause"],
                   capture_output=True, timeout=10)
    p.post("/v1/batch", events(100, 100))
    check("paused, the collector's journal runs ahead of it",
          p.control("collector")["journal"]["head"] > p.control("relay")["inputs"]["collector"]["position"])
    time.sleep(2.5)
    status, answer = health(p, "relay")
    check("paused for longer than stall-after, it is not stuck: ok, paused (exit 0)",
          status == 0 and answer.get("status") == "ok" and answer.get("paused") is True,
          (status, answer))
    subprocess.run([os.path.join(BIN, "nd-ctl"), "-c", p.config, "relay", "resume"],
                   capture_output=True, timeout=10)
    check("resumed, it catches up", wait_for(lambda: p.control("relay").get("forwarded") == 200))
    status, answer = health(p, "relay")
    check("and is ok, no longer paused", status == 0 and answer.get("status") == "ok"
          and "paused" not in answer, (status, answer))

with Pipeline(clock="event", extra={"relay": {"input": "collector, clock", "clock-inputs": "clock",
                                              "stall-after": "1s"}}, stages=["clock"]) as p:
    clock = JournalServer(p.ctx, p.endpoint("clock", "out"))
    p.start("collector")
    p.start("relay")
    p.post("/v1/batch", events(0, 20))
    clock.serve(0.2)
    time.sleep(2.5)
    clock.serve(0.2)
    stats = p.control("relay")
    status, answer = health(p, "relay")
    check("a side input's entries wait for the clock: not forwarded, and not stuck (exit 0)",
          stats.get("forwarded", 0) == 0 and status == 0 and answer.get("status") == "ok",
          (status, answer, stats))
    clock.append("tick", {"id": "tick-1", "user": "", "time": "2026-05-02T00:00:00.000Z"})
    forwarded = wait_for(lambda: clock.serve(0.05) or p.control("relay").get("forwarded") == 20)
    check("the clock comes: they go", forwarded, p.control("relay"))
    clock.close()

with Pipeline(clock="wall", extra={"relay": {"input": "source", "stall-after": "1s"}}, stages=["source"]) as p:
    sock = p.ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind(p.endpoint("source", "out"))
    p.start("relay")
    serve_lossy(sock, 10, 5, 0.3)
    status, answer = health(p, "relay")
    check("before stall-after has passed, it is ok", status == 0, (status, answer))
    serve_lossy(sock, 10, 5, 2.5)
    status, answer = health(p, "relay")
    stats = p.control("relay")
    check("its upstream sends entries it cannot take: nothing forwarded, gaps counted",
          stats.get("forwarded", 0) == 0 and stats["inputs"]["source"]["gaps"] > 0, stats)
    check("HEALTH says stuck, with the input, the reason and since when; nd-ctl exits 3",
          status == 3 and answer.get("status") == "stuck"
          and answer.get("reason", "").startswith("input source: position 0 has not moved")
          and "upstream has entries after it" in answer.get("reason", "")
          and answer.get("since", "").endswith("Z"), (status, answer))
    sock.close(0)
    source = JournalServer(p.ctx, p.endpoint("source", "out"))
    for n in range(10):
        source.append("event.track", {"id": "s-%d" % n, "user": "u", "time": "2026-05-01T10:00:00.000Z"})
    mended = wait_for(lambda: source.serve(0.05) or p.control("relay").get("forwarded") == 10)
    check("served from 1, it takes all 10", mended, p.control("relay"))
    source.serve(1.2)
    status, answer = health(p, "relay")
    check("and is ok again", status == 0 and answer.get("status") == "ok", (status, answer))
    source.close()

silent = socket.socket()
silent.bind(("127.0.0.1", free_port()))
silent.listen(8)                # connections are taken by the kernel, never answered
relay = "127.0.0.1:%d" % silent.getsockname()[1]
mail = mailtest.mail_options(relay, tls="none", auth=False, timeout="4s", **{"stall-after": "1s"})
with Pipeline(clock="event", extra={"mail-sender": mail}, stages=["scheduler"]) as p:
    orders = mailtest.Orders(p)
    orders.tick(0)
    orders.send(mailtest.order(1))
    orders.tick(60)
    p.start("mail-sender")
    stuck = wait_for(lambda: orders.pump() or health(p, "mail-sender")[0] == 3, timeout=4)
    status, answer = health(p, "mail-sender")
    check("the mail out with a silent relay holds the clock: stuck, with that reason (exit 3)",
          stuck and answer.get("reason", "").startswith("input scheduler: ")
          and "waits for the stage's work due now" in answer.get("reason", ""), (status, answer))
    moved = wait_for(lambda: orders.pump() or p.control("mail-sender")["now"].startswith(mailtest.iso(60)[:16]),
                     timeout=20)
    status, answer = health(p, "mail-sender")
    check("the relay's timeout ends the wait: the clock moves on and it is ok",
          moved and status == 0 and answer.get("status") == "ok", (status, answer, p.control("mail-sender")))
    orders.close()
silent.close()
done()
