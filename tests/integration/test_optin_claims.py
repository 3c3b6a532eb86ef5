#!/usr/bin/python3
"""Double opt-in, the sessionizer's part: which browser traits become
claims (contact.claimed) and which merge. Collector and sessionizer, real
processes, event time; the sessionizer's journal read as a consumer.

  - email with email_consent true: claimed (the address in lower case),
    not in the profile, not in the forwarded event; the rest of the
    traits (firstName) merges. The same identify again: no claim.
  - email_consent false: no claim. A phone without sms_consent: no
    claim; with it: claimed.
  - context.traits of a browser page that starts a session: claimed, not
    merged.
  - an address the profile holds (a server key gave it): the browser's
    consent traits for it are ignored, nothing claimed; once the shop
    withdrew the consent, the browser's consent is a claim again.
  - the next day the same identify claims again (once a day, not once).

Browser events carry "via": "browser" in the body with the server key
until the collector stamps it itself (see test_optin).
"""

from ndtest import JournalReader, Pipeline, check, done
from shoptest import Shop

extra = {"watch": {"input": "sessionizer"}}

with Pipeline(clock="event", extra=extra) as p:
    p.start("collector")
    p.start("sessionizer")
    shop = Shop(p, (("collector", "sessionizer"),))
    watch = JournalReader(p, "sessionizer", "watch", 50000)

    def messages(topic):
        watch.poll(0.3)
        return [b for _, t, b in watch.messages if t == topic]

    def claims():
        return [(c["channel"], c["address"], c.get("anonymousId")) for c in messages("contact.claimed")]

    def traits(anon):
        found = {}
        for body in messages("profile.updated"):
            if anon in body.get("anonymousIds", []):
                found = body["traits"]
        return found

    ann = shop.event("identify", 0, "a-1", traits={"email": "Ann@Example.com", "email_consent": True,
                                                    "firstName": "Ann"})
    shop.browser(ann)
    check("a browser's e-mail with consent is claimed, in lower case",
          claims() == [("email", "ann@example.com", "a-1")], claims())
    check("the profile takes the other traits, not the address or its consent",
          traits("a-1") == {"firstName": "Ann"}, traits("a-1"))
    forwarded = [b for b in messages("event.identify") if b.get("anonymousId") == "a-1"]
    check("the forwarded identify carries no contact traits",
          forwarded and forwarded[0]["traits"] == {"firstName": "Ann"}, forwarded)
    shop.browser(dict(ann, messageId="again-1"))
    check("the same identify again the same day claims nothing more", len(claims()) == 1, claims())

    shop.browser(shop.event("identify", 1, "a-2", traits={"email": "no@example.com", "email_consent": False}),
            shop.event("identify", 1, "a-3", traits={"phone": "+48600100300"}),
            shop.event("identify", 2, "a-3", traits={"phone": "+48600100300", "sms_consent": True}),
            shop.event("page", 3, "a-4", name="Home", context={"traits": {"email": "ctx@example.com",
                                                                          "lastName": "Lee"}}))
    check("no claim against a consent set to false, nor for a phone without sms_consent; "
          "a phone with it and a page's context.traits are claimed",
          claims()[1:] == [("sms", "+48600100300", "a-3"), ("email", "ctx@example.com", "a-4")], claims())
    check("context.traits from a browser: the name merges, the address does not",
          traits("a-4") == {"lastName": "Lee"}, traits("a-4"))

    shop.send(shop.event("identify", 4, "a-5", userId="u-5", traits={"email": "five@example.com"}))
    shop.browser(shop.event("identify", 5, "a-5", userId="u-5", traits={"email": "five@example.com",
                                                                    "email_consent": True}),
            shop.event("identify", 6, "a-5", userId="u-5", traits={"email_consent": False}))
    check("an address the profile holds (server key): the browser's consent traits are ignored",
          len(claims()) == 3 and traits("a-5") == {"email": "five@example.com"},
          (claims(), traits("a-5")))
    shop.send(shop.event("identify", 7, "a-5", userId="u-5", traits={"email_consent": False}))
    shop.browser(shop.event("identify", 8, "a-5", userId="u-5", traits={"email": "five@example.com",
                                                                    "email_consent": True}))
    check("once the consent was withdrawn, the browser's consent is a claim again",
          claims()[3:] == [("email", "five@example.com", "a-5")]
          and traits("a-5") == {"email": "five@example.com", "email_consent": False},
          (claims(), traits("a-5")))

    shop.browser(dict(ann, messageId="next-day", timestamp=shop.event("page", 25 * 60, "x")["timestamp"]))
    check("the next day the same identify claims again", claims()[4:] == [("email", "ann@example.com", "a-1")],
          claims())
    stats = p.control("sessionizer")
    check("STATS counts the claims", stats.get("contacts_claimed") == 5, stats)
    check("no claimed address in the log", "example.com" not in p.log("sessionizer")
          and "+48600100300" not in p.log("sessionizer"), p.log("sessionizer")[-500:])
    watch.close()
done()
