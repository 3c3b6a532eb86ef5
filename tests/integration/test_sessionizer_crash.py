#!/usr/bin/python3
"""sessionizer under kill -9: every event applied once, every abandonment once.

A Python journal feeds the sessionizer a few hundred shoppers' events; it
is killed -9 each time it has acknowledged another seventh of them (the
source sees the acks), and once more as the sessions end; a relay downstream records what the
sessionizer's journal delivered. Then a tick ends every session: each
shopper who did not order gets exactly one cart.abandoned, with the cart
their events built, and every input event was forwarded exactly once.
"""
# tests/run: start first (one of the longest)
import datetime
import random
import time

from ndtest import JournalServer, Pipeline, check, check_kills_in_flight, done

VISITORS = 300
KILLS = 6
T0 = datetime.datetime(2026, 11, 23, 9, 0, 0)


def ts(seconds):
    return (T0 + datetime.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def shopper_events(rng):
    """Every shopper's events, interleaved in time order, and what each cart must hold."""
    events, carts, orders = [], {}, set()
    for v in range(VISITORS):
        anon = "anon-%d" % v
        t = rng.randrange(0, 600)
        cart = {}
        for step in range(rng.randrange(3, 25)):
            t += rng.randrange(1, 30)
            kind = rng.random()
            pid = "p-%d" % rng.randrange(40)
            if kind < 0.3:
                body = {"type": "track", "event": "Product Added",
                        "properties": {"product_id": pid, "name": "Thing " + pid, "price": 10}}
                cart[pid] = cart.get(pid, 0) + 1
            elif kind < 0.7:
                body = {"type": "track", "event": "Product Viewed", "properties": {"product_id": pid}}
            else:
                body = {"type": "page", "name": "Browse"}
            events.append((t, anon, body))
        if v % 4 == 0:
            t += 5
            events.append((t, anon, {"type": "track", "event": "Order Completed",
                                     "properties": {"order_id": "o-%d" % v, "total": 10}}))
            orders.add(anon)
            cart = {}
        carts[anon] = cart
    events.sort(key=lambda e: e[0])
    return events, carts, orders


rng = random.Random(7)
events, carts, orders = shopper_events(rng)
N = len(events)

with Pipeline(clock="event", sync=True, extra={"sessionizer": {"input": "source"},
                                    "relay": {"program": "relay", "input": "sessionizer"}}) as p:
    src = JournalServer(p.ctx, p.endpoint("source", "out"))
    for i, (t, anon, body) in enumerate(events):
        body.update({"id": "m-%d" % i, "messageId": "m-%d" % i, "anonymousId": anon,
                     "user": anon, "time": ts(t), "timestamp": ts(t)})
        src.append("event." + body["type"], body)
    p.start("relay", program="relay")
    tap = p.tap("relay", "")
    p.start("sessionizer")
    marks = p.kill_while_reading("sessionizer", src, KILLS, N)
    src.serve_until("sessionizer", N)
    src.append("tick", {"id": "tick-end", "user": "", "time": ts(6 * 3600)})
    src.serve(0.2)
    p.kill("sessionizer")           # once more, while (or just after) the sessions end
    p.start("sessionizer")
    expected = sum(1 for anon, cart in carts.items() if cart)
    deadline = time.time() + 30
    while time.time() < deadline:
        src.serve(0.1)
        tap.poll(50)
        if sum(1 for t, _ in tap.messages if t == "cart.abandoned") >= expected and \
           any(t == "tick" for t, _ in tap.messages):
            break
    tap.collect(timeout=1)
    stats = p.control("sessionizer")
    check_kills_in_flight("the sessionizer (acknowledged to the source)", marks, KILLS, N)
    check("every event applied exactly once (%d)" % N,
          stats.get("applied") == N and stats.get("forwarded") == N, stats)
    forwarded = [b["id"] for t, b in tap.messages if t.startswith("event.")]
    check("every event forwarded downstream exactly once",
          len(forwarded) == N and len(set(forwarded)) == N, (len(forwarded), len(set(forwarded))))
    abandoned = [b for t, b in tap.messages if t == "cart.abandoned"]
    by_anon = {}
    for b in abandoned:
        by_anon.setdefault(b["anonymousId"], []).append(b)
    check("one cart.abandoned per shopper with a cart and no order (%d)" % expected,
          len(abandoned) == expected and all(len(v) == 1 for v in by_anon.values()),
          (len(abandoned), expected))
    check("none for those who ordered", not (set(by_anon) & orders), set(by_anon) & orders)
    wrong = [a for a, [b] in ((a, v) for a, v in by_anon.items() if len(v) == 1)
             if {i["product_id"]: i["quantity"] for i in b["cart"]["items"]} != carts[a]]
    check("each holds the cart its events built", not wrong, wrong[:3])
    check("every session ended", stats.get("sessions_open") == 0 and
          stats.get("sessions_ended") == stats.get("sessions_started"), stats)
    src.close()
done()
