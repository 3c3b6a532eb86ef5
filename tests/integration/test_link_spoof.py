#!/usr/bin/python3
"""A journal entry acknowledged by someone who is not the consumer (issue 12).

The issue's reproduction: a DEALER with identity "sessionizer" reached the
collector's `out` endpoint, said HELLO 0 100 and ACK 2 100, and the
collector discarded entries 1-2 before the real sessionizer had them. Here
the real sessionizer (a relay under that name) is paused, so the collector
holds entries it has not acknowledged, while the intruder tries; then it
resumes and must forward every entry, each once.

A. ipc:// (one host, no keys): a second connection claiming the name while
   the real one is connected gets nothing and moves nothing; an ACK past
   what a consumer was sent is refused; a HELLO never acknowledges; a
   restarted real consumer takes its name back and resumes.
B. tcp:// with CURVE: an intruder whose key curve-clients admits (an
   operator's, good for tap and nd-ctl) cannot read or acknowledge the
   journal as "sessionizer", neither while the real one is connected nor
   while it is down; under its own certificate's name it may read.
"""
import os
import re
import subprocess
import time

import zmq

from curvetest import curve_socket, read_cert, received
from ndtest import BIN, Pipeline, check, done, free_port, wait_for


def track(i):
    return {"type": "track", "event": "Product Viewed", "userId": "u%d" % (i % 7),
            "messageId": "m%d" % i, "timestamp": "2026-01-01T00:%02d:%02d.000Z" % (i // 60 % 60, i % 60),
            "properties": {"n": i}}


def post(p, start, count):
    status, body = p.post("/v1/batch", {"batch": [track(i) for i in range(start, start + count)]})
    assert status == 200, (status, body)


def dealer(ctx, endpoint, identity, cert=None, server=None):
    return curve_socket(ctx, zmq.DEALER, endpoint, cert, server, identity)


def say(sock, *frames):
    sock.send_multipart([str(f).encode() for f in frames])


# ------------------------------------------------------------------ A: ipc
N = 100
with Pipeline(clock="event", extra={"sessionizer": {"program": "relay", "input": "collector"}}) as p:
    def journal():
        return p.control("collector")["journal"]

    def sessionizer():
        return journal()["consumers"].get("sessionizer", {})

    p.start("collector")
    p.start("sessionizer", program="relay")
    post(p, 0, N)
    wait_for(lambda: p.control("sessionizer").get("forwarded") == N, timeout=20)
    p.control("sessionizer", "PAUSE")
    post(p, N, N)
    # the collector holds 101..200, not yet acknowledged
    wait_for(lambda: journal()["head"] == 2 * N and journal()["first"] == N + 1, timeout=10)
    before = journal()
    holder = before["consumers"]["sessionizer"].get("connection", "")
    check("the real sessionizer reads under its name and a tag of its connection",
          holder.startswith("sessionizer/") and len(holder) > len("sessionizer/"), before)

    # the reproduction, word for word, while the real one is connected
    intruder = dealer(p.ctx, p.endpoint("collector", "out"), b"sessionizer")
    say(intruder, "HELLO", 0, 100)
    got = received(intruder, 1.0)
    say(intruder, "ACK", 2, 100)
    say(intruder, "ACK", 2 * N, 100)
    wait_for(lambda: journal().get("refused", 0) >= before.get("refused", 0) + 3, timeout=5)
    after = journal()
    check("A: a second connection claiming 'sessionizer' is sent nothing", got == [], got[:3])
    check("A: its HELLO and ACKs are refused and counted",
          after.get("refused", 0) == before.get("refused", 0) + 3, after)
    check("A: nothing is acknowledged or trimmed on its word",
          after["consumers"]["sessionizer"]["acked"] == before["consumers"]["sessionizer"]["acked"]
          and after["first"] == before["first"] == N + 1, (before, after))
    check("A: the real connection still holds the name",
          after["consumers"]["sessionizer"].get("connection") == holder, after)
    log = p.log("collector")
    check("A: the refusal is logged once for that connection, with the process it came from "
          "(ipc's peer address: uid, gid, pid) and the holder named",
          len(re.findall(r"link: refused HELLO for sessionizer from sessionizer \(localhost:\d+:\d+:%d\): "
                         r"sessionizer is read by %s, still connected" % (os.getpid(), holder), log)) == 1
          and log.count("from sessionizer (") == 1, log[-1500:])

    # an ACK past what was sent, from a consumer that did say HELLO
    audit = dealer(p.ctx, p.endpoint("collector", "out"), b"audit/1")
    say(audit, "HELLO", N, 5)
    got = received(audit, 1.0)
    check("A: a reader of its own name is sent what its window allows",
          [int(m[1]) for m in got] == [N + 1, N + 2, N + 3, N + 4, N + 5], got)
    refused = journal().get("refused", 0)
    say(audit, "ACK", N + 50, 5)
    wait_for(lambda: journal().get("refused", 0) > refused, timeout=5)
    check("A: an ACK past what the consumer was sent is refused",
          journal()["consumers"]["audit"]["acked"] == 0 and journal().get("refused", 0) == refused + 1
          and re.search(r"refused ACK for audit from audit/1 \(localhost[:\d]*\): ACK %d is past what "
                        r"it was sent \(%d\)" % (N + 50, N + 5), p.log("collector")),
          (journal(), p.log("collector")[-800:]))
    say(audit, "ACK", N + 5, 5)
    check("A: an ACK of what it was sent counts",
          wait_for(lambda: journal()["consumers"]["audit"]["acked"] == N + 5, timeout=5), journal())
    say(audit, "HELLO", N + 90, 5)
    time.sleep(0.3)
    check("A: a HELLO never acknowledges (its position moves nothing forward)",
          journal()["consumers"]["audit"]["acked"] == N + 5, journal())
    audit.close(0)

    p.control("sessionizer", "RESUME")
    ok = wait_for(lambda: p.control("sessionizer").get("forwarded") == 2 * N, timeout=20)
    check("A: the real sessionizer, resumed, forwards every entry exactly once (%d)" % (2 * N),
          ok and p.control("sessionizer")["forwarded"] == 2 * N, p.control("sessionizer"))
    check("A: and the collector trims only what it acknowledged",
          wait_for(lambda: sessionizer().get("acked") == 2 * N, timeout=10), journal())


    # the real one killed -9 mid-stream; someone claims its name with a
    # HELLO from far ahead while it is down, then goes; the real one is back
    p.kill("sessionizer")
    post(p, 2 * N, N)
    acked = sessionizer()["acked"]
    claim = dealer(p.ctx, p.endpoint("collector", "out"), b"sessionizer/claim")
    say(claim, "HELLO", 3 * N, 100)
    time.sleep(0.5)
    check("A: a HELLO from far ahead, with the real one down, trims nothing",
          sessionizer()["acked"] == acked and journal()["first"] <= acked + 1, journal())
    claim.close(0)
    intruder.close(0)
    p.start("sessionizer", program="relay")
    ok = wait_for(lambda: p.control("sessionizer").get("forwarded") == 3 * N, timeout=20)
    check("A: the real sessionizer, restarted, takes its name back and resumes: every entry once (%d)"
          % (3 * N), ok and p.control("sessionizer")["forwarded"] == 3 * N,
          (p.control("sessionizer"), journal()))
    check("A: and the restarted one holds the name",
          wait_for(lambda: sessionizer().get("connection", holder) != holder
                   and sessionizer().get("acked") == 3 * N, timeout=10), journal())


# ------------------------------------------------------------ B: CURVE, tcp
def tcp():
    return "tcp://127.0.0.1:%d" % free_port()


with Pipeline(clock="event") as p:
    certs, clients = os.path.join(p.dir, "certs"), os.path.join(p.dir, "clients")
    os.makedirs(certs)
    os.makedirs(clients)
    for name in ("collector", "sessionizer", "operator"):
        r = subprocess.run([os.path.join(BIN, "nd-cert"), "-d", certs, name],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        os.link(os.path.join(certs, name + ".pub"), os.path.join(clients, name + ".pub"))
    ends = {stage: {kind: tcp() for kind in ("out", "pub", "ctl")} for stage in ("collector", "sessionizer")}
    p.write_config({
        "pipeline": {"curve-clients": clients},
        "collector": dict(ends["collector"], curve=certs + "/collector.secret"),
        "sessionizer": dict(ends["sessionizer"], program="relay", input="collector",
                            curve=certs + "/sessionizer.secret"),
    })
    operator, collector_pub = os.path.join(certs, "operator.secret"), os.path.join(certs, "collector.pub")
    operator_key = read_cert(operator)[0].decode()

    def control(stage, command="STATS"):
        import json
        s = p.ctx.socket(zmq.REQ)
        s.setsockopt(zmq.LINGER, 0)
        s.curve_publickey, s.curve_secretkey = read_cert(operator)
        s.curve_serverkey = read_cert(os.path.join(certs, stage + ".pub"))[0]
        s.connect(ends[stage]["ctl"])
        s.send_string(command)
        answer = json.loads(s.recv()) if s.poll(5000) else {}
        s.close(0)
        return answer

    def journal():
        return control("collector")["journal"]

    def forwarded():
        return control("sessionizer").get("forwarded")

    p.start("collector")
    p.start("sessionizer", program="relay")
    post(p, 0, N)
    wait_for(lambda: forwarded() == N, timeout=20)
    control("sessionizer", "PAUSE")
    post(p, N, N)
    wait_for(lambda: journal()["head"] == 2 * N and journal()["first"] == N + 1, timeout=10)
    before = journal()

    out = ends["collector"]["out"]
    intruders = [dealer(p.ctx, out, identity, operator, collector_pub)
                 for identity in (b"sessionizer", b"sessionizer/x")]
    for s in intruders:
        say(s, "HELLO", 0, 100)
    got = [m for s in intruders for m in received(s, 1.0)]
    for s in intruders:
        say(s, "ACK", 2, 100)
    wait_for(lambda: journal().get("refused", 0) >= before.get("refused", 0) + 4, timeout=5)
    after = journal()
    check("B: an admitted operator's key, claiming 'sessionizer', is sent nothing", got == [], got[:3])
    check("B: its HELLOs and ACKs are refused; nothing is acknowledged or trimmed",
          after.get("refused", 0) == before.get("refused", 0) + 4
          and after["consumers"]["sessionizer"]["acked"] == before["consumers"]["sessionizer"]["acked"] == N
          and after["first"] == before["first"] == N + 1, (before, after))
    log = p.log("collector")
    check("B: the collector says whose key it was, once per connection",
          log.count("link: refused HELLO for sessionizer from sessionizer (127.0.0.1): its key %s is not the one "
                    "in curve-clients/sessionizer.pub" % operator_key) == 1
          and log.count("link: refused HELLO for sessionizer from sessionizer/x (127.0.0.1): its key") == 1
          and "refused ACK" not in log, log[-1500:])
    control("sessionizer", "RESUME")
    ok = wait_for(lambda: forwarded() == 2 * N, timeout=20)
    check("B: the real sessionizer, resumed, forwards every entry exactly once (%d)" % (2 * N),
          ok and forwarded() == 2 * N, control("sessionizer"))

    # the real one down: the name is free, and still the wrong key cannot take it
    p.kill("sessionizer")
    post(p, 2 * N, N)
    refused = journal().get("refused", 0)
    for s in intruders:
        say(s, "HELLO", 0, 100)
    got = [m for s in intruders for m in received(s, 1.0)]
    for s in intruders:
        say(s, "ACK", 3 * N, 100)
    wait_for(lambda: journal().get("refused", 0) >= refused + 4, timeout=5)
    check("B: with the real one down, the intruder still gets nothing and acknowledges nothing",
          got == [] and journal().get("refused", 0) == refused + 4
          and journal()["consumers"]["sessionizer"]["acked"] == 2 * N
          and not journal()["consumers"]["sessionizer"]["connected"], (got[:3], journal()))
    p.start("sessionizer", program="relay")
    ok = wait_for(lambda: forwarded() == 3 * N, timeout=20)
    check("B: the real sessionizer, restarted, resumes: every entry once (%d)" % (3 * N),
          ok and forwarded() == 3 * N and journal()["consumers"]["sessionizer"]["connected"],
          (control("sessionizer"), journal()))

    # under its own certificate's name the operator's key may read
    reader = dealer(p.ctx, out, b"operator/1", operator, collector_pub)
    say(reader, "HELLO", 0, 3)
    got = received(reader, 1.0)
    # what was trimmed comes as POS: a window of 3 moves on past it all the same
    check("B: the operator's key reads the journal as 'operator', the name of its certificate",
          got[:1] == [[b"POS", b"1", b"3"]]
          and journal()["consumers"].get("operator", {}).get("connection") == "operator/1", (got, journal()))
    for s in intruders + [reader]:
        s.close(0)
done()
