#!/usr/bin/python3
"""The sessionizer takes the collector's stamp (issue #15 part 3).

The collector's person router stamps each event with the visitor it will
be ("visitor"; test_route.py). Fed by a stand-in collector in Python
(JournalServer), the real sessionizer:
  - names a new person by the stamp, and keeps its counter past it (the
    next unstamped person gets the number after it);
  - takes a stamp below its counter when that id is free;
  - resolves a known person as before when the stamp says otherwise, and
    counts it (STATS visitor_stamp_mismatch), logging it once per visitor;
  - mints from its counter when the stamped id is taken or not a visitor
    id, and counts that too.
"""
from ndtest import JournalReader, JournalServer, Pipeline, check, done, wait_for
from schedtest import iso

with Pipeline(clock="event") as p:
    p.write_config({"feed": {}, "sessionizer": {"input": "feed"}})
    p.start("sessionizer")
    feed = JournalServer(p.ctx, p.endpoint("feed", "out"))
    out = JournalReader(p, "sessionizer", "sink", 10000)
    sent = [("sa-1", "v-5"), ("sa-2", None), ("sa-3", "v-2"), ("sa-4", None),
            ("sa-1", "v-9"), ("sa-1", "v-9"), ("sa-5", "v-5"), ("sa-6", "v-x1")]
    for n, (anon, stamp) in enumerate(sent):
        body = {"id": "e-%d" % n, "type": "page", "anonymousId": anon, "user": anon,
                "time": iso(n)}
        if stamp:
            body["visitor"] = stamp
        feed.append("event.page", body)
    wait_for(lambda: feed.serve(0.02) or p.control("sessionizer")["inputs"]["feed"]["position"]
             >= len(feed.journal), timeout=20)
    head = p.control("sessionizer")["journal"]["head"]
    wait_for(lambda: out.poll(0.1) is not None and out.position >= head, timeout=20)
    users = {b["id"]: b["user"] for _, t, b in out.messages if t == "event.page"}
    got = [users.get("e-%d" % n) for n in range(len(sent))]
    check("a new person takes the stamp (v-5), the next unstamped one the number after (v-6)",
          got[:2] == ["v-5", "v-6"], got)
    check("a free stamp below the counter is taken (v-2); the counter stays (v-7 next)",
          got[2:4] == ["v-2", "v-7"], got)
    check("a known person stays who they are whatever the stamp says", got[4:6] == ["v-5", "v-5"], got)
    check("a taken stamp (v-5) or one that is no visitor id: the counter's (v-8, v-9)",
          got[6:] == ["v-8", "v-9"], got)
    stats = p.control("sessionizer")
    check("visitor_stamp_mismatch counts each of the 4 events whose answer was not the stamp",
          stats.get("visitor_stamp_mismatch") == 4, stats.get("visitor_stamp_mismatch"))
    log = p.log("sessionizer")
    check("logged once per visitor: v-5 once (two events), v-8 and v-9 once",
          log.count("visitor stamp: resolved v-5, the collector said v-9") == 1
          and log.count("visitor stamp: resolved") == 3, log[-1500:])
done()
