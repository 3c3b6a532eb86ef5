#!/usr/bin/python3
"""chat-bridge: no stored contact to the browser, no chat in another's name.

Real processes: collector -> sessionizer -> segmenter -> chat-bridge ->
mail-sender (Maildir). Nobody is online ("hours = never"), so every
question goes to support by e-mail. The shop knows Ewa (u-ewa, a-ewa,
ewa@example.com, a cart) and Bo (a-bo, no address).

  An attacker who sends Ewa's anonymousId (the issue's reproduction) is
  not told her address: asked for one, as anyone unknown; the answer,
  the long poll and the event stream never hold it; the address the
  attacker types is the support mail's Reply-To (not Ewa's, not her
  name), and the mail's summary says "Unverified visitor";
  Ewa's userId with a wrong userHash, or with none, is no better;
  an address typed in Bo's name by someone unverified is not kept for
  Bo: the real Bo, later, is asked again;
  Ewa herself, with the userHash the shop's server made
  (HMAC-SHA256 (identity-secret, userId), hex), is answered at her
  stored address: the mail's Reply-To is Ewa Nowak <ewa@example.com>,
  and she is told "the address we have for you", still without it;
  an address Ewa types herself is said back to her;
  operators see the unverified summary marked; no log line holds an
  address, a userHash or the secret;
  an identity-secret written into the pipeline file, or shorter than 16
  characters, and a cap that is not N/PERIOD stop the start.
"""
import os

from ndtest import Pipeline, check, done, free_port, wait_for
from chattest import IDENTITY_SECRET, Shop, Widget, pipeline_extra, start_with_mail, user_hash
from mailtest import maildir_mails as mails

port = free_port()
extra = pipeline_extra(port, hours="never")
EWA = "ewa@example.com"


def body(message):
    return message.get_body(("plain",)).get_content()


with Pipeline(clock="event", extra=extra) as p:
    maildir = start_with_mail(p, extra)
    shop = Shop(p)
    shop.send(shop.event("identify", 0, "a-ewa", userId="u-ewa", traits={
                  "email": EWA, "firstName": "Ewa", "lastName": "Nowak"}),
              shop.add(1, "a-ewa", "Rain jacket", "p-jacket", 89.0),
              shop.event("page", 2, "a-bo", name="Home"))

    # The reproduction: Ewa's anonymousId from someone else's browser
    mallory = Widget(port, "a-ewa")
    status, answer = mallory.say("What is my e-mail address?")
    events = mallory.stream()
    wait_for(lambda: any(e[0] == "line" and e[1]["from"] == "system" for e in events), timeout=10)
    lines = mallory.lines()
    check("an unverified chat in Ewa's anonymousId is asked for an address, as anyone unknown",
          status == 200 and answer.get("state") == "ask-email" and lines
          and lines[-1]["from"] == "system" and "e-mail address" in lines[-1]["text"], (answer, lines))
    check("no answer, long poll or event stream line holds her address",
          not any(EWA in r for r in mallory.raw), mallory.raw)
    mallory.say(email="mallory@evil.example")
    lines = mallory.lines()
    check("the address typed in this chat is said back (it is the typer's own)",
          lines and "mallory@evil.example" in lines[-1]["text"] and EWA not in str(lines), lines)
    wait_for(lambda: len(mails(maildir)) >= 1, timeout=20)
    first = next((m for m in mails(maildir) if "e-mail address" in str(m["Subject"])), None)
    check("support's mail is Reply-To the typed address, not Ewa, and not in her name",
          first is not None and first["Reply-To"].addresses[0].addr_spec == "mallory@evil.example"
          and "Ewa" not in str(first["Reply-To"]) and "Ewa" not in str(first["Subject"]),
          first and (str(first["Reply-To"]), str(first["Subject"])))
    check("and its summary is marked: an unverified visitor",
          first is not None and "Unverified visitor" in body(first) and EWA not in body(first),
          first and body(first))

    # Her userId with a wrong hash, or none: no better
    for label, hash_ in (("a wrong userHash", user_hash("u-ewa", "not-the-secret")),
                         ("no userHash", None)):
        w = Widget(port, "a-x-" + label[:3], user_id="u-ewa", user_hash=hash_)
        status, answer = w.say("Where is my order?")
        check("Ewa's userId with %s is asked for an address" % label,
              status == 200 and answer.get("state") == "ask-email"
              and not any(EWA in r for r in w.raw), (status, answer, w.raw))
        w.end()
    stats = p.control("chat-bridge")["chat"]
    check("STATS counts the wrong hash", stats.get("wrong_hash_since_start") == 1, stats)

    # Someone types an address in Bo's name: not kept for Bo
    planter = Widget(port, "a-bo")
    planter.say("Hi", email="planted@evil.example")
    wait_for(lambda: len(mails(maildir)) >= 2, timeout=20)
    bo = Widget(port, "a-bo", user_id="u-bo", user_hash=user_hash("u-bo"))
    shop.send(shop.event("identify", 3, "a-bo", userId="u-bo", traits={"firstName": "Bo"}))
    status, answer = bo.say("Do you ship to Norway?")
    check("an address typed by someone unverified is not kept: the real Bo is asked for his",
          answer.get("state") == "ask-email" and not any("planted" in r for r in bo.raw),
          (answer, bo.raw))

    # Ewa herself, with the hash the shop's server made
    ewa = Widget(port, "a-ewa", user_id="u-ewa", user_hash=user_hash("u-ewa").upper())
    status, answer = ewa.say("Is the rain jacket waterproof?")
    lines = ewa.lines()
    check("Ewa, verified, is answered at the address the shop has: told so without it",
          status == 200 and answer.get("state") == "ended" and lines
          and lines[-1]["text"] == "Nobody is online right now. We will answer by e-mail at the "
                                   "address we have for you.", (answer, lines))
    check("nothing Ewa's browser got holds her address", not any(EWA in r for r in ewa.raw), ewa.raw)
    wait_for(lambda: len(mails(maildir)) >= 3, timeout=20)
    third = next((m for m in mails(maildir) if "rain jacket" in str(m["Subject"])), None)
    reply = third["Reply-To"].addresses[0] if third is not None else None
    check("support's mail: Reply-To Ewa Nowak <ewa@example.com>, her cart, not marked unverified",
          reply is not None and (reply.display_name, reply.addr_spec) == ("Ewa Nowak", EWA)
          and "Cart: Rain jacket x1 (89.00 EUR)" in body(third)
          and "Unverified" not in body(third), third and (str(third["Reply-To"]), body(third)))

    ewa2 = Widget(port, "a-ewa", user_id="u-ewa", user_hash=user_hash("u-ewa"))
    ewa2.say("Another question", email="ewa.work@example.com")
    lines = ewa2.lines()
    check("an address Ewa types herself is said back to her",
          lines and "ewa.work@example.com" in lines[-1]["text"] and EWA not in str(ewa2.raw), lines)

    log = p.log("chat-bridge")
    check("the log: no address, no userHash, no secret; verified and unverified said",
          EWA not in log and "mallory@evil.example" not in log and user_hash("u-ewa") not in log
          and IDENTITY_SECRET not in log and "(verified)" in log and "userHash does not match" in log,
          log[-2000:])

# A secret written into the pipeline file, a short one, a rate that does not parse: refused
os.environ["ND_TEST_SHORT_SECRET"] = "short"
for label, opts, says in (
        ("a literal identity-secret", {"identity-secret": IDENTITY_SECRET}, "never the secret itself"),
        ("a short identity-secret", {"identity-secret": "env:ND_TEST_SHORT_SECRET"}, "at least 16"),
        ("a rate that is not N/PERIOD", {"max-conversations": "200"}, "want N/PERIOD")):
    with Pipeline(clock="event", extra=pipeline_extra(port, **opts)) as p:
        rc = p.refused("chat-bridge")
        check("%s stops the start (78, file:line: reason)" % label,
              rc == 78 and says in p.log("chat-bridge") and IDENTITY_SECRET not in p.log("chat-bridge"),
              (rc, p.log("chat-bridge")[-500:]))
done()
