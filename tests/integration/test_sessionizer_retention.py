#!/usr/bin/python3
"""sessionizer: visitor-retention forgets anonymous visitors, and only them.

Real collector, sessionizer and segmenter in event time, visitor-retention
10d (deadlines are rounded up by at most 15h, a sixteenth of it). Visitors
seen on day 0: one stays away, one comes back on day 8, one identifies
with a userId, one gives an e-mail address, one is identified only on day
5. At day 12 only the first is forgotten: STATS, visitor.forgotten, one
log line, the segmenter drops its counters, and its anonymousId starts a
new visitor with an empty cart. Then visitor-retention = 0 keeps everyone,
and a kill -9 between arming and forgetting loses no index entry.
"""
import datetime

from ndtest import Pipeline, check, done, wait_for

T0 = datetime.datetime(2026, 11, 23, 9, 0, 0)


def ts(day, minutes=0):
    return (T0 + datetime.timedelta(days=day, minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class Shop:
    def __init__(self, p):
        self.p = p
        self.tap = p.tap("sessionizer", "")
        self.sent = 0

    def event(self, kind, day, anon, minute=0, **fields):
        self.sent += 1
        e = {"type": kind, "messageId": "m-%d" % self.sent, "timestamp": ts(day, minute),
             "anonymousId": anon}
        e.update(fields)
        return e

    def send(self, *events):
        status, answer = self.p.post("/v1/batch", {"batch": list(events)})
        if status != 200:
            raise RuntimeError("collector answered %s: %s" % (status, answer))
        if not wait_for(lambda: self.p.control("sessionizer").get("applied", 0) >= self.sent):
            raise RuntimeError("not applied: %s" % self.p.control("sessionizer"))

    def tick(self, day):
        when = ts(day)
        self.p.post("/v1/tick", {"time": when})
        self.tap.collect(until=lambda ms: any(t == "tick" and b.get("time") == when
                                              for t, b in ms), timeout=10)

    def out(self, topic):
        self.tap.poll(50)
        return [(t, b) for t, b in self.tap.messages if t == topic or topic is None]

    def visitors(self, anon):
        """Every visitor id an anonymousId's forwarded events carried, in order."""
        self.tap.poll(50)
        seen = []
        for t, b in self.tap.messages:
            if t.startswith("event.") and b.get("anonymousId") == anon and b["user"] not in seen:
                seen.append(b["user"])
        return seen


def visit(s, day, anon, **extra):
    return s.event("track", day, anon, event="Product Viewed",
                   properties={"product_id": "p-1", "name": "Boots", "price": 90}, **extra)


RETENTION = {"visitor-retention": "10d"}

with Pipeline(clock="event", extra={"sessionizer": RETENTION,
                                    "segmenter": {"input": "sessionizer"}}) as p:
    p.start("collector")
    p.start("sessionizer")
    p.start("segmenter")
    seg_tap = p.tap("segmenter", "visitor.")
    s = Shop(p)
    s.send(visit(s, 0, "a-gone"),
           s.event("track", 0, "a-gone", 1, event="Product Added",
                   properties={"product_id": "p-1", "name": "Boots", "price": 90}),
           visit(s, 0, "a-back"),
           visit(s, 0, "a-user"),
           s.event("identify", 0, "a-user", 2, userId="u-1"),
           visit(s, 0, "a-mail"),
           s.event("identify", 0, "a-mail", 2, traits={"email": "m@example.com"}),
           visit(s, 0, "a-late"))
    s.send(s.event("identify", 5, "a-late", userId="u-late"))
    s.send(s.event("page", 8, "a-back", name="Home"))
    gone = s.visitors("a-gone")[0]
    check("every anonymous visitor is in the idle index",
          p.control("sessionizer").get("visitors_idle_indexed") == 5, p.control("sessionizer"))
    profiles = wait_for(lambda: p.control("segmenter").get("profiles") == 5)
    check("the segmenter keeps a profile for each of the 5", profiles, p.control("segmenter"))

    s.tick(12)
    stats = p.control("sessionizer")
    check("day 12: exactly the visitor idle for 12 days is forgotten",
          stats.get("visitors_forgotten") == 1 and stats.get("visitors") == 4, stats)
    forgotten = s.out("visitor.forgotten")
    check("visitor.forgotten names it, with a deterministic id",
          [b["user"] for _, b in forgotten] == [gone] and forgotten[0][1]["id"] == gone + ":forgotten",
          forgotten)
    lines = [l for l in p.log("sessionizer").splitlines() if "forgot " in l]
    check("one log line, without ids",
          len(lines) == 1 and "forgot 1 anonymous visitors idle since before" in lines[0]
          and gone not in lines[0], lines)
    dropped = wait_for(lambda: p.control("segmenter").get("profiles") == 4)
    seg_tap.collect(until=lambda ms: any(t == "visitor.forgotten" for t, _ in ms), timeout=5)
    check("the segmenter drops its profile and passes visitor.forgotten on",
          dropped and any(t == "visitor.forgotten" and b.get("segments") == []
                          for t, b in seg_tap.messages), p.control("segmenter"))

    s.send(s.event("track", 12, "a-gone", 5, event="Cart Viewed", properties={}))
    again = s.visitors("a-gone")
    check("its anonymousId, seen again, starts a fresh visitor",
          len(again) == 2 and again[1] != gone, again)
    fresh = again[-1]
    started = [b for _, b in s.out("session.started") if b["user"] == fresh]
    check("with a new first session", [b["session"] for b in started] == [fresh + ".s1"], started)
    s.tick(12.1)
    ended = [b for _, b in s.out("session.ended") if b["user"] == fresh]
    check("and an empty cart (the old one is gone)",
          len(ended) == 1 and ended[0]["cart_items"] == 0 and
          not [b for _, b in s.out("cart.abandoned") if b["user"] == fresh], ended)

    s.tick(25)
    stats = p.control("sessionizer")
    back = s.visitors("a-back")[0]
    names = [b["user"] for _, b in s.out("visitor.forgotten")]
    check("the visitor seen again on day 8 was kept past day 12 and forgotten by day 25",
          names[0] == gone and back in names[1:], names)
    check("identified visitors (userId, e-mail, identified on day 5) are never forgotten",
          stats.get("visitors_forgotten") == 3 and stats.get("visitors") == 3
          and stats.get("visitors_idle_indexed") == 0, stats)
    s.tick(400)
    check("not even a year later", p.control("sessionizer").get("visitors_forgotten") == 3)

with Pipeline(clock="event", extra={"sessionizer": {"visitor-retention": "0"}}) as p:
    p.start("collector")
    p.start("sessionizer")
    s = Shop(p)
    s.send(visit(s, 0, "a-1"), visit(s, 0, "a-2"))
    s.tick(400)
    stats = p.control("sessionizer")
    check("visitor-retention = 0 keeps everyone",
          stats.get("visitors_forgotten") == 0 and stats.get("visitors") == 2
          and stats.get("visitors_idle_indexed") == 0, stats)

with Pipeline(clock="event", extra={"sessionizer": RETENTION}) as p:
    p.start("collector")
    p.start("sessionizer")
    s = Shop(p)
    s.send(*[visit(s, 0, "a-k%d" % i) for i in range(20)])
    s.send(visit(s, 3, "a-k0"))
    p.kill("sessionizer")
    p.start("sessionizer")
    s.tap = p.tap("sessionizer", "")
    check("kill -9 after arming: every entry is still there",
          p.control("sessionizer").get("visitors_idle_indexed") == 20, p.control("sessionizer"))
    s.tick(12)
    stats = p.control("sessionizer")
    check("after the restart the 19 idle since day 0 are forgotten, the one seen on day 3 not",
          stats.get("visitors_forgotten") == 19 and stats.get("visitors") == 1, stats)
    s.tick(14)
    check("and that one by day 14", p.control("sessionizer").get("visitors_forgotten") == 20)
done()
