#!/usr/bin/python3
"""chat-bridge: a flood opens few conversations and sends few mails.

Real processes: collector -> sessionizer -> segmenter -> chat-bridge ->
mail-sender (Maildir), in event time: the clock moves with the shop's
events and ticks, so nothing here sleeps. Nobody is online. Options:
rate-per-ip 10/1m, rate-per-visitor 3/1m, max-conversations 50/1h,
max-support-mails 5/1h.

  One address: the 11th POST in a minute gets 429 with Retry-After and
  nothing is stored; a minute later (event time) it is taken again;
  one visitor: the 4th message in a minute gets 429, from another address
  too;
  the issue's flood: 3000 new conversations, each with a question and an
  address, as fast as 100 client addresses can send them, in a loop
  bounded by count and time: at most 50 conversations open (the rest get
  503 "too many chats right now, try later" with Retry-After, or 429),
  5 questions mailed one by one, the others wait for one digest;
  kill -9 while the digest waits, restart: nothing lost; when the hour is
  over one digest mail holds every waiting question, once, and a later
  hour sends none again: at most 5 + 1 mails in all.
"""
import http.client
import json
import signal
import time

from ndtest import Pipeline, check, done, free_port, wait_for
from chattest import Shop, Widget, pipeline_extra, start_with_mail
from mailtest import maildir_mails as mails

port = free_port()
extra = pipeline_extra(port, hours="never", **{
    "rate-per-ip": "10/1m", "rate-per-visitor": "3/1m",
    "max-conversations": "50/1h", "max-support-mails": "5/1h"})
ATTEMPTS, ADDRESSES, BOUND_S = 3000, 100, 120


class Client:
    """One keep-alive connection from a loopback address of its own."""

    def __init__(self, source):
        self.source = source
        self.conn = None

    def post(self, body):
        for _ in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30,
                                                       source_address=(self.source, 0))
            try:
                self.conn.request("POST", "/chat/send", json.dumps(body),
                                  {"Content-Type": "text/plain"})
                resp = self.conn.getresponse()
                return resp.status, resp.getheader("Retry-After"), json.loads(resp.read() or b"{}")
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
        return 0, None, {}


with Pipeline(clock="event", extra=extra, sync=True) as p:
    maildir = start_with_mail(p, extra)
    shop = Shop(p)
    shop.send(shop.event("page", 0, "a-shop", name="Home"))

    # One address, over its rate
    one = Client("127.0.0.2")
    answers = [one.post({"anonymousId": "a-one-%d" % i, "text": "Hi"}) for i in range(11)]
    status, retry, doc = answers[-1]
    check("one address: 10 POSTs in a minute taken, the 11th 429 with Retry-After",
          [a[0] for a in answers[:10]] == [200] * 10 and status == 429 and retry
          and 1 <= int(retry) <= 6 and "error" in doc, answers[-2:])
    chat = p.control("chat-bridge")["chat"]
    check("and nothing of it stored", chat["conversations"] == 10, chat)
    shop.tick(1)
    check("a minute later (event time) it is taken again",
          one.post({"anonymousId": "a-one-x", "text": "Hi"})[0] == 200)

    # One visitor, over its rate, from two addresses
    a, b = Client("127.0.0.3"), Client("127.0.0.4")
    visitor = [c.post({"anonymousId": "a-same", "text": "Hello"}) for c in (a, b, a, b)]
    check("one visitor: the 4th message in a minute 429 with Retry-After, whatever the address",
          [v[0] for v in visitor] == [200, 200, 200, 429] and visitor[3][1], visitor)
    shop.tick(2)
    mailed_before = len(mails(maildir))
    conversations_before = p.control("chat-bridge")["chat"]["conversations"]
    shop.tick(60)           # a fresh hour for the caps: 13:00

    # The flood
    clients = [Client("127.0.1.%d" % (i + 1)) for i in range(ADDRESSES)]
    counts, retry_ok, started = {}, True, time.time()
    for i in range(ATTEMPTS):
        if time.time() - started > BOUND_S:
            break
        status, retry, doc = clients[i % ADDRESSES].post(
            {"anonymousId": "a-flood-%d" % i, "text": "Question number %d?" % i,
             "email": "flood%d@example.net" % i})
        counts[status] = counts.get(status, 0) + 1
        if status == 503:
            retry_ok = retry_ok and retry is not None and 1 <= int(retry) <= 3600 \
                and doc.get("error") == "too many chats right now, try later"
        if status == 429:
            retry_ok = retry_ok and retry is not None and int(retry) >= 1
    attempts = sum(counts.values())
    chat = p.control("chat-bridge")["chat"]
    opened = chat["conversations"] - conversations_before
    check("the flood: all 3000 attempts answered within the bound",
          attempts == ATTEMPTS, (counts, time.time() - started))
    check("at most max-conversations (50) opened; the rest 503 or 429 with Retry-After",
          counts.get(200) == 50 and opened == 50 and counts.get(503, 0) > 0
          and counts.get(200, 0) + counts.get(503, 0) + counts.get(429, 0) == attempts and retry_ok,
          (counts, opened))
    shop.settle([("segmenter", "chat-bridge"), ("chat-bridge", "mail-sender")])
    wait_for(lambda: len(mails(maildir)) >= mailed_before + 5, timeout=20)
    flood_mails = mails(maildir)[mailed_before:]
    stats = p.control("chat-bridge")
    check("5 questions mailed one by one (max-support-mails), 45 waiting for the digest",
          len(flood_mails) == 5 and stats["chat"]["digest_waiting"] == 45
          and stats["chat"]["digested_since_start"] == 45, (len(flood_mails), stats["chat"]))
    check("STATS counts the refusals",
          stats["limits"]["conversations_refused"] == counts.get(503)
          and stats["limits"]["rate_limited"] == counts.get(429, 0) + 2, stats["limits"])

    # kill -9 while the digest waits
    p.kill("chat-bridge", signal.SIGKILL)
    p.start("chat-bridge")
    check("after kill -9 the 45 questions still wait",
          p.control("chat-bridge")["chat"]["digest_waiting"] == 45, p.control("chat-bridge")["chat"])
    shop.tick(121)          # the hour is over: 14:01
    shop.settle([("segmenter", "chat-bridge"), ("chat-bridge", "mail-sender")])
    wait_for(lambda: len(mails(maildir)) >= mailed_before + 6, timeout=20)
    shop.tick(300)
    shop.settle([("segmenter", "chat-bridge"), ("chat-bridge", "mail-sender")])
    got = mails(maildir)[mailed_before:]
    digests = [m for m in got if "(digest)" in str(m["Subject"])]
    text = (digests[0].get_body(("plain",)).get_content() if digests else "").replace("\r\n", "\n")
    check("one digest mail when the hour is over, and no second one later: 5 + 1 mails in all",
          len(got) == 6 and len(digests) == 1, [str(m["Subject"]) for m in got])
    asked = [i for i in range(ATTEMPTS) if "Question number %d?" % i in text]
    check("the digest holds each of the 45 waiting questions once, with its address to answer",
          len(asked) == 45 and all(text.count("answer to flood%d@example.net\n" % i) == 1 for i in asked),
          text[:1500])
    check("to support, with no one shopper's Reply-To",
          digests and digests[0]["To"].addresses[0].addr_spec == "support@shop.example"
          and digests[0]["Reply-To"].addresses[0].addr_spec != "flood1@example.net",
          digests and str(digests[0]["Reply-To"]))
    chat = p.control("chat-bridge")
    check("nothing waits any more", chat["chat"]["digest_waiting"] == 0, chat["chat"])
    log = p.log("chat-bridge")
    check("the digest is logged once, the log holds no address",
          log.count("digest of 45 chat questions goes to support") == 1
          and "flood1@example.net" not in log and "127.0.1.1" not in log, log[-1500:])
    ewa = Widget(port, "a-ewa")
    check("a shopper in the next hour opens a chat as usual",
          ewa.say("Hello?")[0] == 200)
done()
