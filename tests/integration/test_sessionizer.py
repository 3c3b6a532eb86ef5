#!/usr/bin/python3
"""sessionizer: sessions, carts, identity and abandonment, end to end.

Real collector and sessionizer in event time. Each scenario runs on its own
day, so the clock only moves forward: events go in through the collector's
Segment API with explicit timestamps, /v1/tick moves time past the session
timeout (30m), and the sessionizer's tap shows what came out.
"""
from ndtest import Pipeline, check, done
from sesstest import Shop, boots, socks, ts


def scenario_abandoned_cart(s):
    day = 0
    s.send(s.track("Product Viewed", day, 0, anon="a-cart", **boots()),
           s.track("Product Added", day, 1, anon="a-cart", **boots(quantity=2)),
           s.track("Product Added", day, 2, anon="a-cart", **socks()),
           s.track("Product Added", day, 3, anon="a-cart", **socks(quantity=2)),
           s.track("Product Removed", day, 4, anon="a-cart", product_id="p-socks", quantity=1))
    v = s.visitor_of("a-cart")
    check("(a) events are forwarded with user = a minted visitor id",
          v and v.startswith("v-") and all(b.get("visitor") == v for b in s.out(visitor=v)
                                           if "visitor" in b), v)
    s.tick(day, 35)
    c = s.only("cart.abandoned", v, "(a) silence past the timeout: exactly one cart.abandoned")
    if c:
        items = {i["name"]: i["quantity"] for i in c["cart"]["items"]}
        check("(a) the cart's items, names and quantities",
              items == {"Trail boots": 2, "Wool socks": 2}, c["cart"])
        check("(a) the cart's value", abs(c["cart"]["value"] - (2 * 89.9 + 2 * 7.5)) < 0.001, c["cart"])
        boot = [i for i in c["cart"]["items"] if i["product_id"] == "p-boots"][0]
        check("(a) items keep url, image_url, sku, category",
              boot.get("image_url", "").endswith("boots.jpg") and boot.get("sku") == "B-42"
              and boot.get("category") == "Shoes", boot)
        check("(a) its time is the last activity + 30m", c["time"] == ts(day, 34), c["time"])
        check("(a) its id derives from the session", c["id"].endswith(":cart.abandoned"), c["id"])
        check("(a) no checkout.abandoned for a cart-only visit",
              not s.out("checkout.abandoned", v))
    ended = s.out("session.ended", v)
    check("(a) one session.ended with the summary",
          len(ended) == 1 and ended[0]["events"] == 5 and ended[0]["cart_items"] == 4
          and ended[0]["funnel_step"] == "cart" and ended[0]["ordered"] is False, ended)
    s.tick(day, 90)
    s.tick(day, 600)
    check("(a) later ticks bring no second cart.abandoned", len(s.out("cart.abandoned", v)) == 1)


def scenario_order(s):
    day = 1
    s.send(s.track("Product Added", day, 0, anon="a-order", **boots()),
           s.track("Checkout Started", day, 2, anon="a-order", checkout_id="c-1",
                   products=[boots(quantity=1)]),
           s.track("Order Completed", day, 5, anon="a-order", order_id="o-1", total=99.9,
                   revenue=89.9, currency="EUR", products=[boots(quantity=1)]))
    v = s.visitor_of("a-order")
    s.tick(day, 40)
    o = s.only("order.completed", v, "(b) one order.completed")
    if o:
        check("(b) order.completed has order_id, total, currency, products",
              o["order_id"] == "o-1" and o["total"] == 99.9 and o["value"] == 99.9
              and o["currency"] == "EUR" and o["products"][0]["product_id"] == "p-boots", o)
    check("(b) an order ends in no cart.abandoned", not s.out("cart.abandoned", v))
    check("(b) and no checkout.abandoned", not s.out("checkout.abandoned", v))
    updates = s.out("cart.updated", v)
    check("(b) the order emptied the cart", updates and updates[-1]["cart"]["items"] == [], updates)
    ended = s.out("session.ended", v)
    check("(b) session.ended says ordered, funnel step order",
          len(ended) == 1 and ended[0]["ordered"] is True and ended[0]["funnel_step"] == "order", ended)


def scenario_two_devices(s):
    day = 2
    s.send(s.track("Product Added", day, 0, anon="phone-1", name="Rain hat", product_id="p-hat",
                   price=20, quantity=1),
           s.event("identify", day, 1, anon="phone-1", user="u-ada",
                   traits={"email": "ada@example.com", "firstName": "Ada"}),
           s.event("identify", day, 10, anon="laptop-1", user="u-ada"),
           s.track("Product Added", day, 11, anon="laptop-1", user="u-ada", **socks()),
           s.event("page", day, 12, anon="laptop-1", name="Cart"))
    phone, laptop = s.visitor_of("phone-1"), s.visitor_of("laptop-1")
    check("(c) phone and laptop are one visitor", phone and phone == laptop, (phone, laptop))
    s.tick(day, 45)
    mine = [b for t, b in s.tap.messages if t != "tick" and
            (b.get("anonymousId") in ("phone-1", "laptop-1") or b.get("userId") == "u-ada")]
    check("(c) a single visitor id in every output about Ada",
          len({b["user"] for b in mine}) == 1, sorted({b["user"] for b in mine}))
    c = s.only("cart.abandoned", phone, "(c) one cart.abandoned")
    if c:
        names = sorted(i["name"] for i in c["cart"]["items"])
        check("(c) it holds the items of both devices", names == ["Rain hat", "Wool socks"], names)
        check("(c) it names the userId and how to reach her",
              c.get("userId") == "u-ada" and c["traits"].get("email") == "ada@example.com"
              and c["contact"]["email"] is True and c["contact"]["sms"] is False, c)
    profiles = s.out("profile.updated", phone)
    check("(c) profile.updated carries the traits",
          profiles and profiles[-1]["traits"].get("firstName") == "Ada"
          and set(profiles[-1]["anonymousIds"]) >= {"phone-1"}, profiles)
    log = s.p.log("sessionizer")
    check("(c) the log never shows the e-mail address", "ada@example.com" not in log)


def scenario_merge(s):
    day = 3
    s.send(s.track("Product Added", day, 0, anon="phone-2", name="Gloves", product_id="p-gloves",
                   price=15),
           s.track("Product Added", day, 2, anon="laptop-2", name="Belt", product_id="p-belt",
                   price=30),
           s.event("identify", day, 3, anon="phone-2", user="u-bo",
                   traits={"phone": "+4790000000", "sms_consent": True}),
           s.event("identify", day, 5, anon="laptop-2", user="u-bo"))
    phone, laptop = s.visitor_of("phone-2"), s.visitor_of("laptop-2")
    merged = s.out("visitor.merged")
    merged = [m for m in merged if m.get("merged") == laptop]
    check("(c2) two existing visitors found to be one: visitor.merged",
          len(merged) == 1 and merged[0]["user"] == phone, merged)
    s.send(s.track("Product Viewed", day, 8, anon="laptop-2", **boots()))
    later = s.out("event.track")[-1]
    check("(c2) later events of the merged-away id reach the survivor", later["user"] == phone, later)
    s.tick(day, 40)
    carts = s.out("cart.abandoned", phone)
    check("(c2) one cart.abandoned with both devices' items",
          len(carts) == 1 and sorted(i["name"] for i in carts[0]["cart"]["items"]) == ["Belt", "Gloves"],
          carts)
    check("(c2) none for the merged-away visitor", not s.out("cart.abandoned", laptop))
    if carts:
        check("(c2) contact by sms", carts[0]["contact"]["sms"] is True, carts[0]["contact"])
    ends = s.out("session.ended", laptop)
    check("(c2) the merged-away session ends as merged",
          len(ends) == 1 and ends[0]["reason"] == "merged" and ends[0]["merged_into"] == phone, ends)


def scenario_still_active(s):
    day = 4
    s.send(s.track("Product Added", day, 0, anon="a-active", **socks()))
    v = s.visitor_of("a-active")
    for minute in range(10, 61, 10):
        s.send(s.event("page", day, minute, anon="a-active", name="Browsing"))
        s.tick(day, minute + 9)
    check("(d) active every 10 minutes for an hour: no cart.abandoned",
          not s.out("cart.abandoned", v) and not s.out("session.ended", v))
    s.tick(day, 89)
    check("(d) still none 29 minutes after the last event", not s.out("cart.abandoned", v))
    s.tick(day, 91)
    carts = s.out("cart.abandoned", v)
    check("(d) one once they went quiet, at last activity + 30m",
          len(carts) == 1 and carts[0]["time"] == ts(day, 90), carts)
    ended = s.out("session.ended", v)
    check("(d) one session for the whole hour", len(ended) == 1 and ended[0]["events"] == 7
          and ended[0]["pages"] == 6, ended)


def scenario_browse(s):
    day = 5
    s.send(s.track("Product Viewed", day, 0, anon="a-browse", **boots()),
           s.track("Product Viewed", day, 1, anon="a-browse", **socks()),
           s.track("Product Viewed", day, 2, anon="a-browse", **boots()),
           s.track("Product Viewed", day, 0, anon="a-glance", **boots()),
           s.track("Product Viewed", day, 1, anon="a-glance", **socks()))
    v, glance = s.visitor_of("a-browse"), s.visitor_of("a-glance")
    s.tick(day, 40)
    browse = s.only("browse.abandoned", v, "(e) three product views, nothing added: one browse.abandoned")
    if browse:
        views = {p["product_id"]: p["views"] for p in browse["products"]}
        check("(e) it lists the products viewed, with counts",
              views == {"p-boots": 2, "p-socks": 1} and browse["products_viewed"] == 3, browse)
    check("(e) no cart.abandoned for an empty cart", not s.out("cart.abandoned", v))
    check("(e) two views are not a browse", not s.out("browse.abandoned", glance))


def scenario_checkout(s):
    day = 6
    s.send(s.track("Product Added", day, 0, anon="a-checkout", **boots()),
           s.track("Checkout Started", day, 3, anon="a-checkout", checkout_id="c-9"),
           s.track("Payment Info Entered", day, 5, anon="a-checkout", checkout_id="c-9"))
    v = s.visitor_of("a-checkout")
    s.tick(day, 40)
    c = s.only("checkout.abandoned", v, "(f) payment entered, no order: one checkout.abandoned")
    if c:
        check("(f) it names the step, the checkout and the cart",
              c["funnel_step"] == "payment" and c.get("checkout_id") == "c-9"
              and c["cart"]["items"][0]["product_id"] == "p-boots", c)
    check("(f) and one cart.abandoned beside it", len(s.out("cart.abandoned", v)) == 1)
    s.tick(day, 200)
    check("(f) never twice", len(s.out("checkout.abandoned", v)) == 1)


with Pipeline(clock="event") as p:
    p.start("collector")
    p.start("sessionizer")
    shop = Shop(p)
    scenario_abandoned_cart(shop)
    scenario_order(shop)
    scenario_two_devices(shop)
    scenario_merge(shop)
    scenario_still_active(shop)
    scenario_browse(shop)
    scenario_checkout(shop)

    stats = p.control("sessionizer")
    check("STATS counts applied events", stats.get("applied") == shop.sent, stats)
    check("STATS counts abandonments",
          stats.get("carts_abandoned") == 5 and stats.get("checkouts_abandoned") == 1
          and stats.get("browses_abandoned") == 1 and stats.get("sessions_open") == 0, stats)
    p.stop("sessionizer")
    p.start("sessionizer")
    again = p.control("sessionizer")
    check("applied and forwarded survive a restart",
          again.get("applied") == shop.sent and again.get("forwarded") == shop.sent, again)
done()
