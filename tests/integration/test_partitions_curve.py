#!/usr/bin/python3
"""Partitions across hosts: every link over tcp:// with CURVE (README
"Partitioned stages", "Across hosts").

The collector, a sessionizer and a segmenter in 2 partitions each, and a
relay "watch" reading both segmenter partitions, each with a keypair of
its own (nd-cert) and every endpoint tcp:// set in the partition's own
"partition-K" section, as on its own host; curve-clients holds every
stage's public key and an operator's.

A phone (v-1, partition 1) and a laptop (v-2, partition 0) of one shopper
log in: v-1 leaves partition 1 and arrives in partition 0 over the
sibling links, in both stages; read over CURVE from watch's journal, the
merge is made once and v-2's cart holds every product; nd-ctl --cert
reads a partition's STATS.
"""
import json
import os
import subprocess
import time

import zmq

from curvetest import curve_socket
from ndtest import BIN, Pipeline, check, done, free_port, wait_for

T = "2026-03-02T12:%02d:00.000Z"
STAGES = ("collector", "sessionizer.0", "sessionizer.1", "segmenter.0", "segmenter.1", "watch", "operator")


def tcp():
    return "tcp://127.0.0.1:%d" % free_port()


def add(anon, product, minute, n, user=None):
    e = {"type": "track", "event": "Product Added", "anonymousId": anon, "messageId": "m-%d" % n,
         "timestamp": T % minute, "properties": {"product_id": product, "name": product,
                                                 "price": 10.0, "quantity": 1}}
    if user:
        e["userId"] = user
    return e


def login(anon, user, minute, n):
    return {"type": "identify", "anonymousId": anon, "userId": user, "messageId": "m-%d" % n,
            "timestamp": T % minute, "traits": {}}


with Pipeline(clock="event") as p:
    certs, clients = os.path.join(p.dir, "certs"), os.path.join(p.dir, "clients")
    os.makedirs(certs)
    os.makedirs(clients)
    for name in STAGES:
        subprocess.run([os.path.join(BIN, "nd-cert"), "-d", certs, name], check=True,
                       capture_output=True, timeout=15)
        os.link(os.path.join(certs, name + ".pub"), os.path.join(clients, name + ".pub"))
    ends = {s: {k: tcp() for k in ("out", "pub", "ctl")} for s in STAGES}

    def partitioned(stage, upstream):
        return {"input": upstream, "partitions": "2",
                **{"partition-%d" % k: dict(ends["%s.%d" % (stage, k)],
                                            curve="file:%s/%s.%d.secret" % (certs, stage, k))
                   for k in (0, 1)}}
    p.write_config({
        "pipeline": {"curve-clients": clients},
        "collector": dict(ends["collector"], curve="file:%s/collector.secret" % certs),
        "sessionizer": partitioned("sessionizer", "collector"),
        "segmenter": partitioned("segmenter", "sessionizer"),
        "watch": dict(ends["watch"], program="relay", input="segmenter",
                      curve="file:%s/watch.secret" % certs)})
    operator = os.path.join(certs, "operator.secret")

    def stats(stage):
        r = subprocess.run([os.path.join(BIN, "nd-ctl"), "-c", p.config, "--cert", operator, stage,
                            "stats"], capture_output=True, text=True, timeout=15)
        return json.loads(r.stdout) if r.returncode == 0 else {}

    p.start("collector")
    for stage in ("sessionizer.0", "sessionizer.1", "segmenter.0", "segmenter.1"):
        p.start(stage, program=stage.split(".")[0])
    p.start("watch", program="relay")
    posted = {p.post("/v1/batch", {"batch": [add("phone", "p1", 1, 1), login("laptop", "u-7", 2, 2),
                                              add("laptop", "p2", 3, 3, user="u-7"),
                                              login("phone", "u-7", 4, 4),
                                              add("phone", "p3", 5, 5, user="u-7")]})[0]}
    check("the collector took the events", posted == {200}, posted)
    arrived = wait_for(lambda: "v-1 arrives" in p.log("sessionizer.0")
                       and "v-1 arrives" in p.log("segmenter.0"), 30)
    check("v-1 leaves partition 1 and arrives in partition 0 over CURVE, in both stages",
          arrived and "v-1 leaves" in p.log("sessionizer.1") and "v-1 leaves" in p.log("segmenter.1"),
          (p.log("sessionizer.0")[-800:], p.log("sessionizer.1")[-800:]))
    check("no stage was refused a link", not any("refused" in p.log(s) for s in STAGES[:-1]))

    reader = curve_socket(p.ctx, zmq.DEALER, ends["watch"]["out"], operator,
                          os.path.join(certs, "watch.pub"), identity=b"operator")
    reader.send_multipart([b"HELLO", b"0", b"10000"])
    got, deadline = [], time.time() + 20
    while time.time() < deadline:
        if reader.poll(200):
            frames = reader.recv_multipart()
            if frames[0] == b"MSG":
                got.append((frames[2].decode(), json.loads(frames[3])))
        carts = [b for t, b in got if t == "cart.updated" and b.get("user") == "v-2"]
        if carts and len(carts[-1]["cart"]["items"]) == 3:
            break
    merges = [b for t, b in got if t == "visitor.merged"]
    carts = [b for t, b in got if t == "cart.updated" and b.get("user") == "v-2"]
    items = sorted(i["product_id"] for i in (carts[-1]["cart"]["items"] if carts else []))
    check("read over CURVE from watch: one merge, v-2 takes v-1", len(merges) == 1
          and merges[0].get("merged") == "v-1", merges)
    check("and v-2's cart holds p1, p2 and p3", items == ["p1", "p2", "p3"], items)
    check("nd-ctl --cert reads a partition's STATS over CURVE",
          stats("sessionizer.0").get("visitors_merged", 0) == 1, stats("sessionizer.0"))
    reader.close(0)
done()
