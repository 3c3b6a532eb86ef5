#!/usr/bin/python3
"""App push (FCM, APNs) beside Web Push: the app first, then the browser, then SMS.

The scheduler (fed by Python as the segmenter), the push-sender and the
sms-sender run as in production against local mocks: FCM's HTTP v1 API
with its OAuth 2 token endpoint and APNs, both HTTP/2 over TLS
(tests/e2e/app_push_mocks.js, which checks every JWT's signature and
claims and every header and field the APIs require), the Web Push service
(tests/e2e/push_service.js) and a Twilio-style SMS API.

  - a shopper with an FCM token gets the cart reminder in the app, and
    nothing on the web or by SMS;
  - one whose APNs token is Unregistered (410) gets it by web push; the
    token is fed back as gone, and the next push (another journey) goes
    to the browser without asking APNs again;
  - one whose FCM token is UNREGISTERED (404) and whose subscription is
    gone (410) gets it by SMS;
  - then kill -9 of the push-sender twice while it delivers 1000 app
    pushes: none lost, duplicates within the in-flight window.

Before that: push-sender --check refuses bad app options with file:line,
and collector + sessionizer take app tokens from an identify (through the
browser's key too) and from Segment's context.device.token.
"""
import os
import tempfile
import time

from apptest import AppPushMocks
from ndtest import ROOT, Pipeline, check, check_kills_in_flight, done
from schedtest import CART, Feed, Reader, journeys_only, scheduler_options, users_in
from sendtest import REMINDER, Orders, PushService, SmsProvider, until, vapid_keys

public, private = vapid_keys()
os.environ["ND_TEST_VAPID"] = private
os.environ["ND_TEST_SMS_TWILIO"] = SmsProvider.TOKEN
work = tempfile.mkdtemp(prefix="nd-apppush-")
mocks = AppPushMocks(work)
service = PushService()
sms = SmsProvider("twilio")
PUSH = {"input": "scheduler", "topics": "send.push", "vapid-key": "env:ND_TEST_VAPID",
        "vapid-subject": "mailto:ops@shop.example", "hosts": "127.0.0.1", "allow-http": "yes",
        "templates": os.path.join(ROOT, "conf", "templates")}
PUSH.update(mocks.options())
FCM1, FCM3 = "fcm-token-one:APA91b_x", "fcm-token-three:APA91b_y"
APNS2 = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"


TRAITS = {"firstName": "Ann", "lastName": "Lee"}


def abandon(feed, user, **more):
    """A cart left at hour 0 by a person with these traits (app tokens in
    traits.push, as an identify brings them) and no e-mail."""
    feed.send("cart.abandoned", user, 0, cart=CART, session="s-" + user,
              traits=dict(TRAITS, **more), segments=["came_to_buy"])


def journey():
    extra = {
        "feed": {}, "feedback": {}, "sink": {"input": "scheduler"},
        "scheduler": scheduler_options(input="feed, push-sender, sms-sender", cap="none",
                                       journeys=journeys_only("abandoned-cart", "browse-abandoned")),
        "push-sender": PUSH,
        "sms-sender": {"input": "scheduler", "topics": "send.sms", "provider": "twilio",
                       "api-base": sms.base, "account": SmsProvider.SID,
                       "secret": "env:ND_TEST_SMS_TWILIO", "from": "+15550001234",
                       "templates": os.path.join(ROOT, "conf", "templates")},
    }
    with Pipeline(clock="event", extra=extra) as p:
        for stage in ("scheduler", "push-sender", "sms-sender"):
            p.start(stage)
        feed, reader = Feed(p), Reader(p)
        u1, u2, u3 = users_in("abandoned-cart", "treated", 3)
        s2, s3 = service.subscribe("sub-2"), service.subscribe("sub-3")
        mocks.script("apns", APNS2, [410])
        mocks.script("fcm", FCM3, [404])
        service.script("sub-3", [410])
        abandon(feed, u1, push={"fcm": FCM1})
        abandon(feed, u2, push={"apns": APNS2}, push_subscription=s2)
        abandon(feed, u3, push={"fcm": FCM3}, push_subscription=s3, phone="+48600100200",
                sms_consent=True)
        feed.tick(1.0)
        feed.settle()
        until(lambda: sms.sent and service.counts().get("sub-2"), timeout=30,
              serve=lambda: feed.settle())
        reader.drain(p)

        fcm = mocks.received("fcm", FCM1)
        check("u1: FCM got the reminder once, over HTTP/2, with the template's title, body and "
              "link", len(fcm) == 1 and fcm[0]["version"] == "2.0"
              and fcm[0]["body"]["notification"] == {"title": REMINDER["title"], "body": REMINDER["body"]}
              and fcm[0]["body"]["data"].get("url") == REMINDER["url"]
              and fcm[0]["body"]["data"].get("journey") == "abandoned-cart", fcm)
        counts = mocks.counts()
        check("one OAuth 2 access token bought for every FCM push (cached)", counts["tokens"] == 1,
              counts)
        apns = mocks.received("apns", APNS2)
        check("u2: APNs was asked once (HTTP/2, topic, priority 5, collapse id) and said 410",
              [r["status"] for r in apns] == [410] and apns[0]["version"] == "2.0"
              and apns[0]["headers"]["topic"] == "com.shop.app"
              and apns[0]["headers"]["priority"] == "5"
              and apns[0]["headers"]["collapse"] == "abandoned-cart"
              and apns[0]["body"]["aps"]["alert"]["title"]
              and "Trail shoe" in apns[0]["body"]["aps"]["alert"]["body"], apns)
        check("u2: the browser got the reminder instead", service.counts().get("sub-2") == 1,
              service.received("sub-2"))
        check("u3: FCM said UNREGISTERED, the push service 410 for the subscription",
              [r["status"] for r in mocks.received("fcm", FCM3)] == [404]
              and [r["status"] for r in service.received("sub-3")] == [410])
        check("u3: then the SMS, the only text sent", len(sms.sent) == 1
              and sms.sent[0]["to"] == "+48600100200", sms.sent)
        sends = {u: [(s["step"], s["channel"], sorted(s["to"]) if s["channel"] == "push" else None)
                     for s in reader.sends(u)] for u in (u1, u2, u3)}
        check("the scheduler's orders: one push each (app tokens beside the subscription), "
              "then u3's SMS", sends == {
                  u1: [("reminder-1", "push", ["fcm"])],
                  u2: [("reminder-1", "push", ["apns", "endpoint", "keys"])],
                  u3: [("reminder-1", "push", ["endpoint", "fcm", "keys"]), ("reminder-1", "sms", None)]},
              sends)
        stats = p.control("scheduler")["scheduler"]["counts"]
        check("the scheduler heard delivered twice (app, web) and unreachable once",
              stats.get("feedback.delivered") == 3 and stats.get("feedback.unreachable") == 1, stats)
        check("the push-sender remembers the three gone addresses",
              p.control("push-sender")["push"]["dead_subscriptions"] == 3, p.control("push-sender"))
        check("STATS says FCM and APNs are configured",
              p.control("push-sender")["push"]["app"] == {"fcm": True, "apns": True})

        #  Another journey's push: u2's dead APNs token is no longer named
        feed.send("browse.abandoned", u2, 3.0, products=[
            {"product_id": "p-9", "name": "Rain jacket", "price": 120.0,
             "url": "https://shop.example/p/9"}], products_viewed=4,
            traits=dict(TRAITS, push={"apns": APNS2}, push_subscription=s2),
            segments=["just_looking"])
        feed.tick(6.0)
        feed.settle()
        until(lambda: service.counts().get("sub-2", 0) >= 2, timeout=10, serve=lambda: feed.settle())
        reader.drain(p)
        viewed = reader.sends(u2, "browse-abandoned")
        check("u2's next push goes to the browser alone: the gone token is not in \"to\"",
              len(viewed) == 1 and sorted(viewed[0]["to"]) == ["endpoint", "keys"]
              and service.counts().get("sub-2") == 2,
              ([s["journey"] for s in reader.sends(u2)], p.log("scheduler")[-1200:]))
        check("APNs was not asked again", len(mocks.received("apns", APNS2)) == 1)
        check("no mock saw a request break the APIs' rules (JWTs, headers, fields)",
              mocks.counts()["problems"] == [], mocks.counts()["problems"])
        feed.close()
        reader.close()


N = 1000
INFLIGHT = 50


def crash():
    options = dict(PUSH)
    options.update({"max-inflight": str(INFLIGHT), "batch": "50", "connections": "2"})
    bought = mocks.counts()["tokens"]
    with Pipeline(clock="event", sync=True, extra={"push-sender": options}) as p:
        orders = Orders(p)
        tokens = []
        for i in range(N):
            to = {"fcm": "fcm-crash-%d" % i} if i % 2 else {"apns": "%064x" % i}
            tokens.append(("fcm:" + to["fcm"]) if i % 2 else ("apns:" + to["apns"]))
            orders.order("push", to)
        p.start("push-sender")

        def delivered():
            counts = mocks.counts()
            return sum(v for k, v in counts.items() if k.startswith(("fcm:", "apns:")))

        marks = []
        for target in (N // 4, N // 2):
            deadline = time.time() + 60
            while delivered() < target and time.time() < deadline:
                orders.serve(0.05)
            p.kill("push-sender")
            marks.append(delivered())
            p.start("push-sender")
        deadline = time.time() + 120
        while time.time() < deadline:
            orders.serve(0.05)
            if p.control("push-sender")["outbox"]["delivered"] >= N:
                break
        counts = mocks.counts()
        lost = [t for t in tokens if counts.get(t, 0) == 0]
        duplicates = sum(counts.get(t, 0) - 1 for t in tokens if counts.get(t, 0) > 1)
        print("# killed -9 %d times; %d of %d app pushes delivered twice (in flight at a kill)"
              % (len(marks), duplicates, N))
        check_kills_in_flight("the push-sender (app pushes at FCM and APNs)", marks, 2, N)
        if not check("none lost: each of %d app pushes reached FCM or APNs" % N, not lost, lost[:5]):
            print(p.log("push-sender")[-3000:])
        check("duplicates at most the in-flight window per kill (%d <= %d)"
              % (duplicates, INFLIGHT * len(marks)), duplicates <= INFLIGHT * len(marks))
        check("each of the 3 starts bought one FCM access token, no more (%d)"
              % (counts["tokens"] - bought), counts["tokens"] - bought <= 3, counts["tokens"])
        orders.close()


def tokens_in():
    """Collector and sessionizer: app tokens from an identify (through the
    browser's public key too, as a web push subscription) and from a
    Segment mobile SDK's context.device.token."""
    from ndtest import JournalReader
    from shoptest import Shop
    with Pipeline(clock="event", extra={"watch": {"input": "sessionizer"}}) as p:
        p.start("collector")
        p.start("sessionizer")
        shop = Shop(p, (("collector", "sessionizer"),))
        watch = JournalReader(p, "sessionizer", "watch", 50000)

        def push(anon):
            watch.poll(0.3)
            found = None
            for _, t, body in watch.messages:
                if t == "profile.updated" and anon in body.get("anonymousIds", []):
                    found = (body["traits"].get("push"), body["contact"]["push"])
            return found

        shop.browser(shop.event("identify", 0, "a-app", traits={"push": {"fcm": FCM1}}))
        check("an FCM token through the browser's key is the person's (not a claim)",
              push("a-app") == ({"fcm": FCM1}, True), push("a-app"))
        shop.send(shop.event("identify", 1, "a-app", userId="u-app", traits={"firstName": "Ann"},
                             context={"device": {"type": "ios", "token": APNS2}}))
        check("Segment's context.device.token (ios) adds the APNs token beside it",
              push("a-app") == ({"fcm": FCM1, "apns": APNS2}, True), push("a-app"))
        shop.send(shop.event("identify", 2, "a-app", traits={"push": {"fcm": None}}))
        check("a null forgets one kind, the other stays", push("a-app") == ({"apns": APNS2}, True),
              push("a-app"))
        watch.close()


def check_config():
    """push-sender --check: the app options, each wrong one a file:line reason."""
    import subprocess
    from ndtest import BIN
    bad = {"fcm-key-file": os.path.join(work, "missing.json"), "apns-key-id": "short",
           "apns-key-file": mocks.p8, "apns-team-id": "DEF123GHIJ", "apns-topic": "com.shop.app"}
    with Pipeline(clock="event", extra={"feed": {}, "push-sender": dict(PUSH, input="feed", **bad)}) as p:
        r = subprocess.run([os.path.join(BIN, "push-sender"), "-c", p.config, "--check"],
                           capture_output=True, text=True)
        check("--check refuses a missing fcm-key-file and a bad apns-key-id: exit 78, file:line",
              r.returncode == 78 and "push-sender/fcm-key-file" in r.stderr
              and "push-sender/apns-key-id" in r.stderr, (r.returncode, r.stderr))
        check("and never prints a key", "PRIVATE KEY" not in r.stderr, r.stderr)
    with Pipeline(clock="event", extra={"feed": {}, "push-sender": dict(PUSH, input="feed")}) as p:
        r = subprocess.run([os.path.join(BIN, "push-sender"), "-c", p.config, "--check"],
                           capture_output=True, text=True)
        check("--check passes the mocks' options", r.returncode == 0, r.stderr)


try:
    t0 = time.time()
    check_config()
    tokens_in()
    journey()
    t1 = time.time()
    crash()
    print("# the journey took %.1f s, the crash %.1f s" % (t1 - t0, time.time() - t1))
finally:
    service.close()
    sms.close()
    mocks.close()
done()
