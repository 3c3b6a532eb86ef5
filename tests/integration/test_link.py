#!/usr/bin/python3
"""Durable links: exactly-once across kill -9, resume, trim, tick forwarding.

A Python journal server (the protocol a swapped-in stage speaks) feeds
relay1, which feeds relay2 over the runtime's own durable link. relay1 is
killed -9 each time it has acknowledged another sixth of the stream (the
source sees the acks); at the end relay2's journal, read back as its
consumer reads it, holds every message exactly once, in order.
"""
import time

from ndtest import JournalReader, JournalServer, Pipeline, check, check_kills_in_flight, done, wait_for

N = 20000
KILLS = 5

with Pipeline(clock="event", sync=True, extra={"relay1": {"program": "relay", "input": "source"},
                                    "relay2": {"program": "relay", "input": "relay1"},
                                    "sink": {"input": "relay2"}}) as p:
    src = JournalServer(p.ctx, p.endpoint("source", "out"))
    for i in range(N):
        src.append("event.track", {"id": "m%d" % i, "user": "u%d" % (i % 100),
                                   "time": "2026-01-01T00:00:%02d.000Z" % (i % 60), "n": i})
    p.start("relay2", program="relay")
    reader = JournalReader(p, "relay2", "sink", N + 100)
    p.start("relay1", program="relay")
    marks = p.kill_while_reading("relay1", src, KILLS, N, program="relay")
    deadline = time.time() + 60
    while time.time() < deadline and p.control("relay2").get("forwarded", 0) < N:
        src.serve(0.1)
    src.serve(0.3)
    stats2 = p.control("relay2")
    stats1 = p.control("relay1")
    check_kills_in_flight("relay1 (acknowledged to the source)", marks, KILLS, N)
    check("relay2 forwarded every message exactly once (%d)" % N,
          stats2.get("forwarded") == N, stats2)
    check("relay1's persistent count is exactly N", stats1.get("forwarded") == N, stats1)
    wait_for(lambda: reader.poll(0.2) == 0 and len(reader.messages) >= N, timeout=30)
    ns = [b["n"] for _, topic, b in reader.messages if topic.startswith("event.")]
    check("relay2's journal, read back, holds 0..N-1 in order: no gaps, no repeats",
          ns == list(range(N)), (len(ns), ns[:3], ns[-3:]))
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
    reader.close()
    src.close()
done()
