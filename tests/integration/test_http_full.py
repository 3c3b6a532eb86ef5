#!/usr/bin/python3
"""A full server answers 503, not silence (README, collector
"Connections"): the collector and the chat-bridge with max-connections =
30 and max-connections-per-ip = 10, all on loopback.

  - 10 idle connections from 127.0.0.2 are held; the 11th from that
    address is answered at once 503 with Retry-After and Connection:
    close, and closed, whether it has sent its request or not;
  - meanwhile another address is served (200);
  - with 30 held (10 more each from two other addresses), a request from
    a fourth address gets 503 too;
  - once the idle ones are closed, the same request gets 200: the places
    are given back;
  - an event answered 503 is not stored;
  - a request framed both by Transfer-Encoding and Content-Length is
    refused 400 before its body (a smuggling risk behind a proxy).

Every loop is bounded in count and in time.
"""
import base64
import http.client
import json
import select
import socket
import time

from chattest import chat_options
from ndtest import WRITE_KEY, JournalReader, Pipeline, check, done, free_port, wait_for

LIMIT, PER_IP = 30, 10
AUTH = "Basic " + base64.b64encode((WRITE_KEY + ":").encode()).decode()


def idle(port, source):
    s = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
    return s


def hold(port, source):
    """An idle connection the server holds. A place given back by a client
    that just closed is counted free once the server has seen that close:
    until then the new one is answered 503, and is tried again (at most
    50 times in 5 s)."""
    deadline = time.time() + 5
    for _ in range(50):
        s = idle(port, source)
        if not select.select([s], [], [], 0.05)[0] or time.time() > deadline:
            return s
        s.close()
    return s


def raw_answer(s, request=None):
    """What the server says on s (after sending request, if any), up to its close."""
    if request:
        try:
            s.sendall(request)
        except OSError:
            pass
    s.settimeout(5)
    data = b""
    try:
        while len(data) < 4096:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    s.close()
    return data.decode(errors="replace")


def request(port, source, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        conn.request(method, path, body, headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    except (OSError, http.client.HTTPException) as e:
        return 0, {}, str(e).encode()
    finally:
        conn.close()


def full(name, port, call):
    """call(source) -> (status, headers, body) of one normal request."""
    held = [hold(port, "127.0.0.2") for _ in range(PER_IP)]
    over = raw_answer(idle(port, "127.0.0.2"))
    check("%s: the 11th connection from one address, silent: 503 at once" % name,
          over.startswith("HTTP/1.1 503 ") and "\r\nRetry-After: " in over
          and "\r\nConnection: close\r\n" in over, over[:200])
    over = raw_answer(idle(port, "127.0.0.2"), b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    check("%s: and one that sent its request: 503, then closed" % name,
          over.startswith("HTTP/1.1 503 "), over[:200])
    status, _, body = call("127.0.0.3")
    check("%s: another address is served meanwhile" % name, status == 200, (status, body[:100]))
    held += [hold(port, "127.0.0.%d" % (4 + n // PER_IP)) for n in range(2 * PER_IP)]
    status, headers, body = call("127.0.0.9")
    check("%s: with %d held, a fourth address gets 503 with Retry-After" % (name, LIMIT),
          status == 503 and headers.get("retry-after") and headers.get("connection") == "close",
          (status, headers, body[:100]))
    open_ones = 0
    for s in held:
        s.setblocking(False)
        try:
            open_ones += s.recv(1, socket.MSG_PEEK) is None
        except BlockingIOError:
            open_ones += 1      # nothing to read: held, not answered
        except OSError:
            pass
    check("%s: the %d held ones are held, not answered" % (name, LIMIT), open_ones == LIMIT,
          open_ones)
    for s in held:
        s.close()
    answers = []
    ok = wait_for(lambda: answers.append(call("127.0.0.9")) or answers[-1][0] == 200, 10, 0.1)
    check("%s: closed, their places are given back: 200" % name, ok,
          [a[0] for a in answers][-5:])


chat_port = free_port()
limits = {"max-connections": str(LIMIT), "max-connections-per-ip": str(PER_IP)}
extra = {"collector": dict(limits), "chat-bridge": chat_options(chat_port, **limits)}
with Pipeline(clock="wall", extra=extra) as p:
    p.start("collector")
    port = p.http_port
    counter = [0]

    def event(source):
        counter[0] += 1
        answer = request(port, source, "POST", "/v1/track",
                         json.dumps({"anonymousId": "a", "event": "Product Viewed",
                                     "messageId": "full-%d" % counter[0]}),
                         {"Authorization": AUTH, "Content-Type": "application/json"})
        sent.append((counter[0], answer[0]))
        return answer
    sent = []
    full("collector", port, event)
    reader = JournalReader(p, "collector", "reader", 1000)
    accepted = {"full-%d" % n for n, status in sent if status == 200}
    refused = {"full-%d" % n for n, status in sent if status == 503}

    def ids():
        reader.poll(0.2)
        return {b.get("messageId") for _, t, b in reader.messages if t.startswith("event.")}
    wait_for(lambda: accepted <= ids(), 10)
    check("the events answered 200 are stored, those answered 503 are not",
          ids() == accepted and refused and not (refused & ids()), (sorted(ids()), sorted(refused)))

    # Framed two ways (RFC 9112 6.3): refused before any body, nothing stored
    body = json.dumps({"anonymousId": "a", "event": "Product Viewed", "messageId": "smuggled"})
    chunked = "%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    answer = raw_answer(socket.create_connection(("127.0.0.1", port), timeout=5), (
        "POST /v1/track HTTP/1.1\r\nHost: shop\r\nAuthorization: %s\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
        "Content-Length: %d\r\n\r\n%s" % (AUTH, len(chunked), chunked)).encode())
    time.sleep(0.3)
    check("collector: Transfer-Encoding with Content-Length is 400, and not stored",
          answer.startswith("HTTP/1.1 400") and "Transfer-Encoding" in answer
          and "smuggled" not in ids(), answer[:300])
    reader.close()

    p.start("chat-bridge")
    full("chat-bridge", chat_port,
         lambda source: request(chat_port, source, "GET", "/chat/widget.js"))
    answer = raw_answer(socket.create_connection(("127.0.0.1", chat_port), timeout=5), (
        "POST /chat/send HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n2\r\n{}\r\n0\r\n\r\n").encode())
    check("chat-bridge: Transfer-Encoding with Content-Length is 400",
          answer.startswith("HTTP/1.1 400") and "Transfer-Encoding" in answer, answer[:300])
done()
