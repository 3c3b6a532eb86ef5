#!/usr/bin/python3
"""segmenter: each rule of the shipped conf/segments.zpl, evaluated.

Real collector -> sessionizer -> segmenter in event time, with the rule
file as shipped. For every rule, shoppers whose events build a profile
that matches it and shoppers whose profile misses it by one condition
(a cent short, one visit short, an order too many, no e-mail, the wrong
category). Each must end in the segment, or never enter it.
"""
import datetime

from ndtest import ROOT, Pipeline, check, done
from segtest import Shop

T0 = datetime.datetime(2026, 3, 2, 9, 0, 0)


def ts(day, minutes=0):
    return (T0 + datetime.timedelta(days=day, minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def view(s, day, anon, category="shoes", price=20):
    return s.track("Product Viewed", day, 0, anon, product_id="p-%s" % category,
                   category=category, price=price)


def add(s, day, anon, price):
    return s.track("Product Added", day, 1, anon, product_id="p-cart", category="bags",
                   price=price, quantity=1)


def order(s, day, anon, total):
    return s.track("Order Completed", day, 2, anon, order_id="o-%s-%d" % (anon, day), total=total,
                   products=[{"product_id": "p-x", "price": total, "quantity": 1}])


# rule: [(shopper, in it at the end?, what their events are, by day)]
CASES = {
    "big_spender": [
        ("a-500", True, lambda s: {0: [order(s, 0, "a-500", 500)]}),
        ("a-499", False, lambda s: {0: [order(s, 0, "a-499", 499.99)]}),
    ],
    "window_shopper": [
        ("a-3visits", True, lambda s: {d: [view(s, d, "a-3visits", "hats")] for d in (0, 1, 2)}),
        ("a-2visits", False, lambda s: {d: [view(s, d, "a-2visits", "hats")] for d in (0, 1)}),
        ("a-bought", False, lambda s: {0: [view(s, 0, "a-bought", "hats")],
                                       1: [order(s, 1, "a-bought", 10)],
                                       2: [view(s, 2, "a-bought", "hats")]}),
    ],
    "win_back": [
        ("a-mailable", True, lambda s: {0: [order(s, 0, "a-mailable", 30),
                                            s.identify(0, 3, "a-mailable", email="m@example.com")]}),
        ("a-nomail", False, lambda s: {0: [order(s, 0, "a-nomail", 30)]}),
        ("a-recent", False, lambda s: {0: [s.identify(0, 3, "a-recent", email="r@example.com")],
                                       30: [order(s, 30, "a-recent", 30)]}),
    ],
    "shoe_fan": [
        ("a-3shoes", True, lambda s: {0: [view(s, 0, "a-3shoes") for _ in range(3)]}),
        ("a-says-shoes", True, lambda s: {0: [s.identify(0, 3, "a-says-shoes", favorite_category="shoes")]}),
        ("a-2shoes", False, lambda s: {0: [view(s, 0, "a-2shoes") for _ in range(2)]
                                       + [s.identify(0, 3, "a-2shoes", favorite_category="hats")]}),
    ],
    "first_timer_full_cart": [
        ("a-cart100", True, lambda s: {0: [add(s, 0, "a-cart100", 100)]}),
        ("a-cart99", False, lambda s: {0: [add(s, 0, "a-cart99", 99.99)]}),
        ("a-customer", False, lambda s: {0: [order(s, 0, "a-customer", 10)],
                                         1: [add(s, 1, "a-customer", 100)]}),
    ],
}


def by_day(s):
    """Every shopper's events, day by day, in the order they happened."""
    days = {}
    for cases in CASES.values():
        for _, _, events in cases:
            for day, batch in events(s).items():
                days.setdefault(day, []).extend(batch)
    return [sorted(days[d], key=lambda e: e["timestamp"]) for d in sorted(days)]


with Pipeline(clock="event", extra={"segmenter": {"input": "sessionizer",
                                                   "segments": ROOT + "/conf/segments.zpl"},
                                     "watch": {"program": "relay", "input": "segmenter"}}) as p:
    for stage in ("collector", "sessionizer", "segmenter"):
        p.start(stage)
    p.start("watch", program="relay")
    s = Shop(p, ts)
    for batch in by_day(s):
        s.send(*batch)
    s.tick(ts(61))              # 61 days after day 0's orders: win_back is a matter of time
    for rule, cases in CASES.items():
        for anon, member, _ in cases:
            visitor = s.visitor_of(anon)
            changes = s.changes(visitor, rule)
            check("%s: %s %s" % (rule, anon, "is in it" if member else "never entered"),
                  visitor is not None and (changes[-1:] == ["entered"] if member else changes == []),
                  (visitor, changes))
    check("nothing rejected", p.control("segmenter").get("rejected") == 0)
done()
