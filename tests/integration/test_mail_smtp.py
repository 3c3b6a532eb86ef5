#!/usr/bin/python3
"""mail-sender: a real e-mail over SMTP, and what is in it.

A real SMTP server (aiosmtpd) that insists on STARTTLS, with a certificate
made by `openssl req`, and on AUTH. A Japanese abandoned-cart order goes
in over the durable link; the message that arrives is parsed back with
Python's email package: subject, display names, both parts, every cart
item, List-Unsubscribe with a token the collector accepts, a DKIM
signature that dkimpy verifies. Then: a name, subject and address holding
CR/LF cannot add a header or a recipient; implicit TLS (SMTPS) works too;
a relay whose certificate we do not trust gets nothing.
"""
import base64
import os
import subprocess
import urllib.parse

import dkim

from ndtest import ROOT, Pipeline, check, done
from mailtest import Orders, Journal, mail_options, order, parse, wait
from smtpd import SmtpServer

T_KEY = "abandoned-cart/e1-1/reminder-1/email"


def dkim_key(directory):
    key = os.path.join(directory, "dkim.pem")
    subprocess.run(["openssl", "genrsa", "-out", key, "2048"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    der = subprocess.run(["openssl", "rsa", "-in", key, "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    return key, b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


def injection_templates(directory):
    base = os.path.join(directory, "templates", "inject", "test", "en")
    os.makedirs(base)
    for part, text in (("subject", "{{{subject}}}"), ("text", "{{{body}}}\n")):
        with open(os.path.join(base, "email.%s.mustache" % part), "w") as f:
            f.write(text)
    return os.path.join(directory, "templates")


def first_run(p, server, orders, tap, journal):
    wait(lambda: server.messages, [orders.pump, tap.poll], 30)
    check("the message arrived through STARTTLS and AUTH", len(server.messages) == 1
          and server.logins == [(b"nudge", True)], (server.logins, p.log("mail-sender")[-2000:]))
    if not server.messages:
        return None
    mail_from, rcpts, data = server.messages[0]
    msg = parse(data)
    check("envelope: from the return path, to the one recipient",
          mail_from == "shop@shop.example" and rcpts == ["hanako@example.jp"], (mail_from, rcpts))
    check("Subject decodes to the Japanese text", msg["Subject"] == "カートに商品が残っています",
          msg["Subject"])
    to, sender = msg["To"].addresses[0], msg["From"].addresses[0]
    check("To: 山田 花子 <hanako@example.jp>", (to.display_name, to.addr_spec)
          == ("山田 花子", "hanako@example.jp"), str(msg["To"]))
    check("From and Reply-To from the config", (sender.display_name, sender.addr_spec)
          == ("ニッポン雑貨", "shop@shop.example") and msg["Reply-To"].addresses[0].addr_spec
          == "care@shop.example", (str(msg["From"]), str(msg["Reply-To"])))
    check("multipart/alternative, text then HTML, both UTF-8 quoted-printable",
          msg.get_content_type() == "multipart/alternative"
          and [q.get_content_type() for q in msg.iter_parts()] == ["text/plain", "text/html"]
          and all(q.get_content_charset() == "utf-8" and q["Content-Transfer-Encoding"]
                  == "quoted-printable" for q in msg.iter_parts()), msg.get_content_type())
    text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html = msg.get_body(("html",)).get_content()
    check("the text part has both cart items with their prices and the name",
          "抹茶ラテ セット x 2  2400 JPY" in text and "有田焼 湯呑み x 1  3500 JPY" in text
          and text.startswith("山田 花子 様") and "合計: 5900 JPY" in text, text)
    check("the HTML part has the items, their links and images",
          "抹茶ラテ セット" in html and 'href="https://shop.example/p/2"' in html
          and 'src="https://shop.example/i/1.jpg"' in html, html[:600])
    check("Date and a Message-ID made from the idempotency key",
          msg["Date"] is not None and msg["Message-ID"].endswith("@shop.example>")
          and len(msg["Message-ID"]) == len("<>@shop.example") + 32, msg["Message-ID"])
    unsub = [u.strip().strip("<>") for u in str(msg["List-Unsubscribe"]).split(",")]
    url = urllib.parse.urlparse(unsub[0]) if unsub else None
    token = urllib.parse.parse_qs(url.query).get("token", [""])[0] if url else ""
    check("List-Unsubscribe: an https URL with a token, and a mailto",
          len(unsub) == 2 and unsub[0].startswith("https://shop.example/unsubscribe?token=")
          and unsub[1] == "mailto:unsubscribe@shop.example?subject=unsubscribe%20" + token
          and len(token) > 40, unsub)
    check("List-Unsubscribe-Post: List-Unsubscribe=One-Click (RFC 8058)",
          msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click", msg["List-Unsubscribe-Post"])
    long = [l for l in data.split(b"\r\n") if len(l) > 78]
    check("lines fold at 78, except those holding the unsubscribe token (at most 998)",
          all(len(l) <= 998 and token.encode() in l for l in long) and len(long) <= 2, long)
    return data, token


def main():
    with Pipeline(clock="event") as p:
        server = SmtpServer(p.dir, tls="starttls", auth=("nudge", os.environ["ND_TEST_SMTP_PASSWORD"]))
        server.start()
        key, record = dkim_key(p.dir)
        templates = injection_templates(p.dir)
        p.write_config({"mail-sender": mail_options(
            relay="localhost:%d" % server.port, ca=server.cert, **{"dkim-key": key,
                                                                   "dkim-selector": "nudge"}),
                        "collector": {"unsubscribe-secret": "env:ND_TEST_UNSUBSCRIBE_SECRET"}})
        p.start("mail-sender")
        orders, journal = Orders(p), Journal(p)
        tap = journal
        orders.send(order(1))
        got = first_run(p, server, orders, tap, journal)
        if got:
            data, token = got
            check("the DKIM signature verifies (dkimpy, relaxed/relaxed)",
                  dkim.verify(data, dnsfunc=lambda name, timeout=5: record), data[:400])
            tampered = data.replace("抹茶".encode("utf-8"), b"xx").replace(b"=E6=8A=B9", b"=E6=8A=BA")
            check("and fails on a changed body", not dkim.verify(tampered, dnsfunc=lambda n, timeout=5: record))
            p.start("collector")
            status, _ = p.get("/unsubscribe?token=" + token)
            check("the collector accepts the token (GET shows the button)", status == 200, status)
            status, _ = p.get("/unsubscribe?token=" + token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
            check("and refuses a forged one", status == 400, status)
            p.stop("collector")
        delivered = wait(lambda: journal.poll() and journal.feedback("delivered"), [orders.pump], 10)
        check("feedback.delivered with the order's key, journey and step",
              len(delivered) == 1 and delivered[0]["idempotency_key"] == T_KEY
              and delivered[0]["step"] == "reminder-1" and delivered[0]["user"] == "v-1"
              and delivered[0]["channel"] == "email", delivered)

        # Header injection: CR/LF in the subject, the name and the address
        evil = order(2, to="eve@example.com", name="Eve\r\nBcc: victim1@example.com",
                     template="inject/test", locale="en",
                     data={"subject": "Hello\r\nBcc: victim2@example.com\r\nX-Injected: yes",
                           "body": "line\r\n.\r\nQUIT"})
        orders.send(evil)
        orders.send(order(3, to="eve@example.com>\r\nBcc: victim3@example.com", template="inject/test",
                          locale="en", data={"subject": "x", "body": "y"}))
        subject = ("Zażółć gęślą jaźń: ваша корзина ждёт вас, не забудьте оформить заказ сегодня, "
                   "скидка действует до пятницы")
        #  A name longer than one encoded-word (45 bytes) is split into two,
        #  and Python's parser wrongly keeps the space between them in an
        #  address header (RFC 2047 6.2); mail clients do not
        orders.send(order(6, to="anna@example.ru", name="Анна Каренина", template="inject/test",
                          locale="en", data={"subject": subject, "body": "Привет"}))
        p.stop("mail-sender")
        p.write_config({"mail-sender": mail_options(relay="localhost:%d" % server.port, ca=server.cert,
                                                    templates=templates)})
        p.start("mail-sender")
        wait(lambda: len(server.messages) >= 3, [orders.pump, tap.poll], 20)
        bounced = wait(lambda: journal.poll() and journal.feedback("bounced"), [orders.pump], 10)
        evil_mail = [d for _, r, d in server.messages if r == ["eve@example.com"]]
        msg = parse(evil_mail[0]) if evil_mail else None
        check("CR/LF in a name or subject adds no header",
              msg is not None and msg["Bcc"] is None and msg["X-Injected"] is None
              and msg["Subject"] == "Hello Bcc: victim2@example.com X-Injected: yes"
              and msg["To"].addresses[0].display_name == "Eve Bcc: victim1@example.com",
              msg and dict(msg.items()))
        check("nor a recipient: the server saw only eve@example.com",
              all(r in (["eve@example.com"], ["anna@example.ru"]) for _, r, _ in server.messages[1:]),
              [r for _, r, _ in server.messages])
        check("a lone '.' in the body does not end the DATA early",
              msg is not None and msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
              == "line\n.\nQUIT\n", msg and msg.get_body(("plain",)).get_content())
        check("an address with CR/LF bounces without being tried",
              [b["idempotency_key"] for b in bounced] == ["abandoned-cart/e1-3/reminder-1/email"]
              and "not an address" in bounced[0]["reason"], bounced)
        raw = [d for _, r, d in server.messages if r == ["anna@example.ru"]]
        russian = [parse(d) for d in raw]
        head = raw[0].split(b"\r\n\r\n")[0].split(b"\r\n") if raw else []
        check("a long Polish and Russian subject and a Russian name decode exactly, folded",
              len(russian) == 1 and russian[0]["Subject"] == subject
              and russian[0]["To"].addresses[0].display_name == "Анна Каренина"
              and sum(l.startswith(b" =?UTF-8?B?") for l in head) >= 2
              and all(len(l) <= 76 for l in head if b"token=" not in l and b"%20" not in l),
              russian and (russian[0]["Subject"], str(russian[0]["To"]), head))
        log = p.log("mail-sender")
        check("no address in the log", "hanako@" not in log and "eve@" not in log, log[-1500:])
        p.stop("mail-sender")
        server.stop()

        # Implicit TLS (SMTPS): the same order to a server that speaks TLS at once
        smtps = SmtpServer(p.dir, tls="implicit", auth=("nudge", os.environ["ND_TEST_SMTP_PASSWORD"]))
        smtps.start()
        p.write_config({"mail-sender": mail_options(relay="localhost:%d" % smtps.port, tls="implicit",
                                                    ca=smtps.cert)})
        p.start("mail-sender")
        orders.send(order(4, to="taro@example.jp", name="Taro"))
        wait(lambda: smtps.messages, [orders.pump, tap.poll], 20)
        check("implicit TLS with AUTH delivers", len(smtps.messages) == 1
              and parse(smtps.messages[0][2])["Subject"] == "カートに商品が残っています"
              and smtps.logins == [(b"nudge", True)], (smtps.logins, p.log("mail-sender")[-1500:]))
        p.stop("mail-sender")
        smtps.stop()

        # A relay whose certificate is not ours: nothing is sent, it is retried
        os.makedirs(p.dir + "/other")
        other = SmtpServer(p.dir + "/other", tls="starttls", auth=None)
        other.start()
        p.write_config({"mail-sender": mail_options(relay="localhost:%d" % other.port, ca=server.cert,
                                                    auth=False)})
        p.start("mail-sender")
        orders.send(order(5, to="jiro@example.jp", name="Jiro"))
        wait(lambda: "not trusted" in p.log("mail-sender"), [orders.pump, tap.poll], 15)
        stats = p.control("mail-sender")["outbox"]
        check("an untrusted certificate: nothing sent, the order waits for a retry",
              other.messages == [] and stats["retrying"] == 1 and "not trusted" in p.log("mail-sender"),
              (stats, p.log("mail-sender")[-800:]))
        other.stop()
        orders.close()
        journal.close()
    done()


main()
