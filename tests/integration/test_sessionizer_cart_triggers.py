#!/usr/bin/python3
"""sessionizer: cart.browsing and cart.returned, and what goes with a cart.

Real collector and sessionizer, event time (the harness of
test_sessionizer: /v1/tick moves time, the tap shows what came out).

  orders teach what goes with boots: one order with boots and 19 other
    products, three with boots and gaiters: goes_with puts gaiters first,
    at most four, never boots itself (the bounded table keeps 16 partners
    a product: the rare ones make room);
  A adds boots and views three more products: one cart.browsing with the
    cart, A's anonymous ids and goes_with; a fourth view sends nothing more;
  B adds boots and starts checkout: no cart.browsing however much B views;
  C views products before adding, then two after: nothing (views count
    after the last add);
  D adds and views twice; the sessionizer is killed -9 and restarted; the
    third view after the add still makes D's cart.browsing;
  the next day A comes back: cart.returned with the cart; E, who ordered
    what E had in the cart, comes back: nothing.
"""

from ndtest import Pipeline, check, done, wait_for
from sesstest import Shop, boots


def item(pid, name, price=10.0):
    return {"product_id": pid, "name": name, "price": price, "quantity": 1,
            "url": "https://shop.example/p/" + pid, "image_url": "https://shop.example/i/%s.jpg" % pid}


GAITERS = item("p-gaiters", "Gaiters", 19.9)

with Pipeline(clock="event", sync=True) as p:
    p.start("collector")
    p.start("sessionizer")
    shop = Shop(p)

    crowd = [item("p-%d" % i, "Thing %d" % i) for i in range(19)]
    shop.send(shop.track("Order Completed", 0, 1, anon="b-0", order_id="o-0", currency="EUR",
                         products=[dict(boots(), quantity=1)] + crowd),
              *[shop.track("Order Completed", 0, 2 + i, anon="b-%d" % (i + 1), order_id="o-%d" % (i + 1),
                           currency="EUR", products=[dict(boots(), quantity=1), GAITERS])
                for i in range(3)])

    shop.send(shop.track("Product Added", 0, 10, anon="a-A", **boots()),
              shop.track("Product Viewed", 0, 11, anon="a-A", **item("p-1", "Thing 1")),
              shop.track("Product Viewed", 0, 12, anon="a-A", **item("p-2", "Thing 2")))
    check("two views after the add: no cart.browsing yet", shop.out("cart.browsing") == [])
    shop.send(shop.track("Product Viewed", 0, 13, anon="a-A", **item("p-3", "Thing 3")))
    got = wait_for(lambda: shop.out("cart.browsing"), timeout=10) or [{}]
    body = got[0]
    goes = body.get("goes_with", [])
    check("the third view after the add: cart.browsing with the cart and A's anonymous ids",
          len(got) == 1 and body.get("cart", {}).get("items", [{}])[0].get("name") == "Trail boots"
          and body.get("anonymousIds") == ["a-A"] and body.get("anonymousId") == "a-A"
          and body.get("session"), body)
    check("goes_with: gaiters first (bought with boots three times), at most four, not boots",
          goes and goes[0].get("name") == "Gaiters" and goes[0].get("price") == 19.9
          and goes[0].get("currency") == "EUR" and goes[0].get("url") == "https://shop.example/p/p-gaiters"
          and len(goes) <= 4 and all(g.get("product_id") != "p-boots" for g in goes), goes)
    shop.send(shop.track("Product Viewed", 0, 14, anon="a-A", **item("p-4", "Thing 4")))
    check("a fourth view: nothing more this session", len(shop.out("cart.browsing")) == 1)

    shop.send(shop.track("Product Added", 0, 20, anon="a-B", **boots()),
              shop.track("Checkout Started", 0, 21, anon="a-B", products=[dict(boots(), quantity=1)]),
              *[shop.track("Product Viewed", 0, 22 + i, anon="a-B", **item("p-%d" % i, "Thing")) for i in range(4)])
    shop.send(shop.track("Product Viewed", 0, 30, anon="a-C", **item("p-1", "Thing 1")),
              shop.track("Product Viewed", 0, 31, anon="a-C", **item("p-2", "Thing 2")),
              shop.track("Product Viewed", 0, 32, anon="a-C", **item("p-3", "Thing 3")),
              shop.track("Product Added", 0, 33, anon="a-C", **boots()),
              shop.track("Product Viewed", 0, 34, anon="a-C", **item("p-4", "Thing 4")),
              shop.track("Product Viewed", 0, 35, anon="a-C", **item("p-5", "Thing 5")))
    check("not after a checkout began, nor for views before the add",
          [b.get("anonymousId") for b in shop.out("cart.browsing")] == ["a-A"], shop.out("cart.browsing"))

    shop.send(shop.track("Product Added", 0, 40, anon="a-D", **boots()),
              shop.track("Product Viewed", 0, 41, anon="a-D", **item("p-1", "Thing 1")),
              shop.track("Product Viewed", 0, 42, anon="a-D", **item("p-2", "Thing 2")))
    p.kill("sessionizer")
    p.start("sessionizer")
    shop.tap.close()
    shop.tap = p.tap("sessionizer", "")     # the stage's PUB socket is a new one
    shop.send(shop.track("Product Viewed", 0, 43, anon="a-D", **item("p-3", "Thing 3")))
    check("kill -9 between views: the count survives, D's cart.browsing comes",
          wait_for(lambda: p.control("sessionizer").get("carts_browsing") == 2, timeout=10),
          p.control("sessionizer"))

    shop.send(shop.track("Product Added", 0, 50, anon="a-E", **boots()),
              shop.track("Order Completed", 0, 51, anon="a-E", order_id="o-E", currency="EUR"))
    shop.tick(0, 200)
    shop.send(shop.event("page", 1, 0, anon="a-A", name="Home"),
              shop.event("page", 1, 1, anon="a-E", name="Home"))
    back = wait_for(lambda: shop.out("cart.returned"), timeout=10) or [{}]
    check("the next day A comes back to the full cart: cart.returned with it; E ordered: nothing",
          [b.get("anonymousId") for b in back] == ["a-A"]
          and back[0].get("cart", {}).get("items", [{}])[0].get("product_id") == "p-boots"
          and back[0].get("anonymousIds") == ["a-A"], back)
    stats = p.control("sessionizer")
    check("STATS: carts_browsing 2, carts_returned 1",
          stats.get("carts_browsing") == 2 and stats.get("carts_returned") == 1, stats)
done()
