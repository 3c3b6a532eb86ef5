#!/usr/bin/python3
"""Retention reaches every stage: visitor.forgotten empties them all.

Real collector (fed on stdin, the event clock), sessionizer with
visitor-retention = 1d, segmenter, chat-bridge and scheduler (input
segmenter and chat-bridge, as shipped). N anonymous visitors each view
a page on day 0; STAYERS of them come back on days 1 and 2. Ticks every
3 hours take event time to day 3. Before: every stage keeps a record per
visitor (sessionizer visitors, segmenter profiles, scheduler activity,
chat-bridge people and ids). After: each keeps only the stayers. Counted with mdb_stat on each
stage's LMDB (read-only, while the stages run).

N is 25,000 in make test: more than two of the sessionizer's forgetting
transactions (at most 10,000 visitors each), so the rest is forgotten at
the next tick, as with 100,000, which FULL=1 (make bench) runs: about
20 s on the 2-core test machine (14 s to take them in through four
stages, 5 s to forget them), 62.6 s when other builds shared it.
ND_RETENTION_VISITORS sets another N; under the sanitizers it is 3,000.
"""
# tests/run: start first (one of the longest)
import datetime
import os
import re
import subprocess
import time

from ndtest import BIN, Pipeline, check, done, free_port, wait_for
from chattest import chat_options
from schedtest import journeys_only, scheduler_options

SANITIZED = os.path.basename(os.path.dirname(BIN)) == "build-san"     # ASan: some 5x slower
N = int(os.environ.get("ND_RETENTION_VISITORS", "3000" if SANITIZED else
                       "100000" if os.environ.get("FULL") == "1" else "25000"))
STAYERS = 100
T0 = datetime.datetime(2026, 11, 23, 9, 0, 0)
RECORDS = (("sessionizer", "visitors"), ("segmenter", "profiles"), ("scheduler", "activity"),
           ("chat-bridge", "people"))


def ts(seconds):
    return (T0 + datetime.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def entries(p, stage, db):
    r = subprocess.run(["mdb_stat", "-s", db, os.path.join(p.dir, "state", stage)],
                       capture_output=True, text=True)
    m = re.search(r"Entries: (\d+)", r.stdout)
    return int(m.group(1)) if m else -1


def forgotten(p):
    """The sessionizer's count, or None while it is too busy to answer."""
    try:
        return p.control("sessionizer").get("visitors_forgotten")
    except RuntimeError:
        return None


def counts(p):
    return {"%s/%s" % r: entries(p, *r) for r in RECORDS}


def feed():
    """One page view per visitor on day 0, then the stayers again on days 1
    and 2, each time before a day has passed, and ticks every 3 hours to
    day 3: compact lines in time order, as two parts."""
    day0 = ['{"type":"page","anonymousId":"a-%d","messageId":"m-%d","timestamp":"%s"}'
            % (i, i, ts(i * 0.5)) for i in range(N)]
    later = []
    for day in (1, 2):
        later += [(day * 86400 + i, '{"type":"page","anonymousId":"a-%d","messageId":"s%d-%d",'
                   '"timestamp":"%s"}' % (i, day, i, ts(day * 86400 + i))) for i in range(STAYERS)]
    later += [(h * 3600, '{"type":"tick","time":"%s"}' % ts(h * 3600)) for h in range(3, 73, 3)]
    later.sort(key=lambda line: line[0])
    return ("\n".join(day0) + "\n").encode(), ("\n".join(t for _, t in later) + "\n").encode()


extra = {"sessionizer": {"input": "collector", "visitor-retention": "1d"},
         "segmenter": {"input": "sessionizer"},
         "chat-bridge": chat_options(free_port(), hours="never"),
         "scheduler": scheduler_options(journeys_only("abandoned-cart"),
                                        input="segmenter, chat-bridge")}
first, rest = feed()
started = time.time()
with Pipeline(clock="event", extra=extra) as p:
    for stage in ("sessionizer", "segmenter", "chat-bridge", "scheduler"):
        p.start(stage)
    collector = p.start("collector", args=["--stdin"], stdin=subprocess.PIPE)
    collector.stdin.write(first)
    collector.stdin.flush()
    everyone = {"%s/%s" % r: N for r in RECORDS}
    wait_for(lambda: counts(p) == everyone, 120, 0.5)
    before = counts(p)
    check("day 0: every stage keeps a record for each of the %d visitors" % N,
          before == everyone, before)
    loaded = time.time() - started
    collector.stdin.write(rest)
    collector.stdin.flush()
    # the sessionizer forgets at most 10,000 visitors a transaction and the
    # rest at its next timers call: on the event clock, the next tick
    for second in range(1, 40):
        count = forgotten(p)
        if count == N - STAYERS:
            break
        collector.stdin.write(b'{"type":"tick","time":"%s"}\n' % ts(3 * 86400 + second).encode())
        collector.stdin.flush()
        wait_for(lambda: forgotten(p) not in (count, None), 5)
    collector.stdin.close()
    final = {"%s/%s" % r: STAYERS for r in RECORDS}
    wait_for(lambda: counts(p) == final, 120, 0.5)
    after = counts(p)
    gone = forgotten(p)
    check("the sessionizer forgot every visitor idle for a day (%d of %d)" % (N - STAYERS, N),
          gone == N - STAYERS, gone)
    check("and every stage keeps only the %d who came back: %s" % (STAYERS, after),
          after == final, after)
    check("chat-bridge ids: only the stayers' anonymousIds are left",
          entries(p, "chat-bridge", "ids") == STAYERS, entries(p, "chat-bridge", "ids"))
    print("# %.1f s for %d visitors, %.1f s of it to take them in"
          % (time.time() - started, N, loaded))
done()
