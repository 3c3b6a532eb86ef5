"""reporttest - what nd-report's tests share (not a test itself).

    run()        a real scheduler in event time on a test journey
                 (abandoned-cart's templates, a 50 % holdout and variant a,
                 one e-mail an hour after the cart is left): people leave
                 carts over some days, every message is delivered, every
                 n-th person of each side orders. Optionally a second
                 journey (review-request) whose messages are never delivered.
    report()     nd-report's output (JSON with --json).
    journey(), variant_of()  a journey / variant of the JSON model.
"""
import json
import os
import subprocess
import tempfile

from ndtest import BIN, Pipeline
from schedtest import Feed, Reader, pipeline_extra, variant

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


E2E = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e")


def browser(path):
    """What Debian's chromium shows of an nd-report --html page
    (tests/e2e/report_html.js): figures, funnel bars, "no data" texts and
    any console error or outside request."""
    result = subprocess.run(["node", os.path.join(E2E, "report_html.js"), path], cwd=E2E,
                            capture_output=True, text=True, timeout=120)
    try:
        return json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"errors": ["no answer: " + result.stdout[-1500:] + result.stderr[-1500:]]}


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


def run(tag, every_treated, every_holdout, quiet=False, days=4, per_day=1000):
    """One pipeline: per_day people leave carts on each of days days, all
    messages are delivered, every n-th of each side orders. Returns (p, feed,
    reader), running: the caller closes feed and reader, then p.__exit__."""
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
    for day in range(days):
        base = day * 24.0
        users = ["%s-%d-%d" % (tag, day, i) for i in range(per_day)]
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


