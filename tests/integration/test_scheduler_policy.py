#!/usr/bin/python3
"""scheduler: quiet hours, frequency caps across journeys, holdout, chat.

Event time from T0 = Monday 12:00 UTC; shipped journeys and defaults:
quiet hours 21:00-09:00 in the person's zone, caps 1/16h and 3/7d across
every channel and journey.

  G (Asia/Tokyo) leaves a cart at 21:00 local: the +1 h reminder falls at
    22:00 local and waits for 09:00 local (+12 h UTC); the second, due at
    08:00 local two days on, waits until 09:00 too;
  W (Europe/Warsaw, 14:00 local at +1 h) gets it at +1 h;
  Q (no zone: the stage's, UTC) leaves at 20:30: waits until 09:00;
  H gets a browse-abandonment note at +2 h, then leaves a cart: its
    reminder, due at +3.2 h, is over the cap (a message already sent keeps
    its slot) and waits 16 h (then quiet hours, until 09:00);
  P's browse note, due at +2 h, meets her cart reminder due at +2.5 h:
    the cart's journey has the higher priority, so the note gives way
    (nudge-journey(5), PRIORITY; that journey says skip) and the reminder
    goes on time;
  I gets a cart reminder at +1 h: her browse note at +2.5 h is over the
    cap, and that journey says skip: it never comes;
  K1, K2 are in the abandoned-cart holdout: nothing is sent, "held" is
    counted, and K1's order is credited to the holdout;
  L opens a chat before the reminder is due: it waits until the chat ends;
  X (America/New_York) enters a segment at 07:00 local; a test journey
    waits "until = 10:00": the note goes at 10:00 New York time (+3 h).
nd-report then shows the holdout next to the variants, with uplift.
"""
import json
import os
import shutil
import subprocess

from ndtest import BIN, ROOT, Pipeline, check, done
from schedtest import iso, pipeline_extra, users_in, start_scheduler

MORNING = """\
journey
    name = morning
    trigger
        topic = segment.entered
        when = "segment = new_subscriber"
    limits
        cap = none
    steps
        wait = till-morning
            until = 10:00
        send = hello
            channels = email
            template = abandoned-cart/reminder-1
"""

with Pipeline(clock="event", extra=pipeline_extra()) as p:
    journeys = os.path.join(p.dir, "journeys")
    shutil.copytree(os.path.join(ROOT, "conf", "journeys"), journeys)
    with open(os.path.join(journeys, "morning.zpl"), "w") as f:
        f.write(MORNING)
    p.write_config(pipeline_extra(journeys))
    feed, reader, at = start_scheduler(p)
    G, W, Q, H, I, L, X, P = users_in("abandoned-cart", "treated", 8)
    K1, K2 = users_in("abandoned-cart", "holdout", 2)

    sends = reader.sends

    def times(user, journey=None):
        return [s["time"] for s in sends(user, journey)]

    feed.abandon(G, 0, tz="Asia/Tokyo")
    feed.abandon(W, 0, tz="Europe/Warsaw")
    feed.browse(H, 0)
    feed.browse(P, 0)
    feed.abandon(I, 0)
    feed.abandon(K1, 0)
    feed.abandon(K2, 0)
    feed.abandon(L, 0)
    feed.profile(X, 0, tz="America/New_York")
    feed.send("segment.entered", X, 0, segment="new_subscriber", segments=["new_subscriber"])
    feed.send("chat.started", L, 0.5, conversation="c-1")
    feed.browse(I, 0.5)
    at(1.0)
    check("W (Warsaw, 14:00 local) gets the reminder at +1 h", times(W) == [iso(1)], sends(W))
    check("G (Tokyo, 22:00 local) does not", sends(G) == [], sends(G))
    check("L, in an open chat, does not", sends(L) == [], sends(L))
    check("I gets her cart reminder at +1 h", times(I, "abandoned-cart") == [iso(1)], sends(I))
    feed.send("chat.ended", L, 1.1, conversation="c-1")
    at(1.2)
    check("L: not before the chat is looked at again", sends(L) == [], sends(L))
    at(1.25)
    check("L's reminder goes after the chat ended", times(L) == [iso(1.25)], sends(L))
    feed.abandon(P, 1.5)
    at(2.0)
    check("P's browse note gives way to her cart reminder due within the cap's window",
          sends(P) == [], sends(P))
    feed.abandon(H, 2.2)        # after H's browse note went
    at(2.5)
    check("P's cart reminder goes on time, at +2.5 h, and the browse note never",
          [(s["journey"], s["time"]) for s in sends(P)] == [("abandoned-cart", iso(2.5))], sends(P))
    at(2.99)
    check("X: nothing before 10:00 New York", sends(X, "morning") == [], sends(X))
    at(3.0)
    check("X's note goes at 10:00 New York time (wait until a local time)",
          times(X, "morning") == [iso(3)], sends(X))
    check("H gets the browse note at +2 h", [s["journey"] for s in sends(H)] == ["browse-abandoned"]
          and sends(H)[0]["data"]["products"][0]["name"] == "Rain jacket", sends(H))
    feed.abandon(Q, 8.5)
    at(3.2)
    check("H's cart reminder, due now, is held back by the cap: the browse note keeps its slot",
          sends(H, "abandoned-cart") == [], sends(H))
    check("I's browse note is over the cap: skipped", sends(I, "browse-abandoned") == [], sends(I))
    at(11.99)
    check("G still waits for 09:00 Tokyo", sends(G) == [], sends(G))
    at(12.0)
    check("G's reminder goes at 09:00 Tokyo (+12 h)", times(G) == [iso(12)], sends(G))
    at(20.99)
    check("Q (UTC) left at 20:30: nothing during the night", sends(Q) == [], sends(Q))
    check("H's cart reminder: the cap frees at +18 h, 06:00, still quiet", sends(H, "abandoned-cart") == [])
    at(21.0)
    check("Q's reminder at 09:00 UTC", times(Q) == [iso(21)], sends(Q))
    check("H's cart reminder at 09:00 UTC (cap, then quiet hours)",
          times(H, "abandoned-cart") == [iso(21)], sends(H))
    feed.order(K1, 23.0)         # within the attribution window of K1's entry
    at(24.0)
    at(35.99)
    check("G's second, due 08:00 Tokyo, waits", len(sends(G)) == 1, sends(G))
    at(36.0)
    check("G's second at 09:00 Tokyo (+36 h)", times(G) == [iso(12), iso(36)], sends(G))
    at(40.0)
    check("I never gets the skipped browse note", sends(I, "browse-abandoned") == [], sends(I))
    check("the holdout gets nothing", sends(K1) == [] and sends(K2) == [],
          (sends(K1), sends(K2)))
    k1 = [c for c in reader.topic("conversion") if c["user"] == K1]
    check("the holdout's order is credited to the holdout",
          len(k1) == 1 and k1[0]["variant"] == "holdout" and not k1[0]["last_touch"], k1)

    out = subprocess.run([os.path.join(BIN, "nd-report"), "-c", p.config, "--json"],
                         capture_output=True, text=True)
    report = json.loads(out.stdout)
    cart = report["counters"]["abandoned-cart"]
    holdout = cart.get("holdout", {}).get("group", {})
    check("nd-report: holdout entered 2, held 3, converted 1",
          (holdout.get("entered"), holdout.get("held"), holdout.get("converted")) == (2, 3, 1), holdout)
    treated = [v for j in report["journeys"] if j["name"] == "abandoned-cart"
               for v in j["variants"] if v["name"] != "holdout"]
    check("nd-report: the variants are measured against it (difference, interval, p)",
          treated and all(v["vs_holdout"] and len(v["vs_holdout"]["ci"]) == 2 for v in treated)
          and sum(v["entered"] for v in treated) == 7, treated)   # G, W, Q, H, I, L, P
    skipped = report["counters"]["browse-abandoned"][""]["steps"]["viewed"]["-"]
    check("nd-report: the skipped browse notes (I's, P's) are counted (skipped:cap), behind the cart",
          skipped.get("skipped:cap") == 2 and skipped.get("cap-skipped-behind:abandoned-cart") == 2,
          skipped)
    lost = {j["name"]: {(r["step"], r["to"]): (r["deferred"], r["skipped"]) for r in j["lost_to"]}
            for j in report["journeys"]}
    check("nd-report: lost_to shows H's reminder deferred behind the browse note, and the notes "
          "skipped behind the cart", lost.get("abandoned-cart", {}).get(("reminder-1", "browse-abandoned"),
                                                                     (0, 0))[0] >= 1
          and lost.get("browse-abandoned", {}).get(("viewed", "abandoned-cart")) == (0, 2), lost)
    text = subprocess.run([os.path.join(BIN, "nd-report"), "-c", p.config, "--steps"],
                          capture_output=True, text=True).stdout
    check("nd-report prints a holdout line", "holdout" in text and "abandoned-cart" in text, text)
    feed.close()
    reader.close()
done()
