#!/usr/bin/python3
"""Changing the number of partitions, offline (nd-repartition(1)).

A pipeline of the real collector, sessionizer and segmenter runs as one
process each; 40 shoppers browse and fill carts, some log in on a second
device (merges). Then:

  - with the segmenter stopped, the sessionizer's journal holds what the
    segmenter has not read: nd-repartition refuses (exit 1, "drain"),
    and nothing moves;
  - drained and stopped, the file says partitions = 2 for both, and
    nd-repartition --from 1 sessionizer segmenter moves every person
    into the partition that owns their visitor id: nd-person finds each
    in that partition of each stage, and nowhere else;
  - started as 2 partitions, the pipeline goes on: a known shopper's next
    add lands in their cart with the earlier items, and no visitor is
    made twice (the router's ids go on);
  - back to 1 partition (--from 2): a directory left from the first
    layout is refused until removed; then everyone is in the one
    sessionizer and segmenter again, carts whole;
  - a second run of the same command after it finished finds nobody
    left to move, and changes nothing.
The scheduler's count: test_repartition_scheduler.
"""
import json
import os
import shutil
import subprocess

from ndtest import BIN, JournalReader, Pipeline, check, done, wait_for

T = "2026-03-02T%02d:%02d:00.000Z"
PEOPLE = 40


def route_key(text):
    h = 2166136261
    for byte in text.encode():
        h = ((h ^ byte) * 16777619) & 0xFFFFFFFF
    return h


def add(anon, product, minute, n, user=None):
    e = {"type": "track", "event": "Product Added", "anonymousId": anon, "messageId": "r-%d" % n,
         "timestamp": T % (10 + minute // 60, minute % 60),
         "properties": {"product_id": product, "name": product, "price": 10.0, "quantity": 1}}
    if user:
        e["userId"] = user
    return e


def first_day():
    events, n = [], 0
    for i in range(PEOPLE):
        n += 1
        events.append(add("anon-%d" % i, "p-%d" % (i % 5), i, n))
        if i % 4 == 0:          # logs in; later on a phone too, which merges
            n += 1
            events.append(dict(add("anon-%d" % i, "q-%d" % i, i, n, user="user-%d" % i), type="track"))
            n += 1
            events.append(add("phone-%d" % i, "r-%d" % i, 45 + i, n))
            n += 1
            events.append({"type": "identify", "anonymousId": "phone-%d" % i, "userId": "user-%d" % i,
                           "messageId": "r-%d" % n, "timestamp": T % (11, 30 + i % 30)})
    return sorted(events, key=lambda e: e["timestamp"])


def tool(p, *args):
    return subprocess.run([os.path.join(BIN, args[0]), "-c", p.config] + list(args[1:]),
                          capture_output=True, text=True, timeout=120)


def drain(p, pairs):
    for up, down in pairs:
        head = p.control(up)["journal"]["head"]
        if not wait_for(lambda: p.control(down)["inputs"][up]["position"] >= head, 30):
            raise RuntimeError("%s did not catch up with %s" % (down, up))


def where(p, anon):
    out = tool(p, "nd-person", "--json", anon)
    seen = json.loads(out.stdout) if out.returncode == 0 else {}
    return seen.get("person", {}).get("visitor"), sorted(s for s in seen.get("stages", {}) if s != "collector")


def placed(p, parts):
    wrong = []
    for anon in ["anon-%d" % i for i in range(0, PEOPLE, 3)] + ["phone-0", "phone-8"]:
        visitor, stages = where(p, anon)
        k = route_key(visitor or "") % parts
        want = ["segmenter.%d" % k, "sessionizer.%d" % k] if parts > 1 else ["segmenter", "sessionizer"]
        if stages != want:
            wrong.append((anon, visitor, stages, want))
    return wrong


def cart_of(p, stage, visitor):
    reader = JournalReader(p, stage, "look", 100000)
    head = p.control(stage)["journal"]["head"]
    wait_for(lambda: reader.poll(0.2) >= 0 and reader.position >= head, 20)
    carts = [b["cart"] for _, t, b in reader.messages if t == "cart.updated" and b.get("user") == visitor]
    reader.close()
    return sorted(i["product_id"] for i in carts[-1]["items"]) if carts else []


# cart_of reads the segmenter's journal, which passes the sessionizer's
# cart.updated on: nobody reads it here, so it keeps its last entries (the
# sessionizer's is trimmed as the segmenter acknowledges it)
one = {"segmenter": {"input": "sessionizer"}}
two = {"sessionizer": {"input": "collector", "partitions": "2"},
       "segmenter": {"input": "sessionizer", "partitions": "2"}}
with Pipeline(clock="event", extra=one) as p:
    p.start("collector")
    p.start("sessionizer")
    p.start("segmenter")
    batch = first_day()
    status = {p.post("/v1/batch", {"batch": batch[i:i + 40]})[0] for i in range(0, len(batch), 40)}
    drain(p, [("collector", "sessionizer"), ("sessionizer", "segmenter")])
    merged = p.control("sessionizer")["visitors_merged"]
    check("one process each took the first day (%d events, %d merges)" % (len(batch), merged),
          status == {200} and merged == PEOPLE // 4, merged)
    visitor8, _ = where(p, "anon-8")
    before8 = cart_of(p, "segmenter", visitor8)

    # not drained: the segmenter has not read the sessionizer's last entries
    p.stop("segmenter")
    p.post("/v1/batch", {"batch": [add("anon-1", "p-9", 200, 900)]})
    drain(p, [("collector", "sessionizer")])
    for stage in ("sessionizer", "collector"):
        p.stop(stage)
    p.write_config(two)
    refused = tool(p, "nd-repartition", "--from", "1", "sessionizer", "segmenter")
    check("not drained: nd-repartition refuses (exit 1, let the pipeline drain) and moves nothing",
          refused.returncode == 1 and "drain" in refused.stderr
          and not os.path.exists(os.path.join(p.dir, "state", "sessionizer.0")), refused.stderr[-600:])

    p.write_config(one)
    for stage in ("collector", "sessionizer", "segmenter"):
        p.start(stage)
    drain(p, [("collector", "sessionizer"), ("sessionizer", "segmenter")])
    for stage in ("segmenter", "sessionizer", "collector"):
        p.stop(stage)
    p.write_config(two)
    moved = tool(p, "nd-repartition", "--from", "1", "sessionizer", "segmenter")
    check("drained: nd-repartition --from 1 sessionizer segmenter moves everyone",
          moved.returncode == 0 and "1 partitions made 2" in moved.stderr, moved.stderr[-800:])
    wrong = placed(p, 2)
    check("each person is in the partition owning their visitor id, in both stages, and only there",
          not wrong, wrong[:4])

    p.start("collector")
    for stage in ("sessionizer.0", "sessionizer.1", "segmenter.0", "segmenter.1"):
        p.start(stage, program=stage.split(".")[0])
    known = ["anon-%d" % i for i in (1, 2, 3, 5, 6)]
    p.post("/v1/batch", {"batch": [add("anon-8", "z-1", 300, 1000)]
                         + [add(a, "z-9", 301, 1100 + i) for i, a in enumerate(known)]})
    part8 = route_key(visitor8) % 2
    drain(p, [("collector", "sessionizer.%d" % k) for k in (0, 1)]
          + [("sessionizer.%d" % k, "segmenter.%d" % k) for k in (0, 1)])
    after8 = cart_of(p, "segmenter.%d" % part8, visitor8)
    check("two partitions go on: anon-8's next add joins the cart it had (%s + z-1)" % before8,
          after8 == sorted(before8 + ["z-1"]), after8)
    made = sum(p.control("sessionizer.%d" % k)["visitors_created"] for k in (0, 1))
    check("and no known shopper is made a visitor again: the router took the people the one "
          "sessionizer named (its seed)", made == 0 and "people and their ids taken" in p.log("collector"),
          made)
    p.post("/v1/batch", {"batch": [add("fresh-1", "z-3", 302, 1200)]})
    drain(p, [("collector", "sessionizer.%d" % k) for k in (0, 1)]
          + [("sessionizer.%d" % k, "segmenter.%d" % k) for k in (0, 1)])
    fresh, _ = where(p, "fresh-1")
    number = int(fresh[2:]) if fresh else 0
    check("a new shopper gets a visitor id no one had (%s, past the one sessionizer's)" % fresh,
          number > merged + PEOPLE, fresh)
    for stage in ("segmenter.0", "segmenter.1", "sessionizer.0", "sessionizer.1", "collector"):
        p.stop(stage)

    p.write_config(one)
    back = tool(p, "nd-repartition", "--from", "2", "sessionizer", "segmenter")
    check("back to one: a directory left from the first layout is refused until removed",
          back.returncode == 1 and "earlier layout" in back.stderr, back.stderr[-600:])
    for stage in ("sessionizer", "segmenter"):
        shutil.rmtree(os.path.join(p.dir, "state", stage))
    back = tool(p, "nd-repartition", "--from", "2", "sessionizer", "segmenter")
    wrong = placed(p, 1)
    check("then --from 2 puts everyone in the one sessionizer and segmenter", back.returncode == 0
          and not wrong, (back.stderr[-600:], wrong[:4]))
    again = tool(p, "nd-repartition", "--from", "2", "sessionizer", "segmenter")
    check("run again, it finds nobody left to move", again.returncode == 0
          and again.stderr.count("nobody left to move") == 2,
          again.stderr[-600:])
    for stage in ("collector", "sessionizer", "segmenter"):
        p.start(stage)
    p.post("/v1/batch", {"batch": [add("anon-8", "z-2", 400, 1001)]})
    drain(p, [("collector", "sessionizer"), ("sessionizer", "segmenter")])
    last8 = cart_of(p, "segmenter", visitor8)
    check("one sessionizer again: anon-8's cart goes on (+ z-2)",
          last8 == sorted(before8 + ["z-1", "z-2"]), last8)
    for stage in ("segmenter", "sessionizer", "collector"):
        p.stop(stage)
done()
