#!/usr/bin/python3
"""json_bodies - real wire bodies for bench/json_bench.c, from a small replay.

    bench/json_bodies.py OUTDIR

Runs the collector, the sessionizer and the segmenter of bin/ (ND_BIN) on
the event clock in a temporary directory, posts one visitor's visit (an
identify with traits, product views, three products added to the cart),
then moves time on so the visit ends with a cart left behind, and writes
three bodies exactly as they crossed the wire (the stages' tap copies):

    track.json     the collector's event.track for a Product Added
    cart.json      the sessionizer's cart.abandoned (the cart and its items)
    profile.json   the segmenter's cart.abandoned (the same with segments
                   and the visitor's profile)

make bench-json runs it, then bench/json_bench on those files.
"""
import os
import sys
import time

import zmq

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                "tests", "integration"))
from ndtest import Pipeline  # noqa: E402

T0 = "2026-03-02T10:%02d:00.000Z"


def subscribe(p, stage):
    sock = p.ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.SUBSCRIBE, b"")
    sock.setsockopt(zmq.RCVHWM, 0)
    sock.connect(p.endpoint(stage, "pub"))
    return sock


def first(sock, topic, want=lambda body: True, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if sock.poll(100):
            got, body = sock.recv_multipart()
            if got.decode() == topic and want(body):
                return body
    raise SystemExit("json_bodies: no %s within %.0f s" % (topic, timeout))


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: bench/json_bodies.py OUTDIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    with Pipeline(clock="event", extra={"segmenter": {"input": "sessionizer"}}) as p:
        for stage in ("collector", "sessionizer", "segmenter"):
            p.start(stage)
        taps = {stage: subscribe(p, stage) for stage in ("collector", "sessionizer", "segmenter")}
        time.sleep(0.3)     # slow joiner: let the subscriptions reach the PUBs
        user = {"anonymousId": "5b2e6d1c-3f0a-4c8e-9a77-1f2d3c4b5a69", "userId": "u_84721"}
        p.post("/v1/identify", dict(user, timestamp=T0 % 0, traits={
            "email": "ewa.nowak@example.com", "email_consent": True, "first_name": "Ewa",
            "last_name": "Nowak", "timezone": "Europe/Warsaw", "locale": "pl-PL"}))
        for n, (sku, name, price, category) in enumerate((
                ("sku-1042", "Merino wool socks, pack of 3", 19.99, "Apparel/Socks"),
                ("sku-2210", "Trail running shoes", 129.0, "Shoes/Running"),
                ("sku-3307", "Rain jacket, packable", 89.5, "Apparel/Jackets"))):
            product = {"product_id": sku, "sku": sku.upper(), "name": name, "price": price,
                       "quantity": 1 + n % 2, "currency": "EUR", "category": category,
                       "brand": "Example", "variant": "black / 42",
                       "url": "https://shop.example.com/p/%s" % sku,
                       "image_url": "https://cdn.example.com/img/%s.jpg" % sku}
            context = {"ip": "203.0.113.42", "locale": "pl-PL", "page": {
                "url": "https://shop.example.com/p/%s?utm_source=mail" % sku,
                "title": "%s \u2013 Example Shop" % name}}
            p.post("/v1/track", dict(user, event="Product Viewed", properties=product,
                                     context=context, timestamp=T0 % (1 + 2 * n)))
            p.post("/v1/track", dict(user, event="Product Added", properties=product,
                                     context=context, timestamp=T0 % (2 + 2 * n)))
        p.post("/v1/tick", {"time": "2026-03-02T13:00:00.000Z"})
        bodies = {
            "track": first(taps["collector"], "event.track", lambda b: b"Product Added" in b),
            "cart": first(taps["sessionizer"], "cart.abandoned"),
            "profile": first(taps["segmenter"], "cart.abandoned"),
        }
        for sock in taps.values():
            sock.close(0)
    for name, body in bodies.items():
        with open(os.path.join(out, name + ".json"), "wb") as f:
            f.write(body)
        print("json_bodies: %s.json, %d bytes" % (name, len(body)))


if __name__ == "__main__":
    main()
