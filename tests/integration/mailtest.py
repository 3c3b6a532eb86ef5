"""mailtest - what the mail-sender's tests share (not a test itself).

    Orders    a JournalServer standing in for the scheduler: send orders
              (and ticks) fed to the mail-sender over a real durable link
    Journal   reads the mail-sender's durable output (its feedback) as the
              scheduler does
    order()   a send order as the scheduler makes it: a Japanese abandoned
              cart by default
    mail_options()  the mail-sender's section for a Pipeline
"""
import datetime
import email
import email.policy
import glob
import json
import os
import time

from ndtest import ROOT, JournalReader, JournalServer

T0 = datetime.datetime(2026, 3, 2, 12, 0, 0, tzinfo=datetime.timezone.utc)
SECRET_ENV = "ND_TEST_UNSUBSCRIBE_SECRET"
PASSWORD_ENV = "ND_TEST_SMTP_PASSWORD"
os.environ.setdefault(SECRET_ENV, "test-unsubscribe-secret-0123456789")
os.environ.setdefault(PASSWORD_ENV, "s3cret-pass")


def iso(minutes=0.0):
    t = T0 + datetime.timedelta(minutes=minutes)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


CART_JA = {
    "items": [
        {"product_id": "p-1", "name": "抹茶ラテ セット", "price": 1200, "quantity": 2,
         "price_text": "1200 JPY", "total_text": "2400 JPY", "url": "https://shop.example/p/1",
         "image_url": "https://shop.example/i/1.jpg"},
        {"product_id": "p-2", "name": "有田焼 湯呑み", "price": 3500, "quantity": 1,
         "price_text": "3500 JPY", "total_text": "3500 JPY", "url": "https://shop.example/p/2",
         "image_url": "https://shop.example/i/2.jpg"}],
    "value": 5900, "value_text": "5900 JPY", "currency": "JPY"}


def order(n, to="hanako@example.jp", name="山田 花子", locale="ja", user=None, minutes=0.0,
          template="abandoned-cart/reminder-1", data=None, key=None):
    user = user or "v-%d" % n
    cart = json.loads(json.dumps(CART_JA))
    cart["first_item"] = cart["items"][0]
    body = {
        "id": "order-%d" % n, "user": user, "time": iso(minutes),
        "idempotency_key": key or "abandoned-cart/e1-%d/reminder-1/email" % n,
        "journey": "abandoned-cart", "instance": "e1-%d" % n, "step": "reminder-1",
        "variant": "a", "channel": "email", "to": to, "name": name, "locale": locale,
        "template": template,
        "data": data if data is not None else {
            "cart": cart, "name": name, "first_name": name.split(" ")[-1],
            "shop": {"name": "ニッポン雑貨", "url": "https://shop.example"}}}
    return body


def mail_options(relay=None, tls="starttls", ca=None, auth=True, **extra):
    opts = {"input": "scheduler", "topics": "send.email, unsubscribe",
            "templates": os.path.join(ROOT, "conf", "templates"),
            "from": "ニッポン雑貨 <shop@shop.example>",
            "reply-to": "Customer Care <care@shop.example>",
            "unsubscribe-url": "https://shop.example/unsubscribe",
            "unsubscribe-mailto": "unsubscribe@shop.example",
            "unsubscribe-secret": "env:" + SECRET_ENV,
            "retry-base": "1m", "retry-cap": "1h", "lifetime": "2d"}
    if relay:
        opts.update(relay=relay, tls=tls, timeout="10s")
        if ca:
            opts["tls-ca"] = ca
        if auth:
            opts.update(user="nudge", password="env:" + PASSWORD_ENV)
    opts.update(extra)
    return opts


class Orders:
    """The scheduler, as far as the mail-sender can tell."""

    def __init__(self, p, name="scheduler"):
        self.server = JournalServer(p.ctx, p.endpoint(name, "out"))
        self.n = 0

    def send(self, body):
        self.server.append("send.email", body)

    def tick(self, minutes):
        self.n += 1
        self.server.append("tick", {"id": "tick-%d" % self.n, "user": "", "time": iso(minutes)})

    def pump(self, duration=0.05):
        self.server.serve(duration)

    def close(self):
        self.server.close()


class Journal(JournalReader):
    """The mail-sender's durable output, read as its consumer "scheduler" would."""

    def __init__(self, p, stage="mail-sender", consumer="reader", window=50000):
        JournalReader.__init__(self, p, stage, consumer, window)

    def poll(self, timeout=0.2):
        """Reads what arrives within timeout; returns every message so far."""
        JournalReader.poll(self, timeout)
        return self.messages

    def feedback(self, kind=None):
        return [b for _, t, b in self.messages if t.startswith("feedback.")
                and (kind is None or t == "feedback." + kind)]


def parse(data):
    return email.message_from_bytes(data, policy=email.policy.default)


def maildir_mails(maildir, address=None):
    """The messages delivered into maildir, in order; with address, only
    those to it."""
    found = []
    for path in sorted(glob.glob(os.path.join(maildir, "new", "*"))):
        with open(path, "rb") as f:
            m = parse(f.read())
        if address is None or m["To"].addresses[0].addr_spec == address:
            found.append(m)
    return found


def wait(predicate, pumps, timeout=20.0):
    """Runs every pump until predicate() is true; returns its last value."""
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value or time.time() > deadline:
            return value
        for pump in pumps:
            pump()
