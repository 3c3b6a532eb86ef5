#!/usr/bin/python3
"""Durable links: exactly-once across kill -9, resume, trim, tick forwarding.

A Python journal server (the protocol a swapped-in stage speaks) feeds
relay1, which feeds relay2 over the runtime's own durable link. relay1 is
killed -9 over and over while messages stream; at the end relay2 must have
forwarded every message exactly once, in order.
"""
import json
import time

from ndtest import JournalServer, Pipeline, check, done, wait_for

N = 20000

with Pipeline(clock="event", extra={"relay1": {"program": "relay", "input": "source"},
                                    "relay2": {"program": "relay", "input": "relay1"}}) as p:
    src = JournalServer(p.ctx, p.endpoint("source", "out"))
    for i in range(N):
        src.append("event.track", {"id": "m%d" % i, "user": "u%d" % (i % 100),
                                   "time": "2026-01-01T00:00:%02d.000Z" % (i % 60), "n": i})
    p.start("relay2", program="relay")
    tap = p.tap("relay2", "event.")
    p.start("relay1", program="relay")
    kills = 0
    for step in range(1, 11):
        # release the journal a tenth at a time and kill relay1 while it works
        src.released = N * step // 10
        src.serve(0.03)
        if step <= 5:
            p.kill("relay1")
            kills += 1
            p.start("relay1", program="relay")
    src.released = None
    deadline = time.time() + 60
    while time.time() < deadline and p.control("relay2").get("forwarded", 0) < N:
        src.serve(0.1)
    src.serve(0.3)
    stats2 = p.control("relay2")
    stats1 = p.control("relay1")
    check("relay1 was killed -9 five times mid-stream", kills == 5, kills)
    check("relay2 forwarded every message exactly once (%d)" % N,
          stats2.get("forwarded") == N, stats2)
    check("relay1's persistent count is exactly N", stats1.get("forwarded") == N, stats1)
    tap.collect(until=lambda ms: len(ms) >= N, timeout=5)
    ns = [b["n"] for _, b in tap.messages]
    check("the tap saw them in order, no gaps, no repeats",
          ns == sorted(set(ns)) and (not ns or ns[-1] == N - 1), (len(ns), ns[:3], ns[-3:]))
    # relay1's journal is trimmed once relay2 has acked
    ok = wait_for(lambda: p.control("relay1")["journal"]["first"] > N // 2, timeout=5)
    check("relay1 trims what relay2 acked", ok, p.control("relay1")["journal"])
    # ticks move event time and flow downstream
    src.append("tick", {"id": "tick-1", "user": "", "time": "2026-03-01T00:00:00.000Z"})
    ticks = p.tap("relay2", "tick")
    src.serve(0.5)
    ticks.collect(until=lambda ms: len(ms) >= 1, timeout=5)
    check("a tick reaches relay2", len(ticks.messages) == 1, ticks.messages)
    check("relay2's event clock follows the tick",
          p.control("relay2")["now"].startswith("2026-03-01T00:00:00"), p.control("relay2")["now"])
    src.close()
done()
