#!/usr/bin/python3
"""Swap a stage: a Python segmenter takes bin/segmenter's place.

collector -> sessionizer -> tools/swap/segmenter.py -> relay ("next", in the
scheduler's seat). The Python program speaks the durable-link protocol on
both sides and keeps its position and journal in a JSON-lines file. Every
event must reach the next stage annotated ("segments": ["everyone"]),
exactly once, across kill -9 of the Python program and of the stage after
it, and the sessionizer must trim what the Python program acked.
"""
import os
import re

from ndtest import ROOT, Pipeline, check, done, wait_for

SWAP = os.path.join(ROOT, "tools", "swap", "segmenter.py")


def events(first, count, day):
    """count tracked events from visitors a-<n>, one minute apart."""
    out = []
    for n in range(first, first + count):
        out.append({"type": "track", "messageId": "m-%d" % n, "anonymousId": "a-%d" % (n % 7),
                    "event": "Product Viewed" if n % 3 else "Product Added",
                    "timestamp": "2026-02-%02dT10:%02d:00.000Z" % (day, n % 60),
                    "properties": {"product_id": "p-%d" % (n % 5), "price": 10.0 + n % 5}})
    return out


def through(p):
    """Waits until the next stage has everything the sessionizer emitted."""
    def caught_up():
        head = p.control("sessionizer")["journal"]["head"]
        return (p.control("sessionizer")["inputs"]["collector"]["position"]
                == p.control("collector")["journal"]["head"]
                and p.control("segmenter")["inputs"]["sessionizer"]["position"] == head
                and p.control("next")["inputs"]["segmenter"]["position"]
                == p.control("segmenter")["journal"]["head"])
    return wait_for(caught_up, timeout=20)


def post(p, batch):
    status, answer = p.post("/v1/batch", {"batch": batch})
    if status != 200:
        raise RuntimeError("collector answered %s: %s" % (status, answer))


with Pipeline(clock="event", extra={"segmenter": {"input": "sessionizer"},
                                    "next": {"program": "relay", "input": "segmenter"}}) as p:
    for stage in ("collector", "sessionizer"):
        p.start(stage)
    p.start("segmenter", program=SWAP)
    p.start("next", program="relay")
    tap = p.tap("next", "")
    upstream = p.tap("sessionizer", "")

    post(p, events(0, 40, 1))
    check("the events go through the Python segmenter", through(p), p.control("next"))
    for round in range(3):                      # kill -9 while it works, three times
        post(p, events(40 + 20 * round, 20, 2 + round))
        p.kill("segmenter")
        p.start("segmenter", program=SWAP)
    check("after kill -9 the Python segmenter catches up", through(p), p.control("segmenter"))
    restarts = re.findall(r"ready: (\d+) journal entries", p.log("segmenter"))
    check("each restart came back from its own file",
          len(restarts) == 4 and all(int(n) > 0 for n in restarts[1:]), restarts)
    tap.collect(until=lambda ms: len(ms) >= len(upstream.poll()), timeout=5)

    sent = [(t, b) for t, b in upstream.messages if t != "tick"]
    got = [(t, b) for t, b in tap.messages if t != "tick"]
    ids = [b["id"] for t, b in got]
    check("the next stage got every sessionizer message once (%d)" % len(sent),
          sorted(ids) == sorted(b["id"] for t, b in sent) and len(set(ids)) == len(ids),
          (len(sent), len(got)))
    by_id = {b["id"]: (t, b) for t, b in got}
    check("same topics, same bodies, plus segments",
          all(by_id.get(b["id"], ("", {}))[0] == t
              and all(by_id[b["id"]][1].get(k) == v for k, v in b.items())
              for t, b in sent if b["id"] in by_id))
    check("every visitor's message carries segments = [everyone]",
          all(b.get("segments") == ["everyone"] for t, b in got if b.get("user")), got[:2])

    p.kill("next")                              # now the stage after it
    post(p, events(100, 30, 5))
    p.post("/v1/tick", {"time": "2026-03-01T00:00:00.000Z"})
    p.start("next", program="relay")
    check("the next stage resumes from the Python journal", through(p), p.control("segmenter"))
    total = len([1 for t, b in upstream.poll(200) if t != "tick"])
    check("and has forwarded each message exactly once (%d)" % total,
          p.control("next").get("forwarded") == total, (p.control("next"), total))
    check("a tick passes through to the next stage's clock",
          wait_for(lambda: p.control("next")["now"].startswith("2026-03-01T00:00:00"), timeout=5),
          p.control("next")["now"])
    mine = p.control("segmenter")["inputs"]["sessionizer"]["position"]
    ok = wait_for(lambda: p.control("sessionizer")["journal"]["consumers"]["segmenter"]["acked"]
                  == mine and p.control("sessionizer")["journal"]["first"] > 1, timeout=5)
    check("the sessionizer trims what the Python segmenter acked", ok,
          p.control("sessionizer")["journal"])
done()
