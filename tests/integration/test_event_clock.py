#!/usr/bin/python3
"""A stage's event clock is the low watermark of its time inputs (README,
"Time"): a side input that runs ahead neither moves it nor gets applied
before the clock reaches it.

Topology, all on the event clock:

    collector ──▶ slow (a relay, PAUSEd) ──▶ joiner (relay: input = slow, collector)
        └──────────────────────────────────▶   ▲ collector is a side input
                                               both (relay: clock-inputs = slow, collector)

  - while slow is paused, the collector (ahead by ten minutes of events
    and a tick) moves neither joiner's nor both's clock, and joiner
    applies nothing from it: its position on the collector stays 0, so a
    crash then would lose nothing;
  - once slow resumes, joiner's clock reaches the tick, and its output
    is in time order, with each tick passed on once, as the clock, and
    the side input acknowledged up to the end;
  - with two time inputs the clock is their minimum;
  - clock-inputs naming a stage that is not an input, or none of them,
    stops the start with file:line.
"""
import subprocess

from ndtest import BIN, JournalReader, Pipeline, check, done, wait_for

T0 = "2026-03-02T12:00:00.000Z"
TIMES = ["2026-03-02T12:01:00.000Z", "2026-03-02T12:02:00.000Z", "2026-03-02T12:03:00.000Z"]
TICK = "2026-03-02T12:10:00.000Z"

extra = {"slow": {"input": "collector", "program": "relay"},
         "joiner": {"input": "slow, collector", "program": "relay"},
         "both": {"input": "slow, collector", "clock-inputs": "slow, collector", "program": "relay"},
         "reader": {"input": "joiner"}}

with Pipeline(clock="event", extra=extra) as p:
    p.start("collector")
    for stage in ("slow", "joiner", "both"):
        p.start(stage, program="relay")
    p.post("/v1/tick", {"time": T0})
    check("all clocks start at the first tick",
          wait_for(lambda: all(p.control(s)["now"] == T0 for s in ("slow", "joiner", "both")), 10),
          [p.control(s)["now"] for s in ("slow", "joiner", "both")])

    p.control("slow", "PAUSE")
    batch = [{"type": "track", "event": "Product Viewed", "anonymousId": "a-%d" % i,
              "messageId": "m-%d" % i, "timestamp": t, "properties": {"product_id": "p-%d" % i}}
             for i, t in enumerate(TIMES)]
    status, _ = p.post("/v1/batch", {"batch": batch})
    p.post("/v1/tick", {"time": TICK})
    check("the collector takes the events and the tick", status == 200
          and wait_for(lambda: p.control("collector")["now"] == TICK, 10), p.control("collector")["now"])

    wait_for(lambda: False, 1.0)        # time for a wrong clock to move
    joiner, both = p.control("joiner"), p.control("both")
    check("a side input ahead does not move the clock", joiner["now"] == T0, joiner["now"])
    check("with two time inputs the clock is their minimum", both["now"] == T0, both["now"])
    check("nothing from the side input is applied before the clock gets there",
          joiner["applied_since_start"] == 0 and joiner["inputs"]["collector"]["position"] == 1,
          joiner["inputs"])

    reader = JournalReader(p, "joiner", "reader", 1000)
    p.control("slow", "RESUME")
    check("once the time input catches up, the clock reaches the tick",
          wait_for(lambda: p.control("joiner")["now"] == TICK and p.control("both")["now"] == TICK, 15),
          (p.control("joiner")["now"], p.control("both")["now"]))
    wait_for(lambda: reader.poll() == 0 and len(reader.messages) >= 8, 10)
    out = [(topic, body["time"]) for _, topic, body in reader.messages]
    events = [o for o in out if o[0] != "tick"]
    check("every event comes through both inputs", len(events) == 6, out)
    check("the output is in time order", [t for _, t in out] == sorted(t for _, t in out), out)
    ticks = [t for topic, t in out if topic == "tick"]
    check("each tick is passed on once, as the clock", ticks == [T0, TICK], out)
    joiner = p.control("joiner")
    check("the side input is applied up to the clock and acknowledged",
          joiner["inputs"]["collector"]["position"] == p.control("collector")["journal"]["head"],
          (joiner["inputs"], p.control("collector")["journal"]))
    reader.close()

    with open(p.config) as f:
        text = f.read()
    with open(p.config, "a") as f:
        f.write('wrong\n    input = "slow"\n    clock-inputs = "collector"\n')
    line = text.count("\n") + 3
    run = subprocess.run([BIN + "/relay", "-c", p.config, "-n", "wrong", "--clock", "event"],
                         capture_output=True, text=True, timeout=20)
    check("clock-inputs naming a stage that is not an input stops the start at its line",
          run.returncode != 0 and ("%s:%d: wrong/clock-inputs: names a stage that is not an input"
                                   % (p.config, line)) in run.stderr, (run.returncode, run.stderr))
    with open(p.config, "a") as f:
        f.write('empty\n    input = "slow"\n    clock-inputs = " "\n')
    run = subprocess.run([BIN + "/relay", "-c", p.config, "-n", "empty", "--clock", "event"],
                         capture_output=True, text=True, timeout=20)
    check("clock-inputs naming none of the inputs stops the start at its line",
          run.returncode != 0 and ("%s:%d: empty/clock-inputs: names none of the inputs"
                                   % (p.config, line + 3)) in run.stderr, (run.returncode, run.stderr))
done()
