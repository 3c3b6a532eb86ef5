"""test_layers - the scheduler's and the sessionizer's files form layers
that only call downward (STYLE.md, "In this house"; issue 16).

For each directory, every .c and .h is a module by its stem (instance.c
and instance.h are one), and its #include "..." lines of the directory's
own headers are edges: a file can call only what a header it includes
declares (-Werror makes an undeclared call an error), so the include
graph is the call graph between files. Checks, per directory:

  - each file's opening comment names its layer ("Layer: store."), one
    of LAYERS, and the .c and .h of one module name the same one;
  - no file includes a header of a higher layer;
  - a header declares only its own module's functions (one header per
    module: an umbrella header would hide every edge);
  - the module graph has no cycle (one found is named: a -> b -> a).

Reads the sources only; needs no build.                                   """
# tests/run: not sanitized (reads the sources only)
import os
import re
import sys

from ndtest import check, done

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
#   Lowest first: a file may include headers of its own layer and below.
LAYERS = ["base", "store", "rules", "engine", "stage"]
DIRS = ["pipeline/scheduler", "pipeline/sessionizer"]
if len(sys.argv) > 1:                   # another tree: test_layers.py ROOT
    ROOT = os.path.abspath(sys.argv[1])

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
LAYER = re.compile(r"\bLayer:\s*([a-z]+)")
#   A definition at the start of a line (static ones filtered out after)
#   and a prototype: the name before the parameter list.
DEFINITION = re.compile(r"^([a-zA-Z][^;{}()#=]*?)\b(\w+)\s*\([^;{}]*\)\s*\{", re.M)
PROTOTYPE = re.compile(r"^([a-zA-Z][^;{}()#=]*?)\b(\w+)\s*\([^;{}]*\)\s*;", re.M)


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def opening_comment(text):
    """The file's first /* ... */ comment, if the file starts with one."""
    match = re.match(r"\s*/\*(.*?)\*/", text, re.S)
    return match.group(1) if match else ""


def find_cycle(graph):
    """One cycle of graph (module -> set of modules) as a list, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = "closed"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


for rel in DIRS:
    where = os.path.join(ROOT, rel)
    files = sorted(f for f in os.listdir(where) if f.endswith((".c", ".h")))
    headers = {f for f in files if f.endswith(".h")}
    layer_of, graph, unnamed, mixed = {}, {}, [], []
    includes, defined_in, declared = {}, {}, {}
    for name in files:
        with open(os.path.join(where, name), encoding="utf-8") as f:
            text = f.read()
        module = name[:-2]
        found = LAYER.search(opening_comment(text))
        layer = found.group(1) if found else None
        if layer not in LAYERS:
            unnamed.append("%s (%s)" % (name, layer or "no Layer: line"))
        elif layer_of.setdefault(module, layer) != layer:
            mixed.append("%s: %s, its other half %s" % (name, layer, layer_of[module]))
        code = strip_comments(text)
        if name.endswith(".c"):
            for prefix, function in DEFINITION.findall(code):
                if not prefix.lstrip().startswith("static"):
                    defined_in[function] = module
        else:
            declared[name] = [f for p, f in PROTOTYPE.findall(code)
                              if not p.lstrip().startswith("typedef")]
        includes[name] = [h for h in INCLUDE.findall(text) if h in headers]
        graph.setdefault(module, set()).update(
            h[:-2] for h in includes[name] if h[:-2] != module)
    check("%s: every file's opening comment names its layer" % rel, not unnamed, unnamed)
    check("%s: a module's .c and .h are in one layer" % rel, not mixed, mixed)

    foreign = ["%s declares %s (%s.c)" % (h, f, defined_in[f])
               for h, functions in sorted(declared.items()) for f in functions
               if defined_in.get(f, h[:-2]) != h[:-2]]
    check("%s: each header declares only its own module's functions" % rel,
          not foreign, "%d: %s" % (len(foreign), foreign[:8]))

    upward = []
    for name, used in sorted(includes.items()):
        mine = layer_of.get(name[:-2])
        for header in used:
            theirs = layer_of.get(header[:-2])
            if mine in LAYERS and theirs in LAYERS and LAYERS.index(theirs) > LAYERS.index(mine):
                upward.append("%s (%s) includes %s (%s)" % (name, mine, header, theirs))
    check("%s: no file includes a header of a higher layer" % rel, not upward, upward)

    cycle = find_cycle(graph)
    check("%s: the modules' include graph has no cycle" % rel, cycle is None,
          " -> ".join(cycle or []))
    #   The test itself: a cycle put in is found, and named
    planted = dict((k, set(v)) for k, v in graph.items())
    planted.setdefault("a", set()).add("b")
    planted.setdefault("b", set()).add("a")
    check("%s: a planted cycle a -> b -> a is named" % rel,
          find_cycle(planted) in (["a", "b", "a"], ["b", "a", "b"]) or cycle is not None)
    #   Every header is somebody's: the graph is not empty by mistake
    check("%s: the graph has edges (the headers are included)" % rel,
          sum(len(v) for v in graph.values()) >= len(headers), graph)

done()
