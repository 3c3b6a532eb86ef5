#!/usr/bin/python3
"""sessionizer: a person's state moves from one partition to another
(move.c, issue #15 part 3).

Real events through a real sessionizer make the state: a person P who
browsed anonymously, carted, claimed an e-mail through a browser, logged
in, and then logged in on a second device whose visitor merged into P;
people Q and R beside them on the same products; a person S with more
anonymousIds than a profile lists. The stage is stopped, and its
--selftest (move_test.h) moves P, then S, into empty state directories.
mdb_dump of every table, before and after, is read here with a decoder of
its own, so a table the export misses shows up as a row left behind:

  (a) the source keeps no row of the person, and every other row as it
      was (only a product's count of watchers goes down);
  (b) the target holds exactly the rows the source held for the person;
  (c) a second export of the person finds nothing;
  (d) person_each lists the people held, before and after, on both sides;
      and every moved id resolves to the person in the target only.

Then a stage started on the target state finds P by an old device's
anonymousId, cart and all: the import is the person as it was.
"""
import datetime
import json
import os
import struct
import subprocess

from ndtest import BIN, JournalServer, Pipeline, check, done, wait_for

T0 = datetime.datetime(2026, 11, 23, 9, 0, 0)
SHARED = {"products", "popular", "together", "counters"}
RECORD = 104                    # visitor.c's s_stored_t, then five strings


def ts(minutes):
    return (T0 + datetime.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class Feed:
    def __init__(self, p, stage, source):
        self.p, self.stage = p, stage
        self.src = JournalServer(p.ctx, p.endpoint(source, "out"))
        self.tap = p.tap(stage, "")
        self.n = 0

    def send(self, minute, kind, anon=None, user=None, **fields):
        self.n += 1
        body = {"type": kind, "id": "m-%d" % self.n, "messageId": "m-%d" % self.n,
                "time": ts(minute), "user": user or anon}
        if anon:
            body["anonymousId"] = anon
        if user:
            body["userId"] = user
        body.update(fields)
        self.src.append("event." + kind, body)
        return body["id"]

    def track(self, minute, event, anon=None, user=None, **props):
        return self.send(minute, "track", anon, user, event=event, properties=props)

    def flush(self):
        def applied():
            self.src.serve(0.02)
            return self.p.control(self.stage).get("applied", 0) >= self.n
        ok = wait_for(applied, timeout=20)
        self.tap.collect(timeout=0.3)
        return ok

    def visitor(self, message_id):
        return next((b["user"] for t, b in self.tap.messages
                     if t.startswith("event.") and b["id"] == message_id), None)


def dump(directory):
    """{table: {key bytes: value bytes}} of every named database."""
    out = subprocess.run(["mdb_dump", "-a", directory], capture_output=True, check=True,
                         text=True).stdout.splitlines()
    tables, name, rows, pending = {}, None, None, None
    for line in out:
        if line.startswith("database="):
            name, rows = line[len("database="):], {}
        elif line == "DATA=END":
            if name is not None:
                tables[name] = rows
            name = None
        elif line.startswith(" ") and name is not None:
            data = bytes.fromhex(line.strip())
            if pending is None:
                pending = data
            else:
                rows[pending], pending = data, None
    return tables


def text(data):
    return data.split(b"\0")[0].decode()


def merged_into(record):
    strings = record[RECORD:].split(b"\0")
    return strings[4].decode() if len(strings) > 4 else ""


def owner(table, key, value):
    """The visitor id a row is about (None: shared data, or not a sessionizer table)."""
    if table == "ids":
        return text(value)
    if table in ("visitors", "profiles", "carts", "viewed", "watching"):
        return text(key)
    if table == "watchers":
        return key.split(b"\0")[1].decode()
    if table in ("expiry", "idle", "claims"):
        return text(key[8:])
    return None


def survivor(visitors, visitor):
    for _ in range(40):
        record = visitors.get(visitor.encode() + b"\0")
        if record is None or not merged_into(record):
            return visitor
        visitor = merged_into(record)
    return visitor


def rows_of(tables, person):
    """The rows of every per-person table that lead to person."""
    visitors = tables.get("visitors", {})
    found = set()
    for table, rows in tables.items():
        if table in SHARED:
            continue
        for key, value in rows.items():
            about = owner(table, key, value)
            if about is not None and survivor(visitors, about) == person:
                found.add((table, key, value))
    return found


def all_rows(tables, skip=SHARED):
    return {(t, k, v) for t, rows in tables.items() if t not in skip
            for k, v in rows.items() if owner(t, k, v) is not None}


def people(tables):
    return sorted(text(k) for k, v in tables.get("visitors", {}).items() if not merged_into(v))


def watcher_counts(tables):
    counts = {}
    for key in tables.get("watchers", {}):
        product = key.split(b"\0")[0].decode()
        counts[product] = counts.get(product, 0) + 1
    return counts


def product_count(tables, product):
    record = tables.get("products", {}).get(product.encode() + b"\0")
    return json.loads(record).get("watchers", 0) if record else 0


def move(source, target, person, retention):
    env = dict(os.environ, SESSIONIZER_MOVE_FROM=source, SESSIONIZER_MOVE_TO=target,
               SESSIONIZER_MOVE_PERSON=person, SESSIONIZER_MOVE_RETENTION=retention)
    run = subprocess.run([os.path.join(BIN, "sessionizer"), "--selftest"], env=env,
                         capture_output=True, text=True, timeout=60)
    line = next((l for l in run.stdout.splitlines() if l.startswith("{")), None)
    if run.returncode or not line:
        raise RuntimeError("move failed (%s): %s %s" % (run.returncode, run.stdout, run.stderr))
    return json.loads(line)


def check_move(what, source, target, person, retention, tables):
    before = dump(source)
    report = move(source, target, person, retention)
    after, moved = dump(source), dump(target)
    mine = rows_of(before, person)
    check("%s: the person has rows in %s" % (what, " ".join(sorted(tables))),
          {t for t, _, _ in mine} == tables, sorted({t for t, _, _ in mine}))
    left = rows_of(after, person)
    check("%s: (a) no table of the source keeps a row of the person" % what, not left,
          sorted((t, k.hex()) for t, k, _ in left)[:10])
    others = all_rows(before) - mine
    check("%s: (a) every other person's row is untouched" % what, all_rows(after) == others,
          "%d gone, %d new" % (len(others - all_rows(after)), len(all_rows(after) - others)))
    changed = {k for k, v in before.get("products", {}).items()
               if after.get("products", {}).get(k) != v}
    check("%s: (a) of the catalogue, only counts of watchers change" % what,
          all({**json.loads(before["products"][k]), "watchers": 0}
              == {**json.loads(after["products"][k]), "watchers": 0} for k in changed)
          and set(after.get("products", {})) == set(before.get("products", {})), changed)
    counted = watcher_counts(before)
    check("%s: (a) each product's count of watchers is its rows left" % what,
          all(product_count(after, p) == product_count(before, p) - counted[p]
              + watcher_counts(after).get(p, 0) for p in counted), watcher_counts(after))
    check("%s: (b) the target holds exactly the person's rows" % what,
          all_rows(moved) == mine, "%d expected, %d there: missing %s" % (
              len(mine), len(all_rows(moved)),
              sorted({t for t, _, _ in mine - all_rows(moved)})))
    check("%s: (b) the target counts the watchers it holds" % what,
          all(product_count(moved, p) == n for p, n in watcher_counts(moved).items()))
    check("%s: (c) a second export of the person finds nothing" % what, report["again"] is None)
    check("%s: (d) person_each lists the people held before" % what,
          report["before"] == people(before), (report["before"], people(before)))
    check("%s: (d) and after, on both sides" % what,
          report["from_after"] == sorted(set(people(before)) - {person})
          and report["to_after"] == [person], (report["from_after"], report["to_after"]))
    resolves = report["to_resolves"]
    check("%s: every moved id resolves to the person in the target, none in the source" % what,
          resolves and set(resolves.values()) == {person}
          and set(report["from_resolves"].values()) == {None}, resolves)
    return report


with Pipeline(clock="event", extra={
        "sessionizer": {"input": "source", "visitor-retention": "30d"},
        "target": {"input": "source2", "visitor-retention": "30d"}}) as p:
    p.start("sessionizer")
    f = Feed(p, "sessionizer", "source")
    boots = {"product_id": "p1", "name": "Boots", "price": 80, "currency": "EUR"}
    socks = {"product_id": "p2", "name": "Socks", "price": 5, "currency": "EUR"}
    # P: anonymous on a phone, then a claim through the browser, then a login
    first = f.send(0, "page", anon="a-p1", name="Home")
    f.track(1, "Product Viewed", anon="a-p1", **boots)
    f.track(2, "Product Added", anon="a-p1", quantity=1, **boots)
    f.send(3, "identify", anon="a-p1", via="browser", traits={"email": "p@example.com"})
    f.send(4, "identify", anon="a-p1", user="u-p", traits={"firstName": "Pat"})
    # P's laptop, anonymous, then logged in: its visitor merges into P
    f.track(60 * 24, "Product Viewed", anon="a-p2", **socks)
    f.track(60 * 24 + 1, "Product Added", anon="a-p2", quantity=2, **socks)
    f.send(60 * 24 + 2, "identify", anon="a-p2", user="u-p")
    # Q and R beside them, on the same products
    f.track(60 * 24 + 3, "Product Viewed", anon="a-q", **boots)
    f.track(60 * 24 + 4, "Product Added", anon="a-q", quantity=1, **boots)
    f.send(60 * 24 + 5, "identify", anon="a-r", user="u-r", via="browser",
           traits={"email": "r@example.com"})
    f.track(60 * 24 + 6, "Product Viewed", anon="a-r", user="u-r", **socks)
    # S: more anonymousIds than a profile lists (the ids table is walked)
    for i in range(53):
        last = f.send(60 * 24 + 10 + i, "page", anon="a-s-%d" % i, user="u-s", name="Home")
    # The laptop again: its id now leads to P directly, and nothing leads
    # through the merged visitor's record but P's profile's "merged"
    f.send(60 * 24 + 69, "page", anon="a-p2", name="Home")
    # P back on the phone: a session open, products viewed in it
    f.track(60 * 24 + 70, "Product Viewed", anon="a-p1", **socks)
    check("the sessionizer applied every event", f.flush())
    person, loser = f.visitor(first), f.visitor("m-6")
    s_person = f.visitor(last)
    check("P and its laptop's visitor are two visitors, merged", person and loser != person
          and any(t == "visitor.merged" and b.get("merged") == loser for t, b in f.tap.messages))
    p.start("target", program="sessionizer")               # its state: the runtime's own tables, no person yet
    p.stop("target")
    p.stop("sessionizer")
    state = p.dir + "/state/"
    report = check_move("P", state + "sessionizer", state + "target", person, "30d", {
        "ids", "visitors", "profiles", "carts", "viewed", "expiry", "idle", "claims",
        "watchers", "watching"})
    tables = report["state"]["tables"] if report["state"] else {}
    check("P's export holds the merged visitor's record, which no id leads through",
          any(bytes.fromhex(k) == loser.encode() + b"\0" for k, _ in tables.get("visitors", [])))
    os.makedirs(p.dir + "/empty")
    report = check_move("S", state + "sessionizer", p.dir + "/empty", s_person, "30d",
                        {"ids", "visitors", "profiles", "expiry"})
    check("S's export holds all 54 ids, not only the 50 its profile lists",
          len(report["state"]["tables"]["ids"]) == 54, len(report["state"]["tables"]["ids"]))

    # The target, as a stage: P by the laptop's anonymousId, cart and all
    p.start("target", program="sessionizer")
    g = Feed(p, "target", "source2")
    g.n = p.control("target").get("applied", 0)
    seen = g.track(60 * 24 + 30, "Product Added", anon="a-p2", quantity=1,
                   **{"product_id": "p3", "name": "Hat", "price": 20, "currency": "EUR"})
    check("the target stage applied the event", g.flush())
    check("the target finds P by an id bound to the merged visitor", g.visitor(seen) == person,
          g.visitor(seen))
    carts = [b["cart"] for t, b in g.tap.messages if t == "cart.updated" and b["user"] == person]
    items = {i.get("product_id") for c in carts[-1:] for i in c.get("items", [])}
    check("P's cart there holds what both devices carted", items == {"p1", "p2", "p3"}, carts)
    p.stop("target")

done()
