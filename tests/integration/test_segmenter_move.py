#!/usr/bin/python3
"""segmenter: one visitor's state moves between partitions, whole and once
(issue #15 part 3: seg_person_export / seg_person_import / seg_person_each).

Real collector -> sessionizer -> segmenter in event time builds the state:
"mover" views the same boots in two sessions (revisit index rows for the
product and its category), adds them, orders (customer: a due entry for
lapsed) and gives a birthday and an e-mail with consent (new_subscriber,
birthday); three others browse, order and subscribe beside it. Then the
stages stop and `segmenter --selftest move FROM TO PERSON` (a test-only
hand on the export and import) takes mover from the segmenter's state
FROM into an empty state TO. Both are read with mdb_dump -a, every named
database, so a table the export forgets shows here even if the test never
heard of it:

  (a) FROM holds no row of mover in any of the stage's tables, and every
      other row is as it was; the member counts lost mover's segments
  (b) TO holds exactly the rows FROM lost, byte for byte, and counts
      mover once in each of its segments
  (c) a second export of mover from FROM finds nothing
  (d) seg_person_each listed exactly the people the tables hold, before
      and after, in FROM and TO
  (e) moved back, FROM is again byte for byte what it was, and a
      segmenter restarted on it carries on with mover's counters.
"""
import datetime
import json
import os
import subprocess

from ndtest import BIN, Pipeline, check, done
from segtest import Shop

T0 = datetime.datetime(2026, 3, 2, 9, 0, 0)
#   The runtime's own databases (nd_link.c, nd_stage_setup.c): not the stage's.
RUNTIME = {"journal", "meta"}
#   Totals over everyone: the funnel's stay, the member counts follow.
TOTALS = {"members", "funnel", "funnel-keys"}


def ts(day, minutes=0):
    t = T0 + datetime.timedelta(days=day, minutes=minutes)
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def unprint(text):
    """mdb_dump -p's text of a key or value, back to bytes."""
    out, i = bytearray(), 0
    while i < len(text):
        if text[i] == "\\" and text[i + 1] == "\\":
            out += b"\\"
            i += 2
        elif text[i] == "\\":
            out.append(int(text[i + 1:i + 3], 16))
            i += 3
        else:
            out += text[i].encode("latin-1")
            i += 1
    return bytes(out)


def dump(state):
    """Every named database of the LMDB environment in state: {name: {key: value}}."""
    text = subprocess.run(["mdb_dump", "-a", "-p", state], check=True,
                          capture_output=True, text=True, encoding="latin-1").stdout
    dbs, name, rows, header, pending = {}, None, None, True, None
    for line in text.split("\n"):
        if line.startswith("database="):
            name, rows, header = line[len("database="):], {}, True
        elif line == "HEADER=END":
            header = False
        elif line == "DATA=END":
            dbs[name] = rows
            name, pending = None, None
        elif not header and line.startswith(" "):
            if pending is None:
                pending = unprint(line[1:])
            else:
                rows[pending], pending = unprint(line[1:]), None
    return dbs


def mentions(person, key, value):
    p = person.encode()
    return p + b"\0" in key or b'"' + p + b'"' in value


def people(dbs):
    """Who the per-person tables name: profile keys, revisit key
    prefixes, due keys after their 8-byte time."""
    held = {k.split(b"\0")[0] for k in dbs.get("profiles", {})}
    held |= {k.split(b"\0")[0] for k in dbs.get("revisits", {})}
    held |= {k[8:].split(b"\0")[0] for k in dbs.get("due", {})}
    return sorted(h.decode() for h in held)


def move(frm, to, person):
    run = subprocess.run([os.path.join(BIN, "segmenter"), "--selftest", "move", frm, to, person],
                         capture_output=True, text=True)
    check("segmenter --selftest move %s exits 0" % os.path.basename(to), run.returncode == 0,
          run.stderr[-500:])
    return json.loads(run.stdout) if run.returncode == 0 else {}


def count(value):
    return int.from_bytes(value, "big")


def build(p, s):
    boots = dict(product_id="p-boots", name="Boots", price=120.0, category="shoes")
    s.send(s.track("Product Viewed", 0, 0, "a-mover", **boots),
           s.track("Product Viewed", 0, 1, "a-other", **boots))
    s.send(s.track("Product Viewed", 1, 0, "a-mover", **boots),
           s.track("Product Added", 1, 1, "a-mover", **boots),
           s.track("Order Completed", 1, 5, "a-mover", order_id="o-1", total=120.0,
                   products=[dict(boots, quantity=1)]),
           s.identify(1, 6, "a-mover", user="U-mover", birthday="1990-03-03",
                      email="m@example.com", email_consent=True),
           s.track("Order Completed", 1, 7, "a-buyer", order_id="o-2", total=30.0),
           s.identify(1, 8, "a-sub", email="s@example.com", email_consent=True))
    s.tick(ts(1, 120))          # the sessions end: the funnel counts them
    return {a: s.visitor_of(a) for a in ("a-mover", "a-other", "a-buyer", "a-sub")}


def moved_out(before, after, to, mover, segments):
    stage = set(before) - RUNTIME
    for name in sorted(stage - TOTALS):
        lost = {k: v for k, v in before[name].items() if k not in after.get(name, {})}
        kept = {k: v for k, v in before[name].items() if k in after.get(name, {})}
        check("(a) %s: no row of mover left, no row added" % name,
              not any(mentions(mover, k, v) for k, v in after.get(name, {}).items())
              and set(after.get(name, {})) <= set(before[name]))
        check("(a) %s: every other row as it was" % name,
              all(after[name][k] == v for k, v in kept.items())
              and not any(not mentions(mover, k, v) for k, v in lost.items()))
        check("(b) %s: TO holds exactly the %d rows FROM lost" % (name, len(lost)),
              to.get(name, {}) == lost, (len(to.get(name, {})), len(lost)))
    check("(a) the runtime's databases and the funnel's counts untouched",
          all(after.get(n) == before[n] for n in (RUNTIME | {"funnel", "funnel-keys"}) & set(before)))
    members = {k: count(v) for k, v in before["members"].items()}
    for seg in segments:
        members[seg.encode() + b"\0"] -= 1
    check("(a) FROM's member counts lost mover's segments %s" % segments,
          {k: count(v) for k, v in after["members"].items()} == members)
    check("(b) TO counts mover once in each of its segments",
          {k: count(v) for k, v in to.get("members", {}).items()}
          == {seg.encode() + b"\0": 1 for seg in segments})
    check("(b) TO holds nothing else", set(n for n, rows in to.items() if rows)
          <= (stage - {"funnel", "funnel-keys"}), sorted(to))


def main():
    with Pipeline(clock="event", extra={"segmenter": {"input": "sessionizer"},
                                         "watch": {"program": "relay", "input": "segmenter"}}) as p:
        for stage in ("collector", "sessionizer", "segmenter"):
            p.start(stage)
        p.start("watch", program="relay")
        s = Shop(p, ts)
        ids = build(p, s)
        mover = ids["a-mover"]
        for stage in ("watch", "segmenter", "sessionizer", "collector"):
            p.stop(stage)
        frm, to = p.dir + "/state/segmenter", p.dir + "/state/partition-b"
        before = dump(frm)
        segments = json.loads(before["profiles"][mover.encode() + b"\0"])["segments"]
        check("mover is customer, new_subscriber and birthday",
              {"customer", "new_subscriber", "birthday"} <= set(segments), segments)
        check("the real stage wrote mover's profile, 2 revisit rows and a due entry",
              sum(mentions(mover, k, v) for k, v in before["profiles"].items()) == 1
              and sum(mentions(mover, k, v) for k, v in before["revisits"].items()) == 2
              and sum(mentions(mover, k, v) for k, v in before["due"].items()) == 1)
        check("the funnel counted the sessions (totals that stay)", len(before.get("funnel", {})) > 0)
        result = move(frm, to, mover)
        after, moved = dump(frm), dump(to)
        check("an export names mover and its rows", result.get("state", {}).get("person") == mover)
        moved_out(before, after, moved, mover, segments)
        check("(c) a second export of mover finds nothing", "again" in result
              and result["again"] is None, result.get("again"))
        held = people(before)
        check("(d) seg_person_each in FROM listed exactly the %d people held" % len(held),
              sorted(result.get("from_before", [])) == held and sorted(ids.values()) == held,
              (result.get("from_before"), held))
        check("(d) ... and then all but mover, and in TO mover alone",
              sorted(result.get("from_after", [])) == people(after) == sorted(set(held) - {mover})
              and result.get("to_after") == people(moved) == [mover])
        back = move(to, frm, mover)
        check("(e) moved back: FROM byte for byte as before", dump(frm) == before)
        check("(e) ... and TO empty again", back.get("to_after") is not None
              and not any(rows for name, rows in dump(to).items() if name != "members"))
        p.start("segmenter")
        p.start("watch", program="relay")
        for stage in ("collector", "sessionizer"):
            p.start(stage)
        s.send(s.track("Order Completed", 2, 0, "a-mover", order_id="o-3", total=80.0))
        p.stop("segmenter")
        profile = json.loads(dump(frm)["profiles"][mover.encode() + b"\0"])
        check("(e) a segmenter restarted on it carries on: mover's second order counts 2",
              profile["orders"] == 2 and profile["spend"] == 200 and profile["visits"] >= 2,
              profile)

main()
done()
