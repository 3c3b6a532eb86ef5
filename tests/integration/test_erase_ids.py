#!/usr/bin/python3
"""An erasure takes every id that led to the person, however many.

A profile lists only a person's latest 50 anonymousIds (PROFILE_IDS_MAX);
the ids table keeps every one. Real collector and sessionizer, event
clock: Ewa logs in (userId u-ewa) from 55 browsers, one after another,
and is erased (POST /v1/erase, a server key, as nd-person --erase does).
Afterwards:

  - an event from her first browser, whose id the profile had pushed
    out, starts a new, unknown visitor: it is not her erased visitor id
    again;
  - so does one from her last browser, and one with her userId;
  - the sessionizer counts one visitor erased.
"""
import os
import subprocess

from ndtest import BIN, Pipeline, check, done
from shoptest import Shop

BROWSERS = 55
CHAIN = (("collector", "sessionizer"),)


def nd_person(p, *args):
    r = subprocess.run([os.path.join(BIN, "nd-person"), "-c", p.config] + list(args),
                       capture_output=True, text=True, timeout=30, cwd=p.dir)
    return r.returncode, r.stdout, r.stderr


def users(tap, event):
    """The visitor ids the sessionizer gave the events named event."""
    return [body["user"] for topic, body in tap.collect(
        lambda m: any(b.get("event") == event for _, b in m), 10)
            if body.get("event") == event]


with Pipeline(clock="event") as p:
    for stage in ("collector", "sessionizer"):
        p.start(stage)
    shop = Shop(p, CHAIN)
    tap = p.tap("sessionizer", "event.")
    shop.send(*[shop.event("identify", i, "a-ewa-%02d" % i, userId="u-ewa") for i in range(BROWSERS)])
    shop.send(shop.event("track", BROWSERS, "a-ewa-00", event="Before", properties={}))
    shop.settle()
    ewa = users(tap, "Before")
    check("her %d browsers are one visitor, found by her first anonymousId" % BROWSERS,
          len(ewa) == 1 and nd_person(p, "--json", "a-ewa-00")[0] == 0, ewa)
    status, answer = p.post("/v1/erase", {"visitor": ewa[0] if ewa else "v-1"})
    shop.settle()
    check("the erasure is accepted", status == 200, (status, answer))
    tap.messages.clear()
    for anon, user, name in (("a-ewa-00", None, "First"), ("a-ewa-%02d" % (BROWSERS - 1), None, "Last"),
                             ("a-new", "u-ewa", "Login")):
        fields = {"userId": user} if user else {}
        shop.send(shop.event("track", BROWSERS + 10, anon, event=name, properties={}, **fields))
        shop.settle()
        after = users(tap, name)
        check("after: an event from %s (%s) is a new visitor, not her erased %s"
              % (anon, name.lower(), ewa[0] if ewa else "?"),
              len(after) == 1 and ewa and after[0] != ewa[0], (after, ewa))
    stats = p.control("sessionizer")
    check("the sessionizer counts one visitor erased", stats.get("visitors_erased") == 1, stats)
    tap.close()
done()
