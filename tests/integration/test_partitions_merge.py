#!/usr/bin/python3
"""A merge across partitions (README "Partitioned stages"): a shopper's
phone and laptop are two visitors in two partitions until they log in on
both; then the phone's visitor moves to the laptop's partition, once, in
the sessionizer and in the segmenter, with its cart.

Real collector, sessionizer and segmenter with partitions = 2, and a relay
"watch" reading both segmenter partitions, in event time. v-1 (the phone,
first seen) lives in partition 1 and v-2 (the laptop) in partition 0
(FNV-1a 32 of the visitor id, modulo 2).

  1. the phone adds p1; the laptop logs in as u-7 and adds p2;
  2. the phone logs in as u-7: v-1 is merged into v-2. The collector's
     router sends move.out to partition 1 and move.in to partition 0;
     partition 1 takes v-1 out of its state and sends it to partition 0,
     which holds its input until v-1 has arrived, then merges;
  3. the phone adds p3 (routed to v-2's partition now).

Checked: one visitor.merged (v-2 takes v-1); the last cart of v-2 holds
p1, p2 and p3; each stage's partitions logged the move once each way;
the merge came after the move arrived; partition 1 made no visitor for
the phone again; the segmenter's profile of v-2 counts the phone's add.

Then the same with a kill -9 in the middle: partition 1 is paused so the
move cannot leave, partition 0 waits on move.in and is killed, restarted,
and partition 1 resumed: the same outcome, nothing twice.
"""
import os
import subprocess

from ndtest import BIN, JournalReader, Pipeline, check, done, wait_for

T = "2026-03-02T12:%02d:00.000Z"


def add(anon, product, minute, n, user=None):
    e = {"type": "track", "event": "Product Added", "anonymousId": anon, "messageId": "m-%d" % n,
         "timestamp": T % minute, "properties": {"product_id": product, "name": product,
                                                 "price": 10.0, "quantity": 1}}
    if user:
        e["userId"] = user
    return e


def login(anon, user, minute, n):
    return {"type": "identify", "anonymousId": anon, "userId": user, "messageId": "m-%d" % n,
            "timestamp": T % minute, "traits": {}}


def ctl(p, stage, command):
    return subprocess.run([os.path.join(BIN, "nd-ctl"), "-c", p.config, stage, command],
                          capture_output=True, text=True, timeout=30)


def scenario(p, kill):
    p.start("collector")
    for stage in ("sessionizer.0", "sessionizer.1", "segmenter.0", "segmenter.1"):
        p.start(stage, program=stage.split(".")[0])
    p.start("watch", program="relay")
    watch = JournalReader(p, "watch", "reader", 10000)
    posted = {p.post("/v1/batch", {"batch": [add("phone", "p1", 1, 1), login("laptop", "u-7", 2, 2),
                                              add("laptop", "p2", 3, 3, user="u-7")]})[0]}
    if kill:
        wait_for(lambda: p.control("sessionizer.1")["inputs"]["collector"]["position"] >= 1, 10)
        ctl(p, "sessionizer.1", "pause")
    posted.add(p.post("/v1/batch", {"batch": [login("phone", "u-7", 4, 4),
                                              add("phone", "p3", 5, 5, user="u-7")]})[0])
    if kill:
        # partition 0 reaches move.in and waits there for v-1: its position
        # stays before it, with the events behind it unapplied
        head = p.control("collector")["journal"]["head"]
        position = lambda: p.control("sessionizer.0")["inputs"]["collector"]["position"]
        wait_for(lambda: position() >= head - 3, 10)
        held = [position() for _ in range(5) if not wait_for(lambda: False, 0.1)]
        check("partition 0 holds at move.in while the move cannot leave partition 1 (%s of %d)"
              % (held, head), held == [head - 3] * 5 and "arrives" not in p.log("sessionizer.0"),
              p.log("sessionizer.0")[-500:])
        p.kill("sessionizer.0")
        p.start("sessionizer.0", program="sessionizer")
        ctl(p, "sessionizer.1", "resume")
    posted.add(p.post("/v1/tick", {"time": "2026-03-02T13:00:00.000Z"})[0])

    def merged():
        watch.poll(0.2)
        return [b for _, t, b in watch.messages if t == "visitor.merged"]
    wait_for(lambda: merged() and any(t == "cart.updated" and len(b.get("cart", {}).get("items", [])) == 3
                                      for _, t, b in watch.messages), 30)
    watch.poll(0.5)
    return posted, watch


def checks(p, posted, watch, label):
    check("%s: the collector took everything" % label, posted == {200}, posted)
    merges = [b for _, t, b in watch.messages if t == "visitor.merged"]
    check("%s: one visitor.merged, v-2 takes v-1" % label,
          len(merges) == 1 and merges[0].get("user") == "v-2" and merges[0].get("merged") == "v-1", merges)
    carts = [b for _, t, b in watch.messages if t == "cart.updated" and b.get("user") == "v-2"]
    items = sorted(i.get("product_id") for i in (carts[-1].get("cart", {}).get("items", []) if carts else []))
    check("%s: v-2's cart holds the phone's and the laptop's products" % label,
          items == ["p1", "p2", "p3"], items)
    logs = {s: p.log(s) for s in ("sessionizer.0", "sessionizer.1", "segmenter.0", "segmenter.1")}
    left = {s: logs[s].count("v-1 leaves") for s in logs}
    came = {s: logs[s].count("v-1 arrives") for s in logs}
    check("%s: v-1 left partition 1 and arrived in partition 0, once, in both stages" % label,
          left == {"sessionizer.0": 0, "sessionizer.1": 1, "segmenter.0": 0, "segmenter.1": 1}
          and came == {"sessionizer.0": 1, "sessionizer.1": 0, "segmenter.0": 1, "segmenter.1": 0},
          (left, came))
    created = sum(p.control("sessionizer.%d" % k)["visitors_created"] for k in (0, 1))
    check("%s: two visitors were made in all, not a third for the phone" % label, created == 2, created)
    ids = [b.get("id") for _, t, b in watch.messages]
    check("%s: watch got every message once" % label, len(ids) == len(set(ids)), len(ids) - len(set(ids)))
    profiles = [b for _, t, b in watch.messages if b.get("user") == "v-2" and "profile" in b]
    last = profiles[-1]["profile"] if profiles else {}
    check("%s: the segmenter's profile of v-2 has the phone's history: 3 adds, 2 visits, "
          "first seen on the phone" % label,
          last.get("cart_adds") == 3 and last.get("visits") == 2
          and last.get("first_seen") == "2026-03-02T12:01:00.000Z", last)


extra = {"sessionizer": {"input": "collector", "partitions": "2"},
         "segmenter": {"input": "sessionizer", "partitions": "2"},
         "watch": {"program": "relay", "input": "segmenter"}}
with Pipeline(clock="event", extra=extra) as p:
    posted, watch = scenario(p, kill=False)
    checks(p, posted, watch, "plain")
with Pipeline(clock="event", extra=extra) as p:
    posted, watch = scenario(p, kill=True)
    checks(p, posted, watch, "kill -9 mid-move")
done()
