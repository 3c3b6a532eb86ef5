#!/usr/bin/env python3
"""collector: a 200 means the event is on disk, whatever happens next.

Twenty times: start the collector, POST one event, and the moment the 200
arrives kill -9 it. Then, with requests from several threads in flight,
kill -9 it at a random moment, five times over. After a restart every event
that was answered 200 must be in the collector's journal (read over the
durable link, as a downstream stage reads it) and must reach the
sessionizer, each exactly once.
"""
# tests/run: start first (one of the longest)
import json
import random
import threading
import time

import zmq

from ndtest import Pipeline, check, done

T0 = "2026-11-23T19:20:01.123Z"


def event(message_id):
    return {"userId": "crash-user", "event": "Product Viewed", "messageId": message_id,
            "timestamp": T0, "properties": {"product_id": "p-1"}}


def read_journal(p, consumer="crash-reader", timeout=20.0, window=5000):
    """Reads the collector's whole journal over its durable link, as a
    downstream stage does: HELLO pos window, then MSG seq topic body (or
    POS seq) frames, ACK pos window for more credit."""
    sock = p.ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.IDENTITY, consumer.encode())
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVHWM, 0)
    sock.connect(p.endpoint("collector", "out"))
    sock.send_multipart([b"HELLO", b"0", str(window).encode()])
    ids, position, deadline, quiet = [], 0, time.time() + timeout, 0
    while time.time() < deadline and quiet < 5:
        if not sock.poll(100):
            quiet += 1
            continue
        quiet = 0
        frames = sock.recv_multipart()
        position = int(frames[1])
        if frames[0] == b"MSG" and frames[2].startswith(b"event."):
            ids.append(json.loads(frames[3])["id"])
        if position % 1000 == 0 or not sock.poll(0):
            sock.send_multipart([b"ACK", str(position).encode(), str(window).encode()])
    sock.close(0)
    return ids


def kill_after_each_200(p):
    answered = []
    for i in range(20):
        p.start("collector")
        status, body = p.post("/v1/track", event("one-%02d" % i))
        p.kill("collector")
        if status == 200:
            answered.append("one-%02d" % i)
    check("20 single events answered 200 before each kill", len(answered) == 20, answered)
    return answered


def poster(p, prefix, stop, answered):
    n = 0
    while not stop.is_set():
        ids = ["%s-%d" % (prefix, n + k) for k in range(5)]
        n += 5
        try:
            status, _ = p.post("/v1/batch", {"batch": [dict(event(i), type="track") for i in ids]})
        except Exception:
            return              # the collector died under us: no answer, no promise
        if status == 200:
            answered.extend(ids)


def kill_under_load(p, rounds=5):
    answered = []
    for r in range(rounds):
        p.start("collector")
        stop = threading.Event()
        threads = [threading.Thread(target=poster, args=(p, "load-%d-%d" % (r, t), stop, answered))
                   for t in range(4)]
        for t in threads:
            t.start()
        time.sleep(random.uniform(0.2, 0.6))
        p.kill("collector")
        stop.set()
        for t in threads:
            t.join()
    check("requests were answered 200 under load before the kills", len(answered) > 20,
          len(answered))
    return answered


def main():
    with Pipeline(clock="event", sync=True) as p:
        answered = kill_after_each_200(p) + kill_under_load(p)
        p.start("collector")
        journal = read_journal(p)
        missing = sorted(set(answered) - set(journal))
        check("every event answered 200 is in the journal after kill -9",
              not missing, "%d missing, e.g. %s" % (len(missing), missing[:5]))
        check("no event is in the journal twice", len(journal) == len(set(journal)),
              len(journal) - len(set(journal)))

        # The sessionizer first, tapped, then the collector: the tap then
        # sees the whole catch-up, not only what follows its subscription
        p.stop("collector")
        p.start("sessionizer")
        tap = p.tap("sessionizer", "event.")
        p.start("collector")
        want = set(answered)
        seen = lambda ms: want & {b.get("id") for t, b in ms}
        messages = tap.collect(until=lambda ms: seen(ms) == want, timeout=20)
        check("every event answered 200 reaches the sessionizer", seen(messages) == want,
              "%d of %d" % (len(seen(messages)), len(want)))
        tap.close()
        head = p.control("collector")["journal"]["head"]
        position = p.control("sessionizer")["inputs"].get("collector", {}).get("position")
        check("the sessionizer committed the collector's whole journal", position == head,
              (position, head))
    done()


if __name__ == "__main__":
    main()
