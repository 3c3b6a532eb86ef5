#!/usr/bin/python3
"""chat-bridge: nobody online - the answer comes by e-mail.

Real processes: collector -> sessionizer -> segmenter -> chat-bridge ->
mail-sender -> a real SMTP server (aiosmtpd). Business hours are
mon-fri 09:00-17:00 in Warsaw; the shop's events put the clock at 21:00
there, on a Monday.

  Ewa, whose profile has her address, asks a question from a page that
  signed her userId (userHash): she is told the answer comes by e-mail
  at the address the shop has for her (never the address itself), the
  conversation ends, and the question arrives at support@shop.example with Reply-To: Ewa
  <ewa@example.com>, its text and her summary in the body;
  Bo, whom the shop knows no address of, is asked for one; he asks a
  second thing, then gives it: one message reaches support with both
  questions, Reply-To bo@example.org;
  a marketing unsubscribe of Ewa's does not hold back her question, and
  the mail-sender adds no List-Unsubscribe to mail written for the shop.
"""
import email
import email.policy
import os
import tempfile

from ndtest import Pipeline, check, done, free_port, wait_for
from chattest import Shop, Widget, chat_events, pipeline_extra, user_hash
from mailtest import mail_options
from smtpd import SmtpServer

OFF_HOURS = 8 * 60          # 20:00 UTC, 21:00 in Warsaw

workdir = tempfile.mkdtemp(prefix="nd-chat-smtp-")
smtp = SmtpServer(workdir, tls=None).start()
port = free_port()
extra = pipeline_extra(port, hours="mon-fri 09:00-17:00")
extra["mail-sender"] = mail_options(relay="127.0.0.1:%d" % smtp.port, tls="none", auth=False,
                                    input="chat-bridge", topics="send.email")


def parse(data):
    return email.message_from_bytes(data, policy=email.policy.default)


with Pipeline(clock="event", extra=extra) as p:
    for stage in ("collector", "sessionizer", "segmenter", "chat-bridge", "mail-sender"):
        p.start(stage)
    tap = p.tap("chat-bridge", "chat.")
    shop = Shop(p)
    shop.send(shop.event("identify", OFF_HOURS - 5, "a-ewa", userId="u-ewa", traits={
                  "email": "ewa@example.com", "firstName": "Ewa", "lastName": "Nowak"}),
              shop.add(OFF_HOURS - 4, "a-ewa", "Rain jacket", "p-jacket", 89.0),
              shop.view(OFF_HOURS - 3, "a-bo", "Wool socks", "p-socks", 9.5),
              shop.event("page", OFF_HOURS, "a-bo", name="Home"))

    ewa = Widget(port, "a-ewa", user_id="u-ewa", user_hash=user_hash("u-ewa"))
    status, answer = ewa.say("Is the rain jacket waterproof or only water-resistant?")
    lines = ewa.lines()
    check("outside business hours Ewa (verified) is told the answer comes by e-mail, "
          "without her address",
          status == 200 and answer.get("state") == "ended" and len(lines) == 2
          and lines[1]["from"] == "system" and "address we have for you" in lines[1]["text"]
          and not any("ewa@example.com" in r for r in ewa.raw), (status, answer, lines))

    smtp.wait(1, timeout=20)
    got = [parse(m[2]) for m in smtp.messages]
    first = got[0] if got else None
    check("the SMTP server gets her question for support",
          first is not None and smtp.messages[0][1] == ["support@shop.example"], smtp.messages)
    if first is not None:
        reply = first["Reply-To"].addresses[0]
        body = first.get_body(("plain",)).get_content()
        check("with Reply-To: Ewa Nowak <ewa@example.com>",
              (reply.display_name, reply.addr_spec) == ("Ewa Nowak", "ewa@example.com"),
              str(first["Reply-To"]))
        check("its subject and text hold the question",
              "Is the rain jacket waterproof" in str(first["Subject"])
              and "Is the rain jacket waterproof or only water-resistant?" in body, (first["Subject"], body))
        check("and her summary: cart with its value",
              "Cart: Rain jacket x1 (89.00 EUR)" in body, body)
        check("mail written for the shop carries no List-Unsubscribe",
              first["List-Unsubscribe"] is None, first["List-Unsubscribe"])

    bo = Widget(port, "a-bo")
    status, answer = bo.say("Do you ship to Norway?")
    lines = bo.lines()
    check("Bo, with no address known, is asked for one",
          answer.get("state") == "ask-email" and lines[-1]["from"] == "system"
          and "e-mail address" in lines[-1]["text"], (answer, lines))
    bo.say("And how long does it take?")
    check("nothing is mailed before he gives it", len(smtp.messages) == 1, len(smtp.messages))
    status, answer = bo.say(email="bo@example.org")
    lines = bo.lines()
    check("once he gives it he is told the answer comes there; the chat ends",
          answer.get("state") == "ended" and "bo@example.org" in lines[-1]["text"], (answer, lines))
    smtp.wait(2, timeout=20)
    second = parse(smtp.messages[1][2]) if len(smtp.messages) > 1 else None
    check("support gets both of his questions, Reply-To bo@example.org",
          second is not None and second["Reply-To"].addresses[0].addr_spec == "bo@example.org"
          and "Do you ship to Norway?" in second.get_body(("plain",)).get_content()
          and "And how long does it take?" in second.get_body(("plain",)).get_content(),
          second and second.as_string()[:1500])

    wait_for(lambda: len(chat_events(tap, "chat.ended")) >= 2, timeout=5)
    ended = chat_events(tap, "chat.ended")
    check("both conversations end with reason email (the e-mail answer is the end of it)",
          [b["reason"] for _, b in ended] == ["email", "email"], ended)
    stats = p.control("mail-sender")
    check("the mail-sender counts both delivered", stats["outbox"]["delivered"] == 2, stats["outbox"])
    log = p.log("chat-bridge") + p.log("mail-sender")
    check("no log line holds an address or a question",
          "ewa@example.com" not in log and "bo@example.org" not in log and "Norway" not in log, log[-1500:])
    tap.close()
smtp.stop()
done()
