#!/usr/bin/python3
"""The post-purchase journeys (review-request, repeat-purchase,
loyalty-reward), in event time, on the shipped conf/journeys and
conf/templates, with checkout-abandoned beside them for the cap.

A Python journal stands in for the segmenter and feeds the real scheduler
the bodies it sends (profile.updated, order.completed with the order's
products as the sessionizer carries them, segment.entered "loyal" with
the order as its cause); ticks move event time from T0, a Monday noon UTC.
Beside the shipped files, a copy of each with after-order = exit (and
"-exit" in its name) runs on the same triggers: it must send nothing.

  review-request  R1 orders at 0: a review request 14 days later at 10:00
                  (+358 h) by e-mail with the order's products; the same
                  order reported again (while it waits, and after) starts
                  no second one. R2 (push only) orders again at +200 h:
                  one request, by push, on the first order's timing with
                  the newer order's products. R3 left a checkout the
                  morning it was due: the checkout reminder keeps the
                  cap's slot and the review gives way.
  repeat-purchase P1 orders at 0: its products again 30 days later at
                  10:00 (+742 h). P2 orders again at +240 h: nothing at
                  +742 h, one note at +982 h with the newer products.
  loyalty-reward  Y1 (e-mail) and Y2 (SMS only) become loyal with an order:
                  a unique 15 % LOYAL code valid 30 days the next morning
                  at 10:00 (+22 h); Y1 becoming loyal again later gets
                  nothing (once ever).

Then each of their templates, every locale and part, is rendered with the
data of a real send order of its step, and again without the order's
products (a shop that sends none): every variable must be there.
"""
import copy
import json
import os
import re
import subprocess

from ndtest import BIN, ROOT, Pipeline, check, done
from rendertest import render_templates
from schedtest import CART, iso, journeys_only, pipeline_extra, start_scheduler

POST = ("review-request", "repeat-purchase", "loyalty-reward")
R1, R2, R3, P1, P2, Y1, Y2 = ("r-1", "r-2", "r-3", "p-1", "p-2", "y-1", "y-2")
SHOES = copy.deepcopy(CART["items"])
JACKET = [{"product_id": "p-9", "sku": "SKU-9", "name": "Rain jacket", "price": 120.0, "quantity": 1,
           "category": "jackets", "url": "https://shop.example/p/9"}]


def exit_copy(name, directory):
    """The shipped journey as after-order = exit, under another name, on
    the shipped journey's templates."""
    text = open(os.path.join(ROOT, "conf", "journeys", name + ".zpl"), encoding="utf-8").read()
    assert "after-order = continue" in text
    text = text.replace("after-order = continue", "after-order = exit")
    text = text.replace("name = %s\n" % name, "name = %s-exit\n" % name)
    text = re.sub(r"( {8}send = ([\w-]+)\n)", lambda m: "%s            template = %s/%s\n"
                  % (m.group(1), name, m.group(2)), text)
    with open(os.path.join(directory, name + "-exit.zpl"), "w", encoding="utf-8") as f:
        f.write(text)


journeys = journeys_only(*POST, "checkout-abandoned")
for name in POST:
    exit_copy(name, journeys)

with Pipeline(clock="event", extra=pipeline_extra(journeys)) as p:
    feed, reader, at = start_scheduler(p)
    sends, one = reader.sends, reader.one

    def quiet_until(user, journey, hours, label):
        """Nothing of journey for user a tenth of an hour before hours
        (checked as label), then the clock at hours."""
        at(hours - 0.1)
        check(label, sends(user, journey) == [], sends(user))
        at(hours)

    def order(user, hours, order_id, products):
        feed.send("order.completed", user, hours, order_id=order_id, value=114.9, revenue=114.9,
                  currency="EUR", products=copy.deepcopy(products), segments=["customer"])

    def names(s):
        return [i["name"] for i in s["data"].get("products", [])]

    feed.profile(R2, 0, email=False, push=True)
    feed.profile(Y2, 0, email=False, phone=True)
    for user in (R1, R3, P1, P2, Y1):
        feed.profile(user, 0)
    for user in (R1, R2, R3, P1, P2):
        order(user, 0, "o-%s-1" % user, SHOES)
    for user in (Y1, Y2):
        order(user, 0, "o-%s-3" % user, SHOES)
        feed.send("segment.entered", user, 0, visitor=user, segment="loyal",
                  segments=["customer", "loyal"], cause="t-%d" % feed.n)
    order(R1, 1, "o-r-1-1", SHOES)                  # the shop's server reports it too
    at(21.9)
    check("nothing before the next morning", reader.sends() == [], reader.sends())

    # ------------------------------------------------- loyalty-reward --
    at(22)
    got1, all1 = one(Y1, "loyalty-reward", "thank-you", 22, "email")
    got2, all2 = one(Y2, "loyalty-reward", "thank-you", 22, "sms")
    code = got1 and got1["data"].get("code", {})
    check("loyalty-reward: the order that made Y1 loyal brings a unique 15 % LOYAL code valid"
          " 30 days, at 10:00 the next morning by e-mail", got1 is not None
          and got1["to"] == "y-1@example.com" and code["code"].startswith("LOYAL-")
          and code["percent"] == 15 and code["valid_hours"] == 720
          and got1["data"]["segment"] == "loyal", all1)
    check("loyalty-reward: by SMS to who has no e-mail, with a code of its own",
          got2 is not None and got2["to"] == "+48600100200"
          and got2["data"]["code"]["code"].startswith("LOYAL-")
          and got2["data"]["code"]["code"] != code["code"], all2)
    issued = [c for c in reader.topic("code.issued") if c["journey"] == "loyalty-reward"]
    check("loyalty-reward: each code is issued to the shop (code.issued)",
          sorted(c["user"] for c in issued) == [Y1, Y2], issued)

    # ------------------------------------------------- review-request --
    order(R2, 200, "o-r-2-2", JACKET)               # a newer order while the request waits
    order(P2, 240, "o-p-2-2", JACKET)
    at(240)
    check("nothing else in the two weeks after an order",
          [s["journey"] for s in reader.sends()] == ["loyalty-reward"] * 2, reader.sends())
    feed.send("checkout.abandoned", R3, 356.5, cart=CART, session="s-r-3", funnel_step="payment",
              segments=["customer"])
    at(357.5)
    check("checkout-abandoned: R3's reminder at 09:30, an hour after the visit",
          [(s["journey"], s["time"]) for s in sends(R3)] == [("checkout-abandoned", iso(357.5))],
          sends(R3))
    quiet_until(R1, "review-request", 358, "review-request: nothing before 10:00 on day 15")
    got, every = one(R1, "review-request", "review", 358, "email")
    check("review-request: 14 days after the order, at 10:00, by e-mail, with the order's id and"
          " products", got is not None and got["to"] == "r-1@example.com"
          and got["data"]["order_id"] == "o-r-1-1" and names(got) == ["Trail shoe", "Wool socks"]
          and got["data"]["products"][0]["price_text"] == "€89.90"
          and got["data"]["first_product"]["url"] == "https://shop.example/p/1", every)
    got, every = one(R2, "review-request", "review", 358, "push")
    check("review-request: by push to who has no e-mail; a newer order meanwhile gives one"
          " request, on the first order's timing, with the newer order's products",
          got is not None and got["data"]["order_id"] == "o-r-2-2" and names(got) == ["Rain jacket"],
          every)
    check("review-request: R3's checkout reminder at 09:30 keeps the cap's slot (1/16h);"
          " the review gives way", [s["journey"] for s in sends(R3)] == ["checkout-abandoned"],
          sends(R3))
    order(R1, 400, "o-r-1-1", SHOES)                # the same order again, after its request
    order(R2, 400, "o-r-2-2", JACKET)               # and R2's newer one, which the update took
    at(500)
    feed.send("segment.exited", Y1, 500, visitor=Y1, segment="loyal", segments=["customer"],
              cause="t-x")
    order(Y1, 600, "o-y-1-4", SHOES)
    feed.send("segment.entered", Y1, 600, visitor=Y1, segment="loyal",
              segments=["customer", "loyal"], cause="t-%d" % feed.n)

    # ------------------------------------------------ repeat-purchase --
    quiet_until(P1, "repeat-purchase", 742, "repeat-purchase: nothing before 10:00 thirty days on")
    got, every = one(P1, "repeat-purchase", "reorder", 742, "email")
    check("repeat-purchase: 30 days after the last order, at 10:00, by e-mail, with its products",
          got is not None and got["data"]["order_id"] == "o-p-1-1"
          and names(got) == ["Trail shoe", "Wool socks"], every)
    check("repeat-purchase: not for who ordered again meanwhile (P2)",
          sends(P2, "repeat-purchase") == [], sends(P2))
    quiet_until(P2, "repeat-purchase", 982,
                "repeat-purchase: nothing more before 30 days after P2's newer order")
    got, every = one(P2, "repeat-purchase", "reorder", 982, "email")
    check("repeat-purchase: a new order restarts the clock: one note 30 days after it, with its"
          " products", got is not None and got["data"]["order_id"] == "o-p-2-2"
          and names(got) == ["Rain jacket"], every)

    check("review-request: once per order (the same order reported again sends nothing more)",
          len(sends(R1, "review-request")) == 1 and len(sends(R2, "review-request")) == 1
          and not [s for s in reader.sends() if s["journey"] == "review-request"
                   and s["user"] in (R1, R2) and s["time"] > iso(358)],
          sends(R1, "review-request") + sends(R2, "review-request"))
    check("loyalty-reward: once per person, ever (loyal again sends nothing)",
          len(sends(Y1, "loyalty-reward")) == 1, sends(Y1))
    exits = [s for s in reader.sends() if s["journey"].endswith("-exit")]
    report = subprocess.run([os.path.join(BIN, "nd-report"), "-c", p.config, "--json"],
                            capture_output=True, text=True)
    groups = {name: v[""]["group"] for name, v in json.loads(report.stdout)["counters"].items()}
    ended = {name: groups.get(name + "-exit", {}) for name in POST}
    check("after-order = continue is needed: the same journeys with after-order = exit start on"
          " the same triggers, send nothing, and end on the order that started them",
          exits == [] and {s["journey"] for s in reader.sends()} >= set(POST)
          and all(g.get("entered", 0) >= 2 and not g.get("sent") for g in ended.values())
          and ended["review-request"].get("exit:ordered") == ended["review-request"]["entered"]
          and ended["loyalty-reward"].get("exit:ordered") == 2
          and ended["repeat-purchase"].get("exit:check:not-reordered", 0) >= 2, ended)

    review = groups.get("review-request", {})
    check("review-request: an order reported again (R1's, after its request went out) is"
          " credited to nothing, nor are newer orders (R2's, P2's) that came before any"
          " request was delivered (attribution credits delivered messages only)",
          review.get("entered", 0) >= 2 and not review.get("converted")
          and not review.get("orders") and not review.get("attributed"), review)

    # ---------------------------------------- every template renders --
    data = {}
    for s in reader.sends():
        data.setdefault("%s/%s" % (s["journey"], s["step"]), s["data"])
    rendered, problems = render_templates(data, POST)
    check("their templates (%d parts, every locale) render with a send order's data" % rendered,
          rendered == 48 and not problems, problems)
    bare = {k: {f: v for f, v in d.items() if f not in ("products", "first_product")}
            for k, d in data.items()}
    rendered, problems = render_templates(bare, POST)
    check("and with an order that lists no products", rendered == 48 and not problems, problems)

    feed.close()
    reader.close()

done()
