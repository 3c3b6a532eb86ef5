#!/usr/bin/python3
"""segmenter.py - a stand-in for bin/segmenter, in Python: the smallest
program that takes a stage's place on nudge's durable links.

Usage: tools/swap/segmenter.py [-c FILE] [-n NAME] [--notify-fd N]

It reads the stages named by "input" in its section of the pipeline file
(for the segmenter: the sessionizer), puts every visitor in one segment
("segments": ["everyone"]) and serves the result, as its own journal, to the
stages that name it in their "input". README "Swap a stage" says what any
such program must do; this one does exactly that:

  receiving   a DEALER with routing id NAME connects to each input's "out"
              endpoint and says HELLO <pos> <window>. It takes MSG <seq> only
              when seq is pos + 1 (and POS <from> <to> only when from is), so
              nothing is skipped; a gap means something was lost: HELLO again.
  committing  the new position and the messages it caused go to disk in one
              write (a JSON line, fsynced), and only then ACK <pos> <window>.
  sending     a ROUTER bound at its own "out" endpoint answers HELLO/ACK with
              MSG <seq> <topic> <body> from its journal, as credit allows, and
              forgets what every consumer has acked.

State: <state>/<NAME>/swap.jsonl, one line per batch:
{"in": {input: pos}, "out": [[topic, body], ...]}; the journal is every "out"
in order, numbered from "base" + 1 (a compacted file starts with its base).
"""
import json
import os
import signal
import sys
import time

import zmq

WINDOW = 1000


def load_pipeline(path, name):
    """The pipeline file (ZPL, as far as stage sections need): {section: {key: value}}."""
    sections, current = {}, None
    for line in open(path):
        text = line.split("#", 1)[0].rstrip()
        if not text.strip():
            continue
        indent = len(text) - len(text.lstrip(" "))
        key, _, value = text.strip().partition("=")
        if indent == 0:
            current = sections.setdefault(key.strip(), {})
        elif indent == 4 and current is not None:
            current[key.strip()] = value.strip().strip('"\'')
    return sections


class Stage:
    def __init__(self, config, name):
        self.name = name
        self.sections = load_pipeline(config, name)
        pipeline, mine = self.sections.get("pipeline", {}), self.sections.get(name, {})
        self.option = lambda key, default=None: mine.get(key, pipeline.get(key, default))
        self.inputs = [i for i in self.option("input", "").replace(",", " ").split() if i]
        self.consumers = [s for s, o in self.sections.items()
                          if name in o.get("input", "").replace(",", " ").split()]
        state = os.path.join(self.option("state", "var/state"), name)
        os.makedirs(state, exist_ok=True)
        self.file = os.path.join(state, "swap.jsonl")
        self.base, self.journal, self.pos = 0, [], {i: 0 for i in self.inputs}
        self.acked = {}         # consumer -> [acked, sent, limit, prefixes, routing id]
        self.recover()

    def endpoint(self, stage, kind):
        run = self.sections.get("pipeline", {}).get("run", "var/run")
        return self.sections.get(stage, {}).get(kind, "ipc://%s/%s.%s" % (run, stage, kind))

    # -- state -----------------------------------------------------------
    def recover(self):
        """Replays the state file; a torn last line (killed mid-write) never committed."""
        if not os.path.exists(self.file):
            return
        good = 0
        with open(self.file, "rb") as f:
            for line in f:
                try:
                    record = json.loads(line)
                except ValueError:
                    break
                good += len(line)
                self.base = record.get("base", self.base)
                self.pos.update(record.get("in", {}))
                self.journal += [tuple(m) for m in record.get("out", [])]
        os.truncate(self.file, good)

    def commit(self, outputs):
        with open(self.file, "a") as f:
            f.write(json.dumps({"in": self.pos, "out": outputs}) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.journal += outputs

    def compact(self):
        """Drops what every configured consumer has acked: a new file, renamed over."""
        acks = [self.acked.get(c.encode(), [0])[0] for c in self.consumers]
        upto = min(acks) if acks else self.base + len(self.journal)
        if upto - self.base < 10000:
            return
        self.journal = self.journal[upto - self.base:]
        self.base = upto
        with open(self.file + ".new", "w") as f:
            f.write(json.dumps({"base": self.base, "in": self.pos, "out": self.journal}) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.rename(self.file + ".new", self.file)

    # -- the stage's own job ------------------------------------------------
    def segment(self, topic, body):
        if body.get("user"):
            body["segments"] = ["everyone"]
        return [topic, body]

    # -- receiving: a DEALER per input ------------------------------------------
    def connect(self, ctx):
        self.dealers, self.heard, self.asked = {}, {}, {}
        for up in self.inputs:
            sock = ctx.socket(zmq.DEALER)
            sock.setsockopt_string(zmq.IDENTITY, self.name)
            sock.connect(self.endpoint(up, "out"))
            self.dealers[sock] = up
            self.heard[sock] = time.monotonic()
            self.credit(sock, "HELLO")

    def credit(self, sock, command):
        pos = self.pos[self.dealers[sock]]
        sock.send_multipart([command.encode(), str(pos).encode(), str(WINDOW).encode()])
        self.asked[sock] = time.monotonic()

    def read(self, sock):
        """Applies what sock has that continues from our position; returns the outputs."""
        up, outputs = self.dealers[sock], []
        while sock.poll(0) and len(outputs) < WINDOW:
            frames = sock.recv_multipart()
            self.heard[sock] = time.monotonic()
            command, seq, pos = frames[0], int(frames[1]) if len(frames) > 1 else 0, self.pos[up]
            if seq > pos + 1:
                # a gap: something was lost on the way; ask again from our position
                if time.monotonic() - self.asked[sock] > 0.2:
                    self.credit(sock, "HELLO")
            elif command == b"POS" and len(frames) == 3:
                self.pos[up] = max(pos, int(frames[2]))
            elif command == b"MSG" and len(frames) == 4 and seq == pos + 1:
                self.pos[up] = seq
                try:
                    topic, body = self.segment(frames[2].decode(), json.loads(frames[3]))
                    outputs.append([topic, json.dumps(body, separators=(",", ":"))])
                except ValueError:
                    log("rejected %s #%d from %s: body is not JSON" % (frames[2], seq, up))
        return outputs

    def heartbeat(self):
        # quiet for a second: the sender may have restarted and forgotten us
        now = time.monotonic()
        for sock in self.dealers:
            if now - self.heard[sock] > 1 and now - self.asked[sock] > 1:
                self.credit(sock, "HELLO")

    # -- sending: our journal, on a ROUTER ---------------------------------------
    def take_credit(self, router):
        while router.poll(0):
            frames = router.recv_multipart()
            if len(frames) < 4 or frames[1] not in (b"HELLO", b"ACK"):
                continue
            # a consumer is its routing id up to "/": nudge's stages add a
            # tag per connection; we answer the connection it spoke from
            name, pos, window = frames[0].split(b"/")[0], int(frames[2]), int(frames[3])
            if name not in self.acked:
                log("link: %s reads from position %d" % (name.decode(), pos))
            c = self.acked.setdefault(name, [pos, pos, 0, [], frames[0]])
            c[0], c[2], c[3], c[4] = pos, pos + window, [p.decode() for p in frames[4:]], frames[0]
            if frames[1] == b"HELLO":
                c[1] = pos

    def pump(self, router):
        head = self.base + len(self.journal)
        for name, c in self.acked.items():
            try:
                if c[1] < self.base:    # trimmed before it asked: move it on
                    router.send_multipart([c[4], b"POS", b"%d" % (c[1] + 1), b"%d" % self.base])
                    c[1] = self.base
                while c[1] < min(c[2], head):
                    seq = c[1] + 1
                    topic, body = self.journal[seq - 1 - self.base]
                    if not c[3] or topic == "tick" or any(topic.startswith(p) for p in c[3]):
                        frames = [c[4], b"MSG", b"%d" % seq, topic.encode(), body.encode()]
                    else:
                        frames = [c[4], b"POS", b"%d" % seq, b"%d" % seq]
                    router.send_multipart(frames, flags=zmq.NOBLOCK)
                    c[1] = seq
            except zmq.ZMQError:
                pass            # gone or full: its next HELLO / ACK resumes it

    def stats(self):
        return {"stage": self.name, "program": "tools/swap/segmenter.py",
                "inputs": {up: {"position": pos} for up, pos in self.pos.items()},
                "journal": {"head": self.base + len(self.journal), "first": self.base + 1,
                            "consumers": {n.decode(): {"acked": c[0], "sent": c[1]}
                                          for n, c in self.acked.items()}}}


def log(text):
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    sys.stderr.write("%s segmenter.py: %s\n" % (stamp, text))
    sys.stderr.flush()


def bind(sock, endpoint):
    if endpoint.startswith("ipc://"):
        os.makedirs(os.path.dirname(endpoint[6:]) or ".", exist_ok=True)
    sock.bind(endpoint)


def main(argv):
    config, name, notify = "conf/pipeline.zpl", "segmenter", None
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg in ("-c", "--config"):
            config = args.pop(0)
        elif arg in ("-n", "--name"):
            name = args.pop(0)
        elif arg == "--notify-fd":
            notify = int(args.pop(0))
        else:
            sys.stdout.write(__doc__)
            return 0 if arg in ("-h", "--help") else 1
    stage = Stage(config, name)
    ctx = zmq.Context()
    router, pub, ctl = ctx.socket(zmq.ROUTER), ctx.socket(zmq.PUB), ctx.socket(zmq.REP)
    router.setsockopt(zmq.ROUTER_MANDATORY, 1)
    router.setsockopt(zmq.ROUTER_HANDOVER, 1)
    for sock, kind in ((router, "out"), (pub, "pub"), (ctl, "ctl")):
        bind(sock, stage.endpoint(name, kind))
    stage.connect(ctx)
    poller = zmq.Poller()
    for sock in [router, ctl] + list(stage.dealers):
        poller.register(sock, zmq.POLLIN)
    # A supervisor stops a stage with SIGTERM: finish the batch in hand
    # (it is committed or not, never half) and exit 0, as the C stages do.
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    log("ready: %d journal entries, reading %s" % (len(stage.journal), stage.pos))
    if notify is not None:
        os.write(notify, b"\n")
        os.close(notify)
    while not stopping:
        ready = dict(poller.poll(200))
        if ctl in ready:
            ctl.recv()
            ctl.send_string(json.dumps(stage.stats()))
        stage.take_credit(router)
        before, outputs = dict(stage.pos), []
        for sock in stage.dealers:
            outputs += stage.read(sock)
        if stage.pos != before:
            stage.commit(outputs)       # on disk first, then ACK and send
            for sock, up in stage.dealers.items():
                if stage.pos[up] != before[up]:
                    stage.credit(sock, "ACK")
            for topic, body in outputs:
                pub.send_multipart([topic.encode(), body.encode()], flags=zmq.NOBLOCK)
        stage.pump(router)
        stage.heartbeat()
        stage.compact()
    log("stopped")
    ctx.destroy(linger=0)       # what is unsent, consumers ask for again
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(0)
