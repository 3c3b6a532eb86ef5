#!/usr/bin/python3
"""The shipped journeys beside abandoned-cart, in event time, on the
shipped conf/journeys and conf/templates.

A Python journal stands in for the segmenter and feeds the real scheduler
the bodies the sessionizer and segmenter send (profile.updated,
segment.entered / segment.exited with "segment" and "cause",
checkout.abandoned, cart.abandoned, order.completed); ticks move event
time from T0, a Monday noon UTC. The send orders are read from the
scheduler's durable journal as a sender reads them.

  welcome        W1 becomes a new_subscriber: "hello" by e-mail at +2 h,
                 a 10 % HELLO code at 10:00 three days later; leaving and
                 entering new_subscriber again starts nothing (once ever).
                 W2 orders the next day: no code. W3 also left a checkout:
                 its reminder at +1 h keeps the cap's slot, hello is skipped.
  win-back       L1 lapses: "miss-you" at 10:00 the next morning, a 15 %
                 BACK code a week later; lapsing again after 30 days
                 starts nothing, after 100 days it does.
  never-bought   N1 leaves new_subscriber by the clock, not a customer:
                 one note at 10:00. Not N2 (withdrew consent), not N3 (a
                 customer).
  checkout       C1's visit reached payment: the sessionizer sends both
                 cart.abandoned and checkout.abandoned; only
                 checkout-abandoned runs: a reminder with the cart at +1 h,
                 a 10 % ORDER code at +24 h. C2 orders at +2 h: no code.
  abandoned-cart A1 left at the cart step: still its journey (and browse B1
                 gets browse-abandoned), for the rendering check; A2 (in
                 cart_just_looking) and A3 (hesitating) take their arms
                 of its branch: reminder-1.just-looking with a code,
                 reminder-1.hesitating with the chat link
                 (test_segment_branch runs them from real visits).
  post-order     the orders here (C2, W2, Y1) bring review-request and
                 repeat-purchase, and Y1 entering loyal with its order
                 loyalty-reward: for the rendering check, with orders that
                 list no products (test_journeys_post_order tests them).
  unpaid-order   U1 placed an order and never pays: a reminder at +2 h
                 and a last call a day later, for the rendering check
                 (test_unpaid tests the rest).
  code-expiring  W1's HELLO code (7 days), unused: "expires tomorrow"
                 once, six days after it came.
  birthday       D1 enters birthday at midnight: the greeting with a 15 %
                 BDAY code at 10:00 (test_journeys_birthday tests the rest).
  confirm        K1 and K2 claimed an address through a browser: the
                 confirmation mail and code SMS of the double opt-in
                 (test_optin tests them), for the rendering check.
  on-site        O1 keeps browsing with a full cart (cart.browsing, at
                 +45 min): a card "goes well with your cart" on the page at
                 once, to their anonymous ids, and nothing by push, SMS or
                 e-mail although they have all three; O2 comes back to a
                 full cart (cart.returned): the banner "your cart is
                 waiting" (test_onsite_journeys runs the whole path).

Then every shipped template, for every locale and channel part, is
rendered with the data of a real send order of its step: every variable
it uses must be in the data, and nothing may be left unrendered.
"""
# tests/run: start first (one of the longest)
import os

from ndtest import Pipeline, check, done
from rendertest import TEMPLATES, render_templates
from schedtest import CART, iso, pipeline_extra, users_in, start_scheduler

A1, A2, A3 = users_in("abandoned-cart", "treated", 3, prefix="a-")
W1, W2, W3, L1, N1, N2, N3, C1, C2, B1, Y1, D1 = ("w-1", "w-2", "w-3", "l-1", "n-1", "n-2", "n-3",
                                                   "c-1", "c-2", "b-1", "y-1", "d-1")
O1, O2 = "o-1", "o-2"
P1, P2 = "p-1", "p-2"           # back-in-stock, price-drop (test_catalogue runs the whole path)
U1 = "u-1"
GOES_WITH = [{"product_id": "p-7", "name": "Gaiters", "price": 19.9, "currency": "EUR",
              "url": "https://shop.example/p/7", "image_url": "https://shop.example/i/7.jpg"}]


# ------------------------------------------------------------------ run --

os.environ.setdefault("ND_TEST_UNSUBSCRIBE_SECRET", "test-unsubscribe-secret-0123456789")
extra = dict(pipeline_extra(), pipeline={"unsubscribe-secret": "env:ND_TEST_UNSUBSCRIBE_SECRET"})

with Pipeline(clock="event", extra=extra) as p:
    feed, reader, at = start_scheduler(p)
    sends, one = reader.sends, reader.one

    def segment(user, hours, topic, name, segments, cause="clock"):
        feed.send(topic, user, hours, visitor=user, segment=name, segments=segments, cause=cause)

    for user in (W1, W2, W3, L1, N1, N2, N3, C1, C2, A1, B1, Y1, D1, O1, O2, P1, P2, U1):
        feed.profile(user, 0, segments=(), push=user in (L1, N1, C1, O1),
                     phone=user in (W1, L1, C1, O1))

    segment(W1, 0, "segment.entered", "new_subscriber", ["new_subscriber"], cause="t-1")
    segment(W2, 0, "segment.entered", "new_subscriber", ["new_subscriber"], cause="t-2")
    segment(W3, 0, "segment.entered", "new_subscriber", ["new_subscriber"], cause="t-3")
    segment(L1, 0, "segment.entered", "lapsed", ["customer", "lapsed"])
    for user, step in ((C1, "payment"), (C2, "checkout"), (W3, "checkout")):
        body = dict(cart=CART, session="s-" + user, funnel_step=step, segments=["hesitating"])
        feed.send("cart.abandoned", user, 0, **body)
        feed.send("checkout.abandoned", user, 0, **body)
    feed.send("cart.abandoned", A1, 0, cart=CART, session="s-" + A1, funnel_step="cart",
              segments=["came_to_buy"], recommended=GOES_WITH)
    for user, kind in ((A2, "cart_just_looking"), (A3, "hesitating")):
        feed.profile(user, 0, segments=(kind,))
        feed.send("cart.abandoned", user, 0, cart=CART, session="s-" + user, funnel_step="cart",
                  segments=[kind])
    feed.browse(B1, 0)
    feed.send("order.placed", U1, 0, order_id="u-1", value=40.0, currency="EUR",
              products=CART["items"], placed=iso(0))
    feed.order(Y1, 0)
    segment(Y1, 0, "segment.entered", "loyal", ["customer", "loyal"], cause="t-%d" % feed.n)
    at(0.5)
    check("nothing before +1 h", reader.sends() == [], reader.sends())

    feed.send("cart.browsing", O1, 0.75, cart=CART, goes_with=GOES_WITH, session="s-" + O1,
              anonymousId="anon-o1", anonymousIds=["anon-o0", "anon-o1"])
    feed.send("cart.returned", O2, 0.75, cart=CART, session="s-" + O2, anonymousIds=["anon-o2"])
    at(0.75)
    order, got = one(O1, "cart-browsing", "goes-with", 0.75, "onsite")
    check("cart-browsing: at once, on-site, to the person's anonymous ids, with goes_with and the"
          " cart; no not_after (quiet hours are not the page's)",
          order is not None and order["to"] == ["anon-o0", "anon-o1"]
          and order["data"]["goes_with"] == GOES_WITH and "not_after" not in order
          and order["data"]["cart"]["items"][0]["name"] == "Trail shoe", got)
    order, got = one(O2, "cart-returned", "waiting", 0.75, "onsite")
    check("cart-returned: the banner, on-site, with the cart", order is not None
          and order["to"] == ["anon-o2"] and order["data"]["cart"]["value_text"] == "€114.90", got)

    at(1)
    order, got = one(C1, "checkout-abandoned", "reminder", 1, "email")
    check("checkout-abandoned: a reminder at +1 h by e-mail, with the cart's items and total",
          order is not None and [i["name"] for i in order["data"]["cart"]["items"]]
          == ["Trail shoe", "Wool socks"] and order["data"]["cart"]["value_text"] == "€114.90"
          and order["data"]["funnel_step"] == "payment", got)
    check("checkout-abandoned: the visit that reached checkout gets no abandoned-cart too",
          sends(C1, "abandoned-cart") == [] and sends(C2, "abandoned-cart") == [],
          sends(C1, "abandoned-cart") + sends(C2, "abandoned-cart"))
    check("abandoned-cart: a visit left at the cart step still gets its reminder",
          len(sends(A1, "abandoned-cart", "reminder-1")) == 1, reader.sends(A1))
    order, got = one(A2, "abandoned-cart", "reminder-1.just-looking", 1, "email")
    check("abandoned-cart: just looking, its arm's reminder-1 with the code at +1 h",
          order is not None and order["data"]["code"]["code"].startswith("CART-"), got)
    order, got = one(A3, "abandoned-cart", "reminder-1.hesitating", 1, "email")
    check("abandoned-cart: hesitating, its arm's reminder-1 with the cart's line for the chat link",
          order is not None and order["data"]["cart"]["summary"]
          == "Trail shoe × 1, Wool socks × 2 · €114.90", got)

    feed.order(C2, 1.5)
    at(2)
    order, got = one(W1, "welcome", "hello", 2, "email")
    check("welcome: hello at +2 h by e-mail (before SMS), with the person's name", order is not None
          and order["to"] == "w-1@example.com" and order["data"]["first_name"] == "Ann"
          and order["data"]["shop"]["url"] == "https://shop.example", got)
    check("welcome: a checkout reminder sent at +1 h keeps the cap's slot: hello is skipped",
          [s["journey"] for s in sends(W3)] == ["checkout-abandoned"], sends(W3))
    segment(D1, 12, "segment.entered", "birthday", ["birthday"])
    feed.order(W2, 20)
    at(22)
    order, got = one(L1, "win-back", "miss-you", 22, "email")
    check("win-back: miss-you at 10:00 the next morning by e-mail", order is not None
          and order["to"] == "l-1@example.com", got)
    order, got = one(D1, "birthday", "greeting", 22, "email")
    check("birthday: entered at midnight, the greeting with a 15 % BDAY code at 10:00 by e-mail",
          order is not None and order["data"]["code"]["code"].startswith("BDAY-")
          and order["data"]["code"]["percent"] == 15, got)

    at(24)
    order, got = one(C1, "checkout-abandoned", "last-call", 24, "email")
    code = order and order["data"].get("code", {})
    check("checkout-abandoned: a unique 10 % ORDER code about a day later, with the cart",
          order is not None and code["code"].startswith("ORDER-") and code["percent"] == 10
          and code["valid_hours"] == 48 and len(order["data"]["cart"]["items"]) == 2, got)
    check("checkout-abandoned: the one who ordered gets no code",
          [s["step"] for s in sends(C2)] == ["reminder"], sends(C2))
    check("every step once: nothing more for C1 than reminder and last-call",
          [s["step"] for s in sends(C1)] == ["reminder", "last-call"], sends(C1))

    at(94)      # Monday noon + 3 days, then the next 10:00: Friday 10:00
    order, got = one(W1, "welcome", "first-order", 94, "email")
    code = order and order["data"].get("code", {})
    check("welcome: a 10 % HELLO code for a first order at 10:00 three days later",
          order is not None and code["code"].startswith("HELLO-") and code["percent"] == 10
          and code["valid_hours"] == 168, got)
    check("welcome: W3, whose hello gave way, still gets the code",
          [s["step"] for s in sends(W3, "welcome")] == ["first-order"], sends(W3))
    check("welcome: whoever ordered meanwhile gets no code",
          [s["step"] for s in sends(W2)] == ["hello"], sends(W2))

    at(190)
    order, got = one(L1, "win-back", "comeback-code", 190, "email")
    code = order and order["data"].get("code", {})
    check("win-back: a 15 % BACK code a week after miss-you",
          order is not None and code["code"].startswith("BACK-") and code["percent"] == 15, got)

    segment(W1, 200, "segment.exited", "new_subscriber", [], cause="t-90")
    segment(W1, 201, "segment.entered", "new_subscriber", ["new_subscriber"], cause="t-91")
    segment(L1, 700, "segment.exited", "lapsed", ["customer"], cause="t-92")
    segment(L1, 720, "segment.entered", "lapsed", ["customer", "lapsed"])
    segment(N1, 720, "segment.exited", "new_subscriber", [])
    segment(N2, 720, "segment.exited", "new_subscriber", [], cause="t-93")
    segment(N3, 720, "segment.exited", "new_subscriber", ["customer"])
    at(741.9)
    check("never-bought: nothing before 10:00", sends(N1) == [], sends(N1))
    at(742)
    order, got = one(N1, "never-bought", "still-deciding", 742, "email")
    check("never-bought: one note at 10:00 the morning after new_subscriber ran out",
          order is not None and order["data"]["segment"] == "new_subscriber", got)
    check("never-bought: not after a withdrawn consent, not for a customer",
          sends(N2) == [] and sends(N3) == [], sends(N2) + sends(N3))
    check("welcome: once per person ever (entering new_subscriber again sends nothing)",
          [s["step"] for s in sends(W1, "welcome")] == ["hello", "first-order"], sends(W1))
    check("code-expiring: W1's HELLO code, unused, \"expires tomorrow\" once, 6 days after it came",
          [s["step"] for s in sends(W1, "code-expiring")] == ["expires-tomorrow"], sends(W1))
    check("win-back: lapsing again within 90 days starts nothing",
          len(sends(L1, "win-back")) == 2, sends(L1))

    segment(L1, 2399, "segment.exited", "lapsed", ["customer"], cause="t-94")
    segment(L1, 2400, "segment.entered", "lapsed", ["customer", "lapsed"])
    at(2422)
    check("the on-site journeys sent nothing else: no push, SMS or e-mail to O1 (reachable on all"
          " three) or O2", [s["channel"] for s in sends(O1) + sends(O2)] == ["onsite", "onsite"],
          sends(O1) + sends(O2))
    check("win-back: after 90 days it may start again",
          [s["step"] for s in sends(L1, "win-back")] == ["miss-you", "comeback-code", "miss-you"]
          and sends(L1)[-1]["time"] == iso(2422), sends(L1))

    feed.send("contact.claimed", "k-1", 2422, channel="email", address="k-1@example.com",
              anonymousId="a-k1", locale="pl")
    feed.send("contact.claimed", "k-2", 2422, channel="sms", address="+48600100777", anonymousId="a-k2")
    at(2423)
    check("confirm: a claimed address gets its confirmation, a claimed phone its code",
          [(s["channel"], s["template"], sorted(s["data"])) for s in sends("k-1") + sends("k-2")]
          == [("email", "confirm/email", ["confirm_url", "shop", "valid_hours"]),
              ("sms", "confirm/sms", ["code", "shop"])],
          sends("k-1") + sends("k-2"))

    lamp = dict(GOES_WITH[0], product_id="p-8", name="Lamp", stock="in_stock", price=85.0)
    feed.send("product.back_in_stock", P1, 2423, product=lamp, recommended=GOES_WITH)
    feed.send("product.price_dropped", P2, 2423, product=dict(lamp, previous_price=100.0),
              drop_percent=15, recommended=GOES_WITH)
    at(2423.5)
    check("back-in-stock and price-drop: their note at once, by e-mail (no push subscription)",
          [(s["journey"], s["channel"]) for s in sends(P1) + sends(P2)]
          == [("back-in-stock", "email"), ("price-drop", "email")], sends(P1) + sends(P2))

    # ---------------------------------------- every template renders --
    data = {}
    for s in reader.sends():
        data.setdefault("%s/%s" % (s["journey"], s["step"]), s["data"])
    rendered, problems = render_templates(data)
    check("every shipped template (%d parts, every locale) renders with its send order's data"
          % rendered, rendered > 100 and not problems, problems)
    locales = {os.path.basename(d) for d, _, f in os.walk(TEMPLATES) if f}
    check("templates ship in en, pl and ja", {"en", "pl", "ja"} <= locales, locales)

    feed.close()
    reader.close()

done()
