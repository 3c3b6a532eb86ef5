#!/usr/bin/python3
"""Where buyers leave: the segmenter's daily funnel and nd-report --funnel
(issue 10, part 1).

Two days of generated traffic, a few hundred sessions with a planted
furthest step, session group, device (user agent or Segment's
context.device), traffic source (context.campaign, the landing page's
utm_ tags, or none) and referrer, go through the real collector,
sessionizer and segmenter on the event clock. nd-report --funnel --json
must then give exactly what this script computes from the sessions it
generated: reached and drop-off at every step, in total, by day, by
segment, device, source and referrer, and the products left in
abandoned carts; --from/--to pick one day.

Then a segmenter fed by a journal written here (as a stage in another
language would): the same session.ended and cart.abandoned sent again
are counted once, a kill -9 in the middle loses and doubles nothing,
and 10,000 distinct utm_campaign values in one day keep that day's
sources at funnel-keys names plus "other". funnel-keys = 0 is refused.
"""
import datetime
import json
import os
import subprocess

from ndtest import BIN, ROOT, JournalServer, Pipeline, check, done, wait_for
from reporttest import browser

T0 = datetime.datetime(2026, 11, 1, 0, 30, 0)
STEPS = ["product", "cart", "checkout", "payment", "order"]
RANK = {step: rank for rank, step in enumerate(["browse"] + STEPS)}
AGENTS = {
    "desktop": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36",
    "mobile": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) Mobile/15E148 Safari/604.1",
    "tablet": "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) Mobile/15E148 Safari/604.1",
    "bot-or-unknown": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
}
REFERRERS = [("https://www.google.com/search?q=boots", "google.com"),
             ("https://news.example/spring-picks", "news.example"),
             ("https://shop.example/home", "direct"),          # the shop's own page
             (None, "direct")]
CAMPAIGNS = [("newsletter", "email", "spring"), ("google", "cpc", "boots"), ("insta", "social", None)]
CATALOG = [("p-boots", "Boots"), ("p-scarf", "Wool scarf"), ("p-hat", "Felt hat"),
           ("p-socks", "Socks"), ("p-coat", "Rain coat")]


def ts(minutes):
    return (T0 + datetime.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def day_of(minutes):
    return (T0 + datetime.timedelta(minutes=minutes)).strftime("%Y-%m-%d")


class Traffic:
    """Generates sessions and what the funnel must say about them."""

    def __init__(self):
        self.events, self.sessions, self.n = [], [], 0

    def event(self, anon, minute, context, event=None, **props):
        self.n += 1
        e = {"type": "track" if event else "page", "messageId": "f-%d" % self.n, "anonymousId": anon,
             "timestamp": ts(minute), "context": context}
        if event:
            e.update(event=event, properties=props)
        self.events.append(e)

    def session(self, i, anon, start, step, group, revisit=None):
        """One session: step is its furthest step (browse .. order); group
        says how it goes there: came_to_buy adds at once, none adds after
        seven views, just_looking and hesitating add nothing (hesitating:
        views again what the visitor viewed in an earlier session)."""
        device = list(AGENTS)[i % 4]
        context = {"page": {"url": "https://shop.example/landing"}}
        if i % 7 == 3:                          # a mobile app: Segment's context.device only
            device = "mobile"
            context["device"] = {"type": "android", "model": "Pixel 8"}
        else:
            context["userAgent"] = AGENTS[device]
        source, medium, name = CAMPAIGNS[i % 3]
        how = i % 5                             # 0, 1: context.campaign; 2, 3: the URL; 4: none
        if how < 2:
            context["campaign"] = {k: v for k, v in (("source", source), ("medium", medium),
                                                     ("name", name)) if v}
        elif how < 4:
            tags = [("utm_source", source), ("utm_medium", medium), ("utm_campaign", name)]
            context["page"]["url"] += "?ref=x&" + "&".join("%s=%s" % (k, v) for k, v in tags if v)
        key = "direct" if how == 4 else "%s/%s/%s" % (source, medium, name or "-")
        referrer, domain = REFERRERS[(i // 3) % 4]
        if referrer:
            context["page"]["referrer"] = referrer
        products = [CATALOG[i % 5]] + ([CATALOG[(i + 2) % 5]] if i % 4 == 0 else [])
        m = start
        self.event(anon, m, context)                                     # a page: browsing
        views = revisit or [products[0]]
        for pid, pname in (views if step != "browse" else []):
            m += 1
            self.event(anon, m, context, "Product Viewed", product_id=pid, name=pname, price=20)
        added = []
        if RANK[step] >= RANK["cart"]:
            if group == "none" or group == "hesitating":
                for k in range(7):
                    m += 1
                    self.event(anon, m, context, "Product Viewed", product_id="p-look-%d" % k, price=5)
            for pid, pname in products:
                m += 1
                self.event(anon, m, context, "Product Added", product_id=pid, name=pname,
                           price=20, quantity=1)
                added.append((pid, pname))
        for later in ("checkout", "payment", "order"):
            if RANK[step] >= RANK[later]:
                m += 1
                if later == "checkout":
                    self.event(anon, m, context, "Checkout Started", checkout_id="c-%d" % i)
                elif later == "payment":
                    self.event(anon, m, context, "Payment Info Entered", checkout_id="c-%d" % i)
                else:
                    self.event(anon, m, context, "Order Completed", order_id="o-%d" % i, total=20,
                               products=[{"product_id": p, "price": 20, "quantity": 1} for p, _ in added])
        self.sessions.append({"day": day_of(start), "step": step, "segment": group, "device": device,
                              "source": key, "referrer": domain,
                              "left": added if step != "order" else []})
        return m


def generate():
    """About 330 sessions over two days, every 8 minutes one begins."""
    t = Traffic()
    plan = ["browse", "product", "product", "cart", "cart", "checkout", "payment", "order"]
    for i in range(300):
        step = plan[(i * 5) % 8]
        if step == "browse" or step == "product":
            group = "just_looking"
        else:
            group = "came_to_buy" if i % 3 else "none"
        t.session(i, "a-%d" % i, i * 8, step, group)
    # hesitating: a first visit looking at two products, a second (an
    # hour on) looking at both again, then going as far as planned
    for j in range(30):
        i, anon = 300 + j, "h-%d" % j
        start = j * 80 + 3
        seen = [CATALOG[j % 5], CATALOG[(j + 1) % 5]]
        t.session(i, anon, start, "product", "just_looking", revisit=seen)
        t.session(i, anon, start + 60, ["product", "cart", "checkout", "order"][j % 4], "hesitating",
                  revisit=seen)
    t.events.sort(key=lambda e: e["timestamp"])
    return t


def funnel(counts):
    """reached and dropoff from {step: sessions whose furthest step it is}."""
    reached = [sum(counts.get(s, 0) for s in STEPS[i:]) for i in range(5)]
    dropoff = [None if reached[i] == 0 else 1 - reached[i + 1] / reached[i] for i in range(4)]
    return {"reached": reached, "dropoff": dropoff}


def expected(sessions, day=None):
    picked = [s for s in sessions if day is None or s["day"] == day]

    def rows(field):
        keys = sorted({s[field] for s in picked})
        return {k: funnel(tally(s for s in picked if s[field] == k)) for k in keys}

    left = {}
    for s in picked:
        for pid, name in s["left"]:
            left.setdefault(pid, {"name": name, "count": 0})["count"] += 1
    return {"total": funnel(tally(picked)), "by_day": rows("day"), "by_segment": rows("segment"),
            "by_device": rows("device"), "by_source": rows("source"),
            "by_referrer": rows("referrer"), "left_in_cart": left}


def tally(sessions):
    counts = {}
    for s in sessions:
        counts[s["step"]] = counts.get(s["step"], 0) + 1
    return counts


def same(a, b):
    """Funnel rows equal: counts exactly, fractions to 1e-9."""
    if a["reached"] != b["reached"] or len(a["dropoff"]) != len(b["dropoff"]):
        return False
    return all((x is None and y is None) or (x is not None and y is not None and abs(x - y) < 1e-9)
               for x, y in zip(a["dropoff"], b["dropoff"]))


def report(p, *args):
    out = subprocess.run([os.path.join(BIN, "nd-report"), "-c", p.config, "--funnel"] + list(args),
                         capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        print("# nd-report: %s" % out.stderr.strip())
        return {}
    return json.loads(out.stdout)["funnel"] if "--json" in args else out.stdout


def compare(name, got, want):
    check("%s: total reached %s, drop-off as computed" % (name, want["total"]["reached"]),
          got.get("total") and same(got["total"], want["total"]), (got.get("total"), want["total"]))
    for part in ("by_day", "by_segment", "by_device", "by_source", "by_referrer"):
        rows = {r["key"]: r for r in got.get(part, [])}
        wrong = [k for k in set(rows) | set(want[part])
                 if k not in rows or k not in want[part] or not same(rows[k], want[part][k])]
        check("%s: %s, %d rows, each as computed" % (name, part, len(want[part])), not wrong,
              [(k, rows.get(k), want[part].get(k)) for k in wrong[:3]])
    left = {r["product_id"]: {"name": r["name"], "count": r["count"]} for r in got.get("left_in_cart", [])}
    counts = [r["count"] for r in got.get("left_in_cart", [])]
    check("%s: products left in carts as computed, most left first" % name,
          left == want["left_in_cart"] and counts == sorted(counts, reverse=True),
          (left, want["left_in_cart"]))


def settle(p):
    for up, down in (("collector", "sessionizer"), ("sessionizer", "segmenter")):
        head = p.control(up)["journal"]["head"]
        if not wait_for(lambda: p.control(down)["inputs"][up]["position"] >= head, 30):
            raise RuntimeError("%s did not catch up with %s" % (down, up))


# -- two days of traffic through the real stages ---------------------------
#   A scheduler on the segmenter too, so that the whole report (--json,
#   --html) has its counters and shows the funnel beside them.
with Pipeline(clock="event", extra={"segmenter": {"input": "sessionizer"},
                                    "scheduler": {"input": "segmenter",
                                                  "journeys": os.path.join(ROOT, "conf", "journeys"),
                                                  "templates": os.path.join(ROOT, "conf", "templates")}}) as p:
    for stage in ("collector", "sessionizer", "segmenter", "scheduler"):
        p.start(stage)
    traffic = generate()
    for k in range(0, len(traffic.events), 250):
        status, answer = p.post("/v1/batch", {"batch": traffic.events[k:k + 250]})
        if status != 200:
            raise RuntimeError("collector answered %s: %s" % (status, answer))
    p.post("/v1/tick", {"time": ts(3000)})
    settle(p)
    sessions = traffic.sessions
    print("# %d events, %d sessions" % (len(traffic.events), len(sessions)))
    want = expected(sessions)
    check("the traffic plants every step, group, device, source and referrer",
          all(len(want[k]) >= n for k, n in (("by_segment", 4), ("by_device", 4), ("by_source", 4),
                                             ("by_referrer", 3), ("by_day", 2))), want)
    got = report(p, "--json")
    check("nd-report --funnel --json: steps product .. order, from and to the days counted",
          got.get("steps") == STEPS and got.get("from") == "2026-11-01" and got.get("to") == "2026-11-02",
          {k: got.get(k) for k in ("steps", "from", "to")})
    compare("both days", got, want)
    one = report(p, "--json", "--from", "2026-11-02", "--to", "2026-11-02")
    check("--from/--to 2026-11-02: that day only", one.get("from") == one.get("to") == "2026-11-02"
          and [r["key"] for r in one.get("by_day", [])] == ["2026-11-02"], one.get("by_day"))
    compare("2026-11-02", one, expected(sessions, "2026-11-02"))
    text = report(p)
    check("the text table has the total and the sources",
          "total" in text and "google/cpc/boots" in text and "Wool scarf" in text, text[:600])
    whole = json.loads(subprocess.run([os.path.join(BIN, "nd-report"), "-c", p.config, "--json"],
                                      capture_output=True, text=True, timeout=30).stdout or "{}")
    check("the whole report (--json) carries the same funnel",
          (whole.get("funnel") or {}).get("total") == got.get("total"), whole.get("funnel"))
    page = os.path.join(p.dir, "report.html")
    made = subprocess.run([os.path.join(BIN, "nd-report"), "-c", p.config, "--html", page],
                          capture_output=True, text=True, timeout=30)
    seen = browser(page) if made.returncode == 0 else {"errors": [made.stderr]}
    check("--html in chromium: the funnel bars show the reached counts, no console errors",
          not seen.get("errors") and [seen.get("funnel", {}).get(step) for step in STEPS]
          == got["total"]["reached"], seen)
    bad = subprocess.run([os.path.join(BIN, "nd-report"), "-c", p.config, "--funnel", "--from", "11/02"],
                         capture_output=True, text=True)
    check("a bad day: exit 2 and one line", bad.returncode == 2
          and bad.stderr.strip() == "nd-report: 11/02: not a day (YYYY-MM-DD)", bad.stderr)

# -- redelivery, kill -9, and a flood of campaigns --------------------------
KEYS = 20
FLOOD = 10000
with Pipeline(clock="event") as p:
    p.write_config({"feed": {}, "segmenter": {"input": "feed", "funnel-keys": str(KEYS)}})
    p.start("segmenter")
    feed = JournalServer(p.ctx, p.endpoint("feed", "out"))
    day = datetime.datetime(2026, 11, 5, 1, 0, 0)

    def at(seconds):
        return (day + datetime.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    def visit(n, campaign, step, cart=None):
        user, session = "v-%d" % n, "v-%d.s1" % n
        feed.append("session.started", {"id": session + ":started", "user": user, "time": at(n),
                                        "session": session, "campaign": campaign,
                                        "user_agent": AGENTS["desktop"]})
        ended = {"id": session + ":ended", "user": user, "time": at(n + 1800), "session": session,
                 "started": at(n), "ended": at(n + 1800), "reason": "timeout", "funnel_step": step}
        feed.append("session.ended", ended)
        abandoned = None
        if cart:
            abandoned = {"id": session + ":cart.abandoned", "user": user, "time": at(n + 1800),
                         "session": session, "started": at(n), "funnel_step": step,
                         "cart": {"items": [{"product_id": pid, "name": name, "quantity": 1}
                                            for pid, name in cart]}}
            feed.append("cart.abandoned", abandoned)
        return ended, abandoned

    def drain(timeout=60):
        return wait_for(lambda: feed.serve(0.02) or p.control("segmenter")["inputs"]["feed"]["position"]
                        >= len(feed.journal), timeout=timeout)

    again = []
    for n in range(10):
        again.append(visit(n, {"source": "mail", "medium": "email", "name": "x"}, "checkout",
                           cart=[("p-boots", "Boots")]))
    for ended, abandoned in again:                  # the same messages once more
        feed.append("session.ended", ended)
        feed.append("cart.abandoned", abandoned)
    drain()
    got = report(p, "--json")
    check("the same session.ended and cart.abandoned twice: counted once (10 sessions, 10 carts)",
          got.get("total", {}).get("reached") == [10, 10, 10, 0, 0]
          and got.get("left_in_cart") == [{"product_id": "p-boots", "name": "Boots", "count": 10}],
          (got.get("total"), got.get("left_in_cart")))

    for n in range(100, 100 + FLOOD):
        visit(n, {"source": "flood", "medium": "cpc", "name": "c-%d" % n}, "product")
    feed.serve_until("segmenter", len(feed.journal) // 2)
    p.kill("segmenter")
    p.start("segmenter")
    check("the flood fed, with a kill -9 half way", drain(120), p.control("segmenter")["inputs"])
    got = report(p, "--json")
    sources = {r["key"]: r["reached"][0] for r in got.get("by_source", [])}
    check("10,000 distinct campaigns: the day keeps %d sources and \"other\" (%d rows)"
          % (KEYS, len(sources)), len(sources) == KEYS + 1 and "other" in sources, len(sources))
    check("every session counted once, over the kill: %d at the first step" % (FLOOD + 10),
          got.get("total", {}).get("reached", [0])[0] == FLOOD + 10
          and sum(sources.values()) == FLOOD + 10, (got.get("total"), sources.get("other")))
    feed.close()

# -- a bound of 0 is no bound: refused at start ------------------------------
with Pipeline(clock="event", extra={"segmenter": {"input": "sessionizer", "funnel-keys": "0"}}) as p:
    rc = p.refused("segmenter")
    log = p.log("segmenter")
    check("funnel-keys = 0 stops the segmenter (78) with file:line: reason",
          rc == 78 and ".zpl:" in log and "segmenter/funnel-keys: must be more than 0" in log
          and "ready" not in log, (rc, log[-400:]))
done()
