"""webshop - the demo shop (web/demo) on a loopback port, for the browser tests.

    shop = Shop(collector="http://127.0.0.1:PORT", write_key=KEY)
    shop.url("/index.html") ...; shop.close()

Serves web/demo as `make run` does, with config.js pointing at the test's
pipeline instead of the shipped ports and sw.js importing nudge-sw.js
from where nudge.js comes from. What the other stages would serve, it
serves itself while they are absent, and records what the page sends:

- /nudge.js, /nudge-sw.js from web/ (the collector serves them once it
  has its kit directory; `kit` then names the collector);
- /onsite/poll and /onsite/event, a stand-in for the onsite stage: the
  test queues messages with onsite_send(), the events are recorded;
- /push-report, a stand-in for the collector's push report endpoint:
  each POST's query is recorded;
- /analytics-next/*: @segment/analytics-next's UMD bundles from
  tests/e2e/node_modules, and /segment.html, a page that loads it.
"""
import glob
import json
import os
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ndtest import ROOT, WRITE_KEY

WEB = os.path.join(ROOT, "web")
DEMO = os.path.join(WEB, "demo")
UMD = os.path.join(ROOT, "tests", "e2e", "node_modules", "@segment", "analytics-next", "dist", "umd")
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css", ".svg": "image/svg+xml", ".json": "application/json"}

SEGMENT_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Segment page</title>
<script src="/analytics-next/index.js"></script></head><body><p>analytics-next</p></body></html>
"""


BROWSER_KEY = "kit-test-browser-key"


def browser_keys_built():
    """Whether this tree's collector knows browser keys (kit-plan.md's shape)."""
    return any("browser-keys" in open(f).read()
               for f in glob.glob(os.path.join(ROOT, "pipeline", "collector", "*.c")))


def use_browser_key(p, origin):
    """Before the collector starts: a browser key for the shop's origin
    where the collector has them, else the server key. Returns the key."""
    if not browser_keys_built():
        print("# the collector has no browser keys yet: the page uses the server key")
        return WRITE_KEY
    with open(p.config) as f:
        config = f.read()
    config = config.replace("    write-keys\n", "    browser-keys\n        key = \"%s\"\n"
                            "            origins = \"%s\"\n    write-keys\n" % (BROWSER_KEY, origin), 1)
    with open(p.config, "w") as f:
        f.write(config)
    return BROWSER_KEY


def use_kit(p):
    """Before the collector starts: its kit directory (nudge.js,
    nudge-sw.js) is this tree's web/, where the collector serves one."""
    if not any('"kit"' in open(f).read()
               for f in glob.glob(os.path.join(ROOT, "pipeline", "collector", "*.c"))):
        return
    with open(p.config) as f:
        config = f.read()
    config = config.replace("    write-keys\n", '    kit = "%s"\n    write-keys\n' % WEB, 1)
    with open(p.config, "w") as f:
        f.write(config)


class Shop:
    def __init__(self, collector, write_key, kit=None, onsite=None, chat=None, prompt_delay=100):
        self.collector = collector
        self.write_key = write_key
        self.kit = kit                      # None: this server serves nudge.js
        self.onsite = onsite                # None: this server stands in
        self.chat = chat                    # the chat-bridge, or None for no widget
        self.prompt_delay = prompt_delay
        self.lock = threading.Condition()
        self.onsite_queue = {}              # visitor -> [message]
        self.onsite_events = []
        self.push_reports = []
        self.requests = []
        handler = type("Handler", (_Handler,), {"shop": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.handle_error = lambda request, address: None   # a page left mid-poll
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.origin = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return self.origin + path

    def config(self):
        return {"collector": self.collector, "writeKey": self.write_key,
                "kit": self.kit or self.origin, "onsite": self.onsite or self.origin,
                "chat": self.chat, "promptDelay": self.prompt_delay}

    def onsite_send(self, visitor, message):
        with self.lock:
            self.onsite_queue.setdefault(visitor, []).append(message)
            self.lock.notify_all()

    def wait(self, predicate, timeout=10):
        end = time.time() + timeout
        with self.lock:
            while not predicate() and time.time() < end:
                self.lock.wait(0.1)
            return predicate()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class _Handler(BaseHTTPRequestHandler):
    shop = None

    def log_message(self, *args):
        pass

    def _send(self, status, body, ctype="application/json", headers=None):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Access-Control-Allow-Origin", "*")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _file(self, path):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            return self._send(404, "not found", "text/plain")
        self._send(200, data, TYPES.get(os.path.splitext(path)[1], "application/octet-stream"))

    def do_OPTIONS(self):
        self.send_response(204)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
        self.send_header("Access-Control-Allow-Headers", "Content-Type")
        self.end_headers()

    def do_GET(self):
        shop = self.shop
        url = urllib.parse.urlsplit(self.path)
        path, query = url.path, urllib.parse.parse_qs(url.query)
        with shop.lock:
            shop.requests.append(("GET", self.path))
        if path == "/":
            path = "/index.html"
        if path == "/config.js":
            return self._send(200, "window.NUDGE_DEMO = %s;\n" % json.dumps(shop.config()),
                              "text/javascript")
        if path == "/sw.js":
            return self._send(200, 'importScripts(%s);\n' %
                              json.dumps((shop.kit or shop.origin) + "/nudge-sw.js"),
                              "text/javascript")
        if path in ("/nudge.js", "/nudge-sw.js"):
            return self._file(os.path.join(WEB, path[1:]))
        if path == "/segment.html":
            return self._send(200, SEGMENT_PAGE, TYPES[".html"])
        if path.startswith("/analytics-next/"):
            name = os.path.basename(path)
            return self._file(os.path.join(UMD, name))
        if path == "/onsite/poll":
            visitor = (query.get("visitor") or [""])[0]
            wait = min(float((query.get("wait") or ["0"])[0] or 0), 2.0)
            with shop.lock:
                shop.lock.wait_for(lambda: shop.onsite_queue.get(visitor), timeout=wait)
                messages = list(shop.onsite_queue.get(visitor, []))    # until shown
            return self._send(200, json.dumps({"messages": messages}))
        target = os.path.normpath(os.path.join(DEMO, path.lstrip("/")))
        if not target.startswith(DEMO + os.sep):
            return self._send(404, "not found", "text/plain")
        self._file(target)

    def do_POST(self):
        shop = self.shop
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with shop.lock:
            shop.requests.append(("POST", self.path))
            if url.path == "/onsite/event":
                try:
                    event = json.loads(body)
                except ValueError:
                    event = {"bad": body.decode(errors="replace")}
                shop.onsite_events.append(event)
                if event.get("action") == "shown":      # a message shown once is not served again
                    queue = shop.onsite_queue.get(event.get("visitor"), [])
                    queue[:] = [m for m in queue if m.get("id") != event.get("id")]
                shop.lock.notify_all()
                return self._send(200, "{}")
            if url.path == "/__test/onsite-send":     # the node driver queues a message
                sent = json.loads(body)
                shop.onsite_queue.setdefault(sent["visitor"], []).append(sent["message"])
                shop.lock.notify_all()
                return self._send(200, "{}")
            if url.path == "/push-report":
                shop.push_reports.append(urllib.parse.parse_qs(url.query))
                shop.lock.notify_all()
                return self._send(200, "{}")
        self._send(404, "{}")
