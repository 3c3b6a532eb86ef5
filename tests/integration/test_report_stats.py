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
from ndtest import check, done
from reporttest import DAY_NAMES, journey, report, run, variant_of

DAYS, PER_DAY = 4, 1000


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
