#!/usr/bin/python3
"""The operator's tools over partitioned stages: nd-report --funnel and
nd-person (README "Partitioned stages").

The same two days of traffic go through the real collector, sessionizer
and segmenter twice: once as one stage each, once with the sessionizer
and segmenter at partitions = 2 (segmenter.K reads sessionizer.K). Each
person has one anonymousId and no identify or alias, so nobody's events
join two ids: each person lives in one partition from the start.

  - nd-report --funnel --json gives the same funnel for both pipelines:
    the partitions' daily counts add up, day by day and name by name, to
    one segmenter's; each partition holds some of the sessions, not all;
    -n segmenter.1 reads that partition alone, and the two partitions'
    totals add up to the whole;
  - "funnel-keys" bounds each partition's names a day on its own, so over
    partitions a dimension with an "other" row is flagged "capped" (its
    totals still add up); one segmenter's is not;
  - nd-report (the journeys) sums a partitioned scheduler's counters: a
    real scheduler's state copied into scheduler.0 and scheduler.1 of a
    section with partitions = 2 reports every counter twice, the rates
    the same (the scheduler cannot run partitioned yet, but its reader
    is ready);
  - nd-person finds a person of each partition (the one that owns their
    visitor id, which the collector's router gives) by their anonymousId,
    and shows the sessionizer and segmenter once each, under the name of
    the partition that holds them;
  - nd-person --erase of a person reaches the partition that holds
    them: that person goes, their partition's others stay.

"""
import datetime
import json
import os
import shutil
import subprocess

from ndtest import BIN, ROOT, Pipeline, check, done, wait_for

T0 = datetime.datetime(2026, 11, 1, 6, 0, 0)
PEOPLE = 81
PLAN = ["browse", "product", "cart", "cart", "checkout", "payment", "order", "product"]
DEVICES = ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36",
           "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) Mobile/15E148 Safari/604.1"]
CAMPAIGNS = [{"source": "newsletter", "medium": "email", "name": "spring"},
             {"source": "google", "medium": "cpc", "name": "boots"}, None]


def route_key(text):
    h = 2166136261
    for byte in text.encode():
        h = ((h ^ byte) * 16777619) & 0xFFFFFFFF
    return h


def ts(minutes):
    return (T0 + datetime.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def traffic():
    """One session per person, a furthest step from PLAN, over two days."""
    events, n = [], 0
    for i in range(PEOPLE):
        anon, step, m = "anon-%d" % i, PLAN[i % len(PLAN)], i * 30
        context = {"userAgent": DEVICES[i % 2], "page": {"url": "https://shop.example/p"}}
        if CAMPAIGNS[i % 3]:
            context["campaign"] = CAMPAIGNS[i % 3]
        calls = [(None, {})]
        if step != "browse":
            calls.append(("Product Viewed", {"product_id": "p-%d" % (i % 5), "price": 20}))
        for later, name, props in (("cart", "Product Added",
                                    {"product_id": "p-%d" % (i % 5), "name": "Item %d" % (i % 5),
                                     "price": 20, "quantity": 1}),
                                   ("checkout", "Checkout Started", {"checkout_id": "c-%d" % i}),
                                   ("payment", "Payment Info Entered", {"checkout_id": "c-%d" % i}),
                                   ("order", "Order Completed", {"order_id": "o-%d" % i, "total": 20})):
            if PLAN.index(step) >= PLAN.index(later):
                calls.append((name, props))
        for k, (name, props) in enumerate(calls):
            n += 1
            e = {"type": "track" if name else "page", "messageId": "pt-%d" % n, "anonymousId": anon,
                 "timestamp": ts(m + k), "context": context}
            if name:
                e.update(event=name, properties=props)
            events.append(e)
    events.sort(key=lambda e: e["timestamp"])
    return events


def tool(p, name, *args):
    return subprocess.run([os.path.join(BIN, name), "-c", p.config] + list(args),
                          capture_output=True, text=True, timeout=60)


def funnel(p, *args):
    out = tool(p, "nd-report", "--funnel", "--json", *args)
    if out.returncode != 0:
        print("# nd-report: %s" % out.stderr.strip())
        return {}
    return json.loads(out.stdout)["funnel"]


def run(p, sessionizers, segmenters):
    """Starts the stages, feeds the traffic, waits until every stage has
    read its input to the head."""
    p.start("collector")
    for stage in sessionizers:
        p.start(stage, program="sessionizer")
    for stage in segmenters:
        p.start(stage, program="segmenter")
    events = traffic()
    for k in range(0, len(events), 200):
        status, answer = p.post("/v1/batch", {"batch": events[k:k + 200]})
        if status != 200:
            raise RuntimeError("collector answered %s: %s" % (status, answer))
    p.post("/v1/tick", {"time": ts(3 * 24 * 60)})
    settle(p, sessionizers, segmenters)


def settle(p, sessionizers, segmenters):
    head = p.control("collector")["journal"]["head"]
    for stage in sessionizers:
        if not wait_for(lambda: p.control(stage)["inputs"]["collector"]["position"] >= head, 30):
            raise RuntimeError("%s did not catch up with the collector" % stage)
    for up, down in zip(sessionizers, segmenters):
        top = p.control(up)["journal"]["head"]
        if not wait_for(lambda: p.control(down)["inputs"][up]["position"] >= top, 30):
            raise RuntimeError("%s did not catch up with %s" % (down, up))


PARTS = {"sessionizer": {"input": "collector", "partitions": "2"},
         "segmenter": {"input": "sessionizer", "partitions": "2"}}

with Pipeline(clock="event", extra=PARTS) as p:
    refused = subprocess.run([os.path.join(BIN, "sessionizer"), "--config", p.config,
                              "--name", "sessionizer.0", "--check"], capture_output=True, text=True)
    check("the sessionizer runs partitioned", refused.returncode == 0, refused.stderr)

SCHEDULER = {"input": "segmenter", "journeys": os.path.join(ROOT, "conf", "journeys"),
             "templates": os.path.join(ROOT, "conf", "templates")}


def doubled(value):
    if isinstance(value, dict):
        return {k: doubled(v) for k, v in value.items()}
    return value * 2 if isinstance(value, int) and not isinstance(value, bool) else value


with Pipeline(clock="event", extra={"segmenter": {"input": "sessionizer"}, "scheduler": SCHEDULER}) as one:
    one.start("scheduler")
    run(one, ["sessionizer"], ["segmenter"])
    top = one.control("segmenter")["journal"]["head"]
    wait_for(lambda: one.control("scheduler")["inputs"]["segmenter"]["position"] >= top, 30)
    whole = funnel(one)
    single = json.loads(tool(one, "nd-report", "--json").stdout or "{}")
    one.stop("scheduler")
    for k in (0, 1):
        shutil.copytree(os.path.join(one.dir, "state", "scheduler"),
                        os.path.join(one.dir, "state", "scheduler.%d" % k))
    one.write_config({"segmenter": {"input": "sessionizer"},
                      "scheduler": dict(SCHEDULER, partitions="2")})
    twice = json.loads(tool(one, "nd-report", "--json").stdout or "{}")
    entered = sum(v["entered"] for j in single.get("journeys", []) for v in j["variants"])
    check("a scheduler's state twice, as scheduler.0 and .1: every counter twice (%d entered)"
          % entered, entered > 0 and twice.get("counters") == doubled(single["counters"])
          and twice.get("totals") == doubled(single["totals"]), (single.get("totals"), twice.get("totals")))
    rates = lambda r: [(v["name"], v["conv_rate"]) for j in r.get("journeys", []) for v in j["variants"]]
    check("... the journeys in the same order, the rates the same, the funnel the segmenter's",
          rates(twice) == rates(single) and twice.get("funnel") == whole, rates(twice))

with Pipeline(clock="event", extra=PARTS) as p:
    parts = (["sessionizer.0", "sessionizer.1"], ["segmenter.0", "segmenter.1"])
    run(p, *parts)
    got = funnel(p)
    check("the traffic reaches every step: %s" % whole.get("total", {}).get("reached"),
          whole.get("total", {}).get("reached", [0])[-1] > 0, whole.get("total"))
    check("nd-report --funnel --json over segmenter.0 and .1 is one segmenter's, row by row",
          got == whole, (got.get("total"), whole.get("total")))
    check("the two days and the sources are there to compare",
          len(got.get("by_day", [])) == 2 and len(got.get("by_source", [])) == 3, got.get("by_day"))
    halves = [funnel(p, "-n", stage).get("total", {}).get("reached", [0] * 5) for stage in parts[1]]
    check("each partition holds some sessions, not all: %s" % halves,
          all(0 < h[0] < whole["total"]["reached"][0] for h in halves), halves)
    check("-n segmenter.K reads that partition alone; the two add up to the whole",
          [a + b for a, b in zip(*halves)] == whole["total"]["reached"], (halves, whole["total"]))


    # nd-person: someone of each partition. A person's partition is their
    # visitor id's (the collector's router gives the ids, v-1, v-2, ...)
    def visitor_of(anon):
        out = tool(p, "nd-person", "--json", anon)
        if out.returncode:
            print("# nd-person %s: %s" % (anon, out.stderr.strip()))
        return json.loads(out.stdout)["person"]["visitor"] if out.returncode == 0 else ""
    mine = {0: [], 1: []}
    for i in range(12):
        mine[route_key(visitor_of("anon-%d" % i)) % 2].append("anon-%d" % i)
    for k in (0, 1):
        anon = mine[k][0]
        out = tool(p, "nd-person", "--json", anon)
        seen = json.loads(out.stdout) if out.returncode == 0 else {}
        stages = sorted(seen.get("stages", {}))
        check("nd-person %s (partition %d): found; sessionizer and segmenter once each, as .%d"
              % (anon, k, k), stages == ["collector", "segmenter.%d" % k, "sessionizer.%d" % k]
              and seen["stages"]["sessionizer.%d" % k].get("profiles"),
              (out.returncode, out.stderr, stages))

    # --erase: a visitor id is one partition's, so the erasure reaches it
    # alone; that person goes, their partition's others stay
    anon, other = mine[0][0], mine[0][1]
    visitor = visitor_of(anon)
    erased = tool(p, "nd-person", "--erase", anon)
    check("--erase of %s (visitor %s, in sessionizer.0): accepted" % (anon, visitor),
          erased.returncode == 0, erased.stderr)
    settle(p, *parts)
    check("... then nd-person no longer finds %s, and still finds %s of the same partition"
          % (anon, other), wait_for(lambda: tool(p, "nd-person", anon).returncode == 1, 20)
          and tool(p, "nd-person", other).returncode == 0)

# funnel-keys = 1: each partition keeps one source a day, then "other"
for partitioned in (False, True):
    extra = {"segmenter": {"input": "sessionizer", "funnel-keys": "1"}}
    stages = (["sessionizer"], ["segmenter"])
    if partitioned:
        extra = {name: dict(PARTS[name], **extra.get(name, {})) for name in PARTS}
        stages = (["sessionizer.0", "sessionizer.1"], ["segmenter.0", "segmenter.1"])
    with Pipeline(clock="event", extra=extra) as q:
        run(q, *stages)
        capped = funnel(q)
    sources = [r["key"] for r in capped.get("by_source", [])]
    if partitioned:
        check("funnel-keys = 1 over two partitions: \"capped\" names by_source, the total still one "
              "segmenter's", "by_source" in capped.get("capped", []) and "other" in sources
              and capped.get("total") == whole.get("total"), (capped.get("capped"), sources))
    else:
        check("funnel-keys = 1 in one segmenter: an \"other\" row, nothing flagged",
              "other" in sources and "capped" not in capped, (capped.get("capped"), sources))
done()
