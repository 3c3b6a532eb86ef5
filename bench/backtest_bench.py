#!/usr/bin/python3
"""make bench, part: a month of traffic through every stage (nd-backtest).

Generates a month of at least 400k Segment events (nd-month, seed 1, plus
a tick every 5 minutes), replays it at full speed through every stage of
the shipped pipeline file with dry-run senders (nd-backtest: the
collector takes it with --clock event --stdin, the sessionizer,
segmenter, chat-bridge, scheduler, onsite and the senders read their
durable links), and prints events/s end to end, from the first line fed
to the last link drained, next to raw libzmq PUSH/PULL measured in the
same run with the month's average line size; then the same month with
the sessionizer, segmenter and scheduler partitioned, whose send orders must be the
same. Then, per stage, the CPU
seconds it used and its peak RSS (LMDB pages it touched included).

Last, the runtime's floor: the same month through the collector and a
chain of relays (durable links and LMDB journals, no stage logic), which
gives what one message costs a stage before its own work; times the
messages the stages handled per event in the real run, that is the rate
no stage logic could beat on these cores.

The machine is shared (other builds and tests run beside the bench), so
the wall-clock rate moves with the load; the CPU seconds do not, and
"events per CPU second" over every stage, times the cores, is the rate
the pipeline would reach with the cores to itself.

  BACKTEST_EVENTS   events in the month (default 400000)
  BACKTEST_MONTH    a month already made (JSON lines), instead of making one
  BACKTEST_PARTITIONS  then the same month with the stages that may be
                    partitioned in this many partitions (default 2; 1: not)
  ZMQ_BASELINE      the zmq_baseline program (default build/bench/zmq_baseline)
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
from ndtest import BIN, ROOT, Pipeline  # noqa: E402
sys.path.insert(0, os.path.join(ROOT, "tools", "nd-backtest"))
from nd_backtest import cpu_seconds  # noqa: E402

EVENTS = int(os.environ.get("BACKTEST_EVENTS", "400000"))
PARTITIONS = int(os.environ.get("BACKTEST_PARTITIONS", "2"))
HOPS = 3
BASELINE = os.environ.get("ZMQ_BASELINE", os.path.join(ROOT, "build", "bench", "zmq_baseline"))


def per_stage(stderr, label):
    """{stage: number} from nd-backtest's "label: a 1.0, b 2.0" line."""
    match = re.search(r"%s: (.*)" % re.escape(label), stderr)
    if not match:
        return {}
    return {name: float(value) for name, value in
            (item.rsplit(" ", 1) for item in match.group(1).split(", "))}


def relay_chain(month, lines):
    """The month through the collector (--stdin, event time) and HOPS relays
    in a row; returns (seconds, [(relay, messages it took, CPU seconds)])."""
    names = ["relay-%d" % i for i in range(1, HOPS + 1)]
    extra = {name: {"input": up} for name, up in zip(names, ["collector"] + names)}
    with Pipeline(clock="event", extra=extra) as p:
        for name in reversed(names):
            p.start(name, program="relay")
        t0 = time.time()
        with open(month, "rb") as f:
            p.start("collector", args=["--clock", "event", "--stdin"], stdin=f)

        def drained():
            stats = {name: p.control(name) for name in ["collector"] + names}
            taken = sum(stats["collector"].get(k, 0) for k in ("accepted", "rejected", "duplicates"))
            return taken >= lines and all(
                stats[name]["inputs"][up]["position"] >= stats[up]["journal"]["head"]
                for name, up in zip(names, ["collector"] + names))
        deadline = time.time() + 1800
        while not drained():
            if time.time() > deadline:
                sys.exit("the relay chain did not drain in 30 min")
            time.sleep(0.05)
        took = time.time() - t0
        hops = [(name, p.control(name)["forwarded"], cpu_seconds(p.procs[name].pid)) for name in names]
    return took, hops


def month_of(tmp):
    """The month to replay: BACKTEST_MONTH, or a new one of EVENTS events."""
    given = os.environ.get("BACKTEST_MONTH")
    if given:
        return given
    month = os.path.join(tmp, "month.jsonl")
    subprocess.run([os.path.join(BIN, "nd-month"), "--events", str(EVENTS), "--seed", "1",
                    "-o", month], check=True)
    return month


def main():
    with tempfile.TemporaryDirectory(prefix="nd-bench-backtest-") as tmp:
        month = month_of(tmp)
        with open(month) as f:
            lines = ticks = size = 0
            for line in f:
                lines += 1
                size += len(line)
                ticks += line.startswith('{"type":"tick"')
        t0 = time.time()
        orders = os.path.join(tmp, "orders-1.jsonl")
        out = subprocess.run([os.path.join(BIN, "nd-backtest"), "--bin", BIN, "--events", month,
                              "--orders", orders], cwd=ROOT, capture_output=True, text=True)
        total = time.time() - t0
        if out.returncode != 0:
            sys.exit("nd-backtest failed:\n" + out.stderr[-3000:])
        split = None
        if PARTITIONS > 1:
            split_orders = os.path.join(tmp, "orders-%d.jsonl" % PARTITIONS)
            split = subprocess.run([os.path.join(BIN, "nd-backtest"), "--bin", BIN, "--events", month,
                                    "--orders", split_orders, "--partitions", str(PARTITIONS)],
                                   cwd=ROOT, capture_output=True, text=True)
            if split.returncode != 0:
                sys.exit("nd-backtest --partitions failed:\n" + split.stderr[-3000:])
            same = open(orders).read() == open(split_orders).read()
        took_chain, hops = relay_chain(month, lines)
    # nd-backtest's own timing (stderr): first line fed to the last link drained
    took = float(re.search(r"lines through every stage in ([0-9.]+) s", out.stderr).group(1))
    cpu = per_stage(out.stderr, "CPU seconds")
    rss = per_stage(out.stderr, "peak RSS MB")
    events = lines - ticks
    body = max(1, size // lines)
    base = json.loads(subprocess.run([BASELINE, "-n", os.environ.get("ZMQ_MESSAGES", "1000000"),
                                      "-s", str(body)], capture_output=True, text=True,
                                     check=True).stdout)
    sent = re.search(r"send orders\s+(\d+)", out.stdout)
    stages_cpu = sum(v for k, v in cpu.items() if k != "nd-backtest")
    cores = os.cpu_count() or 1
    print("\nnd-backtest: a month through every stage (collector .. senders, dry run)\n")
    print("%-58s %14s  %s" % ("measure", "events/s", "notes"))
    print("%-58s %14.0f  %s" % ("raw libzmq PUSH/PULL, %d-byte body (baseline)" % body,
                                base["messages_per_s"], ""))
    print("%-58s %14.0f  %s" % ("backtest, %d events + %d ticks, full speed" % (events, ticks),
                                events / took, "%.1f s drained, %.1f s with start and report; "
                                "%s send orders" % (took, total, sent.group(1) if sent else "?")))
    if stages_cpu:
        print("%-58s %14.0f  %s" % ("the same per CPU second of every stage, x %d cores" % cores,
                                    events / stages_cpu * cores,
                                    "%.1f CPU s over the stages; the machine's load average "
                                    "was %.1f" % (stages_cpu, os.getloadavg()[0])))
    print("backtest vs raw libzmq: %.1f%% of the baseline (aim: 100k events/s on 2 cores)"
          % (100 * events / took / base["messages_per_s"]))
    if split:
        split_took = float(re.search(r"lines through every stage in ([0-9.]+) s", split.stderr).group(1))
        split_cpu = sum(v for k, v in per_stage(split.stderr, "CPU seconds").items() if k != "nd-backtest")
        print("%-58s %14.0f  %s" % ("the same, sessionizer, segmenter, scheduler in %d partitions" % PARTITIONS,
                                    events / split_took, "%.1f s drained, %.1f CPU s over the stages; "
                                    "send orders %s" % (split_took, split_cpu,
                                                        "identical" if same else "DIFFER")))
    print("\n%-20s %12s %14s" % ("stage", "CPU s", "peak RSS MB"))
    for name in sorted(cpu, key=lambda n: -cpu[n]):
        print("%-20s %12.1f %14s" % (name, cpu[name], "%.0f" % rss[name] if name in rss else "-"))
    if rss:
        print("%-20s %12.1f %14.0f" % ("all stages", stages_cpu, sum(rss.values())))
    applied = per_stage(out.stderr, "messages applied")
    per_message = sum(cpu for _, _, cpu in hops) / sum(n + ticks for _, n, _ in hops)
    per_event = sum(applied.values()) / events if applied else 0
    print("\nthe runtime alone: collector -> %d relays (durable links, LMDB journals, no stage logic)\n"
          % HOPS)
    print("%-58s %14.0f  %s" % ("the month through the chain, end to end", events / took_chain,
                                "%.1f s drained" % took_chain))
    for name, n, cpu in hops:
        print("%-58s %14s  %s" % ("  %s" % name, "", "%d messages, %.1f CPU s, %.1f us a message"
                                  % (n + ticks, cpu, 1e6 * cpu / (n + ticks))))
    if per_event:
        print("the stages above took %.2f messages an event (ticks not counted); at %.1f us a message"
              " the runtime alone\nallows %.0f events/s on %d cores, whatever the stages do"
              % (per_event, 1e6 * per_message, cores / (per_event * per_message), cores))
    print()
    for line in out.stderr.splitlines():
        print(line)


if __name__ == "__main__":
    main()
