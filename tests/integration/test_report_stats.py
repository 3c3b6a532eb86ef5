#!/usr/bin/python3
"""nd-report: A/B figures with their uncertainty, on the real scheduler.

A test journey (abandoned-cart's templates, a 50 % holdout and one
variant, one e-mail an hour after the cart is left) runs twice in event
time, 4 000 people over 4 days each run, about 2 000 a side. Every send
order is acknowledged with feedback.delivered; then some people order:

  no effect    every 10th person of each side orders: the report's
               interval for a against the holdout holds zero, and it says
               "not significant" (text and --json);
  10-pt lift   every 5th of those sent to, every 10th of the holdout: the
               interval excludes zero, p < 0.05, the difference is near
               +10 points;
  no delivery  (first run) a second journey e-mails everyone at once, and
               none of its messages is ever delivered: though every order
               falls in its window, it is credited with nothing;
  days         the daily series, and --from/--to ranges that split the
               days, add up to the totals.
"""
import json
import os
import subprocess
import tempfile

from ndtest import BIN, Pipeline, check, done
from schedtest import Feed, Reader, pipeline_extra, variant

DAYS, PER_DAY = 4, 1000
DAY_NAMES = ["2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05"]   # schedtest.T0 on

AB = """journey
    name = abandoned-cart
    trigger
        topic = cart.abandoned
    exit = order.completed
    steps
        split = test
            holdout = 50%
            variant = a
                weight = 100
        wait = after-leaving
            for = 1h
        send = reminder-1
            channels = email
"""
QUIET = """journey
    name = review-request
    trigger
        topic = cart.abandoned
    steps
        send = review
            channels = email
"""


def report(p, *args):
    out = subprocess.run([os.path.join(BIN, "nd-report"), "-c", p.config] + list(args),
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout) if "--json" in args else out.stdout


def journey(model, name):
    return next((j for j in model["journeys"] if j["name"] == name), None)


def variant_of(model, name, group):
    return next((v for v in (journey(model, name) or {"variants": []})["variants"]
                 if v["name"] == group), {})


def run(tag, every_treated, every_holdout, quiet=False):
    """One pipeline: people leave carts over DAYS days, all messages are
    delivered, every n-th of each side orders. Returns (p, text) while running."""
    journeys = tempfile.mkdtemp(prefix="nd-report-journeys-")
    with open(os.path.join(journeys, "abandoned-cart.zpl"), "w") as f:
        f.write(AB)
    if quiet:
        with open(os.path.join(journeys, "review-request.zpl"), "w") as f:
            f.write(QUIET)
    p = Pipeline(clock="event", extra=pipeline_extra(journeys, cap="none"))
    p.__enter__()
    p.start("scheduler")
    feed, reader = Feed(p), Reader(p)
    counts = {"a": 0, "holdout": 0}
    for day in range(DAYS):
        base = day * 24.0
        users = ["%s-%d-%d" % (tag, day, i) for i in range(PER_DAY)]
        for i, user in enumerate(users):
            feed.abandon(user, base + i * 0.0004)
        feed.tick(base + 1.6)
        feed.settle(timeout=120)
        reader.drain(p)
        mine = set(users)
        for order in reader.sends():
            if order["user"] in mine and order["journey"] == "abandoned-cart":
                feed.feedback("delivered", order, base + 1.6)
        feed.tick(base + 1.7)
        feed.settle(timeout=120)
        for i, user in enumerate(users):
            group = variant("abandoned-cart", user, 5000, [("a", 100)])
            counts[group] += 1
            if counts[group] % (every_treated if group == "a" else every_holdout) == 0:
                feed.order(user, base + 3 + i * 0.0004, value=50.0)
        feed.tick(base + 4)
        feed.settle(timeout=120)
    return p, feed, reader


def adds_up(p, model, name):
    """The daily series and two ranges that split the days sum to the totals."""
    j = journey(model, name)
    totals = {m: sum(v[m] for v in j["variants"]) for m in ("entered", "sent", "delivered", "converted")}
    totals["revenue"] = round(sum(v["revenue"] for v in j["variants"]), 2)
    daily = {m: sum(d[m] for d in j["daily"]) for m in ("entered", "sent", "delivered", "converted")}
    daily["revenue"] = round(sum(d["revenue"] for d in j["daily"]), 2)
    check("%s: %d days in the daily series, and they add up to the totals %s"
          % (name, DAYS, totals), [d["day"] for d in j["daily"]] == DAY_NAMES and daily == totals,
          (daily, totals, j["daily"]))
    first = report(p, "--json", "--from", DAY_NAMES[0], "--to", DAY_NAMES[1])
    rest = report(p, "--json", "--from", DAY_NAMES[2])
    check("--from/--to: the ranges carry their days", (first["from"], first["to"], rest["from"], rest["to"])
          == (DAY_NAMES[0], DAY_NAMES[1], DAY_NAMES[2], None), (first["from"], first["to"]))
    for group in [v["name"] for v in j["variants"]]:
        whole = variant_of(model, name, group)
        parts = [variant_of(first, name, group), variant_of(rest, name, group)]
        for metric in ("entered", "sent", "held", "delivered", "converted", "revenue"):
            if round(sum(x.get(metric, 0) for x in parts), 2) != round(whole[metric], 2):
                check("%s/%s: %s of two ranges adds up" % (name, group, metric), False,
                      (parts, whole))
                return
    half = first["journeys"][0]["daily"] if first["journeys"] else []
    check("%s: days 1-2 and 3-4 add up to the totals, each variant and metric; a range's series "
          "holds its days only" % name, [d["day"] for d in half] == DAY_NAMES[:2], half)


# ---- no effect, and a journey that delivered nothing
p, feed, reader = run("n", 10, 10, quiet=True)
model = report(p, "--json")
a, held = variant_of(model, "abandoned-cart", "a"), variant_of(model, "abandoned-cart", "holdout")
check("no effect: about 2 000 a side (%d sent to, %d held out)" % (a["entered"], held["entered"]),
      1800 < a["entered"] < 2200 and a["entered"] + held["entered"] == DAYS * PER_DAY, (a, held))
check("no effect: every message delivered, each side converts 10 %% (%.3f, %.3f)"
      % (a["conv_rate"], held["conv_rate"]),
      a["delivered"] == a["sent"] == a["entered"] and abs(a["conv_rate"] - 0.1) < 0.002
      and abs(held["conv_rate"] - 0.1) < 0.002, (a, held))
versus = a["vs_holdout"]
check("no effect: the interval %s holds zero, not significant, p = %.2f" % (versus["ci"], versus["p"]),
      versus["ci"][0] < 0 < versus["ci"][1] and not versus["significant"] and versus["p"] > 0.05,
      versus)
text = report(p)
line = [l for l in text.splitlines() if l.startswith("abandoned-cart") and " a " in l]
check("no effect: the text says \"not significant\" beside the interval",
      len(line) == 1 and "not significant" in line[0] and "[" in line[0] and "p=" in line[0], text)
quiet = variant_of(model, "review-request", "")
steps = journey(model, "review-request")["steps"]
check("no delivery: review-request sent %d and delivered none" % quiet.get("sent", 0),
      quiet.get("entered") == DAYS * PER_DAY and quiet.get("sent") == DAYS * PER_DAY
      and quiet.get("delivered") == 0, quiet)
check("no delivery: so it is credited with nothing (no conversion, no revenue, no last touch)",
      quiet.get("converted") == 0 and quiet.get("orders") == 0 and quiet.get("revenue") == 0
      and all(s["attributed"] == 0 and s["attributed_revenue"] == 0 for s in steps), (quiet, steps))
adds_up(p, model, "abandoned-cart")
feed.close()
reader.close()
p.__exit__(None, None, None)

# ---- a planted 10-point lift
p, feed, reader = run("l", 5, 10)
model = report(p, "--json")
a, held = variant_of(model, "abandoned-cart", "a"), variant_of(model, "abandoned-cart", "holdout")
versus = a["vs_holdout"]
check("lift: conversion %.3f against the holdout's %.3f" % (a["conv_rate"], held["conv_rate"]),
      abs(a["conv_rate"] - 0.2) < 0.002 and abs(held["conv_rate"] - 0.1) < 0.002, (a, held))
check("lift: the interval [%.3f, %.3f] excludes zero, p = %.2g < 0.05, significant"
      % (versus["ci"][0], versus["ci"][1], versus["p"]),
      0 < versus["ci"][0] < versus["diff"] < versus["ci"][1] and versus["p"] < 0.05
      and versus["significant"] and abs(versus["diff"] - 0.1) < 0.005, versus)
check("lift: revenue per person entered, 50.00 an order",
      abs(a["revenue_per_entered"] - a["revenue"] / a["entered"]) < 1e-9
      and a["revenue"] == 50.0 * a["converted"], a)
text = report(p)
line = [l for l in text.splitlines() if l.startswith("abandoned-cart") and " a " in l]
check("lift: the text shows the interval without \"not significant\"",
      len(line) == 1 and "not significant" not in line[0] and "[+" in line[0], text)
adds_up(p, model, "abandoned-cart")
feed.close()
reader.close()
p.__exit__(None, None, None)
done()
