#!/usr/bin/python3
"""One shopper on the demo shop in a real Chromium, and the whole pipeline
behind it, every part real: the collector (a browser key for the shop's
origin, nudge.js and nudge-sw.js from its kit directory, its VAPID key),
sessionizer, segmenter, scheduler (the shipped journeys and templates),
mail-sender (Maildir), push-sender (to tests/e2e/push_service.js, the
browser's push service) and the onsite stage. Event time: the browser's
events carry its clock; ticks move time on from there.

  before   three orders (a server key) teach what goes with the shoe;
  shop     she opens the shop from a campaign, adds the shoe, views three
           more products: the collector has every event with her one
           anonymous id, the page context and the campaign; the page shows
           the on-site card with what goes with the shoe (cart.browsing ->
           cart-browsing -> onsite), not the shoe; the pointer leaves at the
           top: the exit-intent prompt, answered with her address and its
           box; on the next page it does not come again;
  confirm  her address came through a browser key: she gets the
           confirmation mail and no other mail, even hours later; the link
           followed (POST), the welcome mail goes two hours on;
  push     (her subscription given through a server key, as headless
           chromium has no push service to subscribe with) the cart
           reminder goes by push an hour after she left; the push service
           decrypts it; delivered to the shop's service worker through the
           DevTools protocol it shows her cart; her click reaches the
           scheduler as feedback.clicked through the collector and the
           push-sender.
"""
import datetime
import email
import email.policy
import glob
import json
import os
import re
import shutil
import tempfile
import urllib.request

from ndtest import (BROWSER_KEY, BROWSER_ORIGIN, E2E, ROOT, JournalReader, Pipeline, check, done,
                    free_port, node_report, wait_for)
from schedtest import scheduler_options, users_in
from sendtest import PushService, vapid_keys
from webshop import WEB, Shop

CHROMIUM = "/usr/bin/chromium"
EMAIL = "ola.nowak@example.com"
SECRET_ENV, VAPID_ENV = "ND_TEST_JOURNEY_SECRET", "ND_TEST_JOURNEY_VAPID"
LINKS = (("collector", "sessionizer"), ("sessionizer", "segmenter"), ("segmenter", "scheduler"),
         ("scheduler", "mail-sender"), ("scheduler", "push-sender"), ("scheduler", "onsite"),
         ("collector", "mail-sender"), ("collector", "push-sender"), ("mail-sender", "scheduler"),
         ("push-sender", "scheduler"), ("onsite", "scheduler"))


def iso(when):
    return when.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def browser(phase, config):
    return node_report("browser_journey.js", phase, json.dumps(config), timeout=180)


def mails(maildir):
    found = []
    for path in sorted(glob.glob(os.path.join(maildir, "new", "*"))):
        with open(path, "rb") as f:
            found.append(email.message_from_binary_file(f, policy=email.policy.default))
    return found


def text_of(message):
    part = message.get_body(preferencelist=("plain",))
    return part.get_content() if part else ""


if not (os.path.isdir(os.path.join(E2E, "node_modules", "playwright-core"))
        and os.access(CHROMIUM, os.X_OK)):
    check("chromium and playwright-core are installed (make installs them)", False)
    done()

public, private = vapid_keys()
os.environ[VAPID_ENV] = private
os.environ[SECRET_ENV] = "journey-test-secret-0123456789"
service = PushService()
onsite_port = free_port()
anon, = users_in("abandoned-cart", "treated", 1, prefix="journey-visitor-")
templates = os.path.join(ROOT, "conf", "templates")
try:
    with Pipeline(clock="event") as p:
        base = "http://127.0.0.1:%d" % p.http_port
        maildir = os.path.join(p.dir, "mail")
        p.write_config({
            "pipeline": {"unsubscribe-secret": "env:" + SECRET_ENV},
            "collector": {"kit": WEB, "vapid-key": "env:" + VAPID_ENV},
            "sessionizer": {"input": "collector"},
            "segmenter": {"input": "sessionizer",
                          "segments": os.path.join(ROOT, "conf", "segments.zpl")},
            "scheduler": scheduler_options(
                input="segmenter, mail-sender, push-sender, onsite", **{
                    "quiet-hours": "none", "cap": "none", "confirm-url": base + "/confirm"}),
            "mail-sender": {"input": "scheduler, collector", "topics": "send.email, unsubscribe",
                            "maildir": maildir, "templates": templates,
                            "from": "Trail & Co. <shop@shop.example>",
                            "unsubscribe-url": base + "/unsubscribe"},
            "push-sender": {"input": "scheduler, collector", "topics": "send.push, push.",
                            "vapid-key": "env:" + VAPID_ENV, "event-url": base + "/v1/push/event",
                            "vapid-subject": "mailto:ops@shop.example", "hosts": "127.0.0.1",
                            "allow-http": "yes", "templates": templates},
            "onsite": {"input": "scheduler", "topics": "send.onsite",
                       "http": "127.0.0.1:%d" % onsite_port, "templates": templates},
            "watch": {"input": "collector"}})       # the test's reader of the collector's journal
        stages = ("collector", "sessionizer", "segmenter", "scheduler", "mail-sender",
                  "push-sender", "onsite")
        for stage in stages:
            p.start(stage)
        shop = Shop(base, BROWSER_KEY, kit=base, onsite="http://127.0.0.1:%d" % onsite_port)
        # The browser key is good only from its origin: the shop's page here
        with open(p.config) as f:
            config = f.read().replace('origins = "%s"' % BROWSER_ORIGIN, 'origins = "%s"' % shop.origin)
        with open(p.config, "w") as f:
            f.write(config)
        p.stop("collector")
        p.start("collector")
        profile = tempfile.mkdtemp(prefix="nd-chromium-")

        def settle():
            for up, down in LINKS:
                head = p.control(up)["journal"]["head"]
                if not wait_for(lambda: p.control(down)["inputs"][up]["position"] >= head, 30):
                    raise RuntimeError("%s did not catch up with %s" % (down, up))

        def tick(when):
            status, _ = p.post("/v1/tick", {"time": iso(when)})
            settle()
            return status

        # Before: others bought the shoe with socks, and with the cap
        start = datetime.datetime.utcnow().replace(microsecond=0)
        before = start - datetime.timedelta(hours=2)

        def item(pid, name, price):
            return {"product_id": pid, "name": name, "price": price, "quantity": 1,
                    "url": shop.url("/product.html?id=" + pid),
                    "image_url": shop.url("/img/%s.svg" % pid)}
        shoe, socks, cap = (item("trail-runner", "Trail Runner 42", 89.9),
                            item("running-socks", "Running Socks (3 pack)", 12.5),
                            item("trail-cap", "Trail Cap", 22))
        orders = [{"type": "track", "event": "Order Completed", "anonymousId": "buyer-%d" % n,
                   "messageId": "seed-%d" % n, "timestamp": iso(before + datetime.timedelta(minutes=n)),
                   "properties": {"order_id": "seed-%d" % n, "currency": "EUR", "products": products,
                                  "total": sum(x["price"] for x in products)}}
                  for n, products in enumerate(([shoe, socks], [shoe, socks], [shoe, cap]))]
        status, _ = p.post("/v1/batch", {"batch": orders})
        check("three earlier orders taught what goes with the shoe (server key)", status == 200)
        settle()

        # The shop, in Chromium
        config = {"shop": shop.origin, "profile": profile, "email": EMAIL, "anonymousId": anon}
        seen = browser("shop", config)
        check("the browser ran the shop without an error", not seen.get("errors"), seen.get("errors"))
        settle()
        reader = JournalReader(p, "collector", "watch", 100000)
        reader.poll(1.0)
        events = [b for _, t, b in reader.messages if t.startswith("event.") and b.get("anonymousId") == anon]
        reader.close()
        pages = [e for e in events if e.get("type") == "page"]
        context = (pages[0].get("context") or {}) if pages else {}
        check("the collector has her events, all with her one anonymous id, through the browser key",
              len(events) >= 8 and all(e.get("via") == "browser" for e in events)
              and seen.get("anonymousId") == anon and seen.get("sameVisitor"), len(events))
        check("with the page context and the campaign",
              (context.get("page") or {}).get("path") == "/index.html"
              and (context.get("campaign") or {}).get("name") == "winter"
              and (context.get("campaign") or {}).get("source") == "newsletter"
              and context.get("userAgent") and context.get("timezone"), context)
        added = [e for e in events if e.get("event") == "Product Added"]
        check("her cart: the shoe", [(e.get("properties") or {}).get("product_id") for e in added]
              == ["trail-runner"], added)
        check("the service worker is the shop's, importing the collector's nudge-sw.js",
              (seen.get("worker") or {}).get("script", "").startswith(shop.origin), seen.get("worker"))
        cards = [m for m in seen.get("onsite") or [] if "card" in m.get("kind", "")]
        card = cards[0] if cards else {}
        check("browsing on with a full cart, the page shows the on-site card of what goes with it",
              "Goes well with your cart" in card.get("text", "")
              and "Running Socks" in card.get("text", "") and "Trail Cap" in card.get("text", ""),
              seen.get("onsite"))
        check("not the shoe already in her cart",
              card.get("links") and not any("id=trail-runner" in link for link in card["links"]), card)
        check("the exit-intent prompt came once, and she gave her address with its box",
              seen.get("exitPrompt") and seen.get("afterSubmit") is not None
              and "inbox" in (seen.get("afterSubmit") or "").lower(), seen.get("afterSubmit"))
        check("on the next page it does not come again", seen.get("exitPromptAgain") is None,
              seen.get("exitPromptAgain"))

        # Her push subscription, as the shop's backend would relay it (headless
        # chromium has no push service to subscribe with): a server key
        sub = service.subscribe("ola")
        status, _ = p.post("/v1/identify", {"anonymousId": anon, "messageId": "push-sub",
                                            "timestamp": iso(start + datetime.timedelta(minutes=1)),
                                            "traits": {"push_subscription": sub, "push_consent": True}})
        check("her push subscription is taken (server key)", status == 200, status)
        settle()

        # The confirmation, and nothing else by mail until the link is followed
        wait_for(lambda: mails(maildir), 20)
        got = mails(maildir)
        check("her address gets the confirmation mail at once, and only that",
              len(got) == 1 and EMAIL in str(got[0]["To"]), [(str(m["To"]), str(m["Subject"])) for m in got])
        link = re.search(re.escape(base) + r"/confirm\?t=[A-Za-z0-9_.-]+", text_of(got[0]) if got else "")
        check("it holds a signed link to the collector", link, text_of(got[0])[:600] if got else "")
        # She left: the session ends, and an hour later the cart reminder goes by push
        for minutes in (40, 100, 130, 300):
            tick(start + datetime.timedelta(minutes=minutes))
        wait_for(lambda: service.received("ola"), 30)
        pushed = service.received("ola")
        payload = pushed[0].get("payload") if pushed else "{}"
        check("her cart reminder went by push, decrypted by the push service, with a report URL",
              len(pushed) == 1 and json.loads(payload or "{}").get("report", "").startswith(
                  base + "/v1/push/event?t="), payload)
        later = [str(m["Subject"]) for m in mails(maildir)]
        check("five hours on, still only the confirmation by mail: no welcome, no reminder",
              len(later) == 1, later)
        status = 0
        if link:
            req = urllib.request.Request(link.group(0), data=b"", method="POST")
            with urllib.request.urlopen(req, timeout=10) as resp:
                status = resp.status
        check("the link followed (POST) is confirmed", status == 200, status)
        confirmed = start + datetime.timedelta(minutes=300)
        for hours in (1, 3):
            tick(confirmed + datetime.timedelta(hours=hours))
        wait_for(lambda: len(mails(maildir)) >= 2, 20)
        got = mails(maildir)
        check("confirmed, her address gets the welcome mail two hours on",
              len(got) == 2 and EMAIL in str(got[1]["To"]) and "welcome" in
              (text_of(got[1]) + str(got[1]["Subject"])).lower(), [str(m["Subject"]) for m in got])

        # Her browser gets the push; she clicks it
        config["push"] = payload
        seen = browser("push", config)
        check("the push phase ran without an error", not seen.get("errors"), seen.get("errors"))
        shown = seen.get("notifications") or [{}]
        check("delivered to the shop's service worker, it shows her reminder",
              len(shown) == 1 and shown[0].get("title") and "Trail" in (shown[0].get("body") or "")
              + (shown[0].get("title") or ""), shown)

        def clicks():
            return p.control("scheduler")["scheduler"]["counts"].get("feedback.clicked", 0)
        clicked = wait_for(lambda: settle() or clicks() >= 1, 30)
        check("her click reaches the scheduler as feedback.clicked (worker -> collector -> push-sender)",
              seen.get("clicked") == "clicked" and clicked and clicks() == 1,
              (seen.get("clicked"), p.control("scheduler")["scheduler"]["counts"]))
        shop.close()
        shutil.rmtree(profile, ignore_errors=True)
finally:
    service.close()
done()
