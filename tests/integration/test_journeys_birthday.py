#!/usr/bin/python3
"""The birthday journey, in event time, on the shipped conf/journeys and
conf/templates, with checkout-abandoned beside it for the cap.

A Python journal stands in for the segmenter and feeds the real scheduler
what it sends: profile.updated, and segment.entered / segment.exited
"birthday" at the person's local midnights, as the segmenter's clock does
(test_segmenter_birthday tests that side). Ticks move event time from T0,
Monday 2 March 2026, noon UTC; everyone's birthday is 3 March.

  B1  e-mail, Asia/Tokyo: enters at Tokyo midnight (+3 h), the greeting
      with a unique 15 % BDAY code valid 7 days at 10:00 Tokyo (+13 h).
      Entering again months later sends nothing; a year later, at 10:00
      Tokyo on the day, a new greeting with a new code.
  B2  SMS only, UTC: by SMS at 10:00 UTC (+22 h).
  B3  web push only, Europe/Warsaw: by push at 10:00 Warsaw (+21 h).
  B4  enters only at 11:00 on the day (the birthday became known late):
      nothing at 10:00 the next day, which is no longer their birthday.
  B5  a checkout reminder went out at 19:00 the evening before (and B5
      ordered at 20:00, which ends that journey): the cap (1/16h) holds
      the greeting until 11:00 (+23 h), still on the day.
  B8  as B5 without the order: when the cap frees at 11:00 the checkout's
      last call, of a higher priority, is due at 18:00 within the cap's
      window, so the greeting gives way (nudge-journey(5), PRIORITY) and,
      waiting past its 12 h max-delay, is not sent; the last call is.
  B6  a checkout reminder at 09:30 on the day: the cap would hold the
      greeting past the day, so it is skipped, not sent the day after.
  B7  orders at 08:00 on the day: the greeting still goes at 10:00.

Then each birthday template, every locale and part, is rendered with the
data of a real send order.
"""
from ndtest import Pipeline, check, done
from rendertest import render_templates
from schedtest import CART, iso, journeys_only, pipeline_extra, start_scheduler

B1, B2, B3, B4, B5, B6, B7, B8 = ("b-1", "b-2", "b-3", "b-4", "b-5", "b-6", "b-7", "b-8")
YEAR = 365 * 24

with Pipeline(clock="event", extra=pipeline_extra(journeys_only("birthday", "checkout-abandoned"))) as p:
    feed, reader, at = start_scheduler(p)

    def sends(user, journey="birthday"):
        return [s for s in reader.sends(user) if journey is None or s["journey"] == journey]

    def birthday(user, hours, entered=True):
        feed.send("segment.entered" if entered else "segment.exited", user, hours, visitor=user,
                  segment="birthday", segments=["birthday"] if entered else [], cause="clock")

    def greeting(user, hours, channel):
        """The one greeting of user, checked for time, channel, template and code."""
        got = sends(user)
        g = got[0] if len(got) == 1 else {}
        code = g.get("data", {}).get("code", {})
        ok = (g.get("time") == iso(hours) and g.get("channel") == channel
              and g.get("step") == "greeting" and g.get("template") == "birthday/greeting"
              and code.get("code", "").startswith("BDAY-") and code.get("percent") == 15
              and code.get("valid_hours") == 168)
        return (g if ok else None), got

    feed.profile(B1, 0, segments=(), tz="Asia/Tokyo")
    feed.profile(B2, 0, segments=(), email=False, phone=True)
    feed.profile(B3, 0, segments=(), email=False, push=True, tz="Europe/Warsaw")
    for user in (B4, B5, B6, B7, B8):
        feed.profile(user, 0, segments=())
    birthday(B1, 3)
    for user in (B5, B8):
        feed.send("checkout.abandoned", user, 6, cart=CART, session="s-" + user, funnel_step="payment",
                  segments=[])
    at(7)
    check("B5, B8: a checkout reminder at 19:00 the evening before",
          all([(s["journey"], s["time"]) for s in reader.sends(u)] == [("checkout-abandoned", iso(7))]
              for u in (B5, B8)), (reader.sends(B5), reader.sends(B8)))
    feed.order(B5, 8)
    birthday(B3, 11)
    for user in (B2, B5, B6, B7, B8):
        birthday(user, 12)
    at(12.9)
    check("nothing before 10:00 on the day", [s for s in reader.sends() if s["journey"] == "birthday"] == [],
          reader.sends())

    at(13)
    g1, got = greeting(B1, 13, "email")
    check("B1 (Asia/Tokyo): the greeting at 10:00 Tokyo time on the day, by e-mail, with a unique"
          " 15 % code valid 7 days", g1 is not None and g1["to"] == "b-1@example.com"
          and g1["data"]["first_name"] == "Ann" and g1["data"]["segment"] == "birthday", got)
    # 10:00 Tokyo + 7 days: the templates show Tokyo's wall clock, not UTC
    shown = g1 and g1["data"]["code"]
    check("the code's expiry as Tokyo time for the templates (expires_local, expires_date)",
          shown and shown["expires"].endswith("T01:00:00.000Z")
          and shown.get("expires_local", "").endswith(" 10:00")
          and shown["expires_local"][:10] == shown.get("expires_date"), shown)
    issued = [c for c in reader.topic("code.issued") if c["journey"] == "birthday"]
    check("the code is issued to the shop (code.issued)",
          [c["user"] for c in issued] == [B1] and g1 and issued[0]["code"] == g1["data"]["code"]["code"],
          issued)

    feed.order(B7, 20)
    feed.send("checkout.abandoned", B6, 20.5, cart=CART, session="s-b-6", funnel_step="payment",
              segments=["birthday"])
    at(21)
    g3, got = greeting(B3, 21, "push")
    check("B3 (Europe/Warsaw, push only): by web push at 10:00 Warsaw time",
          g3 is not None and g3["to"]["endpoint"] == "https://push.example/b-3", got)
    at(21.5)
    at(22)
    g2, got = greeting(B2, 22, "sms")
    check("B2 (UTC, SMS only): by SMS at 10:00", g2 is not None and g2["to"] == "+48600100200", got)
    g7, got = greeting(B7, 22, "email")
    check("B7: an order that morning does not cancel the greeting", g7 is not None, got)
    codes = {g["data"]["code"]["code"] for g in (g1, g2, g3, g7) if g}
    check("each greeting has a code of its own", len(codes) == 4, codes)
    check("B5: the cap holds the greeting (the reminder at 19:00 yesterday)", sends(B5) == [],
          sends(B5))
    birthday(B4, 23)
    at(23)
    g5, got = greeting(B5, 23, "email")
    check("B5: the greeting goes when the cap frees, at 11:00, still on the day", g5 is not None, got)
    check("B8: the greeting gives way to the checkout's last call, due at 18:00", sends(B8) == [],
          sends(B8))

    birthday(B1, 27, entered=False)
    for user in (B2, B4, B5, B6, B7, B8):
        birthday(user, 36, entered=False)
    birthday(B3, 35, entered=False)
    at(48)
    check("B8: no greeting (it would have taken the last call's slot); the last call went",
          sends(B8) == [] and [s["step"] for s in reader.sends(B8)] == ["reminder", "last-call"],
          [(s["journey"], s["step"], s["time"]) for s in reader.sends(B8)])
    check("B4: a birthday that began after 10:00 gets no greeting the day after",
          sends(B4) == [], sends(B4))
    check("B6: a reminder at 09:30 takes the day's slot; the greeting is skipped, not sent the"
          " day after", sends(B6) == [] and [(s["step"], s["time"]) for s in reader.sends(B6)][:1]
          == [("reminder", iso(21.5))], [(s["journey"], s["step"], s["time"]) for s in reader.sends(B6)])

    birthday(B1, 200)
    birthday(B1, 224, entered=False)
    at(240)
    check("B1: entering birthday again months later sends nothing (once a year)",
          len(sends(B1)) == 1, sends(B1))

    birthday(B1, YEAR + 3)
    at(YEAR + 12.9)
    check("a year later: nothing before 10:00 Tokyo", len(sends(B1)) == 1, sends(B1))
    at(YEAR + 13)
    again = sends(B1)
    check("a year later, at 10:00 Tokyo on the day: a new greeting with a new code",
          len(again) == 2 and again[1]["time"] == iso(YEAR + 13) and again[1]["channel"] == "email"
          and again[1]["data"]["code"]["code"].startswith("BDAY-")
          and again[1]["data"]["code"]["code"] != again[0]["data"]["code"]["code"], again)
    check("one greeting per person and birthday, nothing else",
          [len(sends(u)) for u in (B1, B2, B3, B4, B5, B6, B7, B8)] == [2, 1, 1, 0, 1, 0, 1, 0],
          [(s["user"], s["step"], s["time"]) for s in reader.sends()])

    data = {}
    for s in reader.sends():
        data.setdefault("%s/%s" % (s["journey"], s["step"]), s["data"])
    rendered, problems = render_templates(data, ("birthday",))
    check("its templates (%d parts: en, pl, ja; e-mail, SMS, push) render with a send order's data"
          % rendered, rendered == 21 and not problems, problems)

    feed.close()
    reader.close()

done()
