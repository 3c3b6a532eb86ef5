"""rendertest - the template checks of the journey tests, through nudge's
own renderer (not a test itself).

    render_templates(data, journeys=None)
              renders every conf/templates part (of the named journeys, or
              all) for every locale with data["<journey>/<step>"], the data
              of a real send order of that step (a folder <step>.<arm> is a
              branch's arm, its own step; <step>.<variant> a variant's
              wording of <step>), by `nd-render --mustache`
              (nd_mustache, what the senders render with): every variable a
              part uses must be in the data and nothing may be left
              unrendered. Returns (parts rendered, problems).
"""
import json
import os
import subprocess
import tempfile

from ndtest import BIN, ROOT

TEMPLATES = os.path.join(ROOT, "conf", "templates")


def render_file(path, data):
    """(text, missing names, error) of one template file over data."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(data, f)
    try:
        r = subprocess.run([os.path.join(BIN, "nd-render"), "--mustache", path, "--data", f.name],
                           capture_output=True, text=True, timeout=30)
    finally:
        os.unlink(f.name)
    missing = [l[len("missing: "):] for l in r.stderr.splitlines() if l.startswith("missing: ")]
    errors = [l for l in r.stderr.splitlines() if not l.startswith("missing: ")]
    if r.returncode not in (0, 1) or (r.returncode == 1 and not missing and not errors):
        errors.append("nd-render exited %d" % r.returncode)
    return r.stdout, missing, "; ".join(errors)


def render_templates(data, journeys=None):
    problems, rendered = [], 0
    for dirpath, _, files in os.walk(TEMPLATES):
        for name in sorted(files):
            if not name.endswith(".mustache"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, name), TEMPLATES)
            journey, step, locale, _ = rel.split(os.sep)
            if journey.startswith("_"):
                continue            # _footer: no step's, the senders' own (test_compliance)
            if journeys is not None and journey not in journeys:
                continue
            names = step.split(".")
            step_data = None
            while names and step_data is None:
                step_data = data.get("%s/%s" % (journey, ".".join(names)))
                names.pop()
            if step_data is None:
                problems.append("%s: no send order of its step in this test" % rel)
                continue
            out, missing, error = render_file(os.path.join(dirpath, name), step_data)
            if error:
                problems.append("%s: %s" % (rel, error))
                continue
            rendered += 1
            if missing or "{{" in out or not out.strip():
                problems.append("%s: missing %s" % (rel, missing))
    return rendered, problems
