#!/usr/bin/python3
"""scheduler: the shipped abandoned-cart split gives the shares it says.

conf/journeys/abandoned-cart.zpl holds 5 % out (the holdout) and splits the
rest 50/50 between variants a and b. 10 000 people leave a cart; nd-report
then counts who entered each group. Each share must lie within 4.5
standard deviations of a binomial with the configured probability: a
holdout of 7 % instead of 5 %, or weights of 45/50 instead of 50/50,
fail (tried); a correct assignment fails for about one set of names in
150 000 (the names are fixed, so the outcome is too). The counts come
from the scheduler alone: the test does not know how it assigns people.
"""
import json
import math
import os
import subprocess

from ndtest import BIN, Pipeline, check, done
from schedtest import Feed, journeys_only, pipeline_extra

PEOPLE = 10000
HOLDOUT = 0.05
SIGMAS = 4.5


def within(name, observed, trials, share):
    """observed successes of trials fit Binomial(trials, share)?"""
    mean, sd = trials * share, math.sqrt(trials * share * (1 - share))
    return check("%s: %d of %d, expected %.0f +- %.0f (%.1f sd)"
                 % (name, observed, trials, mean, SIGMAS * sd, SIGMAS),
                 abs(observed - mean) <= SIGMAS * sd, (observed, mean, sd))


with Pipeline(clock="event", extra=pipeline_extra(journeys_only("abandoned-cart"))) as p:
    p.start("scheduler")
    feed = Feed(p)
    for n in range(1, PEOPLE + 1):
        feed.abandon("shopper-%d" % n, 0)
    feed.settle(timeout=120)
    out = subprocess.run([os.path.join(BIN, "nd-report"), "-c", p.config, "--json"],
                         capture_output=True, text=True, timeout=60)
    cart = json.loads(out.stdout)["counters"]["abandoned-cart"]
    entered = {group: cart.get(group, {}).get("group", {}).get("entered", 0)
               for group in ("holdout", "a", "b")}
    check("every one of the %d entered one group" % PEOPLE,
          sum(entered.values()) == PEOPLE and set(cart) == set(entered), (entered, sorted(cart)))
    within("holdout share 5 %", entered["holdout"], PEOPLE, HOLDOUT)
    treated = entered["a"] + entered["b"]
    within("variant a, of those not held out, 50 %", entered["a"], treated, 0.5)
    feed.close()
done()
