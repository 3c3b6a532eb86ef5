#!/usr/bin/python3
"""A stage whose state is full says it is stuck, keeps its log short, and
loses nothing once it has room.

The sessionizer gets a 1 MB map, the collector a big one; events with
padded properties fill the sessionizer while the collector keeps taking
them (it holds them in its journal). Then:
  - HEALTH answers "stuck" with the reason the log gave (state full) and
    when it began, and `nd-ctl STAGE health` exits 3; before this a full
    stage answered "ok" and nd-ctl exited 0;
  - STATS "emitted" does not grow with batches that were never committed;
  - its log stays short: the same line again and again is written once and
    counted (it was 6.4k lines a second of MDB_BAD_TXN);
  - restarted with a bigger map, it catches up on every event and is "ok".
"""
import json
import os
import re
import subprocess
import time

from ndtest import BIN, Pipeline, check, done, wait_for

EVENTS, BATCH = 400, 20


def track(n):
    return {"type": "track", "event": "Product Viewed", "userId": "u-%d" % (n % 50),
            "messageId": "full-%d" % n, "timestamp": "2026-03-02T12:%02d:%02d.000Z" % (n // 60 % 60, n % 60),
            "properties": {"product_id": "p-%d" % n, "pad": "x" * 2000}}


def health(p, stage):
    proc = subprocess.run([os.path.join(BIN, "nd-ctl"), "-c", p.config, stage, "health"],
                          capture_output=True, text=True, timeout=30)
    try:
        answer = json.loads(proc.stdout)
    except ValueError:
        answer = {"unparsed": proc.stdout + proc.stderr}
    return proc.returncode, answer


with Pipeline(clock="event", extra={"sessionizer": {"mapsize": "1M"}}) as p:
    p.start("collector")
    p.start("sessionizer")
    status, answer = health(p, "sessionizer")
    check("at first the sessionizer is healthy (nd-ctl exit 0)",
          status == 0 and answer.get("status") == "ok", (status, answer))
    statuses = set()
    for first in range(0, EVENTS, BATCH):
        s, _ = p.post("/v1/batch", {"batch": [track(n) for n in range(first, first + BATCH)]})
        statuses.add(s)
    check("the collector takes all %d events while the sessionizer is full" % EVENTS,
          statuses == {200}, statuses)
    stuck = wait_for(lambda: p.control("sessionizer").get("failed_commits", 0) > 0, timeout=20)
    check("the sessionizer's commits fail: its state is full", stuck, p.control("sessionizer"))
    status, answer = health(p, "sessionizer")
    check("HEALTH says stuck with the reason and since when; nd-ctl exits 3",
          status == 3 and answer.get("status") == "stuck" and "state full" in answer.get("reason", "")
          and answer.get("since", "").endswith("Z") and answer.get("failed_commits", 0) >= 1,
          (status, answer))
    metrics = subprocess.run([os.path.join(BIN, "nd-ctl"), "-c", p.config, "--metrics"],
                             capture_output=True, text=True, timeout=30).stdout
    lines = [l for l in metrics.splitlines() if not l.startswith("#")]
    bad = [l for l in lines if not re.fullmatch(
        r'nudge_[A-Za-z0-9_]+\{stage="[^"]*"(,[a-z]+="[^"]*")?\} -?[0-9][0-9.e+-]*', l)]
    check("nd-ctl --metrics: every line is a Prometheus sample", len(lines) > 20 and not bad, bad[:5])
    lag = re.search(r'nudge_input_lag\{stage="sessionizer",input="collector"\} (\d+)', metrics)
    check("nd-ctl --metrics: the sessionizer is up, not healthy, and behind the collector",
          'nudge_up{stage="sessionizer"} 1' in metrics and 'nudge_healthy{stage="sessionizer"} 0'
          in metrics and 'nudge_healthy{stage="collector"} 1' in metrics and lag
          and int(lag.group(1)) > 0, metrics[-2000:])
    first = p.control("sessionizer")
    before = len(p.log("sessionizer").splitlines())
    time.sleep(3)               # wall time on purpose: the log's own rate, not event time
    then = p.control("sessionizer")
    check("STATS emitted counts committed messages only: it stays while commits fail",
          then["failed_commits"] > first["failed_commits"] and then["emitted"] == first["emitted"],
          (first, then))
    log = p.log("sessionizer")
    grown = len(log.splitlines()) - before
    check("stuck for 3 s, its log grows by a few lines, not thousands (%d)" % grown,
          grown < 20, log[-1500:])
    check("repeats are counted rather than written", len(log.splitlines()) < 60, log[-1500:])

    p.stop("sessionizer")
    p.write_config({"sessionizer": {"mapsize": "64M"}})
    p.start("sessionizer")
    caught_up = wait_for(lambda: p.control("sessionizer").get("inputs", {}).get("collector", {})
                         .get("position", 0) >= EVENTS, timeout=30)
    stats = p.control("sessionizer")
    check("with room, it catches up on all %d events" % EVENTS, caught_up, stats)
    status, answer = health(p, "sessionizer")
    check("and HEALTH is ok again", status == 0 and answer.get("status") == "ok", (status, answer))
    metrics = subprocess.run([os.path.join(BIN, "nd-ctl"), "-c", p.config, "--metrics"],
                             capture_output=True, text=True, timeout=30).stdout
    check("nd-ctl --metrics: healthy, and no lag once caught up",
          'nudge_healthy{stage="sessionizer"} 1' in metrics and
          'nudge_input_lag{stage="sessionizer",input="collector"} 0' in metrics, metrics[-1500:])
    p.stop("collector")
    metrics = subprocess.run([os.path.join(BIN, "nd-ctl"), "-c", p.config, "-t", "500", "--metrics"],
                             capture_output=True, text=True, timeout=30).stdout
    check("nd-ctl --metrics: a stage that is down is nudge_up 0",
          'nudge_up{stage="collector"} 0' in metrics, metrics[:500])
done()
