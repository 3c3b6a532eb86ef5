"""chattest - what the chat-bridge's tests share (not a test itself).

    Telegram   a mock Telegram Bot API (http.server in a thread): records
               sendMessage, serves getUpdates as a long poll from a queue
               the test fills with operator messages
    Shop       the shop's events through the collector's HTTP API, with
               explicit timestamps, and settle() to wait until every stage
               (the chat-bridge included) has applied them
    Widget     what the widget does: POST /chat/send, /chat/end, long
               polls, and an SSE reader in a thread
    chat_options()  the chat-bridge's section for a Pipeline
"""
import hashlib
import hmac
import http.client
import http.server
import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import shoptest
from mailtest import mail_options
from ndtest import ROOT, free_port

TOKEN = "123456:test-bot-token-ABCdef"
CHAT_ID = "-100500"
TOKEN_ENV = "ND_TEST_TELEGRAM_TOKEN"
os.environ[TOKEN_ENV] = TOKEN
IDENTITY_SECRET = "test-identity-secret-4f1c2b"      # the shop's, for signing userIds
IDENTITY_ENV = "ND_TEST_CHAT_IDENTITY"
os.environ[IDENTITY_ENV] = IDENTITY_SECRET


def user_hash(user_id, secret=IDENTITY_SECRET):
    """What the shop's server puts in its page: hex HMAC-SHA256 (secret, userId)."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


class Telegram:
    """The Bot API's two calls the chat-bridge makes, on 127.0.0.1."""

    def __init__(self):
        self.sent = []              # sendMessage bodies
        self.updates = []           # every update ever queued
        self.next_id = 1000
        self.fail_sends = False
        self.polls = 0
        self.cond = threading.Condition()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def answer(self, doc, status=200):
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urllib.parse.urlparse(self.path)
                if url.path != "/bot%s/getUpdates" % TOKEN:
                    return self.answer({"ok": False, "description": "Not Found"}, 404)
                q = urllib.parse.parse_qs(url.query)
                offset = int(q.get("offset", ["0"])[0])
                wait = min(float(q.get("timeout", ["0"])[0]), 2.0)
                deadline = time.time() + wait
                with owner.cond:
                    owner.polls += 1
                    while True:
                        ready = [u for u in owner.updates if u["update_id"] >= offset]
                        if ready or time.time() >= deadline:
                            break
                        owner.cond.wait(deadline - time.time())
                self.answer({"ok": True, "result": ready})

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path != "/bot%s/sendMessage" % TOKEN:
                    return self.answer({"ok": False, "description": "Not Found"}, 404)
                if owner.fail_sends:
                    return self.answer({"ok": False, "description": "Too Many Requests"}, 429)
                doc = json.loads(body)
                with owner.cond:
                    owner.sent.append(doc)
                    n = len(owner.sent)
                self.answer({"ok": True, "result": {"message_id": n, "text": doc.get("text")}})

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass        # a long poll cut short by kill -9 is not news

        self.server = Server(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.base = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def texts(self):
        with self.cond:
            return [m.get("text", "") for m in self.sent]

    def reply(self, text, to=None, user_id=111, first_name="Anna", chat=CHAT_ID):
        """An operator's message in the chat, as a reply to the message to."""
        with self.cond:
            self.next_id += 1
            message = {"message_id": 5000 + self.next_id, "date": int(time.time()),
                       "chat": {"id": int(chat), "type": "group"},
                       "from": {"id": user_id, "is_bot": False, "first_name": first_name},
                       "text": text}
            if to is not None:
                message["reply_to_message"] = {"message_id": 1, "text": to}
            self.updates.append({"update_id": self.next_id, "message": message})
            self.cond.notify_all()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# The shipped pipeline file's: the chat-bridge's summary is built from these alone
CHAT_TOPICS = ("event., profile.updated, session.started, cart.updated, order.completed, visitor., "
               "segment., sms.received, feedback.")


def chat_options(port, telegram=None, **extra):
    opts = {"input": "segmenter", "topics": CHAT_TOPICS, "http": "127.0.0.1:%d" % port,
            "widget": os.path.join(ROOT, "conf", "chat-widget.js"),
            "support-mailbox": "support@shop.example", "timezone": "Europe/Warsaw",
            "hours": "always", "idle-timeout": "30m", "identity-secret": "env:" + IDENTITY_ENV}
    if telegram:
        opts.update({"telegram-token": "env:" + TOKEN_ENV, "telegram-chat": CHAT_ID,
                     "telegram-api": telegram.base, "telegram-poll": "1s",
                     "telegram-operators": "111, 222"})
    opts.update(extra)
    return opts


def pipeline_extra(port, telegram=None, **extra):
    return {"segmenter": {"input": "sessionizer",
                          "segments": os.path.join(ROOT, "conf", "segments.zpl")},
            "chat-bridge": chat_options(port, telegram, **extra)}


def start_with_mail(p, extra):
    """Configures extra with a mail-sender that delivers the chat-bridge's
    mails into a Maildir, starts every stage up to it, and returns the
    Maildir's path."""
    maildir = os.path.join(p.dir, "mail")
    p.write_config(dict(extra, **{"mail-sender": mail_options(
        input="chat-bridge", topics="send.email", maildir=maildir)}))
    for stage in ("collector", "sessionizer", "segmenter", "chat-bridge", "mail-sender"):
        p.start(stage)
    return maildir


class Shop(shoptest.Shop):
    """Shop events through the collector, and waiting for the stages that
    run (of chain)."""

    def __init__(self, p, chain=(("collector", "sessionizer"), ("sessionizer", "segmenter"),
                                 ("segmenter", "chat-bridge"))):
        super().__init__(p, chain)

    def view(self, minutes, anon, name, product_id, price):
        return self.event("track", minutes, anon, event="Product Viewed", properties={
            "product_id": product_id, "name": name, "price": price, "category": "shoes"})

    def add(self, minutes, anon, name, product_id, price):
        return self.event("track", minutes, anon, event="Product Added", properties={
            "product_id": product_id, "sku": "SKU-" + product_id, "name": name, "price": price,
            "quantity": 1, "currency": "EUR", "category": "shoes",
            "url": "https://shop.example/p/" + product_id})

    def settle(self, chain=None):
        super().settle([(up, down) for up, down in chain or self.links if down in self.p.procs])


class Widget:
    """The widget's calls, for one browser (anonymousId)."""

    def __init__(self, port, anon, user_id=None, user_hash=None):
        self.base = "http://127.0.0.1:%d" % port
        self.anon = anon
        self.user_id = user_id
        self.user_hash = user_hash
        self.raw = []               # every answer's body as sent, to look for what must not be there
        self.conversation = None
        self.token = None
        self.n = 0

    def call(self, method, path, body=None, timeout=30):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "text/plain")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, text = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read()
        self.raw.append(text.decode(errors="replace"))
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text.decode(errors="replace")

    def say(self, text=None, email=None, client_id=None, new=False):
        self.n += 1
        body = {"anonymousId": self.anon, "id": client_id or "%s-%d" % (self.anon, self.n)}
        if self.user_id:
            body["userId"] = self.user_id
        if self.user_hash:
            body["userHash"] = self.user_hash
        if text is not None:
            body["text"] = text
        if email is not None:
            body["email"] = email
        if self.conversation and not new:
            body.update(conversation=self.conversation, token=self.token)
        status, answer = self.call("POST", "/chat/send", body)
        if status == 200:
            self.conversation, self.token = answer["conversation"], answer["token"]
        return status, answer

    def end(self):
        return self.call("POST", "/chat/end", {"conversation": self.conversation, "token": self.token})

    def poll(self, after=0, wait=0, token=None):
        q = urllib.parse.urlencode({"conversation": self.conversation or "",
                                    "token": token or self.token or "", "after": after,
                                    "wait": wait})
        return self.call("GET", "/chat/poll?" + q, timeout=wait + 10)

    def lines(self):
        status, answer = self.poll()
        return answer.get("lines", []) if status == 200 else []

    def stream(self, after=0):
        """Starts an SSE reader; returns a list the events are appended to."""
        events = []
        port = int(self.base.rsplit(":", 1)[1])
        q = urllib.parse.urlencode({"conversation": self.conversation, "token": self.token,
                                    "after": after})

        def read():
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.request("GET", "/chat/stream?" + q)
            resp = conn.getresponse()
            events.append(("status", resp.status, resp.getheader("Content-Type")))
            kind, data = None, []
            while True:
                raw = resp.fp.readline()
                if not raw:
                    break
                line = raw.decode().rstrip("\n")
                self.raw.append(line)
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    data.append(line[6:])
                elif line == "" and kind:
                    events.append((kind, json.loads("\n".join(data))))
                    if kind == "end":
                        break
                    kind, data = None, []
            conn.close()

        threading.Thread(target=read, daemon=True).start()
        return events


def chat_events(tap, topic=None):
    tap.poll(50)
    return [(t, b) for t, b in tap.messages if t.startswith("chat.") and (topic is None or t == topic)]
