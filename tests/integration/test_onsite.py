#!/usr/bin/python3
"""The onsite stage alone: a Python journal stands in for the scheduler;
event time, real HTTP.

  - an order becomes a message for each anonymous id in its "to": the
    poll shows it rendered from the shipped templates, HTML-escaped, with
    links that are not http(s) dropped, products with their currency;
  - a report from another visitor or for an unknown id is 404; "shown"
    is feedback.delivered and the message is not served again (to any of
    its ids); "clicked" is feedback.clicked, once;
  - a long poll answers when a message for its visitor arrives, and many
    waiting polls hold no thread: the stage still answers at once;
  - a message past the order's not_after, or its lifetime, is not served
    and gives feedback.expired;
  - kill -9 and restart: messages, what was shown and the dedupe of
    repeated orders survive.
"""
import json
import os
import threading
import time
import urllib.error
import urllib.request

from ndtest import ROOT, Pipeline, check, done, free_port, wait_for
from sendtest import Orders, feedback, iso

CART = {"first_name": "<b>Ann</b>", "name": "Ann",
        "cart": {"value_text": "114.90 EUR", "currency": "EUR", "value": 114.9,
                 "first_item": {"name": "Trail <shoe>"},
                 "items": [{"name": "Trail <shoe>", "price": 99.9, "quantity": 1,
                            "url": "javascript:alert(1)",
                            "image_url": "https://cdn.shop.example/shoe.jpg"},
                           {"name": "Wool socks", "price": 15, "quantity": 1,
                            "url": "https://shop.example/p/socks"}]},
        "shop": {"name": "Example Shop", "url": "https://shop.example"}}


def http(port, path, body=None, timeout=30):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data,
                                 method="POST" if data else "GET")
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read()), dict(resp.headers)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}"), dict(e.headers)


def messages(port, visitor, wait=0):
    status, body, _ = http(port, "/onsite/poll?visitor=%s&wait=%d" % (visitor, wait))
    return body.get("messages") if status == 200 else None


def report(port, message_id, visitor, action):
    return http(port, "/onsite/event", {"id": message_id, "visitor": visitor, "action": action})[0]


with Pipeline(clock="event", sync=True) as p:
    port = free_port()
    p.write_config({"onsite": {"input": "scheduler", "topics": "send.onsite",
                               "http": "127.0.0.1:%d" % port, "allow-origin": "https://shop.example",
                               "templates": os.path.join(ROOT, "conf", "templates"),
                               "lifetime": "1h", "threads": "2"}})
    orders = Orders(p)
    p.start("onsite")
    tap = p.tap("onsite", "feedback.")

    first = orders.order("onsite", ["anon-1", "anon-2"], template="cart-returned/waiting", data=CART)
    shown = wait_for(lambda: (orders.serve(), messages(port, "anon-1"))[1], timeout=20) or []
    m = shown[0] if shown else {}
    check("an order becomes one message on the visitor's poll", len(shown) == 1, shown)
    check("rendered from the shipped cart-returned templates: a banner",
          m.get("kind") == "banner" and m.get("title") == "Your cart is waiting"
          and m.get("url") == "https://shop.example/cart" and m.get("expires") == iso(3600), m)
    check("texts are text (the page sets them as text): values as the events gave them, "
          "not HTML-escaped twice",
          "Welcome back, <b>Ann</b>!" in m.get("body", "") and "Trail <shoe>" in m.get("body", "")
          and "&lt;" not in m.get("body", "") and "&amp;" not in m.get("body", ""), m.get("body"))
    products = m.get("products") or [{}, {}]
    check("products: the cart's items, names as text, a javascript: link dropped, the cart's currency",
          len(products) == 2 and products[0].get("name") == "Trail <shoe>"
          and products[0].get("url") == "" and products[0].get("price") == 99.9
          and products[0].get("image_url") == "https://cdn.shop.example/shoe.jpg"
          and products[0].get("currency") == "EUR"
          and products[1].get("url") == "https://shop.example/p/socks", products)
    check("the other anonymous id of the person sees it too", messages(port, "anon-2") == shown)
    check("nobody else does", messages(port, "anon-3") == [])
    status, _, headers = http(port, "/onsite/poll?visitor=anon-1")
    check("CORS: the configured origin", headers.get("Access-Control-Allow-Origin")
          == "https://shop.example", headers)
    check("no visitor: 400", http(port, "/onsite/poll")[0] == 400)

    check("a report from a visitor it was not addressed to: 404",
          report(port, m.get("id"), "anon-3", "shown") == 404)
    check("an unknown id: 404", report(port, "0" * 24, "anon-1", "shown") == 404)
    check("a wrong action: 400", report(port, m.get("id"), "anon-1", "seen") == 400)
    check("shown: 200", report(port, m.get("id"), "anon-1", "shown") == 200)
    fb = feedback(tap, first["idempotency_key"])
    check("shown is feedback.delivered, with the order's names and channel onsite",
          [t for t, _ in fb] == ["feedback.delivered"] and fb[0][1].get("channel") == "onsite"
          and fb[0][1].get("journey") == "abandoned-cart" and fb[0][1].get("user") == first["user"],
          fb)
    check("a message shown is not served again, to any of its ids",
          messages(port, "anon-1") == [] and messages(port, "anon-2") == [])
    check("clicked: 200, twice", report(port, m.get("id"), "anon-2", "clicked") == 200
          and report(port, m.get("id"), "anon-2", "clicked") == 200)
    # Each report is answered after its commit: the feedback of both is out
    wait_for(lambda: len(feedback(tap, first["idempotency_key"])) >= 2, timeout=10)
    tap.poll(100)
    check("clicked is feedback.clicked, once", [t for t, _ in feedback(tap, first["idempotency_key"])]
          == ["feedback.delivered", "feedback.clicked"], feedback(tap, first["idempotency_key"]))

    # A long poll answers when a message for its visitor arrives.
    answers = {}

    def poll(visitor, wait):
        start = time.time()
        try:
            answers[visitor] = (messages(port, visitor, wait), time.time() - start)
        except OSError as e:        # the idle ones: the kill -9 below cuts them off
            answers[visitor] = (e, time.time() - start)
    waiter = threading.Thread(target=poll, args=("anon-9", 20))
    waiter.start()
    idle = [threading.Thread(target=poll, args=("idle-%d" % i, 20)) for i in range(40)]
    for t in idle:
        t.start()
    busy = wait_for(lambda: p.control("onsite")["http"]["waiting"] >= 41, timeout=10)
    started = time.time()
    health = http(port, "/health", timeout=5)[0]
    preflight = urllib.request.Request("http://127.0.0.1:%d/onsite/event" % port, method="OPTIONS")
    with urllib.request.urlopen(preflight, timeout=5) as resp:
        allowed = (resp.status, resp.headers["Access-Control-Allow-Origin"],
                   resp.headers["Access-Control-Allow-Methods"], resp.headers["Access-Control-Max-Age"])
    check("a page's CORS preflight is answered 204 for the allowed origin: GET and POST, for a day",
          allowed == (204, "https://shop.example", "GET, POST", "86400"), allowed)
    check("41 polls waiting on 2 threads, and /health still answers at once",
          busy and health == 200 and time.time() - started < 2, p.control("onsite")["http"])
    second = orders.order("onsite", ["anon-9"], template="cart-returned/waiting", data=CART, seconds=1)
    wait_for(lambda: (orders.serve(), "anon-9" in answers)[1], timeout=15)
    waiter.join(5)
    got, elapsed = answers.get("anon-9", (None, 99))
    check("the long poll answered with the message as it arrived, well before its wait",
          got and len(got) == 1 and elapsed < 15, answers.get("anon-9"))

    # Expiry: the order's not_after, then the lifetime.
    soon = orders.order("onsite", ["anon-5"], template="cart-returned/waiting", data=CART,
                        seconds=60, not_after=iso(600))
    wait_for(lambda: (orders.serve(), messages(port, "anon-5"))[1], timeout=10)
    check("an order with not_after is served before it", len(messages(port, "anon-5") or []) == 1)
    late = orders.order("onsite", ["anon-6"], template="cart-returned/waiting", data=CART, seconds=120)
    wait_for(lambda: (orders.serve(), messages(port, "anon-6"))[1], timeout=10)
    orders.tick(601)
    fb = feedback(tap, soon["idempotency_key"], serve=orders.serve)
    check("past not_after: feedback.expired, and not served",
          [t for t, _ in fb] == ["feedback.expired"] and messages(port, "anon-5") == []
          and len(messages(port, "anon-6") or []) == 1, fb)
    orders.tick(120 + 3601)
    fb = feedback(tap, late["idempotency_key"], serve=orders.serve)
    check("past its lifetime (1h): feedback.expired, and not served",
          [t for t, _ in fb] == ["feedback.expired"] and messages(port, "anon-6") == [], fb)
    missing = orders.order("onsite", ["anon-8"], template="no-such/step", data=CART, seconds=3800)
    fb = feedback(tap, missing["idempotency_key"], serve=orders.serve)
    check("an order whose template is missing: feedback.failed with the reason",
          [t for t, _ in fb] == ["feedback.failed"] and "no onsite template" in fb[0][1].get("reason", ""), fb)

    # kill -9, restart: nothing lost, nothing served twice.
    kept = orders.order("onsite", ["anon-7"], template="cart-browsing/goes-with", seconds=3900,
                        data=dict(CART, goes_with=[{"name": "Gaiters", "price": 19.9,
                                                    "url": "https://shop.example/p/gaiters"}]))
    before = wait_for(lambda: (orders.serve(), messages(port, "anon-7"))[1], timeout=10)
    p.kill("onsite")
    p.start("onsite")
    after = wait_for(lambda: (orders.serve(), messages(port, "anon-7"))[1], timeout=10)
    check("kill -9 and restart: the message is still served",
          before and after == before and after[0].get("kind") == "card"
          and [x["name"] for x in after[0]["products"]] == ["Gaiters"], (before, after))
    check("and what was shown before stays shown", messages(port, "anon-1") == [])
    orders.journal.append("send.onsite", kept)
    orders.tick(3950)
    wait_for(lambda: (orders.serve(), p.control("onsite")["messages"]["duplicates"] >= 1)[1], timeout=10)
    stats = p.control("onsite")["messages"]
    check("the same order again is the same message", stats.get("duplicates") == 1
          and len(messages(port, "anon-7")) == 1, stats)
    check("STATS counts orders, shown, clicked, expired (anon-9's too), failed",
          stats.get("orders") == 5 and stats.get("shown") == 1 and stats.get("clicked") == 1
          and stats.get("expired") == 3 and stats.get("failed") == 1, stats)
    for t in idle:
        t.join(30)
    orders.close()
done()
