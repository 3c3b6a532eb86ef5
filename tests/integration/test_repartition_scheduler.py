#!/usr/bin/python3
"""Changing the scheduler's number of partitions, offline (nd-repartition(1)).

collector -> sessionizer -> segmenter -> scheduler (the shipped
abandoned-cart journey), event time, 2 partitions each. Twelve shoppers
give an address and leave a cart; their first reminders go out, and
each has an instance waiting for the second reminder a day later. Then,
stopped and drained, the file says partitions = 3 for the sessionizer,
segmenter and scheduler, and nd-repartition --from 2 moves everyone:

  - each person's journey is in the scheduler partition that owns their
    visitor id (nd-person finds it there), and both partitions will give
    instance numbers past every number given before (sched-meta);
  - started as 3 partitions, a day later each shopper has their second
    reminder once, from their own partition, naming the instance of the
    first; nobody gets a first reminder again;
  - new shoppers' journeys after the change get numbers past every
    number given before it, in every partition, the new one included
    (without that a later merge would bring an instance whose number
    the partition has given already, and be refused).
"""
import json
import os
import subprocess

from ndtest import BIN, JournalReader, Pipeline, check, done, wait_for
from schedtest import journeys_only, scheduler_options
import shoptest

PEOPLE = 12
STAGES = ("sessionizer", "segmenter", "scheduler")


def route_key(text):
    h = 2166136261
    for byte in text.encode():
        h = ((h ^ byte) * 16777619) & 0xFFFFFFFF
    return h


def tool(p, *args):
    return subprocess.run([os.path.join(BIN, args[0]), "-c", p.config] + list(args[1:]),
                          capture_output=True, text=True, timeout=120)


def names(stage, parts):
    return ["%s.%d" % (stage, k) for k in range(parts)]


def chain(parts):
    links = [("collector", n) for n in names("sessionizer", parts)]
    for up, down in (("sessionizer", "segmenter"), ("segmenter", "scheduler")):
        links += list(zip(names(up, parts), names(down, parts)))
    for stage in STAGES:
        links += [(a, b) for a in names(stage, parts) for b in names(stage, parts) if a != b]
    return links


def config(parts):
    return {"sessionizer": {"input": "collector", "partitions": str(parts)},
            "segmenter": {"input": "sessionizer", "partitions": str(parts)},
            "scheduler": dict(journeys, partitions=str(parts)), "sink": {"input": "scheduler"}}


def start(p, parts):
    p.start("collector")
    for stage in STAGES:
        for name in names(stage, parts):
            p.start(name, program=stage)
    return {n: JournalReader(p, n, "sink", 100000) for n in names("scheduler", parts)}


class Shop(shoptest.Shop):
    def settle(self, links=None):
        shoptest.Shop.settle(self, self.links)


def sends(p, readers):
    """(partition, order) for every send order so far; the readers are the
    "sink" of the file, so nothing is trimmed before they read it."""
    got = []
    for name, reader in readers.items():
        head = p.control(name)["journal"]["head"]
        wait_for(lambda: reader.poll(0.1) >= 0 and reader.position >= head, 20)
        got += [(name, b) for _, t, b in reader.messages if t.startswith("send.")]
    return got


journeys = scheduler_options(journeys_only("abandoned-cart"), input="segmenter")
with Pipeline(clock="event", extra=config(2)) as p:
    readers = start(p, 2)
    shop = Shop(p, chain(2))
    for i in range(PEOPLE):
        shop.send(shop.event("identify", i, "a-%d" % i, traits={"email": "s%d@example.com" % i}),
                  shop.add(i + 1, "a-%d" % i, "Boots", "p-boots", 129.0))
    shop.tick(40)
    shop.tick(150)
    first = sends(p, readers)
    ones = [b for _, b in first if b["step"] == "reminder-1"]
    check("2 partitions: the shoppers have their first reminder, once each (%d of %d; the rest "
          "in the holdout)" % (len(ones), PEOPLE),
          len({b["user"] for b in ones}) == len(ones) >= PEOPLE - 3, [b["user"] for b in ones])
    for reader in readers.values():
        reader.close()
    for name in ["collector"] + [n for s in STAGES for n in names(s, 2)]:
        p.stop(name)

    p.write_config(config(3))
    run = tool(p, "nd-repartition", "--from", "2", *STAGES)
    check("nd-repartition --from 2 sessionizer segmenter scheduler: done", run.returncode == 0,
          run.stderr[-800:])
    wrong = []
    for i in range(0, PEOPLE, 3):
        out = tool(p, "nd-person", "--json", "a-%d" % i)
        seen = json.loads(out.stdout) if out.returncode == 0 else {}
        visitor = seen.get("person", {}).get("visitor", "")
        held = [s for s in seen.get("stages", {}) if s.startswith("scheduler")]
        if held != ["scheduler.%d" % (route_key(visitor) % 3)]:
            wrong.append((visitor, held))
    check("each person's journey is in the scheduler partition that owns them, and only there",
          not wrong, wrong)

    readers = start(p, 3)
    shop, sent = Shop(p, chain(3)), shop.n
    shop.n = sent               # message ids go on: the collector drops one it has seen
    for i in range(3):
        shop.send(shop.event("identify", 1500 + i, "n-%d" % i, traits={"email": "n%d@example.com" % i}),
                  shop.add(1501 + i, "n-%d" % i, "Boots", "p-boots", 129.0))
    shop.tick(1560)
    shop.tick(1700)
    after = sends(p, readers)
    seconds = [(name, b) for name, b in after if b["step"] == "reminder-2"]
    check("a day later each shopper has their second reminder once, from their own partition",
          sorted(b["user"] for _, b in seconds) == sorted(b["user"] for b in ones)
          and all(name == "scheduler.%d" % (route_key(b["user"]) % 3) for name, b in seconds),
          [(n, b["user"]) for n, b in seconds])
    again = [b for _, b in after if b["step"] == "reminder-1" and b["user"] in {o["user"] for o in ones}]
    check("nobody has a first reminder again", again == [], again)
    keys = [b["idempotency_key"] for b in ones] + [b["idempotency_key"] for _, b in after]
    new = [b for _, b in after if b["step"] == "reminder-1"]
    check("the new shoppers' first reminders go (%d), and no two orders share a key" % len(new),
          len(new) == 3 and len(keys) == len(set(keys)), keys)
    number = lambda order: int(order["instance"].rsplit("-", 1)[1])
    check("their instances have numbers past every number given before the change",
          new and min(number(b) for b in new) > max(number(b) for b in ones),
          ([b["instance"] for b in ones], [b["instance"] for b in new]))
done()
