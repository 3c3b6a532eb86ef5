#!/usr/bin/python3
"""Priority under the caps (issue 13, "Must show": priority).

A generated stretch of shop traffic (nd-month, 5k events over 6 days:
sign-ups that start the welcome series, carts left behind, orders, opt-outs)
is replayed twice through every stage with nd-backtest:

  - with the shipped journeys (abandoned cart "high", welcome "normal"): the
    cart's first reminder reaches at least 95 % of the reachable abandoned
    carts, and no message goes over a cap (nor breaks any other rule);
  - with the same journeys at one priority (the control, how it was before):
    the reminder reaches far fewer, held by the cap behind the welcome, so
    the figure above is priority's doing.

Reachable, as in the issue: the reminder came due for a person with a
consented channel who had not ordered. From the scheduler's counters for
reminder-1 (nd-report): reached = sent + held (the holdout's stand-in);
lost = skipped as expired + skipped by the cap. "unreachable" (no channel)
and carts ordered before the reminder was due are not in either.

nd-report, on the kept state, shows what each journey lost to which: JSON
"lost_to" per journey (and the raw counters cap-deferred-behind:J,
cap-skipped-behind:J), a line in the text report, a table in the HTML page.
Last, scheduler --check refuses a priority it does not know, file:line.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

from ndtest import BIN, ROOT, check, done

EVENTS, DAYS = 5000, 6
tmp = tempfile.mkdtemp(prefix="nd-priority-test-")
month = os.path.join(tmp, "month.jsonl")


def run(program, *args, timeout=600):
    return subprocess.run([os.path.join(BIN, program)] + list(args), cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def journeys_copy(name, edit):
    """A copy of the shipped pipeline whose journeys pass through edit(text)."""
    journeys = os.path.join(tmp, name)
    shutil.copytree(os.path.join(ROOT, "conf", "journeys"), journeys)
    for file in os.listdir(journeys):
        path = os.path.join(journeys, file)
        text = edit(open(path).read())
        open(path, "w").write(text)
    pipeline = open(os.path.join(ROOT, "conf", "pipeline.zpl")).read()
    assert "journeys = conf/journeys" in pipeline
    config = os.path.join(tmp, name + ".zpl")
    open(config, "w").write(pipeline.replace("journeys = conf/journeys", "journeys = " + journeys))
    return config


def replay(config):
    """nd-backtest of the month through config: its report, and nd-report's
    model, text and HTML of the scheduler's kept state."""
    t0 = time.time()
    out = run("nd-backtest", "--events", month, "-c", config, "--json", "--keep")
    seconds = time.time() - t0
    kept = re.search(r"kept (\S+)", out.stderr)
    if out.returncode != 0 or not kept:
        print("# nd-backtest failed:\n" + out.stderr[-3000:])
        if kept:
            shutil.rmtree(kept.group(1), ignore_errors=True)
        return {}, {}, "", "", seconds
    derived = os.path.join(kept.group(1), "pipeline.zpl")
    report = ["nd-report", "-c", derived, "-n", "scheduler"]
    model = run(*report, "--steps", "--json")
    text = run(*report)
    html = os.path.join(tmp, "report.html")
    run(*report, "--html", html)
    page = open(html).read() if os.path.exists(html) else ""
    shutil.rmtree(kept.group(1), ignore_errors=True)
    return (json.loads(out.stdout), json.loads(model.stdout or "{}"), text.stdout, page, seconds)


def reminder(model):
    """The first reminder's counters (its steps are named reminder-1, or
    reminder-1-SOMETHING per branch), summed over variants and channels."""
    counts = {}
    for variant in model.get("counters", {}).get("abandoned-cart", {}).values():
        for step, channels in variant.get("steps", {}).items():
            for channel in channels.values() if step.startswith("reminder-1") else ():
                for metric, value in channel.items():
                    counts[metric] = counts.get(metric, 0) + value
    return counts


def reach(counts):
    reached = counts.get("sent", 0) + counts.get("held", 0)
    lost = counts.get("skipped:expired", 0) + counts.get("skipped:cap", 0)
    return reached, reached + lost


def lost_to(model, journey):
    rows = next((j.get("lost_to", []) for j in model.get("journeys", []) if j["name"] == journey), [])
    return {(r["step"], r["to"]): (r["deferred"], r["skipped"]) for r in rows}


try:
    gen = run("nd-month", "--events", str(EVENTS), "--days", str(DAYS), "--seed", "1", "-o", month)
    check("nd-month wrote the stretch of traffic", gen.returncode == 0, gen.stderr)

    shipped, model, text, page, seconds = replay(os.path.join(ROOT, "conf", "pipeline.zpl"))
    counts = reminder(model)
    reached, reachable = reach(counts)
    share = reached / reachable if reachable else 0
    print("# shipped journeys (%.1f s): reminder-1 reached %d of %d reachable carts, %.1f %%; %s"
          % (seconds, reached, reachable, share * 100, json.dumps(counts, sort_keys=True)))
    check("there are carts to reach: at least 100 reachable", reachable >= 100, reachable)
    check("the cart's first reminder reaches at least 95 % of reachable abandoned carts",
          share >= 0.95, (reached, reachable))
    violations = shipped.get("violations", {})
    check("no message over a cap (nor after an order, in quiet hours, to an opted-out person,"
          " expired in a sender)", violations and all(v == 0 for v in violations.values()),
          violations)
    check("the welcome still goes out: priority orders the slot, it does not empty it",
          sum(v for k, v in shipped.get("messages", {}).items() if k.startswith("welcome hello")) >= 20,
          shipped.get("messages"))

    welcome = lost_to(model, "welcome")
    print("# welcome lost to: %s" % welcome)
    check("nd-report --json: the welcome's hello lost slots to the cart (lost_to)",
          sum(sum(v) for (step, to), v in welcome.items()
              if step == "hello" and to == "abandoned-cart") > 0, welcome)
    raw = sum(channel.get("cap-skipped-behind:abandoned-cart", 0)
              for variant in model.get("counters", {}).get("welcome", {}).values()
              for channel in variant.get("steps", {}).get("hello", {}).values())
    check("the raw counter is there too: welcome hello cap-skipped-behind:abandoned-cart",
          raw == welcome.get(("hello", "abandoned-cart"), (0, 0))[1] and raw > 0, raw)
    check("the text report names it: 'lost to the cap: hello behind abandoned-cart'",
          "lost to the cap: hello behind abandoned-cart: deferred" in text, text[-1500:])
    check("the HTML report has the table row",
          'class="lost-to"' in page and 'data-step="hello" data-to="abandoned-cart"' in page)

    # The control: every journey at one priority, arrival decides (as before)
    flat = journeys_copy("flat", lambda t: re.sub(r"(?m)^    priority = .*$", "    priority = normal", t))
    before, flat_model, _, _, seconds = replay(flat)
    flat_reached, flat_reachable = reach(reminder(flat_model))
    flat_share = flat_reached / flat_reachable if flat_reachable else 1
    print("# one priority for all (%.1f s): reminder-1 reached %d of %d, %.1f %%; lost to: %s"
          % (seconds, flat_reached, flat_reachable, flat_share * 100,
             lost_to(flat_model, "abandoned-cart")))
    check("without priority the reminder reaches far fewer (under 80 %), held behind the welcome",
          flat_share < 0.80 and lost_to(flat_model, "abandoned-cart").get(
              ("reminder-1", "welcome"), (0, 0))[0] > 0, (flat_reached, flat_reachable))
    check("the control breaks no cap either",
          all(v == 0 for v in before.get("violations", {"-": 1}).values()), before.get("violations"))

    bad = journeys_copy("bad", lambda t: t.replace("    priority = high", "    priority = urgent"))
    out = run("scheduler", "-c", bad, "--check", timeout=60)
    check("scheduler --check refuses an unknown priority: file:line: reason, exit 78",
          out.returncode == 78 and re.search(r"\.zpl:\d+: priority: ", out.stderr), out.stderr)
finally:
    shutil.rmtree(tmp, ignore_errors=True)
done()
