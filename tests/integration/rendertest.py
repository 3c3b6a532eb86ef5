"""rendertest - a strict Mustache renderer for the template checks of the
journey tests (not a test itself).

    render_templates(data, journeys=None)
              renders every conf/templates part (of the named journeys, or
              all) for every locale with data["<journey>/<step>"], the data
              of a real send order of that step: every variable a part uses
              must be in the data and nothing may be left unrendered.
              Returns (parts rendered, problems).
"""
import os
import re

from ndtest import ROOT

TEMPLATES = os.path.join(ROOT, "conf", "templates")
TAG = re.compile(r"\{\{\{\s*(.+?)\s*\}\}\}|\{\{([#^/!&]?)\s*(.+?)\s*\}\}")
MISSING = object()


def parse(text):
    """Mustache text into a tree: strings, ("var", name), ("section", name, inverted, tree)."""
    root, stack = [], []
    node, pos = root, 0
    for m in TAG.finditer(text):
        node.append(text[pos:m.start()])
        pos = m.end()
        kind, name = ("&", m.group(1)) if m.group(1) else (m.group(2), m.group(3))
        if kind in ("#", "^"):
            section = ("section", name, kind == "^", [])
            node.append(section)
            stack.append((node, name))
            node = section[3]
        elif kind == "/":
            node, opened = stack.pop()
            assert opened == name, "closes %s, opened %s" % (name, opened)
        elif kind != "!":
            node.append(("var", name))
    assert not stack, "unclosed sections"
    node.append(text[pos:])
    return root


def lookup(stack, name):
    first, *rest = name.split(".")
    for ctx in reversed(stack):
        if isinstance(ctx, dict) and first in ctx:
            value = ctx[first]
            for part in rest:
                value = value.get(part, MISSING) if isinstance(value, dict) else MISSING
            return value
    return MISSING


def render(tree, stack, missing):
    out = []
    for node in tree:
        if isinstance(node, str):
            out.append(node)
        elif node[0] == "var":
            value = lookup(stack, node[1])
            if value is MISSING or value is None or isinstance(value, (dict, list)):
                missing.append(node[1])
            else:
                out.append(str(value))
        else:
            _, name, inverted, body = node
            value = lookup(stack, name)
            falsy = value in (MISSING, None, False, "", 0) or value == []
            if inverted:
                out.append(render(body, stack, missing) if falsy else "")
            elif not falsy:
                for item in value if isinstance(value, list) else [value]:
                    out.append(render(body, stack + [item], missing))
    return "".join(out)


def render_templates(data, journeys=None):
    problems, rendered = [], 0
    for dirpath, _, files in os.walk(TEMPLATES):
        for name in sorted(files):
            if not name.endswith(".mustache"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, name), TEMPLATES)
            journey, step, locale, _ = rel.split(os.sep)
            if journeys is not None and journey not in journeys:
                continue
            step_data = data.get("%s/%s" % (journey, step.split(".")[0]))
            if step_data is None:
                problems.append("%s: no send order of its step in this test" % rel)
                continue
            missing = []
            try:
                out = render(parse(open(os.path.join(dirpath, name), encoding="utf-8").read()),
                             [step_data], missing)
            except AssertionError as e:
                problems.append("%s: %s" % (rel, e))
                continue
            rendered += 1
            if missing or "{{" in out or not out.strip():
                problems.append("%s: missing %s" % (rel, missing))
    return rendered, problems
