#!/usr/bin/python3
"""segmenter: a bad rule file or threshold stops it at start, with file:line: reason.

Each case writes a rule file (or a pipeline option) with one mistake, starts
the segmenter and expects it to exit 1, never becoming ready, with a
log line naming the file, the line of the mistake and the reason. The shipped
conf/segments.zpl must load.
"""
import os

from ndtest import ROOT, Pipeline, check, done

GOOD_TOP = """\
#   a comment, then a blank line

big_spender
    match = "spend >= 500"
"""

CASES = [
    # (what, rule file text appended to GOOD_TOP, expected "line: reason" fragment)
    ("an unknown counter", "loyalish\n    all\n        match = \"ordrs >= 2\"\n",
     ":7: unknown name 'ordrs'"),
    ("a number that is not one", "x\n    match = \"spend >= lots\"\n",
     ":6: match \"spend >= lots\": column 10: '>=' compares numbers; 'lots' is not one"),
    ("a counter compared with text", "x\n    match = \"orders = many\"\n",
     ":6: 'orders' is a number, 'many' is not"),
    ("a segment used before it is defined", "x\n    match = \"in segment later\"\nlater\n    match = visits\n",
     ":6: 'in segment later': no built-in group or segment above has that name"),
    ("a built-in group's name", "loyal\n    match = \"orders >= 2\"\n",
     ":5: segment 'loyal' is defined twice, or is a built-in group"),
    ("an empty group", "x\n    any\n    match = visits\n",
     ":6: 'any' has no tests under it"),
    ("an unknown comparison", "x\n    match = \"spend => 5\"\n",
     ":6: match \"spend => 5\": column 7: unknown operator '=>'"),
    ("text compared with <", "x\n    match = \"trait.city < Oslo\"\n",
     ":6: match \"trait.city < Oslo\": column 14: '<' compares numbers; 'Oslo' is not one"),
    ("a test left open", "x\n    match = \"(visits > 1 or orders > 1\"\n",
     ":6: match \"(visits > 1 or orders > 1\": column 26: the '(' at column 1 is not closed"),
    ("an unknown item", "x\n    when = \"spend > 1\"\n",
     ":6: unknown item 'when'"),
    ("a ZPL syntax error", "x\n      match = visits\n",
     ":6: indent 4 spaces at once"),
]


def stops(p, expected):
    """Starts the segmenter; True if it exits 1 with expected in its log."""
    rc = p.refused("segmenter")
    if rc is None:
        return False, "still running"
    log = p.log("segmenter")
    return rc == 78 and expected in log and "ready" not in log, (rc, log[-600:])


for what, text, expected in CASES:
    with Pipeline(clock="event", extra={"segmenter": {"input": "sessionizer",
                                                       "segments": "rules.zpl"}}) as p:
        with open(os.path.join(p.dir, "rules.zpl"), "w") as f:
            f.write(GOOD_TOP + text)
        ok, detail = stops(p, "rules.zpl" + expected)
        check("%s stops the segmenter with rules.zpl%s" % (what, expected), ok, detail)

with Pipeline(clock="event", extra={"segmenter": {"input": "sessionizer",
                                                   "segments": "missing.zpl"}}) as p:
    ok, detail = stops(p, "missing.zpl: No such file or directory")
    check("a missing rule file stops the segmenter", ok, detail)

with Pipeline(clock="event", extra={"segmenter": {"input": "sessionizer",
                                                   "loyal-orders": "many"}}) as p:
    ok, detail = stops(p, "segmenter/loyal-orders: not a whole number")
    check("a bad threshold stops it with the pipeline file's line", ok and ".zpl:" in detail[1], detail)

with Pipeline(clock="event", extra={"segmenter": {"input": "sessionizer",
                                                   "lapsed-after": "0d"}}) as p:
    ok, detail = stops(p, "segmenter/lapsed-after: must be more than 0")
    check("a zero threshold is refused", ok, detail)

with Pipeline(clock="event", extra={"segmenter": {"input": "sessionizer",
                                                   "segments": os.path.join(ROOT, "conf/segments.zpl")}}) as p:
    p.start("segmenter")
    check("the shipped conf/segments.zpl loads", "rule segments from" in p.log("segmenter"),
          p.log("segmenter"))
done()
