#!/usr/bin/python3
"""scheduler: the senders' feedback - fallback once, opt-outs, suppression.

Two Python journals stand in for the segmenter ("feed") and for the
senders ("feedback": input = "feed, feedback"). Shipped journeys, event time.

  M (push, e-mail): the +1 h reminder goes by push; feedback.unreachable
    for it makes the same step go by e-mail (SMS does not reach M), once:
    a repeated unreachable, and a bounce of the e-mail, send nothing more;
    the bounce suppresses the address, so the +24 h reminder (e-mail, else
    SMS) is not sent at all;
  N (push, SMS, e-mail): feedback.failed for the push makes it go by SMS;
    delivered and clicked for the SMS are counted;
  O (e-mail): unsubscribes after the first reminder: no second;
  P (SMS, e-mail): a STOP (feedback.unsubscribed, channel sms, no key)
    before anything was sent: the reminder goes by e-mail;
  R (push, e-mail): the push fails at 21:12, in quiet hours: the e-mail
    fallback waits for 09:00, under its own durable timer;
  S1 leaves a cart and sends STOP, then turns out to be S2 (visitor.merged,
    as when they log in): the journey and the opt-out follow the person,
    so the reminder goes to S2, by e-mail, not SMS;
  T (SMS only): STOP, then START (feedback.resubscribed, channel sms):
    the reminder goes by SMS.
"""
import json
import os
import subprocess

from ndtest import BIN, Pipeline, check, done
from schedtest import iso, pipeline_extra, users_in, start_scheduler

with Pipeline(clock="event", extra=pipeline_extra()) as p:
    feed, reader, at = start_scheduler(p)
    M, N, O, P, R, S1, S2, T = users_in("abandoned-cart", "treated", 8)

    def sends(user, step=None):
        return reader.sends(user, step=step)

    feed.abandon(M, 0, push=True)
    feed.abandon(N, 0, push=True, phone=True)
    feed.abandon(O, 0)
    feed.abandon(P, 0, phone=True)
    feed.abandon(S1, 0, phone=True)
    feed.send("feedback.unsubscribed", S1, 0.2, server=feed.back, channel="sms", reason="STOP")
    feed.abandon(T, 0, email=False, phone=True)
    feed.send("feedback.unsubscribed", T, 0.2, server=feed.back, channel="sms", reason="STOP")
    feed.send("feedback.resubscribed", T, 0.4, server=feed.back, channel="sms", reason="START")
    feed.send("feedback.unsubscribed", P, 0.5, server=feed.back, channel="sms", reason="STOP")
    feed.settle()
    #  The clock past S1's STOP before the merge comes: feedback is applied
    #  when the clock reaches it, so without this the STOP could reach the
    #  scheduler after the merge (a race the test had, not the scheduler)
    feed.tick(0.45)
    feed.settle()
    feed.send("visitor.merged", S2, 0.5, merged=S1)
    feed.profile(S2, 0.5, phone=True)
    at(1.0)
    check("after the merge S2 gets S1's reminder, by e-mail: the STOP followed",
          sends(S1) == [] and [(s["channel"], s["to"]) for s in sends(S2)]
          == [("email", S2 + "@example.com")], (sends(S1), sends(S2)))
    m_push, n_push = sends(M)[0], sends(N)[0]
    check("M and N get the first reminder by push", m_push["channel"] == "push" == n_push["channel"],
          (sends(M), sends(N)))
    check("P, who sent STOP, gets it by e-mail", [s["channel"] for s in sends(P)] == ["email"], sends(P))
    check("T, who sent STOP then START, gets it by SMS", [s["channel"] for s in sends(T)] == ["sms"],
          sends(T))

    feed.feedback("unreachable", m_push, 1.05, reason="410 Gone")
    feed.feedback("failed", n_push, 1.05, reason="503 after 5 tries")
    at(1.1)
    m_now, n_now = sends(M, "reminder-1"), sends(N, "reminder-1")
    check("M's step falls back to e-mail (SMS does not reach M)",
          [s["channel"] for s in m_now] == ["push", "email"], m_now)
    check("the fallback names the failed send order and has its own key",
          m_now[-1].get("fallback_of") == m_push["idempotency_key"]
          and m_now[-1]["idempotency_key"].endswith("/reminder-1/email"), m_now[-1])
    check("N's step falls back to SMS", [s["channel"] for s in n_now] == ["push", "sms"], n_now)

    feed.feedback("unreachable", m_push, 1.2)          # the same failure, told twice
    feed.feedback("bounced", m_now[-1], 1.2, reason="550 no such user")
    feed.feedback("delivered", n_now[-1], 1.2)
    feed.feedback("clicked", n_now[-1], 1.3)
    feed.feedback("unsubscribed", sends(O)[0], 2.0, reason="one-click")
    at(2.0)
    check("once: a repeated failure and a failed fallback send nothing more",
          len(sends(M, "reminder-1")) == 2, sends(M))

    feed.abandon(R, 7.0, push=True)
    at(8.0)
    r_push = sends(R)
    check("R's reminder by push at 20:00", [s["channel"] for s in r_push] == ["push"], r_push)
    feed.feedback("unreachable", r_push[0], 9.2)
    at(9.2)
    check("R's fallback does not go at 21:12", len(sends(R)) == 1, sends(R))
    at(20.99)
    check("nor during the night", len(sends(R)) == 1, sends(R))
    at(21.0)
    check("R's fallback goes by e-mail at 09:00", [(s["channel"], s["time"]) for s in sends(R)]
          == [("push", iso(8)), ("email", iso(21))], sends(R))

    at(24.0)
    check("M's address bounced and push is gone: no second reminder", sends(M, "reminder-2") == [],
          sends(M))
    check("O unsubscribed from e-mail: no second reminder", sends(O, "reminder-2") == [], sends(O))
    check("N's second reminder goes by e-mail", [s["channel"] for s in sends(N, "reminder-2")] == ["email"],
          sends(N))

    out = subprocess.run([os.path.join(BIN, "nd-report"), "-c", p.config, "--json"],
                         capture_output=True, text=True)
    report = json.loads(out.stdout)
    steps = {}
    for name, v in report["counters"]["abandoned-cart"].items():
        for step, channels in v.get("steps", {}).items():
            for channel, metrics in channels.items():
                for metric, n in metrics.items():
                    key = (step, channel, metric)
                    steps[key] = steps.get(key, 0) + n
    check("nd-report counts the feedback per step and channel",
          steps.get(("reminder-1", "sms", "delivered")) == 1
          and steps.get(("reminder-1", "sms", "clicked")) == 1
          and steps.get(("reminder-1", "push", "unreachable")) == 3
          and steps.get(("reminder-1", "push", "failed")) == 1
          and steps.get(("reminder-1", "email", "bounced")) == 1
          and steps.get(("reminder-2", "-", "skipped:unreachable")) == 2, steps)
    totals = p.control("scheduler")["scheduler"]["counts"]
    check("STATS counts feedback by kind", totals["feedback.unreachable"] == 3
          and totals["feedback.unsubscribed"] == 4 and totals["feedback.resubscribed"] == 1
          and totals["feedback.clicked"] == 1, totals)
    feed.close()
    reader.close()
done()
