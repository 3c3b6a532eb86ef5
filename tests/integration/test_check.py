#!/usr/bin/python3
"""--check (as nginx -t): every stage and tool checks the configuration
and exits, opening no state and no socket.

  shipped     conf/ as shipped passes for every stage and tool: exit 0,
              "configuration ok", and nothing made under var/
  journey     a copy of conf/ whose abandoned-cart journey has a bad delay,
              then an unknown key: the scheduler says file:line of that
              line, exit 78 (EX_CONFIG); the other stages do not read it
  pipeline    a bad value in the pipeline file: every stage says its
              file:line, exit 78; an input naming no stage: the tools say
              file:line, exit 78
  segments    a bad rule line: the segmenter says file:line, exit 78
"""
import contextlib
import os
import shutil
import subprocess
import tempfile

from ndtest import BIN, ROOT, check, done

STAGES = ("collector", "sessionizer", "relay", "segmenter", "scheduler", "mail-sender",
          "push-sender", "sms-sender", "chat-bridge", "onsite")
TOOLS = ("tap", "nd-ctl", "nd-supervisor", "nd-codes", "nd-report", "nd-vapid", "nd-chat",
         "nd-cert", "nd-render", "nd-bounce", "nd-person", "nd-backtest")


def run(program, cwd, *args):
    r = subprocess.run([os.path.join(BIN, program), "--check"] + list(args), capture_output=True,
                       text=True, timeout=30, cwd=cwd, stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout + r.stderr


@contextlib.contextmanager
def edited(path, old, new):
    """path with its first line that is old made new, for the with block,
    then as it was; yields the line's number."""
    with open(path) as f:
        original = f.read()
    lines = original.split("\n")
    number = lines.index(old)
    lines[number] = new
    with open(path, "w") as f:
        f.write("\n".join(lines))
    try:
        yield number + 1
    finally:
        with open(path, "w") as f:
            f.write(original)


def failures(programs, cwd, expect_status, expect_text):
    wrong = {}
    for program in programs:
        status, said = run(program, cwd)
        if status != expect_status or expect_text not in said:
            wrong[program] = (status, said.strip()[-300:])
    return wrong


work = tempfile.mkdtemp(prefix="nd-check-")
try:
    shutil.copytree(os.path.join(ROOT, "conf"), os.path.join(work, "conf"))
    wrong = failures(STAGES + TOOLS, work, 0, "configuration ok")
    check("the shipped configuration passes --check in all %d stages and tools"
          % (len(STAGES) + len(TOOLS)), not wrong, wrong)
    check("--check made nothing (no var/: no state, no socket, no secret)",
          not os.path.exists(os.path.join(work, "var")), os.listdir(work))

    journey = os.path.join(work, "conf", "journeys", "abandoned-cart.zpl")
    with edited(journey, "            for = 1h", "            for = soon") as line:
        status, said = run("scheduler", work)
    check("a bad delay: scheduler --check says conf/journeys/abandoned-cart.zpl:%d, exit 78" % line,
          status == 78 and "conf/journeys/abandoned-cart.zpl:%d: " % line in said, (status, said))
    with edited(journey, "    exit = order.completed", "    exits = order.completed") as line:
        status, said = run("scheduler", work)
        wrong = failures(("segmenter", "collector", "push-sender"), work, 0, "configuration ok")
    check("an unknown key: scheduler --check says conf/journeys/abandoned-cart.zpl:%d, exit 78" % line,
          status == 78 and "conf/journeys/abandoned-cart.zpl:%d: " % line in said
          and "exits" in said, (status, said))
    check("stages that do not read journeys still pass", not wrong, wrong)

    segments = os.path.join(work, "conf", "segments.zpl")
    with edited(segments, '    match = "visits >= 3 and orders = 0"',
                '    match = "visits >= lots and orders = 0"') as line:
        status, said = run("segmenter", work)
    check("a bad rule: segmenter --check says conf/segments.zpl:%d, exit 78" % line,
          status == 78 and "conf/segments.zpl:%d: " % line in said, (status, said))

    pipeline = os.path.join(work, "conf", "pipeline.zpl")
    old = next(l for l in open(pipeline).read().split("\n") if l.startswith("    clock = wall"))
    with edited(pipeline, old, "    clock = sometimes") as line:
        wrong = failures(STAGES, work, 78, "conf/pipeline.zpl:%d: " % line)
    check("a bad clock in the pipeline file: every stage says conf/pipeline.zpl:%d, exit 78"
          % line, not wrong, wrong)
    with edited(pipeline, "    input = collector", "    input = colector") as line:
        wrong = failures(STAGES + TOOLS, work, 78, "conf/pipeline.zpl:%d: " % line)
    check("an input naming no stage: every stage and tool says conf/pipeline.zpl:%d, exit 78"
          % line, not wrong, wrong)
    footer = os.path.join(work, "conf", "templates", "_footer")
    shutil.move(footer, footer + ".away")
    status, said = run("sms-sender", work)
    check("no SMS footer templates: sms-sender --check says stop-footer, exit 78",
          status == 78 and "stop-footer" in said, (status, said))
    shutil.move(footer + ".away", footer)
    status, said = run("nd-ctl", work, "-c", "conf/nothing.zpl")
    check("a pipeline file that is not there: exit 78 with its name",
          status == 78 and "conf/nothing.zpl" in said, (status, said))
finally:
    shutil.rmtree(work)
done()
