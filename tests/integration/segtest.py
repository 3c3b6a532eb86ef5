"""segtest - what the segmenter's tests share (not a test itself).

    Shop      posts events through the collector of a collector ->
              sessionizer -> segmenter pipeline with a relay "watch" behind
              it, moves event time with /v1/tick, waits until every stage
              applied what it was given (settle) and reads the segmenter's
              output from the relay's tap: what it passed on and the
              segment.entered / segment.exited it emitted.
"""
import time

from ndtest import wait_for


class Shop:
    """Posts events, waits until the segmenter applied them, reads its tap."""

    def __init__(self, p, ts):
        self.p = p
        self.ts = ts
        self.tap = p.tap("watch", "")
        self.upstream = p.tap("sessionizer", "")
        self.seq = 0

    def track(self, event, day, minute, anon, **props):
        self.seq += 1
        return {"type": "track", "messageId": "m-%d" % self.seq, "anonymousId": anon,
                "timestamp": self.ts(day, minute), "event": event, "properties": props}

    def identify(self, day, minute, anon, user=None, **traits):
        self.seq += 1
        e = {"type": "identify", "messageId": "m-%d" % self.seq, "anonymousId": anon,
             "timestamp": self.ts(day, minute), "traits": traits}
        if user:
            e["userId"] = user
        return e

    def send(self, *events):
        status, answer = self.p.post("/v1/batch", {"batch": list(events)})
        if status != 200:
            raise RuntimeError("collector answered %s: %s" % (status, answer))
        self.settle()

    def tick(self, when):
        self.p.post("/v1/tick", {"time": when})
        self.settle()

    def settle(self):
        """Waits until each stage has applied all its upstream committed."""
        for up, down in (("collector", "sessionizer"), ("sessionizer", "segmenter"),
                         ("segmenter", "watch")):
            head = self.p.control(up)["journal"]["head"]
            if not wait_for(lambda: self.p.control(down)["inputs"][up]["position"] >= head):
                raise RuntimeError("%s did not catch up with %s" % (down, up))
        time.sleep(0.05)
        self.tap.poll(50)
        self.upstream.poll(50)

    def out(self, topic, visitor=None, segment=None):
        return [b for t, b in self.tap.messages
                if t == topic and (visitor is None or b.get("user") == visitor)
                and (segment is None or b.get("segment") == segment)]

    def visitor_of(self, anon):
        for t, b in self.tap.messages:
            if t.startswith("event.") and b.get("anonymousId") == anon:
                return b["user"]
        return None

    def changes(self, visitor, segment):
        """The segment.entered / segment.exited of visitor for segment, in order."""
        return [t.split(".")[1] for t, b in self.tap.messages
                if t.startswith("segment.") and b.get("user") == visitor
                and b.get("segment") == segment]
