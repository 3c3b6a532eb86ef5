#!/usr/bin/python3
"""push-sender with spool = DIR: the dry run nd-backtest uses.

A Python journal stands in for the scheduler; event time.

  - with spool set and no VAPID key anywhere, the stage starts and says
    where notifications go; the Web Push options of a live section are
    accepted (turning the spool on is one line);
  - each order becomes one JSON file in the spool: the rendered title,
    body and url, the order's user, journey, step, variant and key;
    mode 0600 in a 0700 directory, no temporary left; feedback.delivered
    with "provider": "spool" and the file's id;
  - the same key again is not written again; an order whose template
    does not exist fails with a reason and writes nothing;
  - a spool that cannot be made stops the start with the reason.
"""
import json
import os
import stat
import subprocess

from ndtest import BIN, ROOT, Pipeline, check, done
from sendtest import Orders, feedback, is_reminder

SUBSCRIPTION = {"endpoint": "https://fcm.googleapis.com/fcm/send/abc",
                "keys": {"p256dh": "BNc", "auth": "tBH"}}


def spooled(spool):
    names = sorted(os.listdir(spool)) if os.path.isdir(spool) else []
    return names, {n[:-5]: json.load(open(os.path.join(spool, n))) for n in names if n.endswith(".json")}


with Pipeline(clock="event") as p:
    spool = os.path.join(p.dir, "push")
    options = {"input": "scheduler", "topics": "send.push", "spool": spool,
               "templates": os.path.join(ROOT, "conf", "templates"),
               "vapid-key": "env:ND_TEST_NO_SUCH_KEY", "vapid-subject": "mailto:ops@shop.example",
               "ttl": "1d", "hosts": "fcm.googleapis.com"}
    p.write_config({"push-sender": options})
    orders = Orders(p)
    p.start("push-sender")
    tap = p.tap("push-sender", "feedback.")
    check("spool set, no VAPID key: it starts and says where notifications go",
          "notifications go to %s" % spool in p.log("push-sender"), p.log("push-sender")[-600:])

    first = orders.order("push", SUBSCRIPTION, user="v-7")
    fb = feedback(tap, first["idempotency_key"], serve=orders.serve)
    names, files = spooled(spool)
    body = fb[0][1] if fb else {}
    mine = files.get(body.get("provider_id"), {})
    check("feedback.delivered, provider spool, with the file's id",
          [t for t, _ in fb] == ["feedback.delivered"] and body.get("provider") == "spool"
          and body.get("provider_id") in files, (fb, names))
    check("the file holds the rendered notification", is_reminder(mine), mine)
    check("and the order's user, journey, step, variant, key and endpoint",
          mine.get("user") == "v-7" and mine.get("journey") == "abandoned-cart"
          and mine.get("step") == "reminder-1" and mine.get("variant") == "a"
          and mine.get("idempotency_key") == first["idempotency_key"]
          and mine.get("endpoint") == SUBSCRIPTION["endpoint"], mine)
    check("one file, mode 0600 in a 0700 directory, no temporary left",
          names == [body.get("provider_id", "?") + ".json"]
          and stat.S_IMODE(os.stat(os.path.join(spool, names[0])).st_mode) == 0o600
          and stat.S_IMODE(os.stat(spool).st_mode) == 0o700, names)

    orders.order("push", SUBSCRIPTION, key=first["idempotency_key"], seconds=1)
    missing = orders.order("push", SUBSCRIPTION, seconds=2, template="no-such/journey")
    fb = feedback(tap, missing["idempotency_key"], serve=orders.serve)
    check("a missing template: feedback.failed with the reason, no file",
          [t for t, _ in fb] == ["feedback.failed"] and "no push template" in fb[0][1].get("reason", "")
          and len(spooled(spool)[0]) == 1, (fb, spooled(spool)[0]))
    stats = p.control("push-sender")["outbox"]
    check("the repeated key was not sent again", stats.get("duplicates") == 1
          and stats.get("delivered") == 1, stats)
    orders.close()

with Pipeline(clock="event") as p:
    blocker = os.path.join(p.dir, "file")
    open(blocker, "w").close()
    p.write_config({"push-sender": {"input": "scheduler", "spool": blocker + "/push",
                                    "templates": os.path.join(ROOT, "conf", "templates")}})
    out = subprocess.run([os.path.join(BIN, "push-sender"), "--config", p.config, "--name",
                          "push-sender"], capture_output=True, text=True, timeout=20, cwd=p.dir)
    check("a spool that cannot be made: exits 78 (EX_CONFIG) with the reason",
          out.returncode == 78 and "cannot make the spool directory" in out.stderr, out.stderr[-400:])
done()
