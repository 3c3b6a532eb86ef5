#!/usr/bin/python3
"""Browser keys (README, collector "Browser keys"): a write key that is
public, good only from the shop's pages, and whose events are claims.

A real collector with a server key and two browser keys, each with its
own origins:

  - a browser key from one of its origins: 200, the answer readable by
    that page (Access-Control-Allow-Origin echoes it), the event in the
    journal with "via": "browser" at its top level;
  - the same key with no Origin, or from another page, or from the other
    browser key's origin: 403 with a one-line reason, nothing stored;
  - a "via" sent by a client is removed, for server keys too;
  - the Segment browser SDK's way (analytics-next): Content-Type
    text/plain, the key in the body as writeKey, no preflight: 200;
  - the CORS preflight (OPTIONS) says yes to a browser key's origin, with
    the methods, headers and Max-Age, and 403 to any other origin;
  - rate-per-key holds a browser key to its rate as a server key (429);
  - a browser key without origins, or with a bad one, stops the start at
    its own line.
"""
import base64
import http.client
import json
import subprocess

from ndtest import BIN, BROWSER_BLOCK, WRITE_KEY, JournalReader, Pipeline, check, done, wait_for

SHOP = "http://127.0.0.1:8000"
OTHER_SHOP = "https://other.example"
BROWSER_KEY = "shop-browser-key"
OTHER_KEY = "other-browser-key"
SLOW_KEY = "slow-browser-key"


def request(port, method, path, body=None, key=None, origin=None, content_type="application/json",
            headers=None):
    """Returns (status, headers as a dict, answer as text)."""
    h = dict(headers or {})
    if content_type:
        h["Content-Type"] = content_type
    if key:
        h["Authorization"] = "Basic " + base64.b64encode((key + ":").encode()).decode()
    if origin:
        h["Origin"] = origin
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, path, json.dumps(body) if body is not None else None, h)
    response = conn.getresponse()
    answer = response.read().decode()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, answer


def track(n, **extra):
    return dict({"anonymousId": "visitor-%d" % n, "event": "Product Viewed",
                 "messageId": "browser-%d" % n}, **extra)


extra = {"collector": {"rate-per-key": "5"}}
with Pipeline(clock="wall", extra=extra) as p:
    with open(p.config) as f:
        text = f.read().replace(BROWSER_BLOCK, "")    # its own keys instead of ndtest's
    with open(p.config, "w") as f:
        f.write(text.replace(
            '        key = "%s"\n' % WRITE_KEY,
            '        key = "%s"\n'
            '    browser-keys\n'
            '        key = "%s"\n'
            '            origins = "%s, http://localhost:8000"\n'
            '        key = "%s"\n'
            '            origins = "%s"\n'
            '        key = "%s"\n'
            '            origins = "%s"\n'
            % (WRITE_KEY, BROWSER_KEY, SHOP, OTHER_KEY, OTHER_SHOP, SLOW_KEY, SHOP)))
    port = p.http_port
    p.start("collector")

    status, headers, answer = request(port, "POST", "/v1/track", track(1, via="server"),
                                      key=BROWSER_KEY, origin=SHOP)
    check("a browser key from its origin: 200", status == 200, (status, answer))
    check("and the page may read the answer (Access-Control-Allow-Origin echoes it)",
          headers.get("access-control-allow-origin") == SHOP and "Origin" in headers.get("vary", ""),
          headers)

    refusals = [request(port, "POST", "/v1/track", track(2), key=BROWSER_KEY),
                request(port, "POST", "/v1/track", track(3), key=BROWSER_KEY, origin=OTHER_SHOP),
                request(port, "POST", "/v1/track", track(4), key=OTHER_KEY, origin=SHOP),
                request(port, "POST", "/v1/track", dict(track(5), writeKey=BROWSER_KEY),
                        origin="http://127.0.0.1:8001", content_type="text/plain")]
    check("no Origin, another page, another key's origin (header or body key): 403 each",
          [r[0] for r in refusals] == [403] * 4, [(r[0], r[2]) for r in refusals])
    check("with a one-line reason",
          "Origin header" in json.loads(refusals[0][2])["reason"]
          and "not allowed from this origin" in json.loads(refusals[1][2])["reason"]
          and all("\n" not in json.loads(r[2])["reason"] for r in refusals), refusals)
    check("a refused page is not let read the answer",
          "access-control-allow-origin" not in refusals[3][1], refusals[3][1])

    status, _, answer = request(port, "POST", "/v1/identify",
                                {"userId": "u-6", "messageId": "browser-6", "via": "browser",
                                 "traits": {"email": "u6@example.com"}}, key=WRITE_KEY)
    check("a server key: 200", status == 200, answer)

    #  analytics-next: text/plain, the key in the body, a batch
    batch = {"writeKey": BROWSER_KEY, "batch": [dict(track(7), type="track"),
                                                 {"type": "page", "anonymousId": "visitor-7",
                                                  "messageId": "browser-8", "name": "Home"}]}
    status, headers, answer = request(port, "POST", "/v1/batch", batch, origin=SHOP,
                                      content_type="text/plain")
    check("text/plain with writeKey in the body (analytics-next): 200, readable",
          status == 200 and headers.get("access-control-allow-origin") == SHOP, (status, answer))

    status, headers, answer = request(port, "OPTIONS", "/v1/track", content_type=None,
                                      origin=SHOP, headers={
                                          "Access-Control-Request-Method": "POST",
                                          "Access-Control-Request-Headers": "authorization, content-type"})
    check("preflight from a browser key's origin: 204 with the CORS headers",
          status == 204 and headers.get("access-control-allow-origin") == SHOP
          and "POST" in headers.get("access-control-allow-methods", "")
          and "Authorization" in headers.get("access-control-allow-headers", "")
          and "Content-Type" in headers.get("access-control-allow-headers", "")
          and int(headers.get("access-control-max-age", "0")) > 0, (status, headers))
    status, headers, answer = request(port, "OPTIONS", "/v1/track", content_type=None,
                                      origin="https://evil.example")
    check("preflight from any other origin: 403, no Allow-Origin",
          status == 403 and "access-control-allow-origin" not in headers, (status, headers))

    answers = [request(port, "POST", "/v1/track", track(100 + n), key=SLOW_KEY, origin=SHOP)
               for n in range(15)]
    statuses = [a[0] for a in answers]
    check("rate-per-key holds a browser key too: 429 past its burst",
          statuses.count(429) >= 3 and statuses[:5] == [200] * 5, statuses)
    limited = [a[1] for a in answers if a[0] == 429][:1] or [{}]
    check("the page may read a 429's Retry-After (Access-Control-Expose-Headers)",
          limited[0].get("retry-after") and "Retry-After" in
          limited[0].get("access-control-expose-headers", ""), limited[0])

    reader = JournalReader(p, "collector", "reader", 1000)

    def events():
        reader.poll(0.2)
        return {b.get("messageId"): b for _, t, b in reader.messages if t.startswith("event.")}
    wait_for(lambda: {"browser-1", "browser-6", "browser-8"} <= set(events()), 10)
    stored = events()
    check("the browser key's event says \"via\": \"browser\" (the client's \"server\" dropped)",
          stored.get("browser-1", {}).get("via") == "browser", stored.get("browser-1"))
    check("so do the text/plain batch's", stored.get("browser-7", {}).get("via") == "browser"
          and stored.get("browser-8", {}).get("via") == "browser", stored.get("browser-8"))
    check("a server key's event has no via (the client's removed)",
          "browser-6" in stored and "via" not in stored["browser-6"], stored.get("browser-6"))
    check("what got 403 is not stored", not {"browser-2", "browser-3", "browser-4", "browser-5"}
          & set(stored), sorted(stored))
    check("the write key is not in any event",
          not any("writeKey" in b for b in stored.values()), None)
    reader.close()
    p.stop("collector")

    #  Bad browser keys stop the start at their own line
    for name, lines, reason in (
            ("no-origins", ['        key = "a-key"', '            origins = "%s"' % SHOP,
                            '        key = "b-key"'], "needs origins"),
            ("bad-origin", ['        key = "a-key"', '            origins = "%s/shop/"' % SHOP],
             "not a list of origins"),
            ("secret-form", ['        key = "env:NUDGE_KEY"', '            origins = "%s"' % SHOP],
             "public")):
        with open(p.config) as f:
            base = f.read()
        section = ["%s" % name, "    program = collector", "    http = 127.0.0.1:0",
                   "    browser-keys"] + lines
        bad_line = base.count("\n") + len(section)
        if name != "no-origins":
            bad_line -= 1
        with open(p.config, "a") as f:
            f.write("\n".join(section) + "\n")
        run = subprocess.run([BIN + "/collector", "-c", p.config, "-n", name],
                             capture_output=True, text=True, timeout=20)
        check("%s: stops the start with file:line: reason" % name,
              run.returncode != 0 and (":%d: %s/browser-keys/key:" % (bad_line, name)) in run.stderr
              and reason in run.stderr, (run.returncode, bad_line, run.stderr[-300:]))
done()
