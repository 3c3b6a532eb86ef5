#!/usr/bin/python3
"""SIGHUP reloads journeys, segments and templates without a restart.

Real processes, event time; every wait is for a log line or a position,
never for time to pass.

  - scheduler: a journey file added to its directory (and the template it
    names) starts nothing until SIGHUP; then "reloaded: 2 journeys" in
    the log and the next trigger sends; a broken journey file is refused
    with file:line and reason ("reload refused: ...; still running the
    previous journeys and templates"), the stage keeps sending as before
    and HEALTH says ok; RELOAD on the control socket (nd-ctl reload) does
    what SIGHUP does and answers what it did; a journey removed ends no
    one at once and triggers nothing more;
  - segmenter: a rule segment added to the segments file is judged on the
    next event after SIGHUP (segment.entered); one removed is left by its
    members at their next event (segment.exited), as after a restart; a
    broken file is refused with its line and the old rules run on;
  - collector (no reload hook): SIGHUP does not kill it; it says it has
    nothing to reload and answers HEALTH ok.
"""
import os
import shutil
import signal
import subprocess

from ndtest import BIN, ROOT, JournalReader, JournalServer, Pipeline, check, done, wait_for
from schedtest import Feed, Reader, iso, pipeline_extra

PING = """journey
    name = ping
    description = "a test journey added while the scheduler runs"
    trigger
        topic = test.ping
    steps
        send = hello
            channels = sms
"""


def hangup(p, stage, count):
    """SIGHUP to stage; waits for its count-th reload line (done or refused)."""
    p.procs[stage].send_signal(signal.SIGHUP)
    return wait_for(lambda: p.log(stage).count("reloaded: ") + p.log(stage).count("reload refused: ")
                    >= count, timeout=20)


def last_reload(p, stage):
    lines = [l for l in p.log(stage).splitlines() if "reloaded: " in l or "reload refused: " in l]
    return lines[-1] if lines else ""


# ------------------------------------------------------------ scheduler --

with Pipeline(clock="event") as p:
    journeys = os.path.join(p.dir, "journeys")
    templates = os.path.join(p.dir, "templates")
    os.makedirs(journeys)
    shutil.copy(os.path.join(ROOT, "conf", "journeys", "abandoned-cart.zpl"), journeys)
    shutil.copytree(os.path.join(ROOT, "conf", "templates"), templates)
    p.write_config(pipeline_extra(journeys, templates=templates))
    p.start("scheduler")
    feed, reader = Feed(p), Reader(p)

    def pings(user, hours):
        feed.profile(user, hours, phone=True)
        feed.send("test.ping", user, hours + 0.01)
        feed.settle()
        reader.drain(p)
        return [s for s in reader.sends(user) if s.get("journey") == "ping"]

    check("before the reload, test.ping starts nothing", pings("v-1", 0) == [], reader.sends("v-1"))

    with open(os.path.join(journeys, "ping.zpl"), "w") as f:
        f.write(PING)
    os.makedirs(os.path.join(templates, "ping", "hello", "en"))
    with open(os.path.join(templates, "ping", "hello", "en", "sms.text.mustache"), "w") as f:
        f.write("Ping for {{first_name}}\n")
    check("still nothing before SIGHUP: files are read at start and on reload",
          pings("v-2", 1) == [], reader.sends("v-2"))
    hangup(p, "scheduler", 1)
    check("SIGHUP: 'reloaded: 2 journeys from ...' in the log", "reloaded: 2 journeys from " +
          journeys in last_reload(p, "scheduler"), last_reload(p, "scheduler"))
    sent = pings("v-3", 2)
    check("the added journey triggers: one send.sms with its template",
          len(sent) == 1 and sent[0]["template"] == "ping/hello" and sent[0]["channel"] == "sms", sent)

    # A broken journey file: refused with file:line, the old set runs on
    broken = os.path.join(journeys, "ping.zpl")
    with open(broken, "w") as f:
        f.write(PING.replace("channels = sms", "channels = fax"))
    hangup(p, "scheduler", 2)
    line = last_reload(p, "scheduler")
    check("a broken journey: 'reload refused: <file>:<line>: <reason>; still running the previous "
          "journeys and templates'",
          ("reload refused: %s:8: " % broken) in line and "fax" in line
          and line.endswith("; still running the previous journeys and templates"), line)
    check("the scheduler runs on and answers HEALTH ok",
          p.procs["scheduler"].poll() is None and p.control("scheduler", "HEALTH")["status"] == "ok",
          p.control("scheduler", "HEALTH"))
    sent = pings("v-4", 3)
    check("and still sends as before the broken file", len(sent) == 1, sent)
    stats = p.control("scheduler")
    check("STATS counts the reloads, and why the last was refused",
          stats["reloads"]["done"] == 1 and stats["reloads"]["refused"] == 1
          and "fax" in stats["reloads"]["last_refused"], stats["reloads"])

    # A missing template refuses the whole reload too: nothing half-applied
    with open(broken, "w") as f:
        f.write(PING.replace("send = hello", "send = bye"))
    answer = p.control("scheduler", "RELOAD")
    check("RELOAD on the control socket: refused, with the missing template's path",
          answer["reloaded"] is False and "ping/bye" in answer["error"], answer)

    # nd-ctl reload: the file removed, the journey gone for new triggers
    os.unlink(broken)
    run = subprocess.run([os.path.join(BIN, "nd-ctl"), "--config", p.config, "scheduler", "reload"],
                         capture_output=True, text=True, timeout=20, cwd=p.dir)
    check("nd-ctl scheduler reload: exit 0, and says what it read",
          run.returncode == 0 and '"reloaded":true' in run.stdout.replace(" ", "")
          and "1 journeys" in run.stdout, (run.returncode, run.stdout, run.stderr))
    check("a removed journey triggers nothing more", pings("v-5", 4) == [], reader.sends("v-5"))
    stats = p.control("scheduler")
    check("STATS lists the journeys now loaded",
          stats["scheduler"]["journeys"] == ["abandoned-cart"], stats["scheduler"]["journeys"])
    feed.close()
    reader.close()

# ------------------------------------------------------------ segmenter --

SEGMENTS = """silver
    match = "trait.plan = silver"
"""
GOLD = """gold
    match = "trait.plan = gold"
"""

with Pipeline(clock="event") as p:
    segments = os.path.join(p.dir, "segments.zpl")
    with open(segments, "w") as f:
        f.write(SEGMENTS)
    p.write_config({"feed": {}, "segmenter": {"input": "feed", "segments": segments},
                    "sink": {"input": "segmenter"}})
    p.start("segmenter")
    feed = JournalServer(p.ctx, p.endpoint("feed", "out"))
    sink = JournalReader(p, "segmenter", "sink", 10000)
    n = [0]

    def plan(user, name, hours):
        n[0] += 1
        feed.append("profile.updated", {"id": "p-%d" % n[0], "user": user, "time": iso(hours),
                                        "traits": {"plan": name}})
        wait_for(lambda: feed.serve(0.02) or p.control("segmenter")["inputs"]["feed"]["position"]
                 >= len(feed.journal), timeout=20)
        head = p.control("segmenter")["journal"]["head"]
        wait_for(lambda: sink.poll(0.1) is not None and sink.position >= head, timeout=20)

    def changes(user, segment):
        return [t for _, t, b in sink.messages
                if t.startswith("segment.") and b.get("user") == user and b.get("segment") == segment]

    plan("v-1", "gold", 0)
    plan("v-2", "silver", 0)
    check("before the reload there is no gold segment", changes("v-1", "gold") == [],
          [t for _, t, _ in sink.messages])
    check("v-2 entered silver", changes("v-2", "silver") == ["segment.entered"])

    with open(segments, "w") as f:
        f.write(GOLD)
    hangup(p, "segmenter", 1)
    check("SIGHUP: 'reloaded: 1 rule segments from <file>'",
          ("reloaded: 1 rule segments from " + segments) in last_reload(p, "segmenter"),
          last_reload(p, "segmenter"))
    plan("v-1", "gold", 1)
    check("a segment added: judged at the member's next event (segment.entered gold)",
          changes("v-1", "gold") == ["segment.entered"], changes("v-1", "gold"))
    plan("v-2", "silver", 1)
    check("a segment removed: its member leaves at their next event, as after a restart",
          changes("v-2", "silver") == ["segment.entered", "segment.exited"], changes("v-2", "silver"))

    with open(segments, "w") as f:
        f.write(GOLD + 'platinum\n    match = "spnd >= 1"\n')
    hangup(p, "segmenter", 2)
    line = last_reload(p, "segmenter")
    check("a broken rule: refused with file:line and reason, the old rules run on",
          ("reload refused: %s:4: unknown name 'spnd'" % segments) in line
          and "still running the previous rule segments" in line, line)
    plan("v-3", "gold", 2)
    check("gold still judged after the refused reload; HEALTH ok",
          changes("v-3", "gold") == ["segment.entered"]
          and p.control("segmenter", "HEALTH")["status"] == "ok", changes("v-3", "gold"))
    feed.close()
    sink.close()

# ------------------------------------------------------------ collector --

with Pipeline(clock="event") as p:
    p.start("collector")
    p.procs["collector"].send_signal(signal.SIGHUP)
    said = wait_for(lambda: "nothing to reload" in p.log("collector"), timeout=20)
    check("SIGHUP to a stage without a reload hook: it says so and runs on",
          said and p.procs["collector"].poll() is None, p.log("collector")[-400:])
    check("and answers HEALTH ok", p.control("collector", "HEALTH")["status"] == "ok")
    status, _ = p.post("/v1/track", {"anonymousId": "a-1", "event": "Product Viewed",
                                     "timestamp": iso(0), "messageId": "m-1"})
    check("and still takes events", status == 200, status)
    answer = p.control("collector", "RELOAD")
    check("RELOAD: answered, nothing to reload", answer.get("reloaded") is False
          and "nothing to reload" in answer.get("error", ""), answer)
    p.stop("collector")

done()
