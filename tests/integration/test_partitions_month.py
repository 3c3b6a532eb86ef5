#!/usr/bin/python3
"""A replayed month gives the same send orders partitioned as not
(README "Partitioned stages", #15).

nd-month writes a month in which half of a known shopper's later visits
are on a second device, anonymous until a login joins it to them: the
sessionizer merges the two visitors, and with partitions the merged one
moves to the survivor's partition whenever the two live in different
ones. nd-backtest replays the month through every stage of the shipped
pipeline, once as shipped and once with the sessionizer, segmenter and
scheduler in 2 partitions (--partitions 2):

  - the sorted send orders are byte for byte the same, times included
    (a partition's timers act at their due time, as one process's do),
    and so is the whole --json report (reach, outcomes, exits,
    conversions, checks);
  - the month had merges, and moves across partitions in each partitioned stage,
    each leaving one partition once and arriving in the other once, so
    the sameness covers them;
  - the collector's router and the sessionizer agreed on every visitor
    (no visitor stamp mismatch).
"""
import os
import re
import subprocess
import tempfile

from ndtest import BIN, ROOT, check, done

EVENTS = os.environ.get("PARTITION_MONTH_EVENTS", "8000")


def backtest(month, orders, *extra):
    proc = subprocess.run([os.path.join(BIN, "nd-backtest"), "--bin", BIN, "--events", month,
                           "--orders", orders, "--json"] + list(extra),
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return proc


with tempfile.TemporaryDirectory(prefix="nd-partition-month-") as tmp:
    month = os.path.join(tmp, "month.jsonl")
    subprocess.run([os.path.join(BIN, "nd-month"), "--events", EVENTS, "--seed", "2",
                    "--devices", "0.5", "-o", month], check=True, timeout=120)
    one = backtest(month, os.path.join(tmp, "orders-1"))
    two = backtest(month, os.path.join(tmp, "orders-2"), "--partitions", "2", "--keep")
    kept = re.search(r"kept (\S+)", two.stderr).group(1)
    try:
        orders = [open(os.path.join(tmp, name)).read() for name in ("orders-1", "orders-2")]
        count = orders[0].count("\n")
        check("the month sends orders (%d)" % count, count > 500)
        check("2 partitions give the same %d send orders as 1, byte for byte" % count,
              orders[0] == orders[1])
        check("and the same report", one.stdout == two.stdout,
              [l for l in zip(one.stdout.splitlines(), two.stdout.splitlines()) if l[0] != l[1]][:5])
        logs = {name: open(os.path.join(kept, name + ".log")).read()
                for name in ("sessionizer.0", "sessionizer.1", "segmenter.0", "segmenter.1",
                             "scheduler.0", "scheduler.1")}
        merges = sum(logs[s].count(" merged into ") for s in ("sessionizer.0", "sessionizer.1"))
        moves = {s: (len(re.findall(r"move \S+: \S+ leaves", logs[s])),
                     len(re.findall(r"move \S+: \S+ arrives", logs[s]))) for s in logs}
        check("the month merged visitors (%d), some across partitions" % merges, merges > 20)
        for stage in ("sessionizer", "segmenter", "scheduler"):
            out = moves[stage + ".0"][0] + moves[stage + ".1"][0]
            came = moves[stage + ".0"][1] + moves[stage + ".1"][1]
            check("%s: %d people moved across partitions, in both directions, each arriving once"
                  % (stage, out), out > 10 and out == came and all(moves[stage + ".%d" % k][0] > 0
                                                                    for k in (0, 1)), moves)
        check("the router and the sessionizer agreed on every visitor",
              not any("visitor stamp" in text for text in logs.values()))
    finally:
        subprocess.run(["rm", "-rf", kept])
done()
