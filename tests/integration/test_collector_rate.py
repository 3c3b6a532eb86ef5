#!/usr/bin/python3
"""Rate limits per client address and per write key (README, collector
"Rate limits"): a request over the rate gets 429 with Retry-After, which
the SDKs honour, and nothing of it is stored.

A real collector with rate-per-ip = 10 and rate-per-key = 5 (three keys;
each bucket holds a burst of twice its rate):

  - 30 requests at once from 127.0.0.5, over two keys so that no key's
    limit is reached: the address's burst of 20 passes and the rest get
    429, with Retry-After and the reason;
  - another address (127.0.0.6) is not held back by the first one's;
  - a write key over its rate gets 429 whatever the address, and so does
    the key sent in the body (a browser avoiding the CORS preflight);
    the other key goes on;
  - what got 429 is not in the journal, what got 200 is, once;
  - a rate that is not a number stops the start with file:line.
"""
import base64
import collections
import http.client
import json
import subprocess

from ndtest import BIN, WRITE_KEY, JournalReader, Pipeline, check, done, wait_for

OTHER_KEY = "second-write-key"
THIRD_KEY = "third-write-key"


def post(port, source, n, key=WRITE_KEY, in_body=False):
    """One track event from source; returns (status, Retry-After, answer)."""
    body = {"anonymousId": "a-%d" % n, "event": "Cart Viewed", "messageId": "rate-%d" % n}
    headers = {"Content-Type": "application/json"}
    if in_body:
        body["writeKey"] = key
    else:
        headers["Authorization"] = "Basic " + base64.b64encode((key + ":").encode()).decode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    conn.request("POST", "/v1/track", json.dumps(body), headers)
    response = conn.getresponse()
    answer = response.read().decode()
    conn.close()
    return response.status, response.getheader("Retry-After"), answer


extra = {"collector": {"rate-per-ip": "10", "rate-per-key": "5"}}
with Pipeline(clock="wall", extra=extra) as p:
    with open(p.config) as f:
        text = f.read()
    with open(p.config, "w") as f:    # a second key, of its own limit
        f.write(text.replace('        key = "%s"\n' % WRITE_KEY,
                             '        key = "%s"\n        key = "%s"\n        key = "%s"\n'
                             % (WRITE_KEY, OTHER_KEY, THIRD_KEY)))
    port = p.http_port
    p.start("collector")

    #  Two keys, each within its burst of 10 for the 20 the address lets by
    answers = [post(port, "127.0.0.5", n, key=(WRITE_KEY, THIRD_KEY)[n % 2]) for n in range(30)]
    statuses = collections.Counter(a[0] for a in answers)
    refused = [a for a in answers if a[0] == 429]
    check("one address: a burst passes, then 429 (%s)" % dict(statuses),
          statuses[200] >= 10 and statuses[429] >= 10 and statuses[200] + statuses[429] == 30,
          answers[:3])
    check("429 says when to come back and why", refused and all(
        a[1] and int(a[1]) >= 1 and "too many requests" in a[2] for a in refused), refused[:2])

    key_answers = [post(port, "127.0.0.%d" % (20 + n), 100 + n) for n in range(15)]
    key_refused = [a for a in key_answers if a[0] == 429]
    check("one write key over its rate gets 429 from any address",
          key_refused and all("with this write key" in a[2] for a in key_refused),
          collections.Counter(a[0] for a in key_answers))
    status, _, answer = post(port, "127.0.0.40", 200, in_body=True)
    check("and so does that key sent in the body", status == 429 and "write key" in answer,
          (status, answer))
    status, _, answer = post(port, "127.0.0.41", 201, key=OTHER_KEY)
    check("the other key and another address go on", status == 200, (status, answer))

    accepted = {"rate-%d" % n for n, a in enumerate(answers) if a[0] == 200}
    accepted |= {"rate-%d" % (100 + n) for n, a in enumerate(key_answers) if a[0] == 200}
    accepted.add("rate-201")
    reader = JournalReader(p, "collector", "reader", 1000)

    def ids():
        reader.poll(0.2)
        return collections.Counter(b.get("messageId") for _, t, b in reader.messages
                                   if t.startswith("event."))
    wait_for(lambda: sum(ids().values()) >= len(accepted), 10)
    seen = ids()
    check("what got 200 is stored once, what got 429 not at all",
          set(seen) == accepted and all(v == 1 for v in seen.values()),
          (len(seen), len(accepted)))
    reader.close()

    p.stop("collector")
    with open(p.config) as f:
        line = f.read().count("\n") + 4
    with open(p.config, "a") as f:
        f.write("bad\n    program = collector\n    http = 127.0.0.1:0\n    rate-per-ip = fast\n"
                "    write-keys\n        key = k\n")
    run = subprocess.run([BIN + "/collector", "-c", p.config, "-n", "bad"], capture_output=True,
                         text=True, timeout=20)
    check("a rate that is not a number stops the start at its line",
          run.returncode != 0 and ":%d: bad/rate-per-ip:" % line in run.stderr,
          (run.returncode, run.stderr[-300:]))
done()
