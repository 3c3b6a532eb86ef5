#!/usr/bin/python3
"""Double opt-in, the scheduler's part: contact.claimed becomes one
confirmation, bounded. The real scheduler, fed by Python as the
segmenter and the senders, event time from T0 (a Monday noon UTC).

  - an e-mail claim: send.email, template confirm/email, to the claimed
    address, confirm_url <confirm-url>?t=TOKEN whose payload (checked with
    the secret, as the collector does) is "email\\na:<anonymousId>\\n
    <address>\\n<expiry>", 48 h on; key confirm/email/...; at 22:00, in
    quiet hours, it still goes at once.
  - an SMS claim: send.sms confirm/sms, a 6-digit code that is
    nd_token_code over "<anonymousId>\\n<phone>\\n<day>", not_after an hour
    later. A phone that is not E.164: nothing.
  - one per address per 24 h, whoever claims it; again after 24 h.
  - at most confirm-per-day (3) a person a day.
  - none to a person opted out of e-mail, or to their bounced address.
  - a bounce of a confirmation suppresses nothing of the claimant's: their
    own address still gets the cart reminder; confirmations count in no
    cap (the reminder goes after two of them).
  - without the secret: nothing sent, counted.
"""
import base64
import datetime
import hashlib
import hmac
import os

from ndtest import Pipeline, check, done
from schedtest import T0, iso, pipeline_extra, users_in, start_scheduler

SECRET_ENV = "ND_TEST_UNSUBSCRIBE_SECRET"
os.environ.setdefault(SECRET_ENV, "test-unsubscribe-secret-0123456789")
DAY = 86400


def mac(purpose, payload):
    return hmac.new(os.environ[SECRET_ENV].encode(), b"nudge-" + purpose.encode() + b"\0"
                    + payload.encode(), hashlib.sha256).digest()


def opened(token):
    """nd_token_open: the payload if the MAC holds, else None."""
    data, _, sig = token.partition(".")
    payload = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)).decode()
    good = base64.urlsafe_b64encode(mac("confirm", payload)).rstrip(b"=").decode()
    return payload if hmac.compare_digest(good, sig) else None


def code(payload):
    return "%06d" % (int.from_bytes(mac("sms-code", payload)[:8], "big") % 1000000)


def claim(feed, user, hours, channel, address, anon=None):
    feed.send("contact.claimed", user, hours, visitor=user, channel=channel, address=address,
              anonymousId=anon or "a-" + user)


CART_USER = users_in("abandoned-cart", "treated", 1, prefix="c-")[0]
extra = dict(pipeline_extra(**{"confirm-url": "https://shop.example/nudge/confirm"}),
             pipeline={"unsubscribe-secret": "env:" + SECRET_ENV})

with Pipeline(clock="event", extra=extra) as p:
    feed, reader, at = start_scheduler(p)

    def confirms(user=None):
        return [s for s in reader.sends(user) if s["journey"] == "confirm"]

    claim(feed, "v-1", 10, "email", "s@example.com")          # 22:00 UTC: quiet hours
    claim(feed, "v-1", 10, "sms", "+48600100200")
    claim(feed, "v-1", 10, "sms", "0048 600")
    at(10)
    got = confirms("v-1")
    mail = [s for s in got if s["channel"] == "email"]
    url = mail[0]["data"]["confirm_url"] if mail else ""
    payload = opened(url.split("?t=", 1)[1]) if "?t=" in url else None
    t58 = int((T0 + datetime.timedelta(hours=58)).timestamp())
    check("an e-mail claim: confirm/email to the claimed address at once, in quiet hours too",
          len(mail) == 1 and mail[0]["to"] == "s@example.com" and mail[0]["template"] == "confirm/email"
          and mail[0]["time"] == iso(10) and mail[0]["idempotency_key"].startswith("confirm/email/"), got)
    check("its link: confirm-url?t=TOKEN, signed for 'confirm', naming the anonymousId, the "
          "address and an expiry 48 h on",
          url.startswith("https://shop.example/nudge/confirm?t=")
          and payload == "email\na:a-v-1\ns@example.com\n%d" % t58, (url, payload))
    texts = [s for s in got if s["channel"] == "sms"]
    day = t58 // DAY - 2
    check("an SMS claim: confirm/sms with the 6-digit code of the anonymousId, phone and day; "
          "not_after an hour on; a phone not in E.164 gets nothing",
          len(texts) == 1 and texts[0]["to"] == "+48600100200" and texts[0]["template"] == "confirm/sms"
          and texts[0]["data"]["code"] == code("a-v-1\n+48600100200\n%d" % day)
          and texts[0]["not_after"] == iso(11), got)

    claim(feed, "v-2", 11, "email", "s@example.com")
    at(11)
    check("one per address per 24 h, whoever claims it", confirms("v-2") == [], confirms())
    claim(feed, "v-2", 34.5, "email", "s@example.com")
    at(34.5)
    check("after 24 h the address may get another", len(confirms("v-2")) == 1, confirms())

    for i in range(4):
        claim(feed, "v-3", 35, "email", "m%d@example.com" % i)
    at(35)
    check("at most confirm-per-day (3) a person a day",
          [s["to"] for s in confirms("v-3")] == ["m0@example.com", "m1@example.com", "m2@example.com"],
          confirms("v-3"))

    feed.send("feedback.unsubscribed", "v-4", 35, server=feed.back, channel="email", reason="test")
    at(35.2)
    claim(feed, "v-4", 35.5, "email", "four@example.com")
    at(35.5)
    check("none to a person opted out of e-mail", confirms("v-4") == [], confirms("v-4"))

    # The cart person, at 10:00 the next day: two confirmations to an address they claimed, one bounces
    feed.profile(CART_USER, 46, segments=("hesitating",))
    claim(feed, CART_USER, 46, "email", "typo@example.con")
    claim(feed, CART_USER, 46, "email", "typo2@example.com")
    at(46)
    bounced = confirms(CART_USER)[0]
    feed.feedback("bounced", bounced, 46.1)
    at(46.1)
    feed.abandon(CART_USER, 46.2)
    at(47.5)
    reminders = [s for s in reader.sends(CART_USER) if s["journey"] == "abandoned-cart"]
    check("a confirmation's bounce suppresses nothing of the claimant's, and confirmations count "
          "in no cap: their own address gets the cart reminder",
          len(confirms(CART_USER)) == 2 and len(reminders) == 1
          and reminders[0]["to"] == CART_USER + "@example.com", reader.sends(CART_USER))
    counts = p.control("scheduler")["scheduler"]["counts"]
    check("STATS counts the confirmations", counts.get("confirm-sent") == 8, counts)
    log = p.log("scheduler")
    check("the log masks addresses", "m3@example.com" not in log and "m***@example.com" in log,
          [line for line in log.splitlines() if "claimed" in line])
    feed.close()
    reader.close()

extra = pipeline_extra()
with Pipeline(clock="event", extra=extra) as p:
    feed, reader, at = start_scheduler(p)
    claim(feed, "v-1", 1, "email", "s@example.com")
    at(1)
    check("without unsubscribe-secret: no confirmation, and the start says so",
          reader.sends() == [] and "no unsubscribe-secret" in p.log("scheduler"), reader.sends())
    feed.close()
    reader.close()
done()
