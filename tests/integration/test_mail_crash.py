#!/usr/bin/python3
"""mail-sender: kill -9 with 10 000 messages queued loses none.

10 000 send orders go in; while the mail-sender is delivering them to a
real SMTP server it is killed with SIGKILL, then started again. Every
order must reach the server (counted by Message-ID, which is made from
the idempotency key), and the only ones that may arrive twice are those
in flight at the kill: at most max-inflight (100). The test prints how
many were in flight and how many arrived twice. The durable feedback has
exactly one feedback.delivered per order.
"""
# tests/run: start first (one of the longest)
import re
import time

from ndtest import Pipeline, check, done
from mailtest import Journal, Orders, mail_options, order, wait
from smtpd import SmtpServer

TOTAL = 10000
MAX_INFLIGHT = 100


class MessageIds:
    """The Message-IDs of what the server has got, each message read once
    and only for that header: parsing all 10 000 with the email package
    again at every poll of the wait below took minutes on two busy cores,
    and once each still 40 s (the header block alone, 0.8 ms a message)."""

    HEADER = re.compile(rb"^message-id:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.I | re.M)

    def __init__(self, server):
        self.server = server
        self.ids = []

    def __call__(self):
        for _, _, data in list(self.server.messages)[len(self.ids):]:
            head = re.split(rb"\r?\n\r?\n", data, maxsplit=1)[0]
            found = self.HEADER.search(head)
            self.ids.append(b"".join(found.group(1).split()).decode() if found else None)
        return self.ids


with Pipeline(clock="event") as p:
    server = SmtpServer(p.dir, tls=None)
    server.start()
    p.write_config({"mail-sender": mail_options(relay="localhost:%d" % server.port, tls="none",
                                                auth=False, connections=2, batch=20,
                                                **{"max-inflight": MAX_INFLIGHT})})
    p.start("mail-sender")
    orders = Orders(p)
    for n in range(TOTAL):
        orders.send(order(n, to="buyer%d@example.com" % n, name="Buyer %d" % n, locale="en"))
    started = time.time()
    wait(lambda: len(server.messages) >= TOTAL // 4, [orders.pump], 120)
    stats = p.control("mail-sender")["outbox"]
    p.kill("mail-sender")
    at_kill = len(server.messages)
    print("# killed with %d delivered, %d queued, %d in flight (%.1f s)"
          % (at_kill, stats["queued"], stats["sending"], time.time() - started))
    check("killed mid-way, with thousands still queued", at_kill < TOTAL - 2000, at_kill)

    p.start("mail-sender")
    message_ids = MessageIds(server)
    wait(lambda: len(set(message_ids())) >= TOTAL
         if len(server.messages) >= TOTAL else False, [orders.pump], 300)
    wait(lambda: False, [orders.pump], 1.0)
    ids = list(message_ids())
    unique = set(ids)
    duplicates = len(ids) - len(unique)
    found = re.search(r"(\d+) send orders? were in flight", p.log("mail-sender"))
    inflight = int(found.group(1)) if found else 0
    print("# after the restart: %d messages, %d distinct; %d were in flight at the kill, "
          "%d arrived twice" % (len(ids), len(unique), inflight, duplicates))
    check("none lost: all %d orders reached the server" % TOTAL, len(unique) == TOTAL, len(unique))
    check("duplicates only among those in flight (%d <= %d <= %d)" % (duplicates, inflight, MAX_INFLIGHT),
          duplicates <= inflight <= MAX_INFLIGHT, (duplicates, inflight))

    journal = Journal(p)
    wait(lambda: len(journal.poll(0.2) and journal.feedback("delivered")) >= TOTAL, [], 60)
    keys = [b["idempotency_key"] for b in journal.feedback("delivered")]
    check("one feedback.delivered per order, none twice", len(keys) == TOTAL == len(set(keys)),
          (len(keys), len(set(keys))))
    stats = p.control("mail-sender")["outbox"]
    check("STATS: %d delivered, nothing queued or in flight" % TOTAL,
          stats["delivered"] == TOTAL and stats["queued"] == 0 and stats["sending"] == 0, stats)
    journal.close()
    orders.close()
    server.stop()
done()
