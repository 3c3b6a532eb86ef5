#!/usr/bin/python3
"""Partitioned stages (README "Partitioned stages"): a stage that says
"partitions = 2" runs as NAME.0 and NAME.1, each reading its share of the
people from an unpartitioned upstream; an unpartitioned reader behind it
reads both partitions.

Through the real collector, a relay "split" with partitions = 2 (relay
keeps nothing of anyone, so it may run partitioned) and a relay "join"
reading split:
  - each event reaches exactly one partition, the one owning its visitor
    (the sessionizer's id for the person, which the collector's router
    stamps in it, test_route.py; FNV-1a 32 of the id, modulo 2), so one
    person always lands in the same partition, also when an identify joins
    two ids that would hash to different ones;
  - a tick (about no one) reaches both partitions; without one, each
    partition's event clock still follows the other partition's events
    (the range it skips carries their time);
  - every event is in some partition, and each partition's journal
    holds every message once, across a kill -9 of one partition;
  - join reads split.0 and split.1 and forwards what both had;
  - nd-supervisor writes a unit per partition;
  - a stage that cannot run partitioned yet (the scheduler) refuses
    "partitions = 2" with file:line, and so does a partitioned segmenter
    behind an unpartitioned sessionizer (the moves start at the
    collector's router and run down partitioned stages).
"""
import os
import subprocess

from ndtest import BIN, ROOT, JournalReader, Pipeline, check, done, wait_for

T = "2026-03-02T12:%02d:%02d.000Z"
PEOPLE = 60


def route_key(text):
    h = 2166136261
    for byte in text.encode():
        h = ((h ^ byte) * 16777619) & 0xFFFFFFFF
    return h


def owner(body):
    return route_key(body["visitor"]) % 2 if body.get("visitor") else None


def hashes(body):
    ids = [body.get(f) for f in ("userId", "anonymousId", "previousId")]
    return {route_key(i) % 2 for i in ids if i}


def events(first, count):
    batch = []
    for n in range(first, first + count):
        anon = "anon-%d" % (n % PEOPLE)
        e = {"type": "track", "event": "Product Viewed", "anonymousId": anon,
             "messageId": "m-%d" % n, "timestamp": T % (n // 60 % 60, n % 60),
             "properties": {"product_id": "p-%d" % n}}
        if n % 7 == 0:
            e = {"type": "identify", "anonymousId": anon, "userId": "user-%d" % n,
                 "messageId": "m-%d" % n, "timestamp": T % (n // 60 % 60, n % 60)}
        batch.append(e)
    return batch


extra = {"split": {"program": "relay", "input": "collector", "partitions": "2"},
         "join": {"program": "relay", "input": "split"}}
with Pipeline(clock="event", extra=extra) as p:
    p.start("collector")
    for stage in ("split.0", "split.1", "join"):
        p.start(stage, program="relay")
    readers = {k: JournalReader(p, "split.%d" % k, "reader", 5000) for k in (0, 1)}
    sent = events(0, 300)
    statuses = {p.post("/v1/batch", {"batch": sent[i:i + 50]})[0] for i in range(0, 150, 50)}
    p.kill("split.1")
    statuses |= {p.post("/v1/batch", {"batch": sent[i:i + 50]})[0] for i in range(150, 300, 50)}
    p.start("split.1", program="relay")
    # The last event belongs to one partition; the other learns its time
    # from the range it skips, so both clocks stand where one stage's would
    last = max(e["timestamp"] for e in sent)
    clocks = lambda: [p.control(s).get("now") for s in ("collector", "split.0", "split.1")]
    check("without a tick, both partitions' clocks reach the last event's time (%s)" % last,
          wait_for(lambda: clocks() == [last] * 3, 20), clocks())
    statuses.add(p.post("/v1/tick", {"time": "2026-03-03T00:00:00.000Z"})[0])
    check("the collector took every batch", statuses == {200}, statuses)
    head = p.control("collector")["journal"]["head"]

    def caught_up():
        for reader in readers.values():
            reader.poll(0.2)
        return all(p.control("split.%d" % k)["inputs"]["collector"]["position"] >= head
                   and readers[k].position >= p.control("split.%d" % k)["journal"]["head"]
                   for k in (0, 1))
    check("both partitions read the collector's journal to its head (%d), and we theirs" % head,
          wait_for(caught_up, 30))
    for reader in readers.values():
        reader.poll(0.5)
    got = {k: [b for _, t, b in readers[k].messages if t.startswith("event.")] for k in (0, 1)}
    ids = {k: [b["messageId"] for b in got[k]] for k in (0, 1)}
    wrong = [(k, b["messageId"]) for k in (0, 1) for b in got[k] if owner(b) != k]
    check("no partition gets an event about people it does not own", not wrong, wrong[:5])
    missing = [e["messageId"] for e in sent
               if sum(e["messageId"] in ids[k] for k in (0, 1)) != 1]
    check("each event reaches exactly one partition, its visitor's", not missing, missing[:5])
    both = [e["messageId"] for e in sent if len(hashes(e)) == 2]
    places = {}
    for k in (0, 1):
        for b in got[k]:
            places.setdefault(b["anonymousId"], set()).add(k)
    split_up = {a: k for a, k in places.items() if len(k) != 1}
    check("an anonymousId's events, before and after the identify, land in one partition, "
          "also for the %d identifies joining ids that hash to both" % len(both),
          both and len(places) == PEOPLE and not split_up, split_up)
    dup = {k: len(ids[k]) - len(set(ids[k])) for k in (0, 1)}
    check("each partition holds each event once, across a kill -9 of split.1", dup == {0: 0, 1: 0}, dup)
    check("the people are shared out: each partition has some and not all (%d, %d)"
          % (len(ids[0]), len(ids[1])), 0 < len(ids[0]) < len(sent) and 0 < len(ids[1]) < len(sent))
    ticks = {k: [b for _, t, b in readers[k].messages if t == "tick"] for k in (0, 1)}
    check("a tick reaches both partitions", all(ticks[k] for k in (0, 1)), ticks)

    def joined():
        s = p.control("join")
        return (s["inputs"]["split.0"]["position"] >= p.control("split.0")["journal"]["head"]
                and s["inputs"]["split.1"]["position"] >= p.control("split.1")["journal"]["head"])
    check("join reads both partitions to their heads", wait_for(joined, 30),
          p.control("join").get("inputs"))
    forwarded = p.control("join")["forwarded"]
    parts = p.control("split.0")["forwarded"] + p.control("split.1")["forwarded"]
    check("join forwarded what the two partitions had (%d = %d)" % (forwarded, parts),
          forwarded == parts)

    units = os.path.join(p.dir, "units")
    os.makedirs(units)
    subprocess.run([os.path.join(BIN, "nd-supervisor"), "-c", p.config, "-f", "systemd", "-o", units],
                   check=True, timeout=30)
    join_unit = open(os.path.join(units, "nudge-join.service")).read()
    check("nd-supervisor writes a unit for each partition; join starts after both",
          all(os.path.exists(os.path.join(units, "nudge-split.%d.service" % k)) for k in (0, 1))
          and not os.path.exists(os.path.join(units, "nudge-split.service"))
          and "--name split.1" in open(os.path.join(units, "nudge-split.1.service")).read()
          and "nudge-split.0.service nudge-split.1.service" in join_unit, sorted(os.listdir(units)))

    def refused(stage, program, options):
        p.write_config(options)
        return subprocess.run([os.path.join(BIN, program), "--config", p.config, "--name", stage,
                               "--check"], capture_output=True, text=True, timeout=30, cwd=ROOT)
    proc = refused("onsite.0", "onsite", {"onsite": {"input": "collector", "partitions": "2"}})
    check("a stage that may not run partitioned (onsite) refuses partitions = 2 with file:line",
          proc.returncode == 78 and "pipeline.zpl:" in proc.stderr
          and "cannot run partitioned" in proc.stderr, (proc.returncode, proc.stderr))
    proc = refused("segmenter.0", "segmenter", {"segmenter": {"input": "sessionizer", "partitions": "2"}})
    check("a partitioned segmenter refuses an unpartitioned sessionizer (no moves reach it)",
          proc.returncode == 78 and "pipeline.zpl:" in proc.stderr
          and "reads the collector or stages partitioned as it is" in proc.stderr,
          (proc.returncode, proc.stderr))
done()
