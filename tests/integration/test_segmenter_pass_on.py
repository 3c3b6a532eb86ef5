#!/usr/bin/python3
"""The segmenter passes a message on as it came, with segments and profile
appended (README, "Wire format").

A stand-in sessionizer in Python (JournalServer) feeds the real segmenter
bodies spelt as another language writes them (spaces after ':' and ',',
whitespace after the closing brace); a reader takes the segmenter's output
as bytes:
  - the received text, up to its closing brace, goes on unchanged, then
    "segments" and "profile"; the members and their order are kept;
  - a body that already has "segments" is written again whole, with one
    "segments", the segmenter's;
  - a body without "time" gets the clock's, as any emitted body does;
  - a body without a user goes on with no segments and no profile.
"""
import json

from ndtest import JournalReader, JournalServer, Pipeline, check, done, wait_for
from schedtest import iso

with Pipeline(clock="event") as p:
    p.write_config({"feed": {}, "segmenter": {"input": "feed"}, "sink": {"input": "segmenter"}})
    p.start("segmenter")
    feed = JournalServer(p.ctx, p.endpoint("feed", "out"))
    sink = JournalReader(p, "segmenter", "sink", 10000, raw=True)

    spaced = ('{"id": "s-1", "user": "v-1", "time": "%s", "visitor": "v-1", '
              '"event": "Product Viewed", "properties": {"product_id": "P1", "price": 12.50, '
              '"name": "Caf\\u00e9 mug"}}\n  ' % iso(0))
    feed.journal.append(("event.track", spaced))
    feed.append("event.track", {"id": "s-2", "user": "v-1", "time": iso(0.1),
                                "segments": ["from-upstream"], "event": "Product Viewed",
                                "properties": {"product_id": "P2"}})
    feed.journal.append(("session.started", '{"id":"s-3","user":"v-2","session":"x"}'))
    feed.append("catalogue.note", {"id": "s-4", "user": "", "time": iso(0.2), "note": "n"})
    wait_for(lambda: feed.serve(0.02) or p.control("segmenter")["inputs"]["feed"]["position"]
             >= len(feed.journal), timeout=20)
    head = p.control("segmenter")["journal"]["head"]
    wait_for(lambda: sink.poll(0.1) is not None and sink.position >= head, timeout=20)
    passed = {}
    for _, topic, raw in sink.messages:
        body = json.loads(raw)
        if not topic.startswith("segment.") and topic != "tick":
            passed[body["id"]] = (raw.decode(), body)

    text, body = passed.get("s-1", ("", {}))
    sent = spaced.rstrip()[:-1]
    check("the body goes on as received up to its closing brace, then segments and profile",
          text.startswith(sent + ',"segments":[') and '],"profile":{' in text[len(sent):],
          text)
    check("its members, in their order, then segments and profile",
          list(body) == list(json.loads(spaced)) + ["segments", "profile"]
          and body["properties"]["name"] == "Caf\u00e9 mug"
          and isinstance(body["profile"].get("product_views"), int), body)

    text, body = passed.get("s-2", ("", {}))
    check("a body with segments of its own: one segments, the segmenter's",
          text.count('"segments"') == 1 and "from-upstream" not in body.get("segments", ["?"])
          and "profile" in body, text)

    text, body = passed.get("s-3", ("", {}))
    check("a body without time gets the clock's; its id stays",
          body.get("id") == "s-3" and body.get("time", "").endswith("Z")
          and body.get("session") == "x" and "profile" in body, text)

    text, body = passed.get("s-4", ("", {}))
    check("a body without a user: no segments, no profile",
          body.get("segments") == [] and "profile" not in body and body.get("note") == "n", text)
    feed.close()
    sink.close()

done()
