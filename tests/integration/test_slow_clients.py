#!/usr/bin/python3
"""Slow and idle clients cannot stop the collector's intake, nor the
chat-bridge's widget server (README, "Connections").

2000 connections that send their headers a byte at a time and never
finish them are held open against each, 1000 from one address
(127.0.0.2) and 1000 from 250 others (127.0.0.3 ...), all on loopback.
Meanwhile a normal client (127.0.0.1, four keep-alive connections) makes
1000 requests: events to the collector, the widget script from the
chat-bridge.

  - at least 99 % are answered 200 within 2 s;
  - every event answered 200 is in the collector's journal exactly once;
  - the many-address slow connections are held, not dropped; from the
    one address no more than max-connections-per-ip are (the others are
    answered 503 and closed).

Every loop here is bounded in count and in time.
"""
import base64
import collections
import http.client
import json
import socket
import threading
import time

from chattest import chat_options
from ndtest import WRITE_KEY, JournalReader, Pipeline, check, done, free_port, wait_for

SLOW_ONE, SLOW_MANY, EVENTS, CLIENTS, PER_IP = 1000, 1000, 1000, 4, 256
DEADLINE = 60                           # seconds, for everything here


def open_slow(port, source):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        s.sendall(b"POST /v1/track HTTP/1.1\r\nHost: shop\r\nX-Slow: ")
        s.setblocking(False)
        return s
    except OSError:
        s.close()
        return None


def drip(sockets, stop):
    """A byte to every slow connection each half second; notes which close."""
    until = time.time() + DEADLINE
    while not stop.is_set() and time.time() < until:
        for key, s in list(sockets.items()):
            try:
                s.send(b"a")
                s.recv(1, socket.MSG_PEEK)      # an answer (503: full) or the close
                raise OSError("answered or closed")
            except BlockingIOError:
                pass                    # nothing to read: still open
            except OSError:
                s.close()
                del sockets[key]
        stop.wait(0.5)


def client(port, n, request, results):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for i in range(n, EVENTS, CLIENTS):
        t0 = time.time()
        try:
            conn.request(*request(i))
            response = conn.getresponse()
            response.read()             # keep-alive: the next request on this connection
            status = response.status
        except (OSError, http.client.HTTPException):
            status = 0
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        results.append((i, status, time.time() - t0))
    conn.close()


def siege(name, port, request):
    """2000 slow connections held while CLIENTS normal ones make EVENTS
    requests; checks the answers and what was held; returns the results."""
    one = {i: s for i in range(SLOW_ONE) if (s := open_slow(port, "127.0.0.2"))}
    many = {i: s for i in range(SLOW_MANY) if (s := open_slow(port, "127.0.0.%d" % (3 + i % 250)))}
    stop = threading.Event()
    drippers = [threading.Thread(target=drip, args=(group, stop)) for group in (one, many)]
    for t in drippers:
        t.start()
    time.sleep(1.0)                     # the per-address limit has closed what it will
    results = []
    threads = [threading.Thread(target=client, args=(port, n, request, results))
               for n in range(CLIENTS)]
    started = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE)
    took = time.time() - started
    held_one, held_many = len(one), len(many)
    stop.set()
    for t in drippers:
        t.join(5)
    for group in (one, many):
        for s in group.values():
            s.close()
    fast = [r for r in results if r[1] == 200 and r[2] <= 2.0]
    slowest = max((r[2] for r in results), default=0)
    check("%s: 1000 requests among 2000 slow connections: %d answered 200 within 2 s (%.1f s in "
          "all, slowest %.2f s)" % (name, len(fast), took, slowest), len(fast) >= 0.99 * EVENTS,
          collections.Counter(r[1] for r in results))
    check("%s: the slow connections from many addresses are held: %d of %d"
          % (name, held_many, SLOW_MANY), held_many >= 0.9 * SLOW_MANY, held_many)
    check("%s: from one address at most max-connections-per-ip (%d) are: %d"
          % (name, PER_IP, held_one), held_one <= PER_IP, held_one)
    return results


AUTH = "Basic " + base64.b64encode((WRITE_KEY + ":").encode()).decode()


def event(i):
    body = json.dumps({"anonymousId": "a-%d" % i, "event": "Product Viewed",
                       "messageId": "slow-test-%d" % i, "properties": {"product_id": "p"}})
    return "POST", "/v1/track", body, {"Authorization": AUTH, "Content-Type": "application/json"}


chat_port = free_port()
extra = {"collector": {"max-connections-per-ip": str(PER_IP)},
         "chat-bridge": chat_options(chat_port, **{"max-connections-per-ip": str(PER_IP)})}
with Pipeline(clock="wall", extra=extra) as p:
    p.start("collector")
    results = siege("collector", p.http_port, event)
    accepted = {"slow-test-%d" % r[0] for r in results if r[1] == 200}
    reader = JournalReader(p, "collector", "reader", 5000)

    def ids():
        reader.poll(0.2)
        return [b.get("messageId") for _, t, b in reader.messages if t.startswith("event.")]
    wait_for(lambda: len(ids()) >= len(accepted), 20)
    seen = collections.Counter(ids())
    check("every event answered 200 is in the journal exactly once",
          all(seen[i] == 1 for i in accepted) and len(seen) == len(accepted),
          (len(accepted), len(seen), [i for i in accepted if seen[i] != 1][:5]))
    reader.close()

    p.start("chat-bridge")
    siege("chat-bridge", chat_port, lambda i: ("GET", "/chat/widget.js"))
done()
