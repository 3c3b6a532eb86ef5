#!/usr/bin/env python3
"""The demo shop in a real Chromium: nudge.js, its prompts, its service worker.

Debian's chromium, headless, driven by playwright-core
(tests/e2e/browser_shop.js), opens the demo shop (web/demo, served by
tests/integration/webshop.py) against a real collector and checks:
- browse, add to the cart, leave: the collector has every event with one
  anonymous id (the chat widget, from a real chat-bridge, tells the same
  visitor) and the page context (url, path, referrer, title, UTM
  campaign, user agent, locale, time zone, library);
- the exit-intent prompt: once when the pointer leaves at the top, not on
  the next page, never in the checkout; a labelled modal dialog in a
  shadow root (the shop's CSS does not reach it), focus kept inside, Esc
  closes it and focus goes back;
- the sign-up form: no address without its consent box; identify with
  email/email_consent and phone/sms_consent; the code posted to
  /v1/confirm; not prompted again once an address was given;
- the service worker registers; a push delivered through the DevTools
  protocol (ServiceWorker.deliverPushMessage) shows the notification;
  its click and close POST the report URL with action=clicked/dismissed;
  the soft push prompt never shows on load, only after a click; with
  permission given, a click fetches the key from /v1/push/key (headless
  chromium has no push service, so pushManager.subscribe stops there);
- on-site messages: banner and card shown in shadow roots, every text
  escaped, only http(s) links and images, an expired one never; shown,
  clicked and dismissed reported;
- offline: events wait in localStorage and leave on `online`; a 503 with
  Retry-After is retried, a 400 is dropped; an event sent right before
  the page is left still arrives (keepalive); offline long, the queue keeps
  the newest 200;
- on a phone (a touch context), the back button and a fast scroll up are
  the exit intent;
- identify keeps the user id and traits where analytics.js does, alias
  names both ids, reset starts a new anonymous id.

Stand-ins while this tree lacks the other parts, each switched off when
the real one is there: the server key rather than a browser key for the
shop's origin (on when the collector's source knows "browser-keys");
nudge.js and nudge-sw.js served by the shop's server rather than the
collector (on when the collector answers /nudge.js, given kit = web/);
/v1/confirm and /v1/push/key answered inside the browser (on when the
collector does not answer 404). Always stand-ins here: the onsite stage's poll and event
endpoints and the push report URL, served by the shop's server (the
onsite and push-sender tests drive the real ones end to end).
"""
# tests/run: start first (one of the longest)
import json
import os
import time

from chattest import chat_options
from ndtest import E2E, WRITE_KEY, Pipeline, check, done, free_port, node_report
from webshop import Shop, use_browser_key, use_kit

#   the stand-in /v1/push/key's answer: a P-256 point, as bin/nd-vapid prints one
VAPID_PUBLIC = "BJC-Srcueryd_h53VLws7JT-5C_nu1gJWBZPlS6JdbKeIm6cRmAfRVVxccXZ-ay1eOK9bkgkVWTGGF31rNvn7dk"
CHROMIUM = "/usr/bin/chromium"


def installed():
    return (os.path.isdir(os.path.join(E2E, "node_modules", "playwright-core")) and
            os.access(CHROMIUM, os.X_OK))


def collector_has(p, method, path):
    """Whether this branch's collector serves path (404: not yet)."""
    if method == "GET":
        status, _ = p.get(path)
    else:
        status, _ = p.post(path, {}, key=None)
    return status != 404


def run_browser(config):
    return node_report("browser_shop.js", json.dumps(config), timeout=200)


def by_name(events):
    return {(b.get("event") or b.get("type")): b for t, b in events}


def check_tracking(shop, out, events):
    anon = out.get("anonymousId")
    check("the page kept one anonymous id across pages",
          anon and out.get("sameVisitor") == anon, (anon, out.get("sameVisitor")))
    check("the chat widget (chat-bridge) on the page tells the same visitor",
          out.get("chatVisitor") == anon, (out.get("chatVisitor"), anon))
    check("the anonymous id is in the ajs_anonymous_id cookie too",
          "ajs_anonymous_id=" in out.get("cookie", ""), out.get("cookie"))
    check("every event the collector got has that one anonymous id",
          events and {b.get("anonymousId") for t, b in events} == {anon},
          {b.get("anonymousId") for t, b in events})
    names = by_name(events)
    for name in ("page", "Product List Viewed", "Product Viewed", "Product Added", "Cart Viewed",
                 "Prompt Shown", "Prompt Dismissed", "Checkout Started"):
        check("the collector got %s" % name, name in names, sorted(names))
    pages = [b for t, b in events if t == "event.page"]
    paths = [b["context"]["page"]["path"] for b in pages]
    check("a page event for index, product and cart, in order",
          paths[:3] == ["/index.html", "/product.html", "/cart.html"], paths)
    product_page = pages[1] if len(pages) > 1 else {}
    ctx = product_page.get("context", {})
    page = ctx.get("page", {})
    check("page context: url, path, search, title, referrer",
          page.get("url") == shop.url("/product.html?id=trail-runner") and
          page.get("search") == "?id=trail-runner" and page.get("title") == "Trail Runner 42 - Trail & Co." and
          page.get("referrer", "").startswith(shop.url("/index.html?utm_source")), page)
    check("page event: name and category, properties as analytics.js sends them",
          product_page.get("name") == "Trail Runner 42" and product_page.get("category") == "Shoes" and
          product_page.get("properties", {}).get("path") == "/product.html", product_page)
    check("campaign from the landing's UTM parameters, on later pages too",
          all(b.get("context", {}).get("campaign") ==
              {"source": "newsletter", "medium": "email", "name": "spring"} for t, b in events), ctx)
    check("context: library, user agent, locale, time zone",
          ctx.get("library") == {"name": "nudge.js", "version": "1.0.0"} and
          "HeadlessChrome" in ctx.get("userAgent", "") and ctx.get("locale") == "de-DE" and
          ctx.get("timezone") == "Europe/Berlin", ctx)
    added = next((b for t, b in events if b.get("event") == "Product Added"), {}).get("properties", {})
    check("Product Added: the E-commerce v2 fields",
          added.get("product_id") == "trail-runner" and added.get("sku") == "SHOE-42-BLK" and
          added.get("price") == 89.9 and added.get("quantity") == 1 and
          added.get("cart_id", "").startswith("cart-"), added)
    check("every event: messageId as id, timestamp, sentAt",
          all(b.get("id", "").startswith("nudge-") and b.get("id") == b.get("messageId") and
              b.get("originalTimestamp") and b.get("sentAt") for t, b in events), events[:1])
    ids = [b["id"] for t, b in events]
    check("no event arrives twice", len(ids) == len(set(ids)), len(ids) - len(set(ids)))
    check("the write key is not passed on", all("writeKey" not in b for t, b in events))


def check_exit(out):
    e = out.get("exit") or {}
    shown = e.get("shown") or {}
    check("exit intent: the prompt appears when the pointer leaves at the top", shown, e)
    check("the prompt is a modal dialog, labelled and described",
          shown.get("role") == "dialog" and shown.get("modal") == "true" and
          shown.get("label") == "Before you go\u2026" and shown.get("described"), shown)
    check("the prompt shows the configured offer", "WELCOME10" in shown.get("text", ""), shown)
    check("the shop's CSS does not reach the prompt (shadow DOM)",
          shown.get("shopCss") and shown.get("shopCss") != "rgb(255, 0, 0)", shown.get("shopCss"))
    check("focus starts in the first field", shown.get("focus") == "nudge-email", shown.get("focus"))
    tabs = e.get("tabs") or []
    check("Tab walks the dialog's controls and wraps to the first",
          len(tabs) == 6 and all(tabs) and tabs[-1] == "nudge-email" and len(set(tabs)) == 6, tabs)
    check("Shift+Tab from the first control goes to the last", e.get("shiftTabs") == ["Sign up"],
          e.get("shiftTabs"))
    check("Esc closes the prompt", not e.get("afterEsc"), e.get("afterEsc"))
    check("focus goes back where it was", e.get("focusBack") == "checkout", e.get("focusBack"))
    check("not again on the next page", "nextPage" in e and not e.get("nextPage"), e.get("nextPage"))
    check("never in the checkout", "checkout" in e and not e.get("checkout"), e.get("checkout"))


def check_signup(out, events, stand_in):
    s = out.get("signup") or {}
    check("the sign-up form opens from the page's button",
          (s.get("opened") or {}).get("label") == "Sign up", s.get("opened"))
    check("an address without its consent box is not sent",
          "with its box ticked" in (s.get("noConsent") or ""), s.get("noConsent"))
    check("after sending: check your inbox, and a field for the SMS code",
          "check your inbox" in (s.get("after") or "") and "code" in (s.get("after") or ""), s.get("after"))
    identifies = [b for t, b in events if t == "event.identify" and "email" in b.get("traits", {})]
    traits = identifies[0].get("traits", {}) if identifies else {}
    check("identify with email, email_consent, phone, sms_consent",
          traits == {"email": "jane.doe@example.com", "email_consent": True,
                     "phone": "+4915112345678", "sms_consent": True}, identifies)
    check("a wrong code says so", "not right" in (s.get("wrongCode") or ""), s.get("wrongCode"))
    if stand_in:
        confirms = s.get("confirms") or []
        body = confirms[-1]["body"] if confirms else {}
        check("the code is posted to /v1/confirm as text/plain with key, visitor, phone",
              len(confirms) == 2 and body.get("writeKey") and body.get("anonymousId") == out.get("anonymousId")
              and body.get("phone") == "+4915112345678" and body.get("code") == "123456" and
              confirms[-1]["contentType"].startswith("text/plain"), confirms)
        check("a right code: confirmed", "confirmed" in (s.get("rightCode") or ""), s.get("rightCode"))
    else:
        print("# /v1/confirm is the collector's: a right code needs the SMS the scheduler sends "
              "(the optin tests check that)")
    check("a visitor who gave an address gets no exit-intent prompt",
          "exitAfter" in s and not s.get("exitAfter"), s.get("exitAfter"))


def check_push(shop, out):
    push = out.get("push") or {}
    check("no push prompt on page load", "onLoad" in push and not push.get("onLoad"), push.get("onLoad"))
    worker = push.get("worker") or {}
    check("the service worker registers (/sw.js, the shop's root scope)",
          worker.get("script") == shop.url("/sw.js") and worker.get("scope") == shop.url("/"), worker)
    check("a click on 'Notify me' opens the soft prompt first",
          (push.get("soft") or {}).get("label") == "Get notified?", push.get("soft"))
    check("Esc closes the soft prompt", "softClosed" in push and not push.get("softClosed"))
    shown = push.get("notifications") or []
    n = shown[0] if shown else {}
    check("a push through DevTools (deliverPushMessage) shows the notification",
          len(shown) == 1 and n.get("title") == "Your cart misses you" and
          n.get("body") == "The Trail Runner 42 is still in your cart." and n.get("tag") == "cart-1" and
          n.get("icon") == shop.url("/img/trail-runner.svg") and n.get("url") == shop.url("/cart.html"), shown)
    check("the notification's actions: a javascript: one is dropped", n.get("actions") == ["cart"], n)
    knows = push.get("workerKnows") or {}
    check("the page told the worker who the visitor is (for pushsubscriptionchange)",
          knows.get("anonymousId") == out.get("anonymousId") and knows.get("writeKey") and
          knows.get("host"), knows)
    check("with permission given, a click fetches the key from /v1/push/key, no soft prompt",
          push.get("keyRequests") and push["keyRequests"][0].endswith("/v1/push/key") and
          not push.get("softAfterGrant"), push)
    #   headless chromium has no push service to register with: subscribe()
    #   fails there, after the key (a real browser goes on to identify)
    print("# nudge.push.subscribe() after a click, permission given: %s" % push.get("subscribe"))
    shop.wait(lambda: len(shop.push_reports) >= 2, timeout=5)
    actions = sorted(r.get("action", [""])[0] for r in shop.push_reports)
    check("click and close POST the report URL with action=clicked and dismissed",
          actions == ["clicked", "dismissed"] and
          all(r.get("t") == ["TOKEN"] for r in shop.push_reports), shop.push_reports)


def check_mobile(out):
    m = out.get("mobile") or {}
    check("a phone: the pointer is coarse", m.get("coarse"), m)
    check("a phone: the back button shows the exit-intent prompt, on the same page",
          (m.get("back") or {}).get("role") == "dialog" and m.get("stayed"), m)
    check("a phone: a fast scroll up shows it", (m.get("scrollUp") or {}).get("role") == "dialog", m)


def check_identity(out, events):
    i = out.get("identity") or {}
    known, after = i.get("known") or {}, i.get("after") or {}
    check("identify keeps the user id and traits (ajs_user_id, ajs_user_traits)",
          known.get("userId") == "user-42" and known.get("traits", {}).get("firstName") == "Jane" and
          "ajs_user_id=user-42" in i.get("cookie", ""), i)
    check("reset forgets the user and starts a new anonymous id",
          after.get("userId") is None and after.get("traits") == {} and
          after.get("anonymousId") not in (None, i.get("before")), i)
    names = {b.get("event") or b.get("type"): b for t, b in events}
    probe, alias, reset = names.get("Identified Probe", {}), names.get("alias", {}), names.get("Reset Probe", {})
    check("after identify, events carry the userId",
          probe.get("userId") == "user-42" and probe.get("anonymousId") == i.get("before"), probe)
    check("alias: userId and previousId",
          alias.get("userId") == "user-42b" and alias.get("previousId") == "user-42", alias)
    check("after reset, events carry the new anonymous id and no userId",
          reset.get("anonymousId") == after.get("anonymousId") and "userId" not in reset, reset)


def check_leave(events):
    bottles = [b for t, b in events if b.get("event") == "Product Added" and
               b.get("properties", {}).get("product_id") == "water-bottle"]
    check("an event right before leaving the page still arrives (keepalive)", len(bottles) == 1,
          len(bottles))


def check_onsite(shop, out):
    shown = out.get("onsite") or []
    check("on-site messages: a banner and a card, the expired one not",
          sorted(m["kind"] for m in shown) == ["m banner", "m card"], shown)
    banner = next((m for m in shown if "banner" in m["kind"]), {})
    card = next((m for m in shown if "card" in m["kind"]), {})
    check("message text is escaped (markup shows as text)",
          "<img src=x onerror" in banner.get("text", "") and out.get("onsitePwned") is None,
          (banner, out.get("onsitePwned")))
    check("a javascript: link and image are dropped",
          banner.get("hrefs") == [] and banner.get("imgs") == [], banner)
    check("the card lists the products with http(s) links and images only",
          card.get("hrefs") == [shop.url("/cart.html"), shop.url("/product.html?id=running-socks")] and
          card.get("imgs") == [shop.url("/img/running-socks.svg")] and
          "Running Socks" in card.get("text", "") and "12,50" in card.get("text", ""), card)
    shop.wait(lambda: len(shop.onsite_events) >= 4, timeout=5)
    got = sorted((e.get("id"), e.get("action")) for e in shop.onsite_events)
    check("shown, clicked and dismissed reported to /onsite/event",
          got == [("m-banner", "dismissed"), ("m-banner", "shown"), ("m-card", "clicked"),
                  ("m-card", "shown")] and
          {e.get("visitor") for e in shop.onsite_events} == {out.get("anonymousId")}, shop.onsite_events)


def check_offline(out, events):
    off = out.get("offline") or {}
    check("offline: the event waits in the localStorage queue",
          "Product Added" in (off.get("queued") or []), off)
    check("online again: the queue empties", off.get("after") == 0, off)
    check("a long time offline: the queue keeps the newest 200 events",
          off.get("flood") == {"length": 200, "first": 50, "last": 249}, off.get("flood"))
    floods = sorted(b["properties"]["i"] for t, b in events if b.get("event") == "Flood")
    check("... and sends them once back online, in batches",
          floods == list(range(50, 250)), (len(floods), floods[:3]))
    lamps = [b for t, b in events if b.get("event") == "Product Added" and
             b.get("properties", {}).get("product_id") == "head-lamp"]
    check("the offline event reached the collector once", len(lamps) == 1, len(lamps))


def check_retry(out, events):
    seen = out.get("retry") or []
    statuses = [s["status"] for s in seen]
    check("a 503 is retried, then a 400 drops the batch, then the next batch goes through",
          statuses[:3] == [503, 400, "collector"] and seen[0]["events"] == seen[1]["events"] ==
          ["Retry Probe"] and "Retry Probe" not in seen[2]["events"], seen)
    check("the retry waited for Retry-After (1 s)",
          len(seen) >= 2 and seen[1]["at"] - seen[0]["at"] >= 1000, seen[:2])
    check("batches are text/plain with the write key in the body (no preflight)",
          seen and all(s["contentType"].startswith("text/plain") and s["writeKey"] for s in seen), seen)
    names = [b.get("event") for t, b in events]
    check("the dropped event never reached the collector, the next one did",
          "Retry Probe" not in names and "After Drop" in names, names)


def main():
    if not check("playwright-core (npm) and Debian's chromium are installed", installed(),
                 "make tests/e2e/node_modules/.installed; apt-get install chromium"):
        done()
    chat_port = free_port()
    with Pipeline(clock="event", extra={"chat-bridge": chat_options(chat_port)}) as p:
        collector = "http://127.0.0.1:%d" % p.http_port
        shop = Shop(collector, WRITE_KEY, chat="http://127.0.0.1:%d" % chat_port)
        shop.write_key = key = use_browser_key(p, shop.origin)
        use_kit(p)
        p.start("collector")
        p.start("chat-bridge")
        tap = p.tap("collector", "event.")
        serves_kit = collector_has(p, "GET", "/nudge.js")
        confirm_stand_in = not collector_has(p, "POST", "/v1/confirm")
        push_key = collector_has(p, "GET", "/v1/push/key")
        print("# nudge.js from %s; /v1/confirm %s; /v1/push/key %s" % (
            "the collector" if serves_kit else "the shop's server (stand-in)",
            "stand-in in the browser" if confirm_stand_in else "the collector's",
            "present" if push_key else "absent"))
        shop.kit = collector if serves_kit else None
        try:
            started = time.time()
            out = run_browser({"shop": shop.origin, "collector": collector, "chat": shop.chat,
                               "vapidKey": VAPID_PUBLIC,
                               "confirmStandIn": confirm_stand_in, "pushKey": push_key,
                               "debug": bool(os.environ.get("ND_BROWSER_DEBUG"))})
            if os.environ.get("ND_BROWSER_DEBUG"):
                print("# " + json.dumps(out, indent=1).replace("\n", "\n# "))
            print("# the browser ran %.1f s" % (time.time() - started))
            check("the browser steps ran without errors", not out.get("errors"), out.get("errors"))
            check("no error in the page's console",
                  not [c for c in out.get("console", []) if "favicon" not in c and "404" not in c
                       and "ERR_INTERNET_DISCONNECTED" not in c and "503" not in c and "400" not in c
                       and "Push API in incognito" not in c and "Registration failed" not in c],
                  out.get("console"))
            events = tap.collect(timeout=3)
            phones = set((out.get("mobile") or {}).get("visitors", []))
            after_reset = (out.get("identity") or {}).get("after", {}).get("anonymousId")
            check_identity(out, events)
            events = [(t, b) for t, b in events if b.get("anonymousId") not in phones | {after_reset}]
            check("the phones' visitors are others", phones and out.get("anonymousId") not in phones, phones)
            check_tracking(shop, out, events)
            if key != WRITE_KEY:
                check("a browser key's events are marked via browser",
                      events and all(b.get("via") == "browser" for t, b in events), events[:1])
            check_exit(out)
            check_signup(out, events, confirm_stand_in)
            check_push(shop, out)
            check_onsite(shop, out)
            check_offline(out, events)
            check_retry(out, events)
            check_mobile(out)
            check_leave(events)
        finally:
            shop.close()
    done()


if __name__ == "__main__":
    main()
