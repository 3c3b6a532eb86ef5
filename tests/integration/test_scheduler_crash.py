#!/usr/bin/python3
"""scheduler: N pending timers survive kill -9, each fires exactly once.

N people leave a cart (fed from a Python journal); a test journey sends
two messages, 1 h and 2 h later, so N timers are pending. The scheduler
is killed -9 with them all pending, and then again, up to KILLS times in
each hour, while they fire (each firing is a state change and a send
order in one LMDB transaction). At the end the scheduler's durable
journal, read as a sender reads it, holds exactly one send order per
idempotency key - 2 N - and its persistent "sent" count agrees.

N is 20 000 fired 1 000 a batch in make test, 100 000 fired 5 000 a batch
with FULL=1 (make bench): 20 batches an hour either way, so the kills
land mid-stream alike. Each kill costs a restart and a settle (some 15 s
on two busy cores with 100 000), and three an hour show what one shows:
the kill every time more were sent (12 of them) took most of the
script's 200 s.

Then on the wall clock: a timer that comes due while the scheduler is
down fires as soon as it starts again.
"""
# tests/run: start first (one of the longest)
import collections
import datetime
import os
import time

from ndtest import Pipeline, check, done, wait_for
from schedtest import Feed, Reader, pipeline_extra

FULL = os.environ.get("FULL") == "1"
N = 100000 if FULL else 20000
BATCH = str(N // 20)
KILLS = 3

JOURNEY = """\
journey
    name = crash-test
    trigger
        topic = cart.abandoned
    limits
        cap = none
        quiet-hours = none
    steps
        wait = first-wait
            for = 1h
        send = one
            channels = email
            template = abandoned-cart/reminder-1
        wait = second-wait
            for = 1h
        send = two
            channels = email
            template = abandoned-cart/reminder-1
"""

CART = {"items": [{"product_id": "p-1", "name": "Cap", "price": 9.5, "quantity": 1}],
        "value": 9.5, "currency": "EUR"}


def stats(p):
    s = p.control("scheduler", timeout_ms=20000)
    return s["scheduler"]["timers"], s["scheduler"]["running"], s["sent"]


def kill_while_firing(p, feed, until_sent, kills):
    """Kills the scheduler -9 each time it has sent more, at most KILLS
    times, then lets it fire the rest, until until_sent."""
    for _ in range(KILLS):
        before = stats(p)[2]
        if before >= until_sent:
            return kills
        wait_for(lambda: stats(p)[2] > before, timeout=30, interval=0.05)
        p.kill("scheduler")
        kills += 1
        p.start("scheduler")
        feed.settle(timeout=120)
    wait_for(lambda: feed.settle(timeout=120) and stats(p)[2] >= until_sent, timeout=300, interval=0.2)
    return kills


with Pipeline(clock="event", sync=True, extra=pipeline_extra(mapsize="4G", **{"fire-batch": BATCH})) as p:
    journeys = os.path.join(p.dir, "journeys")
    os.makedirs(journeys)
    with open(os.path.join(journeys, "crash-test.zpl"), "w") as f:
        f.write(JOURNEY)
    p.write_config(pipeline_extra(journeys, mapsize="4G", **{"fire-batch": BATCH}))
    p.start("scheduler")
    feed = Feed(p)
    for i in range(N):
        feed.send("cart.abandoned", "u-%d" % i, 0.0, cart=CART,
                  traits={"email": "u-%d@example.com" % i, "firstName": "U"})
    started = time.time()
    feed.settle(timeout=300)
    timers, running, sent = stats(p)
    check("%d instances wait on %d timers (%.1f s to apply)" % (N, N, time.time() - started),
          timers == N and running == N and sent == 0, (timers, running, sent))

    p.kill("scheduler")
    p.start("scheduler")
    check("after kill -9 all %d timers are still pending" % N, stats(p)[0] == N, stats(p))

    kills = 0
    feed.tick(1.0)
    feed.settle(timeout=120)
    kills = kill_while_firing(p, feed, N, kills)
    feed.tick(2.0)
    feed.settle(timeout=120)
    kills = kill_while_firing(p, feed, 2 * N, kills)
    ok = wait_for(lambda: stats(p)[1] == 0, timeout=120)
    timers, running, sent = stats(p)
    check("killed -9 %d times while the timers fired" % kills, kills >= 4, kills)
    check("every instance finished; what remains pending is their clean-up",
          ok and running == 0 and timers == N, (timers, running, sent))
    check("the persistent sent count is exactly %d" % (2 * N), sent == 2 * N, sent)

    reader = Reader(p)
    reader.drain(p, timeout=300)
    keys = collections.Counter(b["idempotency_key"] for b in reader.sends())
    twice = [k for k, n in keys.items() if n > 1]
    check("the journal holds %d send orders, one per idempotency key" % (2 * N),
          len(keys) == 2 * N and not twice and sum(keys.values()) == 2 * N,
          (len(keys), sum(keys.values()), twice[:5]))
    steps = collections.Counter(b["step"] for b in reader.sends())
    check("one 'one' and one 'two' for each of the %d people" % N,
          steps == {"one": N, "two": N} and len({b["user"] for b in reader.sends()}) == N, steps)
    reader.close()
    feed.close()


WALL = JOURNEY.replace("crash-test", "wall-test").replace("for = 1h", "for = 2s")

with Pipeline(clock="wall") as p:
    journeys = os.path.join(p.dir, "journeys")
    os.makedirs(journeys)
    with open(os.path.join(journeys, "wall-test.zpl"), "w") as f:
        f.write(WALL)
    p.write_config(pipeline_extra(journeys))
    p.start("scheduler")
    feed = Feed(p)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    feed.up.append("cart.abandoned", {"id": "w-1", "user": "w-1", "time": now, "cart": CART,
                                      "traits": {"email": "w-1@example.com"}})
    feed.settle()
    p.kill("scheduler")
    time.sleep(3)                   # the first 2 s wait runs out while it is down
    started = time.time()
    p.start("scheduler")
    ok = wait_for(lambda: stats(p)[2] >= 1, timeout=10)
    check("wall clock: a timer that came due while down fires on start (%.1f s after)"
          % (time.time() - started), ok, p.log("scheduler")[-1000:])
    ok = wait_for(lambda: stats(p)[2] >= 2, timeout=10)
    check("and the next one 2 s later, once", ok and stats(p)[2] == 2, stats(p))
    feed.close()
done()
