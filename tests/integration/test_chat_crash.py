#!/usr/bin/python3
"""chat-bridge: kill -9 mid-conversation, restart - nothing lost.

A mock Telegram Bot API. Ewa asks; Anna answers. Then Telegram refuses
sendMessage for a while (429): Ewa's next two messages are on disk (the
widget heard 200) but not yet in Telegram; Anna answers again. kill -9.
While the bridge is down Anna writes once more and Telegram recovers.
After the restart: Ewa's two messages reach Telegram, each once; Anna's
message written during the outage reaches Ewa; the transcript holds
every line once, in order; the widget's retry of a message it already
sent is recognised, not stored twice; the conversation goes on.
"""
# tests/run: start first (one of the longest)
import signal

from ndtest import Pipeline, check, done, free_port, wait_for
from chattest import Telegram, Widget, chat_options

telegram = Telegram()
port = free_port()
extra = {"chat-bridge": chat_options(port, telegram)}

with Pipeline(clock="event", extra=extra, sync=True) as p:
    p.start("chat-bridge")
    ewa = Widget(port, "a-ewa")
    ewa.say("Hello, is the blue scarf in stock?")
    wait_for(lambda: any("#c1" in t for t in telegram.texts()), timeout=10)
    note = telegram.texts()[0] if telegram.texts() else ""
    telegram.reply("Yes, three left.", to=note)
    wait_for(lambda: len(ewa.lines()) == 2, timeout=10)

    telegram.fail_sends = True
    s2 = ewa.say("Great, can you hold one for me?", client_id="m-2")
    s3 = ewa.say("Until tomorrow?", client_id="m-3")
    check("messages accepted while Telegram refuses are stored (200)",
          s2[0] == 200 and s3[0] == 200, (s2, s3))
    telegram.reply("Let me check with the store.", to=note)
    wait_for(lambda: len(ewa.lines()) == 5, timeout=10)
    before = [(l["from"], l["text"]) for l in ewa.lines()]
    p.kill("chat-bridge", signal.SIGKILL)
    check("killed with the two messages not yet in Telegram",
          not any("hold one" in t or "Until tomorrow" in t for t in telegram.texts()), telegram.texts())

    telegram.reply("Done, it is held until Friday.", to=note)
    telegram.fail_sends = False
    p.start("chat-bridge")
    wait_for(lambda: sum("Until tomorrow" in t for t in telegram.texts()) >= 1, timeout=15)
    wait_for(lambda: len(ewa.lines()) >= 6, timeout=10)
    texts = telegram.texts()
    check("after the restart both reach Telegram, once each, in order",
          [t for t in texts if "hold one" in t or "Until tomorrow" in t]
          == ["#c1 Visitor: Great, can you hold one for me?", "#c1 Visitor: Until tomorrow?"], texts)
    after = [(l["from"], l["text"]) for l in ewa.lines()]
    check("the transcript survived the kill, line for line", after[:5] == before, (before, after))
    check("Anna's message from the outage reaches Ewa, once",
          after[5:] == [("operator", "Done, it is held until Friday.")], after)
    check("every update applied once (no reply twice)", len(after) == len(set(after)), after)

    status, answer = ewa.say("Until tomorrow?", client_id="m-3")
    check("the widget's retry of a stored message is not stored again",
          status == 200 and answer.get("duplicate") is True and len(ewa.lines()) == 6, (status, answer))
    ewa.say("Thank you!")
    wait_for(lambda: any("Thank you" in t for t in telegram.texts()), timeout=10)
    check("the conversation goes on after the restart",
          any(t == "#c1 Visitor: Thank you!" for t in telegram.texts()) and ewa.lines()[-1]["text"] == "Thank you!",
          telegram.texts())
    # Telegram has the note a moment before the bridge commits that it was sent
    wait_for(lambda: p.control("chat-bridge")["chat"]["notes_unconfirmed"] == 0, timeout=10)
    chat = p.control("chat-bridge")["chat"]
    check("no note left unconfirmed", chat["notes_unconfirmed"] == 0, chat)
telegram.close()
done()
