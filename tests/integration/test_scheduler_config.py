#!/usr/bin/python3
"""scheduler: a bad journey, template or option stops it at start, saying
file, line and reason; --help answers. (tests/run runs its --selftest.)

Each broken copy of the shipped abandoned-cart journey (or of a template,
or of the pipeline file) must make bin/scheduler exit non-zero at once
with one log line "<file>:<line>: <reason>" naming what is wrong.
"""
import os
import shutil
import subprocess

from ndtest import BIN, ROOT, Pipeline, check, done
from schedtest import pipeline_extra

SHIPPED = os.path.join(ROOT, "conf", "journeys", "abandoned-cart.zpl")

BROKEN = [
    # (description, text to replace, replacement, words in the reason, and where the
    # error must point: the line of that text in the broken file, its nth occurrence;
    # lines are found, not counted by hand, so an added option does not move them)
    ("a duration that is not one", "            for = 1h", "            for = soon", "not a duration",
     ("for = soon", 1)),
    ("an unknown channel", 'channels = "email, sms"', 'channels = "email, fax"', "unknown channel 'fax'",
     ("email, fax", 1)),
    ("a goto to no step", "            else = exit", "            else = nowhere", "no step 'nowhere'",
     ("else = nowhere", 1)),
    ("a misspelt option", "    exit = order.completed", "    exitt = order.completed",
     "unknown option 'exitt'", ("exitt", 1)),
    ("a bad condition", 'when = "cart.value > 0 and', 'when = "cart.value ~ 0 and',
     "when: column 12: unknown operator '~'", ("cart.value ~ 0", 1)),
    ("a bad share", "holdout = 5%", "holdout = lots", "not a share", ("holdout = lots", 1)),
    ("a bad cap", "attribution = 5d", "cap = \"3 a week\"", "not a cap", ("3 a week", 1)),
    # found by fuzz_journey: a second steps section was read on past the first's end
    ("steps given twice", "    limits\n", "    steps\n        wait = early\n            for = 1h\n    limits\n",
     "steps: given twice", ("\n    steps\n", 2)),
    ("a topic given twice", "        topic = cart.abandoned", "        topic = cart.abandoned\n        topic = cart.viewed",
     "topic: given twice", ("topic = cart.viewed", 1)),
    ("a template given twice", "                    max-delay = 24h     #",
     "                    template = a\n                    template = b\n                    max-delay = 24h     #",
     "template: given twice", ("template = b", 1)),
    ("ZPL that does not parse", "            channels = \"push, sms, email\"",
     "          channels = \"push, sms, email\"", "", ("          channels", 1)),
]


def line_of(text, needle, nth=1):
    """The line number of the nth occurrence of needle in text (a needle
    starting with a newline names the line after it)."""
    at = -1
    for _ in range(nth):
        at = text.index(needle, at + 1)
    return text[:at + (1 if needle.startswith("\n") else 0)].count("\n") + 1


def run(p, extra_args=()):
    proc = subprocess.run([os.path.join(BIN, "scheduler"), "--config", p.config] + list(extra_args),
                          capture_output=True, text=True, timeout=20, cwd=p.dir)
    return proc.returncode, proc.stderr.strip()


with Pipeline(clock="event", extra=pipeline_extra()) as p:
    out = subprocess.run([os.path.join(BIN, "scheduler"), "--help"], capture_output=True, text=True)
    check("--help answers", out.returncode == 0 and "scheduler" in out.stdout, out.stdout)

    journeys = os.path.join(p.dir, "journeys")
    os.makedirs(journeys)
    text = open(SHIPPED).read()
    target = os.path.join(journeys, "abandoned-cart.zpl")
    for name, old, new, reason, (needle, nth) in BROKEN:
        assert old in text, old
        broken = text.replace(old, new, 1)
        with open(target, "w") as f:
            f.write(broken)
        p.write_config(pipeline_extra(journeys))
        rc, err = run(p)
        where = "%s:%d:" % (target, line_of(broken, needle, nth))
        check("%s stops it: %s" % (name, err.splitlines()[-1] if err else ""),
              rc != 0 and where in err and reason in err, (rc, err))

    # a template that does not compile, and one that is missing
    templates = os.path.join(p.dir, "templates")
    shutil.copytree(os.path.join(ROOT, "conf", "templates"), templates)
    with open(target, "w") as f:
        f.write(text)
    bad = os.path.join(templates, "abandoned-cart", "reminder-1", "pl", "sms.text.mustache")
    with open(bad, "a") as f:
        f.write("{{#oops}}\n")
    p.write_config(pipeline_extra(journeys, templates=templates))
    rc, err = run(p)
    check("a template that does not compile stops it, naming the file and its line",
          rc != 0 and bad in err and "unclosed section 'oops'" in err
          and ":%d:" % line_of(text, "send = reminder-1\n") in err, (rc, err))
    os.remove(bad)
    shutil.copy(os.path.join(ROOT, "conf", "templates", "abandoned-cart", "reminder-1", "pl",
                             "sms.text.mustache"), bad)
    missing = os.path.join(templates, "abandoned-cart", "reminder-2", "en", "email.subject.mustache")
    os.remove(missing)
    rc, err = run(p)
    check("a template missing in the default locale stops it",
          rc != 0 and missing + ": missing" in err
          and ":%d:" % line_of(text, "send = reminder-2") in err, (rc, err))
    shutil.copy(os.path.join(ROOT, "conf", "templates", "abandoned-cart", "reminder-2", "en",
                             "email.subject.mustache"), missing)

    # options of the scheduler's own section
    for option, value, reason in (("cap", "lots", "not a cap"), ("timezone", "Mars/Base", "not a time zone"),
                                  ("quiet-hours", "late", "not such as 21:00-09:00"),
                                  ("session-timeout", "a while", "not a duration")):
        p.write_config(pipeline_extra(journeys, templates=templates, **{option: value}))
        rc, err = run(p)
        check("a bad %s in the pipeline file stops it at its line" % option,
              rc != 0 and p.config + ":" in err and reason in err, (rc, err))
    p.write_config(pipeline_extra(journeys, templates=templates))
    p.start("scheduler")
    check("the repaired configuration starts", p.control("scheduler", "HEALTH")["status"] == "ok")
done()
