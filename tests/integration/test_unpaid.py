#!/usr/bin/python3
"""Unpaid orders and expiring codes, shipped journeys, event time.

Unpaid orders, end to end: collector -> sessionizer -> segmenter ->
scheduler (unpaid-order and abandoned-cart), real processes:
  Ann (Polish, Warsaw) orders with payment_status "pending": order.placed,
    a reminder about two hours later with her order's date and total for
    her locale ("2 marca 2026", "129,00 zł"); she pays (Order Paid): no
    last call;
  Bo sends Order Placed and never pays: the reminder, and a day later the
    last call;
  Cy leaves a cart, then orders it unpaid before the cart reminder is due:
    no cart reminder (the unpaid order ended it), the payment reminder;
  Dee places an order and cancels it: nothing.

Expiring codes: the scheduler fed by Python (abandoned-cart and
code-expiring): Eve gets reminder-2's code (valid 48 h) and never orders:
one "expires tomorrow" a day before it lapses, with the code; Finn orders
after the code came: none.
"""
import os

from ndtest import ROOT, JournalServer, Pipeline, check, done
from schedtest import Feed, Reader, journeys_only, scheduler_options, users_in
import shoptest


class Shop(shoptest.Shop):
    def __init__(self, p):
        super().__init__(p, (("collector", "sessionizer"), ("sessionizer", "segmenter"),
                             ("segmenter", "scheduler")))

    def who(self, minutes, anon, name, **traits):
        traits.update(email="%s@example.com" % anon, firstName=name)
        return self.event("identify", minutes, anon, traits=traits)

    def ordered(self, minutes, anon, event, **properties):
        properties.setdefault("order_id", "o-" + anon)
        return self.track(minutes, anon, event, properties)


BOOTS = {"product_id": "p-boots", "name": "Boots", "price": 129.0, "quantity": 1,
         "url": "https://shop.example/p/boots"}

extra = {"segmenter": {"input": "sessionizer", "segments": os.path.join(ROOT, "conf", "segments.zpl")},
         "scheduler": scheduler_options(journeys_only("unpaid-order", "abandoned-cart"),
                                        input="segmenter"),
         "sink": {"input": "scheduler"}}

with Pipeline(clock="event", extra=extra) as p:
    for stage in ("collector", "sessionizer", "segmenter", "scheduler"):
        p.start(stage)
    shop, reader = Shop(p), Reader(p)

    def sends(journey=None, step=None):
        reader.drain(p)
        return [s for s in reader.sends() if (journey is None or s["journey"] == journey)
                and (step is None or s["step"] == step)]

    def who_got(journey, step):
        return sorted(s["data"].get("first_name") for s in sends(journey, step))

    shop.send(shop.who(0, "a-ann", "Ann", locale="pl-PL", timezone="Europe/Warsaw"),
              shop.who(0, "a-bo", "Bo"), shop.who(0, "a-cy", "Cy"), shop.who(0, "a-dee", "Dee"),
              shop.add(1, "a-ann", "Boots", "p-boots", 129.0),
              shop.add(2, "a-cy", "Hat", "p-hat", 25.0),
              shop.ordered(5, "a-ann", "Order Completed", payment_status="pending",
                           currency="PLN", total=129.0, products=[BOOTS]),
              shop.ordered(6, "a-bo", "Order Placed", currency="EUR", total=40.0,
                           products=[dict(BOOTS, price=40.0)]),
              shop.ordered(7, "a-dee", "Order Placed", currency="EUR", total=10.0))
    shop.tick(35)                     # Cy's visit is over: cart.abandoned at +32 min
    shop.send(shop.ordered(40, "a-cy", "Order Completed", financial_status="pending",
                           currency="EUR", total=25.0),
              shop.ordered(60, "a-dee", "Order Cancelled"))
    shop.tick(100)
    check("no cart reminder for Cy: her unpaid order ended the cart journey",
          sends("abandoned-cart") == [], sends("abandoned-cart"))
    check("nothing before two hours have passed", sends("unpaid-order") == [])
    shop.tick(170)
    check("Ann, Bo and Cy get the payment reminder about two hours after ordering; Dee nothing",
          who_got("unpaid-order", "reminder") == ["Ann", "Bo", "Cy"],
          [(s["user"], s["time"]) for s in sends("unpaid-order")])
    ann = ([s for s in sends("unpaid-order", "reminder") if s["data"].get("first_name") == "Ann"]
           or [{}])[0]
    data = ann.get("data", {})
    check("Ann's reminder: in Polish, her order's date and total formatted for pl",
          ann.get("locale") == "pl" and data.get("placed_text") == "2 marca 2026"
          and data.get("value_text") == "129,00\u00a0zł" and data.get("order_id") == "o-a-ann",
          (ann.get("locale"), data.get("placed_text"), data.get("value_text")))

    shop.send(shop.ordered(200, "a-ann", "Order Paid", currency="PLN", total=129.0))
    shop.tick(26 * 60)
    check("a day later the last call goes to Bo and Cy, not to Ann, who paid",
          who_got("unpaid-order", "last-call") == ["Bo", "Cy"],
          [(s["user"], s["time"]) for s in sends("unpaid-order", "last-call")])
    check("each got one reminder and one last call at most",
          len(sends("unpaid-order", "reminder")) == 3 and len(sends("unpaid-order")) == 5)


#  Codes that expire tomorrow ------------------------------------------------
#  The cart's code made valid 5 days (the shipped 48 h get no reminder)
journeys = journeys_only("code-expiring")
with open(os.path.join(ROOT, "conf", "journeys", "abandoned-cart.zpl")) as f:
    shipped = f.read()
check("the shipped cart code is valid 48 h", "valid = 48h" in shipped)
with open(os.path.join(journeys, "abandoned-cart.zpl"), "w") as f:
    f.write(shipped.replace("valid = 48h", "valid = 5d"))
with Pipeline(clock="event", extra={
        "feed": {}, "feedback": {}, "sink": {"input": "scheduler"},
        "scheduler": scheduler_options(journeys)}) as p:
    p.start("scheduler")
    feed, reader = Feed(p), Reader(p)
    eve, finn = users_in("abandoned-cart", "treated", 2)

    def sent(journey, step, user=None):
        feed.settle()
        reader.drain(p)
        return [s for s in reader.sends(user) if s["journey"] == journey and s["step"] == step]

    feed.abandon(eve, 0)
    feed.abandon(finn, 0.01)
    for hours in (1.5, 12, 24.5):
        feed.tick(hours)
    codes = {s["user"]: s["data"].get("code", {}) for s in sent("abandoned-cart", "reminder-2")}
    check("both get reminder-2 with a 5-day code", sorted(codes) == sorted([eve, finn])
          and all(c.get("code") for c in codes.values()), codes)
    feed.order(finn, 30)
    for hours in (40, 100, 119.5):
        feed.tick(hours)
    check("nothing more than a day before the code expires", sent("code-expiring",
                                                                  "expires-tomorrow") == [])
    for hours in (120.5, 130, 150, 200):
        feed.tick(hours)
    got = sent("code-expiring", "expires-tomorrow")
    check("Eve, who did not order, gets \"expires tomorrow\" once, a day before the code lapses",
          [s["user"] for s in got] == [eve], [(s["user"], s["time"]) for s in got])
    code = (got or [{}])[0].get("data", {}).get("code", {})
    check("with her code and its expiry for her locale",
          code.get("code") == codes.get(eve, {}).get("code")
          and code.get("expires_text", "").startswith("March 8, 2026"), code)
    check("Finn ordered after his code came: no reminder", sent("code-expiring",
                                                                "expires-tomorrow", finn) == [])
    feed.close()
done()
