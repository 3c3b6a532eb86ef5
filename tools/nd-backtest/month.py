#!/usr/bin/python3
"""month.py - a synthetic month of shop traffic, for nd-backtest and its tests.

    month.py [--events N] [--seed S] [--days D] [--start ISO] [--devices SHARE] [-o FILE]

Writes Segment events as JSON lines in time order, what `collector --clock
event --stdin` and `nd-backtest --events` read, with a
{"type":"tick","time":...} line every 5 minutes of event time. The same
arguments give the same bytes.

Visitors arrive over the D days, each for one to a few visits: pages,
product views, cart adds. Some leave the cart behind; of those some order
within the hour, some days later, most never. Some order in the visit.
About 60 % identify themselves (e-mail, phone with sms_consent, a time
zone among Europe/Warsaw, America/New_York, Asia/Tokyo and UTC, a locale),
some with a Web Push subscription; some opt out later (email_consent or
sms_consent false). Visitors keep coming until at least N events (ticks
not counted) are written.

With --devices SHARE, that share of a known shopper's later visits is on
another device: anonymous at first (a view, an add), then a login that
joins it to the shopper, which the sessionizer merges (and, partitioned,
moves between partitions when the two visitors live in different ones).
"""
import argparse
import base64
import datetime
import json
import random
import sys

ZONES = (("Europe/Warsaw", "pl-PL"), ("America/New_York", "en-US"),
         ("Asia/Tokyo", "ja-JP"), ("UTC", "en-GB"))
PRODUCTS = [("p-%d" % i, name, price, category)
            for i, (name, price, category) in enumerate([
                ("Trail shoe", 89.9, "shoes"), ("Running shoe", 119.0, "shoes"),
                ("Wool socks", 12.5, "socks"), ("Rain jacket", 120.0, "jackets"),
                ("Fleece", 59.0, "jackets"), ("Beanie", 19.9, "hats"),
                ("Cap", 24.0, "hats"), ("Backpack", 75.0, "bags"),
                ("Water bottle", 15.0, "gear"), ("Headlamp", 39.0, "gear"),
                ("Gloves", 29.0, "gear"), ("Trousers", 79.0, "apparel")], 1)]
TICK = datetime.timedelta(minutes=5)
SESSION_GAP = datetime.timedelta(minutes=31)    # past the sessionizer's 30m timeout


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


class Month:
    """Builds the events of one month, visitor by visitor."""

    def __init__(self, seed, start, days, devices=0.0):
        self.rng = random.Random(seed)
        self.devices = devices      # share of later visits on another device
        self.start, self.end = start, start + datetime.timedelta(days=days)
        self.events = []            # (time, serial, event)
        self.orders = 0

    def emit(self, t, visitor, kind, **fields):
        if t >= self.end:
            return
        event = {"type": kind, "messageId": "m-%d" % len(self.events),
                 "anonymousId": visitor["anon"], "timestamp": iso(t)}
        if visitor.get("userId"):
            event["userId"] = visitor["userId"]
        event.update(fields)
        self.events.append((t, len(self.events), event))

    def track(self, t, visitor, event, **properties):
        self.emit(t, visitor, "track", event=event, properties=properties)

    def product(self, t, visitor, name, product, quantity=1):
        pid, title, price, category = product
        self.track(t, visitor, name, product_id=pid, sku="SKU-" + pid, name=title, price=price,
                   quantity=quantity, category=category, url="https://shop.example/p/" + pid,
                   image_url="https://shop.example/i/%s.jpg" % pid)

    # -- one visitor --------------------------------------------------------
    def visitor(self, n):
        rng = self.rng
        v = {"anon": "a-%d" % n, "n": n}
        if rng.random() < 0.6:
            v["traits"] = self.traits(n)
        t = self.start + datetime.timedelta(seconds=rng.uniform(0, (self.end - self.start).total_seconds()))
        for visit in range(1 + int(rng.expovariate(1.2))):
            if t >= self.end:
                break
            #  (the draw only with --devices, so other months stay as they were)
            if visit and self.devices and v.get("userId") and rng.random() < self.devices:
                t = self.device_visit(t, v, visit)
            else:
                t = self.visit(t, v, first=visit == 0)
            t += datetime.timedelta(hours=rng.uniform(2, 24 * 8))

    def traits(self, n):
        rng = self.rng
        zone, locale = ZONES[rng.randrange(len(ZONES))]
        traits = {"email": "shopper%d@example.com" % n, "firstName": "Shopper%d" % n,
                  "timezone": zone, "locale": locale}
        if rng.random() < 0.5:
            traits["phone"] = "+48%09d" % (600000000 + n)
            traits["sms_consent"] = True
        if rng.random() < 0.3:
            key = rng.getrandbits(65 * 8).to_bytes(65, "big")
            auth = rng.getrandbits(16 * 8).to_bytes(16, "big")
            traits["push_subscription"] = {
                "endpoint": "https://fcm.googleapis.com/fcm/send/s-%d" % n,
                "keys": {"p256dh": base64.urlsafe_b64encode(b"\x04" + key[1:]).decode().rstrip("="),
                         "auth": base64.urlsafe_b64encode(auth).decode().rstrip("=")}}
        return traits

    def step(self, t, low=15, high=150):
        return t + datetime.timedelta(seconds=self.rng.uniform(low, high))

    def visit(self, t, v, first):
        """One visit; returns when it ended."""
        rng = self.rng
        self.emit(t, v, "page", name="Home", properties={"path": "/"})
        if first and "traits" in v:
            t = self.step(t)
            v["userId"] = "u-%d" % v["n"]
            self.emit(t, v, "identify", traits=v["traits"])
            if rng.random() < 0.12:
                self.opt_out(t, v)
        viewed = rng.sample(PRODUCTS, rng.randint(1, 6))
        for product in viewed:
            t = self.step(t)
            self.product(t, v, "Product Viewed", product)
            if rng.random() < 0.3:
                t = self.step(t)
                self.product(t, v, "Product Viewed", product)
        if rng.random() < 0.4:
            return t                                    # just looking
        cart = viewed[:rng.randint(1, min(3, len(viewed)))]
        for product in cart:
            t = self.step(t)
            self.product(t, v, "Product Added", product, quantity=rng.randint(1, 2))
        t = self.step(t)
        self.track(t, v, "Cart Viewed", currency="EUR", products=self.items(cart))
        fate = rng.random()
        if fate < 0.25:                                 # orders now
            return self.order(self.step(t), v, cart)
        if fate < 0.35:                                 # back within the hour
            back = t + SESSION_GAP + datetime.timedelta(minutes=rng.uniform(0, 30))
            self.emit(back, v, "page", name="Cart", properties={"path": "/cart"})
            return self.order(self.step(back), v, cart)
        if fate < 0.47:                                 # days later
            back = t + datetime.timedelta(hours=rng.uniform(2, 24 * 6))
            self.emit(back, v, "page", name="Cart", properties={"path": "/cart"})
            return self.order(self.step(back), v, cart)
        return t                                        # never

    def device_visit(self, t, v, k):
        """A later visit on another device (a phone): anonymous at first,
        a product added, then a login, which joins the two visitors."""
        rng = self.rng
        device = {"anon": "a-%d-%d" % (v["n"], k), "n": v["n"]}
        self.emit(t, device, "page", name="Home", properties={"path": "/"})
        product = PRODUCTS[rng.randrange(len(PRODUCTS))]
        t = self.step(t)
        self.product(t, device, "Product Viewed", product)
        t = self.step(t)
        self.product(t, device, "Product Added", product)
        t = self.step(t)
        device["userId"] = v["userId"]
        self.emit(t, device, "identify", traits={})
        return self.visit(t, device, first=False)

    def order(self, t, v, cart):
        self.orders += 1
        t = self.step(t)
        self.track(t, v, "Checkout Started", currency="EUR", products=self.items(cart))
        total = round(sum(p[2] for p in cart), 2)
        t = self.step(t)
        self.track(t, v, "Order Completed", order_id="o-%d" % self.orders, total=total,
                   revenue=total, currency="EUR", products=self.items(cart))
        return t

    @staticmethod
    def items(cart):
        return [{"product_id": p[0], "name": p[1], "price": p[2], "quantity": 1, "category": p[3]}
                for p in cart]

    def opt_out(self, t, v):
        """Later on, the person withdraws consent for e-mail or SMS."""
        rng = self.rng
        t += datetime.timedelta(hours=rng.uniform(1, 24 * 20))
        which = "sms_consent" if "phone" in v["traits"] and rng.random() < 0.5 else "email_consent"
        self.emit(t, dict(v, userId="u-%d" % v["n"]), "identify", traits={which: False})

    # -- the file -------------------------------------------------------------
    def lines(self, wanted):
        n = 0
        while len(self.events) < wanted:
            n += 1
            self.visitor(n)
        events = sorted(self.events, key=lambda e: (e[0], e[1]))
        tick = self.start + TICK
        for t, _, event in events:
            while tick <= t:
                yield {"type": "tick", "time": iso(tick)}
                tick += TICK
            yield event
        while tick <= self.end:
            yield {"type": "tick", "time": iso(tick)}
            tick += TICK


def main(argv=None):
    parser = argparse.ArgumentParser(prog="nd-month", description="A synthetic month of shop events (JSON lines).")
    parser.add_argument("--version", action="version", version="%(prog)s (nudge) 0.9.0")
    # sysexits, as every nudge program: 64 for a usage error (argparse says 2)
    parser.error = lambda message: parser.exit(64, "%s: %s\n" % (parser.prog, message))
    parser.add_argument("--events", type=int, default=40000, help="at least this many events (default 40000)")
    parser.add_argument("--seed", type=int, default=1, help="the same seed gives the same file")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--start", default="2026-10-01T00:00:00Z", help="ISO 8601 UTC")
    parser.add_argument("--devices", type=float, default=0.0, metavar="SHARE",
                        help="share of a known shopper's later visits made on another device, "
                        "anonymous until a login joins it to them (default 0)")
    parser.add_argument("-o", "--output", default="-", help="file (default stdout)")
    args = parser.parse_args(argv)
    start = datetime.datetime.strptime(args.start.rstrip("Z")[:19], "%Y-%m-%dT%H:%M:%S")
    out = sys.stdout if args.output == "-" else open(args.output, "w")
    for line in Month(args.seed, start, args.days, args.devices).lines(args.events):
        out.write(json.dumps(line, separators=(",", ":")) + "\n")
    if out is not sys.stdout:
        out.close()


if __name__ == "__main__":
    main()
