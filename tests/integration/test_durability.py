#!/usr/bin/python3
"""Reliability contract (ARCHITECTURE.md section 4) for collector -> sessionizer.

1. kill -9 of the sessionizer, three times, each when it has acknowledged
   another quarter of the 100k events streaming into the collector (as the
   collector saw the acks); after restart every accepted event is passed
   on exactly once, as a consumer reading the sessionizer's journal sees.
2. Sessionizer stopped while the collector takes 100k events: the
   collector's anonymous memory stays bounded (the backlog is on disk, in
   its LMDB journal), and the sessionizer catches up when started (the
   collector sees it acknowledge everything).
"""
# tests/run: start first (one of the longest)
import collections
import threading
import time

from ndtest import JournalReader, Pipeline, check, check_kills_in_flight, done, wait_for

N = 100000
KILLS = 3
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


def acked(p):
    """How far the sessionizer has acknowledged the collector's journal, as
    the collector saw it (not the sessionizer's own count)."""
    consumer = p.control("collector")["journal"]["consumers"].get("sessionizer", {})
    return consumer.get("acked", 0)


def read_all(p, reader):
    """Reads the sessionizer's journal to its head; returns the ids of the
    events it passed on, as often as each appears."""
    wait_for(lambda: acked(p) >= N, timeout=120)
    head, deadline = p.control("sessionizer")["journal"]["head"], time.time() + 120
    while reader.position < head and time.time() < deadline:
        reader.poll(0.2)
    return collections.Counter(b["id"] for _, topic, b in reader.messages if topic.startswith("event."))


with Pipeline(clock="event", extra={"reader": {"input": "sessionizer"}}, sync=True) as p:
    p.start("collector")
    p.start("sessionizer")
    reader = JournalReader(p, "sessionizer", "reader", 2 * N)
    accepted = [0]
    poster = threading.Thread(target=post_all, args=(p, "k", accepted))
    poster.start()
    marks = []
    for kill in range(1, KILLS + 1):
        wait_for(lambda: acked(p) >= kill * N // (KILLS + 1), timeout=60)
        p.kill("sessionizer")
        marks.append(acked(p))
        p.start("sessionizer")
    poster.join()
    check("the collector answered 200 for all %d events" % N, accepted == [N], accepted[:3])
    check_kills_in_flight("the sessionizer (acknowledged to the collector)", marks, KILLS, N)
    ids = read_all(p, reader)
    expected = {"k-%d" % i for i in range(N)}
    check("every accepted event passed on exactly once, read back from its journal (%d)" % N,
          set(ids) == expected and set(ids.values()) == {1},
          (len(ids), len(set(ids) ^ expected), ids.most_common(2)))
    reader.close()

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
    wait_for(lambda: acked(p) >= N, timeout=120)
    took = time.time() - started
    check("the sessionizer catches up when started (%.1f s)" % took, acked(p) == N, acked(p))
    ok = wait_for(lambda: p.control("collector")["journal"]["first"] > N, timeout=10)
    check("then the collector trims its journal", ok, p.control("collector")["journal"])
done()
