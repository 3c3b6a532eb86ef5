#!/usr/bin/python3
"""The abandoned-cart journey end to end: collector -> sessionizer ->
segmenter -> scheduler, real processes, event time, shipped config.

Events go in through the Segment HTTP API with explicit timestamps and
/v1/tick moves time on; the send orders are read from the scheduler's
durable journal as a sender would read them.

  Ewa identifies herself (push, SMS, e-mail; Warsaw; Polish), adds boots,
    and leaves: her session ends 30 min after her last event and the cart
    is abandoned; about an hour after that, one reminder by push, in
    Polish, with the boots in it; about a day later a second by e-mail
    with a unique 10 % code;
  Bo adds socks, leaves, gets the first reminder, orders at +2 h: no
    second reminder, and the order is credited to the first, which the
    mail-sender (a journal standing in for it) said was delivered;
  Cy adds a hat and leaves, but is browsing again when the reminder is
    due: nothing until the new visit is over.
"""
import os
import time

from ndtest import ROOT, JournalServer, Pipeline, check, done
from schedtest import Reader, journeys_only, scheduler_options, variant
import shoptest
from shoptest import ts

class Shop(shoptest.Shop):
    def __init__(self, p):
        super().__init__(p, (("collector", "sessionizer"), ("sessionizer", "segmenter"),
                             ("segmenter", "scheduler")))

    def add(self, minutes, anon, name, product_id, price):
        return self.event("track", minutes, anon, event="Product Added", properties={
            "product_id": product_id, "sku": "SKU-" + product_id, "name": name, "price": price,
            "quantity": 1, "category": "apparel", "url": "https://shop.example/p/" + product_id,
            "image_url": "https://shop.example/i/%s.jpg" % product_id})

    def page(self, minutes, anon):
        return self.event("page", minutes, anon, name="Home", properties={"path": "/"})


extra = {"segmenter": {"input": "sessionizer", "segments": os.path.join(ROOT, "conf", "segments.zpl")},
         "scheduler": scheduler_options(journeys_only("abandoned-cart"), input="segmenter, feedback"),
         "sink": {"input": "scheduler"}}

with Pipeline(clock="event", extra=extra) as p:
    for stage in ("collector", "sessionizer", "segmenter", "scheduler"):
        p.start(stage)
    shop, reader = Shop(p), Reader(p)
    feedback = JournalServer(p.ctx, p.endpoint("feedback", "out"))

    def sends(user=None, step=None):
        reader.drain(p)
        return [s for s in reader.sends(user) if step is None or s["step"] == step]

    shop.send(shop.event("identify", 0, "a-ewa", userId="u-ewa", traits={
        "email": "ewa@example.com", "firstName": "Ewa", "phone": "+48600100200", "sms_consent": True,
        "push_subscription": {"endpoint": "https://push.example/ewa", "keys": {"p256dh": "x", "auth": "y"}},
        "timezone": "Europe/Warsaw", "locale": "pl-PL"}),
        shop.add(1, "a-ewa", "Boots", "p-boots", 129.0),
        shop.event("identify", 2, "a-bo", traits={"email": "bo@example.com", "firstName": "Bo"}),
        shop.add(2, "a-bo", "Socks", "p-socks", 9.5),
        shop.event("identify", 3, "a-cy", traits={"email": "cy@example.com"}),
        shop.add(3, "a-cy", "Hat", "p-hat", 25.0))
    shop.tick(40)
    shop.tick(90)
    check("nothing while the visits are fresh (+1 h 30)", sends() == [], sends())
    shop.send(shop.page(80 + 10, "a-cy"))       # Cy is back, browsing, at +1 h 30
    shop.tick(94)
    first = sends(step="reminder-1")
    by_name = {s["data"].get("first_name") or s["to"]: s for s in first}
    check("Ewa and Bo get one reminder each about an hour after leaving (+1 h 31 .. 1 h 33)",
          sorted(by_name) == ["Bo", "Ewa"], [(s["user"], s["to"], s["time"]) for s in first])
    ewa = by_name.get("Ewa", {})
    bo = by_name.get("Bo", {})
    check("the visitors are not in the holdout (deterministic)",
          all(variant("abandoned-cart", s["user"], 500, [("a", 50), ("b", 50)]) != "holdout"
              for s in first), [s["user"] for s in first])
    check("Ewa's reminder goes by push, in Polish, with her boots",
          ewa.get("channel") == "push" and ewa.get("locale") == "pl"
          and ewa["data"]["cart"]["items"][0]["name"] == "Boots"
          and ewa["data"]["cart"]["items"][0]["image_url"].endswith("p-boots.jpg"), ewa)
    check("Bo's by e-mail, the only channel that reaches him", bo.get("channel") == "email", bo)
    check("Cy, browsing again, gets nothing yet", [s for s in first if s["to"] == "cy@example.com"] == [],
          first)

    #   The mail-sender's word that Bo's reminder reached him: an order is
    #   credited to a delivered message only (attribution.c)
    feedback.append("feedback.delivered", {"id": "fb-bo", "user": bo.get("user"), "time": ts(93),
                                           "idempotency_key": bo.get("idempotency_key"),
                                           "channel": "email"})
    deadline = time.time() + 20
    while time.time() < deadline:
        feedback.serve(0.02)
        if p.control("scheduler")["inputs"].get("feedback", {}).get("position", 0) >= 1:
            break
    shop.send(shop.page(100, "a-cy"))
    shop.send(shop.add(120, "a-bo", "Socks", "p-socks", 9.5),
              shop.event("track", 121, "a-bo", event="Order Completed", properties={
                  "order_id": "o-bo-1", "total": 19.0, "currency": "EUR",
                  "products": [{"product_id": "p-socks", "name": "Socks", "price": 9.5, "quantity": 2}]}))
    shop.tick(125)
    cy = [s for s in sends() if s["to"] == "cy@example.com"]
    check("Cy: still nothing while the new visit lasts (+2 h 05)", cy == [], cy)
    shop.tick(131)
    cy = [s for s in sends() if s["to"] == "cy@example.com"]
    check("Cy's reminder goes once the visit is over (+2 h 10)",
          len(cy) == 1 and cy[0]["time"] in (ts(130), ts(131)) and cy[0]["step"] == "reminder-1", cy)

    conversions = [b for _, t, b in reader.messages if t == "conversion"]
    check("Bo's order is credited to his reminder",
          len(conversions) == 1 and conversions[0]["user"] == bo.get("user")
          and conversions[0]["step"] == "reminder-1" and conversions[0]["channel"] == "email",
          conversions)

    shop.tick(60 * 24 + 30)
    check("no second reminder before a day has passed", sends(step="reminder-2") == [])
    shop.tick(60 * 24 + 35)
    second = sends(step="reminder-2")
    ewa2 = [s for s in second if s["user"] == ewa.get("user")]
    check("Ewa gets the second about a day later, by e-mail, with a code",
          len(ewa2) == 1 and ewa2[0]["channel"] == "email" and ewa2[0]["locale"] == "pl"
          and ewa2[0]["data"]["code"]["code"].startswith("CART-")
          and ewa2[0]["data"]["code"]["percent"] == 10, ewa2)
    check("Bo, who ordered, gets no second reminder",
          [s for s in second if s["user"] == bo.get("user")] == [], second)
    codes = [b for _, t, b in reader.messages if t == "code.issued"]
    check("the code is published for the shop on code.issued",
          [c["code"] for c in codes] == [ewa2[0]["data"]["code"]["code"]] if ewa2 else False, codes)
    reader.close()
done()
