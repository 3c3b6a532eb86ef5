#!/usr/bin/python3
"""The collector's person router (collector_route.c, issue #15 part 3).

A relay "split" with partitions = 2 reads the collector, so the router is
on; the ordinary, unpartitioned sessionizer reads the collector too. Fed
through collector --stdin: a generated month (nd-month) interleaved with
hand-written people who exercise every rule of the sessionizer's
identity.c: a new person, a userId extending a visitor, a second device
whose login merges two visitors, a shared device (someone else logs in:
a new person), a known device joined to another known person without a
merge, an alias renaming a userId, an alias merging two people.

  - every event the sessionizer resolved carries the collector's stamp
    ("visitor", read in the collector's journal) equal to the visitor the
    sessionizer gave it ("user" in its output); visitor_stamp_mismatch 0;
  - each rule above happened (counted from what was observed, not from a
    model of the rules), merges within and across partitions both;
  - each merge across partitions put exactly one move.out in the loser's
    partition and one move.in in the survivor's, right before the event
    that merged them; a merge within one partition none;
  - every event reaches the partition of its visitor only;
  - after /v1/erase of a merged-away visitor, the router's tables (mdb_dump
    of the stopped collector's state) hold no row of the person, the
    visitors merged into them, nor any of their ids;
  - two partitioned consumers with different counts: collector --check
    refuses with file:line.
"""
import datetime
import os
import random
import subprocess

from ndtest import BIN, JournalReader, Pipeline, check, done, wait_for

PEOPLE = 40
START = datetime.datetime(2026, 10, 1, tzinfo=datetime.timezone.utc)


def route_key(text):
    h = 2166136261
    for byte in text.encode():
        h = ((h ^ byte) * 16777619) & 0xFFFFFFFF
    return h


def part(visitor):
    return route_key(visitor) % 2


def stamp(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


def person(k):
    """Person k's events: device a, login, device b, login there (a merge),
    then one rule by k % 5, then device b again (through the merge)."""
    base = START + datetime.timedelta(hours=1, minutes=15 * k)
    seq = [("page", None, "xa-%d" % k), ("identify", "xu-%d" % k, "xa-%d" % k),
           ("page", None, "xb-%d" % k), ("identify", "xu-%d" % k, "xb-%d" % k)]
    rule = k % 5
    if rule == 1:       # shared device: another account on device a
        seq.append(("identify", "xs-%d" % k, "xa-%d" % k))
    if rule == 2:       # alias renames the account id
        seq.append(("alias", "xr-%d" % k, "xu-%d" % k))
    if rule == 3:       # alias: this account is the previous person's
        seq.append(("alias", "xu-%d" % (k - 1), "xu-%d" % k))
    if rule == 4:       # device a logs in as the previous person: no merge
        seq.append(("identify", "xu-%d" % (k - 1), "xa-%d" % k))
    seq.append(("page", None, "xb-%d" % k))
    events = []
    for i, (kind, user, other) in enumerate(seq):
        e = {"type": kind, "messageId": "x-%d-%d" % (k, i),
             "timestamp": stamp(base + datetime.timedelta(minutes=i))}
        if user:
            e["userId"] = user
        e["previousId" if kind == "alias" else "anonymousId"] = other
        events.append(e)
    return events


def when(event):
    return event.get("timestamp") or event["time"]


def feed(p):
    path = os.path.join(p.dir, "month.jsonl")
    subprocess.run([os.path.join(BIN, "nd-month"), "--events", "3000", "--seed", "7",
                    "-o", path], check=True, timeout=60)
    import json
    month = [json.loads(line) for line in open(path)]
    extra = [e for k in range(PEOPLE) for e in person(k)]
    lines = sorted(month + extra, key=when)     # stable: month ticks stay in place
    with open(path, "w") as f:
        for e in lines:
            f.write(json.dumps(e) + "\n")
    return path, [e for e in lines if e.get("type") != "tick"]


def read_all(p, stage, head_of):
    reader = JournalReader(p, stage, "route-test", 100000)

    def caught_up():
        reader.poll(0.2)
        return reader.position >= head_of()
    ok = wait_for(caught_up, 60)
    reader.close()
    return ok, reader.messages


def dump(state):
    """The router's tables as {table: [(key, value)]}, bytes as stored."""
    tables = {}
    for table in ("route.ids", "route.visitors", "route.owned"):
        out = subprocess.run(["mdb_dump", "-p", "-s", table, state], capture_output=True,
                             text=True, timeout=30).stdout.splitlines()
        rows = [unescape(line[1:]) for line in out[out.index("HEADER=END") + 1:]
                if line.startswith(" ")]
        tables[table] = list(zip(rows[0::2], rows[1::2]))
    return tables


def unescape(text):
    """mdb_dump -p: printable bytes as they are, others as \\hh."""
    out, i = bytearray(), 0
    while i < len(text):
        if text[i] == "\\" and text[i + 1] == "\\":
            out.append(0x5C)
            i += 2
        elif text[i] == "\\":
            out.append(int(text[i + 1:i + 3], 16))
            i += 3
        else:
            out += text[i].encode()
            i += 1
    return bytes(out)


def names(table, key, value):
    """The visitor ids and shop ids a row of the router's tables holds."""
    if table == "route.ids":            # kind, id NUL -> visitor NUL
        return {key[1:-1], value[:-1]}
    if table == "route.visitors":       # visitor NUL -> userId NUL merged-into NUL
        return {key[:-1]} | set(value.split(b"\0"))
    visitor, rest = key.split(b"\0", 1)    # visitor NUL, kind, id NUL
    return {visitor, rest[1:-1]}


def rules_seen(events, merged):
    """How often each rule of identity.c happened, from the stamped events
    in journal order and the sessionizer's visitor.merged: no model of the
    rules, only what each event's ids had led to before it."""
    led, known, identified = {}, set(), set()
    rules = dict.fromkeys(("new person", "extend with userId", "shared device",
                           "known device joins a known person", "alias rename"), 0)
    for e in events:
        v, user, alias = e["visitor"], e.get("userId"), e["type"] == "alias"
        device = None if alias else led.get(("a", e.get("anonymousId")))
        new_user = user and ("u", user) not in led
        if v not in known:
            rules["new person"] += 1
            rules["shared device"] += bool(device and new_user)
        elif device == v and new_user:
            rules["extend with userId"] += 1
        elif alias and new_user and led.get(("u", e["previousId"])) == v:
            rules["alias rename"] += 1
        elif device and device != v and device in identified and led.get(("u", user)) == v:
            rules["known device joins a known person"] += 1
        known.add(v)
        if user:
            identified.add(v)
            led[("u", user)] = v
        if not alias and e.get("anonymousId"):
            led[("a", e["anonymousId"])] = v
        if alias:               # its previousId, a userId or a device, leads to v now
            led[("u" if ("u", e["previousId"]) in led else "a", e["previousId"])] = v
    across = [m for m in merged if part(m[0]) != part(m[1])]
    rules["merge within a partition"] = len(merged) - len(across)
    rules["merge across partitions"] = len(across)
    return rules


def check_moves(merged, collected, split):
    """What is wrong with the moves of the merges (loser, survivor)."""
    order = [(t, b.get("id"), b.get("move")) for _, t, b in collected]
    by_type = {b["id"]: t[len("event."):] for _, t, b in collected if t.startswith("event.")}
    bad = []
    for loser, survivor in merged:
        moves = [(k, t, b) for k in (0, 1) for _, t, b in split[k]
                 if t.startswith("move.") and b["user"] == loser]
        if part(loser) == part(survivor):
            if moves:
                bad.append(("a move within one partition", loser, survivor))
            continue
        if sorted((t, k, b["into"]) for k, t, b in moves) != \
           [("move.in", part(survivor), survivor), ("move.out", part(loser), survivor)]:
            bad.append(("not one move.out to the loser's, one move.in to the survivor's",
                        loser, survivor, moves))
            continue
        move = moves[0][2]["move"]
        event = move[:-len(":move")]
        at = [i for i, (_, id_, _) in enumerate(order) if id_ == event]
        if not at or [order[at[0] - 2][:3:2], order[at[0] - 1][:3:2]] != \
           [("move.out", move), ("move.in", move)]:
            bad.append(("not right before its event in the collector's journal", move))
        there = [(t, b.get("move") if t.startswith("move.") else b.get("id"))
                 for _, t, b in split[part(survivor)]]
        if ("move.in", move) not in there or ("event." + by_type[event], event) not in \
           there[there.index(("move.in", move)):]:
            bad.append(("the event does not follow move.in in the survivor's partition", move))
    return bad


# "hold" never runs: a configured reader that acknowledges nothing keeps
# split's journals whole for us to read, whatever its partitions trim
extra = {"split": {"program": "relay", "input": "collector", "partitions": "2"},
         "hold": {"program": "relay", "input": "split"},
         "sessionizer": {"input": "collector", "topics": "event."}}
with Pipeline(clock="event", extra=extra) as p:
    path, events = feed(p)
    with open(path) as stdin:
        p.start("collector", args=["--stdin"], stdin=stdin)
    # accepted counts the ticks too: wait for every line of the file
    lines = sum(1 for _ in open(path))
    check("the collector took every event of the month and the people (%d)" % len(events),
          wait_for(lambda: p.control("collector")["accepted"] >= lines, 120),
          p.control("collector"))
    head = p.control("collector")["journal"]["head"]
    journal = {}
    # Read whole before its consumers start: what they acknowledge is trimmed
    ok, journal["collector"] = read_all(p, "collector", lambda: head)
    check("read the collector's journal to its head (%d)" % head, ok)
    readers = ("sessionizer", "split.0", "split.1")
    p.start("sessionizer")
    for stage in readers[1:]:
        p.start(stage, program="relay")
    check("sessionizer, split.0 and split.1 read the collector's journal to its head",
          wait_for(lambda: all(p.control(s)["inputs"]["collector"]["position"] >= head
                               for s in readers), 120))
    for stage in readers:
        ok, journal[stage] = read_all(p, stage, lambda: p.control(stage)["journal"]["head"])
        check("read %s's journal to its head" % stage, ok)
    collected, resolved = journal["collector"], journal["sessionizer"]
    split = {k: journal["split.%d" % k] for k in (0, 1)}

    stamped = [b for _, t, b in collected if t.startswith("event.")]
    stamps = {b["id"]: b.get("visitor") for b in stamped}
    given = {b["id"]: b["user"] for _, t, b in resolved if t.startswith("event.")}
    wrong = [(i, stamps.get(i), v) for i, v in given.items() if stamps.get(i) != v]
    check("every event the sessionizer resolved (%d of %d) has the stamp it resolved to"
          % (len(given), len(stamps)), len(given) == len(stamps) and not wrong, wrong[:5])
    stats = p.control("sessionizer")
    check("sessionizer: visitor_stamp_mismatch 0, nothing rejected",
          stats.get("visitor_stamp_mismatch") == 0 and stats["rejected"] == 0,
          {k: stats.get(k) for k in ("visitor_stamp_mismatch", "rejected")})

    merged = [(b["merged"], b["user"]) for _, t, b in resolved if t == "visitor.merged"]
    rules = rules_seen(stamped, merged)
    check("every rule of identity.c happened: %s" % rules, all(rules.values()), rules)
    bad = check_moves(merged, collected, split)
    check("each of %d merges across partitions: one move.out to the loser's partition, one "
          "move.in to the survivor's, right before its event; none for the %d within one"
          % (rules["merge across partitions"], rules["merge within a partition"]),
          not bad, bad[:3])
    moved = {(b["user"], b["into"]) for k in (0, 1) for _, t, b in split[k] if t.startswith("move.")}
    check("no move without a merge", moved <= set(merged), moved - set(merged))
    astray = [(k, b["id"]) for k in (0, 1) for _, t, b in split[k]
              if t.startswith("event.") and part(b["visitor"]) != k]
    got = sum(1 for k in (0, 1) for _, t, _ in split[k] if t.startswith("event."))
    check("every event reaches its visitor's partition alone (%d events)" % got,
          not astray and got == len(stamps), astray[:5])

    # Erase person 3 by their first visitor, merged away into person 2's
    by_id = {b["id"]: b for b in stamped}
    loser = by_id["x-3-0"]["visitor"]
    survivor = by_id["x-3-%d" % (len(person(3)) - 1)]["visitor"]
    status, _ = p.post("/v1/erase", {"visitor": loser})
    check("erase of %s (merged into %s) accepted" % (loser, survivor),
          status == 200 and loser != survivor)
    gone = {survivor, loser}
    for _ in range(3):
        gone |= {v for v, s in merged if s in gone}
    # person 4 logged in on device xa-4 as person 3: that device is theirs
    ids = {"xa-2", "xb-2", "xu-2", "xr-2", "xa-3", "xb-3", "xu-3", "xa-4"}
    wait_for(lambda: p.control("collector")["journal"]["head"] > head, 10)
    stats = p.control("collector")
    p.stop("collector")
    tables = dump(os.path.join(p.dir, "state", "collector"))
    unwanted = {v.encode() for v in gone | ids}
    left = [(t, k, v) for t, rows in tables.items() for k, v in rows if names(t, k, v) & unwanted]
    check("the router's tables hold no row of the erased person (%d visitors, %d ids), "
          "%d rows of others" % (len(gone), len(ids), sum(len(r) for r in tables.values())),
          not left and len(tables["route.ids"]) > 100, left[:5])
    check("STATS counts the router's rows (route_ids, route_visitors)",
          stats.get("route_ids", 0) > 100 and stats.get("route_visitors", 0) > 50,
          {k: stats.get(k) for k in ("route_ids", "route_visitors")})

    p.write_config({"split": {"program": "relay", "input": "collector", "partitions": "2"},
                    "other": {"program": "relay", "input": "collector", "partitions": "3"}})
    proc = subprocess.run([os.path.join(BIN, "collector"), "--config", p.config, "--check"],
                          capture_output=True, text=True, timeout=30)
    check("two partitioned consumers with different counts: collector --check refuses "
          "with file:line", proc.returncode == 78 and "pipeline.zpl:" in proc.stderr
          and "partitions = " in proc.stderr, (proc.returncode, proc.stderr))
done()
