#!/usr/bin/python3
"""WhatsApp: a channel of its own, through Twilio's Messages API and
Infobip's WhatsApp API (mocks that check each request's shape).

The scheduler (fed by Python, event time) with a journey whose step lists
"whatsapp, email":
  - a person with a phone and whatsapp_consent gets send.whatsapp;
  - one with a phone and only sms_consent (no WhatsApp opt-in) gets the
    e-mail instead, and one with neither no order at all;
  - after feedback.unsubscribed on whatsapp, no more WhatsApp for them.

An sms-sender section with channel = whatsapp (a Python journal stands in
for the scheduler), once per provider:
  - the first order goes as the approved template (Twilio: ContentSid and
    ContentVariables, whatsapp:+E164 addresses, no Body; Infobip:
    /whatsapp/1/message/template with templateName, language,
    placeholders); the feedback says "whatsapp": "template";
  - the person writes (the inbound webhook); the next order goes as a
    session message (Twilio: Body; Infobip: /whatsapp/1/message/text);
  - 25 h after their message it is a template again;
  - a failed delivery receipt becomes feedback.failed on channel whatsapp;
  - STOP on WhatsApp: feedback.unsubscribed (channel whatsapp), and the
    next order is not sent.
"""
import base64
import hashlib
import hmac
import http.server
import json
import os
import shutil
import tempfile
import threading
import urllib.parse

from ndtest import ROOT, Pipeline, check, done, free_port
from schedtest import CART, pipeline_extra, start_scheduler, traits
from sendtest import DATA, Orders, feedback, http_post, until

SID, TOKEN, API_KEY, HOOK_TOKEN = "AC0123456789abcdef0123456789abcdef", "twilio-token", "infobip-key", "hook-1"
os.environ.update({"ND_TEST_WA_TWILIO": TOKEN, "ND_TEST_WA_INFOBIP": API_KEY,
                   "ND_TEST_WA_HOOK": HOOK_TOKEN})
PHONE, PUBLIC, CONTENT_SID = "+48600100200", "https://hooks.shop.example", "HXcart0001reminder"

# Templates: the shipped ones, and WhatsApp's for one step
templates = tempfile.mkdtemp(prefix="nd-wa-templates-")
shutil.rmtree(templates)
shutil.copytree(os.path.join(ROOT, "conf", "templates"), templates)
step = os.path.join(templates, "abandoned-cart", "reminder-1", "en")
for part, text in (("template", CONTENT_SID + "\n"),
                   ("variables", "{{{first_name}}}\n{{{cart.first_item.name}}}\n"),
                   ("text", "{{{first_name}}}, the {{{cart.first_item.name}}} is still in your cart")):
    with open(os.path.join(step, "whatsapp.%s.mustache" % part), "w") as f:
        f.write(text)
SESSION_TEXT = "Ann, the Trail shoe is still in your cart"

# ------------------------------------------------------------ scheduler --
JOURNEY = """\
journey
    name = wa
    trigger
        topic = cart.abandoned
    reentry
        key = session
    steps
        send = reminder
            channels = "whatsapp, email"
            template = abandoned-cart/reminder-1
            quiet-hours = skip
"""

with Pipeline(clock="event", extra=pipeline_extra()) as p:
    journeys = os.path.join(p.dir, "journeys")
    os.makedirs(journeys)
    with open(os.path.join(journeys, "wa.zpl"), "w") as f:
        f.write(JOURNEY)
    p.write_config(pipeline_extra(journeys, templates=templates))
    feed, reader, at = start_scheduler(p)
    feed.abandon("w-in", 0.1, phone=True, whatsapp_consent=True)
    feed.abandon("w-sms", 0.1, phone=True)
    feed.abandon("w-none", 0.1, phone=True, email=False)
    at(0.2)
    sent = {u: [(s["channel"], s["to"]) for s in reader.sends(u)] for u in ("w-in", "w-sms", "w-none")}
    check("with whatsapp_consent: a send.whatsapp order to the number",
          sent["w-in"] == [("whatsapp", PHONE)]
          and [t for _, t, b in reader.messages if b.get("user") == "w-in" and t.startswith("send.")]
          == ["send.whatsapp"], sent)
    check("without the WhatsApp opt-in (sms_consent alone is not one): the e-mail instead, "
          "and nothing for one with no other way", sent["w-sms"] == [("email", "w-sms@example.com")]
          and sent["w-none"] == [], sent)
    order = reader.sends("w-in")[0]
    feed.send("feedback.unsubscribed", "w-in", 0.3, server=feed.back, channel="whatsapp",
              idempotency_key=order["idempotency_key"], reason="replied STOP")
    at(0.4)
    for user in ("w-in", "w-in2"):              # w-in2 did not say STOP: the control
        if user == "w-in2":
            feed.abandon(user, 0.4, phone=True, whatsapp_consent=True)
        feed.send("cart.abandoned", user, 1.0, cart=CART, session="s2-" + user, segments=["hesitating"],
                  traits=traits(user, phone=True, whatsapp_consent=True, email=False))
    at(2.0)
    later = {u: [s["channel"] for s in reader.sends(u)] for u in ("w-in", "w-in2")}
    check("after STOP on WhatsApp, no more WhatsApp orders for them (one who did not: two)",
          later == {"w-in": ["whatsapp"], "w-in2": ["whatsapp", "whatsapp"]}, later)
    feed.close()


# --------------------------------------------------------------- sender --
class Mock(http.server.ThreadingHTTPServer):
    """Twilio's or Infobip's API, as their documentation shapes requests."""
    daemon_threads = True

    def __init__(self, kind):
        super().__init__(("127.0.0.1", 0), Handler)
        self.kind, self.got, self.problems, self.lock = kind, [], [], threading.Lock()
        self.base = "http://127.0.0.1:%d" % self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def problem(self, text):
        with self.lock:
            self.problems.append(text)

    def take(self, path, headers, body):
        n = len(self.got) + 1
        if self.kind == "twilio":
            if path != "/2010-04-01/Accounts/%s/Messages.json" % SID:
                self.problem("path " + path)
            auth = "Basic " + base64.b64encode(("%s:%s" % (SID, TOKEN)).encode()).decode()
            if headers.get("Authorization") != auth:
                self.problem("auth")
            form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode(), strict_parsing=True).items()}
            kind = "session" if "Body" in form else "template"
            if form.get("To") != "whatsapp:" + PHONE or form.get("From") != "whatsapp:+15550001234":
                self.problem("addresses %s" % form)
            if kind == "template" and ("ContentSid" not in form or "Body" in form):
                self.problem("template fields %s" % sorted(form))
            got = {"kind": kind, "form": form,
                   "variables": json.loads(form.get("ContentVariables", "{}")),
                   "key": urllib.parse.parse_qs(urllib.parse.urlparse(
                       form.get("StatusCallback", "")).query).get("key", [""])[0]}
            answer = (201, {"sid": "SM%030d" % n, "status": "queued"})
        else:
            if headers.get("Authorization") != "App " + API_KEY:
                self.problem("auth")
            doc = json.loads(body)
            if path == "/whatsapp/1/message/template":
                m = doc["messages"][0]
                kind = "template"
                answer = (200, {"bulkId": "b-%d" % n, "messages": [{"to": m["to"], "messageCount": 1,
                          "messageId": "wa-%d" % n, "status": {"groupId": 1, "groupName": "PENDING",
                                                               "id": 7, "name": "PENDING_ENROUTE"}}]})
            elif path == "/whatsapp/1/message/text":
                m = doc
                kind = "session"
                answer = (200, {"to": m["to"], "messageCount": 1, "messageId": "wa-%d" % n,
                                "status": {"groupId": 1, "groupName": "PENDING", "id": 7,
                                           "name": "PENDING_ENROUTE"}})
            else:
                self.problem("path " + path)
                return 404, {}
            if m.get("to") != PHONE.lstrip("+") or m.get("from") != "15550001234":
                self.problem("addresses %s" % m)
            got = {"kind": kind, "doc": m, "key": m.get("callbackData", "")}
        with self.lock:
            self.got.append(got)
        return answer


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            status, answer = self.server.take(self.path, self.headers, body)
        except (ValueError, KeyError, IndexError, TypeError) as e:
            self.server.problem("bad request: %r" % e)
            status, answer = 400, {"code": 21604, "message": "bad request"}
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def twilio_signature(url, params):
    """Twilio's webhook signature: HMAC-SHA1 of the URL and the sorted fields."""
    data = url + "".join(k + params[k] for k in sorted(params))
    return base64.b64encode(hmac.new(TOKEN.encode(), data.encode(), hashlib.sha1).digest()).decode()


def run(provider):
    mock, port = Mock(provider), free_port()
    wa = {"program": "sms-sender", "input": "scheduler", "topics": "send.whatsapp", "channel": "whatsapp",
          "provider": provider, "api-base": mock.base, "from": "+15550001234", "templates": templates,
          "http": "127.0.0.1:%d" % port, "webhook-url": PUBLIC, "quiet-hours": "00:00-00:00"}
    wa.update({"account": SID, "secret": "env:ND_TEST_WA_TWILIO"} if provider == "twilio"
              else {"secret": "env:ND_TEST_WA_INFOBIP", "webhook-token": "env:ND_TEST_WA_HOOK"})

    def hook(path, fields):
        if provider == "twilio":
            body = urllib.parse.urlencode(fields)
            return http_post("http://127.0.0.1:%d%s" % (port, path), body,
                             headers={"X-Twilio-Signature": twilio_signature(PUBLIC + path, fields)})
        sep = "&" if "?" in path else "?"
        return http_post("http://127.0.0.1:%d%s%stoken=%s" % (port, path, sep, HOOK_TOKEN),
                         json.dumps(fields), content_type="application/json")

    def inbound(text):
        if provider == "twilio":
            return hook("/sms/inbound", {"From": "whatsapp:" + PHONE, "To": "whatsapp:+15550001234",
                                         "Body": text, "MessageSid": "SMin-" + text})
        return hook("/sms/inbound", {"results": [{"from": PHONE.lstrip("+"), "to": "15550001234",
                    "integrationType": "WHATSAPP", "messageId": "in-" + text,
                    "message": {"type": "TEXT", "text": text}}]})

    def receipt_failed(key):
        if provider == "twilio":
            return hook("/sms/status?key=" + urllib.parse.quote(key, safe=""),
                        {"MessageSid": "SMx", "MessageStatus": "undelivered", "ErrorCode": "63016",
                         "To": "whatsapp:" + PHONE})
        return hook("/sms/status", {"results": [{"messageId": "wa-x", "to": PHONE.lstrip("+"),
                    "callbackData": key, "channel": "WHATSAPP",
                    "status": {"groupId": 2, "groupName": "UNDELIVERABLE", "name": "UNDELIVERABLE_NOT_DELIVERED"},
                    "error": {"name": "EC_ABSENT_SUBSCRIBER", "permanent": True}}]})

    with Pipeline(clock="event", extra={"whatsapp": wa}) as p:
        orders = Orders(p)
        p.start("whatsapp", program="sms-sender")
        tap = p.tap("whatsapp", "feedback.")

        def send(seconds):
            o = orders.order("whatsapp", PHONE, seconds=seconds)
            return o, feedback(tap, o["idempotency_key"], serve=orders.serve)

        first, fb = send(0)
        got = mock.got[-1] if mock.got else {}
        check("%s: the first contact goes as the approved template, delivered" % provider,
              got.get("kind") == "template" and [t for t, _ in fb] == ["feedback.delivered"]
              and fb[0][1].get("whatsapp") == "template" and fb[0][1].get("channel") == "whatsapp",
              (got, fb))
        if provider == "twilio":
            shape = (got.get("form", {}).get("ContentSid") == CONTENT_SID
                     and got.get("variables") == {"1": "Ann", "2": "Trail shoe"}
                     and got.get("key") == first["idempotency_key"])
        else:
            content = got.get("doc", {}).get("content", {})
            shape = (content.get("templateName") == CONTENT_SID and content.get("language") == "en"
                     and content.get("templateData") == {"body": {"placeholders": ["Ann", "Trail shoe"]}}
                     and got.get("key") == first["idempotency_key"])
        check("%s: ... with its id, language and variables as the API documents them" % provider,
              shape, got)

        status, _ = inbound("Is the shoe in size 42?")
        orders.tick(60)
        second, fb = send(120)
        got = mock.got[-1] if len(mock.got) >= 2 else {}
        text = got.get("form", {}).get("Body") if provider == "twilio" else \
            got.get("doc", {}).get("content", {}).get("text")
        check("%s: after the person wrote, the reply goes as a session message (free text)" % provider,
              status == 200 and got.get("kind") == "session" and text == SESSION_TEXT
              and fb and fb[0][1].get("whatsapp") == "session", (status, got, fb))

        third, fb = send(25 * 3600)
        got = mock.got[-1] if len(mock.got) >= 3 else {}
        check("%s: 25 h after their message, a template again" % provider,
              len(mock.got) == 3 and got.get("kind") == "template", mock.got[2:])

        status, _ = receipt_failed(second["idempotency_key"])
        until(lambda: tap.poll(50) or any(t == "feedback.failed" for t, _ in tap.messages),
              serve=orders.serve)
        failed = [b for t, b in tap.messages if t == "feedback.failed"]
        check("%s: a failed delivery receipt is feedback.failed on channel whatsapp" % provider,
              status == 200 and len(failed) == 1 and failed[0].get("channel") == "whatsapp"
              and failed[0].get("idempotency_key") == second["idempotency_key"], (status, failed))

        status, _ = inbound("STOP")
        until(lambda: tap.poll(50) or any(t == "feedback.unsubscribed" for t, _ in tap.messages),
              serve=orders.serve)
        unsub = [b for t, b in tap.messages if t == "feedback.unsubscribed"]
        fourth, fb = send(25 * 3600 + 60)
        check("%s: STOP on WhatsApp: unsubscribed (channel whatsapp), the next order is not sent"
              % provider, status == 200 and unsub and unsub[0].get("channel") == "whatsapp"
              and [t for t, _ in fb] == ["feedback.unsubscribed"] and len(mock.got) == 3,
              (unsub, fb, len(mock.got)))
        check("%s: every request as documented" % provider, not mock.problems, mock.problems)
        log = p.log("whatsapp")
        check("%s: the log holds no phone number" % provider, "600100200" not in log, log[-400:])
        orders.close()
    mock.shutdown()
    mock.server_close()


run("twilio")
run("infobip")
shutil.rmtree(templates, True)
done()
