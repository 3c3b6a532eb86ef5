#!/usr/bin/python3
"""One-click unsubscribe (RFC 8058) stops all later e-mail, through the
whole pipeline: collector -> sessionizer -> segmenter -> scheduler ->
mail-sender -> (feedback) scheduler, real processes, event time, the
shipped journeys and templates, the mail-sender writing to a Maildir.

  Bo and Ann each leave a cart; about an hour later each gets the first
  reminder by e-mail. Bo's mail client POSTs "List-Unsubscribe=One-Click"
  to the URL in its List-Unsubscribe header (the collector). A day later
  Ann gets the second reminder with her code; Bo gets nothing: the
  scheduler heard feedback.unsubscribed from the mail-sender and opted him
  out of e-mail. The mail-sender suppressed him and his address itself,
  so an order that still came would not be sent either.
"""
import os
import urllib.error
import urllib.request

from ndtest import ROOT, Pipeline, check, done, wait_for
from shoptest import Shop, shipped
from mailtest import mail_options, maildir_mails
from schedtest import Reader, journeys_only, scheduler_options

extra = {
    "pipeline": {"unsubscribe-secret": "env:ND_TEST_UNSUBSCRIBE_SECRET"},
    "sessionizer": {"input": "collector", "topics": shipped("sessionizer", "topics") or ""},
    "segmenter": {"input": "sessionizer", "segments": os.path.join(ROOT, "conf", "segments.zpl")},
    "scheduler": scheduler_options(journeys_only("abandoned-cart"), input="segmenter, mail-sender"),
    "sink": {"input": "scheduler"},
}

with Pipeline(clock="event", extra=extra) as p:
    maildir = os.path.join(p.dir, "mail")
    opts = mail_options(input="scheduler, collector", maildir=maildir,
                        **{"unsubscribe-url": "http://127.0.0.1:%d/unsubscribe" % p.http_port})
    del opts["unsubscribe-secret"]          # from [pipeline], shared with the collector
    p.write_config(dict(extra, **{"mail-sender": opts}))
    for stage in ("collector", "sessionizer", "segmenter", "scheduler", "mail-sender"):
        p.start(stage)
    links = (("collector", "sessionizer"), ("sessionizer", "segmenter"), ("segmenter", "scheduler"),
             ("scheduler", "mail-sender"), ("collector", "mail-sender"), ("mail-sender", "scheduler"))
    shop, reader = Shop(p, links), Reader(p)

    def mails():
        wait_for(lambda: False, 0.3)
        return maildir_mails(maildir)

    def to(messages, address):
        return [m for m in messages if m["To"].addresses[0].addr_spec == address]

    shop.send(shop.event("identify", 0, "a-bo", userId="u-bo", traits={"email": "bo@example.com",
                                                                        "firstName": "Bo"}),
              shop.add(1, "a-bo", "Socks", "p-socks", 9.5),
              shop.event("identify", 2, "a-ann", userId="u-ann", traits={"email": "ann@example.com",
                                                                          "firstName": "Ann"}),
              shop.add(2, "a-ann", "Hat", "p-hat", 25.0))
    for minutes in (40, 95):
        shop.tick(minutes)
    wait_for(lambda: len(mails()) >= 2, 15)
    first = mails()
    bo_mail, ann_mail = to(first, "bo@example.com"), to(first, "ann@example.com")
    check("Bo and Ann each get the first reminder by e-mail",
          len(bo_mail) == 1 and len(ann_mail) == 1, [m["To"] for m in first])

    url = str(bo_mail[0]["List-Unsubscribe"]).split(",")[0].strip().strip("<>") if bo_mail else ""
    check("its List-Unsubscribe points at the collector, with one-click POST",
          url.startswith("http://127.0.0.1:%d/unsubscribe?token=" % p.http_port)
          and bo_mail[0]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click", url)
    request = urllib.request.Request(url, data=b"List-Unsubscribe=One-Click", method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(request, timeout=20) as answer:
            status = answer.status
    except urllib.error.HTTPError as e:
        status = e.code
    check("the one-click POST is answered 200 (committed)", status == 200, status)
    shop.settle()
    stats = p.control("mail-sender")
    check("the mail-sender suppressed Bo and his address", stats["suppressed"] == 2
          and "unsubscribed from e-mail" in p.log("mail-sender"), (stats, p.log("mail-sender")[-800:]))
    counts = p.control("scheduler")["scheduler"]["counts"]
    check("the scheduler heard feedback.unsubscribed", counts["feedback.unsubscribed"] == 1, counts)
    check("the sessionizer, as shipped, rejected nothing (the unsubscribe is not its)",
          p.control("sessionizer")["rejected"] == 0 and "rejected" not in p.log("sessionizer"),
          p.log("sessionizer")[-600:])

    shop.tick(60 * 24 + 40)
    wait_for(lambda: len(mails()) >= 3, 10)
    reader.drain(p)
    second = [s for s in reader.sends() if s["step"] == "reminder-2"]
    later = mails()
    check("Ann gets the second reminder, with her code", [s["to"] for s in second] == ["ann@example.com"]
          and len(to(later, "ann@example.com")) == 2, [(s["to"], s["step"]) for s in reader.sends()])
    check("Bo gets no more e-mail: no order and no message", len(to(later, "bo@example.com")) == 1
          and all(s["to"] != "bo@example.com" for s in second), [str(m["To"]) for m in later])
    check("no address in the mail-sender's log", "bo@example.com" not in p.log("mail-sender"))
    reader.close()
done()
