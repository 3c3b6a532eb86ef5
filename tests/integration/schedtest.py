"""schedtest - what the scheduler's tests share (not a test itself).

    Feed      a JournalServer standing in for the segmenter (and one for the
              senders' feedback), with helpers that build the bodies the
              sessionizer and segmenter send, and settle() to wait until the
              scheduler has applied everything fed so far.
    Reader    reads the scheduler's durable journal as a downstream stage
              does (HELLO / MSG / POS / ACK), so a test sees every send
              order exactly as a sender would, across kills and restarts.
    variant() the scheduler's A/B assignment (FNV-1a), to pick people.
"""
import datetime
import json
import os
import time

from ndtest import ROOT, JournalReader, JournalServer, wait_for

T0 = datetime.datetime(2026, 3, 2, 12, 0, 0, tzinfo=datetime.timezone.utc)   # a Monday, noon UTC
HOUR = 3600.0


def iso(hours=0.0, base=T0):
    t = base + datetime.timedelta(hours=hours)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


def variant(journey, user, holdout_points, weights):
    """The variant the scheduler gives user in journey (journey.c)."""
    h = 14695981039346656037
    for b in journey.encode() + b"\xff" + user.encode():
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    if h % 10000 < holdout_points:
        return "holdout"
    pick = (h // 10000) % sum(w for _, w in weights)
    for name, w in weights:
        if pick < w:
            return name
        pick -= w
    return weights[0][0]


def users_in(journey, group, count, prefix="v-", holdout_points=500,
             weights=(("a", 50), ("b", 50))):
    """count user ids that land in group ("holdout", or any variant: "treated")."""
    found, n = [], 0
    while len(found) < count:
        n += 1
        user = "%s%d" % (prefix, n)
        v = variant(journey, user, holdout_points, list(weights))
        if (group == "treated" and v != "holdout") or v == group:
            found.append(user)
    return found


def scheduler_options(journeys=None, **extra):
    opts = {"input": "feed, feedback",
            "journeys": journeys or os.path.join(ROOT, "conf", "journeys"),
            "templates": os.path.join(ROOT, "conf", "templates"),
            "timezone": "UTC", "shop-name": "Example Shop", "shop-url": "https://shop.example"}
    opts.update(extra)
    return opts


def journeys_only(*names):
    """A journeys directory holding only the named shipped journeys: for a
    test of one journey that other shipped journeys (welcome, say, and its
    place in the frequency cap) would interleave with."""
    import atexit, shutil, tempfile
    path = tempfile.mkdtemp(prefix="nd-journeys-")
    atexit.register(shutil.rmtree, path, True)
    for name in names:
        os.symlink(os.path.join(ROOT, "conf", "journeys", name + ".zpl"), os.path.join(path, name + ".zpl"))
    return path


def pipeline_extra(journeys=None, **options):
    """Pipeline extra: a scheduler fed by Python, read by the test as "sink"."""
    return {"feed": {}, "feedback": {}, "scheduler": scheduler_options(journeys, **options),
            "sink": {"input": "scheduler"}}


CART = {"items": [
    {"product_id": "p-1", "sku": "SKU-1", "name": "Trail shoe", "price": 89.9, "quantity": 1,
     "category": "shoes", "url": "https://shop.example/p/1", "image_url": "https://shop.example/i/1.jpg"},
    {"product_id": "p-2", "sku": "SKU-2", "name": "Wool socks", "price": 12.5, "quantity": 2,
     "category": "socks", "url": "https://shop.example/p/2", "image_url": "https://shop.example/i/2.jpg"}],
    "value": 114.9, "currency": "EUR"}


def traits(user, email=True, phone=False, push=False, tz=None, **more):
    t = {"firstName": "Ann", "lastName": "Lee"}
    if email:
        t["email"] = "%s@example.com" % user
    if phone:
        t["phone"] = "+48600100200"
        t["sms_consent"] = True
    if push:
        t["push_subscription"] = {"endpoint": "https://push.example/%s" % user,
                                  "keys": {"p256dh": "BNc...", "auth": "tBH..."}}
    if tz:
        t["timezone"] = tz
    t.update(more)
    return t


class Feed:
    """Stands in for the segmenter ("feed") and the senders ("feedback")."""

    def __init__(self, p):
        self.p = p
        self.up = JournalServer(p.ctx, p.endpoint("feed", "out"))
        self.back = JournalServer(p.ctx, p.endpoint("feedback", "out"))
        self.n = 0

    def send(self, topic, user, hours, server=None, **body):
        self.n += 1
        b = {"id": "t-%d" % self.n, "user": user, "time": iso(hours)}
        b.update(body)
        (server or self.up).append(topic, b)

    def profile(self, user, hours, segments=("customer",), **kw):
        self.send("profile.updated", user, hours, traits=traits(user, **kw), segments=list(segments))

    def abandon(self, user, hours, cart=None, segments=("came_to_buy",), **kw):
        self.send("cart.abandoned", user, hours, cart=cart or CART, session="s-" + user,
                  traits=traits(user, **kw), segments=list(segments))

    def browse(self, user, hours, **kw):
        self.send("browse.abandoned", user, hours, products=[
            {"product_id": "p-9", "name": "Rain jacket", "price": 120.0, "url": "https://shop.example/p/9"}],
            products_viewed=4, traits=traits(user, **kw), segments=["just_looking"])

    def activity(self, user, hours):
        self.send("event.page", user, hours, name="Product", properties={"path": "/p/1"})

    def session_ended(self, user, hours):
        self.send("session.ended", user, hours)

    def order(self, user, hours, value=114.9, coupon=None):
        extra = {"coupon": coupon} if coupon else {}
        self.send("order.completed", user, hours, order_id="o-%s-%d" % (user, self.n),
                  value=value, revenue=value, currency="EUR", **extra)

    def tick(self, hours):
        """Moves event time on, once all fed so far is applied: feedback
        comes on its own link, and must not be overtaken by the tick."""
        self.settle()
        self.n += 1
        self.up.append("tick", {"id": "tick-%d" % self.n, "user": "", "time": iso(hours)})

    def feedback(self, kind, order, hours, reason="test"):
        self.send("feedback." + kind, order["user"], hours, server=self.back,
                  idempotency_key=order["idempotency_key"], channel=order["channel"], reason=reason)

    def settle(self, timeout=30):
        """Serves both journals until the scheduler has applied the feed and
        the feedback up to its clock."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.up.serve(0.02)
            self.back.serve(0.02)
            #  A scheduler firing a hundred thousand timers in one batch
            #  (under ASan, on two busy cores) may take longer than a
            #  control call's 5 s to come back to its control socket:
            #  that is busy, not stuck, until the deadline says so
            try:
                stats = self.p.control("scheduler", timeout_ms=int(max(1, min(20, deadline - time.time())) * 1000))
            except RuntimeError:
                continue
            inputs = stats["inputs"]
            #  Feedback waits for the event clock (README, "Time"): what is
            #  ahead of it is not applied yet
            due = sum(1 for _, body in self.back.journal if json.loads(body)["time"] <= stats["now"])
            if (inputs.get("feed", {}).get("position", 0) >= len(self.up.journal)
                    and inputs.get("feedback", {}).get("position", 0) >= due):
                return True
        raise RuntimeError("the scheduler did not apply what was fed:\n" + self.p.log("scheduler")[-3000:])

    def close(self):
        self.up.close()
        self.back.close()


class Reader(JournalReader):
    """The scheduler's journal, read as consumer "sink" reads it."""

    def __init__(self, p, stage="scheduler", consumer="sink", window=20000):
        JournalReader.__init__(self, p, stage, consumer, window)

    def drain(self, p, timeout=30):
        """Reads until the scheduler's journal head is reached."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            head = p.control("scheduler")["journal"]["head"]
            if self.position >= head:
                return True
            self.poll(0.2)
        return False

    def topic(self, prefix):
        return [b for _, t, b in self.messages if t.startswith(prefix)]

    def sends(self, user=None, journey=None, step=None):
        """The send orders read so far, of user, journey and step where given."""
        return [b for b in self.topic("send.") if (user is None or b["user"] == user)
                and (journey is None or b["journey"] == journey) and (step is None or b["step"] == step)]

    def one(self, user, journey, step, hours, channel):
        """The only send order of user's step, checked for time (hours on
        from T0), channel, template and idempotency key: (it or None, all
        of the step's)."""
        got = self.sends(user, journey, step)
        ok = (len(got) == 1 and got[0]["time"] == iso(hours) and got[0]["channel"] == channel
              and got[0]["template"] == "%s/%s" % (journey, step)
              and got[0]["idempotency_key"] == "%s/%s/%s/%s" % (journey, got[0]["instance"], step, channel))
        return (got[0] if ok else None), got


def start_scheduler(p):
    """Starts p's scheduler; returns its Feed, its Reader and at(hours): the
    event clock moved on to hours, the feed settled, all it wrote read."""
    p.start("scheduler")
    feed, reader = Feed(p), Reader(p)

    def at(hours):
        feed.tick(hours)
        feed.settle()
        reader.drain(p)
    return feed, reader, at

