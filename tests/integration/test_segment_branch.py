#!/usr/bin/python3
"""A message per kind of visitor in the shipped abandoned-cart journey
(issue 13, part 2): collector -> sessionizer -> segmenter -> scheduler,
real processes, event time, the shipped segments, journey and templates;
the chat-bridge and a real Chromium for the hesitating one's link.

  Cam  came to buy: adds a jacket on his first event, leaves: the plain
       reminder-1 (no code) an hour later, reminder-2 with a code a day on;
  Jo   just looking: views seven products over a quarter of an hour, then
       adds one, leaves: reminder-1.just-looking with the 10 % code at
       once, and no second code a day on;
  He   hesitating: views two products, leaves, comes back to view both
       again (two returns), adds one, leaves: reminder-1.hesitating, whose
       link opens the shop's chat with the cart as context, then
       reminder-2 with its code a day on.

Each in en, pl and ja (one locale each), each rendered by nudge's own
renderer from its send order. The link, followed in Chromium on a shop
page carrying the chat widget: the chat opens with the cart's line in the
shopper's input, the address loses its fragment (a reload does not open
it again); the question sent reaches the operator (nd-chat's console
protocol) with the cart in the visitor's summary and in the message. Then
a broken branch in a journey file stops the scheduler with file:line.
"""
import http.server
import os
import re
import subprocess
import threading
import urllib.parse

import zmq

from ndtest import BIN, ROOT, Pipeline, check, done, free_port, node_report
from rendertest import TEMPLATES, render_file
from reporttest import report
from schedtest import Reader, journeys_only, pipeline_extra, scheduler_options, variant
import shoptest
from shoptest import ts
from chattest import chat_options

CAM, JO, HE = "u-cam", "u-jo", "u-he"
QUESTION = "Does the green one run small?"


class Shop(shoptest.Shop):
    def __init__(self, p):
        super().__init__(p, (("collector", "sessionizer"), ("sessionizer", "segmenter"),
                             ("segmenter", "scheduler"), ("segmenter", "chat-bridge")))

    def product(self, minutes, anon, event, product_id, name, price):
        return self.track(minutes, anon, event, {
            "product_id": product_id, "name": name, "price": price, "quantity": 1,
            "category": "jackets", "currency": "EUR", "url": "https://shop.example/p/" + product_id})

    def who(self, minutes, anon, user, locale):
        return self.event("identify", minutes, anon, userId=user, traits={
            "email": "%s@example.com" % user, "firstName": user.title(), "locale": locale})


class Page(threading.Thread):
    """The shop's cart page, on 127.0.0.1, with the chat widget of the
    chat-bridge; the visitor's anonymous id is the one the shop's SDK
    keeps (ajs_anonymous_id), as on a real shop."""

    def __init__(self, chat_port, anon):
        super().__init__(daemon=True)
        html = ('<!doctype html><html><head><meta charset="utf-8"><title>Cart</title>'
                '<script>localStorage.setItem("ajs_anonymous_id", JSON.stringify("%s"));</script>'
                '</head><body><h1>Your cart</h1><script src="http://127.0.0.1:%d/chat/widget.js" async>'
                '</script></body></html>' % (anon, chat_port)).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200 if self.path.split("?")[0] == "/cart" else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(html)))
                self.end_headers()
                self.wfile.write(html)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = "http://127.0.0.1:%d" % self.server.server_address[1]

    def run(self):
        self.server.serve_forever()


def rendered(order, part):
    """The text of one part of a send order's template, in its locale."""
    path = os.path.join(TEMPLATES, order["template"], order["locale"],
                        "%s.%s.mustache" % (order["channel"], part))
    text, missing, error = render_file(path, order["data"])
    return text if not missing and not error else "missing %s, %s" % (missing, error)


chat_port = free_port()
extra = {"segmenter": {"input": "sessionizer", "segments": os.path.join(ROOT, "conf", "segments.zpl")},
         "scheduler": scheduler_options(journeys_only("abandoned-cart"), input="segmenter, feedback"),
         "feedback": {}, "sink": {"input": "scheduler"},
         "chat-bridge": chat_options(chat_port)}

with Pipeline(clock="event", extra=extra) as p:
    for stage in ("collector", "sessionizer", "segmenter", "scheduler", "chat-bridge"):
        p.start(stage)
    shop, reader = Shop(p), Reader(p)

    def sends(user, step=None):
        """What went to user (by address: the pipeline names the visitor)."""
        reader.drain(p)
        return [s for s in reader.sends() if s["to"] == "%s@example.com" % user
                and (step is None or s["step"] == step)]

    def own(order, template):
        """A variant's own wording where it has one (reminder-1.b)."""
        v = variant("abandoned-cart", order.get("user", ""), 500, [("a", 50), ("b", 50)])
        return template + ".b" if v == "b" and os.path.isdir(os.path.join(TEMPLATES, template + ".b")) \
            else template

    #   Cam: straight to the jacket. He: a first look at two jackets.
    shop.send(shop.who(0, "a-cam", CAM, "en-GB"),
              shop.product(1, "a-cam", "Product Added", "p-1", "Rain jacket", 120.0),
              shop.who(0, "a-he", HE, "ja-JP"),
              shop.product(1, "a-he", "Product Viewed", "p-green", "Green parka", 180.0),
              shop.product(2, "a-he", "Product Viewed", "p-blue", "Blue parka", 175.0))
    #   Jo: seven products over a quarter of an hour, then one in the cart
    shop.send(shop.who(0, "a-jo", JO, "pl-PL"),
              *[shop.product(2 * i, "a-jo", "Product Viewed", "p-%d" % i, "Jacket %d" % i, 90.0)
                for i in range(1, 8)])
    shop.send(shop.product(15, "a-jo", "Product Added", "p-7", "Jacket 7", 90.0))
    #   He comes back an hour later: both parkas again, the green one in the cart
    shop.tick(60)
    shop.send(shop.product(61, "a-he", "Product Viewed", "p-green", "Green parka", 180.0),
              shop.product(62, "a-he", "Product Viewed", "p-blue", "Blue parka", 175.0),
              shop.product(63, "a-he", "Product Added", "p-green", "Green parka", 180.0))
    shop.tick(85)
    check("nothing before an hour after each visit ended (Cam's at +31 min)",
          sends(CAM) + sends(JO) + sends(HE) == [], reader.sends())
    shop.tick(160)

    # ------------------------------------------------- came to buy --
    cam = sends(CAM)
    order = cam[0] if cam else {}
    check("came to buy: the plain reminder-1 (the default arm keeps the journey's names), no code",
          [s["step"] for s in cam] == ["reminder-1"] and order["template"] == own(order, "abandoned-cart/reminder-1")
          and "code" not in order["data"], cam)
    text = rendered(order, "text") if order else ""
    check("came to buy: the e-mail in English lists the jacket, offers no code and no chat",
          order.get("locale") == "en" and "Rain jacket" in text and "code" not in text.lower()
          and "nudge-chat" not in text, text)

    # ------------------------------------------------ just looking --
    jo = sends(JO)
    order = jo[0] if jo else {}
    code = order.get("data", {}).get("code", {})
    check("just looking: reminder-1.just-looking an hour after leaving, with the 10 % CART code in it",
          [s["step"] for s in jo] == ["reminder-1.just-looking"]
          and order["template"] == "abandoned-cart/reminder-1.just-looking"
          and code.get("code", "").startswith("CART-") and code.get("percent") == 10, jo)
    text = rendered(order, "text") if order else ""
    check("just looking: the Polish e-mail gives the code", order.get("locale") == "pl"
          and code.get("code", "?") in text and "rabatu" in text and "Jacket 7" in text, text)

    # -------------------------------------------------- hesitating --
    he = sends(HE)
    order = he[0] if he else {}
    check("hesitating: reminder-1.hesitating (the first arm that holds: he also added at once), no code",
          [s["step"] for s in he] == ["reminder-1.hesitating"]
          and order["template"] == "abandoned-cart/reminder-1.hesitating"
          and "code" not in order["data"], he)
    text = rendered(order, "text") if order else ""
    html = rendered(order, "html") if order else ""
    links = re.findall(r"https://shop\.example/cart#nudge-chat=(\S+)", text)
    summary = order.get("data", {}).get("cart", {}).get("summary", "")
    check("hesitating: the Japanese e-mail offers answers in the chat, with the cart's line in its link",
          order.get("locale") == "ja" and "チャット" in text and len(links) == 1
          and urllib.parse.unquote(links[0]) == summary and "Green parka × 1" in summary
          and "€180.00" in summary, (text, summary))
    check("hesitating: the HTML part's button carries the same link",
          'href="https://shop.example/cart#nudge-chat=%s"' % (links[0] if links else "?") in html, html)

    # ------------------------------------- the link, in a browser --
    console = p.ctx.socket(zmq.DEALER)
    console.setsockopt(zmq.LINGER, 0)
    console.connect(p.endpoint("chat-bridge", "console"))
    console.send_multipart([b"HELLO", b"anna"])
    page = Page(chat_port, "a-he")
    page.start()
    seen = node_report("chat_link.js", page.base + "/cart#nudge-chat=" + (links[0] if links else ""),
                       QUESTION, timeout=90)
    check("the link opens the chat on the shop's page, the cart's line begun in the shopper's input",
          seen.get("open") is True and seen.get("context") == summary
          and (seen.get("input") or "").startswith(summary) and not seen.get("errors"), seen)
    check("the fragment is taken off the address, and a reload does not open the chat again",
          seen.get("hash") == "" and seen.get("reloaded", {}).get("open") is False
          and seen.get("reloaded", {}).get("hash") == "", seen)
    print("# the browser, ms from its start: %s" % seen.get("ms"))
    check("nothing left 127.0.0.1", not seen.get("elsewhere"), seen.get("elsewhere"))
    sent = seen.get("sent", {})
    check("the question goes to the chat-bridge with the cart's line first",
          sent.get("status") == 200 and (summary + " \u2014 " + QUESTION) in (sent.get("body") or ""), sent)
    notes = []
    while console.poll(10000):
        frames = [f.decode() for f in console.recv_multipart()]
        if frames[0] == "NOTE":
            notes.append(frames[2])
        if any(QUESTION in n for n in notes):
            break
    note = "\n".join(notes)
    check("the operator sees the cart in the visitor's summary and in the question",
          "Cart: Green parka x1" in note and "hesitating" in note
          and (summary + " \u2014 " + QUESTION) in note, notes)
    console.close()
    page.server.shutdown()

    # ----------------------------------------------- a day later --
    shop.tick(60 * 24 + 200)
    check("a day on: came to buy and hesitating get reminder-2 with a code; just looking, who has"
          " one, nothing more",
          [s["step"] for s in sends(CAM)] == ["reminder-1", "reminder-2"]
          and [s["step"] for s in sends(HE)] == ["reminder-1.hesitating", "reminder-2"]
          and [s["step"] for s in sends(JO)] == ["reminder-1.just-looking"]
          and sends(HE, "reminder-2")[0]["data"]["code"]["code"].startswith("CART-"),
          [(s["to"], s["step"]) for s in reader.sends()])
    model = report(p, "--json", "--steps")
    cart = next((j for j in model.get("journeys", []) if j["name"] == "abandoned-cart"), {})
    sent = {}
    for row in cart.get("steps", []):          # a row per step, variant and channel
        sent[row["step"]] = sent.get(row["step"], 0) + row.get("sent", 0)
    sent = sorted((step, n) for step, n in sent.items() if n)
    check("nd-report shows each arm's step apart: %s" % sent,
          sent == [("reminder-1", 1), ("reminder-1.hesitating", 1), ("reminder-1.just-looking", 1),
                   ("reminder-2", 2)], cart.get("steps"))
    reader.close()

# ------------------------------------------- a broken branch: --check --
SHIPPED = os.path.join(ROOT, "conf", "journeys", "abandoned-cart.zpl")
text = open(SHIPPED).read()
BROKEN = [
    ("an arm without a when", '                when = "in segment cart_just_looking"\n', "",
     "arm just-looking: needs at least one 'when'", "arm = just-looking"),
    ("a when on the default", "            default                     #",
     '            default\n                when = "orders > 1"\n            #', "default: takes no 'when'", 'when = "orders > 1"'),
    ("two arms of one name", "            arm = just-looking", "            arm = hesitating",
     "arm 'hesitating' twice", "arm = hesitating"),
    ("an arm named as a variant", "            arm = just-looking", "            arm = b",
     "'b' is a variant's name too", "arm = b"),
    ("a split in an arm", "                send = reminder-1       #   templates abandoned-cart/reminder-1.hesitating",
     "                split = inner\n                    variant = x\n                        weight = 1",
     "holds no split", "split = inner"),
    ("a goto out of an arm", "                    max-delay = 24h\n            arm = just-looking",
     "                    max-delay = 24h\n                check = sure\n                    if = \"sent > 0\"\n"
     "                    else = next-day\n            arm = just-looking", "arm hesitating has no step 'next-day'",
     "else = next-day"),
    ("a condition that does not parse", '"in segment hesitating"', '"in segment"', "when: column", 'when = "in segment"'),
    ("an arm's template missing", "                send = reminder-1       #   templates abandoned-cart/reminder-1.hesitating",
     "                send = reminder-9", "template", "send = reminder-9"),
]
with Pipeline(clock="event", extra=pipeline_extra()) as p:
    journeys = os.path.join(p.dir, "journeys")
    os.makedirs(journeys)
    target = os.path.join(journeys, "abandoned-cart.zpl")
    for name, old, new, reason, at in BROKEN:
        assert old in text, old
        broken = text.replace(old, new, 1)
        with open(target, "w") as f:
            f.write(broken)
        p.write_config(pipeline_extra(journeys))
        r = subprocess.run([os.path.join(BIN, "scheduler"), "--config", p.config, "--check"],
                           capture_output=True, text=True, timeout=20, cwd=p.dir)
        found = re.search(re.escape(target) + r":(\d+): (.*)", r.stderr)
        line = int(found.group(1)) if found else 0
        lines = broken.splitlines()
        check("--check: %s stops it (exit 78) with file:line: %s" % (name, found.group(2) if found else ""),
              r.returncode == 78 and found and reason in found.group(2) and 0 < line <= len(lines)
              and at in lines[line - 1],
              (r.returncode, r.stderr))
done()
