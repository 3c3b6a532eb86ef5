#!/usr/bin/python3
"""mail-sender with mbox = FILE: the dry run nd-backtest uses.

A Python journal stands in for the scheduler; event time.

  - with no relay and mbox set, the stage starts and says messages go to
    the mbox; no Maildir is made;
  - three orders become three messages in the one file (0600), which
    Python's mailbox module reads as an mbox: each with its Subject and
    To, its lines ending in LF, each opened by its "From " line (the
    quoting of body lines is mail_maildir's self-test);
  - one feedback.delivered per order, and a key sent again is not
    written again.
"""
import email.utils
import mailbox
import os
import stat

from ndtest import Pipeline, check, done
from mailtest import Journal, Orders, mail_options, order, wait

with Pipeline(clock="event") as p:
    mbox = os.path.join(p.dir, "dry", "mail.mbox")
    maildir = os.path.join(p.dir, "var", "mail")
    p.write_config({"mail-sender": mail_options(mbox=mbox)})
    p.start("mail-sender")
    check("no relay, mbox set: it starts and says messages go to the mbox",
          "messages go to the mbox %s" % mbox in p.log("mail-sender"), p.log("mail-sender")[-600:])
    orders, journal = Orders(p), Journal(p)
    pumps = [orders.pump]
    for n in range(3):
        orders.send(order(n, to="hanako%d@example.jp" % n, minutes=n))
    orders.send(order(0, to="hanako0@example.jp", minutes=3))       # the same key again
    orders.tick(10)
    wait(lambda: len(journal.poll(0.05) and journal.feedback()) >= 3, pumps)
    delivered = journal.feedback("delivered")
    check("one feedback.delivered per order",
          sorted(b["idempotency_key"] for b in delivered)
          == ["abandoned-cart/e1-%d/reminder-1/email" % n for n in range(3)], journal.feedback())

    box = mailbox.mbox(mbox)
    mails = list(box)
    check("three messages in the one file, each to its own address",
          sorted(email.utils.parseaddr(str(m["To"]))[1] for m in mails)
          == ["hanako%d@example.jp" % n for n in range(3)], [m["To"] for m in mails])
    check("each has a Subject and a Message-ID", all(m["Subject"] and m["Message-ID"] for m in mails),
          [m["Subject"] for m in mails])
    raw = open(mbox, "rb").read()
    check("LF line ends, every entry opened by a From line",
          b"\r\n" not in raw and raw.startswith(b"From MAILER-DAEMON ") and raw.count(b"\nFrom MAILER-DAEMON ") == 2,
          raw[:200])
    check("the file is 0600 and no Maildir was made",
          stat.S_IMODE(os.stat(mbox).st_mode) == 0o600 and not os.path.exists(maildir),
          (oct(os.stat(mbox).st_mode), os.path.exists(maildir)))
    orders.close()
    journal.close()
done()
