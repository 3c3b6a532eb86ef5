#!/usr/bin/python3
"""chat-bridge: a shopper's question reaches a Telegram operator with the
visitor's summary, and the operator's reply reaches the shopper.

Real processes: collector -> sessionizer -> segmenter -> chat-bridge, a
mock Telegram Bot API (http.server). Ewa identifies herself, looks at
boots and puts them in her cart; the chat-bridge learns all that from
the pipeline. Her question, posted as the widget posts it, arrives in the
operators' chat with her cart, its value, what she viewed, her segments
and orders; Anna answers in Telegram (a reply to that message, read by
getUpdates); the answer comes back on the widget's long poll and on its
Server-Sent Events stream. chat.started / chat.message go downstream with
her visitor id. A wrong token reads nothing; the logs hold no message
text, address or token.
"""
import os

from ndtest import Pipeline, check, done, free_port, wait_for
from chattest import CHAT_ID, TOKEN, Shop, Telegram, Widget, chat_events, pipeline_extra

telegram = Telegram()
port = free_port()
with Pipeline(clock="event", extra=pipeline_extra(port, telegram)) as p:
    for stage in ("collector", "sessionizer", "segmenter", "chat-bridge"):
        p.start(stage)
    tap = p.tap("chat-bridge", "chat.")
    shop = Shop(p)
    shop.send(shop.event("identify", 0, "a-ewa", userId="u-ewa", traits={
                  "email": "ewa@example.com", "firstName": "Ewa"}),
              shop.view(1, "a-ewa", "Hiking boots", "p-boots", 129.0),
              shop.add(2, "a-ewa", "Hiking boots", "p-boots", 129.0))

    ewa = Widget(port, "a-ewa")
    status, answer = ewa.say("Do the hiking boots run small?")
    check("the widget's message is accepted (200, a conversation and its token)",
          status == 200 and answer.get("conversation") == "c1" and len(answer.get("token", "")) >= 32
          and answer.get("state") == "operator", (status, answer))

    wait_for(lambda: any("#c1" in t for t in telegram.texts()), timeout=10)
    notes = [m for m in telegram.sent if "#c1" in m.get("text", "")]
    note = notes[0]["text"] if notes else ""
    check("the question reaches the operators' Telegram chat", notes
          and str(notes[0].get("chat_id")) == CHAT_ID and "Do the hiking boots run small?" in note,
          telegram.sent)
    check("with the visitor's summary: name, cart and its value, viewed, segments, orders",
          "Ewa" in note and "Cart: Hiking boots x1 (129.00 EUR)" in note
          and "Viewed: Hiking boots" in note and "Segments:" in note and "Orders: none" in note
          and "Earlier chats: none" in note, note)
    check("the operator sees no full e-mail address", "ewa@example.com" not in note, note)

    stream = ewa.stream()
    wait_for(lambda: len(stream) >= 2, timeout=10)
    telegram.reply("They run true to size; take your usual.", to=note)
    status, answer = ewa.poll(after=1, wait=10)
    lines = answer.get("lines", []) if status == 200 else []
    check("the operator's reply comes back on the long poll",
          [(l["from"], l.get("name"), l["text"]) for l in lines]
          == [("operator", "Anna", "They run true to size; take your usual.")], (status, answer))
    wait_for(lambda: any(e[0] == "line" and e[1]["from"] == "operator" for e in stream), timeout=10)
    check("and on the Server-Sent Events stream",
          stream and stream[0] == ("status", 200, "text/event-stream")
          and [e[1]["text"] for e in stream if e[0] == "line"]
          == ["Do the hiking boots run small?", "They run true to size; take your usual."], stream)

    status, _ = ewa.poll(token="0" * 36)
    check("a wrong token reads nothing (403)", status == 403, status)

    # a second message goes on in the same conversation
    ewa.say("Thanks! Ordering now.")
    wait_for(lambda: any(t.startswith("#c1 Ewa: Thanks") for t in telegram.texts()), timeout=10)
    check("the shopper's next message reaches Telegram tagged with the conversation",
          any(t.startswith("#c1 Ewa: Thanks! Ordering now.") for t in telegram.texts()),
          telegram.texts())

    # an operator ends it with /end as a reply
    telegram.reply("/end", to=note)
    wait_for(lambda: ewa.poll()[1].get("state") == "ended", timeout=10)
    wait_for(lambda: len(chat_events(tap, "chat.ended")) >= 1, timeout=5)
    events = chat_events(tap)
    visitor = events[0][1].get("user") if events else None
    check("chat.started, chat.message x3, chat.ended downstream",
          [t for t, _ in events] == ["chat.started", "chat.message", "chat.message",
                                     "chat.message", "chat.ended"], events)
    check("they name the visitor the sessionizer made, and the conversation",
          visitor and visitor.startswith("v-") and all(b["user"] == visitor and b["conversation"] == "c1"
                                                      for _, b in events), events)

    # someone not in "operators" cannot answer
    telegram.reply("I am not staff", to=note, user_id=999)
    wait_for(lambda: "not in operators" in p.log("chat-bridge"), timeout=5)
    check("a Telegram user not in operators is ignored", "ignored user 999" in p.log("chat-bridge")
          and all(l["text"] != "I am not staff" for l in ewa.lines()), p.log("chat-bridge")[-500:])

    stats = p.control("chat-bridge")
    check("STATS: one conversation, none open, notes all confirmed",
          stats["chat"]["conversations"] == 1 and stats["chat"]["open"] == 0
          and stats["chat"]["notes_unconfirmed"] == 0, stats.get("chat"))
    status, js = ewa.call("GET", "/chat/widget.js")
    check("the widget is served", status == 200 and "nudge chat widget" in str(js), str(js)[:80])

    log = p.log("chat-bridge")
    check("the log holds no message text, e-mail address or token",
          "hiking boots" not in log.lower() and "ewa@example.com" not in log and TOKEN not in log
          and (ewa.token or "-") not in log, log[-1500:])
    tap.close()
telegram.close()
done()
