#!/usr/bin/python3
"""nd-backtest's violation checks, on hand-made messages (no processes).

On the shipped configuration a correct replay has no violation, so the
replay tests alone would pass as well if a check could never fire. Here
each kind is made once on purpose, next to a message that is fine:

  - a cart reminder after the person ordered (the cart was abandoned
    before the order): after an order; one for a later cart is not;
  - an e-mail at 23:30 in Warsaw (21:30 UTC): quiet hours; 08:30 in New
    York is 12:30 UTC but still quiet there; noon UTC for a UTC person
    is not;
  - a second message within 16 h: over the cap "1/16h"; one that failed
    and fell back does not count;
  - an e-mail after email_consent false: opted out; an SMS is not;
  - feedback.failed "too late: ...": expired in a sender;
  - --compare's text: a B-A column only where the two differ, and the
    count of rows that do.
"""
# tests/run: not sanitized (Python alone: nd-backtest's checks on hand-made messages)
import contextlib
import io
import json
import sys

from ndtest import BIN, check, done

sys.path.insert(0, BIN)
from nd_backtest import Node, Report, Rules, print_compare  # noqa: E402


def rules():
    root = Node("root")
    scheduler = Node("scheduler")
    for name, value in (("journeys", "/nonexistent"), ("quiet-hours", "21:00-09:00"),
                        ("cap", "1/16h"), ("timezone", "UTC")):
        scheduler.set(name, value)
    root.children += [Node("pipeline"), Node("segmenter"), scheduler]
    r = Rules(root)
    cart = Node("journey")
    trigger = Node("trigger")
    trigger.set("topic", "cart.abandoned")
    cart.children.append(trigger)
    r.journeys["abandoned-cart"] = cart
    r.triggers = ["cart.abandoned"]
    return r


taken, n = [], 0


def msg(upstream, topic, user, time, **body):
    global n
    n += 1
    body.update(id="m-%d" % n, user=user, time=time)
    taken.append((upstream, topic, json.dumps(body).encode()))
    return body


def send(user, time, channel="email", journey="abandoned-cart", step="reminder-1", **more):
    return msg("scheduler", "send." + channel, user, time, journey=journey, step=step,
               channel=channel, variant="a", idempotency_key="%s/%d/%s/%s" % (journey, n, step, channel),
               **more)


def profile(user, time, **traits):
    msg("segmenter", "profile.updated", user, time, traits=traits)


# after an order
msg("segmenter", "cart.abandoned", "v-ord", "2026-10-01T10:00:00.000Z")
msg("segmenter", "order.completed", "v-ord", "2026-10-01T10:30:00.000Z")
late = send("v-ord", "2026-10-01T11:00:00.000Z")
msg("segmenter", "cart.abandoned", "v-ord", "2026-10-03T10:00:00.000Z")
send("v-ord", "2026-10-03T11:00:00.000Z")                  # a new cart, after the order
# quiet hours
profile("v-waw", "2026-10-01T00:00:00.000Z", timezone="Europe/Warsaw")
night = send("v-waw", "2026-10-01T21:30:00.000Z")
profile("v-ny", "2026-10-01T00:00:00.000Z", timezone="America/New_York")
morning = send("v-ny", "2026-10-01T12:30:00.000Z")
send("v-utc", "2026-10-01T12:00:00.000Z")
# caps
send("v-cap", "2026-10-05T10:00:00.000Z")
second = send("v-cap", "2026-10-05T20:00:00.000Z")
failed = send("v-fb", "2026-10-05T10:00:00.000Z")
msg("sms-sender", "feedback.failed", "v-fb", "2026-10-05T10:00:01.000Z",
    idempotency_key=failed["idempotency_key"], reason="invalid number")
send("v-fb", "2026-10-05T10:00:02.000Z", channel="sms", fallback_of=failed["idempotency_key"])
# opt-out
profile("v-out", "2026-10-06T00:00:00.000Z", email_consent=False)
opted = send("v-out", "2026-10-06T12:00:00.000Z")
send("v-out", "2026-10-07T12:00:00.000Z", channel="sms")
# expired
expired = send("v-exp", "2026-10-08T12:00:00.000Z")
msg("mail-sender", "feedback.failed", "v-exp", "2026-10-09T12:00:00.000Z",
    idempotency_key=expired["idempotency_key"], reason="too late: lifetime or not_after passed")

report = Report(rules(), taken, {"journeys": {}})
sections, orders = report.build()
found = sections["violations"]
keys = {kind: [s["idempotency_key"] for s in examples] for kind, examples in report.examples.items()}
check("a reminder after the order is found, the one for a later cart is not",
      keys["after an order"] == [late["idempotency_key"]], keys)
check("23:30 in Warsaw and 08:30 in New York are quiet hours; noon UTC is not",
      keys["in quiet hours"] == [morning["idempotency_key"], night["idempotency_key"]], keys)
check("a second message within 16 h is over the cap; a failed one that fell back is not counted",
      keys["over a cap"] == [second["idempotency_key"]], keys)
check("an e-mail after email_consent false is found; an SMS then is not",
      keys["to an opted-out person"] == [opted["idempotency_key"]], keys)
check("feedback.failed \"too late\" is an order expired in a sender",
      keys["expired in a sender"] == [expired["idempotency_key"]], keys)
check("the counts agree", found == {"after an order": 1, "in quiet hours": 2, "over a cap": 1,
                                    "to an opted-out person": 1, "expired in a sender": 1}, found)
check("the send orders, sorted by time, user, journey, step and channel",
      [o["time"] for o in orders] == sorted(o["time"] for o in orders) and len(orders) == 12
      and set(orders[0]) == {"time", "user", "journey", "step", "channel", "variant"}, orders[:2])


def compared(a, b):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        print_compare(a, b, "a.zpl", "b.zpl")
    return out.getvalue().splitlines()


changed = dict(sections, messages=dict(sections["messages"]))
key = sorted(changed["messages"])[0]
changed["messages"][key] += 2
lines = compared(sections, changed)
rows = [l for l in lines if l.startswith("  ") and len(l[62:].split()) == 3]
check("--compare: one row with B-A, and \"1 row differs\"",
      [(r[:62].strip(), r[62:].split()[2]) for r in rows] == [(key, "2")] and lines[-1] == "1 row differs",
      lines[-12:])
check("--compare of the same report: \"0 rows differ\", no B-A anywhere",
      compared(sections, sections)[-1] == "0 rows differ"
      and not [l for l in compared(sections, sections) if l.startswith("  ") and len(l[62:].split()) == 3],
      compared(sections, sections)[-5:])
done()
