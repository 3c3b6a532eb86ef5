#!/usr/bin/env python3
"""collector: bad input is refused with a reason, good input comes out once.

Runs the real collector in event time and talks to it as an SDK would:
malformed JSON, wrong or missing write keys, oversized events and batches,
events without a user, a batch mixing valid and invalid events, duplicate
messageIds, /health, ticks, and a --stdin replay with one bad line.
"""
import json
import subprocess
import time

from ndtest import JournalReader, Pipeline, check, done, wait_for

T0 = "2026-11-23T19:20:01.123Z"


def track(message_id, user="user-1", **extra):
    event = {"type": "track", "event": "Product Viewed", "userId": user,
             "messageId": message_id, "timestamp": T0,
             "properties": {"product_id": "p-1", "price": 19.99}}
    event.update(extra)
    return event


def refusals(p):
    status, body = p.post("/v1/track", None, raw=b'{"userId": "u", "event": ')
    check("malformed JSON is 400", status == 400, (status, body))
    check("malformed JSON says where", isinstance(body, dict) and
          body.get("success") is False and "malformed JSON" in body.get("reason", "") and
          "at byte 25" in body.get("reason", ""), body)

    status, body = p.post("/v1/track", track("k-1"), key="not-the-key")
    check("wrong write key is 401", status == 401 and body.get("success") is False, (status, body))
    status, body = p.post("/v1/track", track("k-2"), key=None)
    check("no write key is 401", status == 401 and "reason" in body, (status, body))
    event = track("k-3")
    event["writeKey"] = "test-write-key"
    status, body = p.post("/v1/track", event, key=None)
    check("write key in the body is accepted", status == 200, (status, body))

    big = track("big-1", properties={"blob": "x" * 33000})
    status, body = p.post("/v1/track", big)
    check("event over 32 KB is 413", status == 413 and "reason" in body, (status, body))
    batch = {"batch": [track("bb-%d" % i, properties={"blob": "y" * 20000}) for i in range(30)]}
    status, body = p.post("/v1/batch", batch)
    check("batch over 500 KB is 413", status == 413 and "reason" in body, (status, body))
    batch = {"batch": [track("bb-one", properties={"blob": "z" * 33000}), track("bb-ok")]}
    status, body = p.post("/v1/batch", batch)
    check("one event over 32 KB in a batch is rejected alone",
          status == 200 and [r["index"] for r in body.get("rejected", [])] == [0], (status, body))

    anonymous = track("nobody-1")
    del anonymous["userId"]
    status, body = p.post("/v1/track", anonymous)
    check("event without userId or anonymousId is 400", status == 400 and
          "userId or anonymousId" in body.get("reason", ""), (status, body))
    status, body = p.post("/v1/track", {"userId": "u", "messageId": "no-name"})
    check("track without event name is 400", status == 400, (status, body))
    status, body = p.post("/v1/track", track("bad-time", timestamp="yesterday"))
    check("unparseable timestamp is 400", status == 400 and "timestamp" in body.get("reason", ""),
          (status, body))

    for stamp, why in (("2026-02-30T10:00:00Z", "not an ISO 8601 time"),
                       ("0000-01-01T00:00:00+23:59", "outside the years 1970-9999"),
                       ("1969-12-31T23:59:59Z", "outside the years 1970-9999")):
        status, body = p.post("/v1/track", track("bad-time-" + stamp, timestamp=stamp))
        check("timestamp %s is 400: %s" % (stamp, why),
              status == 400 and why in body.get("reason", ""), (status, body))

    status, _ = p.post("/v1/nothing", track("x"))
    check("unknown path is 404", status == 404)
    status, _ = p.get("/v1/track")
    check("GET on an API path is 405", status == 405)
    status, text = p.get("/health")
    check("GET /health is 200 ok", status == 200 and json.loads(text).get("status") == "ok", text)


def mixed_batch(p, tap):
    valid = [track("mix-ok-%d" % i) for i in range(3)]
    no_user = track("mix-bad-1")
    del no_user["userId"]
    bad_type = dict(track("mix-bad-2"), type="purchase")
    bad_day = track("mix-bad-3", timestamp="2026-02-30T12:00:00Z")
    batch = {"batch": [valid[0], no_user, valid[1], bad_type, valid[2], bad_day],
             "context": {"library": {"name": "test"}}, "sentAt": T0}
    status, body = p.post("/v1/batch", batch)
    check("mixed batch is 200", status == 200 and body.get("success") is True, (status, body))
    rejected = body.get("rejected", []) if isinstance(body, dict) else []
    check("mixed batch lists the 3 rejected by index",
          [r.get("index") for r in rejected] == [1, 3, 5], body)
    check("each rejection has a reason and messageId",
          all(r.get("reason") for r in rejected) and
          [r.get("messageId") for r in rejected] == ["mix-bad-1", "mix-bad-2", "mix-bad-3"], rejected)
    check("mixed batch counts 3 accepted", body.get("accepted") == 3, body)

    ids = lambda ms: [b["id"] for t, b in ms if b["id"].startswith("mix-")]
    messages = tap.collect(until=lambda ms: len(ids(ms)) >= 3, timeout=10)
    time.sleep(0.3)
    messages = tap.poll()
    check("exactly the 3 valid events come out", sorted(ids(messages)) ==
          ["mix-ok-0", "mix-ok-1", "mix-ok-2"], ids(messages))
    out = [b for t, b in messages if b["id"] == "mix-ok-0"]
    if check("normalized event carries the wire fields", out and out[0].get("user") == "user-1"
             and out[0].get("time") == T0 and out[0].get("messageId") == "mix-ok-0", out):
        topics = [t for t, b in messages if b["id"] == "mix-ok-0"]
        check("topic is event.track", topics == ["event.track"], topics)
        check("batch context merged into the event",
              out[0].get("context", {}).get("library", {}).get("name") == "test", out[0])
        check("write key never leaves the collector", "writeKey" not in out[0], out[0])

    status, body = p.post("/v1/batch", {"batch": [no_user, bad_type]})
    check("batch with only invalid events is 400 with the list",
          status == 400 and len(body.get("rejected", [])) == 2, (status, body))


def duplicates(p, tap):
    before = p.control("collector")
    for _ in range(3):
        status, _ = p.post("/v1/track", track("dup-1"))
    check("a duplicate is still answered 200", status == 200)
    status, _ = p.post("/v1/batch", {"batch": [track("dup-2"), track("dup-2")]})
    check("a duplicate inside one batch is answered 200", status == 200)
    dup = lambda ms: [b for t, b in ms if b["id"] in ("dup-1", "dup-2")]
    messages = tap.collect(until=lambda ms: len(dup(ms)) >= 2, timeout=10)
    time.sleep(0.3)
    messages = tap.poll()
    check("each messageId comes out once", sorted(b["id"] for b in dup(messages)) ==
          ["dup-1", "dup-2"], dup(messages))
    after = p.control("collector")
    check("STATS counts the 3 duplicates",
          after.get("duplicates", 0) - before.get("duplicates", 0) == 3, after)


def ticks(p):
    tap = p.tap("collector", "tick")
    status, body = p.post("/v1/tick", {"time": "2026-11-24T03:00:00.000Z"})
    check("POST /v1/tick is 200", status == 200, (status, body))
    messages = tap.collect(until=lambda ms: len(ms) >= 1, timeout=10)
    check("the tick comes out on topic tick", [(t, b.get("time"), b.get("user"))
          for t, b in messages] == [("tick", "2026-11-24T03:00:00.000Z", "")], messages)
    status, _ = p.post("/v1/tick", {"time": "2026-11-24T04:00:00.000Z"}, key="wrong")
    check("a tick needs the write key", status == 401)
    status, _ = p.post("/v1/tick", {"time": "soon"})
    check("a tick without a time is 400", status == 400)
    now = p.control("collector").get("now")
    check("the tick moved event time", now == "2026-11-24T03:00:00.000Z", now)
    tap.close()


def wall_clock_refuses_ticks():
    with Pipeline(clock="wall") as p:
        p.start("collector")
        status, body = p.post("/v1/tick", {"time": "2026-11-24T03:00:00.000Z"})
        check("in wall-clock mode a tick is 400",
              status == 400 and "event" in body.get("reason", ""), (status, body))


def dedupe_window():
    """A messageId is remembered for at least dedupe-window, then forgotten."""
    with Pipeline(clock="event", extra={"collector": {"dedupe-window": "1h"}}) as p:
        p.start("collector")
        tap = p.tap("collector", "event.")
        at = lambda t: track("window-1", timestamp=t)
        p.post("/v1/track", at("2026-11-23T10:00:00.000Z"))
        p.post("/v1/track", at("2026-11-23T10:50:00.000Z"))
        p.post("/v1/tick", {"time": "2026-11-23T11:30:00.000Z"})
        p.post("/v1/track", at("2026-11-23T11:40:00.000Z"))
        p.post("/v1/tick", {"time": "2026-11-23T13:00:00.000Z"})
        p.post("/v1/track", at("2026-11-23T13:10:00.000Z"))
        messages = tap.collect(until=lambda ms: len(ms) >= 2, timeout=10)
        time.sleep(0.3)
        times = [b["time"] for t, b in tap.poll()]
        check("dedupe: within the window a retry is dropped, after two it is new again",
              times == ["2026-11-23T10:00:00.000Z", "2026-11-23T13:10:00.000Z"], times)
        tap.close()


def state_full():
    """When LMDB is full the client hears 503 (SDKs retry), never a false 200."""
    with Pipeline(clock="event", extra={"pipeline": {"mapsize": "1M"}}) as p:
        p.start("collector")
        answers = []
        for r in range(200):
            batch = [track("full-%d-%d" % (r, i), properties={"pad": "p" * 150})
                     for i in range(50)]
            answers.append(p.post("/v1/batch", {"batch": batch}))
            if answers[-1][0] != 200:
                break
        status, body = answers[-1]
        check("state full: 503 with a reason", status == 503 and "retry" in body.get("reason", ""),
              (status, body))
        check("state full: logged with what to do", "raise 'mapsize'" in p.log("collector"))
        stats = p.control("collector")
        check("state full: only committed events count as accepted",
              stats.get("accepted") == 50 * (len(answers) - 1), stats)


def stdin_replay():
    lines = [json.dumps(track("in-1")),
             json.dumps({"type": "identify", "userId": "user-1", "messageId": "in-2",
                         "traits": {"plan": "gold"}, "timestamp": T0}),
             '{"type": "track", "userId": ',
             "",
             json.dumps({"type": "tick", "time": "2026-11-24T00:00:00.000Z"}),
             json.dumps(track("in-3"))]
    with Pipeline(clock="event") as p:
        p.start("collector", args=["--stdin"], stdin=subprocess.PIPE)
        # the durable journal, not a tap: a PUB subscription made while the
        # collector is already reading stdin may join after the lines went
        reader = JournalReader(p, "collector", "reader", 100)
        feed = p.procs["collector"].stdin
        feed.write(("\n".join(lines) + "\n").encode())
        feed.close()
        wait_for(lambda: reader.poll(0.2) >= 0 and len(reader.messages) >= 4, timeout=10)
        got = [(t, b["id"]) for _, t, b in reader.messages]
        check("stdin replay emits the good lines in order", got == [
            ("event.track", "in-1"), ("event.identify", "in-2"),
            ("tick", "tick-1795478400000"), ("event.track", "in-3")], got)
        summary = wait_for(lambda: "stdin: 6 lines" in p.log("collector"), timeout=5)
        log = p.log("collector")
        check("stdin: the bad line is logged with its number",
              "stdin: line 3: malformed JSON" in log, log)
        check("stdin: summary at end of input",
              summary and "stdin: 6 lines, 4 accepted, 1 rejected" in log, log)
        status, _ = p.post("/v1/track", track("after-eof"))
        check("still serving HTTP after end of stdin", status == 200)
        reader.close()


def main():
    with Pipeline(clock="event") as p:
        p.start("collector")
        tap = p.tap("collector", "event.")
        refusals(p)
        mixed_batch(p, tap)
        duplicates(p, tap)
        ticks(p)
        stats = p.control("collector")
        check("STATS reports requests, accepted, rejected",
              stats.get("requests", 0) > 10 and stats.get("accepted", 0) >= 7 and
              stats.get("rejected", 0) >= 4, stats)
        tap.close()
    wall_clock_refuses_ticks()
    dedupe_window()
    state_full()
    stdin_replay()
    done()


if __name__ == "__main__":
    main()
