#!/usr/bin/python3
"""nd-backtest on a generated month (issue 11, "Must show").

nd-month writes a month of at least 10k events (40k with FULL=1, as make
bench runs it; identified shoppers in four time zones, carts left behind
and ordered later, opt-outs, push subscriptions, ticks every 5 minutes);
nd-backtest replays it through every stage of the shipped pipeline file,
with dry-run senders:

  - the same seed gives the same file;
  - at full speed and paced one hour of event time at a time (each hour
    drained before the next), the sorted send orders are the same: user,
    journey, step, channel and time;
  - no message after an order, in quiet hours, over a cap or to an
    opted-out person, and none expired in a sender, in either run;
  - two full-speed runs of the shipped file print the same report, byte
    for byte;
  - --compare with a copy of the journeys whose abandoned cart waits 48 h
    instead of 24 h before its second reminder shows a difference in that
    step (the table printed from the --json of that run by nd-backtest's
    own print_compare).

Four replays: the shipped file beside the 48 h copy (--compare), the
shipped file again, and the paced control. Under ASan each took about
a minute on two cores at 40k events, so no replay is run twice for the
same question, and make test replays 10k: some 1,400 send orders, every
journey of the month and 720 paced slots, which is what the checks need;
the paced run's cost is mostly its slots, the others' the events.
"""
# tests/run: start first (one of the longest)
# tests/run: timeout 1200 (under ASan on 2 busy cores it took 448 s of the default 600)
import contextlib
import io
import json
import os
import shutil
import subprocess
import tempfile
import sys
import time

from ndtest import BIN, ROOT, check, done

sys.path.insert(0, os.path.join(ROOT, "tools", "nd-backtest"))
from nd_backtest import print_compare  # noqa: E402

EVENTS = 40000 if os.environ.get("FULL") == "1" else 10000
SLOT = "1h"             # 720 slots for the month: the paced control stays affordable
tmp = tempfile.mkdtemp(prefix="nd-backtest-test-")
month = os.path.join(tmp, "month.jsonl")


def run(program, *args):
    t0 = time.time()
    out = subprocess.run([os.path.join(BIN, program)] + list(args), cwd=ROOT,
                         capture_output=True, text=True, timeout=900)
    return out, time.time() - t0


def backtest(*args):
    out, seconds = run("nd-backtest", "--events", month, *args)
    if out.returncode != 0:
        print("# nd-backtest %s failed:\n%s" % (" ".join(args), out.stderr[-3000:]))
    return out, seconds


def orders(path):
    with open(path) as f:
        return [(o["user"], o["journey"], o["step"], o["channel"], o["time"])
                for o in map(json.loads, f)]


def changed_journeys():
    """A copy of the shipped pipeline whose abandoned cart waits 48 h, not
    24 h, before the second reminder (the wait after the first: 23h -> 47h)."""
    journeys = os.path.join(tmp, "journeys")
    shutil.copytree(os.path.join(ROOT, "conf", "journeys"), journeys)
    path = os.path.join(journeys, "abandoned-cart.zpl")
    text = open(path).read()
    assert "            for = 23h\n" in text
    open(path, "w").write(text.replace("            for = 23h\n", "            for = 47h\n"))
    pipeline = open(os.path.join(ROOT, "conf", "pipeline.zpl")).read()
    assert "journeys = conf/journeys" in pipeline
    other = os.path.join(tmp, "pipeline-48h.zpl")
    open(other, "w").write(pipeline.replace("journeys = conf/journeys", "journeys = " + journeys))
    return other


def rows_differing(text, needle=""):
    """Rows of a --compare naming needle whose B-A column is filled (the
    key takes the first 62 columns, then A, B and B-A)."""
    return [line for line in text.splitlines()
            if line.startswith("  ") and needle in line[:62] and len(line[62:].split()) == 3]


try:
    gen, _ = run("nd-month", "--events", str(EVENTS), "--seed", "7", "-o", month)
    again, _ = run("nd-month", "--events", str(EVENTS), "--seed", "7")
    lines = open(month).read().splitlines()
    events = [json.loads(line) for line in lines]
    kinds = [e["type"] for e in events]
    zones = {e.get("traits", {}).get("timezone") for e in events} - {None}
    check("nd-month: the same seed gives the same file",
          gen.returncode == 0 and again.stdout == "\n".join(lines) + "\n", gen.stderr)
    check("the month: at least %dk events, ticks, four time zones, orders, opt-outs, push"
          % (EVENTS // 1000),
          len(kinds) - kinds.count("tick") >= EVENTS and kinds.count("tick") >= 30 * 288
          and len(zones) == 4 and any(e.get("event") == "Order Completed" for e in events)
          and any(e.get("traits", {}).get("email_consent") is False for e in events)
          and any("push_subscription" in e.get("traits", {}) for e in events),
          (len(kinds), kinds.count("tick"), zones))
    print("# month: %d events and %d ticks" % (len(kinds) - kinds.count("tick"), kinds.count("tick")))

    # The shipped file beside the 48 h copy, the shipped file again, and paced
    shipped = os.path.join(ROOT, "conf", "pipeline.zpl")
    other = changed_journeys()
    pair, pair_s = backtest("--json", "--compare", other, "--orders", os.path.join(tmp, "fast.jsonl"))
    again, again_s = backtest("--json", "--orders", os.path.join(tmp, "again.jsonl"))
    paced, paced_s = backtest("--json", "--paced", SLOT, "--orders", os.path.join(tmp, "paced.jsonl"))
    ok = pair.returncode == again.returncode == paced.returncode == 0
    both = json.loads(pair.stdout) if ok else {}
    a = orders(os.path.join(tmp, "fast.jsonl")) if ok else []
    b = orders(os.path.join(tmp, "paced.jsonl")) if ok else []
    print("# full speed: %d send orders (with the 48 h copy in %.1f s, again in %.1f s); "
          "paced by %s: %d in %.1f s" % (len(a), pair_s, again_s, SLOT, len(b), paced_s))
    check("the replays ran", ok, (pair.stderr[-500:], again.stderr[-500:], paced.stderr[-500:]))
    check("there is something to compare: hundreds of send orders", len(a) >= 300, len(a))
    missing, extra = sorted(set(b) - set(a)), sorted(set(a) - set(b))
    check("full speed gives exactly the paced send orders (person, journey, step, channel, time)",
          ok and a == b, "%d only paced, e.g. %s; %d only at full speed, e.g. %s"
          % (len(missing), missing[:3], len(extra), extra[:3]))
    for name, report in (("full speed", both.get("a", {})), ("paced", json.loads(paced.stdout or "{}"))):
        found = report.get("violations")
        check("%s: no message after an order, in quiet hours, over a cap, to an opted-out "
              "person, and none expired in a sender" % name,
              found and all(v == 0 for v in found.values()), found)
    printed = [json.dumps(r, indent=2, sort_keys=True)
               for r in (both.get("a"), json.loads(again.stdout or "null"))]
    check("two full-speed runs print the same report, every figure",
          ok and printed[0] == printed[1],
          [l for l in zip(printed[0].splitlines(), printed[1].splitlines()) if l[0] != l[1]][:5])

    table = io.StringIO()
    if ok:
        with contextlib.redirect_stdout(table):
            print_compare(both["a"], both["b"], shipped, other)
    table = table.getvalue()
    differing = rows_differing(table, "abandoned-cart reminder-2")
    check("--compare 24 h vs 48 h: the second reminder's rows differ, and the count says so",
          ok and differing and table.splitlines()[-1].split()[0] == str(len(rows_differing(table))),
          table[-2000:])
    print("# " + "\n# ".join(differing))
finally:
    shutil.rmtree(tmp, ignore_errors=True)
done()
