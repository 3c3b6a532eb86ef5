#!/usr/bin/python3
"""chat-bridge + scheduler: no cart reminder while a chat is open.

Real processes, event time: collector -> sessionizer -> segmenter ->
scheduler, and the chat-bridge reading the segmenter and read by the
scheduler (input "segmenter, chat-bridge", as in conf/pipeline.zpl).

  Ewa and Bo each leave boots in their cart at +2 min; the sessions end
  30 min later and the abandoned-cart reminder is due about an hour
  after that. Ewa opens a chat at +20 min, while still on the site, and
  it stays open (Anna answers from the console, as nd-chat does): at
  +3 h Bo has had his reminder, Ewa none. She ends the
  chat at +3 h; her reminder follows at the scheduler's next look
  (chat-recheck, 15 min), not at once, and at that look's due time
  however late the next tick comes.
"""
import zmq

from ndtest import Pipeline, check, done, free_port, wait_for
from chattest import Shop, Widget, chat_events, pipeline_extra
from shoptest import ts
from schedtest import Reader, journeys_only, scheduler_options

port = free_port()
extra = pipeline_extra(port, **{"idle-timeout": "12h"})
extra["scheduler"] = scheduler_options(journeys_only("abandoned-cart"), input="segmenter, chat-bridge", **{"chat-recheck": "15m"})
extra["sink"] = {"input": "scheduler"}
CHAIN = (("collector", "sessionizer"), ("sessionizer", "segmenter"), ("segmenter", "chat-bridge"),
         ("segmenter", "scheduler"), ("chat-bridge", "scheduler"))

with Pipeline(clock="event", extra=extra) as p:
    for stage in ("collector", "sessionizer", "segmenter", "chat-bridge", "scheduler"):
        p.start(stage)
    tap = p.tap("chat-bridge", "chat.")
    shop, reader = Shop(p, CHAIN), Reader(p)

    def sends(step="reminder-1"):
        reader.drain(p)
        return [s for s in reader.sends() if s["step"] == step]

    shop.send(shop.event("identify", 0, "a-ewa", userId="u-ewa", traits={"email": "ewa@example.com",
                                                                           "firstName": "Ewa"}),
              shop.add(2, "a-ewa", "Boots", "p-boots", 129.0),
              shop.event("identify", 0, "a-bo", traits={"email": "bo@example.com", "firstName": "Bo"}),
              shop.add(2, "a-bo", "Boots", "p-boots", 129.0),
              shop.event("page", 20, "a-ewa", name="Boots"))
    # an operator at the console, as nd-chat connects
    anna = p.ctx.socket(zmq.DEALER)
    anna.setsockopt(zmq.LINGER, 0)
    anna.connect(p.endpoint("chat-bridge", "console"))
    anna.send_multipart([b"HELLO", b"Anna"])

    def heard(count, timeout=10):
        got = []
        while len(got) < count and anna.poll(timeout * 1000):
            got.append([f.decode() for f in anna.recv_multipart()])
        return got

    hello = heard(2)
    check("the console operator is greeted: presence, then the open conversations",
          [h[0] for h in hello] == ["ANSWER", "ANSWER"] and "no open conversations" in hello[1][1], hello)
    ewa = Widget(port, "a-ewa")
    status, answer = ewa.say("Are these boots good for snow?")
    shop.settle()
    started = chat_events(tap, "chat.started")
    check("Ewa's chat opens (chat.started for her visitor id)",
          status == 200 and len(started) == 1 and started[0][1]["user"].startswith("v-"), started)
    ewa_user = started[0][1]["user"] if started else None
    note = heard(1)
    check("her question reaches the console with her summary",
          note and note[0][:2] == ["NOTE", "c1"] and "Are these boots good for snow?" in note[0][2]
          and "Cart: Boots x1 (129.00 EUR)" in note[0][2], note)
    anna.send_multipart([b"SAY", b"c1", b"Yes, down to -20."])
    check("Anna's reply is taken", heard(1) == [["ANSWER", "ok"]])
    check("and reaches Ewa", [l["text"] for l in ewa.lines()][-1:] == ["Yes, down to -20."], ewa.lines())

    for minutes in (60, 100, 130, 180):
        shop.tick(minutes)
    first = sends()
    check("Bo, who left his cart, has his reminder by +3 h",
          [s["to"] for s in first] == ["bo@example.com"], [(s["to"], s["time"]) for s in first])
    check("Ewa, in an open chat, has none", [s for s in first if s["user"] == ewa_user] == [], first)

    status, answer = ewa.end()
    shop.settle()
    check("she ends the chat (chat.ended)", status == 200 and len(chat_events(tap, "chat.ended")) == 1,
          (status, answer, chat_events(tap)))
    # The chat ended at +3 h; a minute later her reminder has not gone (it
    # waits for the scheduler's next look, not the end itself). In event
    # time a timer acts at its due time, so that look is within 15 min of
    # the end, however late the next tick comes.
    shop.tick(181)
    check("no reminder the moment the chat ends", [s for s in sends() if s["user"] == ewa_user] == [])
    shop.tick(200)
    mine = [s for s in sends() if s["user"] == ewa_user]
    check("her reminder goes at the scheduler's next look after the chat (within 15 min)",
          len(mine) == 1 and ts(181) < mine[0]["time"] <= ts(195), [(s["user"], s["time"]) for s in mine])
    reader.close()
    anna.close(0)
    tap.close()
done()
