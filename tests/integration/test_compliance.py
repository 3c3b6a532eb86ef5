#!/usr/bin/python3
"""Compliance text: STOP footer, unsubscribe links, prices as each locale writes them.

  - prices: the real scheduler makes the send orders of a Polish cart in
    PLN and a Japanese one in JPY; their prices are ICU's for the locale
    ("12,00 zł", "￥1,200"), and nd-render shows those mails with them;
  - every shipped marketing e-mail template (not the transactional
    confirm/), in en, pl and ja, rendered by nd-render, has in its text
    and HTML bodies the unsubscribe URL of its List-Unsubscribe header;
    and a mail the mail-sender really sends (aiosmtpd) has it too;
  - SMS: the first text to a number ends with the locale's "Reply STOP to
    opt out", the second not, another number's first yes, a confirm code
    never, a first that failed gives it back; after kill -9 and a restart
    the number still does not get it again; the footer counts in the
    segments; no number in sms.footer.
"""
import glob
import html
import json
import os
import re
import subprocess

from mailtest import Orders as MailOrders, mail_options, order as mail_order, parse
from ndtest import BIN, ROOT, Pipeline, check, done
from schedtest import Feed, Reader, pipeline_extra, users_in
from sendtest import Orders, SmsProvider, feedback, sms_segments
from smtpd import SmtpServer

TEMPLATES = os.path.join(ROOT, "conf", "templates")
NBSP = "\u00a0"
os.environ["ND_TEST_SMS_TWILIO"] = SmsProvider.TOKEN
os.environ["ND_TEST_SMS_FOOTER_SECRET"] = "test-footer-secret-0123456789"
FOOTER = {loc: open(os.path.join(TEMPLATES, "_footer", "sms", loc, "sms.stop.mustache"),
                    encoding="utf-8").read().rstrip("\n") for loc in ("en", "pl", "ja")}


def render(p, *args):
    r = subprocess.run([os.path.join(BIN, "nd-render"), "-c", p.config] + list(args),
                       capture_output=True, text=True, timeout=30, cwd=p.dir)
    return r.returncode, r.stdout, r.stderr


def sections(out):
    """headers, text and html of nd-render's e-mail output."""
    head = out.split("\n-- subject\n")[0]
    text = out.split("\n-- text\n")[1].split("\n-- html\n")[0] if "\n-- text\n" in out else ""
    body = out.split("\n-- html\n")[1] if "\n-- html\n" in out else ""
    m = re.search(r"^List-Unsubscribe: <(https://[^>]+)>", head, re.M)
    return (m.group(1) if m else None), text, body


def marketing_steps():
    """(journey, step, variant, locale) of every marketing e-mail template."""
    found = []
    for path in sorted(glob.glob(os.path.join(TEMPLATES, "*", "*", "*", "email.text.mustache"))):
        journey, step, locale = path.split(os.sep)[-4:-1]
        if journey == "confirm" or journey.startswith("_"):
            continue
        name, _, variant = step.partition(".")
        found.append((journey, name, variant, locale))
    return found


# ------------------------------------------------ prices and unsubscribe --
PLN_CART = {"items": [{"product_id": "p-1", "name": "Kubek", "price": 12.0, "quantity": 1,
                       "url": "https://shop.example/p/1"}], "value": 12.0, "currency": "PLN"}
JPY_CART = {"items": [{"product_id": "p-2", "name": "湯呑み", "price": 1200, "quantity": 1,
                       "url": "https://shop.example/p/2"}], "value": 1200, "currency": "JPY"}

with Pipeline(clock="event", extra=dict(pipeline_extra(), **{"mail-sender": mail_options()})) as p:
    p.start("scheduler")
    feed, reader = Feed(p), Reader(p)
    PL, JA = users_in("abandoned-cart", "a", 2, prefix="c-")     # variant b has no ja wording
    feed.abandon(PL, 0, cart=PLN_CART, locale="pl")
    feed.abandon(JA, 0, cart=JPY_CART, locale="ja")
    feed.tick(1.0)
    feed.settle()
    reader.drain(p)
    orders = {s["user"]: s for s in reader.sends() if s["channel"] == "email"}
    pl, ja = orders.get(PL, {}), orders.get(JA, {})
    pl_cart, ja_cart = pl.get("data", {}).get("cart", {}), ja.get("data", {}).get("cart", {})
    check("the scheduler writes a Polish cart's PLN as Polish does: 12,00 zł",
          pl.get("locale") == "pl" and pl_cart.get("value_text") == "12,00" + NBSP + "zł"
          and pl_cart.get("items", [{}])[0].get("price_text") == "12,00" + NBSP + "zł", pl_cart)
    check("... and a Japanese cart's JPY as Japanese does: ￥1,200 (no decimals)",
          ja.get("locale") == "ja" and ja_cart.get("value_text") == "￥1,200", (ja.get("locale"), ja_cart))
    shown = {}
    for user, order in ((PL, pl), (JA, ja)):
        path = os.path.join(p.dir, "order-%s.json" % user)
        with open(path, "w") as f:
            json.dump(order, f)
        rc, out, err = render(p, "abandoned-cart", "reminder-1", "--channel", "email", "--data", path)
        shown[user] = out if rc == 0 else err
    print("# the Polish mail's text part:\n# " + sections(shown[PL])[1].replace("\n", "\n# "))
    print("# the Japanese mail's text part:\n# " + sections(shown[JA])[1].replace("\n", "\n# "))
    check("nd-render shows the pl mail with 12,00 zł in its text and HTML",
          all("12,00" + NBSP + "zł" in part for part in sections(shown[PL])[1:]), shown[PL][:800])
    check("nd-render shows the ja mail with ￥1,200 in its text and HTML",
          all("￥1,200" in part for part in sections(shown[JA])[1:]), shown[JA][:800])

    problems, rendered = [], 0
    for journey, step, variant, locale in marketing_steps():
        args = [journey, step, "--channel", "email", "--locale", locale]
        rc, out, err = render(p, *(args + (["--variant", variant] if variant else [])))
        url, text, body = sections(out)
        rendered += 1
        name = "%s/%s%s %s" % (journey, step, "." + variant if variant else "", locale)
        if rc != 0 or not url:
            problems.append("%s: exit %d, List-Unsubscribe %s %s" % (name, rc, url, err.strip()))
        elif url not in text:
            problems.append("%s: the text part lacks %s" % (name, url))
        elif 'href="%s"' % html.escape(url) not in body:
            problems.append("%s: the HTML part has no link to %s" % (name, url))
    check("every marketing e-mail template (%d, en/pl/ja) links the List-Unsubscribe URL in its "
          "text and HTML bodies" % rendered, rendered >= 40 and not problems, problems[:5])

# ------------------------------------------------------ a real sent mail --
with Pipeline(clock="event") as p:
    server = SmtpServer(p.dir, tls=None)
    server.start()
    p.write_config({"mail-sender": mail_options(relay="localhost:%d" % server.port, tls="none",
                                                auth=False)})
    mail = MailOrders(p)
    p.start("mail-sender")
    mail.send(mail_order(1, to="ola@example.com", name="Ola Kot", locale="pl"))
    server.wait(1, timeout=20, pump=mail.pump)
    msg = parse(server.messages[0][2]) if server.messages else None
    header = str(msg["List-Unsubscribe"]) if msg else ""
    m = re.match(r"<(https://[^>]+)>", header)
    text = msg.get_body(("plain",)).get_content() if msg else ""
    body = msg.get_body(("html",)).get_content() if msg else ""
    check("a mail the mail-sender sent (pl) links its List-Unsubscribe URL in the text and HTML bodies",
          m and m.group(1) in text and 'href="%s"' % html.escape(m.group(1)) in body
          and "Aby nie dostawać tych wiadomości: " + m.group(1) in text, (header, text[-300:]))
    server.stop()

# ------------------------------------------------------------------- SMS --
sms = SmsProvider("twilio")
options = {"input": "scheduler", "topics": "send.sms", "provider": "twilio", "api-base": sms.base,
           "account": SmsProvider.SID, "secret": "env:ND_TEST_SMS_TWILIO", "from": "+15550001234",
           "templates": TEMPLATES, "webhook-url": "https://hooks.shop.example",
           "unsubscribe-secret": "env:ND_TEST_SMS_FOOTER_SECRET"}
A, B, C = "+48600300001", "+48600300002", "+48600300003"     # D below
with Pipeline(clock="event", extra={"sms-sender": options}) as p:
    orders = Orders(p)
    p.start("sms-sender")
    tap = p.tap("sms-sender", "feedback.")

    def send(to, **kw):
        o = orders.order("sms", to, **kw)
        fb = feedback(tap, o["idempotency_key"], serve=orders.serve)
        sent = [m for m in sms.sent if m["key"] == o["idempotency_key"]]
        return (sent[0]["text"] if sent else None), (fb[0][1] if fb else {})

    first, fb1 = send(A, locale="pl")
    second, _ = send(A, locale="pl")
    other, _ = send(B)
    code, _ = send(C, template="confirm/sms", data={"code": "123456", "shop": {"name": "Shop"}})
    check("the first text to a number ends with the locale's STOP footer",
          first and first.endswith("\n" + FOOTER["pl"]), first)
    encoding, units, segments = sms_segments(first or "")
    check("... counted in its segments (%s, %d units, %d segments)" % (encoding, units, segments),
          fb1.get("segments") == segments and fb1.get("encoding") == encoding, fb1)
    check("the second text to that number has no footer",
          second and FOOTER["pl"] not in second and FOOTER["en"] not in second, second)
    check("another number's first text has it (en)", other and other.endswith("\n" + FOOTER["en"]), other)
    check("a confirm code (transactional) never carries it",
          code and "123456" in code and "STOP" not in code, code)

    D = "+48600300004"
    failed, fbd = send(D, locale="ja", max_segments=1)
    retried, _ = send(D)
    check("a first text that fails (too long with its footer) gives the footer back to the next",
          failed is None and fbd.get("segments") == 2 and retried
          and retried.endswith("\n" + FOOTER["en"]), (fbd, retried))

    p.kill("sms-sender")
    p.start("sms-sender")
    tap = p.tap("sms-sender", "feedback.")
    after, _ = send(A, locale="pl")
    later, _ = send(C)
    check("after kill -9 and a restart the number still does not get it again",
          after and FOOTER["pl"] not in after, after)
    check("... while a number that only had a confirm code gets it on its first marketing text",
          later and later.endswith("\n" + FOOTER["en"]), later)
    state = os.path.join(p.dir, "state", "sms-sender")
    r = subprocess.run(["mdb_dump", "-p", "-s", "sms.footer", state], capture_output=True, text=True)
    check("sms.footer holds keyed hashes only, no number (%d lines)" % len(r.stdout.splitlines()),
          r.returncode == 0 and "data=" not in r.stdout and not re.search(r"4860030000", r.stdout)
          and r.stdout.count("\n ") >= 4, (r.returncode, r.stderr, r.stdout[-300:]))
done()
