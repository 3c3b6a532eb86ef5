#!/usr/bin/python3
"""test_man - the manual: every page renders cleanly, and the condition
language's page documents what the shipped files use (issue 16).

  - every man/*.1 and man/*.5 renders with groff -ww -man and prints no
    warning;
  - every program the build makes has its page, and every stage page
    points to the file formats in section 5 it reads;
  - every operator of the condition language that the shipped segments
    and journeys use (= != < <= > >= has exists, in segment, and or not,
    parentheses, a path alone) heads an entry of the TESTS section of
    nudge-conditions(5), as `man -l man/nudge-conditions.5` shows it.

Reads the sources and runs groff; needs no build but bin/ for the list of
programs.                                                                 """
# tests/run: not sanitized (groff on the pages; the programs are only listed)
import glob
import os
import re
import subprocess

from ndtest import BIN, check, done

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MAN = os.path.join(ROOT, "man")


def render(page):
    r = subprocess.run(["groff", "-ww", "-man", "-Tutf8", "-P-c", "-P-b", "-P-u", page],
                       capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout, r.stderr


pages = sorted(glob.glob(os.path.join(MAN, "*.[15]")))
bad = {}
for page in pages:
    rc, _, err = render(page)
    if rc or err.strip():
        bad[os.path.basename(page)] = err.strip()[:300] or "exit %d" % rc
check("all %d pages render with groff -ww and no warning" % len(pages), pages and not bad, bad)

FORMATS = ("nudge-pipeline", "nudge-journey", "nudge-segments", "nudge-templates", "nudge-conditions")
missing = [f for f in FORMATS if not os.path.isfile(os.path.join(MAN, f + ".5"))]
check("the file formats have their section-5 pages", not missing, missing)

programs = sorted(p for p in os.listdir(BIN) if os.access(os.path.join(BIN, p), os.X_OK)
                  and not p.endswith(".py") and p not in ("nd-selftest", "nd-month"))
no_page = [p for p in programs if not os.path.isfile(os.path.join(MAN, p + ".1"))]
check("every program in %s has its page (%d)" % (os.path.basename(BIN), len(programs)),
      programs and not no_page, no_page)

#   The stage pages send the reader to the formats instead of carrying them
READS = {"scheduler": ("nudge-journey", "nudge-conditions", "nudge-templates", "nudge-pipeline"),
         "segmenter": ("nudge-segments", "nudge-conditions", "nudge-pipeline"),
         "mail-sender": ("nudge-templates", "nudge-pipeline"),
         "push-sender": ("nudge-templates", "nudge-pipeline"),
         "sms-sender": ("nudge-templates", "nudge-pipeline"),
         "collector": ("nudge-pipeline",)}
unlinked = {}
for stage, formats in READS.items():
    text = open(os.path.join(MAN, stage + ".1")).read().replace("\\-", "-")
    see = text[text.find(".SH SEE ALSO"):]
    lost = [f for f in formats if f not in see]
    if lost:
        unlinked[stage] = lost
check("the stage pages point to the formats they read (SEE ALSO)", not unlinked, unlinked)

#   The operators of the shipped conditions ...
CONDITION = re.compile(r'^\s*(?:match|when|if)\s*=\s*"([^"]*)"', re.M)
shipped = [os.path.join(ROOT, "conf", "segments.zpl")] + sorted(
    glob.glob(os.path.join(ROOT, "conf", "journeys", "*.zpl")))
conditions = [c for path in shipped for c in CONDITION.findall(open(path).read())]
TOKEN = re.compile(r"!=|<=|>=|=|<|>|\(|\)|\bin segment\b|\b(?:has|exists|and|or|not)\b")
used = set()
for condition in conditions:
    used.update(TOKEN.findall(condition))
    #   a path alone: what is left of a part once its operators are gone
    for part in re.split(r"\band\b|\bor\b", condition):
        part = re.sub(r"\bnot\b|[()]", " ", part).strip()
        if part and not TOKEN.search(part):
            used.add("PATH")
check("the shipped files use conditions (%d, %d operators)" % (len(conditions), len(used)),
      len(conditions) >= 10 and len(used) >= 8, sorted(used))

#   ... each head an entry of TESTS in the page
rc, text, _ = render(os.path.join(MAN, "nudge-conditions.5"))
tests = text[text.find("\nTESTS"):]
tests = tests[:re.search(r"\n[A-Z][A-Z ]+\n", tests[1:]).start() + 1] if re.search(
    r"\n[A-Z][A-Z ]+\n", tests[1:]) else tests
#   An entry: its tag at the indent of the section's text, its description
#   below it further in (or after it on the same line, when the tag is short)
lines = tests.splitlines()
heads = [re.split(r"\s{2,}", line.strip())[0] for line, after in zip(lines, lines[1:] + [""])
         if re.match(r"^ {7}\S", line) and re.match(r"^ {8,}\S", after)]
documented = set()
for head in heads:
    documented.update(TOKEN.findall(head))
    if head == "PATH":
        documented.add("PATH")
    if re.search(r"\(\s*\.\.\.\s*\)", head):
        documented.update(("(", ")"))
print("# TESTS entries: %s" % heads)
undocumented = sorted(used - documented)
check("nudge-conditions(5) has an entry for every operator the shipped files use: %s"
      % " ".join(sorted(used)), heads and not undocumented, undocumented)

done()
