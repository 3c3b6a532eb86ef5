#!/usr/bin/env python3
"""The real Segment Node SDK feeds nudge by changing its host.

Installs @segment/analytics-node (pinned in tests/e2e/package.json) if
needed, runs tests/e2e/segment_sdk.js against the collector, and checks
that the SDK's identify, page and E-commerce v2 events come out of the
collector normalized (seen both with a test SUB socket and with the real
bin/tap program) and reach the sessionizer.
"""
import json
import os
import shutil
import subprocess
import time
import uuid

from ndtest import BIN, E2E, WRITE_KEY, Pipeline, check, done, node_report

FUNNEL = ["Product Viewed", "Product Added", "Product Added", "Cart Viewed",
          "Checkout Started", "Order Completed"]
EXPECTED = 2 + len(FUNNEL)      # identify, page, then the funnel


def install_sdk():
    if os.path.isdir(os.path.join(E2E, "node_modules", "@segment", "analytics-node")):
        return True
    if not shutil.which("npm"):
        return False
    result = subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=E2E,
                            capture_output=True, text=True, timeout=300)
    if result.returncode:
        print("# npm install failed:\n# " + result.stderr[-1000:].replace("\n", "\n# "))
    return result.returncode == 0


def run_sdk(p, anonymous_id, user_id):
    return node_report("segment_sdk.js", "http://127.0.0.1:%d" % p.http_port, WRITE_KEY,
                       anonymous_id, user_id, responses=[], sent=0)


def check_sdk_side(report):
    statuses = [r["status"] for r in report.get("responses", [])]
    check("the SDK reports no errors", not report.get("errors"), report.get("errors"))
    check("the SDK got only 200 answers", statuses and set(statuses) == {200}, statuses)
    check("the SDK posted to /v1/batch",
          all(r["url"].endswith("/v1/batch") for r in report.get("responses", [])), report)


def check_collector_side(events, anonymous_id, user_id):
    topics = sorted(t for t, b in events)
    check("collector emits identify, page and every track",
          topics == sorted(["event.identify", "event.page"] + ["event.track"] * len(FUNNEL)),
          topics)
    # The SDK sends its batches concurrently, so only events within one
    # batch keep their order; each event's own "time" says when it happened
    names = [b.get("event") for t, b in events if t == "event.track"]
    check("the whole E-commerce v2 funnel arrives", sorted(names) == sorted(FUNNEL), names)
    by_name = {b.get("event") or b.get("type"): b for t, b in events}
    identify = by_name.get("identify", {})
    check("identify: user is the userId, traits kept",
          identify.get("user") == user_id and identify.get("anonymousId") == anonymous_id and
          identify.get("traits", {}).get("email") == "jane.doe@example.com", identify)
    added = by_name.get("Product Added", {}).get("properties", {})
    check("Product Added keeps product_id, sku, name, price, quantity",
          all(k in added for k in ("product_id", "sku", "name", "price", "quantity")), added)
    order = by_name.get("Order Completed", {})
    props = order.get("properties", {})
    check("Order Completed keeps order_id, total and products",
          props.get("order_id") == "order-1001" and props.get("total") == 114.9 and
          len(props.get("products", [])) == 2, props)
    check("Order Completed is the identified user's", order.get("user") == user_id, order)
    viewed = by_name.get("Product Viewed", {})
    check("an anonymous event's user is the anonymousId",
          viewed.get("user") == anonymous_id, viewed)
    check("every event: id is the SDK's messageId",
          all(b.get("id") and b.get("id") == b.get("messageId") for t, b in events), events)
    check("every event: time, receivedAt, originalTimestamp, sentAt",
          all(b.get("time") and b.get("receivedAt") and b.get("originalTimestamp") and
              b.get("sentAt") for t, b in events), events[:1])
    check("every event: the SDK's context.library",
          all(b.get("context", {}).get("library", {}).get("name") == "@segment/analytics-node"
              for t, b in events), [b.get("context") for t, b in events][:1])
    check("the write key is not passed on", all("writeKey" not in b for t, b in events))


def start_bin_tap(p):
    tap = os.path.join(BIN, "tap")
    if not os.path.exists(tap):
        return None
    proc = subprocess.Popen([tap, "-n", str(EXPECTED), "-t", "30000",
                             p.endpoint("collector", "pub"), "event."],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)             # its subscription must reach the PUB first
    return proc


def check_bin_tap(proc, events):
    if not check("bin/tap exists", proc is not None, os.path.join(BIN, "tap")):
        return
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    check("bin/tap prints one JSON object a line for each event",
          proc.returncode == 0 and len(lines) == EXPECTED,
          (proc.returncode, out[-500:], err[-500:]))
    check("bin/tap shows the same topics and ids as the collector's PUB",
          sorted((m["topic"], m["body"]["id"]) for m in lines) ==
          sorted((t, b["id"]) for t, b in events), lines[:2])


def main():
    if not check("the Segment SDK is installed (npm)", install_sdk()):
        done()
    anonymous_id = "anon-" + uuid.uuid4().hex[:12]
    user_id = "user-" + uuid.uuid4().hex[:8]
    with Pipeline(clock="event") as p:
        p.start("collector")
        p.start("sessionizer")
        collector_tap = p.tap("collector", "event.")
        sessionizer_tap = p.tap("sessionizer", "event.")
        bin_tap = start_bin_tap(p)

        report = run_sdk(p, anonymous_id, user_id)
        check_sdk_side(report)
        events = collector_tap.collect(until=lambda ms: len(ms) >= EXPECTED, timeout=15)
        check_collector_side(events, anonymous_id, user_id)
        check_bin_tap(bin_tap, events)

        ids = {b["id"] for t, b in events}
        forwarded = sessionizer_tap.collect(
            until=lambda ms: ids <= {b.get("id") for t, b in ms}, timeout=15)
        got = ids & {b.get("id") for t, b in forwarded}
        check("every SDK event reaches the sessionizer", ids and got == ids,
              "%d of %d" % (len(got), len(ids)))
        stats = p.control("sessionizer")
        check("the sessionizer committed the collector's journal",
              stats.get("inputs", {}).get("collector", {}).get("position") ==
              p.control("collector")["journal"]["head"], stats.get("inputs"))
    done()


if __name__ == "__main__":
    main()
