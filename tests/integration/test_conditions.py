#!/usr/bin/python3
"""One condition language for segments and journeys (issue 16, part 1).

(a) The shipped conf/segments.zpl and conf/journeys, rewritten in the new
    language, give the same send orders on a replayed month (nd-month,
    nd-backtest, as test_backtest.py) as a copy of them with each rewritten
    condition spelled as it was before the rewrite (OLD_SPELLINGS, applied
    to the files as shipped now, so journeys added since ride along):
    sorted lists of (user, journey, step, channel, time).
(b) An old spelling still loads, for one release: the segmenter and the
    scheduler log "file:line: "OLD" is the old spelling; write "NEW"" and
    run on.
(c) A condition that does not parse stops the segmenter and the
    scheduler at start with "file:line: reason", exit 78.
"""
# tests/run: start first (one of the longest)
import json
import os
import shutil
import subprocess
import tempfile

from ndtest import BIN, ROOT, Pipeline, check, done
from schedtest import pipeline_extra

EVENTS = 3000
tmp = tempfile.mkdtemp(prefix="nd-conditions-test-")


def run(program, *args):
    return subprocess.run([os.path.join(BIN, program)] + list(args), cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def orders(path):
    with open(path) as f:
        return sorted((o["user"], o["journey"], o["step"], o["channel"], o["time"])
                      for o in map(json.loads, f))


# What the rewrite of issue 16 changed, file by file: the block as shipped
# in the new language, then as it was written before. A block that is no
# longer in the shipped file fails the test: say here how the changed
# condition was spelled before, or drop the entry if it is gone.
OLD_SPELLINGS = [
    ("journeys/abandoned-cart.zpl",
     """        #   a visit that reached checkout or payment is checkout-abandoned's:
        #   one journey per visit
        when = "cart.value > 0 and not (funnel_step = checkout or funnel_step = payment)"
""", """        when = "funnel_step != checkout"    #   a visit that reached checkout or payment is
        when = "funnel_step != payment"     #   checkout-abandoned's: one journey per visit
        when = "cart.value > 0"
"""),
    ("journeys/birthday.zpl",
     """            if = "in segment birthday"
""", """            if = "segments has birthday"
"""),
    ("journeys/never-bought.zpl",
     """        #   time ran out (cause = clock), not a withdrawn consent
        when = "segment = new_subscriber and cause = clock"
""", """        when = "segment = new_subscriber"
        when = "cause = clock"          #   time ran out, not a withdrawn consent
"""),
    ("journeys/welcome.zpl",
     """            if = "not ordered and not in segment customer"
""", """            if = "not ordered"
            if = "not segments has customer"
"""),
    ("segments.zpl",
     """    match = "visits >= 3 and orders = 0"
""", """    match = "visits >= 3"
    match = "orders == 0"
"""),
    ("segments.zpl",
     """    match = "days_since_last_order >= 60 and trait.email exists"
""", """    match = "days_since_last_order >= 60"
    match = "trait:email exists"
"""),
    ("segments.zpl",
     """    match = "category.shoes >= 3 or trait.favorite_category = shoes"
""", """    any
        match = "category:shoes >= 3"
        match = "trait:favorite_category == shoes"
"""),
    ("segments.zpl",
     """    match = "cart_value >= 100 and not in segment customer"
""", """    match = "cart_value >= 100"
    none
        match = "segment:customer"
"""),
]


def old_conf():
    """conf/journeys and conf/segments.zpl as shipped, copied, with every
    block of OLD_SPELLINGS spelled the old way; returns (directory, the
    blocks not found once in their file)."""
    old = os.path.join(tmp, "old")
    shutil.copytree(os.path.join(ROOT, "conf", "journeys"), os.path.join(old, "journeys"))
    shutil.copy(os.path.join(ROOT, "conf", "segments.zpl"), os.path.join(old, "segments.zpl"))
    missing = []
    for name, new, before in OLD_SPELLINGS:
        path = os.path.join(old, name)
        text = open(path).read()
        if text.count(new) != 1:
            missing.append((name, new.strip()))
            continue
        open(path, "w").write(text.replace(new, before))
    return old, missing


def old_pipeline(old):
    """The shipped pipeline file, reading the old segments and journeys."""
    text = open(os.path.join(ROOT, "conf", "pipeline.zpl")).read()
    assert "journeys = conf/journeys" in text and "segments = conf/segments.zpl" in text
    text = text.replace("journeys = conf/journeys", "journeys = " + os.path.join(old, "journeys"))
    text = text.replace("segments = conf/segments.zpl",
                        "segments = " + os.path.join(old, "segments.zpl"))
    path = os.path.join(tmp, "pipeline-old.zpl")
    open(path, "w").write(text)
    return path


# ------------------------------------------------------------------ (a) --
try:
    month = os.path.join(tmp, "month.jsonl")
    gen = run("nd-month", "--events", str(EVENTS), "--seed", "7", "-o", month)
    check("nd-month wrote the month", gen.returncode == 0, gen.stderr[-500:])
    old_dir, missing = old_conf()
    check("every rewritten condition is still in the shipped files, so the copy is spelled the "
          "old way (%d blocks)" % len(OLD_SPELLINGS), not missing, missing)
    new = run("nd-backtest", "--events", month, "--orders", os.path.join(tmp, "new.jsonl"))
    old = run("nd-backtest", "--events", month, "-c", old_pipeline(old_dir),
              "--orders", os.path.join(tmp, "old.jsonl"))
    ok = new.returncode == 0 and old.returncode == 0
    check("both replays ran", ok, (new.stderr[-800:], old.stderr[-800:]))
    a = orders(os.path.join(tmp, "new.jsonl")) if ok else []
    b = orders(os.path.join(tmp, "old.jsonl")) if ok else []
    journeys = sorted({o[1] for o in a})
    print("# %d send orders in the new spelling, %d in the old; journeys %s"
          % (len(a), len(b), ", ".join(journeys)))
    check("there is something to compare: hundreds of send orders, several journeys",
          len(a) >= 200 and len(journeys) >= 4, (len(a), journeys))
    only_new, only_old = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    check("the rewritten files give exactly the send orders of the old ones",
          ok and a == b, "%d only new, e.g. %s; %d only old, e.g. %s"
          % (len(only_new), only_new[:3], len(only_old), only_old[:3]))
finally:
    shutil.rmtree(tmp, ignore_errors=True)

# ------------------------------------------------------------ (b), (c) --
OLD_RULES = """\
#   rule segments in the old spellings
big_spender
    match = "spend >= 500"

reachable_customer
    match = "segment:customer"
    match = "trait:email exists"
"""

with Pipeline(clock="event", extra={"segmenter": {"input": "sessionizer",
                                                   "segments": "rules.zpl"}}) as p:
    rules = os.path.join(p.dir, "rules.zpl")
    with open(rules, "w") as f:
        f.write(OLD_RULES)
    p.start("segmenter")
    log = p.log("segmenter")
    for line, old, new in ((6, "segment:customer", "in segment customer"),
                           (7, "trait:email exists", "trait.email exists")):
        want = 'rules.zpl:%d: "%s" is the old spelling; write "%s"' % (line, old, new)
        check("segmenter: an old spelling loads, with a warning naming rules.zpl:%d and the new form"
              % line, want in log and log.count(want) == 1, log[-800:])
    check("segmenter: the old rules run (ready, HEALTH ok)",
          p.control("segmenter", "HEALTH")["status"] == "ok")

with Pipeline(clock="event", extra={"segmenter": {"input": "sessionizer",
                                                   "segments": "rules.zpl"}}) as p:
    rules = os.path.join(p.dir, "rules.zpl")
    with open(rules, "w") as f:
        f.write(OLD_RULES + '\nbroken\n    match = "visits > 1 and (orders > 2"\n')
    rc = p.refused("segmenter")
    log = p.log("segmenter")
    check("segmenter: a bad condition stops it, exit 78, with file:line and the column",
          rc == 78 and ('rules.zpl:10: match "visits > 1 and (orders > 2": column 27: '
                        "the '(' at column 16 is not closed") in log
          and "ready" not in log, (rc, log[-800:]))

SHIPPED = os.path.join(ROOT, "conf", "journeys", "welcome.zpl")
with Pipeline(clock="event", extra=pipeline_extra()) as p:
    journeys = os.path.join(p.dir, "journeys")
    os.makedirs(journeys)
    target = os.path.join(journeys, "welcome.zpl")
    text = open(SHIPPED).read()
    lines = text.splitlines()
    when = next(i for i, l in enumerate(lines) if "when = " in l) + 1
    assert '"segment = new_subscriber"' in text

    with open(target, "w") as f:
        f.write(text.replace('"segment = new_subscriber"', '"segment == new_subscriber"'))
    p.write_config(pipeline_extra(journeys))
    p.start("scheduler")
    log = p.log("scheduler")
    want = ('%s:%d: "segment == new_subscriber" is the old spelling; write "segment = new_subscriber"'
            % (target, when))
    check("scheduler: an old spelling loads, with a warning naming file:line and the new form",
          want in log and p.control("scheduler", "HEALTH")["status"] == "ok", log[-800:])
    p.stop("scheduler")

    with open(target, "w") as f:
        f.write(text.replace('"segment = new_subscriber"', '"segment = new_subscriber or"'))
    proc = subprocess.run([os.path.join(BIN, "scheduler"), "--config", p.config],
                          capture_output=True, text=True, timeout=20, cwd=p.dir)
    check("scheduler: a bad condition stops it, exit 78, with file:line and the column",
          proc.returncode == 78 and ("%s:%d: when: column 28: expected a test, found the end"
                                     % (target, when)) in proc.stderr, (proc.returncode, proc.stderr))
done()
