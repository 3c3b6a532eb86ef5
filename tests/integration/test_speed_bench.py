#!/usr/bin/python3
"""make bench's end-to-end parts print what issue 15 asks of them, with
their baselines from the same run (bench/backtest_bench.py and
bench/http_bench.py, run small here: make bench runs them full size).

  - the month through every stage: events/s end to end next to raw
    libzmq, and for every stage of the pipeline its CPU seconds and peak
    RSS, both above zero, summed over the stages;
  - the collector's single-event /v1/track next to nginx answering 204
    to the same POSTs (when nginx is installed), no request refused.
"""
import os
import re
import subprocess
import tempfile

from ndtest import BIN, ROOT, check, done

STAGES = ("collector", "sessionizer", "segmenter", "chat-bridge", "scheduler", "mail-sender",
          "push-sender", "sms-sender", "onsite")

with tempfile.TemporaryDirectory(prefix="nd-test-speed-") as tmp:
    baseline = os.path.join(tmp, "zmq_baseline")
    subprocess.run(["cc", "-O2", "-o", baseline, os.path.join(ROOT, "bench", "zmq_baseline.c"),
                    "-lczmq", "-lzmq"], check=True)
    env = dict(os.environ, ND_BIN=BIN, BACKTEST_EVENTS="1500", ZMQ_BASELINE=baseline,
               ZMQ_MESSAGES="20000")
    out = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "bench", "backtest_bench.py")],
                         env=env, capture_output=True, text=True, timeout=300)
    text = out.stdout
    check("the month's bench runs", out.returncode == 0, out.stderr[-2000:])
    base = re.search(r"raw libzmq PUSH/PULL, \d+-byte body \(baseline\)\s+(\d+)", text)
    month = re.search(r"backtest, (\d+) events \+ (\d+) ticks, full speed\s+(\d+)", text)
    check("it prints raw libzmq's rate next to the end-to-end one",
          base and month and int(base.group(1)) > 0 and int(month.group(1)) >= 1400
          and int(month.group(3)) > 0, text[-1500:])
    rows = {m.group(1): (float(m.group(2)), float(m.group(3)))
            for m in re.finditer(r"^(\S+)\s+([0-9.]+)\s+([0-9.]+)$", text, re.M)}
    missing = [s for s in STAGES if s not in rows or rows[s][0] <= 0 or rows[s][1] <= 0]
    check("every stage has its CPU seconds and peak RSS", not missing, (missing, text[-1500:]))
    total = re.search(r"^all stages\s+([0-9.]+)\s+([0-9.]+)$", text, re.M)
    check("and the sum over the stages",
          total and abs(float(total.group(2)) - sum(rows[s][1] for s in STAGES if s in rows)) <= len(STAGES),
          text[-800:])
    chain = re.search(r"the month through the chain, end to end\s+(\d+)", text)
    relays = re.findall(r"relay-\d\s+(\d+) messages, [0-9.]+ CPU s, ([0-9.]+) us a message", text)
    floor = re.search(r"took ([0-9.]+) messages an event .* at ([0-9.]+) us a message the runtime alone\n"
                      r"allows (\d+) events/s on (\d+) cores", text)
    check("the runtime's floor: every event through three relays, and what that allows",
          chain and int(chain.group(1)) > 0 and len(relays) == 3
          and all(int(n) == int(month.group(1)) + int(month.group(2)) for n, _ in relays)
          and floor and float(floor.group(1)) > 1
          and abs(int(floor.group(3)) - int(floor.group(4)) * 1e6
                  / (float(floor.group(1)) * float(floor.group(2)))) < 0.05 * int(floor.group(3)),
          text[-1500:])

    out = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "bench", "http_bench.py")],
                         env=dict(os.environ, ND_BIN=BIN, BENCH_SECONDS="1"),
                         capture_output=True, text=True, timeout=120)
    text = out.stdout
    collector = re.search(r"collector /v1/track, sync = 1, one event a request\s+(\d+)\s+p99 [0-9.]+ ms, "
                          r"(\d+) non-2xx", text)
    check("the collector's single-event rate is measured, nothing refused",
          out.returncode == 0 and collector and int(collector.group(1)) > 0 and collector.group(2) == "0",
          text + out.stderr[-1500:])
    nginx = re.search(r"nginx, 1 worker, 204 to the same POSTs \(baseline\)\s+(\d+)\s+p99 [0-9.]+ ms, (\d+) non-2xx",
                      text)
    installed = os.access("/usr/sbin/nginx", os.X_OK)
    check("next to nginx's on the same requests (%s)" % ("installed" if installed else "not installed: said so"),
          (nginx and int(nginx.group(1)) > 0 and nginx.group(2) == "0" and "collector vs nginx" in text)
          if installed else "not installed" in text, text)
    disk = re.search(r"the disk alone: 32 connections x its commits a second\s+(\d+)\s+([0-9.]+) commits/s", text)
    check("and next to what the disk allows with an fsync for each commit",
          disk and int(disk.group(1)) > 0 and abs(int(disk.group(1)) - 32 * float(disk.group(2))) <= 32
          and "collector vs the disk's bound" in text, text)
done()
