#!/usr/bin/python3
"""mail-sender: 4xx is tried again, 5xx bounces and suppresses.

Event time: the retries come due when ticks move the clock, so a day of
backoff takes no time and the schedule is exact.

  - the relay answers DATA with 451 twice, then accepts: three tries, at
    0, +1 min and +3 min (base 1 min, doubling), all with the same
    Message-ID; delivered once, one feedback.delivered. With the clock
    stopped just short of each retry, nothing is sent and nothing is out
    with a worker (checked once the mail-sender has passed that tick on,
    not after a sleep); each try's Date header is its event time;
  - the relay answers RCPT with 550: feedback.bounced with the reason
    (address masked) and "suppressed"; a later order to that address is
    bounced without a connection; both feedback messages are in the
    mail-sender's durable output, where the scheduler reads them;
  - the relay is down: retries until the lifetime (here 10 min) runs out,
    then feedback.failed;
  - a dropped connection (the relay closes at once) is a retry too;
  - "rate = 20" counts event time: of 60 messages due at once a second's
    burst goes, then nothing until the clock moves, then at most 20 an
    event-second (their Date: headers say when).
"""
import socket
import threading
import time

from ndtest import Pipeline, check, done, passed_on
from mailtest import Journal, Orders, iso, mail_options, order, parse, wait
from smtpd import SmtpServer

with Pipeline(clock="event") as p:
    server = SmtpServer(p.dir, tls="starttls", auth=("nudge", "s3cret-pass"))
    server.start()
    p.write_config({"mail-sender": mail_options(relay="localhost:%d" % server.port, ca=server.cert,
                                                lifetime="10m")})
    p.start("mail-sender")
    orders, journal = Orders(p), Journal(p)
    pumps = [orders.pump, journal.poll]

    def settle(count, timeout=15):
        return wait(lambda: len(journal.poll(0.05) and journal.feedback()) >= count, pumps, timeout)

    def tick_seen(minutes):
        """The clock at minutes, passed on by the mail-sender (passed_on)."""
        orders.tick(minutes)
        return wait(lambda: passed_on(journal.messages, iso(minutes)), pumps)

    def waiting(tries):
        """Nothing out with a worker, and the relay saw tries tries."""
        sending = p.control("mail-sender")["outbox"]["sending"]    # before the count
        return sending == 0 and len(server.attempts) == tries

    # 451, 451, then 250
    server.data_script = ["451 4.7.1 greylisted, try again", "451 4.7.1 greylisted, try again"]
    orders.send(order(1, minutes=0))
    wait(lambda: len(server.attempts) >= 1, pumps)
    tick_seen(0.9)
    check("after the first 451: one try, no second before a minute", waiting(1),
          len(server.attempts))
    tick_seen(1.0)
    wait(lambda: len(server.attempts) >= 2, pumps)
    tick_seen(2.9)
    check("the second 451 doubles the wait: nothing at +2.9 min", waiting(2),
          len(server.attempts))
    tick_seen(3.0)
    wait(lambda: server.messages, pumps)
    settle(1)
    ids = [parse(d)["Message-ID"] for _, _, d in server.attempts]
    check("three tries, the last accepted, all with one Message-ID",
          len(server.attempts) == 3 and len(server.messages) == 1 and len(set(ids)) == 1, ids)
    dates = [parse(d)["Date"] for _, _, d in server.attempts]
    check("each try's Date is its event time: 12:00, 12:01, 12:03",
          dates == ["Mon, 02 Mar 2026 12:%02d:00 +0000" % m for m in (0, 1, 3)], dates)
    delivered = journal.feedback("delivered")
    check("delivered once: one feedback.delivered, after 3 attempts",
          len(delivered) == 1 and delivered[0]["attempts"] == 3 and journal.feedback("failed") == [],
          journal.feedback())

    # 550 on RCPT: bounced, suppressed
    server.rcpt_script["gone@example.com"] = ["550 5.1.1 <gone@example.com>: Recipient address rejected"]
    orders.send(order(2, to="gone@example.com", minutes=4))
    settle(2)
    bounced = journal.feedback("bounced")
    check("550 -> feedback.bounced, reason with the code, address masked, suppressed",
          len(bounced) == 1 and bounced[0]["idempotency_key"] == "abandoned-cart/e1-2/reminder-1/email"
          and "550" in bounced[0]["reason"] and "g***@example.com" in bounced[0]["reason"]
          and "gone@" not in bounced[0]["reason"] and bounced[0].get("suppressed") is True
          and bounced[0]["smtp_code"] == 550, bounced)
    sessions = len(server.sessions)
    orders.send(order(3, to="Gone@Example.com", minutes=5))
    settle(3)
    bounced = journal.feedback("bounced")
    check("a later order to the suppressed address bounces without a connection",
          len(bounced) == 2 and "suppressed" in bounced[1]["reason"] and len(server.sessions) == sessions
          and len(server.messages) == 1, (bounced, len(server.sessions), sessions))
    topics = [t for _, t, _ in journal.messages if t.startswith("feedback.")]
    check("the feedback is in the durable output the scheduler reads",
          topics == ["feedback.delivered", "feedback.bounced", "feedback.bounced"], topics)
    stats = p.control("mail-sender")
    check("STATS: delivered 1, bounced 2, retrying 0, suppressed 1",
          (stats["outbox"]["delivered"], stats["outbox"]["bounced"], stats["outbox"]["retrying"],
           stats["suppressed"]) == (1, 2, 0, 1), stats)
    server.stop()

    # The relay is down: tried until the lifetime ends, then failed
    orders.send(order(4, to="taro@example.jp", minutes=10))
    for minute in (11, 13, 17, 20):
        tick_seen(minute)
    settle(4)
    failed = journal.feedback("failed")
    log = p.log("mail-sender")
    check("the relay down for the whole lifetime: tries at 0, 1, 3, 7, 10 (its end), then failed",
          len(failed) == 1 and failed[0]["attempts"] == 5 and failed[0]["idempotency_key"].startswith(
              "abandoned-cart/e1-4/") and "refused" in failed[0]["reason"].lower(), (failed, log[-1500:]))

    # A relay that hangs up at once: a retry, not a bounce
    listener = socket.socket()
    listener.bind(("127.0.0.1", server.port))
    listener.listen(5)

    def hang_up():
        while True:
            try:
                c, _ = listener.accept()
            except OSError:
                return
            c.close()
    threading.Thread(target=hang_up, daemon=True).start()
    orders.send(order(5, to="jiro@example.jp", minutes=21))
    wait(lambda: "e1-5/reminder-1/email in 60s" in p.log("mail-sender"), pumps, 15)
    stats = p.control("mail-sender")["outbox"]
    check("a dropped connection is tried again later", stats["retrying"] == 1
          and "e1-5/reminder-1/email in 60s" in p.log("mail-sender"), (stats, p.log("mail-sender")[-600:]))
    check("no address in the log", "gone@" not in log and "taro@" not in log, log[-2000:])
    listener.close()

    # The rate limit
    p.stop("mail-sender")
    fast = SmtpServer(p.dir, tls=None)
    fast.start()
    p.write_config({"mail-sender": mail_options(relay="localhost:%d" % fast.port, tls="none",
                                                auth=False, rate=20, connections=2)})
    p.start("mail-sender")
    for n in range(100, 160):
        orders.send(order(n, to="r%d@example.com" % n, minutes=30))
    #  Jiro's order, waiting for a retry since the dropped connection, goes too
    ours = lambda: [r for _, r, _ in fast.messages if r[0].startswith("r")]
    wait(lambda: ours(), pumps, 10)
    wait(lambda: False, pumps, 1.0)     # a wall-clock second: the limit must not care
    held = len(ours())
    orders.tick(30 + 5 / 60)
    wait(lambda: len(ours()) >= 60, pumps, 20)
    seconds = {}
    for _, rcpt, data in fast.messages:
        if rcpt[0].startswith("r"):
            date = parse(data)["Date"]
            seconds[date] = seconds.get(date, 0) + 1
    check("rate = 20 counts event time: a burst, then nothing more until the clock moves "
          "(%d of 60 after a wall-clock second)" % held, 0 < held <= 21, held)
    spread = [seconds.get("Mon, 02 Mar 2026 12:30:%02d +0000" % s, 0) for s in range(4)]
    check("rate = 20: a burst of 20, then one each 50 event-ms: the last at +2 s",
          len(ours()) == 60 and spread[0] <= 40 and spread[1] <= 20 and spread[2] >= 1
          and spread[3] == 0 and sum(spread) == 60, seconds)
    fast.stop()
    orders.close()
    journal.close()
done()
