#!/usr/bin/python3
"""The collector takes compressed bodies, and the limits apply to what they
inflate to (README, collector "Limits").

  - the real RudderStack Node SDK, on its defaults (every batch gzipped,
    no retry of a 4xx), delivers an identify and two tracks: each comes
    out of the collector's journal once;
  - a gzip batch and a deflate (zlib) event posted by hand are taken;
  - a body that travels as 1 MB of gzip and inflates to 1 GB is refused
    with 413 and its reason, and the collector's memory does not grow by
    more than a few megabytes; one that inflates just past max-event too;
  - a truncated gzip body gets 400 with the reason; Content-Encoding br
    gets 415, naming what is taken;
  - a normal request afterwards is still answered 200.
"""
import gzip
import json
import os
import subprocess
import urllib.error
import urllib.request
import uuid
import zlib

from ndtest import ROOT, WRITE_KEY, JournalReader, Pipeline, check, done, wait_for

E2E = os.path.join(ROOT, "tests", "e2e")


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def gzip_of_zeros(total, chunk=1 << 20):
    """gzip of total zero bytes, made a chunk at a time (never total in memory)."""
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = b"\0" * chunk
    parts = [z.compress(zeros) for _ in range(total // chunk)]
    return b"".join(parts) + z.flush()


with Pipeline(clock="wall") as p:
    proc = p.start("collector")
    reader = JournalReader(p, "collector", "reader", 1000)

    def events(anonymous_id):
        reader.poll(0.2)
        return [b for _, t, b in reader.messages if b.get("anonymousId") == anonymous_id]

    def post(path, data, encoding):
        headers = {"Content-Type": "application/json", "Content-Encoding": encoding}
        status, answer = p.post(path, None, raw=data, headers=headers)
        return status, answer

    anon = "rudder-" + uuid.uuid4().hex[:8]
    run = subprocess.run(["node", os.path.join(E2E, "rudder_sdk.js"), "http://127.0.0.1:%d" % p.http_port,
                          WRITE_KEY, anon, "user-" + anon], capture_output=True, text=True, timeout=60,
                         cwd=E2E)
    got = wait_for(lambda: len(events(anon)) >= 3, 10) and events(anon)
    check("RudderStack's Node SDK on its defaults (gzip) reports no error",
          run.returncode == 0, run.stdout + run.stderr[-1000:])
    check("its identify and two tracks come out once each",
          got and sorted(e["type"] + ":" + e.get("event", "") for e in got)
          == ["identify:", "track:Product Added", "track:Product Viewed"], got)

    batch = {"batch": [{"type": "track", "event": "Cart Viewed", "anonymousId": "gz-1",
                        "messageId": "gz-%d" % i} for i in range(3)]}
    status, answer = post("/v1/batch", gzip.compress(json.dumps(batch).encode()), "gzip")
    check("a gzip batch is taken", status == 200 and wait_for(lambda: len(events("gz-1")) == 3, 10),
          (status, answer))
    event = {"type": "track", "event": "Cart Viewed", "anonymousId": "zl-1", "messageId": "zl-1"}
    status, answer = post("/v1/track", zlib.compress(json.dumps(event).encode()), "deflate")
    check("a deflate (zlib) event is taken", status == 200
          and wait_for(lambda: len(events("zl-1")) == 1, 10), (status, answer))

    before = rss_kb(proc.pid)
    bomb = gzip_of_zeros(1 << 30)
    status, answer = post("/v1/batch", bomb, "gzip")
    grew = rss_kb(proc.pid) - before
    check("1 MB of gzip that inflates to 1 GB: 413, with the reason (%d bytes sent)" % len(bomb),
          status == 413 and "inflates to more than the limit" in str(answer), (status, answer))
    check("and the collector's memory grew by %d KB, not by the gigabyte" % grew, grew < 16384, grew)
    padded = json.dumps(dict(event, messageId="big", properties={"pad": "x" * 40000})).encode()
    status, answer = post("/v1/track", gzip.compress(padded), "gzip")
    check("an event that inflates just past max-event: 413", status == 413, (status, answer))

    status, answer = post("/v1/batch", gzip.compress(json.dumps(batch).encode())[:20], "gzip")
    check("a truncated gzip body: 400 with the reason", status == 400
          and "compressed body is not valid" in str(answer), (status, answer))
    status, answer = post("/v1/track", b"\x0b\x02\x80", "br")
    check("Content-Encoding br: 415, naming what is taken", status == 415
          and "gzip" in str(answer), (status, answer))
    status, answer = p.post("/v1/track", dict(event, messageId="after", anonymousId="after-1"))
    check("a normal request afterwards: 200", status == 200, (status, answer))
    reader.close()
done()
