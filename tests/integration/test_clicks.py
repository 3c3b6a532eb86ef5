#!/usr/bin/python3
"""A click on a link in a real e-mail, followed through the collector with
curl, every part real: scheduler (shipped abandoned-cart journey, event
time) -> mail-sender -> a real SMTP server (smtpd.py) -> the mail's link
-> collector GET /c/TOKEN -> mail-sender (the collector as its side input,
topic click.email) -> feedback.clicked -> scheduler -> nd-report. Python
stands in only for the segmenter (the cart.abandoned).

  - every link to the shop in the HTML and text parts is a /c/ redirect;
    the cart's product from another host (a browser's claim) is not
    linked at all, and the unsubscribe link stays the collector's own;
  - curl on the link: 302 to the right URL with utm_source=nudge,
    utm_medium=email, utm_campaign=abandoned-cart, utm_content=reminder-1-V;
  - a tampered token, or a token signed for another purpose: 400, no
    Location (never an open redirect);
  - the cart link twice and a product once: the scheduler hears two
    feedback.clicked (one a link: the collector's id comes from the
    token), nd-report counts one click (unique) for reminder-1 by e-mail.

Then attribution = "clicked 3d" (the shipped abandoned-cart with that
limit; Python feeds the scheduler): Ann clicks reminder-1 and orders,
Bo only has it delivered and orders, Cy orders and clicks an hour
later. Only Ann's order is credited to reminder-1; all three count for
the journey's conversions (the group view does not change).
"""
import copy
import json
import os
import re
import subprocess
import tempfile
import urllib.parse

from ndtest import BIN, ROOT, Pipeline, check, done, free_port
from mailtest import parse
from schedtest import CART, Feed, Reader, journeys_only, scheduler_options, users_in
from smtpd import SmtpServer
from sendtest import until


def report_steps(p, journey):
    """nd-report's counters of journey: (step, channel, metric) -> n, and
    the journey's own metrics (converted, orders) summed over variants."""
    out = subprocess.run([os.path.join(BIN, "nd-report"), "-c", p.config, "--json"],
                         capture_output=True, text=True)
    steps, whole = {}, {}
    for _, v in json.loads(out.stdout or "{}").get("counters", {}).get(journey, {}).items():
        for metric, n in v.get("group", {}).items():
            if isinstance(n, int):
                whole[metric] = whole.get(metric, 0) + n
        for step, channels in v.get("steps", {}).items():
            for channel, metrics in channels.items():
                for metric, n in metrics.items():
                    steps[(step, channel, metric)] = steps.get((step, channel, metric), 0) + n
    return steps, whole


def curl(url):
    """(status, Location) of one GET, not followed."""
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
                          url], capture_output=True, text=True, timeout=30).stdout
    status, _, location = out.partition(" ")
    return int(status or 0), location


with Pipeline(clock="event") as p:
    server = SmtpServer(p.dir, tls=None).start()
    secret = "file:" + os.path.join(p.dir, "secret")
    click_url = "http://127.0.0.1:%d/c/" % p.http_port
    p.write_config({
        "pipeline": {"unsubscribe-secret": secret, "click-url": click_url,
                     "link-hosts": "shop.example"},
        "feed": {}, "feedback": {},
        "scheduler": scheduler_options(journeys_only("abandoned-cart"), input="feed, mail-sender"),
        "mail-sender": {"input": "scheduler, collector", "topics": "send.email, click.email",
                        "relay": "localhost:%d" % server.port, "tls": "none",
                        "templates": os.path.join(ROOT, "conf", "templates"),
                        "from": "Example Shop <shop@shop.example>",
                        "unsubscribe-url": "http://127.0.0.1:%d/unsubscribe" % p.http_port}})
    for stage in ("collector", "scheduler", "mail-sender"):
        p.start(stage)
    feed = Feed(p)
    user, = users_in("abandoned-cart", "treated", 1)
    cart = copy.deepcopy(CART)
    cart["items"].append({"product_id": "p-3", "name": "Odd thing", "price": 1.0, "quantity": 1,
                          "url": "https://evil.example/phish"})
    feed.abandon(user, 0, cart=cart)
    feed.tick(1.0)
    feed.settle()
    until(lambda: server.messages, timeout=30, serve=feed.settle)
    mail = parse(server.messages[0][2]) if server.messages else None
    html = mail.get_body(("html",)).get_content() if mail else ""
    text = mail.get_body(("plain",)).get_content() if mail else ""
    hrefs = re.findall(r'href="([^"]*)"', html)
    shop_links = [h for h in hrefs if h.startswith(click_url)]
    check("the reminder went by e-mail, its links to the shop wrapped as /c/ redirects",
          mail is not None and len(shop_links) >= 3
          and all(h.startswith(click_url) or "/unsubscribe?" in h for h in hrefs), hrefs)
    check("the text part's links are redirects too",
          text.count(click_url) >= 1 and "https://shop.example" not in text, text)
    check("a link to another host can't be made: the product from evil.example is not linked",
          "evil.example" not in html and "evil.example" not in text
          and "<a>Odd thing</a>" in html, html)

    status, location = curl(shop_links[-1] if shop_links else click_url + "x")
    target = urllib.parse.urlsplit(location)
    query = dict(urllib.parse.parse_qsl(target.query))
    step_variant = query.get("utm_content", "")
    check("curl on the cart link: 302 to https://shop.example/cart with UTM parameters",
          status == 302 and location.startswith("https://shop.example/cart?")
          and query.get("utm_source") == "nudge" and query.get("utm_medium") == "email"
          and query.get("utm_campaign") == "abandoned-cart"
          and re.fullmatch(r"reminder-1-[ab]", step_variant), (status, location))

    token = shop_links[0][len(click_url):] if shop_links else "x.y"
    flipped = token[:3] + ("A" if token[3] != "A" else "B") + token[4:]
    check("a tampered link gets 400 and no redirect", curl(click_url + flipped) == (400, ""),
          curl(click_url + flipped))
    unsubscribe = [h for h in hrefs if "/unsubscribe?token=" in h]
    other = unsubscribe[0].split("token=", 1)[1] if unsubscribe else "x"
    check("an unsubscribe token is no click token: 400", curl(click_url + other)[0] == 400)
    check("an unknown path under /c/: 400", curl(click_url + "https://evil.example/")[0] == 400)

    check("a second click redirects the same way", curl(shop_links[-1])[0] == 302)
    status, location = curl(shop_links[0])
    check("a click on the first product: 302 to its page",
          status == 302 and location.startswith("https://shop.example/p/1?utm_source=nudge&"),
          location)

    def clicks():
        return p.control("scheduler")["scheduler"]["counts"].get("feedback.clicked", 0)
    until(lambda: clicks() >= 2, timeout=30, serve=feed.settle)
    feed.tick(1.5)
    feed.settle()
    check("the scheduler hears one feedback.clicked a link (the same link twice is one)",
          clicks() == 2,
          p.control("scheduler")["scheduler"]["counts"])
    steps, _ = report_steps(p, "abandoned-cart")
    check("nd-report: one (unique) click for reminder-1 by e-mail",
          steps.get(("reminder-1", "email", "clicked")) == 1, steps)
    log = p.log("collector") + p.log("mail-sender")
    check("no log line names the person's address or the shop URL",
          "%s@example.com" % user not in log and "shop.example/cart" not in log)
    feed.close()
    server.stop()

#  attribution = "clicked 3d" -------------------------------------------------
journeys = tempfile.mkdtemp(prefix="nd-journeys-")
with open(os.path.join(ROOT, "conf", "journeys", "abandoned-cart.zpl")) as f:
    shipped = f.read()
check("the shipped abandoned-cart credits deliveries within 5 days", "attribution = 5d" in shipped)
with open(os.path.join(journeys, "abandoned-cart.zpl"), "w") as f:
    f.write(shipped.replace("attribution = 5d", 'attribution = "clicked 3d"'))
with Pipeline(clock="event", extra={"feed": {}, "feedback": {}, "sink": {"input": "scheduler"},
                                    "scheduler": scheduler_options(journeys)}) as p:
    p.start("scheduler")
    feed, reader = Feed(p), Reader(p)
    ann, bo, cy = users_in("abandoned-cart", "treated", 3)
    for n, user in enumerate((ann, bo, cy)):
        feed.abandon(user, n * 0.01)
    feed.tick(1.5)
    feed.settle()
    reader.drain(p)
    orders = {s["user"]: s for s in reader.sends() if s["step"] == "reminder-1"}
    check("three first reminders", sorted(orders) == sorted([ann, bo, cy]), sorted(orders))
    orders = {u: orders.get(u, {"user": u, "idempotency_key": "?", "channel": "email"})
              for u in (ann, bo, cy)}
    for user in (ann, bo, cy):
        feed.feedback("delivered", orders[user], 1.55)
    feed.feedback("clicked", orders[ann], 1.6)
    feed.order(ann, 3)
    feed.order(bo, 3)
    feed.order(cy, 3)
    feed.feedback("clicked", orders[cy], 4)
    feed.tick(5)
    feed.settle()
    steps, whole = report_steps(p, "abandoned-cart")
    check("clicked 3d: only the order that followed a click is credited to reminder-1",
          steps.get(("reminder-1", "email", "attributed")) == 1, steps)
    check("the journey's conversions still count all three orders (uplift unchanged)",
          whole.get("converted") == 3, whole)
    feed.close()
done()
