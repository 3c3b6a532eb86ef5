"""ndtest - helpers for nudge's integration tests: real processes, real sockets.

A test builds a Pipeline in a fresh temporary directory, starts real stage
programs from $ND_BIN (default ./bin), talks to them over HTTP and ZeroMQ,
and checks what comes out. Each check prints "ok - NAME" or "not ok - NAME:
reason"; tests/run counts those lines.

A stage ends only when the test kills or stops it: one found dead at
kill, stop, a new start or close prints "not ok - STAGE died by itself:
STATUS", and SIGTERM must end it with exit 0. A test that starts a stage
which must refuse to run (a bad config) says so with Pipeline.refused.

    from ndtest import Pipeline, check, done
    with Pipeline(clock="event") as p:
        p.start("collector"); p.start("sessionizer")
        tap = p.tap("sessionizer", "cart.")
        p.post("/v1/track", {...})
        msgs = tap.collect(until=lambda ms: len(ms) >= 1, timeout=10)
        check("one abandoned cart", len(msgs) == 1, msgs)
    done()
"""
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import zmq

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.abspath(os.environ.get("ND_BIN", os.path.join(ROOT, "bin")))
E2E = os.path.join(ROOT, "tests", "e2e")     # the node scripts (npm packages, chromium)
WRITE_KEY = "test-write-key"
# A browser key, as a shop's page has it: public, good only from its origin,
# and what it sends is a claim ("via": "browser"; see test_optin)
BROWSER_KEY = "test-browser-key"
BROWSER_ORIGIN = "http://127.0.0.1:8000"
BROWSER_BLOCK = ('    browser-keys\n        key = "%s"\n            origins = "%s"\n'
                 % (BROWSER_KEY, BROWSER_ORIGIN))

_results = {"passed": 0, "failed": 0}


def check(name, condition, detail=None):
    """Records one assertion; prints ok / not ok with detail on failure."""
    if condition:
        _results["passed"] += 1
        print("ok - %s" % name, flush=True)
    else:
        _results["failed"] += 1
        text = "" if detail is None else ": %s" % (detail,)
        print("not ok - %s%s" % (name, text[:2000]), flush=True)
    return condition


def fail(name):
    """Records a failure that no check asked for (a stage that crashed)."""
    _results["failed"] += 1
    print("not ok - %s" % name, flush=True)


def exit_status(returncode):
    """A process's end in words: "exit 1", "killed by SIGABRT"."""
    if returncode < 0:
        return "killed by %s" % signal.Signals(-returncode).name
    return "exit %d" % returncode


def done():
    """Exits 0 if every check passed, 1 otherwise."""
    sys.exit(0 if _results["failed"] == 0 and _results["passed"] > 0 else 1)


def check_kills_in_flight(what, marks, kills, total):
    """A kill -9 proves something only if it lands mid-stream. marks holds,
    for each kill, how much was done when it landed, as counted by a
    reader independent of the killed stage (acknowledgements seen
    upstream, deliveries seen by the provider): each must be past the one
    before (work went on between kills) and short of total (work was still
    pending when the stage died)."""
    ok = len(marks) == kills > 0 and all(0 < a < b for a, b in zip(marks, marks[1:] + [total]))
    return check("%s killed -9 %d times, each mid-stream (%s at the kills: %s of %d)"
                 % (what, kills, "done" if ok else "NOT all mid-stream", marks, total), ok)


def passed_on(messages, when):
    """True once a stage's output (tap or journal messages, each ending in
    topic and body) holds the tick it passed on for time when. In event
    time the stage ran its timers for that time in the transaction that
    emitted the tick, and takes nothing that moves its clock while a
    sender's order is out with a worker: so whatever was due by then is
    marked sending (STATS) or done. "Nothing went before T" is then a
    fact to check, not a sleep to hope long enough."""
    return any(m[-2] == "tick" and m[-1].get("time") == when for m in messages)


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def make_certificate(directory, name="localhost"):
    """A self-signed certificate and key for name (a host name or an IP
    address), by openssl req; the certificate is its own CA, so a client
    given it as its CA file verifies the server as it would a real one."""
    import ipaddress
    try:
        ipaddress.ip_address(name)
        alt = "IP:" + name
    except ValueError:
        alt = "DNS:" + name
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=" + name,
                    "-addext", "subjectAltName=" + alt],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def wait_for(predicate, timeout=10.0, interval=0.02):
    """Polls predicate until it returns a true value or timeout passes."""
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value or time.time() > deadline:
            return value
        time.sleep(interval)


class Tap:
    """A SUB socket on a stage's PUB endpoint, decoding topic + JSON body."""

    def __init__(self, ctx, endpoint, prefix=""):
        self.sock = ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.SUBSCRIBE, prefix.encode())
        self.sock.setsockopt(zmq.RCVHWM, 0)
        self.sock.connect(endpoint)
        self.messages = []
        time.sleep(0.2)     # slow joiner: let the subscription reach the PUB

    def poll(self, timeout_ms=50):
        while self.sock.poll(timeout_ms):
            topic, body = self.sock.recv_multipart()
            self.messages.append((topic.decode(), json.loads(body)))
            timeout_ms = 0
        return self.messages

    def collect(self, until=None, timeout=10.0):
        """Gathers messages until until(messages) is true or timeout passes."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.poll(50)
            if until is not None and until(self.messages):
                break
        return self.messages

    def close(self):
        self.sock.close(0)


class Pipeline:
    """A pipeline in a temporary directory: config, state, sockets, processes."""

    def __init__(self, clock="event", extra=None, stages=None, keep=False, sync=False):
        """sync: fsync each commit, as shipped (conf/pipeline.zpl). Off by
        default to spare the disk the other tests share; the crash tests
        turn it on, so kill -9 is proven in the mode users run."""
        self.dir = tempfile.mkdtemp(prefix="nd-test-")
        self.keep = keep
        self.clock = clock
        self.sync = sync
        self.http_port = free_port()
        self.procs = {}
        self.logs = {}
        self.ctx = zmq.Context()
        self.config = os.path.join(self.dir, "pipeline.zpl")
        self.write_config(extra or {}, stages)

    # -- configuration ---------------------------------------------------
    def write_config(self, extra, stages=None):
        """extra: {"stage": {"option": "value"}} added to the default config;
        a value that is a dict is a section inside the stage's
        ("partition-1": {"out": ...})."""
        sections = {
            "pipeline": {"state": self.dir + "/state", "run": self.dir + "/run",
                         "clock": self.clock, "sync": "1" if self.sync else "0", "mapsize": "1G"},
            "collector": {"http": "127.0.0.1:%d" % self.http_port},
            "sessionizer": {"input": "collector"},
        }
        for name in stages or []:
            sections.setdefault(name, {})
        for name, opts in extra.items():
            sections.setdefault(name, {}).update(opts)
        lines = []
        for name, opts in sections.items():
            lines.append(name)
            for k, v in opts.items():
                if isinstance(v, dict):         # a section inside the stage's
                    lines.append("    %s" % k)
                    lines.extend('        %s = "%s"' % item for item in v.items())
                else:
                    lines.append('    %s = "%s"' % (k, v))
            if name == "collector":
                lines.append("    write-keys")
                lines.append('        key = "%s"' % WRITE_KEY)
                lines.append(BROWSER_BLOCK.rstrip("\n"))
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.makedirs(self.dir + "/run", exist_ok=True)

    def endpoint(self, stage, kind):
        """kind: out | pub | ctl."""
        return "ipc://%s/run/%s.%s" % (self.dir, stage, kind)

    # -- processes ---------------------------------------------------------
    def start(self, stage, program=None, args=(), wait=True, stdin=None):
        """Starts bin/<program> --config <cfg> --name <stage>; waits for ready."""
        program = program or stage
        log = open(os.path.join(self.dir, stage + ".log"), "ab")
        r, w = os.pipe()
        cmd = [os.path.join(BIN, program), "--config", self.config,
               "--name", stage, "--notify-fd", str(w)] + list(args)
        proc = subprocess.Popen(cmd, stdout=log, stderr=log, pass_fds=(w,),
                                stdin=stdin if stdin is not None else subprocess.DEVNULL,
                                cwd=self.dir)
        os.close(w)
        self.ended(stage)
        self.procs[stage] = proc
        self.logs[stage] = os.path.join(self.dir, stage + ".log")
        if wait:
            import select
            ready, _, _ = select.select([r], [], [], 20)
            ok = bool(ready) and os.read(r, 16) != b""
            os.close(r)
            if not ok:
                raise RuntimeError("%s did not become ready:\n%s" % (stage, self.log(stage)))
        else:
            os.close(r)
        return proc

    def ended(self, stage):
        """Forgets stage's process; a failure if it had ended on its own.
        A stage ends only when a test kills or stops it, so an earlier end
        is a crash that a restart would otherwise hide."""
        proc = self.procs.pop(stage, None)
        if proc is not None and proc.poll() is not None:
            last = self.log(stage).strip().splitlines()[-1:] or ["(no log)"]
            fail("%s died by itself: %s; its log ends: %s"
                 % (stage, exit_status(proc.returncode), last[0][:300]))
            return None
        return proc

    def kill(self, stage, sig=signal.SIGKILL):
        """Sends sig to a running stage and waits for it to end. A stage
        stopped with SIGTERM must end with exit 0 (a clean shutdown)."""
        proc = self.ended(stage)
        if proc is None:
            return None
        proc.send_signal(sig)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            fail("%s did not end within 20 s of %s" % (stage, signal.Signals(sig).name))
            return proc
        if sig == signal.SIGTERM and proc.returncode != 0:
            fail("%s stopped with SIGTERM: %s" % (stage, exit_status(proc.returncode)))
        return proc

    def stop(self, stage):
        return self.kill(stage, signal.SIGTERM)

    def kill_while_reading(self, stage, source, kills, total, program=None):
        """Kills stage -9 and starts it again each time it has acknowledged
        another 1/(kills + 1) of total from source (a JournalServer), which
        keeps only a few hundred messages unacknowledged: each kill lands
        mid-stream. Returns the position acknowledged at each kill, as the
        source saw it (for check_kills_in_flight)."""
        marks = []
        for kill in range(1, kills + 1):
            source.serve_until(stage, total * kill // (kills + 1))
            self.kill(stage)
            source.serve(0.02)      # the acks it sent before it died
            marks.append(source.acked(stage))
            self.start(stage, program=program)
        return marks

    def refused(self, stage, timeout=20):
        """Starts a stage that must stop at start (a bad config) and
        returns its exit status, or None if it still ran after timeout
        (then it is killed). Its end is expected, not a crash."""
        proc = self.start(stage, wait=False)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill(stage)
            return None
        finally:
            self.procs.pop(stage, None)

    def log(self, stage):
        try:
            with open(self.logs[stage], "rb") as f:
                return f.read().decode(errors="replace")
        except (KeyError, OSError):
            return ""

    # -- talking to stages -------------------------------------------------
    def tap(self, stage, prefix=""):
        return Tap(self.ctx, self.endpoint(stage, "pub"), prefix)

    def control(self, stage, command="STATS", timeout_ms=5000):
        """Asks a stage's control socket; returns the decoded JSON answer."""
        s = self.ctx.socket(zmq.REQ)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(self.endpoint(stage, "ctl"))
        s.send_string(command)
        if not s.poll(timeout_ms):
            s.close(0)
            raise RuntimeError("%s control did not answer %s" % (stage, command))
        answer = s.recv()
        s.close(0)
        return json.loads(answer)

    def post(self, path, body, key=WRITE_KEY, raw=None, headers=None):
        """POSTs JSON (or raw bytes) to the collector; returns (status, json or text)."""
        data = raw if raw is not None else json.dumps(body).encode()
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.http_port, path),
                                     data=data, method="POST")
        req.add_header("Content-Type", "application/json")
        if key is not None:
            token = base64.b64encode((key + ":").encode()).decode()
            req.add_header("Authorization", "Basic " + token)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status, text = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read()
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text.decode(errors="replace")

    def get(self, path):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.http_port, path),
                                        timeout=10) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    # -- teardown ----------------------------------------------------------
    def close(self):
        for stage in list(self.procs):
            self.stop(stage)
        self.ctx.destroy(0)
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is not None and exc[0] is not SystemExit:
            for stage in self.logs:
                sys.stderr.write("---- %s log ----\n%s\n" % (stage, self.log(stage)[-4000:]))
        self.close()
        if exc[0] is SystemExit and _results["failed"]:
            sys.exit(1)     # done() inside the block ran before close found a crash
        return False


class JournalReader:
    """The receiving end of a durable link, in Python: reads a stage's
    journal as a configured consumer does (README, "Durable links").

    Says HELLO <pos> <window>, takes MSG <seq> <topic> <body> only when seq
    is pos + 1 (a gap: HELLO again from pos), follows POS <from> <to> over
    filtered entries, and ACKs what it has. messages holds (seq, topic,
    body), each seq once, in order; raw: the body as the bytes received.
    """

    def __init__(self, p, stage, consumer, window, raw=False):
        self.raw = raw
        self.sock = p.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.IDENTITY, consumer.encode())
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RCVHWM, 0)
        self.sock.connect(p.endpoint(stage, "out"))
        self.window = window
        self.position = 0
        self.messages = []
        self.hello()

    def hello(self):
        self.sock.send_multipart([b"HELLO", str(self.position).encode(), str(self.window).encode()])

    def poll(self, timeout=0.3):
        """Reads what arrives within timeout; returns how many messages came.
        Says HELLO again if the position did not move (the stage may have
        restarted and forgotten us)."""
        got, before, deadline = 0, self.position, time.time() + timeout
        while time.time() < deadline:
            if not self.sock.poll(20):
                continue
            while self.sock.poll(0):
                frames = self.sock.recv_multipart()
                if frames[0] == b"MSG":
                    seq = int(frames[1])
                    if seq == self.position + 1:
                        body = frames[3] if self.raw else json.loads(frames[3])
                        self.messages.append((seq, frames[2].decode(), body))
                        self.position = seq
                        got += 1
                    elif seq > self.position + 1:
                        self.hello()        # a gap: start again from what we have
                elif frames[0] == b"POS" and int(frames[1]) == self.position + 1:
                    self.position = int(frames[2])
            self.sock.send_multipart([b"ACK", str(self.position).encode(), str(self.window).encode()])
        if self.position == before:
            self.hello()
        return got

    def close(self):
        self.sock.close(0)


class JournalServer:
    """The sending end of a durable link, in Python: what a stage written in
    another language does to feed nudge stages (README, "Swap a stage").

    Holds numbered messages in memory; a consumer's DEALER says
    HELLO/ACK <pos> <window> [prefix...]; we send MSG <seq> <topic> <body>
    for seq in (pos, pos + window]. A consumer is known by its routing id
    up to the first "/" (nudge's stages add a tag per connection); we send
    to the connection it last spoke from.
    """

    def __init__(self, ctx, endpoint):
        self.sock = ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.sock.setsockopt(zmq.ROUTER_HANDOVER, 1)
        self.sock.bind(endpoint)
        self.journal = []           # index i holds seq i + 1
        self.released = None        # serve only this many (None: all)
        self.consumers = {}         # name -> [acked, sent, limit, routing id]
        self.hellos = 0             # HELLOs heard

    def append(self, topic, body):
        self.journal.append((topic, json.dumps(body)))

    def acked(self, consumer):
        """The last position consumer acknowledged (or said HELLO from)."""
        return self.consumers.get(consumer, [0])[0]

    def serve_until(self, consumer, position, timeout=60):
        """Serves, a little at a time, until consumer has acknowledged
        position (or timeout): a kill then lands with some messages sent
        and not yet acknowledged, and the rest of the journal to come."""
        deadline = time.time() + timeout
        while self.acked(consumer) < position and time.time() < deadline:
            self.serve(0.005, in_flight=200)
        return self.acked(consumer)

    def serve(self, duration=0.05, in_flight=None):
        """Handles credit and sends what consumers may take, for duration s,
        keeping at most in_flight messages sent and not yet acknowledged
        to each (None: as many as their window allows)."""
        deadline = time.time() + duration
        while True:
            while self.sock.poll(0):
                frames = self.sock.recv_multipart()
                if len(frames) < 4:
                    continue
                name, command = frames[0].decode(errors="replace").split("/")[0], frames[1].decode()
                pos, window = int(frames[2]), int(frames[3])
                c = self.consumers.setdefault(name, [0, pos, 0, frames[0]])
                c[0], c[2], c[3] = pos, pos + window, frames[0]
                if command == "HELLO":
                    c[1] = pos
                    self.hellos += 1
            for name, c in self.consumers.items():
                available = len(self.journal) if self.released is None else self.released
                if in_flight is not None:
                    available = min(available, c[0] + in_flight)
                while c[1] < min(c[2], available):
                    seq = c[1] + 1
                    topic, body = self.journal[seq - 1]
                    try:
                        self.sock.send_multipart([c[3], b"MSG", str(seq).encode(),
                                                  topic.encode(), body.encode()],
                                                 flags=zmq.NOBLOCK)
                    except zmq.ZMQError:
                        break
                    c[1] = seq
            if time.time() >= deadline:
                return
            time.sleep(0.005)

    def close(self):
        self.sock.close(0)


def node_report(script, *args, timeout=60, **empty):
    """Runs tests/e2e/script with node and args; returns the JSON object on
    the last line it printed, or, when there is none, empty with "errors"
    holding what it said."""
    r = subprocess.run(["node", os.path.join(E2E, script)] + list(args), cwd=E2E,
                       capture_output=True, text=True, timeout=timeout)
    try:
        return json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return dict(empty, errors=["no report from %s: %s%s" % (script, r.stdout[-1500:], r.stderr[-1500:])])
