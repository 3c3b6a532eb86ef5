#!/usr/bin/python3
"""A merge across partitions with a journey running (README "Partitioned
stages", #15): the scheduler's state moves with the person, and feedback
that still names the loser follows them.

collector -> sessionizer, segmenter and scheduler, each in 2 partitions,
event time, the shipped abandoned-cart journey; the senders' feedback
comes from a relay ("feedback", reading a journal the test serves), which
routes it by "user" as a sender does. v-1 (the phone, first seen) lives
in partition 1, v-2 (the laptop) in partition 0.

  1. the phone gives an address and adds boots, then leaves: its cart is
     abandoned, and scheduler.1 sends v-1 the first reminder;
  2. the laptop logs in as u-7; then the phone logs in as u-7: v-1 is
     merged into v-2, and v-1's instance (with its timer for the second
     reminder) moves from scheduler.1 to scheduler.0;
  3. the mail-sender's word that the first reminder was delivered comes
     after the merge, naming v-1: the relay routes it to partition 1,
     which passes it on to partition 0, where the instance now is;
  4. Cat gives her address on her phone (v-3, partition 1) and is
     erased; then she gives it again on her laptop (v-4, partition 0)
     and leaves a cart: scheduler.1 passed the erased address's hash to
     scheduler.0, so no marketing goes to it without her consent;
  5. a day later the second reminder goes out once, to v-2, from
     scheduler.0, with a code; nothing more from scheduler.1.

Each check fails without the part it is about: without the move the
second reminder goes to v-1 from scheduler.1; without the pass the
delivery is counted by scheduler.1 for no instance; without the erased
hashes passed on, Cat's laptop gets a reminder.
"""
import json
import os
import subprocess

from ndtest import BIN, ROOT, JournalReader, JournalServer, Pipeline, check, done, wait_for
from schedtest import journeys_only, scheduler_options
import shoptest

PARTS = ("0", "1")
SECRET_ENV = "ND_TEST_UNSUBSCRIBE_SECRET"
os.environ.setdefault(SECRET_ENV, "test-unsubscribe-secret-0123456789")


class Shop(shoptest.Shop):
    def settle(self, links=None):
        links = [("collector", "sessionizer.%s" % k) for k in PARTS]
        for up, down in (("sessionizer", "segmenter"), ("segmenter", "scheduler")):
            links += [("%s.%s" % (up, k), "%s.%s" % (down, k)) for k in PARTS]
        for stage in ("sessionizer", "segmenter", "scheduler"):
            links += [("%s.%s" % (stage, a), "%s.%s" % (stage, b)) for a in PARTS for b in PARTS if a != b]
        links += [("feedback", "scheduler.%s" % k) for k in PARTS]
        shoptest.Shop.settle(self, links)


def report(p, stage):
    out = subprocess.run([os.path.join(BIN, "nd-report"), "-c", p.config, "-n", stage, "--steps",
                          "--json"], capture_output=True, text=True, timeout=30)
    return json.loads(out.stdout) if out.returncode == 0 else {"error": out.stderr}


def delivered(counters, step):
    """The deliveries counted for the abandoned cart's step, over its variants."""
    variants = counters.get("counters", {}).get("abandoned-cart", {})
    return sum(v.get("steps", {}).get(step, {}).get("email", {}).get("delivered", 0)
               for v in variants.values())


extra = {"sessionizer": {"input": "collector", "partitions": "2"},
         "segmenter": {"input": "sessionizer", "partitions": "2",
                       "segments": os.path.join(ROOT, "conf", "segments.zpl")},
         "scheduler": scheduler_options(journeys_only("abandoned-cart"), input="segmenter, feedback",
                                        partitions="2"),
         "fb": {}, "feedback": {"program": "relay", "input": "fb"},
         "pipeline": {"unsubscribe-secret": "env:" + SECRET_ENV},
         "sink": {"input": "scheduler"}}

with Pipeline(clock="event", extra=extra) as p:
    fb = JournalServer(p.ctx, p.endpoint("fb", "out"))
    p.start("collector")
    p.start("feedback", program="relay")
    for stage in ("sessionizer", "segmenter", "scheduler"):
        for k in PARTS:
            p.start("%s.%s" % (stage, k), program=stage)
    readers = {k: JournalReader(p, "scheduler.%s" % k, "sink", 20000) for k in PARTS}
    shop = Shop(p, [])

    def sends(step=None):
        """Each partition's send orders so far, of step where given."""
        got = {}
        for k, reader in readers.items():
            head = p.control("scheduler.%s" % k)["journal"]["head"]
            wait_for(lambda: reader.poll(0.1) >= 0 and reader.position >= head, 10)
            got[k] = [b for _, t, b in reader.messages
                      if t.startswith("send.") and (step is None or b["step"] == step)]
        return got

    def feed(topic, body):
        fb.append(topic, body)
        wait_for(lambda: fb.serve(0.02) or fb.acked("feedback") >= len(fb.journal), 10)
        shop.settle()

    shop.send(shop.event("identify", 0, "phone", traits={"email": "ann@example.com", "firstName": "Ann"}),
              shop.add(1, "phone", "Boots", "p-boots", 129.0))
    shop.tick(40)
    shop.tick(95)
    first = sends("reminder-1")
    check("the phone's first reminder goes to v-1 from scheduler.1",
          first["0"] == [] and [s["user"] for s in first["1"]] == ["v-1"], first)
    key = first["1"][0]["idempotency_key"] if first["1"] else None

    shop.send(shop.event("identify", 100, "laptop", userId="u-7", traits={"email": "ann@example.com"}),
              shop.event("identify", 110, "phone", userId="u-7", traits={}))
    shop.tick(120)
    logs = {k: p.log("scheduler.%s" % k) for k in PARTS}
    check("v-1 left scheduler.1 and arrived in scheduler.0, once each",
          logs["1"].count("v-1 leaves") == 1 and logs["0"].count("v-1 arrives") == 1
          and "v-1 leaves" not in logs["0"] and "v-1 arrives" not in logs["1"],
          [l for k in PARTS for l in logs[k].splitlines() if "move" in l])
    check("no import was refused", "not overwritten" not in logs["0"] + logs["1"],
          [l for l in logs["0"].splitlines() if "not" in l])

    # The delivery of the first reminder, heard after the merge: about v-1
    # (a side input waits for the clock: its time is before the last tick)
    feed("feedback.delivered", {"id": "fb-1", "user": "v-1", "time": shoptest.ts(118),
                                "idempotency_key": key, "channel": "email"})
    counts = {k: report(p, "scheduler.%s" % k) for k in PARTS}
    check("the late delivery reaches the moved instance in scheduler.0 (reminder-1 delivered once)",
          delivered(counts["0"], "reminder-1") == 1 and delivered(counts["1"], "reminder-1") == 0,
          (counts["0"].get("counters"), counts["1"].get("counters")))
    stats = {k: p.control("scheduler.%s" % k)["scheduler"]["counts"]["feedback.delivered"] for k in PARTS}
    check("and is counted there alone", stats == {"0": 1, "1": 0}, stats)

    # Cat gives her address on her phone (v-3, partition 1) and is erased;
    # later a new device of hers (v-4, partition 0) gives it again and
    # leaves a cart: the erased address gets no marketing there either
    shop.send(shop.event("identify", 130, "cat-phone", traits={"email": "cat@example.com"}))
    status, answer = p.post("/v1/erase", {"visitor": "v-3"})
    shop.settle()
    shop.send(shop.event("identify", 140, "cat-laptop", traits={"email": "cat@example.com"}),
              shop.add(141, "cat-laptop", "Hat", "p-hat", 25.0))
    shop.tick(240)
    cat = {k: [s for s in v if s["user"] in ("v-3", "v-4")] for k, v in sends().items()}
    check("Cat was erased in partition 1 (v-3) and came back in partition 0 (v-4)",
          status == 200 and "erased visitor v-3" in p.log("scheduler.1")
          and p.control("scheduler.0")["scheduler"]["running"] >= 1, (status, answer))
    check("her erased address gets no reminder in partition 0", cat == {"0": [], "1": []}, cat)

    shop.tick(60 * 24 + 40)
    second = sends("reminder-2")
    check("the second reminder goes out once, to v-2, from scheduler.0, with a code",
          second["1"] == [] and [s["user"] for s in second["0"]] == ["v-2"]
          and second["0"][0]["data"]["code"]["code"].startswith("CART-"), second)
    every = sends()
    check("scheduler.1 sent nothing after the merge",
          [s["step"] for s in every["1"]] == ["reminder-1"], every["1"])
    for reader in readers.values():
        reader.close()
    fb.close()
done()
