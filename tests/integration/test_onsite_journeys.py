#!/usr/bin/python3
"""On-site messages end to end: collector -> sessionizer -> segmenter ->
scheduler -> onsite, real processes, event time, the shipped journeys
cart-browsing, cart-returned and abandoned-cart and their templates.

  Three orders teach what goes with boots: gaiters twice, socks and laces
    once each;
  Ann (an e-mail address, so a mail could reach her) adds boots and views
    three more products: cart.browsing, and the onsite poll for her
    anonymous id shows the card "goes well with your cart" with gaiters,
    laces and socks, not the boots; nothing goes to her by push or e-mail
    while she browses; a fourth view starts nothing more;
  Ann's page reports the card shown, then clicked: it is not served again
    and the scheduler counts delivered and clicked for the step;
  Cid leaves a hat in the cart and comes back in a new session: the
    banner "your cart is waiting" with the hat, for his anonymous id only.
"""
import json
import os
import subprocess
import urllib.error
import urllib.request

from ndtest import BIN, ROOT, Pipeline, check, done, free_port, wait_for
from schedtest import Reader, journeys_only, scheduler_options
from shoptest import Shop

def product(pid, name, price):
    return {"product_id": pid, "sku": "SKU-" + pid, "name": name, "price": price, "quantity": 1,
            "url": "https://shop.example/p/" + pid, "image_url": "https://shop.example/i/%s.jpg" % pid}


BOOTS, GAITERS, SOCKS, LACES, HAT, SCARF = (product("p-boots", "Boots", 129.0),
    product("p-gaiters", "Gaiters", 19.9), product("p-socks", "Socks", 9.5),
    product("p-laces", "Laces", 3.0), product("p-hat", "Hat", 25.0), product("p-scarf", "Scarf", 30.0))


def call(port, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data,
                                 method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


port = free_port()
extra = {"segmenter": {"input": "sessionizer", "segments": os.path.join(ROOT, "conf", "segments.zpl")},
         "scheduler": scheduler_options(journeys_only("cart-browsing", "cart-returned", "abandoned-cart"),
                                        input="segmenter, onsite"),
         "onsite": {"input": "scheduler", "topics": "send.onsite", "http": "127.0.0.1:%d" % port,
                    "templates": os.path.join(ROOT, "conf", "templates")},
         "sink": {"input": "scheduler"}}

with Pipeline(clock="event", extra=extra) as p:
    for stage in ("collector", "sessionizer", "segmenter", "scheduler", "onsite"):
        p.start(stage)
    shop, reader = Shop(p, (("collector", "sessionizer"), ("sessionizer", "segmenter"),
                            ("segmenter", "scheduler"), ("scheduler", "onsite"),
                            ("onsite", "scheduler"))), Reader(p)

    def poll(anon):
        status, body = call(port, "/onsite/poll?visitor=" + anon)
        return body.get("messages") if status == 200 else None

    def sends_to(anon, email=None):
        reader.drain(p)
        return [s for s in reader.sends() if s["to"] == email or anon in (s["to"] or [])]

    shop.send(shop.order(0, "a-b1", BOOTS, GAITERS, SOCKS),
              shop.order(1, "a-b2", BOOTS, GAITERS),
              shop.order(2, "a-b3", LACES, BOOTS))
    shop.send(shop.event("identify", 5, "a-ann", traits={"email": "ann@example.com", "firstName": "Ann"}),
              shop.track(10, "a-ann", "Product Viewed", BOOTS),
              shop.track(11, "a-ann", "Product Added", BOOTS),
              shop.track(12, "a-ann", "Product Viewed", HAT),
              shop.track(13, "a-ann", "Product Viewed", SCARF))
    check("two views after the add: nothing yet", poll("a-ann") == [] and sends_to("a-ann") == [],
          sends_to("a-ann"))
    shop.send(shop.track(14, "a-ann", "Product Viewed", GAITERS))
    card = wait_for(lambda: poll("a-ann"), timeout=10) or [{}]
    check("the third view after the add: a card for Ann's anonymous id", len(card) == 1
          and card[0].get("kind") == "card" and card[0].get("title") == "Goes well with your cart",
          card)
    names = [x.get("name") for x in card[0].get("products", [])]
    check("with what others bought with boots, best first, not the boots in her cart",
          names == ["Gaiters", "Laces", "Socks"], card[0].get("products"))
    gaiters = (card[0].get("products") or [{}])[0]
    check("each with its link, picture, price and currency",
          gaiters.get("url") == "https://shop.example/p/p-gaiters"
          and gaiters.get("image_url") == "https://shop.example/i/p-gaiters.jpg"
          and gaiters.get("price") == 19.9 and gaiters.get("currency") == "EUR", gaiters)
    sent = sends_to("a-ann", "ann@example.com")
    check("her only message is the on-site card: no push or e-mail while she browses",
          [(s["journey"], s["channel"]) for s in sent] == [("cart-browsing", "onsite")], sent)
    shop.send(shop.track(15, "a-ann", "Product Viewed", SOCKS))
    check("a fourth view starts nothing more (once a session)",
          p.control("sessionizer")["carts_browsing"] == 1 and len(sends_to("a-ann")) == 1,
          p.control("sessionizer"))

    message = card[0].get("id", "")
    check("shown and clicked: 200",
          call(port, "/onsite/event", {"id": message, "visitor": "a-ann", "action": "shown"})[0] == 200
          and call(port, "/onsite/event", {"id": message, "visitor": "a-ann", "action": "clicked"})[0] == 200)
    shop.settle()
    check("a card shown is not served again", poll("a-ann") == [])
    report = subprocess.run([os.path.join(BIN, "nd-report"), "-c", p.config, "--json"],
                            capture_output=True, text=True)
    steps = {}
    for v in json.loads(report.stdout or "{}").get("counters", {}).get("cart-browsing", {}).values():
        for step, channels in v.get("steps", {}).items():
            for channel, metrics in channels.items():
                for metric, n in metrics.items():
                    steps[(step, channel, metric)] = steps.get((step, channel, metric), 0) + n
    check("the scheduler counts the card sent, delivered and clicked",
          steps.get(("goes-with", "onsite", "sent")) == 1
          and steps.get(("goes-with", "onsite", "delivered")) == 1
          and steps.get(("goes-with", "onsite", "clicked")) == 1, (steps, report.stderr[-300:]))
    totals = p.control("scheduler")["scheduler"]["counts"]
    check("and in STATS", totals.get("feedback.delivered") == 1 and totals.get("feedback.clicked") == 1,
          totals)

    shop.send(shop.track(20, "a-cid", "Product Added", HAT))
    shop.tick(60)
    check("Cid's first visit with a hat in the cart: no banner", poll("a-cid") == [])
    shop.send(shop.event("page", 70, "a-cid", name="Home", properties={"path": "/"}))
    banner = wait_for(lambda: poll("a-cid"), timeout=10) or [{}]
    check("Cid comes back with the cart still full: the banner, with the hat",
          len(banner) == 1 and banner[0].get("kind") == "banner"
          and banner[0].get("title") == "Your cart is waiting"
          and [x.get("name") for x in banner[0].get("products", [])] == ["Hat"]
          and "Hat" in banner[0].get("body", ""), banner)
    check("for his anonymous id only", poll("a-ann") == [] and poll("a-b1") == [])
    reader.close()
done()
