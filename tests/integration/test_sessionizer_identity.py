#!/usr/bin/python3
"""sessionizer: identity corner cases, bad input, late events, restarts.

Fed from a Python journal (what a stage in another language would do), so
the test can send what the collector would never pass on.
"""
import datetime

from ndtest import JournalServer, Pipeline, check, done, wait_for

T0 = datetime.datetime(2026, 11, 23, 9, 0, 0)


def ts(minutes):
    return (T0 + datetime.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class Feed:
    def __init__(self, p):
        self.p = p
        self.src = JournalServer(p.ctx, p.endpoint("source", "out"))
        self.tap = p.tap("sessionizer", "")
        self.n = 0
        self.good = 0

    def send(self, minute, kind, anon=None, user=None, bad=False, **fields):
        self.n += 1
        body = {"type": kind, "id": "m-%d" % self.n, "messageId": "m-%d" % self.n,
                "time": ts(minute), "timestamp": ts(minute), "user": user or anon or ""}
        if anon:
            body["anonymousId"] = anon
        if user:
            body["userId"] = user
        body.update(fields)
        self.src.append("event." + kind, body)
        self.good += 0 if bad else 1

    def track(self, minute, event_name, anon=None, user=None, **props):
        self.send(minute, "track", anon, user, event=event_name, properties=props)

    def flush(self):
        def applied():
            self.src.serve(0.02)
            return self.p.control("sessionizer").get("applied", 0) >= self.good
        ok = wait_for(applied, timeout=15)
        self.tap.collect(timeout=0.3)
        return ok

    def tick(self, minute):
        self.src.append("tick", {"id": "tick-%d" % minute, "user": "", "time": ts(minute)})
        self.tap.collect(until=lambda ms: (self.src.serve(0.01) or True) and
                         any(t == "tick" and b["time"] == ts(minute) for t, b in ms), timeout=10)

    def retap(self):
        """A new tap for a restarted stage; an old SUB is slow to find its new PUB."""
        seen = self.tap.poll(50)
        self.tap.close()
        self.tap = self.p.tap("sessionizer", "")
        self.tap.messages = seen

    def out(self, topic, **match):
        return [b for t, b in self.tap.messages
                if t == topic and all(b.get(k) == v for k, v in match.items())]

    def visitor(self, message_id):
        for t, b in self.tap.messages:
            if t.startswith("event.") and b["id"] == message_id:
                return b["user"]
        return None


with Pipeline(clock="event", extra={"sessionizer": {"input": "source"}}) as p:
    p.start("sessionizer")
    f = Feed(p)

    # --- bad input is rejected without changing anything --------------------
    f.send(0, "track", bad=True, event="Product Added", properties={"product_id": "x"})
    f.send(0, "track", anon="a-bad", bad=True, properties={})
    f.send(0, "alias", user="u-x", bad=True)
    f.send(0, "launch", anon="a-bad", bad=True)
    f.send(0, "track", anon="x" * 500, bad=True, event="Product Added")
    f.track(1, "Product Viewed", anon="a-good", product_id="p1")
    f.flush()
    stats = p.control("sessionizer")
    check("bad events are rejected and counted", stats.get("rejected") == 5, stats)
    check("only the good one is applied", stats.get("applied") == 1 and
          stats.get("visitors") == 1, stats)
    check("nothing came out of the bad ones",
          not any(b.get("anonymousId") == "a-bad" for _, b in f.tap.messages))
    log = p.log("sessionizer")
    check("each rejection is logged with its reason",
          "neither userId nor anonymousId" in log and "track without an event name" in log
          and "alias without previousId" in log and "not a Segment event type" in log
          and "longer than 400 bytes" in log, log[-1500:])

    # --- alias joins two known people ------------------------------------------
    f.track(2, "Product Added", user="old-account", product_id="p-a", name="A", price=1)
    f.track(3, "Product Added", user="new-account", product_id="p-b", name="B", price=2)
    f.send(4, "alias", user="new-account", previousId="old-account")
    f.flush()
    old, new = f.visitor("m-7"), f.visitor("m-8")
    merged = f.out("visitor.merged", merged=old)
    check("alias merges the previousId's visitor into the userId's",
          old != new and len(merged) == 1 and merged[0]["user"] == new, merged)
    f.track(5, "Page Viewed", user="old-account")
    f.flush()
    check("the old userId now reaches the survivor", f.visitor("m-10") == new)

    # --- a shared device moves to whoever logs in ----------------------------
    f.send(10, "identify", anon="family-tablet", user="u-mum", traits={"email": "mum@example.com"})
    f.track(11, "Product Added", anon="family-tablet", user="u-mum", product_id="p-m", name="M", price=3)
    f.send(12, "identify", anon="family-tablet", user="u-kid")
    f.track(13, "Product Added", anon="family-tablet", product_id="p-k", name="K", price=4)
    f.flush()
    mum, kid = f.visitor("m-11"), f.visitor("m-14")
    check("a second userId on a device is a second person", mum and kid and mum != kid, (mum, kid))
    check("no merge for a shared device", not f.out("visitor.merged", user=mum)
          and not f.out("visitor.merged", user=kid))
    f.tick(60)
    mum_cart = f.out("cart.abandoned", user=mum)
    kid_cart = f.out("cart.abandoned", user=kid)
    check("each keeps their own cart",
          len(mum_cart) == 1 and [i["name"] for i in mum_cart[0]["cart"]["items"]] == ["M"]
          and len(kid_cart) == 1 and [i["name"] for i in kid_cart[0]["cart"]["items"]] == ["K"],
          (mum_cart, kid_cart))
    check("and their own contact details", mum_cart and mum_cart[0]["contact"]["email"] is True
          and kid_cart and kid_cart[0]["contact"]["email"] is False)

    # --- identify alone does not start a visit ------------------------------------
    f.send(100, "identify", user="u-crm", traits={"email": "crm@example.com"})
    f.flush()
    crm = f.visitor("m-15")
    f.tick(200)
    check("a server-side identify makes no session",
          not f.out("session.started", user=crm) and f.out("profile.updated", user=crm))

    # --- a late event after its session ended -------------------------------------
    f.track(210, "Product Added", anon="a-late", product_id="p-l", name="L", price=5)
    f.tick(300)
    f.track(215, "Product Viewed", anon="a-late", product_id="p-l")
    f.flush()
    late = f.visitor("m-16")
    f.tick(301)
    ended = f.out("session.ended", user=late)
    check("a late event opens a new session that ends at its own time + timeout",
          len(ended) == 2 and ended[1]["ended"] == ts(245), ended)
    check("the still-full cart is reminded once per session",
          len(f.out("cart.abandoned", user=late)) == 2)

    # --- a session open across a restart ----------------------------------------
    f.track(400, "Product Added", anon="a-restart", product_id="p-r", name="R", price=6)
    f.flush()
    p.stop("sessionizer")
    p.start("sessionizer")
    f.retap()
    f.track(410, "Page Viewed", anon="a-restart")
    f.flush()
    f.tick(500)
    r = f.visitor("m-18")
    check("a session open across a restart goes on under the same id",
          len(f.out("session.started", user=r)) == 1
          and [b["ended"] for b in f.out("session.ended", user=r)] == [ts(440)])
    check("visitor ids survive the restart", f.visitor("m-19") == r, (r, f.visitor("m-19")))
    f.src.close()
done()
