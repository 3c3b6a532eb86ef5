#!/usr/bin/python3
"""scheduler: the onsite channel's rules.

Event time from T0 = Monday 12:00 UTC; quiet hours 21:00-09:00, caps
1/16h and 3/7d across channels (the defaults), cap-onsite 1/1d here. A
test journey "card" sends on-site only (cart.browsing); another, "nudge",
sends push, else e-mail (cart.abandoned), as a reminder does.

  P1 is browsing when the card is due: it goes at once, to P1's
    anonymous ids (from cart.browsing), with no not_after; P1's reminder,
    due meanwhile, waits until P1 leaves and then goes by push: the card
    took no place in the cross-channel cap;
  P2's card is due at 22:00 UTC, in quiet hours: it goes at once;
  P3 has no anonymous id anywhere: the card is skipped (unreachable);
  P4 gets a card, and a second one the same day is over cap-onsite;
  P5 (anonymous ids from profile.updated, the last five kept) is merged
    into P6: P6's card goes to P5's ids;
  the feedback of the onsite stage (delivered, clicked) is counted.
"""
import json
import os
import subprocess

from ndtest import BIN, ROOT, Pipeline, check, done
from schedtest import CART, iso, pipeline_extra, users_in, start_scheduler

CARD = """\
journey
    name = card
    trigger
        topic = cart.browsing
    steps
        send = goes-with
            channels = onsite
            template = cart-browsing/goes-with
            over-cap = skip
"""
NUDGE = """\
journey
    name = nudge
    trigger
        topic = cart.abandoned
    steps
        send = reminder
            channels = "push, email"
            template = abandoned-cart/reminder-1
            over-cap = skip
            quiet-hours = skip
"""
GOES = [{"product_id": "p-7", "name": "Gaiters", "price": 19.9, "url": "https://shop.example/p/7"}]

with Pipeline(clock="event", extra=pipeline_extra()) as p:
    journeys = os.path.join(p.dir, "journeys")
    os.makedirs(journeys)
    for name, text in (("card", CARD), ("nudge", NUDGE)):
        with open(os.path.join(journeys, name + ".zpl"), "w") as f:
            f.write(text)
    p.write_config(pipeline_extra(journeys, **{"cap-onsite": "1/1d"}))
    feed, reader, at = start_scheduler(p)
    P1, P2, P3, P4, P5, P6 = ("p-1", "p-2", "p-3", "p-4", "p-5", "p-6")

    def sends(user):
        return [(s["journey"], s["channel"], s["time"], s["to"]) for s in reader.sends(user)]

    def browsing(user, hours, ids=None):
        body = {"cart": CART, "goes_with": GOES, "session": "s-" + user}
        if ids is not None:
            body["anonymousIds"] = ids
        feed.send("cart.browsing", user, hours, **body)

    for user in (P1, P2, P3, P4, P6):
        feed.profile(user, 0, push=user == P1)
    feed.send("profile.updated", P5, 0, traits={"email": "p5@example.com"},
              anonymousIds=["x-%d" % i for i in range(7)], segments=[])
    feed.activity(P1, 0.1)
    browsing(P1, 0.1, ["a-p1-old", "a-p1"])
    feed.abandon(P1, 0.1, push=True)
    browsing(P3, 0.1)
    browsing(P4, 0.2, ["a-p4"])
    at(0.2)
    order = ([s for s in reader.sends(P1) if s["channel"] == "onsite"] or [{}])[0]
    check("P1 browsing: the card goes at once, to P1's anonymous ids, with no not_after",
          sends(P1) == [("card", "onsite", iso(0.1), ["a-p1-old", "a-p1"])]
          and "not_after" not in order and order.get("data", {}).get("goes_with") == GOES, sends(P1))
    check("P3, no anonymous id: nothing (unreachable)", sends(P3) == [], sends(P3))
    at(0.6)
    browsing(P4, 3, ["a-p4"])
    at(3)
    check("P4's second card the same day: over cap-onsite, skipped",
          [s[:3] for s in sends(P4)] == [("card", "onsite", iso(0.2))], sends(P4))
    check("P1's reminder waits while P1 browses, then goes by push: the card is not in the cap",
          [s[:3] for s in sends(P1)] == [("card", "onsite", iso(0.1)), ("nudge", "push", iso(0.6))],
          sends(P1))

    browsing(P2, 10, ["a-p2"])
    at(10)
    check("P2's card at 22:00 UTC, in quiet hours: at once",
          [s[:3] for s in sends(P2)] == [("card", "onsite", iso(10))], sends(P2))

    feed.send("visitor.merged", P6, 11, merged=P5)
    browsing(P6, 11)
    at(11)
    check("P5 merged into P6: P6's card goes to the last five of P5's anonymous ids",
          sends(P6) == [("card", "onsite", iso(11), ["x-2", "x-3", "x-4", "x-5", "x-6"])], sends(P6))

    card = [s for s in reader.sends(P1) if s["channel"] == "onsite"][0]
    feed.feedback("delivered", card, 12)
    feed.feedback("clicked", card, 12)
    at(12)
    report = subprocess.run([os.path.join(BIN, "nd-report"), "-c", p.config, "--json"],
                            capture_output=True, text=True)
    metrics = {}
    for v in json.loads(report.stdout or "{}").get("counters", {}).get("card", {}).values():
        for channel, counts in v.get("steps", {}).get("goes-with", {}).items():
            for metric, n in counts.items():
                metrics[(channel, metric)] = metrics.get((channel, metric), 0) + n
    check("onsite feedback is counted for the step: 4 sent, 1 delivered, 1 clicked",
          metrics.get(("onsite", "sent")) == 4 and metrics.get(("onsite", "delivered")) == 1
          and metrics.get(("onsite", "clicked")) == 1, metrics)
    feed.close()
    reader.close()
done()
