#!/usr/bin/env python3
"""tap and nd-ctl: the operator's view of a running stage.

Runs a real collector, watches it with bin/tap by endpoint and by stage
name with a topic prefix, checks the JSON lines, --count, --timeout and the
clean exits (SIGTERM, SIGINT, a closed pipe); feeds tap malformed bodies and
topics from a fake stage; then asks the collector's control socket with
bin/nd-ctl and checks its answers and its one-line failures.
"""
import json
import os
import signal
import subprocess
import time

import zmq

from ndtest import BIN, Pipeline, check, done

T0 = "2026-11-23T19:20:01.123Z"
TAP = os.path.join(BIN, "tap")
CTL = os.path.join(BIN, "nd-ctl")


def track(message_id, event="Product Viewed", type_="track"):
    return {"type": type_, "event": event, "userId": "user-1", "messageId": message_id,
            "timestamp": T0, "properties": {"product_id": "p-1", "name": "Tea \u00e9\u6f22"}}


def start_tap(p, *args):
    proc = subprocess.Popen([TAP] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=p.dir)
    return proc


def run(p, program, *args, timeout=20):
    proc = subprocess.run([program] + list(args), capture_output=True, cwd=p.dir, timeout=timeout)
    return proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")


def finish(proc, timeout=20):
    """Waits for a tap; returns (status, [parsed lines], raw lines, stderr)."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    raw = out.decode(errors="replace").splitlines()
    parsed = []
    for line in raw:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            parsed.append({"unparsed": line})
    return proc.returncode, parsed, raw, err.decode(errors="replace")


def subscribed():
    time.sleep(0.6)     # slow joiner: let each tap's subscription reach the PUB


def by_endpoint_and_by_name(p):
    everything = start_tap(p, "--count", "3", "--timeout", "20000", p.endpoint("collector", "pub"))
    identifies = start_tap(p, "-c", p.config, "-n", "1", "-t", "20000", "collector", "event.identify")
    subscribed()
    p.post("/v1/track", track("tap-1"))
    p.post("/v1/identify", {"type": "identify", "userId": "user-1", "messageId": "tap-2",
                            "timestamp": T0, "traits": {"email": "a@example.com"}})
    p.post("/v1/track", track("tap-3", event="Product Added"))

    status, lines, raw, err = finish(everything)
    check("tap ENDPOINT --count 3 exits 0 after 3 lines", status == 0 and len(lines) == 3,
          (status, raw, err))
    check("each line is {topic, body}, topic first, compact, one line",
          all(list(m) == ["topic", "body"] for m in lines) and
          all(r.startswith('{"topic":"') and ": " not in r.split('"body":')[0] for r in raw), raw)
    check("topics and ids in order",
          [(m.get("topic"), m.get("body", {}).get("id")) for m in lines] ==
          [("event.track", "tap-1"), ("event.identify", "tap-2"), ("event.track", "tap-3")], lines)
    body = lines[0].get("body", {}) if lines else {}
    check("body is the JSON object with user, time and UTF-8 intact",
          body.get("user") == "user-1" and body.get("time") == T0 and
          body.get("properties", {}).get("name") == "Tea \u00e9\u6f22", body)

    status, lines, raw, err = finish(identifies)
    check("tap -c CONFIG STAGE PREFIX sees only that prefix",
          status == 0 and [(m.get("topic"), m.get("body", {}).get("id")) for m in lines] ==
          [("event.identify", "tap-2")], (status, raw, err))


def clean_exits(p):
    for sig in (signal.SIGTERM, signal.SIGINT):
        proc = start_tap(p, "-c", p.config, "collector")
        subscribed()
        p.post("/v1/track", track("sig-%d" % sig))
        time.sleep(0.5)
        proc.send_signal(sig)
        status, lines, raw, err = finish(proc, timeout=10)
        check("%s: tap exits 0 having printed what came" % signal.Signals(sig).name,
              status == 0 and [m.get("body", {}).get("id") for m in lines] == ["sig-%d" % sig],
              (status, raw, err))

    proc = start_tap(p, "-c", p.config, "collector")
    subscribed()
    p.post("/v1/track", track("pipe-1"))
    first = proc.stdout.readline()
    proc.stdout.close()     # as `tap ... | head -1` does
    for i in range(3):
        p.post("/v1/track", track("pipe-%d" % (i + 2)))
    try:
        status = proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        status = "still running"
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    check("a closed stdout ends tap with status 0, not SIGPIPE",
          b'"pipe-1"' in first and status == 0, (first, status, err))

    status, lines, raw, err = finish(start_tap(p, "-n", "2", "-t", "700",
                                               p.endpoint("collector", "pub"), "nothing."))
    check("--count with --timeout short of it exits 1 with a reason",
          status == 1 and raw == [] and "0 of 2 messages" in err and err.count("\n") == 1,
          (status, raw, err))


def bad_bodies(p):
    """A stage written in another language might publish anything."""
    endpoint = "ipc://%s/run/fake.pub" % p.dir
    pub = p.ctx.socket(zmq.PUB)
    pub.bind(endpoint)
    proc = start_tap(p, "-n", "5", "-t", "20000", endpoint)
    subscribed()
    pub.send_multipart([b"odd.text", b"not json at all"])
    pub.send_multipart([b"odd.bytes", b"{\"id\": \"x\xff\xfe\"}"])
    pub.send_multipart([b"odd.\xc3", b"[1, 2]"])
    pub.send_multipart([b"odd.pretty", b'{\n  "id": "p",\n  "n": 1\n}\n'])
    pub.send_multipart([b"odd.alone"])
    status, lines, raw, err = finish(proc)
    pub.close(0)
    check("tap survives bad bodies and prints 5 lines", status == 0 and len(raw) == 5,
          (status, raw, err))
    got = [(m.get("topic"), m.get("body")) for m in lines]
    expected = [("odd.text", "not json at all"),
                ("odd.bytes", "{\"id\": \"x\ufffd\ufffd\"}"),
                ("odd.\ufffd", [1, 2]),
                ("odd.pretty", {"id": "p", "n": 1}),
                ("odd.alone", None)]
    check("bad JSON becomes a string, bad UTF-8 becomes U+FFFD, pretty JSON one line",
          got == expected, got)


def bad_arguments(p):
    status, out, err = run(p, TAP, "-c", p.config, "segmenter")
    check("tap: unknown stage is one line naming the stages",
          status == 1 and err.count("\n") == 1 and "unknown stage 'segmenter'" in err and
          "collector, sessionizer" in err, (status, err))
    status, out, err = run(p, TAP, "foo://nowhere")
    check("tap: bad endpoint is one line", status == 1 and err.count("\n") == 1 and
          "bad endpoint 'foo://nowhere'" in err, (status, err))
    status, out, err = run(p, TAP, "-c", p.dir + "/missing.zpl", "collector")
    check("tap: missing pipeline file names it", status == 1 and
          "missing.zpl: No such file or directory" in err, (status, err))
    status, out, err = run(p, TAP, "--help")
    check("tap --help", status == 0 and "TOPIC-PREFIX" in out, (status, out))
    status, out, err = run(p, TAP)
    check("tap without a target is a usage error", status == 64 and err.count("\n") == 1, err)


def control(p):
    status, out, err = run(p, CTL, "-c", p.config, "collector")
    stats = json.loads(out) if status == 0 else {}
    check("nd-ctl STAGE prints the STATS answer", status == 0 and
          stats.get("stage") == "collector" and "emitted" in stats, (status, out, err))
    status, out, err = run(p, CTL, p.endpoint("collector", "ctl"), "HEALTH")
    check("nd-ctl ENDPOINT health: status ok, exit 0",
          status == 0 and json.loads(out or "{}").get("status") == "ok", (status, out, err))
    status, out, err = run(p, CTL, "-c", p.config, "collector", "frobnicate")
    check("nd-ctl: a command the stage refuses exits 1", status == 1 and "error" in out,
          (status, out, err))
    status, out, err = run(p, CTL, "-c", p.config, "sessionizer")
    check("nd-ctl: a stage that is not running is one line at once",
          status == 1 and err.count("\n") == 1 and "not running" in err, (status, err))

    silent = "ipc://%s/run/silent.ctl" % p.dir
    rep = p.ctx.socket(zmq.REP)
    rep.bind(silent)
    started = time.time()
    status, out, err = run(p, CTL, "-t", "400", silent, "stats")
    took = time.time() - started
    rep.close(0)
    check("nd-ctl -t: no answer in time is exit 1 with one line",
          status == 1 and err.count("\n") == 1 and "no answer in 400 ms" in err and took < 5,
          (status, err, took))
    status, out, err = run(p, CTL, "-c", p.config, "nosuch")
    check("nd-ctl: unknown stage", status == 1 and "unknown stage 'nosuch'" in err, err)


def main():
    with Pipeline(clock="event") as p:
        p.start("collector")
        by_endpoint_and_by_name(p)
        clean_exits(p)
        bad_bodies(p)
        bad_arguments(p)
        control(p)
    done()


if __name__ == "__main__":
    main()
