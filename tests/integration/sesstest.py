"""sesstest - what the sessionizer tests share (not a test).

    Shop        posts events through the collector with explicit
                timestamps, waits until the sessionizer applied them,
                reads its tap
    ts(day, m)  the timestamp of minute m of day (T0 + day days)
    boots(), socks()  products as the shop's events name them
"""
import datetime

from ndtest import check, wait_for

T0 = datetime.datetime(2026, 11, 23, 9, 0, 0)


def ts(day, minutes):
    t = T0 + datetime.timedelta(days=day, minutes=minutes)
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


class Shop:
    """Posts events, waits until the sessionizer applied them, reads its tap."""

    def __init__(self, p):
        self.p = p
        self.tap = p.tap("sessionizer", "")
        self.sent = 0
        self.seq = 0

    def event(self, kind, day, minute, anon=None, user=None, **fields):
        self.seq += 1
        e = {"type": kind, "messageId": "m-%d" % self.seq, "timestamp": ts(day, minute)}
        if anon:
            e["anonymousId"] = anon
        if user:
            e["userId"] = user
        e.update(fields)
        return e

    def track(self, event_name, day, minute, anon=None, user=None, **props):
        return self.event("track", day, minute, anon, user, event=event_name, properties=props)

    def send(self, *events):
        status, answer = self.p.post("/v1/batch", {"batch": list(events)})
        if status != 200:
            raise RuntimeError("collector answered %s: %s" % (status, answer))
        self.sent += len(events)
        applied = wait_for(lambda: self.p.control("sessionizer").get("applied", 0) >= self.sent)
        if not applied:
            raise RuntimeError("sessionizer did not apply %d events: %s"
                               % (self.sent, self.p.control("sessionizer")))

    def tick(self, day, minute):
        when = ts(day, minute)
        self.p.post("/v1/tick", {"time": when})
        self.tap.collect(until=lambda ms: any(t == "tick" and b.get("time") == when
                                              for t, b in ms), timeout=10)

    def out(self, topic=None, visitor=None):
        self.tap.poll(50)
        return [b for t, b in self.tap.messages
                if (topic is None or t == topic) and (visitor is None or b.get("user") == visitor)]

    def only(self, topic, visitor, label):
        """Checks (as label) that visitor has exactly one topic message
        out; returns it, or None."""
        got = self.out(topic, visitor)
        check(label, len(got) == 1, got)
        return got[0] if len(got) == 1 else None

    def visitor_of(self, anon):
        """The visitor id the sessionizer gave the first event of an anonymousId."""
        def first(messages):
            for t, b in messages:
                if t.startswith("event.") and b.get("anonymousId") == anon:
                    return b.get("user")
            return None
        return first(self.tap.collect(until=first, timeout=5))


def boots(**extra):
    p = {"product_id": "p-boots", "sku": "B-42", "name": "Trail boots", "price": 89.9,
         "category": "Shoes", "url": "https://shop.example/boots", "image_url": "https://shop.example/boots.jpg"}
    p.update(extra)
    return p


def socks(**extra):
    p = {"product_id": "p-socks", "name": "Wool socks", "price": 7.5, "category": "Socks"}
    p.update(extra)
    return p
