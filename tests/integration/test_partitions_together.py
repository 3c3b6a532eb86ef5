#!/usr/bin/python3
"""What goes together is learned from every partition's orders (README
"Partitioned stages").

collector -> 2 sessionizer partitions, event time. A buyer whose visitor
lives in one partition orders a lamp with a shade; a shopper in the
other partition, who has seen the shade, leaves the lamp in her cart.
Her cart.abandoned recommends the shade, bought together with the lamp
in the other partition, as one sessionizer would (without the partitions
teaching each other it recommends nothing). The partition that learned
it from a sibling logs no error.
"""
from ndtest import JournalReader, Pipeline, check, done, wait_for
import shoptest

PARTS = (0, 1)
LAMP = {"product_id": "p-lamp", "name": "Lamp", "price": 80.0, "quantity": 1}
SHADE = {"product_id": "p-shade", "name": "Shade", "price": 20.0, "quantity": 1}


def route_key(text):
    h = 2166136261
    for byte in text.encode():
        h = ((h ^ byte) * 16777619) & 0xFFFFFFFF
    return h


class Shop(shoptest.Shop):
    def settle(self, links=None):
        links = [("collector", "sessionizer.%d" % k) for k in PARTS]
        links += [("sessionizer.%d" % a, "sessionizer.%d" % b) for a in PARTS for b in PARTS if a != b]
        shoptest.Shop.settle(self, links)


extra = {"sessionizer": {"input": "collector", "partitions": "2"}, "sink": {"input": "sessionizer"}}
with Pipeline(clock="event", extra=extra) as p:
    p.start("collector")
    for k in PARTS:
        p.start("sessionizer.%d" % k, program="sessionizer")
    # Each partition's journal, read as its consumer "sink" reads it: a tap
    # could join after the message went by
    readers = {k: JournalReader(p, "sessionizer.%d" % k, "sink", 100000) for k in PARTS}
    shop = Shop(p, [])
    # The router names visitors v-1, v-2, ... in the order they come: the
    # buyer is v-1, the shopper the first after it in the other partition
    buyer_part = route_key("v-1") % 2
    other = next(n for n in range(2, 20) if route_key("v-%d" % n) % 2 != buyer_part)
    shop.send(*[shop.event("track", 0, "a-%d" % n, event="Page Viewed", properties={})
                for n in range(1, other + 1)])
    shop.send(shop.order(1, "a-1", LAMP, SHADE))
    shop.settle()
    shopper = "a-%d" % other
    shop.send(shop.track(2, shopper, "Product Viewed", {"product_id": "p-shade", "name": "Shade",
                                                         "price": 20.0}),
              shop.add(3, shopper, "Lamp", "p-lamp", 80.0))
    shop.tick(40)
    reader = readers[1 - buyer_part]

    def abandoned():
        return [b for _, topic, b in reader.messages
                if topic == "cart.abandoned" and b.get("user") == "v-%d" % other]
    wait_for(lambda: reader.poll(0.1) is not None and abandoned(), timeout=30)
    mine = abandoned()
    recommended = [r.get("product_id") for r in mine[0].get("recommended", [])] if mine else None
    check("the shopper in the other partition is v-%d and leaves the lamp" % other,
          len(mine) == 1, mine)
    check("her cart.abandoned recommends the shade, bought with the lamp in the buyer's partition",
          recommended == ["p-shade"], recommended)
    logs = p.log("sessionizer.%d" % (1 - buyer_part))
    check("the partition that learned it logs no error", "reject" not in logs and "error" not in logs,
          logs[-800:])
    for reader in readers.values():
        reader.close()
done()
