#!/usr/bin/python3
"""nd-render renders every shipped step as its sender would, alone.

Every send step of every shipped journey (conf/journeys/*.zpl), in every
locale conf/templates holds, on each channel the step names, with no
stage running: nd-render succeeds and its output holds the template's own
words in that locale (or in the default one the senders fall back to).
--send-test hands the e-mail to a real SMTP server (aiosmtpd), and what
arrives is what the mail-sender itself sends for the same order but for
its Date. --person renders from the scheduler's state (read while it
runs) what the scheduler's own send order renders to. A step without templates, a journey or step that does not
exist: one line on stderr, exit status 1.
"""
import glob
import json
import os
import re
import subprocess

from mailtest import Journal, Orders, SECRET_ENV, iso, mail_options, wait
from ndtest import BIN, ROOT, Pipeline, check, done
from schedtest import Feed, Reader, journeys_only, pipeline_extra, users_in
from smtpd import SmtpServer

TEMPLATES = os.path.join(ROOT, "conf", "templates")
JOURNEYS = os.path.join(ROOT, "conf", "journeys")
#  A run of literal words of a template, outside its tags and markup
WORDS = re.compile(r"[^\s{}<>&\"'\\/=:#^!.,()\[\]|*%-][^{}<>&\"'\\/\n=:#^!.,()\[\]|*%]{5,}")


def render(p, *args):
    r = subprocess.run([os.path.join(BIN, "nd-render"), "-c", p.config] + list(args),
                       capture_output=True, text=True, timeout=30, cwd=p.dir)
    return r.returncode, r.stdout, r.stderr


def send_steps():
    """(journey, step, template id, [channels]) of every shipped send step."""
    steps = []
    for path in sorted(glob.glob(os.path.join(JOURNEYS, "*.zpl"))):
        text = open(path, encoding="utf-8").read()
        journey = re.search(r"^\s+name = (\S+)", text, re.M).group(1)
        for m in re.finditer(r"^(\s+)send = (\S+)\s*(?:#.*)?\n((?:\1\s+.*\n)*)", text, re.M):
            block = m.group(3)
            channels = re.search(r'channels = "?([^"#\n]+)', block)
            template = re.search(r"template = (\S+)", block)
            steps.append((journey, m.group(2), template.group(1) if template else
                          "%s/%s" % (journey, m.group(2)),
                          [c.strip() for c in (channels.group(1) if channels else "email").split(",")
                           if c.strip()]))
    return steps


def expected_words(template, locale, channel):
    """Literal words of the channel's first part in locale (else en)."""
    for loc in (locale, "en"):
        parts = sorted(glob.glob(os.path.join(TEMPLATES, template, loc, channel + ".*.mustache")))
        for path in parts:
            text = re.sub(r"\{\{.*?\}\}", "\n", open(path, encoding="utf-8").read(), flags=re.S)
            words = sorted((w.strip() for w in WORDS.findall(text)), key=len, reverse=True)
            if words and len(words[0]) >= 4:
                return words[0]
    return None


def main():
    locales = sorted({os.path.basename(d) for d in glob.glob(os.path.join(TEMPLATES, "*", "*", "*"))
                      if os.path.isdir(d)})
    with Pipeline(clock="event") as p:
        server = SmtpServer(p.dir, tls=None)
        server.start()
        common = {"templates": TEMPLATES}
        p.write_config({
            "scheduler": dict(common, journeys=JOURNEYS, **{"shop-name": "Example Shop",
                                                             "shop-url": "https://shop.example"}),
            "mail-sender": mail_options(relay="localhost:%d" % server.port, tls="none", auth=False),
            "push-sender": common, "sms-sender": common, "onsite": common})

        # Every step, every locale, each of its channels
        steps = send_steps()
        renders, problems = 0, []
        for journey, step, template, channels in steps:
            for locale in locales:
                rc, out, err = render(p, journey, step, "--locale", locale)
                renders += 1
                if rc != 0:
                    problems.append("%s/%s %s: exit %d %s" % (journey, step, locale, rc, err.strip()))
                    continue
                for channel in channels:
                    words = expected_words(template, locale, channel)
                    if "== %s %s" % (channel, template) not in out or (words and words not in out):
                        problems.append("%s/%s %s %s: %r not in the output" % (journey, step, locale,
                                                                               channel, words))
                if "{{" in out:
                    problems.append("%s/%s %s: a tag left unrendered" % (journey, step, locale))
        check("nd-render renders every shipped send step in every locale (%d steps x %s), "
              "no stage running" % (len(steps), ",".join(locales)),
              len(steps) >= 15 and not problems and renders == len(steps) * len(locales), problems[:5])
        rc, out, _ = render(p, "abandoned-cart", "reminder-1")
        check("without data: a sample cart of two articles, a name and the shop",
              rc == 0 and "Trail running shoes" in out and "Anna" in out and "Example Shop" in out
              and "-- 1 segment" in out, out[:600])
        rc, out, _ = render(p, "abandoned-cart", "reminder-1", "--channel", "sms", "--locale", "pl")
        text = out.split("== sms abandoned-cart/reminder-1\n", 1)[-1].split("\n-- ", 1)[0]
        check("SMS: shown as the first text to a number gets it, the STOP footer last and counted",
              rc == 0 and text.count("\n") == 1 and "STOP" in text.split("\n")[1]
              and "with the STOP footer; later ones" in out, out[:600])
        rc, out, _ = render(p, "abandoned-cart", "reminder-2", "--channel", "email", "--locale", "ja")
        check("e-mail: headers as the mail-sender builds them, then subject, text and HTML",
              rc == 0 and "locale ja" in out and "\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\n" in out
              and "\n-- subject\n" in out and "\n-- text\n" in out and "\n-- html\n<!doctype html>" in out,
              out[:800])

        # Missing templates, journeys and steps: one line, exit 1
        rc, out, err = render(p, "abandoned-cart", "reminder-1", "--channel", "email", "--variant", "zz")
        check("a step without its template: one line naming it, exit status 1",
              rc == 1 and err.count("\n") == 1 and 'no e-mail template "abandoned-cart/reminder-1.zz"' in err,
              (rc, err))
        rc, _, err = render(p, "abandoned-cart", "reminder-9")
        check("a step the journey lacks: one line, exit 1",
              rc == 1 and err.strip() == 'nd-render: journey abandoned-cart has no send step "reminder-9"',
              (rc, err))
        rc, _, err = render(p, "no-such-journey", "x")
        check("a journey that is not there: one line, exit 1",
              rc == 1 and err.count("\n") == 1 and "no journey" in err, (rc, err))

        # --send-test through the relay, then the same order through the mail-sender
        data = {"first_name": "Ola", "name": "Ola Kot", "shop": {"name": "Sklep", "url": "https://shop.example"},
                "cart": {"items": [{"name": "Kubek", "quantity": 1, "price_text": "20.00 PLN",
                                    "total_text": "20.00 PLN", "url": "https://shop.example/p/1",
                                    "image_url": "https://shop.example/i/1.jpg"}],
                         "value_text": "20.00 PLN"}}
        data["cart"]["first_item"] = data["cart"]["items"][0]
        with open(os.path.join(p.dir, "data.json"), "w") as f:
            json.dump(data, f)
        rc, out, err = render(p, "abandoned-cart", "reminder-1", "--locale", "pl", "--data",
                              os.path.join(p.dir, "data.json"), "--send-test", "ola@example.com")
        sent = server.wait(1, timeout=10)
        check("--send-test: delivered to the local SMTP server, marked as a test",
              rc == 0 and sent and server.messages[0][1] == ["ola@example.com"]
              and b"\r\nX-Nudge-Test: nd-render\r\n" in server.messages[0][2]
              and "-- sent to ola@example.com through smtp" in out, (rc, err, out[-200:]))
        os.environ.setdefault(SECRET_ENV, "x")
        p.start("mail-sender")
        orders, journal = Orders(p), Journal(p)
        orders.send({"id": "o-1", "user": "nd-render-test", "time": iso(0),
                     "idempotency_key": "nd-render/abandoned-cart/reminder-1/email",
                     "journey": "abandoned-cart", "step": "reminder-1", "channel": "email",
                     "to": "ola@example.com", "name": "Ola Kot", "locale": "pl", "test": True,
                     "template": "abandoned-cart/reminder-1", "data": data})
        wait(lambda: len(server.messages) >= 2, [orders.pump], 15)
        undated = [re.sub(rb"^Date: [^\r]*\r\n", b"", m[2], flags=re.M) for m in server.messages]
        check("what arrived equals what the mail-sender sends for that order (but for Date)",
              len(undated) == 2 and undated[0] == undated[1] and b"Subject:" in undated[0],
              undated[:2] if len(undated) == 2 else len(undated))
        orders.close()
        journal.close()
        server.stop()

    # --person: the person and their cart from the scheduler's state
    with Pipeline(clock="event", extra=pipeline_extra(journeys_only("abandoned-cart"))) as p:
        p.write_config(dict(pipeline_extra(journeys_only("abandoned-cart")),
                            **{"mail-sender": mail_options(), "push-sender": {}, "sms-sender": {}}))
        p.start("scheduler")
        feed, reader = Feed(p), Reader(p)
        user = users_in("abandoned-cart", "a", 1)[0]
        feed.profile(user, 0)
        feed.abandon(user, 0.1)
        feed.tick(2)
        feed.settle()
        reader.drain(p)
        sends = [s for s in reader.sends(user) if s["channel"] == "email"]
        with open(os.path.join(p.dir, "order.json"), "w") as f:
            json.dump(sends[0] if sends else {}, f)
        undate = lambda text: re.sub(r"^Date: .*\n", "", text, flags=re.M)
        rc, by_person, err = render(p, "abandoned-cart", "reminder-1", "--person", user, "--channel", "email")
        rc2, by_order, err2 = render(p, "abandoned-cart", "reminder-1", "--data",
                                     os.path.join(p.dir, "order.json"), "--channel", "email")
        check("--person: the scheduler's person and cart render as its own send order does",
              sends and rc == 0 and rc2 == 0 and undate(by_person) == undate(by_order)
              and "Trail shoe" in by_person and "%s@example.com" % user in by_person,
              (sends[:1], err, err2, by_person[:300], by_order[:300]))
        rc, _, err = render(p, "abandoned-cart", "reminder-1", "--person", "nobody")
        check("--person for someone the scheduler does not know: one line, exit 1",
              rc == 1 and err.count("\n") == 1 and "nobody" in err, (rc, err))
        feed.close()
        reader.close()
    done()


main()
