#!/usr/bin/python3
"""PAUSE and RESUME on the control socket (nd-ctl STAGE pause|resume).

A paused relay reads nothing: what the collector accepts meanwhile waits in
the collector's journal, and the relay's clock and counters stand still.
Resumed, it catches up and forwards every event exactly once. The pause is
not kept across a restart.
"""
import os
import subprocess

from ndtest import BIN, Pipeline, check, done, wait_for

N = 3000


def events(first, count):
    return [{"type": "track", "event": "Product Viewed", "anonymousId": "a%d" % (i % 50),
             "messageId": "m%d" % i, "timestamp": "2026-05-01T10:00:00.000Z",
             "properties": {"product_id": "p%d" % (i % 7)}} for i in range(first, first + count)]


def post_all(p, first, count):
    for start in range(first, first + count, 500):
        status, body = p.post("/v1/batch", {"batch": events(start, min(500, first + count - start))})
        if status != 200:
            return False
    return True


def ctl(p, stage, command):
    r = subprocess.run([os.path.join(BIN, "nd-ctl"), "-c", p.config, stage, command],
                       capture_output=True, text=True, cwd=p.dir, timeout=10)
    return r.returncode, r.stdout.strip(), r.stderr.strip()


with Pipeline(clock="event", extra={"relay": {"input": "collector"}}) as p:
    p.start("collector")
    p.start("relay")
    check("the collector took the first half", post_all(p, 0, N // 2))
    check("the relay forwards it", wait_for(lambda: p.control("relay").get("forwarded") == N // 2))

    rc, out, err = ctl(p, "relay", "pause")
    check("nd-ctl relay pause answers paused", rc == 0 and '"paused":true' in out.replace(" ", ""),
          (rc, out, err))
    check("STATS says paused", p.control("relay").get("paused") is True)
    check("the collector takes the second half meanwhile", post_all(p, N // 2, N // 2))
    head = p.control("collector")["journal"]["head"]
    check("it is in the collector's journal", head >= N, head)
    wait_for(lambda: False, timeout=1.5)        # a heartbeat's time: nothing must move
    stats = p.control("relay")
    check("a paused relay reads nothing", stats.get("forwarded") == N // 2
          and stats["inputs"]["collector"]["position"] <= head - N // 2, stats)

    rc, out, err = ctl(p, "relay", "resume")
    check("nd-ctl relay resume answers not paused", rc == 0 and '"paused":false' in out.replace(" ", ""),
          (rc, out, err))
    check("resumed, it catches up exactly once (%d)" % N,
          wait_for(lambda: p.control("relay").get("forwarded") == N), p.control("relay"))
    wait_for(lambda: False, timeout=0.5)
    check("and no more than that", p.control("relay").get("forwarded") == N)

    ctl(p, "relay", "pause")
    p.stop("relay")
    p.start("relay")
    check("a restart does not keep the pause", p.control("relay").get("paused") is False)
    rc, out, err = ctl(p, "relay", "sleep")
    check("an unknown command is refused with the list", rc == 1 and "PAUSE" in out, (rc, out, err))
done()
