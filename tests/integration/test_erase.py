#!/usr/bin/python3
"""Erasure is complete: nd-person, --export, --erase across the real pipeline.

Real processes on the event clock: collector -> sessionizer -> segmenter
-> chat-bridge and scheduler (the shipped abandoned-cart journey) ->
mail-sender -> a real SMTP server (with VERP: its bounce records hold her
address too); the chat-bridge mails questions asked out of hours through the same mail-sender.

  before   Ewalina (v-1) and Bo (v-2) identify (e-mail, phone, name) and
           leave boots in their carts; reminder-1 reaches both by mail;
           Ewalina asks the chat a question (nobody online: it is mailed
           to support). nd-person shows her cart, her pending reminder-2,
           the mail and the chat; --export gives the same as JSON.
  erase    nd-person --erase by her address: afterwards her address,
           phone and name occur in no stage's LMDB file (a compacted copy,
           mdb_copy -c, searched byte for byte); when reminder-2 is due Bo
           gets his and nothing goes to her.
  again    she identifies again with the same address and leaves a cart:
           no marketing mail; once the shop says email_consent is true,
           her next reminder comes.
"""
import glob
import json
import os
import shutil
import subprocess
import tempfile

from ndtest import BIN, BROWSER_KEY, BROWSER_ORIGIN, Pipeline, check, done, free_port, wait_for
from chattest import Shop, Widget, pipeline_extra, user_hash
from mailtest import mail_options
from schedtest import journeys_only, scheduler_options
from smtpd import SmtpServer

EMAIL, PHONE, FIRST, LAST = "ewalina.kowalczyk@example.com", "+48601234567", "Ewalina", "Kowalczyk"
BO = "bo.bramson@example.org"
CHAIN = (("collector", "sessionizer"), ("sessionizer", "segmenter"), ("segmenter", "chat-bridge"),
         ("segmenter", "scheduler"), ("chat-bridge", "scheduler"), ("scheduler", "mail-sender"),
         ("chat-bridge", "mail-sender"), ("mail-sender", "scheduler"))
STAGES = ("collector", "sessionizer", "segmenter", "chat-bridge", "scheduler", "mail-sender")

workdir = tempfile.mkdtemp(prefix="nd-erase-")
smtp = SmtpServer(workdir, tls=None).start()
port = free_port()
extra = pipeline_extra(port, hours="never")
extra["scheduler"] = scheduler_options(journeys_only("abandoned-cart"),
                                       input="segmenter, chat-bridge, mail-sender")
extra["mail-sender"] = mail_options(relay="127.0.0.1:%d" % smtp.port, tls="none", auth=False,
                                    input="scheduler, chat-bridge", topics="send.email",
                                    **{"return-path": "bounces@shop.example"})


def to(address):
    return [m for m in smtp.messages if address in m[1]]


def nd_person(p, *args):
    r = subprocess.run([os.path.join(BIN, "nd-person"), "-c", p.config] + list(args),
                       capture_output=True, text=True, timeout=30, cwd=p.dir)
    return r.returncode, r.stdout, r.stderr


def holders(p, needles):
    """{needle: [stage, ...]} of the stages whose compacted LMDB holds it."""
    found = {n: [] for n in needles}
    for stage in STAGES:
        copy = os.path.join(workdir, "copy-" + stage)
        shutil.rmtree(copy, True)
        os.makedirs(copy)
        subprocess.run(["mdb_copy", "-c", os.path.join(p.dir, "state", stage), copy], check=True)
        with open(os.path.join(copy, "data.mdb"), "rb") as f:
            data = f.read()
        for n in needles:
            if n.encode() in data or n.lower().encode() in data.lower():
                found[n].append(stage)
    return found


with Pipeline(clock="event", extra=extra) as p:
    for stage in STAGES:
        p.start(stage)
    shop = Shop(p, CHAIN)
    shop.send(shop.event("identify", 0, "a-ewa", userId="u-ewa", traits={
                  "email": EMAIL, "phone": PHONE, "firstName": FIRST, "lastName": LAST}),
              shop.event("identify", 0, "a-bo", userId="u-bo", traits={
                  "email": BO, "firstName": "Bo"}),
              shop.add(2, "a-ewa", "Boots", "p-boots", 129.0),
              shop.add(2, "a-bo", "Boots", "p-boots", 129.0))
    shop.tick(150)
    smtp.wait(2)
    check("reminder-1 reaches both by mail", len(to(EMAIL)) == 1 and len(to(BO)) == 1,
          [m[1] for m in smtp.messages])
    ewa = Widget(port, "a-ewa", user_id="u-ewa", user_hash=user_hash("u-ewa"))
    status, _ = ewa.say("Do the boots come in size 39 as well?")
    shop.settle()
    smtp.wait(3)
    check("her chat question, out of hours, goes to support by mail",
          status == 200 and len(to("support@shop.example")) == 1, smtp.messages[-1:])

    rc, text, err = nd_person(p, "u-ewa")
    check("nd-person u-ewa shows her cart, the journey's next step (the check before "
          "reminder-2) and its time, the mail and the chat",
          rc == 0 and "Boots" in text
          and "journey abandoned-cart (a): next step not-ordered at 2026-03-03T" in text
          and "reminder-1" in text and "size 39" in text, (rc, err, text[:3000]))
    found = [nd_person(p, "--json", who) for who in (PHONE, "a-ewa", "v-1", EMAIL.upper())]
    check("she is found by phone, anonymousId, visitor id and address in any case",
          all(r[0] == 0 and json.loads(r[1])["person"]["visitor"] == "v-1" for r in found),
          [r[0] for r in found])
    rc, out, err = nd_person(p, "--export", EMAIL)
    try:
        doc = json.loads(out)
    except ValueError:
        doc = {}
    stages = doc.get("stages", {})
    check("--export by address: one JSON document with the same, by stage",
          rc == 0 and doc.get("person", {}).get("visitor") == "v-1"
          and "carts" in stages.get("sessionizer", {})
          and [j["next_step"] for j in doc["person"].get("journeys", [])] == ["not-ordered"]
          and "size 39" in json.dumps(stages.get("chat-bridge", {}))
          and "reminder-1/email" in json.dumps(stages.get("scheduler", {}).get("history")),
          (rc, err, sorted((s, sorted(d)) for s, d in stages.items())))

    before = holders(p, (EMAIL, PHONE, FIRST, LAST))
    check("before: the byte search finds her in the stages (it can see what it looks for)",
          all(before.values()) and "sessionizer" in before[EMAIL], before)
    status, answer = p.post("/v1/erase", {"visitor": "v-1"}, key=BROWSER_KEY,
                            headers={"Origin": BROWSER_ORIGIN})
    shop.settle()
    check("a browser key cannot ask for an erasure (400; she is still there)",
          status == 400 and "server write key" in json.dumps(answer)
          and nd_person(p, EMAIL)[0] == 0, (status, answer))
    rc, out, err = nd_person(p, "--erase", EMAIL)
    check("nd-person --erase by address is accepted", rc == 0, (rc, out, err))
    shop.settle()
    shop.tick(160)
    # a link's journal drops what every reader has committed at its next trim
    wait_for(lambda: not any(holders(p, (EMAIL, PHONE, FIRST, LAST)).values()), 10, 0.2)
    found = holders(p, (EMAIL, PHONE, FIRST, LAST))
    check("afterwards her address, phone and name are in no stage's LMDB",
          not any(found.values()), found)
    rc, _, err = nd_person(p, EMAIL)
    check("nd-person no longer finds her (exit 1)", rc == 1, (rc, err))
    stats = p.control("sessionizer")
    check("the sessionizer counts one visitor erased, one left",
          stats.get("visitors_erased") == 1 and stats.get("visitors") == 1, stats)
    check("Bo's data is still there", any(holders(p, (BO,)).values()))

    shop.tick(1600)
    smtp.wait(4)
    check("when reminder-2 is due Bo gets his and nothing goes to her",
          len(to(BO)) == 2 and len(to(EMAIL)) == 1, [m[1] for m in smtp.messages])

    shop.send(shop.event("identify", 1605, "a-ewa-2", userId="u-ewa", traits={
                  "email": EMAIL, "firstName": FIRST}),
              shop.add(1610, "a-ewa-2", "Boots", "p-boots", 129.0))
    shop.tick(1800)
    check("identified again with the same address: no marketing mail",
          len(to(EMAIL)) == 1, [m[1] for m in smtp.messages])
    shop.send(shop.event("identify", 1810, "a-ewa-2", userId="u-ewa", traits={
                  "email": EMAIL, "email_consent": True}))
    shop.tick(3300)
    smtp.wait(5)
    check("after consent is given again, her next reminder comes",
          len(to(EMAIL)) == 2, [m[1] for m in smtp.messages])

smtp.stop()
shutil.rmtree(workdir, True)
done()
