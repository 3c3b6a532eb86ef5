#!/usr/bin/python3
"""Two-way SMS in the chat: a text to the shop's number reaches the
operators, and their answer goes back by SMS.

Twilio-style, real processes on the event clock: collector -> sessionizer
-> segmenter -> chat-bridge <-> sms-sender (each reads the other), a
stand-in scheduler that sends Ewa one reminder by SMS (so her number is
known as hers), a mock Telegram Bot API, nd-chat at a terminal, and the
Twilio mock. Her question, posted to /sms/inbound signed as Twilio signs
it, reaches nd-chat and Telegram with her summary (cart, viewed, orders),
marked as SMS; the operator's answer in nd-chat leaves as an SMS to her
number; her second text goes on in the same conversation, and the answer
from Telegram goes out too; a provider's retry of a text is not a second
line. STOP works as before (opt-out, feedback.unsubscribed, not a chat
line), and an answer after it is refused and the operators are told.
nd-person shows the conversation and its lines marked "sms"; her erasure
takes them and the number's link to the conversation.

Infobip-style, with a stand-in segmenter and nobody online: a text from a
number the shop never texted opens a conversation marked so, support
hears of it by e-mail, and an operator's answer goes to the number.

The logs hold neither the full number nor the text. A bad
sms-idle-timeout stops chat-bridge --check with file:line.
"""
import json
import os
import subprocess
import threading
import time
import urllib.parse

from ndtest import BIN, ROOT, Pipeline, check, done, free_port, wait_for
from chattest import Shop, Telegram, chat_events, pipeline_extra
from sendtest import Orders, SmsProvider, feedback, http_post, twilio_signature, until

PUBLIC = "https://hooks.shop.example"
PHONE = "+48600100200"
STRANGER = "+48600100977"
QUESTION = "Do the hiking boots run small?"
os.environ["ND_TEST_SMS_TWILIO"] = SmsProvider.TOKEN
os.environ["ND_TEST_SMS_INFOBIP"] = SmsProvider.API_KEY
os.environ["ND_TEST_WEBHOOK_TOKEN"] = "hook-secret-123"


def sms_options(provider, base, port):
    o = {"input": "scheduler, chat-bridge", "topics": "send.sms", "provider": provider,
         "api-base": base, "webhook-url": PUBLIC, "http": "127.0.0.1:%d" % port,
         "templates": os.path.join(ROOT, "conf", "templates")}
    if provider == "twilio":
        o.update({"account": SmsProvider.SID, "secret": "env:ND_TEST_SMS_TWILIO",
                  "from": "+15550001234"})
    else:
        o.update({"secret": "env:ND_TEST_SMS_INFOBIP", "from": "ExampleShop",
                  "webhook-token": "env:ND_TEST_WEBHOOK_TOKEN"})
    return o


def twilio_text(port, text, phone=PHONE, sid=None):
    params = {"From": phone, "To": "+15550001234", "Body": text,
              "MessageSid": sid or "SMin%d" % time.time_ns()}
    headers = {"X-Twilio-Signature": twilio_signature(PUBLIC + "/sms/inbound", params)}
    return http_post("http://127.0.0.1:%d/sms/inbound" % port, urllib.parse.urlencode(params),
                     headers=headers)


def infobip_text(port, text, phone):
    doc = {"results": [{"messageId": "ib-%d" % time.time_ns(), "from": phone.lstrip("+"),
                        "to": "447860099299", "text": text, "cleanText": text}],
           "messageCount": 1, "pendingMessageCount": 0}
    return http_post("http://127.0.0.1:%d/sms/inbound?token=hook-secret-123" % port,
                     json.dumps(doc), content_type="application/json")


class Console:
    """nd-chat, typed into line by line, its output collected."""

    def __init__(self, p):
        self.proc = subprocess.Popen([os.path.join(BIN, "nd-chat"), "-o", "anna",
                                      p.endpoint("chat-bridge", "console")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.out = []
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        for line in self.proc.stdout:
            self.out.append(line.rstrip("\n"))

    def type(self, line, expect=None):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        if expect:
            wait_for(lambda: expect in self.text(), timeout=10)

    def text(self):
        return "\n".join(self.out)

    def close(self):
        self.proc.stdin.close()
        return self.proc.wait(20)


def sent_to(sms, phone, count):
    """Waits until the provider mock took count texts to phone; returns them."""
    wait_for(lambda: len([m for m in sms.sent if m["to"].lstrip("+") == phone.lstrip("+")]) >= count,
             timeout=15)
    return [m for m in sms.sent if m["to"].lstrip("+") == phone.lstrip("+")]


def twilio_run():
    telegram = Telegram()
    sms = SmsProvider("twilio")
    chat_port, hook_port = free_port(), free_port()
    extra = pipeline_extra(chat_port, telegram)
    extra["chat-bridge"]["input"] = "segmenter, sms-sender"
    extra["sms-sender"] = sms_options("twilio", sms.base, hook_port)
    extra["scheduler"] = {"input": "segmenter"}     # stood in for; nd-person reads the file
    with Pipeline(clock="event", extra=extra) as p:
        orders = Orders(p)
        for stage in ("collector", "sessionizer", "segmenter", "chat-bridge", "sms-sender"):
            p.start(stage)
        seg = p.tap("segmenter")
        chat_tap = p.tap("chat-bridge", "chat.")
        fb_tap = p.tap("sms-sender", "feedback.")
        shop = Shop(p)
        shop.send(shop.event("identify", 0, "a-ewa", userId="u-ewa", traits={"firstName": "Ewa"}),
                  shop.view(1, "a-ewa", "Hiking boots", "p-boots", 129.0),
                  shop.add(2, "a-ewa", "Hiking boots", "p-boots", 129.0))
        seg.collect(lambda ms: any(b.get("user") for _, b in ms), timeout=10)
        visitor = next((b["user"] for _, b in seg.messages if b.get("user")), None)

        # the shop texted her once: the sms-sender knows the number is hers
        reminder = orders.order("sms", PHONE, user=visitor)
        fb = feedback(fb_tap, reminder["idempotency_key"], serve=orders.serve)
        check("the reminder went to her number (it is known as hers from then on)",
              [t for t, _ in fb] == ["feedback.delivered"] and len(sms.sent) == 1, fb)

        anna = Console(p)
        anna.type("/auto", expect="business hours are open")
        status, text = twilio_text(hook_port, QUESTION, sid="SMq1")
        check("twilio: her text is answered 200 with an empty TwiML response",
              status == 200 and "<Response></Response>" in text, (status, text))
        wait_for(lambda: "[c1]" in anna.text(), timeout=15)
        console = anna.text()
        check("nd-chat shows a new conversation marked as SMS, the number masked",
              "#c1 new chat (SMS from +4860*****00)" in console and PHONE not in console, console)
        check("with her summary (cart, its value, viewed) and her question",
              "Cart: Hiking boots x1 (129.00 EUR)" in console and "Viewed: Hiking boots" in console
              and "Ewa: " + QUESTION in console and "Unverified" not in console, console)
        wait_for(lambda: any("#c1 new chat" in t for t in telegram.texts()), timeout=15)
        note = next((t for t in telegram.texts() if "#c1 new chat" in t), "")
        check("Telegram gets the same note: SMS, summary, question",
              "(SMS from +4860*****00)" in note and "Cart: Hiking boots x1 (129.00 EUR)" in note
              and QUESTION in note and PHONE not in note, telegram.texts())

        anna.type("They run true to size.", expect="goes by SMS")
        orders.tick(600)        # the sms-sender's clock reaches the answer's time
        out = until(lambda: len(sent_to(sms, PHONE, 2)) >= 2 or None, timeout=15, serve=orders.serve)
        texts = sent_to(sms, PHONE, 2)
        check("the operator's answer leaves as an SMS to her number, as written (no STOP footer)",
              out and len(texts) == 2 and texts[1]["text"] == "They run true to size."
              and texts[1]["from"] == "+15550001234" and not sms.problems, (texts, sms.problems))

        # event time: the chat-bridge takes a text once its own clock (the
        # shop's events) has got to the text's time (the sms-sender's clock)
        shop.tick(15)
        twilio_text(hook_port, "Great, and do you ship to Gdansk?", sid="SMq2")
        again = twilio_text(hook_port, "Great, and do you ship to Gdansk?", sid="SMq2")
        wait_for(lambda: "#c1 Ewa: Great" in anna.text(), timeout=15)
        anna.type("/show c1", expect="do you ship")
        time.sleep(0.2)
        console = anna.text()
        check("her second text goes on in the same conversation (c1), once despite a retry",
              again[0] == 200 and console.count("#c1 Ewa: Great, and do you ship") == 1
              and "[c2]" not in console and console.count("Visitor: Great, and do you ship") == 1,
              console)
        check("/show marks the conversation as SMS", "#c1 (operator, SMS from +4860*****00)" in console,
              console)
        telegram.reply("Yes, in two days.", to=note)
        orders.tick(1200)
        until(lambda: len(sent_to(sms, PHONE, 3)) >= 3 or None, timeout=15, serve=orders.serve)
        texts = sent_to(sms, PHONE, 3)
        check("an answer from Telegram leaves as an SMS too",
              len(texts) == 3 and texts[2]["text"] == "Yes, in two days.", texts)

        events = chat_events(chat_tap)
        check("chat.started and chat.message downstream, with her visitor id and channel sms",
              [t for t, _ in events][:2] == ["chat.started", "chat.message"]
              and all(b.get("user") == visitor and b.get("channel") == "sms" for _, b in events),
              events)

        # STOP works as before, and is not a chat line
        status, _ = twilio_text(hook_port, "STOP")
        stops = until(lambda: [b for t, b in fb_tap.poll(50) if t == "feedback.unsubscribed"]
                      or None, timeout=10)
        check("STOP: opted out, feedback.unsubscribed for her (channel sms)",
              status == 200 and stops and stops[0]["user"] == visitor and stops[0]["channel"] == "sms",
              stops)
        anna.type("Anything else?", expect="#c1: goes by SMS")
        orders.tick(1800)
        shop.tick(40)           # the chat-bridge's clock reaches the feedback's time
        until(lambda: "not delivered" in anna.text(), timeout=15, serve=orders.serve)
        console = anna.text()
        check("after STOP an answer is not sent, and the operator is told why",
              len(sent_to(sms, PHONE, 3)) == 3 and "#c1 your answer was not delivered" in console
              and "unsubscribed" in console and "STOP" not in [l.split(": ")[-1] for l in console.splitlines()],
              console[-800:])
        anna.type("/end", expect="#c1 ended")
        rc = anna.close()

        r = subprocess.run([os.path.join(BIN, "nd-person"), "-c", p.config, "--json", visitor],
                           capture_output=True, text=True, timeout=30, cwd=p.dir)
        chats = json.loads(r.stdout or "{}").get("stages", {}).get("chat-bridge", {}) if r.returncode == 0 else {}
        conversation = [row["value"] for row in chats.get("conversations", [])]
        lines = [row["value"] for row in chats.get("lines", [])]
        check("nd-person shows her conversation and its lines marked sms",
              rc == 0 and conversation and conversation[0].get("channel") == "sms"
              and any(l.get("text") == QUESTION and l.get("channel") == "sms" for l in lines),
              (r.returncode, r.stderr[-300:], conversation))

        # erasure: her conversation and the number that led to it go
        r = subprocess.run([os.path.join(BIN, "nd-person"), "-c", p.config, "--erase", visitor],
                           capture_output=True, text=True, timeout=30, cwd=p.dir)
        shop.settle()

        def kept(db):
            return subprocess.run(["mdb_dump", "-p", "-s", db, os.path.join(p.dir, "state", "chat-bridge")],
                                  capture_output=True, text=True).stdout
        wait_for(lambda: PHONE not in kept("sms.phones") + kept("conversations"), timeout=10)
        check("nd-person --erase: the chat-bridge keeps neither her conversation nor her number",
              r.returncode == 0 and PHONE not in kept("sms.phones") + kept("conversations")
              and QUESTION not in kept("lines"), (r.returncode, r.stderr[-300:], kept("sms.phones")))

        logs = p.log("sms-sender") + p.log("chat-bridge")
        check("twilio: the logs hold neither the number nor the texts",
              PHONE not in logs and PHONE.lstrip("+") not in logs and "hiking" not in logs.lower()
              and "Gdansk" not in logs and "true to size" not in logs, logs[-1500:])
        for tap in (seg, chat_tap, fb_tap):
            tap.close()
        orders.close()
    telegram.close()
    sms.close()


def infobip_run():
    sms = SmsProvider("infobip")
    chat_port, hook_port = free_port(), free_port()
    extra = pipeline_extra(chat_port, hours="never")     # nobody online
    extra["chat-bridge"]["input"] = "segmenter, sms-sender"
    extra["sms-sender"] = sms_options("infobip", sms.base, hook_port)
    with Pipeline(clock="event", extra=extra) as p:
        segmenter = Orders(p, "segmenter")      # the chat-bridge's clock
        orders = Orders(p)
        segmenter.tick(0)
        orders.tick(0)
        p.start("chat-bridge")
        p.start("sms-sender")
        until(lambda: p.control("sms-sender")["inputs"]["scheduler"]["position"] >= 1
              and p.control("chat-bridge")["inputs"]["segmenter"]["position"] >= 1 or None,
              timeout=15, serve=lambda: (segmenter.serve(0.02), orders.serve(0.02)))
        mails = p.tap("chat-bridge", "send.email")
        anna = Console(p)
        anna.type("/auto", expect="business hours are closed")
        status, _ = infobip_text(hook_port, "Is the shop open on Sunday?", STRANGER)
        check("infobip: a text is answered 200", status == 200, status)
        segmenter.tick(60)
        until(lambda: "[c1]" in anna.text() or None, timeout=15, serve=segmenter.serve)
        console = anna.text()
        check("infobip: a number the shop never texted gets a conversation, marked so",
              "#c1 new chat (SMS from +4860*****77, a number never texted)" in console
              and "Visitor: unknown (the shop never texted this number)" in console
              and "Is the shop open on Sunday?" in console, console)
        mail = mails.collect(lambda ms: ms, timeout=5)
        body = mail[0][1] if mail else {}
        check("infobip: nobody online: support hears of the text by e-mail (number masked)",
              len(mail) == 1 and body.get("to") == "support@shop.example"
              and body.get("conversation") == "c1" and "Is the shop open on Sunday?" in body.get("text", "")
              and "SMS from +4860*****77" in body.get("subject", "") and "reply_to" not in body
              and STRANGER not in json.dumps(body), mail)
        mails.close()
        anna.type("Yes, 10 to 16.", expect="goes by SMS")
        segmenter.tick(120)
        orders.tick(600)

        def serve():
            segmenter.serve(0.02)
            orders.serve(0.02)
        until(lambda: sent_to(sms, STRANGER, 1) or None, timeout=15, serve=serve)
        texts = sent_to(sms, STRANGER, 1)
        check("infobip: the answer leaves as an SMS to that number",
              len(texts) == 1 and texts[0]["text"] == "Yes, 10 to 16." and not sms.problems,
              (texts, sms.problems))
        anna.close()
        logs = p.log("sms-sender") + p.log("chat-bridge")
        check("infobip: the logs hold neither the number nor the texts",
              STRANGER.lstrip("+") not in logs and "Sunday" not in logs and "10 to 16" not in logs,
              logs[-1500:])
        segmenter.close()
        orders.close()
    sms.close()


def bad_config():
    """--check validates sms-idle-timeout: file:line: reason, exit 78."""
    for value in ("0", "soon"):
        extra = pipeline_extra(free_port(), **{"sms-idle-timeout": value})
        with Pipeline(clock="event", extra=extra) as p:
            r = subprocess.run([os.path.join(BIN, "chat-bridge"), "--check", "--config", p.config,
                                "--name", "chat-bridge"], capture_output=True, text=True, timeout=30)
            check("chat-bridge --check refuses sms-idle-timeout = %s with file:line" % value,
                  r.returncode == 78 and "pipeline.zpl:" in r.stderr and "sms-idle-timeout" in r.stderr,
                  (r.returncode, r.stderr[-300:]))


twilio_run()
infobip_run()
bad_config()
done()
