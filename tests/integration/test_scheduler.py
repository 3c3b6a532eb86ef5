#!/usr/bin/python3
"""scheduler: the abandoned-cart journey, in event time, on the shipped config.

A Python journal stands in for the segmenter and feeds the real scheduler
cart.abandoned, activity, session.ended and order.completed bodies; ticks
move event time. The test reads the scheduler's durable journal as a
sender would. Six people leave a cart at T0 (all outside the 5 % holdout):

  A push + SMS + e-mail, B SMS + e-mail, C e-mail only: one reminder each
    at +1 h on the first reachable channel, none before; a second with a
    unique code at +24 h, by e-mail; nd-codes knows each code;
  D orders at +2 h: no second reminder, and the order is credited to the
    first (a "conversion" message, last touch);
  E is still browsing at +1 h (a page view at +0.9 h): nothing until the
    session timeout has passed without activity (+1.4 h);
  F was active at +0.95 h but the session ended at +0.97 h: sent at +1 h.
Then re-entry: the same cart never twice, another cart not within 3 days.
"""
import os
import subprocess

from ndtest import BIN, Pipeline, check, done
from schedtest import iso, pipeline_extra, users_in, start_scheduler

with Pipeline(clock="event", extra=pipeline_extra()) as p:
    feed, reader, at = start_scheduler(p)
    A, B, C, D, E, F = users_in("abandoned-cart", "treated", 6)

    def sends(user, step=None):
        return reader.sends(user, step=step)

    feed.abandon(A, 0, push=True, phone=True)
    feed.abandon(B, 0, phone=True)
    for user in (C, D, E, F):
        feed.abandon(user, 0)
    feed.activity(E, 0.9)
    feed.activity(F, 0.95)
    feed.session_ended(F, 0.97)
    at(0.99)
    check("nothing before +1 h", reader.sends() == [], reader.sends())

    at(1.0)
    first = {u: sends(u, "reminder-1") for u in (A, B, C, D, E, F)}
    check("A, B, C, D, F get one first reminder at +1 h",
          all(len(first[u]) == 1 for u in (A, B, C, D, F)), first)
    check("first reachable channel: push for A, SMS for B, e-mail for C",
          [first[u][0]["channel"] for u in (A, B, C)] == ["push", "sms", "email"],
          [(s["user"], s["channel"]) for s in reader.sends()])
    order = first[A][0]
    check("the send order names template, locale, contact and idempotency key",
          order["template"] in ("abandoned-cart/reminder-1", "abandoned-cart/reminder-1.b")
          and order["locale"] == "en" and order["to"]["endpoint"].endswith(A)
          and order["idempotency_key"] == "abandoned-cart/%s/reminder-1/push" % order["instance"]
          and order["journey"] == "abandoned-cart" and order["variant"] in ("a", "b"), order)
    items = order["data"]["cart"]["items"]
    check("the cart travels with names, prices, images and links",
          [i["name"] for i in items] == ["Trail shoe", "Wool socks"]
          and items[1]["total_text"] == "€25.00" and items[0]["image_url"].endswith("1.jpg")
          and order["data"]["cart"]["value_text"] == "€114.90"
          and order["data"]["first_name"] == "Ann" and order["name"] == "Ann Lee", order["data"])
    check("SMS goes to the E.164 phone, e-mail to the address",
          first[B][0]["to"] == "+48600100200" and first[C][0]["to"] == C + "@example.com",
          (first[B], first[C]))
    check("E, still browsing, gets nothing at +1 h", first[E] == [], first[E])

    at(1.35)
    check("nor while the session could still be open (+1.35 h)", sends(E) == [], sends(E))
    at(1.4)
    check("E's reminder goes once the session timeout has passed (+1.4 h)",
          len(sends(E, "reminder-1")) == 1 and sends(E)[0]["time"] == iso(1.4), sends(E))

    # a conversion is credited to a delivered message only (attribution.c)
    feed.feedback("delivered", first[D][0], 1.5)
    feed.settle()
    feed.order(D, 2.0)
    at(23.9)
    check("no second reminder before +24 h", [s for s in reader.sends() if s["step"] == "reminder-2"] == [])
    at(24.0)
    second = {u: sends(u, "reminder-2") for u in (A, B, C, D, F)}
    check("A, B, C, F get a second reminder at +24 h, by e-mail",
          all(len(second[u]) == 1 and second[u][0]["channel"] == "email" for u in (A, B, C, F)), second)
    check("D, who ordered at +2 h, gets no second reminder", second[D] == [], second[D])
    issued = reader.topic("code.issued")
    codes = [s["data"]["code"]["code"] for u in (A, B, C, F) for s in second[u]]
    check("each second reminder carries its own code, published on code.issued",
          len(set(codes)) == 4 and sorted(codes) == sorted(c["code"] for c in issued)
          and all(c.startswith("CART-") for c in codes), (codes, issued))
    code = second[A][0]["data"]["code"]
    check("10 % off, valid 48 h", code["percent"] == 10 and code["expires"] == iso(72)
          and code["valid_hours"] == 48, code)
    check("its expiry also as the person's wall-clock time (UTC here) for the templates",
          code.get("expires_local") == iso(72)[:10] + " " + iso(72)[11:16]
          and code.get("expires_date") == iso(72)[:10], code)
    at(24.4)
    check("E's second follows its own first by 23 h", len(sends(E, "reminder-2")) == 1, sends(E))

    conversions = reader.topic("conversion")
    d_conv = [c for c in conversions if c["user"] == D]
    check("D's order is credited to the first reminder (last touch)",
          len(d_conv) == 1 and d_conv[0]["last_touch"] and d_conv[0]["step"] == "reminder-1"
          and d_conv[0]["channel"] == "email" and d_conv[0]["revenue"] == 114.9, conversions)

    tool = [os.path.join(BIN, "nd-codes"), "-c", p.config, "--at", iso(30)]
    out = subprocess.run(tool + [code["code"].lower()], capture_output=True, text=True)
    check("nd-codes: the code is valid (any case)", out.returncode == 0 and " valid " in out.stdout,
          out.stdout + out.stderr)
    out = subprocess.run(tool[:-1] + [iso(72.01), code["code"]], capture_output=True, text=True)
    check("nd-codes: expired after 48 h", out.returncode == 1 and " expired " in out.stdout, out.stdout)
    out = subprocess.run(tool[:-2] + [code["code"]], capture_output=True, text=True)
    check("nd-codes without --at judges at the scheduler's event time, not today's",
          out.returncode == 0 and " valid " in out.stdout, out.stdout + out.stderr)
    out = subprocess.run(tool + ["CART-0000-0000"], capture_output=True, text=True)
    check("nd-codes: an unknown code", out.returncode == 1 and "unknown" in out.stdout, out.stdout)
    feed.order(A, 25.0, coupon=code["code"])
    at(25.0)
    out = subprocess.run(tool + [code["code"]], capture_output=True, text=True)
    check("nd-codes: redeemed once an order names it", out.returncode == 1 and " redeemed " in out.stdout,
          out.stdout)
    check("A's order waits for its reminder's delivery to be heard: no credit yet",
          [c for c in reader.topic("conversion") if c["user"] == A] == [], reader.topic("conversion"))
    # the delivery (of the e-mail sent at +24 h) is heard after the order came
    feed.feedback("delivered", second[A][0], 25.0)
    at(25.1)
    a_conv = [c for c in reader.topic("conversion") if c["user"] == A]
    check("A's order is credited to the code's reminder by e-mail once its delivery is heard",
          len(a_conv) == 1 and a_conv[0]["step"] == "reminder-2" and a_conv[0]["channel"] == "email",
          a_conv)

    # re-entry: once per cart, at most one journey per 3 days
    before = len(reader.sends())
    feed.abandon(B, 30)                                   # the same cart: never again
    feed.abandon(C, 30, cart={"items": [{"product_id": "p-7", "name": "Cap", "price": 9.0,
                                         "quantity": 1}], "value": 9.0, "currency": "EUR"})
    at(31.5)
    check("the same cart, or another within 3 days, starts nothing", len(reader.sends()) == before,
          reader.sends()[before:])
    feed.abandon(C, 75, cart={"items": [{"product_id": "p-8", "name": "Belt", "price": 19.0,
                                         "quantity": 1}], "value": 19.0, "currency": "EUR"})
    at(76)
    new = [s for s in sends(C, "reminder-1") if s["time"] == iso(76)]
    check("another cart after 3 days starts a new journey", len(new) == 1
          and new[0]["data"]["cart"]["items"][0]["name"] == "Belt", sends(C))

    report = subprocess.run([os.path.join(BIN, "nd-report"), "-c", p.config, "--json"],
                            capture_output=True, text=True)
    import json
    journeys = json.loads(report.stdout)["counters"]["abandoned-cart"]
    entered = sum(v["group"].get("entered", 0) for v in journeys.values())
    sent = sum(v["group"].get("sent", 0) for v in journeys.values())
    converted = sum(v["group"].get("converted", 0) for v in journeys.values())
    check("nd-report: 7 entered, 12 sent, 2 converted",
          (entered, sent, converted) == (7, 12, 2), report.stdout)
    as_of = json.loads(report.stdout)
    check("nd-report is as of the scheduler's event time",
          as_of.get("clock") == "event" and as_of.get("as_of") == p.control("scheduler")["now"],
          (as_of.get("clock"), as_of.get("as_of")))
    stats = p.control("scheduler")
    check("STATS: sent and pending timers", stats["sent"] == 12 and stats["scheduler"]["timers"] > 0,
          stats.get("scheduler"))
    feed.close()
    reader.close()
done()
