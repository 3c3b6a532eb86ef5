#!/usr/bin/python3
"""Reliability contract (ARCHITECTURE.md section 4) for collector -> sessionizer.

1. kill -9 of the sessionizer, three times, while 100k events stream into
   the collector; after restart every accepted event is applied exactly once
   (the sessionizer's persistent "applied" count equals the number accepted).
2. Sessionizer stopped while the collector takes 100k events: the
   collector's anonymous memory stays bounded (the backlog is on disk, in
   its LMDB journal), and the sessionizer catches up when started.
"""
import threading
import time

from ndtest import Pipeline, check, done, wait_for

N = 100000
BATCH = 500


def events(prefix, start, count):
    out = []
    for i in range(start, start + count):
        out.append({"type": "track", "event": "Product Viewed",
                    "anonymousId": "anon-%d" % (i % 2000),
                    "messageId": "%s-%d" % (prefix, i),
                    "timestamp": "2026-05-01T10:%02d:%02d.000Z" % ((i // 60) % 60, i % 60),
                    "properties": {"product_id": "p%d" % (i % 50), "price": 10}})
    return out


def post_all(p, prefix, accepted):
    for start in range(0, N, BATCH):
        status, body = p.post("/v1/batch", {"batch": events(prefix, start, BATCH)})
        if status == 200:
            accepted[0] += BATCH
        else:
            accepted.append((status, body))


def rss_anon_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


def applied(p):
    try:
        return p.control("sessionizer").get("applied", -1)
    except RuntimeError:
        return -1


with Pipeline(clock="event") as p:
    p.start("collector")
    p.start("sessionizer")
    accepted = [0]
    poster = threading.Thread(target=post_all, args=(p, "k", accepted))
    poster.start()
    kills = 0
    for _ in range(3):
        wait_for(lambda: applied(p) > (kills + 1) * N // 5, timeout=60)
        p.kill("sessionizer")
        kills += 1
        time.sleep(0.1)
        p.start("sessionizer")
    poster.join()
    check("the collector answered 200 for all %d events" % N, accepted == [N], accepted[:3])
    wait_for(lambda: applied(p) >= N, timeout=120)
    time.sleep(1.0)     # anything applied twice would show up now
    count = applied(p)
    check("sessionizer killed -9 %d times mid-stream" % kills, kills == 3)
    check("every accepted event applied exactly once (%d)" % N, count == N, count)

with Pipeline(clock="event") as p:
    collector = p.start("collector")
    samples = []
    accepted = [0]
    poster = threading.Thread(target=post_all, args=(p, "s", accepted))
    poster.start()
    while poster.is_alive():
        samples.append((accepted[0], rss_anon_kb(collector.pid)))
        time.sleep(0.2)
    poster.join()
    samples.append((accepted[0], rss_anon_kb(collector.pid)))
    check("collector took %d events with nobody reading" % N, accepted == [N], accepted[:3])
    early = [kb for n, kb in samples if N // 5 <= n <= N // 2] or [samples[0][1]]
    growth = samples[-1][1] - min(early)
    print("# collector RssAnon kB at (accepted, kB): %s" % samples[::max(1, len(samples) // 8)])
    check("collector's anonymous memory stays bounded (grew %d kB over the last half)" % growth,
          growth < 16 * 1024, samples)
    journal = p.control("collector")["journal"]
    check("the backlog waits in the collector's journal on disk",
          journal["head"] - journal["first"] + 1 >= N, journal)
    started = time.time()
    p.start("sessionizer")
    wait_for(lambda: applied(p) >= N, timeout=120)
    took = time.time() - started
    check("the sessionizer catches up when started (%.1f s)" % took, applied(p) == N, applied(p))
    ok = wait_for(lambda: p.control("collector")["journal"]["first"] > N, timeout=10)
    check("then the collector trims its journal", ok, p.control("collector")["journal"])
done()
