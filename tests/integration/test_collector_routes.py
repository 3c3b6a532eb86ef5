#!/usr/bin/python3
"""collector: every route and event type of the Segment API, and clock skew.

Over real HTTP, on the wall clock, one event through each route: the six
calls under their names (/v1/track ... /v1/alias) and under the one-letter
paths analytics.js uses (/v1/t ... /v1/a), and a batch through each of
/v1/batch, /v1/b and /v1/import holding one event of each type. Read back
from the collector's journal as the sessionizer reads it, each comes out
once, as event.<its type>, with the fields that type is about.

Clock skew: a client whose clock is an hour fast sends an event 2 s after
it happened (sentAt - timestamp = 2 s). The collector must date it 2 s
before it received it (timestamp = receivedAt - 2 s, the time the stages
use), keep what was sent as originalTimestamp, and do the same when sentAt
comes with the batch instead of the event.
"""
import datetime
import time

from ndtest import JournalReader, Pipeline, check, done

# What each type carries beyond a user: the field a stage downstream reads.
TYPES = {
    "track": {"event": "Product Viewed", "properties": {"product_id": "p-1"}},
    "identify": {"traits": {"email": "ewa@example.com"}},
    "page": {"name": "Home", "properties": {"path": "/"}},
    "screen": {"name": "Basket"},
    "group": {"groupId": "g-shop", "traits": {"name": "Shop"}},
    "alias": {"previousId": "anon-9"},
}
ROUTES = [("/v1/%s" % t, t) for t in TYPES] + [("/v1/%s" % t[0], t) for t in TYPES]
BATCH_ROUTES = ["/v1/batch", "/v1/b", "/v1/import"]


def iso(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def ms(text):
    when = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
    return round(when.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)


def event(message_id, kind):
    return dict(TYPES[kind], userId="u-" + message_id, messageId=message_id)


def post_each_route(p):
    """One event per single-event route, one batch per batch route; returns
    {messageId: type} of all that were answered 200."""
    sent, statuses = {}, {}
    for path, kind in ROUTES:
        message_id = "r" + path.replace("/", "-")
        statuses[path], _ = p.post(path, event(message_id, kind))
        sent[message_id] = kind
    for path in BATCH_ROUTES:
        batch = [dict(event("r%s-%s" % (path.replace("/", "-"), kind), kind), type=kind)
                 for kind in TYPES]
        statuses[path], _ = p.post(path, {"batch": batch})
        sent.update({e["messageId"]: e["type"] for e in batch})
    refused = {path: status for path, status in statuses.items() if status != 200}
    check("each of the %d routes answers 200" % len(statuses), not refused, refused)
    return sent


def read_journal(reader, count):
    deadline = time.time() + 20
    while len(reader.messages) < count and time.time() < deadline:
        reader.poll(0.2)
    reader.poll(0.3)            # anything beyond count would show up now
    return {b["id"]: (topic, b) for _, topic, b in reader.messages}


def routes_come_out(p, reader):
    sent = post_each_route(p)
    out = read_journal(reader, len(sent))
    ids = [b["id"] for _, _, b in reader.messages]
    check("every event comes out once (%d)" % len(sent),
          sorted(ids) == sorted(sent), sorted(set(ids) ^ set(sent)))
    wrong = {i: out.get(i, ("missing",))[0] for i, kind in sent.items()
             if out.get(i, ("",))[0] != "event." + kind}
    check("each as event.<its type>, whatever the route", not wrong, wrong)
    for kind, fields in TYPES.items():
        bodies = [out[i][1] for i, k in sent.items() if k == kind and i in out]
        lost = [b["id"] for b in bodies
                if any(b.get(f) != v for f, v in fields.items()) or b.get("user") != b.get("userId")]
        check("%s: %s kept, through all %d routes" % (kind, " and ".join(fields), len(bodies)),
              len(bodies) == 5 and not lost, lost)


def skewed(p, reader):
    """Events from a client whose clock runs an hour fast; sent 2 s after."""
    client_now = int(time.time() * 1000) + 3600 * 1000
    stamp, sent_at = iso(client_now - 2000), iso(client_now)
    before = int(time.time() * 1000)
    p.post("/v1/track", dict(event("skew-event", "track"), timestamp=stamp, sentAt=sent_at))
    p.post("/v1/batch", {"batch": [dict(event("skew-batch", "track"), type="track", timestamp=stamp)],
                         "sentAt": sent_at})
    p.post("/v1/track", dict(event("skew-none", "track"), timestamp=stamp))
    after = int(time.time() * 1000)
    out = read_journal(reader, len(reader.messages) + 3)
    for message_id, where in (("skew-event", "the event"), ("skew-batch", "the batch")):
        body = out.get(message_id, ("", {}))[1]
        received = ms(body.get("receivedAt", "1970-01-01T00:00:00.000Z"))
        check("sentAt in %s: receivedAt is the collector's clock" % where,
              before <= received <= after, (iso(before), body.get("receivedAt"), iso(after)))
        check("sentAt in %s: dated 2 s before it was received, not an hour ahead" % where,
              body.get("timestamp") == body.get("time") == iso(received - 2000), body)
        check("sentAt in %s: originalTimestamp is what the client sent" % where,
              body.get("originalTimestamp") == stamp, body)
    body = out.get("skew-none", ("", {}))[1]
    check("no sentAt: the timestamp is taken as sent", body.get("time") == stamp, body)


with Pipeline(clock="wall") as p:
    p.start("collector")
    reader = JournalReader(p, "collector", "sessionizer", 1000)
    routes_come_out(p, reader)
    skewed(p, reader)
    reader.close()
done()
