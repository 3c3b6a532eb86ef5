#!/usr/bin/python3
"""segmenter: counters, built-in groups, rule segments and time, end to end.

Real collector -> sessionizer -> segmenter in event time. Events go in
through the Segment API with explicit timestamps and /v1/tick moves time
on, so a 90-day lapse runs in milliseconds. The segmenter's tap shows what
it passes on and the segment.entered / segment.exited it emits, as read
through a relay behind it (a durable link, so nothing is missed while the
segmenter is killed -9 once between orders; the counts it keeps must
survive that). Its STATS show the member counts.
"""
import collections
import datetime

from ndtest import Pipeline, check, done
from segtest import Shop

T0 = datetime.datetime(2026, 1, 1, 9, 0, 0)

RULES = """\
#   rule segments for this test
big_spender
    description = "spent 500 or more"
    match = "spend >= 500"

recent_big_spender
    match = "in segment big_spender"
    match = "days_since_last_order < 30"

full_cart
    match = "cart_value >= 100"
"""


def ts(day, minutes=0):
    t = T0 + datetime.timedelta(days=day, minutes=minutes)
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def order(s, day, anon, order_id, total):
    return s.track("Order Completed", day, 5, anon, order_id=order_id, total=total,
                   products=[{"product_id": "p-boots", "price": total, "quantity": 1}])


def boots(s, name, day, minute, anon):
    return s.track(name, day, minute, anon, product_id="p-boots", name="Boots",
                   price=120.0, category="shoes")


def customer_then_loyal(p, s):
    s.send(boots(s, "Product Viewed", 0, 0, "a-loyal"), boots(s, "Product Added", 0, 1, "a-loyal"))
    v = s.visitor_of("a-loyal")
    check("a cart of 120 enters the rule segment full_cart", s.changes(v, "full_cart") == ["entered"],
          s.changes(v, "full_cart"))
    s.send(order(s, 0, "a-loyal", "o-1", 200))
    check("the first order: customer entered", s.changes(v, "customer") == ["entered"])
    check("the emptied cart: full_cart exited", s.changes(v, "full_cart") == ["entered", "exited"])
    orders = s.out("order.completed", v)
    check("order.completed is passed on with segments that include customer",
          len(orders) == 1 and "customer" in orders[0]["segments"]
          and orders[0]["order_id"] == "o-1" and orders[0]["profile"]["orders"] == 1, orders)
    s.send(order(s, 1, "a-loyal", "o-2", 200))
    p.kill("segmenter")
    p.start("segmenter")
    s.send(order(s, 2, "a-loyal", "o-3", 200))
    check("the third order (after a kill -9): loyal entered once", s.changes(v, "loyal") == ["entered"],
          s.changes(v, "loyal"))
    check("customer was entered exactly once over three orders",
          s.changes(v, "customer") == ["entered"], s.changes(v, "customer"))
    check("spend 600: big_spender and recent_big_spender entered once",
          s.changes(v, "big_spender") == ["entered"]
          and s.changes(v, "recent_big_spender") == ["entered"])
    entered = s.out("segment.entered", v, "loyal")
    check("segment.entered carries id, user, visitor, time, segment",
          entered and entered[0]["visitor"] == v and entered[0]["time"] == ts(2, 5)
          and entered[0]["id"] and "loyal" in entered[0]["segments"], entered)
    return v


def session_groups(p, s):
    s.send(boots(s, "Product Viewed", 3, 0, "a-look"), boots(s, "Product Viewed", 3, 2, "a-look"))
    look = s.visitor_of("a-look")
    check("browsing, nothing added: just_looking", s.changes(look, "just_looking") == ["entered"])
    s.send(boots(s, "Product Viewed", 3, 10, "a-buy"), boots(s, "Product Added", 3, 11, "a-buy"))
    buy = s.visitor_of("a-buy")
    check("added on the second event: just_looking exited, came_to_buy entered",
          s.changes(buy, "just_looking") == ["entered", "exited"]
          and s.changes(buy, "came_to_buy") == ["entered"])
    for day in (3, 4, 5):   # the same boots in three sessions: two returns
        s.send(boots(s, "Product Viewed", day, 30, "a-hesitant"))
    hesitant = s.visitor_of("a-hesitant")
    check("the same product in a third session: hesitating",
          s.changes(hesitant, "hesitating") == ["entered"], s.changes(hesitant, "hesitating"))
    s.send(s.identify(3, 40, "a-sub", email="sub@example.com", email_consent=True))
    sub = s.visitor_of("a-sub")
    check("an e-mail with consent: new_subscriber", s.changes(sub, "new_subscriber") == ["entered"])
    return sub


def merged(p, s):
    """Two visitors found to be one person: the survivor takes the history."""
    s.send(order(s, 6, "a-phone", "o-p1", 50), s.identify(6, 10, "a-laptop", user="U-9"))
    phone, laptop = s.visitor_of("a-phone"), s.visitor_of("a-laptop")
    s.send(s.identify(6, 20, "a-phone", user="U-9"))
    merges = [b for t, b in s.tap.messages if t == "visitor.merged"]
    check("the sessionizer merged the phone's visitor into the laptop's",
          merges and merges[-1]["user"] == laptop and merges[-1]["merged"] == phone, merges)
    check("the merged-away visitor leaves customer; the survivor enters it",
          s.changes(phone, "customer") == ["entered", "exited"]
          and s.changes(laptop, "customer") == ["entered"],
          (s.changes(phone, "customer"), s.changes(laptop, "customer")))
    profile = merges[-1]["profile"] if merges else {}
    check("the survivor's profile took the order", profile.get("orders") == 1
          and profile.get("spend") == 50, profile)


def time_alone(p, s, loyal, sub):
    last_order = T0 + datetime.timedelta(days=2, minutes=5)

    def at(days, minutes=0):
        return (last_order + datetime.timedelta(days=days, minutes=minutes)).strftime(
            "%Y-%m-%dT%H:%M:%S.000Z")

    s.tick(at(30, -1))
    check("29 days 23 h after the last order: still recent_big_spender",
          s.changes(loyal, "recent_big_spender") == ["entered"])
    s.tick(at(30))
    exited = s.out("segment.exited", loyal, "recent_big_spender")
    check("30 days after it, by a tick alone: recent_big_spender exited",
          s.changes(loyal, "recent_big_spender") == ["entered", "exited"]
          and exited and exited[0]["cause"] == "clock" and exited[0]["time"] == at(30), exited)
    s.tick(ts(33, 41))
    check("30 days after subscribing: new_subscriber exited",
          s.changes(sub, "new_subscriber") == ["entered", "exited"])
    s.tick(at(90, -1))
    check("a minute before 90 days: not lapsed", s.changes(loyal, "lapsed") == [])
    s.tick(at(90))
    lapsed = s.out("segment.entered", loyal, "lapsed")
    check("90 days after the last order, with no event from them: lapsed entered",
          s.changes(loyal, "lapsed") == ["entered"] and lapsed[0]["cause"] == "clock"
          and lapsed[0]["time"] == at(90), lapsed)
    check("still loyal and customer while lapsed",
          "loyal" in lapsed[0]["segments"] and "customer" in lapsed[0]["segments"], lapsed)


def passed_on(p, s):
    received = [(t, b) for t, b in s.upstream.messages if t != "tick"]
    passed = [(t, b) for t, b in s.tap.messages if not t.startswith("segment.") and t != "tick"]
    upstream = {b["id"]: (t, b) for t, b in received}
    mine = {b["id"]: (t, b) for t, b in passed}
    # counted, not compared as sets: a message passed on twice must fail
    times = collections.Counter(b["id"] for _, b in passed)
    check("every sessionizer message was passed on, once each (%d)" % len(received),
          times == collections.Counter(b["id"] for _, b in received) and set(times.values()) == {1},
          (len(received), len(passed), times.most_common(2)))
    same = all(mine[i][0] == t and all(mine[i][1].get(k) == v for k, v in b.items())
               for i, (t, b) in upstream.items() if i in mine)
    check("same topic, same body fields", same)
    check("every passed-on message carries a segments list and profile counters",
          all(isinstance(b.get("segments"), list) and "visits" in b.get("profile", {})
              for t, b in mine.values()))
    ticks = [b for t, b in s.tap.messages if t == "tick"]
    check("ticks are passed on", len(ticks) >= 5, len(ticks))


with Pipeline(clock="event", extra={"segmenter": {"input": "sessionizer",
                                                   "segments": "segments.zpl"},
                                     "watch": {"program": "relay", "input": "segmenter"}}) as p:
    with open(p.dir + "/segments.zpl", "w") as f:
        f.write(RULES)
    for stage in ("collector", "sessionizer", "segmenter"):
        p.start(stage)
    p.start("watch", program="relay")
    s = Shop(p, ts)
    loyal = customer_then_loyal(p, s)
    sub = session_groups(p, s)
    merged(p, s)
    time_alone(p, s, loyal, sub)
    passed_on(p, s)
    stats = p.control("segmenter")
    seg = stats.get("segments", {})
    check("STATS: 6 profiles, member counts per segment",
          stats.get("profiles") == 6 and seg.get("customer") == 2 and seg.get("loyal") == 1
          and seg.get("lapsed") == 1 and seg.get("big_spender") == 1
          and seg.get("recent_big_spender") == 0 and seg.get("new_subscriber") == 0
          and seg.get("hesitating") == 1 and seg.get("full_cart") == 1
          and seg.get("just_looking") == 2 and seg.get("came_to_buy") == 1, stats)
    check("nothing rejected", stats.get("rejected") == 0, stats)
done()
