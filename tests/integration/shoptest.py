"""shoptest - a shop feeding the whole pipeline through the collector
(not a test itself).

    Shop      Segment events into the collector, in event time from T0 (a
              Monday noon UTC); settle() waits until every link has carried
              what is in its upstream's journal. The tests of a stage
              subclass it for their own events (chattest.Shop)
    shipped   an option's value in conf/pipeline.zpl, as make run uses it
"""
import datetime
import os

import ndtest
from ndtest import ROOT, wait_for

T0 = datetime.datetime(2026, 3, 2, 12, 0, 0)


def ts(minutes):
    return (T0 + datetime.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class Shop:
    """Segment events into the collector; settle() waits until every link
    has carried what is in its upstream's journal."""

    def __init__(self, p, links):
        self.p, self.links, self.n = p, links, 0

    def event(self, kind, minutes, anon, **fields):
        self.n += 1
        e = {"type": kind, "messageId": "m-%d" % self.n, "anonymousId": anon, "timestamp": ts(minutes)}
        e.update(fields)
        return e

    def track(self, minutes, anon, name, properties):
        return self.event("track", minutes, anon, event=name, properties=properties)

    def add(self, minutes, anon, name, product_id, price):
        return self.event("track", minutes, anon, event="Product Added", properties={
            "product_id": product_id, "name": name, "price": price, "quantity": 1,
            "url": "https://shop.example/p/" + product_id})

    def order(self, minutes, anon, *products):
        return self.track(minutes, anon, "Order Completed", {
            "order_id": "o-%s" % anon, "currency": "EUR", "products": list(products),
            "total": sum(x["price"] for x in products)})

    def send(self, *events):
        self._post(list(events))

    def browser(self, *events):
        """As the shop's page sends them: with the browser key, from the
        shop's origin (before browser keys: marked "via": "browser")."""
        key = getattr(ndtest, "BROWSER_KEY", None)
        batch = [dict(e) if key else dict(e, via="browser") for e in events]
        origin = {"Origin": getattr(ndtest, "BROWSER_ORIGIN", "http://127.0.0.1:8000")}
        self._post(batch, **({"key": key, "headers": origin} if key else {}))

    def _post(self, batch, **how):
        status, answer = self.p.post("/v1/batch", {"batch": batch}, **how)
        if status != 200:
            raise RuntimeError("collector answered %s: %s" % (status, answer))
        self.settle()

    def tick(self, minutes):
        self.p.post("/v1/tick", {"time": ts(minutes)})
        self.settle()

    def settle(self, links=None):
        for _ in range(3):          # feedback goes round once more
            for up, down in links or self.links:
                head = self.p.control(up)["journal"]["head"]
                if not wait_for(lambda: self.p.control(down)["inputs"][up]["position"] >= head, 20):
                    raise RuntimeError("%s did not catch up with %s" % (down, up))



def shipped(section, option):
    """An option's value in conf/pipeline.zpl, as make run uses it."""
    current = None
    with open(os.path.join(ROOT, "conf", "pipeline.zpl")) as f:
        for line in f:
            text = line.split("#")[0].rstrip()
            if text and not text[0].isspace():
                current = text.strip()
            elif current == section and "=" in text and text.split("=")[0].strip() == option:
                return text.split("=", 1)[1].strip().strip('"')
    return None
