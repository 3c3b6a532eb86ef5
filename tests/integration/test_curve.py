#!/usr/bin/python3
"""CURVE across hosts: collector -> relay over tcp://127.0.0.1 with keys.

Both stages have a keypair ("curve", made by nd-cert) and admit only the
public keys in "curve-clients". Checks: every message arrives exactly once,
also across a kill -9 of the relay; a stage or tap with an unknown key gets
nothing; a plain (non-CURVE) client gets nothing; tap and nd-ctl work with
--cert and say what is missing without it; a missing or wrong certificate
stops a stage at start with "file:line: reason".
"""
import json
import os
import subprocess
import time

import zmq

from curvetest import curve_socket, read_cert, received
from ndtest import BIN, Pipeline, check, done, free_port, wait_for

N = 300


def run(*args, timeout=15):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)


def tcp():
    return "tcp://127.0.0.1:%d" % free_port()


def track(i):
    return {"type": "track", "event": "Product Viewed", "userId": "u%d" % (i % 7),
            "messageId": "m%d" % i, "timestamp": "2026-01-01T00:%02d:%02d.000Z" % (i // 60 % 60, i % 60),
            "properties": {"n": i}}


with Pipeline(clock="event") as p:
    certs, clients = os.path.join(p.dir, "certs"), os.path.join(p.dir, "clients")
    os.makedirs(certs)
    os.makedirs(clients)
    for name in ("collector", "relay", "intruder", "operator", "stranger"):
        r = run(os.path.join(BIN, "nd-cert"), "-d", certs, name)
        assert r.returncode == 0, r.stderr
    mode = os.stat(os.path.join(certs, "relay.secret")).st_mode & 0o777
    check("nd-cert writes NAME.secret with mode 0600", mode == 0o600, oct(mode))
    r = run(os.path.join(BIN, "nd-cert"), "-d", certs, "relay")
    check("nd-cert does not overwrite a keypair", r.returncode == 1 and "exists" in r.stderr, r)
    r = run(os.path.join(BIN, "nd-cert"), "--public", os.path.join(certs, "relay.secret"))
    check("nd-cert --public prints the public key",
          r.stdout.strip().encode() == read_cert(os.path.join(certs, "relay.pub"))[0], r)
    # the stages' and the operator's public certificates are trusted; the
    # intruder's and the stranger's are not
    for name in ("collector", "relay", "operator"):
        os.link(os.path.join(certs, name + ".pub"), os.path.join(clients, name + ".pub"))

    ends = {stage: {kind: tcp() for kind in ("out", "pub", "ctl")}
            for stage in ("collector", "relay", "intruder", "plain", "open")}
    stages = {
        "pipeline": {"curve-clients": clients},
        "collector": dict(ends["collector"], curve="file:" + certs + "/collector.secret"),
        "relay": dict(ends["relay"], program="relay", input="collector",
                      curve=certs + "/relay.secret"),
        "intruder": dict(ends["intruder"], program="relay", input="collector",
                         curve=certs + "/intruder.secret"),
        "plain": dict(ends["plain"], program="relay", input="collector", curve="", insecure="yes"),
        "open": dict(ends["open"], program="relay"),
        "broken": {"program": "relay", "curve": "file:" + certs + "/nonexistent.secret"},
        "halfkey": {"program": "relay", "curve": certs + "/stranger.pub"},
    }
    p.write_config(stages)
    collector_pub = os.path.join(certs, "collector.pub")
    operator, stranger = os.path.join(certs, "operator.secret"), os.path.join(certs, "stranger.secret")

    p.start("collector")
    p.start("relay", program="relay")
    p.start("intruder", program="relay")
    log = p.log("collector")
    check("the stage logs its public key, never its secret",
          read_cert(collector_pub)[0].decode() in log
          and read_cert(os.path.join(certs, "collector.secret"))[1].decode() not in log, log)

    # taps: the operator's key, an unknown key, no key at all
    good = curve_socket(p.ctx, zmq.SUB, ends["relay"]["pub"], operator, os.path.join(certs, "relay.pub"))
    bad = curve_socket(p.ctx, zmq.SUB, ends["collector"]["pub"], stranger, collector_pub)
    plain = curve_socket(p.ctx, zmq.SUB, ends["collector"]["pub"])
    for s in (good, bad, plain):
        s.setsockopt(zmq.SUBSCRIBE, b"")
    time.sleep(0.5)     # slow joiners: let the subscriptions reach the PUBs

    for start in range(0, N, 50):
        if start == N // 2:
            p.kill("relay")
            p.start("relay", program="relay")
        status, body = p.post("/v1/batch", {"batch": [track(i) for i in range(start, start + 50)]})
        assert status == 200, (status, body)

    def relay_stats():
        r = run(os.path.join(BIN, "nd-ctl"), "-c", p.config, "--cert", operator, "relay", "stats")
        return json.loads(r.stdout) if r.returncode == 0 else {}

    wait_for(lambda: relay_stats().get("forwarded", 0) >= N, timeout=30)
    stats = relay_stats()
    check("(1) collector -> relay over tcp with CURVE, relay killed -9 midway: "
          "all %d forwarded, each once" % N,
          stats.get("forwarded") == N and stats["journal"]["head"] == N, stats)
    # the tap is for watching: what it misses while the relay restarts is
    # lost by design, so it watches a last batch with everything up
    tap = subprocess.Popen([os.path.join(BIN, "tap"), "-c", p.config, "--cert", operator,
                            "-n", "50", "-t", "30000", "relay", "event."],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    status, body = p.post("/v1/batch", {"batch": [track(i) for i in range(N, N + 50)]})
    out, err = tap.communicate(timeout=40)
    ids = [json.loads(line)["body"]["id"] for line in out.splitlines()]
    check("(4) bin/tap --cert sees every message of a batch, once",
          tap.returncode == 0 and sorted(ids) == sorted("m%d" % i for i in range(N, N + 50)),
          (tap.returncode, len(ids), err))
    N += 50
    seen = received(good, 1.0)
    # It reconnected to the restarted relay on its own schedule (and a loaded
    # machine may take seconds over the handshake): what it missed
    # meanwhile is lost by design, so it is given a few more messages
    for _ in range(10):
        if seen:
            break
        p.post("/v1/batch", {"batch": [track(N)]})
        N += 1
        seen = received(good, 1.0)
    check("a pyzmq CURVE client with a trusted key taps the relay", len(seen) > 0, len(seen))

    # (2) unknown keys: the intruder stage's link, and a tap
    r = run(os.path.join(BIN, "nd-ctl"), "-c", p.config, "--cert", operator, "intruder", "stats")
    istats = json.loads(r.stdout) if r.returncode == 0 else {}
    check("(2) a stage whose key is not in curve-clients gets nothing over the link",
          r.returncode == 0 and istats.get("forwarded") == 0
          and istats["inputs"]["collector"]["received"] == 0, (r, istats, p.log("intruder")[-2000:]))
    cstats = json.loads(run(os.path.join(BIN, "nd-ctl"), "-c", p.config, "--cert", operator,
                            "collector").stdout)
    check("(2) the intruder says it is refused",
          "link: collector refuses this stage" in p.log("intruder"), p.log("intruder")[-2000:])
    check("(2) the collector never heard from the intruder",
          not cstats["journal"]["consumers"].get("intruder", {}).get("connected"), cstats["journal"])
    check("(2) a tap with an unknown key sees nothing", received(bad, 0.3) == [], None)
    r = run(os.path.join(BIN, "nd-ctl"), "-c", p.config, "--cert", stranger, "-t", "1000",
            "collector", "health")
    check("(2) nd-ctl with an unknown key gets no answer", r.returncode == 1
          and "no answer" in r.stderr and not r.stdout, r)

    # (3) plain clients
    check("(3) a plain SUB on a CURVE stage sees nothing", received(plain, 0.3) == [], None)
    req = curve_socket(p.ctx, zmq.REQ, ends["collector"]["ctl"])
    req.send(b"HEALTH")
    check("(3) a plain REQ to a CURVE stage's ctl gets no answer", not req.poll(1000), None)
    dealer = curve_socket(p.ctx, zmq.DEALER, ends["collector"]["out"])
    dealer.send_multipart([b"HELLO", b"0", b"100"])
    check("(3) a plain DEALER on a CURVE stage's journal gets nothing", not dealer.poll(1000), None)
    for s in (good, bad, plain, req, dealer):
        s.close(0)
    r = run(os.path.join(BIN, "nd-ctl"), "-c", p.config, "collector", "health")
    check("(3) nd-ctl without --cert says the stage uses CURVE",
          r.returncode == 1 and "uses CURVE" in r.stderr and "--cert" in r.stderr, r)
    r = run(os.path.join(BIN, "tap"), "-c", p.config, "-t", "500", "collector")
    check("(3) tap without --cert says the stage uses CURVE",
          r.returncode == 1 and "uses CURVE" in r.stderr, r)
    r = run(os.path.join(BIN, "nd-ctl"), "-c", p.config, "--cert", operator, "collector", "health")
    check("(4) nd-ctl --cert health answers ok", r.returncode == 0 and '"ok"' in r.stdout, r)

    # (5) bad configurations stop the stage at start with file:line: reason
    def refused(stage, *want):
        r = run(os.path.join(BIN, "relay"), "--config", p.config, "--name", stage)
        lines = r.stderr.strip().splitlines()
        line = lines[-1] if lines else ""
        ok = r.returncode == 78 and (" %s: %s:" % (stage, p.config)) in line \
            and all(w in line for w in want)
        return ok, line
    ok, line = refused("broken", "broken/curve:", "nonexistent.secret: No such file or directory")
    check("(5) a missing keypair file stops the stage with file:line: reason", ok, line)
    ok, line = refused("halfkey", "halfkey/curve:", "secret")
    check("(5) a public certificate given as the keypair stops the stage", ok, line)
    ok, line = refused("plain", "plain/input:", "collector uses CURVE")
    check("(5) a stage without keys reading a CURVE stage stops at start", ok, line)
    r = run(os.path.join(BIN, "relay"), "--config", p.config, "--name", "plain")
    check("(5) insecure = yes: each tcp:// endpoint without CURVE is said in the log",
          r.stderr.count("insecure = yes: ") == 3 and "has no CURVE" in r.stderr, r.stderr[-600:])
    ok, line = refused("open", "open/out:", "tcp:// without curve", "insecure = yes")
    check("(5) tcp:// without curve and without insecure = yes stops the stage at start", ok, line)
    # a directory of its own: the running stages' must stay clean
    mixed = os.path.join(p.dir, "mixed")
    os.makedirs(mixed)
    os.link(os.path.join(certs, "relay.secret"), os.path.join(mixed, "relay.secret"))
    stages["halfkey"].update({"curve": certs + "/stranger.secret", "curve-clients": mixed})
    p.write_config(stages)
    ok, line = refused("halfkey", "halfkey/curve-clients:", "relay.secret holds a secret key")
    check("(5) a secret key among the trusted clients stops the stage", ok, line)
    os.link(os.path.join(certs, "relay.pub"), os.path.join(mixed, "relay.pub"))
    os.unlink(os.path.join(mixed, "relay.secret"))
    os.link(os.path.join(certs, "relay.pub"), os.path.join(mixed, "relay-copy.pub"))
    ok, line = refused("halfkey", "halfkey/curve-clients:", "hold the same key")
    check("(5) two certificates with one key among the clients stop the stage", ok, line)

    # the intruder is let in once its public certificate is trusted, and
    # neither it nor the collector has to restart
    os.link(os.path.join(certs, "intruder.pub"), os.path.join(clients, "intruder.pub"))
    def forwarded():
        r = run(os.path.join(BIN, "nd-ctl"), "-c", p.config, "--cert", operator, "intruder")
        return r.returncode == 0 and json.loads(r.stdout).get("forwarded") == N
    check("a key added to curve-clients is let in without a restart",
          wait_for(forwarded, timeout=20, interval=0.3), p.log("intruder")[-2000:])
    check("and the intruder says so", "link: collector lets this stage in" in p.log("intruder"),
          p.log("intruder")[-2000:])
done()
