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
    # (description, text to replace, replacement, line, words in the reason)
    ("a duration that is not one", "            for = 1h", "            for = soon", 39, "not a duration"),
    ("an unknown channel", 'channels = "email, sms"', 'channels = "email, fax"', 76, "unknown channel 'fax'"),
    ("a goto to no step", "            else = exit", "            else = nowhere", 71, "no step 'nowhere'"),
    ("a misspelt option", "    exit = order.completed", "    exitt = order.completed", 28, "unknown option 'exitt'"),
    ("a bad condition", 'when = "cart.value > 0 and', 'when = "cart.value ~ 0 and', 23,
     "when: column 12: unknown operator '~'"),
    ("a bad share", "holdout = 5%", "holdout = lots", 33, "not a share"),
    ("a bad cap", "attribution = 5d", "cap = \"3 a week\"", 30, "not a cap"),
    # found by fuzz_journey: a second steps section was read on past the first's end
    ("steps given twice", "    limits\n", "    steps\n        wait = early\n            for = 1h\n    limits\n",
     34, "steps: given twice"),
    ("a topic given twice", "        topic = cart.abandoned", "        topic = cart.abandoned\n        topic = cart.viewed",
     21, "topic: given twice"),
    ("a template given twice", "                    max-delay = 24h     #",
     "                    template = a\n                    template = b\n                    max-delay = 24h     #",
     67, "template: given twice"),
    ("ZPL that does not parse", "            channels = \"push, sms, email\"",
     "          channels = \"push, sms, email\"", 45, ""),
]


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
    for name, old, new, line, reason in BROKEN:
        assert old in text, old
        with open(target, "w") as f:
            f.write(text.replace(old, new, 1))
        p.write_config(pipeline_extra(journeys))
        rc, err = run(p)
        where = "%s:%d:" % (target, line)
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
          rc != 0 and bad in err and "unclosed section 'oops'" in err and ":62:" in err, (rc, err))
    os.remove(bad)
    shutil.copy(os.path.join(ROOT, "conf", "templates", "abandoned-cart", "reminder-1", "pl",
                             "sms.text.mustache"), bad)
    missing = os.path.join(templates, "abandoned-cart", "reminder-2", "en", "email.subject.mustache")
    os.remove(missing)
    rc, err = run(p)
    check("a template missing in the default locale stops it",
          rc != 0 and missing + ": missing" in err and ":75:" in err, (rc, err))
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
