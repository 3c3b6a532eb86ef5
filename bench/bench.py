#!/usr/bin/python3
"""make bench - nudge's throughput figures, each next to its baseline,
measured in the same run on the same machine.

  1. raw libzmq PUSH/PULL, same body size       (the ceiling for any link)
  2. collector, /v1/batch of 100 events (wrk)   events/s, committed before 200
  3. collector, single-event /v1/track (wrk)    events/s
  3b. the same from ready-made bodies, plain and then gzip (Content-Encoding,
      as RudderStack's SDKs send them): what inflating costs per event
  4. collector -> relay, durable link           events/s (link + LMDB, no logic)
  5. collector -> sessionizer, durable link     events/s, with where the time goes (perf)
"""
import base64
import gzip
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
from ndtest import BIN, ROOT, WRITE_KEY, Pipeline, wait_for  # noqa: E402

SECONDS = int(os.environ.get("BENCH_SECONDS", "8"))
MAX_BODIES = int(os.environ.get("BENCH_BODIES", "300000"))
BUILD = os.path.join(ROOT, "build", "bench")


def wrk(p, batch, seconds=SECONDS, connections=16, **more):
    env = dict(os.environ, BATCH=str(batch), RUN="r%d%d" % (batch, time.time()),
               AUTH="Basic " + base64.b64encode((WRITE_KEY + ":").encode()).decode(), **more)
    out = subprocess.run(["wrk", "-t1", "-c%d" % connections, "-d%ds" % seconds,
                          "-s", os.path.join(ROOT, "bench", "events.lua"),
                          "http://127.0.0.1:%d/" % p.http_port],
                         env=env, capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["events_per_s"] = result["requests"] * batch / result["seconds"]
    return result


def bodies(path, count, compress, prefix):
    """count single events, each with its own messageId, as events.lua's
    BODIES file; returns the mean size of a body as sent."""
    total = 0
    with open(path, "wb") as f:
        for n in range(count):
            body = json.dumps({
                "event": "Product Viewed", "anonymousId": "anon-%d" % (n % 5000),
                "messageId": "%s-%d" % (prefix, n), "timestamp": "2026-05-01T10:00:00.000Z",
                "properties": {"product_id": "p%d" % (n % 50), "name": "Green tea", "price": 4.5,
                               "category": "tea"},
                "context": {"library": {"name": "wrk", "version": "4"}}}).encode()
            if compress:
                body = gzip.compress(body, 6)
            total += len(body)
            f.write(b"%d\n" % len(body) + body)
    return total / count


def track_bodies(p, compress, count):
    """Single events from count ready-made bodies (repeats past count are
    duplicates: answered, not stored again)."""
    path = os.path.join(p.dir, "bodies-%s" % ("gzip" if compress else "plain"))
    size = bodies(path, count, compress, "%s-%d" % ("gz" if compress else "plain", time.time()))
    result = wrk(p, 1, BODIES=path, GZIP="1" if compress else "0")
    result["body_size"] = size
    result["repeats"] = max(0, result["requests"] - count)
    return result


def catch_up(p, stage, program, head, profile=False):
    """Starts stage on a full collector journal; events/s until it has all."""
    t0 = time.time()
    proc = p.start(stage, program=program)
    perf = None
    if profile:
        perf = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-g", "-q", "-o",
                                 p.dir + "/perf.data", "-p", str(proc.pid)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: p.control(stage)["inputs"]["collector"]["position"] >= head,
             timeout=600, interval=0.02)
    took = time.time() - t0
    if perf:
        perf.send_signal(2)
        perf.wait()
    return head / took, took


def perf_breakdown(p):
    try:
        out = subprocess.run(["perf", "report", "-i", p.dir + "/perf.data", "--no-children",
                              "--sort", "dso", "--stdio"], capture_output=True, text=True).stdout
    except OSError:
        return "perf not available"
    rows = [l.strip() for l in out.splitlines() if l.strip() and l.strip()[0].isdigit()]
    return "; ".join(rows[:6])


def main():
    body_size = 0
    print("nudge bench (%d s per HTTP run, 2 cores shared by load generator and stages)\n" % SECONDS)
    with Pipeline(clock="wall", extra={"relay": {"input": "collector"},
                                       "pipeline": {"sync": "1", "mapsize": "16G"}}) as p:
        p.start("collector")
        batch = wrk(p, 100)
        single = wrk(p, 1)
        #  Enough distinct bodies for the run (repeats are duplicates, which
        #  cost less), at the rate seen or 20k/s whichever is more; bounded
        count = min(MAX_BODIES, int(max(single["events_per_s"], 20000) * SECONDS * 1.5))
        plain = track_bodies(p, False, count)
        packed = track_bodies(p, True, count)
        head = p.control("collector")["journal"]["head"]
        tap = p.tap("collector")
        p.post("/v1/track", {"anonymousId": "a", "event": "Product Viewed",
                             "properties": {"product_id": "p1", "name": "Green tea", "price": 4.5,
                                            "category": "tea"},
                             "context": {"library": {"name": "wrk", "version": "4"}}})
        tap.collect(until=lambda ms: ms, timeout=5)
        body_size = len(json.dumps(tap.messages[0][1], separators=(",", ":"))) if tap.messages else 400
        relay_rate, relay_s = catch_up(p, "relay", "relay", head)
        sess_rate, sess_s = catch_up(p, "sessionizer", "sessionizer", head, profile=True)
        breakdown = perf_breakdown(p)
    base = json.loads(subprocess.run([os.path.join(BUILD, "zmq_baseline"), "-n", "1000000",
                                      "-s", str(body_size)], capture_output=True, text=True,
                                     check=True).stdout)
    rows = [
        ("raw libzmq PUSH/PULL, %d-byte body (baseline)" % body_size, base["messages_per_s"], ""),
        ("collector /v1/batch x100, fsync per commit", batch["events_per_s"],
         "p99 %.1f ms, %d non-2xx" % (batch["p99_ms"], batch["non2xx"])),
        ("collector /v1/track single events", single["events_per_s"],
         "p99 %.1f ms, %d non-2xx" % (single["p99_ms"], single["non2xx"])),
        ("collector /v1/track single, ready-made plain bodies", plain["events_per_s"],
         "%.0f B a body, p99 %.1f ms, %d non-2xx, %d repeats"
         % (plain["body_size"], plain["p99_ms"], plain["non2xx"], plain["repeats"])),
        ("collector /v1/track single, the same gzip", packed["events_per_s"],
         "%.0f B a body, p99 %.1f ms, %d non-2xx, %d repeats"
         % (packed["body_size"], packed["p99_ms"], packed["non2xx"], packed["repeats"])),
        ("collector -> relay, durable (%d events)" % head, relay_rate, "%.1f s" % relay_s),
        ("collector -> sessionizer, durable (%d events)" % head, sess_rate, "%.1f s" % sess_s),
    ]
    print("%-52s %14s  %s" % ("measure", "events/s", "notes"))
    for name, rate, note in rows:
        print("%-52s %14.0f  %s" % (name, rate, note))
    print("\ngzip bodies vs plain: %.0f%% of the plain single-event rate"
          % (100 * packed["events_per_s"] / plain["events_per_s"]))
    print("sessionizer time by library (perf, cpu-clock): %s" % breakdown)
    print("durable link vs raw libzmq: relay reaches %.0f%% of the baseline, sessionizer %.0f%%"
          % (100 * relay_rate / base["messages_per_s"], 100 * sess_rate / base["messages_per_s"]))


if __name__ == "__main__":
    main()
