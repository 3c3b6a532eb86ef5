#!/usr/bin/python3
"""nd-report --html: the page in a real browser shows what --json says.

The real scheduler runs the test journey of reporttest (50 % holdout,
variant a) for 300 people over 2 days, a planted lift. nd-report writes
--json and --html from the same state; Debian's chromium, headless,
driven by playwright-core (tests/e2e/report_html.js), opens the page:

  - no console error, no page error, nothing fetched (self-contained);
  - every variant figure, interval and daily point read from the DOM's
    data attributes equals the JSON's, and charts are drawn (SVG);
  - no funnel aggregates here: the page says "no funnel data";
  - an empty state (a scheduler that saw nothing) renders "no journey
    data" in words, and a range with no days "no journey data" too.
"""
import json
import os
import subprocess
import tempfile

from ndtest import BIN, ROOT, Pipeline, check, done
from reporttest import DAY_NAMES, browser, report, run
from schedtest import pipeline_extra

E2E = os.path.join(ROOT, "tests", "e2e")
CHROMIUM = "/usr/bin/chromium"
METRICS = ("entered", "sent", "held", "delivered", "clicked", "failed", "converted", "conv_rate",
           "revenue", "revenue_per_entered")


def html(p, *args):
    path = os.path.join(tempfile.mkdtemp(prefix="nd-report-html-"), "report.html")
    subprocess.run([os.path.join(BIN, "nd-report"), "-c", p.config, "--html", path] + list(args),
                   check=True, timeout=60)
    return path


if not check("playwright-core (npm) and Debian's chromium are installed",
             os.path.isdir(os.path.join(E2E, "node_modules", "playwright-core"))
             and os.access(CHROMIUM, os.X_OK), "make tests/e2e/node_modules/.installed"):
    done()

p, feed, reader = run("h", 5, 10, days=2, per_day=150)
model = report(p, "--json")
path = html(p)
page = browser(path)
check("the page opens with no console or page error and fetches nothing", page.get("errors") == [],
      page.get("errors"))
cart = next(j for j in model["journeys"] if j["name"] == "abandoned-cart")
shown = page.get("journeys", {}).get("abandoned-cart", {})
mismatch = [(v["name"], m, v[m], shown.get("variants", {}).get(v["name"], {}).get(m))
            for v in cart["variants"] for m in METRICS
            if shown.get("variants", {}).get(v["name"], {}).get(m) != v[m]]
check("every variant figure on the page equals --json (%d variants x %d figures)"
      % (len(cart["variants"]), len(METRICS)), not mismatch and len(cart["variants"]) == 2, mismatch)
versus = next(v for v in cart["variants"] if v["name"] == "a")["vs_holdout"]
row = shown.get("variants", {}).get("a", {})
drawn = shown.get("intervals", {}).get("a", {})
check("the A/B interval and p on the page equal --json, in the table and the chart",
      (row.get("diff"), row.get("lo"), row.get("hi"), row.get("p"))
      == (versus["diff"], versus["ci"][0], versus["ci"][1], versus["p"])
      and drawn == {"diff": versus["diff"], "lo": versus["ci"][0], "hi": versus["ci"][1]}
      and row.get("significant") == ("significant" if versus["significant"] else "not significant"),
      (row, drawn, versus))
daily = {series: {d["day"]: d[series] for d in cart["daily"]}
         for series in ("entered", "sent", "delivered", "converted")}
check("the daily series drawn equal --json's, day by day (%s)" % ", ".join(DAY_NAMES[:2]),
      shown.get("daily") == daily and sorted(daily["entered"]) == DAY_NAMES[:2],
      (shown.get("daily"), daily))
check("charts are inline SVG (A/B intervals, daily series), and no funnel data is said in words",
      page.get("svgs", 0) >= 2 and "no funnel data" in page.get("empty", []) and page.get("funnel") == {},
      page)
empty_range = browser(html(p, "--from", "2027-01-01"))
check("a range with no days: \"no journey data\" in words, no error",
      any("no journey data" in e for e in empty_range.get("empty", [])) and not empty_range.get("errors")
      and empty_range.get("journeys") == {}, empty_range)
feed.close()
reader.close()
p.__exit__(None, None, None)

with Pipeline(clock="event", extra=pipeline_extra()) as p:
    p.start("scheduler")
    page = browser(html(p))
    check("an empty state renders \"no journey data\" and \"no funnel data\", no error",
          any("no journey data" in e for e in page.get("empty", []))
          and "no funnel data" in page.get("empty", []) and page.get("errors") == [], page)
done()
