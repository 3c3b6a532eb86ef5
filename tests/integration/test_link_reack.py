#!/usr/bin/python3
"""An ACK the sender refused is made good (the stall behind test_priority's
timeout under ASan, 2026-12-02).

A consumer busy catching up hears nothing for a second and says HELLO again
from its committed position, while the sender is already sending past it.
The sender's view of the connection goes back to that position, and the
consumer's next ACK, for what it has committed since, is refused as past
what it was sent. A HELLO never acknowledges, so unless the consumer says
its committed position again after a HELLO, the sender keeps entries the
consumer has long committed, and a replay waiting for it to drain waits
for ever.

The source here keeps the rules of the runtime's own outbox (nd_link.c
s_hello, s_ack): HELLO moves what was sent, never what was acknowledged;
an ACK past what was sent since the last HELLO is refused. The consumer is
the real relay stage. The source forgets what it sent, as a stale HELLO
makes it, just as the relay has committed everything; it must see the
relay's committed position acknowledged again within a few seconds.
"""
import json
import time

import zmq

from ndtest import Pipeline, check, done, wait_for

N = 500


class StrictSource:
    """A journal server with the outbox's acknowledgement rules."""

    def __init__(self, ctx, endpoint):
        self.sock = ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.sock.setsockopt(zmq.ROUTER_HANDOVER, 1)
        self.sock.bind(endpoint)
        self.journal = []
        self.acked = self.sent = self.limit = 0
        self.peer = None
        self.refused = 0
        self.hellos = 0

    def forget(self):
        """What a stale HELLO from the committed position 0 does."""
        self.sent = 0
        self.acked = 0

    def serve(self, duration):
        deadline = time.time() + duration
        while time.time() < deadline:
            while self.sock.poll(0):
                frames = self.sock.recv_multipart()
                if len(frames) < 4:
                    continue
                command, pos, window = frames[1], int(frames[2]), int(frames[3])
                if command == b"HELLO":
                    self.hellos += 1
                    self.peer, self.sent = frames[0], pos
                    self.acked = min(self.acked, pos)
                    self.limit = pos + window
                elif frames[0] != self.peer or pos > self.sent:
                    self.refused += 1
                else:
                    self.acked, self.limit = pos, pos + window
            while self.peer and self.sent < min(self.limit, len(self.journal)):
                seq = self.sent + 1
                topic, body = self.journal[seq - 1]
                self.sock.send_multipart([self.peer, b"MSG", str(seq).encode(),
                                          topic.encode(), body.encode()])
                self.sent = seq
            time.sleep(0.005)


with Pipeline(clock="event", extra={"relay": {"program": "relay", "input": "source"}}) as p:
    src = StrictSource(p.ctx, p.endpoint("source", "out"))
    for i in range(N):
        src.journal.append(("event.track", json.dumps(
            {"id": "m%d" % i, "user": "u%d" % (i % 10), "time": "2026-01-01T00:00:%02d.000Z" % (i % 60), "n": i})))
    p.start("relay", program="relay")
    deadline = time.time() + 30
    while time.time() < deadline and src.acked < N:
        src.serve(0.05)
    check("the relay takes and acknowledges all %d entries" % N, src.acked == N, (src.acked, src.sent))

    # a stale HELLO: the source goes back to 0, then takes the relay's ACKs
    # only up to what it has sent again
    src.forget()
    refused = src.refused
    deadline = time.time() + 10
    while time.time() < deadline and src.acked < N:
        src.serve(0.05)
    check("after the source went back, the relay acknowledges %d again" % N,
          src.acked == N, (src.acked, src.sent, src.refused - refused))
    stats = p.control("relay")
    check("the relay applied each entry once (the resent ones are duplicates)",
          stats.get("forwarded") == N, stats)

    # and when an ACK is refused outright (sent behind the relay's position)
    src.sent, src.acked = 0, 0
    src.limit = 0            # nothing resent: only a HELLO opens the window again
    deadline = time.time() + 10
    while time.time() < deadline and src.acked < N:
        src.serve(0.05)
    check("with nothing resent, the relay's next HELLO carries its ACK: acked %d" % N,
          src.acked == N, (src.acked, src.sent, src.hellos))
    src.sock.close(0)
done()
