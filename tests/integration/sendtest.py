"""sendtest - what the push-sender and sms-sender tests share (not a test).

    PushService   the node Web Push service of tests/e2e/push_service.js:
                  subscriptions with real keys, scripted answers, and what
                  it received (decrypted with npm http_ece, VAPID checked);
                  with tls=DIR, over https with HTTP/2, on a certificate
                  made in DIR (.ca is the file to trust)
    SmsProvider   a Twilio-style or Infobip-style API in a Python thread
                  that checks every request and answers as scripted; with
                  tls=DIR, over https (HTTP/1.1), .ca as above
    Orders        a JournalServer standing in for the scheduler, with
                  send order builders and event-time ticks; deliver()
                  times a sender through them (the benches)
    vapid_keys()  a key pair from bin/nd-vapid
"""
import base64
import datetime
import http.server
import json
import os
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from ndtest import BIN, ROOT, JournalServer, make_certificate, passed_on, wait_for

E2E = os.path.join(ROOT, "tests", "e2e")
T0 = datetime.datetime(2026, 3, 2, 12, 0, 0, tzinfo=datetime.timezone.utc)   # noon UTC

DATA = {"first_name": "Ann", "name": "Ann Lee",
        "cart": {"value_text": "114.90 EUR", "first_item": {"name": "Trail shoe"},
                 "items": [{"name": "Trail shoe"}, {"name": "Wool socks"}]},
        "shop": {"name": "Example Shop", "url": "https://shop.example"}}


def iso(seconds=0.0):
    t = T0 + datetime.timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


def vapid_keys():
    """(public, private) base64url, as nd-vapid prints them."""
    out = subprocess.run([os.path.join(BIN, "nd-vapid")], capture_output=True, text=True,
                         check=True).stdout
    pairs = dict(line.split("=", 1) for line in out.split())
    return pairs["NUDGE_VAPID_PUBLIC_KEY"], pairs["NUDGE_VAPID_PRIVATE_KEY"]


class PushService:
    """tests/e2e/push_service.js in a node process."""

    def __init__(self, fast=False, tls=None):
        self.ca, self.context, args = _tls(tls)
        self.proc = subprocess.Popen(["node", os.path.join(E2E, "push_service.js")]
                                     + (["--fast"] if fast else []) + args,
                                     stdout=subprocess.PIPE, text=True, cwd=E2E)
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "listening":
            raise RuntimeError("push_service.js did not start: %r" % line)
        self.port = int(line[1])
        self.origin = "%s://127.0.0.1:%d" % ("https" if tls else "http", self.port)

    def call(self, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.origin + path, data=data,
                                     method="POST" if data else "GET")
        with urllib.request.urlopen(req, timeout=30, context=self.context) as resp:
            return json.loads(resp.read())

    def subscribe(self, sub_id):
        return self.call("/subscribe", {"id": sub_id})

    def script(self, sub_id, statuses, retry_after=None):
        body = {"id": sub_id, "statuses": statuses}
        if retry_after is not None:
            body["retryAfter"] = retry_after
        return self.call("/script", body)

    def received(self, sub_id=None):
        return [r for r in self.call("/received") if sub_id is None or r["id"] == sub_id]

    def counts(self):
        return self.call("/counts")

    def transport(self):
        """{"pushes", "connections" that carried them, "versions": {"2.0": n}}."""
        return self.call("/transport")

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)


def _tls(directory):
    """(CA file, client context, push_service.js arguments) for a server on
    127.0.0.1 with a certificate made in directory; all None/empty for
    plain http."""
    if directory is None:
        return None, None, []
    cert, key = make_certificate(directory, "127.0.0.1")
    return cert, ssl.create_default_context(cafile=cert), ["--tls", cert, key]

#  The push reminder (abandoned-cart/reminder-1) as the shipped template
#  renders DATA: what a push service or the spool must get.
REMINDER = {"title": "You left something in your cart",
            "body": "Ann, your Trail shoe is still waiting at Example Shop.",
            "url": "https://shop.example/cart"}


def is_reminder(notification):
    """True when notification (a dict) holds REMINDER's title, body and url."""
    return all(notification.get(k) == v for k, v in REMINDER.items())


class Orders:
    """A JournalServer standing in for the scheduler."""

    def __init__(self, p, stage="scheduler"):
        self.journal = JournalServer(p.ctx, p.endpoint(stage, "out"))
        self.n = 0

    def order(self, channel, to, key=None, seconds=0.0, template="abandoned-cart/reminder-1",
              locale="en", data=None, **more):
        self.n += 1
        body = {"id": "o-%d" % self.n, "user": "u-%d" % self.n, "time": iso(seconds),
                "idempotency_key": key or "abandoned-cart/e-%d/reminder-1/%s" % (self.n, channel),
                "journey": "abandoned-cart", "instance": "e-%d" % self.n, "step": "reminder-1",
                "variant": "a", "channel": channel, "to": to, "locale": locale,
                "template": template, "data": DATA if data is None else data}
        body.update(more)
        self.journal.append("send." + channel, body)
        return body

    def tick(self, seconds):
        self.n += 1
        self.journal.append("tick", {"id": "tick-%d" % self.n, "user": "", "time": iso(seconds)})

    def serve(self, duration=0.05):
        self.journal.serve(duration)

    def tick_seen(self, ticks, seconds, timeout=20):
        """Moves the sender's clock to seconds and returns once it passed
        the tick on (ticks: a Tap on its "tick" topic; see passed_on)."""
        self.tick(seconds)
        return until(lambda: passed_on(ticks.poll(50), iso(seconds)), timeout, serve=self.serve)

    def deliver(self, p, stage, count):
        """Starts stage on the orders given and serves until its outbox has
        delivered count: (wall seconds, CPU seconds of the stage), for the
        benches."""
        t0 = time.time()
        proc = p.start(stage)
        while p.control(stage)["outbox"]["delivered"] < count:
            self.serve(0.02)
        took = time.time() - t0
        with open("/proc/%d/stat" % proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return took, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self):
        self.journal.close()


def feedback(tap, key, timeout=20, serve=None):
    """Waits for the feedback about idempotency key; returns [(topic, body)]."""
    def got():
        if serve:
            serve()
        tap.poll(50)
        return [(t, b) for t, b in tap.messages if b.get("idempotency_key") == key]
    return wait_for(got, timeout=timeout) or []


# ------------------------------------------------------------------- SMS --

class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        if not getattr(self, "counted", False):     # one handler a connection
            self.counted = True
            self.server.provider.connected()
        size = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(size)
        status, headers, answer = self.server.provider.handle(self, body)
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        data = json.dumps(answer).encode()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass                # a sender killed -9 mid-request resets its connection


class SmsProvider:
    """A Twilio-style ("twilio") or Infobip-style ("infobip") SMS API.

    Every request is checked against the provider's documented format;
    what it finds wrong goes to .problems. .sent holds the accepted
    messages as {"to", "from", "text", "key", "callback"}. script(...)
    gives the statuses of the next requests (then 201 / 200).
    .connections counts the connections that carried requests."""

    SID, TOKEN, API_KEY = "AC0123456789abcdef0123456789abcdef", "twilio-token", "infobip-key"

    def __init__(self, kind, tls=None):
        self.kind = kind
        self.sent, self.problems, self.requests, self.connections = [], [], 0, 0
        self.answers = []
        self.lock = threading.Lock()
        self.server = _QuietServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.provider = self
        self.ca, _, args = _tls(tls)
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*args[1:])
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.base = "%s://127.0.0.1:%d" % ("https" if tls else "http", self.port)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def script(self, *statuses, retry_after=None):
        with self.lock:
            self.answers = [(s, retry_after) for s in statuses]

    def connected(self):
        with self.lock:
            self.connections += 1

    def problem(self, text):
        with self.lock:
            self.problems.append(text)

    def handle(self, req, body):
        with self.lock:
            self.requests += 1
            status, retry_after = self.answers.pop(0) if self.answers else (None, None)
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        message = self.twilio(req, body) if self.kind == "twilio" else self.infobip(req, body)
        if message is None:
            return 400, {}, {"code": 21604, "message": "bad request", "status": 400}
        if status is not None and status >= 300:
            return status, headers, {"code": 20429 if status == 429 else 20500,
                                     "message": "scripted %d" % status, "status": status}
        with self.lock:
            self.sent.append(message)
            n = len(self.sent)
        if self.kind == "twilio":
            return 201, headers, {"sid": "SM%032d" % n, "status": "queued", "to": message["to"],
                                  "num_segments": "1", "body": message["text"]}
        return 200, headers, {"bulkId": "b-%d" % n, "messages": [{
            "to": message["to"], "messageId": "m-%d" % n,
            "status": {"groupId": 1, "groupName": "PENDING", "id": 26,
                       "name": "PENDING_ACCEPTED", "description": "Message sent to next instance"}}]}

    def twilio(self, req, body):
        path = "/2010-04-01/Accounts/%s/Messages.json" % self.SID
        expected_auth = "Basic " + base64.b64encode(("%s:%s" % (self.SID, self.TOKEN)).encode()).decode()
        if req.path != path:
            self.problem("path %s" % req.path)
        if req.headers.get("Authorization") != expected_auth:
            self.problem("auth %s" % req.headers.get("Authorization"))
        if not req.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            self.problem("content type %s" % req.headers.get("Content-Type"))
        try:
            form = urllib.parse.parse_qs(body.decode("utf-8"), strict_parsing=True)
        except (ValueError, UnicodeDecodeError) as e:
            self.problem("form: %s" % e)
            return None
        if any(len(v) != 1 for v in form.values()) or not {"To", "From", "Body"} <= set(form):
            self.problem("fields %s" % sorted(form))
            return None
        callback = form.get("StatusCallback", [""])[0]
        key = urllib.parse.parse_qs(urllib.parse.urlparse(callback).query).get("key", [""])[0]
        return {"to": form["To"][0], "from": form["From"][0], "text": form["Body"][0],
                "callback": callback, "key": key}

    def infobip(self, req, body):
        if req.path != "/sms/2/text/advanced":
            self.problem("path %s" % req.path)
        if req.headers.get("Authorization") != "App " + self.API_KEY:
            self.problem("auth %s" % req.headers.get("Authorization"))
        if not req.headers.get("Content-Type", "").startswith("application/json"):
            self.problem("content type %s" % req.headers.get("Content-Type"))
        try:
            doc = json.loads(body)
            m = doc["messages"][0]
            to = m["destinations"][0]["to"]
            text, sender = m["text"], m["from"]
        except (ValueError, KeyError, IndexError, TypeError) as e:
            self.problem("json: %r %s" % (e, body[:200]))
            return None
        if len(doc["messages"]) != 1 or len(m["destinations"]) != 1:
            self.problem("one message, one destination per request expected")
        return {"to": to, "from": sender, "text": text, "key": m.get("callbackData", ""),
                "callback": m.get("notifyUrl", "")}

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def twilio_signature(url, params, token=None):
    """X-Twilio-Signature for a webhook, computed by Twilio's own Node library."""
    r = subprocess.run(["node", os.path.join(E2E, "twilio_sign.js")], cwd=E2E, check=True,
                       input=json.dumps({"token": token or SmsProvider.TOKEN, "url": url,
                                         "params": params}),
                       capture_output=True, text=True)
    return r.stdout.strip()


def http_post(url, body, content_type="application/x-www-form-urlencoded", headers=None):
    """POSTs to a webhook; returns (status, text)."""
    data = body if isinstance(body, bytes) else body.encode()
    req = urllib.request.Request(url, data=data, method="POST")
    req.add_header("Content-Type", content_type)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def until(predicate, timeout=20, serve=None):
    def check():
        if serve:
            serve()
        return predicate()
    return wait_for(check, timeout=timeout)


# An independent count of SMS segments (3GPP TS 23.038 / 23.040), to check
# the sms-sender's against.
GSM_BASIC = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
                "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM_EXTENDED = set("\f^{}\\[~]|€")


def sms_segments(text):
    """(encoding, units, segments) as a handset sends text."""
    if all(c in GSM_BASIC or c in GSM_EXTENDED for c in text):
        widths, single, part, encoding = [2 if c in GSM_EXTENDED else 1 for c in text], 160, 153, "GSM-7"
    else:
        widths, single, part, encoding = [2 if ord(c) > 0xFFFF else 1 for c in text], 70, 67, "UCS-2"
    total = sum(widths)
    if total <= single:
        return encoding, total, 1
    segments, used = 1, 0
    for w in widths:
        if used + w > part:
            segments, used = segments + 1, 0
        used += w
    return encoding, total, segments
