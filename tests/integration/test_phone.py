#!/usr/bin/python3
"""Phone numbers that reach: made E.164 once, where they enter.

Collector, sessionizer (phone-region = PL), segmenter, scheduler (the
shipped welcome journey alone) and sms-sender (spool), real processes,
event time from T0; never a sleep for time.

  - Three shoppers identified through the server key, with sms_consent,
    write one number three ways: "600 100 200", "+48 600-100-200",
    "0048600100200". Each profile holds +48600100200, and two hours later
    each welcome goes out as a send.sms order to +48600100200.
  - A browser claims "600 100 200": the claim and the code SMS are for
    +48600100200, and the code posted to /v1/confirm with the number as
    the page typed it ("600100200") confirms it.
  - Garbage ("call me", "12", "600 100 2000") is not taken: the profile
    has no phone and "phone_invalid" with a reason, STATS counts three
    (the same identifies again count and log nothing more), the log says
    why with at most the last two digits and never holds a number,
    nd-person prints the reason; no SMS order for them.
  - sessionizer --check refuses phone-region = POL with file:line (78).
"""
import glob
import json
import os
import re
import subprocess

import ndtest
from ndtest import BIN, JournalReader, Pipeline, check, done, wait_for
from schedtest import Reader, journeys_only, scheduler_options
from shoptest import Shop, shipped

E164 = "+48600100200"
SPELLINGS = {"a-one": "600 100 200", "a-two": "+48 600-100-200", "a-three": "0048600100200"}
GARBAGE = {"a-bad1": "call me", "a-bad2": "12", "a-bad3": "600 100 2000"}

extra = {
    "pipeline": {"unsubscribe-secret": "env:ND_TEST_UNSUBSCRIBE_SECRET"},
    "sessionizer": {"input": "collector", "topics": shipped("sessionizer", "topics") or "",
                    "phone-region": "PL"},
    "segmenter": {"input": "sessionizer", "segments": os.path.join(ndtest.ROOT, "conf", "segments.zpl")},
    "sink": {"input": "scheduler"},
    "watch": {"input": "sessionizer"},
}
os.environ.setdefault("ND_TEST_UNSUBSCRIBE_SECRET", "phone-test-secret-0123456789abcdef")

with Pipeline(clock="event", extra=extra) as p:
    spool = os.path.join(p.dir, "sms")
    base = "http://127.0.0.1:%d" % p.http_port
    sched = scheduler_options(journeys_only("welcome"), input="segmenter, sms-sender",
                              **{"confirm-url": base + "/confirm"})
    sms = {"input": "scheduler", "topics": "send.sms", "spool": spool, "from": "+15550001234",
           "templates": os.path.join(ndtest.ROOT, "conf", "templates")}
    # The collector reads typed numbers for /v1/confirm as the sessionizer does
    collector = {"http": "127.0.0.1:%d" % p.http_port, "phone-region": "PL"}
    p.write_config(dict(extra, scheduler=sched, collector=collector, **{"sms-sender": sms}))
    for stage in ("collector", "sessionizer", "segmenter", "scheduler", "sms-sender"):
        p.start(stage)
    links = (("collector", "sessionizer"), ("sessionizer", "segmenter"), ("segmenter", "scheduler"),
             ("scheduler", "sms-sender"), ("sms-sender", "scheduler"))
    shop, reader = Shop(p, links), Reader(p)
    watch = JournalReader(p, "sessionizer", "watch", 50000)

    def profile(anon):
        watch.poll(0.3)
        found = {}
        for _, topic, body in watch.messages:
            if topic == "profile.updated" and anon in body.get("anonymousIds", []):
                found = body
        return found

    def texts():
        found = []
        for path in sorted(glob.glob(os.path.join(spool, "*.json"))):
            with open(path) as f:
                found.append(json.load(f))
        return found

    # -------------------------------------------- three ways, one number --
    shop.send(*[shop.event("identify", 0, anon, userId="u-" + anon, traits={"phone": phone, "sms_consent": True})
                for anon, phone in SPELLINGS.items()])
    phones = {anon: profile(anon).get("traits", {}).get("phone") for anon in SPELLINGS}
    check("the three spellings are one number in each profile, +48600100200",
          phones == {anon: E164 for anon in SPELLINGS}, phones)
    contact = {anon: profile(anon).get("contact", {}).get("sms") for anon in SPELLINGS}
    check("and each person is reachable by SMS", all(contact.values()), contact)
    shop.tick(2 * 60 + 5)
    reader.drain(p)
    welcomes = {b["user"]: b["to"] for b in reader.sends(journey="welcome")}
    check("two hours later each gets the welcome as a send.sms order to +48600100200",
          len(welcomes) == 3 and set(welcomes.values()) == {E164}
          and all(b["channel"] == "sms" for b in reader.sends(journey="welcome")), welcomes)

    # -------------------------------------- a browser's claim, confirmed --
    shop.browser(shop.event("identify", 130, "a-page", traits={"phone": "600 100 200", "sms_consent": True}))
    watch.poll(0.3)
    claimed = [b["address"] for _, t, b in watch.messages if t == "contact.claimed"]
    wait_for(lambda: any(t.get("to") == E164 and "code" in t.get("text", "") for t in texts()), 15)
    codes = [t for t in texts() if "code" in t.get("text", "")]
    check("a browser's \"600 100 200\" is claimed as +48600100200 and its code goes there",
          claimed == [E164] and [t["to"] for t in codes] == [E164], (claimed, codes))
    code = re.search(r"\b(\d{6})\b", codes[0]["text"]).group(1) if codes else "000000"
    status, answer = p.post("/v1/confirm", {"anonymousId": "a-page", "phone": "600100200", "code": code})
    shop.settle()
    check("the code posted with the number as typed confirms +48600100200",
          status == 200 and answer == {"confirmed": True}
          and profile("a-page").get("traits", {}).get("phone") == E164, (status, answer, profile("a-page")))

    # ------------------------------------------------------------ garbage --
    shop.send(*[shop.event("identify", 140, anon, userId="u-" + anon, traits={"phone": phone, "sms_consent": True})
                for anon, phone in GARBAGE.items()])
    invalid = {anon: profile(anon).get("traits", {}) for anon in GARBAGE}
    check("garbage is not taken: no phone, phone_invalid with a reason and what was given",
          all("phone" not in t and t.get("phone_invalid", {}).get("reason")
              and t["phone_invalid"]["given"] == GARBAGE[a] for a, t in invalid.items()), invalid)
    reasons = sorted(t.get("phone_invalid", {}).get("reason", "") for t in invalid.values())
    check("each with its own reason", len(set(reasons)) == 3, reasons)
    # The same identifies again (SDKs repeat traits): judged as before, not parsed or logged again
    shop.send(*[shop.event("identify", 141, anon, userId="u-" + anon, traits={"phone": phone, "sms_consent": True})
                for anon, phone in GARBAGE.items()])
    again = {anon: profile(anon).get("traits", {}).get("phone_invalid") for anon in GARBAGE}
    check("the same garbage again keeps its mark", again == {a: t.get("phone_invalid") for a, t in invalid.items()},
          again)
    stats = p.control("sessionizer")
    check("STATS counts three numbers not taken and the good ones made E.164",
          stats.get("phones_invalid") == 3 and stats.get("phones_normalised", 0) >= 3, stats)
    log = p.log("sessionizer")
    said = [line for line in log.splitlines() if "not taken" in line]
    check("the log gives the reason for each, with at most the last two digits",
          len(said) == 3 and any("ending 00 not taken" in line for line in said), said)
    logs = "".join(p.log(s) for s in ("collector", "sessionizer", "segmenter", "scheduler", "sms-sender"))
    digits = re.findall(r"\d{6,}", re.sub(r"\d{4}-\d\d-\d\dT[\d:.]+Z", "", logs))
    check("no log holds a number: neither the garbage nor +48600100200 in any spelling",
          "600 100 200" not in logs and "600100200" not in logs and "call me" not in logs
          and not [d for d in digits if "6001002" in d], digits[:5])
    shop.tick(6 * 60)
    reader.drain(p)
    sent = [b["user"] for b in reader.sends() if b.get("channel") == "sms" and b["to"] != E164]
    check("no SMS order for a number not taken", sent == [], sent)
    r = subprocess.run([os.path.join(BIN, "nd-person"), "-c", p.config, "u-a-bad1"],
                       capture_output=True, text=True, timeout=30, cwd=p.dir)
    check("nd-person shows the number as invalid, with the reason",
          r.returncode == 0 and "phone invalid: " + invalid["a-bad1"].get("phone_invalid", {}).get("reason", "?")
          in r.stdout, r.stdout[:400] + r.stderr[-300:])
    watch.close()

    # ------------------------------------------------------------ --check --
    with open(p.config) as f:
        text = f.read()
    bad = os.path.join(p.dir, "bad.zpl")
    with open(bad, "w") as f:
        f.write(text.replace('phone-region = "PL"', 'phone-region = "POL"'))
    line = next(i + 1 for i, l in enumerate(text.splitlines()) if "phone-region" in l)
    r = subprocess.run([os.path.join(BIN, "sessionizer"), "-c", bad, "--check"], capture_output=True,
                       text=True, timeout=30, cwd=p.dir)
    r2 = subprocess.run([os.path.join(BIN, "sessionizer"), "-c", p.config, "--check"], capture_output=True,
                        text=True, timeout=30, cwd=p.dir)
    check("sessionizer --check refuses phone-region = POL at its line (78), takes PL",
          r.returncode == 78 and "phone-region" in r.stderr and r2.returncode == 0,
          (r.returncode, r.stderr[-300:], r2.returncode, r2.stderr[-300:]))
done()
