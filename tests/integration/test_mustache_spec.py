#!/usr/bin/python3
"""nd-selftest's Mustache spec runner fails when it has nothing to run.

nd-selftest checks nd_mustache against the official spec files
(../shared/data/mustache-spec). A spec file that loads but holds no case,
or is missing, must fail the run, not pass it with fewer cases: each is
tried here on a copy of the spec, through nd-selftest --mustache-spec.
"""
import json
import os
import shutil
import subprocess
import tempfile

from ndtest import BIN, ROOT, check, done

SPEC = os.environ.get("ND_MUSTACHE_SPEC", os.path.join(ROOT, "..", "shared", "data", "mustache-spec"))


def run(spec_dir):
    r = subprocess.run([os.path.join(BIN, "nd-selftest"), "--mustache-spec", spec_dir],
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout


work = tempfile.mkdtemp(prefix="nd-spec-")
try:
    copy = os.path.join(work, "spec")
    shutil.copytree(SPEC, copy)
    rc, out = run(copy)
    check("the spec as shipped passes, with its cases counted", rc == 0 and " 0 failed" in out
          and int(out.split("mustache spec: ")[1].split()[0]) > 100, out[-300:])
    with open(os.path.join(copy, "sections.json")) as f:
        sections = json.load(f)
    with open(os.path.join(copy, "sections.json"), "w") as f:
        json.dump(dict(sections, tests=[]), f)
    rc, out = run(copy)
    check("a spec file with zero cases fails the run", rc == 1 and "no cases" in out, out[-300:])
    os.remove(os.path.join(copy, "sections.json"))
    rc, out = run(copy)
    check("a missing spec file fails the run", rc == 1 and "sections.json" in out, out[-300:])
finally:
    shutil.rmtree(work, ignore_errors=True)
done()
