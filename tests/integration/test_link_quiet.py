#!/usr/bin/python3
"""A quiet link is left alone; a sender that restarts is resumed.

A consumer used to say HELLO after every second without a word from its
sender. A HELLO makes the sender send again everything after the
consumer's committed position, so one that crossed a burst on its way
cost the whole burst twice: 4,000 to 68,000 duplicates per stage in a
backtest of a 100k-event month, each read, sent and dropped again. Now a
consumer says HELLO after a quiet second only while its last HELLO may not
have been taken (nothing came since, or its connection dropped since), and
after five quiet seconds; other quiet seconds say ACK, which moves nothing
back.

The source is the Python journal server; the consumer the relay stage.
The relay must say no HELLO through seconds of silence once it has had
its messages, and must still resume, with no message twice, from a source
that restarted and forgot it (its connection drops, so it says HELLO).
"""
import time

from ndtest import JournalServer, Pipeline, check, done

N = 300


def serve_until(src, consumer, position, timeout):
    deadline = time.time() + timeout
    while src.acked(consumer) < position and time.time() < deadline:
        src.serve(0.05)
    return src.acked(consumer)


with Pipeline(clock="event", extra={"relay": {"program": "relay", "input": "source"}}) as p:
    endpoint = p.endpoint("source", "out")
    src = JournalServer(p.ctx, endpoint)
    for i in range(2 * N):
        src.append("event.track", {"id": "m%d" % i, "user": "u%d" % (i % 10),
                                   "time": "2026-01-01T00:%02d:%02d.000Z" % (i // 60, i % 60), "n": i})
    src.released = N
    p.start("relay", program="relay")
    check("the relay takes and acknowledges the first %d" % N,
          serve_until(src, "relay", N, 30) == N, src.consumers)

    src.serve(0.5)
    hellos = src.hellos
    src.serve(3.5)
    check("through 3.5 s of silence the relay says no HELLO", src.hellos == hellos,
          (hellos, src.hellos))

    src.released = None
    check("the next %d come after the silence" % N,
          serve_until(src, "relay", 2 * N, 30) == 2 * N, src.consumers)

    # The source restarts and forgets the relay: only a HELLO resumes it
    journal = src.journal
    src.close()
    src = JournalServer(p.ctx, endpoint)
    src.journal = journal
    for i in range(2 * N, 3 * N):
        src.append("event.track", {"id": "m%d" % i, "user": "u%d" % (i % 10),
                                   "time": "2026-01-01T00:%02d:%02d.000Z" % (i // 60, i % 60), "n": i})
    check("a restarted source hears HELLO and the relay takes the rest",
          serve_until(src, "relay", 3 * N, 20) == 3 * N, src.consumers)
    stats = p.control("relay")
    check("the relay forwarded each of the %d once" % (3 * N), stats.get("forwarded") == 3 * N, stats)
    check("and was sent nothing twice", stats["inputs"]["source"]["duplicates"] == 0, stats["inputs"])
    src.close()
done()
