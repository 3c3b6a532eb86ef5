#!/usr/bin/env python3
"""Segment's browser SDK, @segment/analytics-next, unchanged, in a real Chromium, feeds nudge.

tests/e2e/browser_segment.js loads the SDK's UMD bundle (npm, pinned in
tests/e2e/package.json) from the test's own server, pointed at the
collector through cdnSettings (no request to Segment's CDN), and sends
page, identify and track. Checks that the SDK's text/plain posts are
answered 200, that the collector publishes the three events normalized,
with the SDK's anonymous id, and that nudge.js on the same page reads the
same visitor (ajs_anonymous_id, ajs_user_id).
"""
import os

from ndtest import E2E, WRITE_KEY, Pipeline, check, done, node_report
from webshop import UMD, Shop, use_browser_key



def main():
    if not check("@segment/analytics-next, playwright-core (npm) and chromium are installed",
                 os.path.exists(os.path.join(UMD, "index.js")) and
                 os.path.isdir(os.path.join(E2E, "node_modules", "playwright-core")) and
                 os.access("/usr/bin/chromium", os.X_OK)):
        done()
    with Pipeline(clock="event") as p:
        collector = "http://127.0.0.1:%d" % p.http_port
        shop = Shop(collector, WRITE_KEY)
        key = use_browser_key(p, shop.origin)
        p.start("collector")
        tap = p.tap("collector", "event.")
        try:
            out = node_report("browser_segment.js", shop.url("/segment.html"), collector, key,
                              timeout=90, requests=[])
            events = tap.collect(until=lambda ms: len(ms) >= 3, timeout=15)
        finally:
            shop.close()
        check("the SDK ran in the page without errors", not out.get("errors"), out.get("errors"))
        requests = out.get("requests", [])
        check("the SDK posted text/plain to the collector's /v1 routes, answered 200",
              requests and all(r["status"] == 200 and r["contentType"].startswith("text/plain") and
                               "/v1/" in r["url"] for r in requests), requests)
        check("nothing asked of Segment's CDN or API (no request off 127.0.0.1)",
              not out.get("elsewhere"), out.get("elsewhere"))
        topics = sorted(t for t, b in events)
        check("the collector publishes page, identify and track",
              topics == ["event.identify", "event.page", "event.track"], topics)
        anon = out.get("anonymousId")
        check("every event has the SDK's anonymous id",
              anon and all(b.get("anonymousId") == anon for t, b in events), (anon, events[:1]))
        by_type = {b.get("type"): b for t, b in events}
        page = by_type.get("page", {})
        check("page: name, category and the SDK's page context",
              page.get("name") == "Trail Runner 42" and page.get("category") == "Shoes" and
              page.get("context", {}).get("page", {}).get("url") == shop.url("/segment.html"), page)
        identify = by_type.get("identify", {})
        check("identify: userId and traits",
              identify.get("user") == "user-next-1" and
              identify.get("traits", {}).get("firstName") == "Ada", identify)
        track = by_type.get("track", {})
        check("track: Product Added from the identified user, properties kept",
              track.get("event") == "Product Added" and track.get("user") == "user-next-1" and
              track.get("properties", {}).get("price") == 89.9, track)
        check("context.library is analytics-next's",
              all(b.get("context", {}).get("library", {}).get("name") == "analytics.js"
                  for t, b in events), [b.get("context", {}).get("library") for t, b in events])
        check("the write key is not passed on", all("writeKey" not in b for t, b in events))
        nudge = out.get("nudge") or {}
        check("nudge.js on the same page reads the same visitor and user",
              nudge.get("anonymousId") == anon and nudge.get("userId") == "user-next-1", (nudge, anon))
    done()


if __name__ == "__main__":
    main()
