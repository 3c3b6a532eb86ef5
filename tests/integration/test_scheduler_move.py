#!/usr/bin/python3
"""scheduler: one person's state moves from one state to another (issue
#15, partitioned schedulers: scheduler_person_export / _import / _each).

The real scheduler builds the state from real messages, for three people
alike and two lesser ones: a profile, a page view, a cart left (a journey
that sends at once with a 7-day code, so a code, its reminder and its
timer), an order before that message is heard of (an order credited
once; the journey exits and its clean-up waits for the delivery: the
clean-up is postponed, a new timer), a journey the order starts (running:
active, a step timer), re-entry marks, a double opt-in claim
(confirmations per person). Then the scheduler stops, and the self-test's
move mode moves the mover from that state (A) to an empty one (B):

  (a) A holds no row of the mover any more (no key or value names them,
      no timer names an instance or code reminder that moved), and every
      other row of A is as it was;
  (b) B holds exactly the rows A lost, byte for byte, in every table the
      mover had rows in (all the per-person tables: the test checks it
      built rows in each);
  (c) a second export from A is empty (null);
  (d) person_each lists exactly the people each state holds.

Both states are read with mdb_dump, not with the scheduler's code.
"""
import json
import os
import subprocess
import tempfile

from ndtest import BIN, Pipeline, check, done
from schedtest import iso, pipeline_extra, start_scheduler

MOVER, STAYS, LESSER = "mover-zq", ["stay-1", "stay-2"], ["stay-3", "stay-4"]
SECRET_ENV = "ND_TEST_UNSUBSCRIBE_SECRET"
os.environ.setdefault(SECRET_ENV, "test-unsubscribe-secret-0123456789")
NEXT = {b"next-instance\0", b"next-code\0"}
PER_PERSON = {"people", "activity", "touch", "history", "orders", "owned", "active", "instances",
              "timers", "reentry", "confirms", "codes", "user-codes", "sched-meta"}

JOURNEYS = {
    "gift.zpl": """journey
    name = gift
    trigger
        topic = cart.abandoned
    reentry
        key = cart.items.product_id
        every = 3d
    exit = order.completed
    steps
        send = now
            channels = "email"
            template = abandoned-cart/reminder-2
            code
                percent = 10
                valid = 7d
                prefix = GIFT
        wait = later
            for = 10d
        send = again
            channels = "email"
            template = abandoned-cart/reminder-2
""",
    "thanks.zpl": """journey
    name = thanks
    trigger
        topic = order.completed
    steps
        wait = weeks
            for = 30d
        send = review
            channels = "email"
            template = review-request/review
""",
}


def dump(path):
    """{(table, key bytes, value bytes)} of every named table of a state."""
    out = subprocess.run(["mdb_dump", "-a", path], capture_output=True, text=True, check=True).stdout
    rows, table, data, pending = set(), None, False, []
    for line in out.splitlines():
        if line.startswith("database="):
            table = line[len("database="):]
        elif line == "HEADER=END":
            data, pending = True, []
        elif line == "DATA=END":
            data, table = False, None
        elif data and table is not None:
            pending.append(bytes.fromhex(line.strip()))
            if len(pending) == 2:
                rows.add((table, pending[0], pending[1]))
                pending = []
    return rows


def exported(state):
    return {(table, bytes.fromhex(k), bytes.fromhex(v))
            for table, pairs in state["rows"].items() for k, v in pairs}


journeys = tempfile.mkdtemp(prefix="nd-journeys-")
for name, text in JOURNEYS.items():
    with open(os.path.join(journeys, name), "w") as f:
        f.write(text)
extra = dict(pipeline_extra(journeys, **{"quiet-hours": "none"}),
             pipeline={"unsubscribe-secret": "env:" + SECRET_ENV})
with Pipeline(clock="event", extra=extra) as p:
    feed, reader, at = start_scheduler(p)
    for n, user in enumerate([MOVER] + STAYS):
        feed.profile(user, 0)
        feed.activity(user, 0)
        feed.abandon(user, 1)
        #   an address bound is the address's, whoever claims it: it stays
        feed.send("contact.claimed", user, 1, visitor=user, channel="email",
                  address="claim-%d@claimed.example" % n, anonymousId="a-%d" % n)
    at(1.5)
    for user in [MOVER] + STAYS:
        feed.order(user, 2)
    feed.profile(LESSER[0], 2)
    feed.activity(LESSER[1], 2)
    at(2.5)
    at(2 + 5 * 24 + 1)                  # the gift's clean-up comes due, waits on
    sent = reader.sends(MOVER, "gift", "now")
    check("the mover got the gift with a code", len(sent) == 1 and sent[0]["data"].get("code"), sent)
    feed.close()
    p.stop("scheduler")

    a = os.path.join(p.dir, "state", "scheduler")
    b = os.path.join(p.dir, "state", "moved")
    os.makedirs(b)
    before = dump(a)
    env = dict(os.environ, SCHEDULER_MOVE_TEST="%s %s %s" % (a, b, MOVER))
    run = subprocess.run([os.path.join(BIN, "scheduler"), "--selftest"], capture_output=True,
                         text=True, env=env, timeout=120)
    check("the move ran", run.returncode == 0, run.stderr[-2000:])
    said = json.loads([line for line in run.stdout.splitlines() if line.startswith("{")][0])
    after, moved = dump(a), dump(b)
    rows = exported(said["state"])

    # (a)
    check("A lost exactly the rows exported", before - after == rows, sorted(rows ^ (before - after))[:5])
    check("A's other rows are as they were", after <= before, sorted(after - before)[:5])
    named = [r for r in after if MOVER.encode() in r[1] or MOVER.encode() in r[2]]
    check("no row left in A names the mover", not named, named[:5])
    ids = {k for t, k, _ in moved if t == "instances"}
    dues = {k[-8:] for t, k, _ in moved if t == "sched-meta" and k.startswith(b"code-due\0")}
    left = [k for t, k, _ in after if t == "timers" and (k[8:16] in ids or (k[16] == 3 and k[8:16] in dues))]
    check("no timer left in A names an instance or a code reminder that moved", ids and not left,
          (ids, left))
    # (b)
    tables = {t for t, _, _ in rows}
    check("the mover had rows in every per-person table", tables == PER_PERSON,
          sorted(PER_PERSON ^ tables))
    counters = {(t, k, v) for t, k, v in moved if t == "sched-meta" and k in NEXT}
    #   and the epoch of A, noted so that feedback keys naming it find the
    #   moved instances (feedback.c)
    epochs = {(t, k, v) for t, k, v in moved if t == "sched-meta" and k.startswith(b"epoch-of\0")}
    check("B noted A's epoch, once", len(epochs) == 1, epochs)
    check("B holds exactly the rows A lost, byte for byte", moved - counters - epochs == rows,
          sorted((moved - counters - epochs) ^ rows)[:5])
    #   B's next numbers go past those the mover brought (until partitions
    #   number apart), so no later instance or reminder of B overwrites one
    top = {b"next-instance\0": max(int.from_bytes(k, "big") for k in ids),
           b"next-code\0": max(int.from_bytes(k, "big") for k in dues)}
    check("B's next-instance and next-code are past the moved ones",
          {k: int.from_bytes(v, "big") for _, k, v in counters} == top, (counters, top))
    check("the export names its person and its state's epoch",
          said["state"]["person"] == MOVER and len(said["state"]["epoch"]) == 8, said["state"]["epoch"])
    # (c)
    check("a second export from A is empty", said["again"] is None, said["again"])
    # (d)
    everyone = sorted([MOVER] + STAYS + LESSER)
    check("A listed everyone before", sorted(said["people_before"]) == everyone, said["people_before"])
    check("A lists everyone but the mover after", sorted(said["people_a"]) == sorted(STAYS + LESSER),
          said["people_a"])
    check("B lists the mover alone", said["people_b"] == [MOVER], said["people_b"])
done()
