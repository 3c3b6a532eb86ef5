#!/usr/bin/python3
"""segmenter: the built-in group birthday flips by the clock, in the
person's own time zone, and comes back every year.

Real collector -> sessionizer -> segmenter in event time, the segmenter's
timezone option Europe/Warsaw. Identify calls give the traits at T0
(2026-05-16 09:00 UTC); ticks alone move time on, so every change here is
the clock's ("cause": "clock"), announced at the tick that passed it.

  tokyo   birthday 1990-05-17, timezone Asia/Tokyo: tomorrow there. Enters
          at Tokyo midnight (15:00 UTC the day before), exits 24 h later
          (across a kill -9 of the segmenter), enters again a year later.
  leap    birthday 2000-02-29, no zone: the stage's (Warsaw). 28 February
          in 2027, 29 February (not the 28th) in 2028.
  nobody  no birthday trait; bad    a birthday that is no date: never.
"""
import datetime

from ndtest import Pipeline, check, done
from segtest import Shop

T0 = datetime.datetime(2026, 5, 16, 9, 0, 0)


def ts(day, minutes=0):
    t = T0 + datetime.timedelta(days=day, minutes=minutes)
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def utc(text):
    return text + ".000Z"


with Pipeline(clock="event", extra={"segmenter": {"input": "sessionizer", "timezone": "Europe/Warsaw"},
                                     "watch": {"program": "relay", "input": "segmenter"}}) as p:
    for stage in ("collector", "sessionizer", "segmenter"):
        p.start(stage)
    p.start("watch", program="relay")
    s = Shop(p, ts)
    s.send(s.identify(0, 0, "a-tokyo", user="U-tokyo", firstName="Aiko",
                      birthday="1990-05-17", timezone="Asia/Tokyo"),
           s.identify(0, 1, "a-leap", user="U-leap", birthday="2000-02-29"),
           s.identify(0, 2, "a-nobody", user="U-nobody", email="n@example.com"),
           s.identify(0, 3, "a-bad", user="U-bad", birthday="17 May 1990"))
    tokyo, leap, nobody, bad = (s.visitor_of(a) for a in ("a-tokyo", "a-leap", "a-nobody", "a-bad"))
    check("four visitors", None not in (tokyo, leap, nobody, bad), (tokyo, leap, nobody, bad))
    profiles = [b for t, b in s.tap.messages if t == "profile.updated" and b["user"] == tokyo]
    check("the sessionizer keeps the birthday and timezone traits and the segmenter sees them",
          profiles and profiles[-1]["traits"].get("birthday") == "1990-05-17"
          and profiles[-1]["traits"].get("timezone") == "Asia/Tokyo", profiles)
    check("the day before, in Tokyo: not birthday", s.changes(tokyo, "birthday") == [])
    timers = p.control("segmenter").get("timers")

    s.tick(utc("2026-05-16T14:59:59"))
    check("a second before Tokyo midnight: not yet", s.changes(tokyo, "birthday") == [])
    s.tick(utc("2026-05-16T15:00:00"))
    entered = s.out("segment.entered", tokyo, "birthday")
    check("at Tokyo midnight (15:00 UTC), by the clock alone: birthday entered",
          s.changes(tokyo, "birthday") == ["entered"] and entered[0]["cause"] == "clock"
          and entered[0]["time"] == utc("2026-05-16T15:00:00")
          and "birthday" in entered[0]["segments"], entered)
    check("STATS: one member of birthday, the birthdays waiting in the timers",
          p.control("segmenter")["segments"].get("birthday") == 1 and timers >= 2,
          (p.control("segmenter"), timers))

    p.kill("segmenter")
    p.start("segmenter")
    s.tick(utc("2026-05-17T14:59:00"))
    check("all of their day in Tokyo (and a kill -9): still birthday",
          s.changes(tokyo, "birthday") == ["entered"])
    s.tick(utc("2026-05-17T15:00:00"))
    exited = s.out("segment.exited", tokyo, "birthday")
    check("24 h later, at the next Tokyo midnight: birthday exited",
          s.changes(tokyo, "birthday") == ["entered", "exited"]
          and exited[0]["time"] == utc("2026-05-17T15:00:00") and exited[0]["cause"] == "clock",
          exited)

    s.tick(utc("2027-02-27T22:59:00"))
    check("born on 29 February: not on 27 February", s.changes(leap, "birthday") == [])
    s.tick(utc("2027-02-27T23:00:00"))
    check("in 2027 (no 29th), on 28 February at Warsaw midnight (the stage's zone)",
          s.changes(leap, "birthday") == ["entered"], s.changes(leap, "birthday"))
    s.tick(utc("2027-02-28T23:00:00"))
    check("and out at the end of that day", s.changes(leap, "birthday") == ["entered", "exited"])

    s.tick(utc("2027-05-16T14:59:00"))
    check("a year on, before Tokyo midnight: not yet",
          s.changes(tokyo, "birthday") == ["entered", "exited"])
    s.tick(utc("2027-05-16T15:00:00"))
    check("a year later, at Tokyo midnight: birthday entered again",
          s.changes(tokyo, "birthday") == ["entered", "exited", "entered"],
          s.changes(tokyo, "birthday"))

    s.tick(utc("2028-02-27T23:00:00"))
    check("in 2028, a leap year: not on 28 February", s.changes(leap, "birthday") == ["entered", "exited"])
    s.tick(utc("2028-02-28T23:00:00"))
    check("but on 29 February", s.changes(leap, "birthday") == ["entered", "exited", "entered"],
          s.changes(leap, "birthday"))

    check("no birthday trait, or one that is no date: never birthday",
          s.changes(nobody, "birthday") == [] and s.changes(bad, "birthday") == [],
          (s.changes(nobody, "birthday"), s.changes(bad, "birthday")))
    stats = p.control("segmenter")
    check("STATS: birthday counts its one member (leap); nothing rejected",
          stats["segments"].get("birthday") == 1 and stats.get("rejected") == 0, stats)

with Pipeline(clock="event", extra={"segmenter": {"input": "sessionizer", "timezone": "Mars/Olympus"}}) as p:
    rc = p.refused("segmenter")
    check("a timezone option that is no zone stops the segmenter at start",
          rc == 78 and "segmenter/timezone: not a time zone" in p.log("segmenter"),
          p.log("segmenter")[-400:])
done()
