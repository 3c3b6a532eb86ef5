#!/usr/bin/python3
"""chat-bridge and nd-chat: the terminal console, --help, bad config.

  nd-chat, typed into, says /online (so chats are answered outside
  business hours), shows the new conversation with the visitor's
  question, answers it, and the answer reaches the widget; /end, /list;
  once it has left, chats go to e-mail again;
  both programs answer --help; a bad "hours" stops the chat-bridge with
  file:line: reason, and so does a misspelt option;
  a chat-bridge with "curve" serves its console over CURVE on tcp://:
  nd-chat --cert with a trusted key answers a chat as above; without
  --cert, or with a key not in curve-clients, it gets nothing and says
  why in one line; a plain ZeroMQ client gets nothing.
"""
import os
import subprocess
import threading

import zmq

from ndtest import BIN, Pipeline, check, done, free_port, wait_for
from chattest import Widget, chat_options

port = free_port()
extra = {"chat-bridge": chat_options(port, hours="never")}


class Console:
    """nd-chat running, typed into line by line, its output collected."""

    def __init__(self, p, args=None):
        args = args or [p.endpoint("chat-bridge", "console")]
        self.proc = subprocess.Popen([os.path.join(BIN, "nd-chat"), "-o", "anna"] + args,
                                     stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.out = []
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        for line in self.proc.stdout:
            self.out.append(line.rstrip("\n"))

    def type(self, line, expect=None):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        if expect:
            wait_for(lambda: any(expect in l for l in self.out), timeout=10)

    def text(self):
        return "\n".join(self.out)

    def close(self):
        self.proc.stdin.close()
        return self.proc.wait(20)


with Pipeline(clock="event", extra=extra) as p:
    p.start("chat-bridge")
    anna = Console(p)
    anna.type("/online", expect="you are online")
    check("nd-chat /online: the operator is online, chats are answered",
          "chats are answered" in anna.text(), anna.text())
    ewa = Widget(port, "a-ewa")
    status, answer = ewa.say("Can I pay on delivery?")
    check("outside business hours, an operator online takes the chat",
          status == 200 and answer.get("state") == "operator", answer)
    wait_for(lambda: "[c1]" in anna.text(), timeout=10)
    check("nd-chat shows the new conversation with the question",
          "[c1] #c1 new chat" in anna.text() and "Visitor: Can I pay on delivery?" in anna.text(),
          anna.text())
    anna.type("Yes, cash or card.", expect="ok")
    wait_for(lambda: len(ewa.lines()) >= 2, timeout=5)
    lines = ewa.lines()
    check("the console's answer (to the last conversation) reaches the widget, with the operator's name",
          lines and (lines[-1]["from"], lines[-1].get("name"), lines[-1]["text"])
          == ("operator", "anna", "Yes, cash or card."), lines)
    anna.type("/end", expect="#c1 ended")
    anna.type("/list", expect="no open conversations")
    rc = anna.close()
    check("nd-chat /end and /list; exits 0 at the end of input",
          "#c1 ended" in anna.text() and "no open conversations" in anna.text() and rc == 0,
          (rc, anna.text()))
    check("the bridge logs the operator's presence, not what was said",
          "console:anna" in p.log("chat-bridge") and "cash or card" not in p.log("chat-bridge"),
          p.log("chat-bridge")[-800:])
    status, answer = Widget(port, "a-bo").say("Anyone there?")
    check("once the operator has left, chats go to e-mail again", answer.get("state") == "ask-email",
          answer)

for program in ("chat-bridge", "nd-chat"):
    out = subprocess.run([os.path.join(BIN, program), "--help"], capture_output=True, text=True)
    check("%s --help" % program, out.returncode == 0 and "Usage" in out.stdout or "usage" in out.stdout,
          out.stdout[:200])

with Pipeline(clock="event", extra={"chat-bridge": chat_options(port, hours="mon-fri 9-18")}) as p:
    rc = p.refused("chat-bridge")
    lines = [l for l in p.log("chat-bridge").splitlines() if "pipeline.zpl:" in l]
    check("a bad hours option stops the start with file:line: reason",
          rc == 78 and lines and "chat-bridge/hours: \"mon-fri 9-18\" is not like" in lines[-1], p.log("chat-bridge"))
with Pipeline(clock="event", extra={"chat-bridge": chat_options(port, **{"telegram-tokn": "env:X"})}) as p:
    rc = p.refused("chat-bridge")
    check("a misspelt option stops the start", rc == 78 and "telegram-tokn: unknown option"
          in p.log("chat-bridge"), p.log("chat-bridge"))

with Pipeline(clock="event", extra={"chat-bridge": chat_options(
        port, console="tcp://127.0.0.1:%d" % free_port())}) as p:
    rc = p.refused("chat-bridge")
    check("a console on tcp:// without curve (nor insecure = yes) stops the start",
          rc == 78 and "chat-bridge/console: tcp:// without curve" in p.log("chat-bridge"),
          p.log("chat-bridge")[-500:])


def nd_chat(*args):
    """nd-chat run to the end of '/list'; (exit code, stdout, stderr lines)."""
    r = subprocess.run([os.path.join(BIN, "nd-chat"), "-t", "3000"] + list(args), input="/list\n",
                       capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout, r.stderr.strip().splitlines()


console = "tcp://127.0.0.1:%d" % free_port()
with Pipeline(clock="event") as p:
    certs, clients = os.path.join(p.dir, "certs"), os.path.join(p.dir, "clients")
    os.makedirs(certs)
    os.makedirs(clients)
    for name in ("chat-bridge", "anna", "stranger"):
        r = subprocess.run([os.path.join(BIN, "nd-cert"), "-d", certs, name], capture_output=True)
        assert r.returncode == 0, r.stderr
    os.link(os.path.join(certs, "anna.pub"), os.path.join(clients, "anna.pub"))
    p.write_config({"chat-bridge": chat_options(port, hours="never", console=console,
                                                curve=os.path.join(certs, "chat-bridge.secret"),
                                                **{"curve-clients": clients})},
                   stages=["segmenter"])
    p.start("chat-bridge")
    check("with curve the bridge says its console is CURVE",
          "console: operators connect with nd-chat to %s (CURVE" % console in p.log("chat-bridge"),
          p.log("chat-bridge")[-800:])

    anna = Console(p, ["-c", p.config, "--cert", os.path.join(certs, "anna.secret"), "chat-bridge"])
    anna.type("/online", expect="you are online")
    ewa = Widget(port, "a-ewa")
    status, answer = ewa.say("Do you ship to Norway?")
    wait_for(lambda: "[c1]" in anna.text(), timeout=10)
    check("curve: nd-chat --cert with a trusted key sees the new conversation",
          status == 200 and answer.get("state") == "operator"
          and "Visitor: Do you ship to Norway?" in anna.text(), (answer, anna.text()))
    anna.type("Yes, in 3 days.", expect="ok")
    wait_for(lambda: len(ewa.lines()) >= 2, timeout=5)
    lines = ewa.lines()
    check("curve: the console's answer reaches the widget",
          lines and (lines[-1]["from"], lines[-1]["text"]) == ("operator", "Yes, in 3 days."), lines)
    anna.type("/list", expect="#c1")
    rc = anna.close()
    check("curve: nd-chat --cert /list shows the open conversation and exits 0",
          rc == 0 and "#c1" in anna.text().split("Yes, in 3 days.")[-1], (rc, anna.text()))

    rc, out, err = nd_chat("-c", p.config, "chat-bridge")
    check("curve: nd-chat without --cert gets nothing and says why in one line",
          rc == 1 and not out and len(err) == 1 and "uses CURVE" in err[0] and "--cert" in err[0],
          (rc, out, err))
    rc, out, err = nd_chat("-c", p.config, "--cert", os.path.join(certs, "stranger.secret"),
                           "chat-bridge")
    check("curve: nd-chat with a key not in curve-clients gets nothing and says why in one line",
          rc == 1 and not out and len(err) == 1 and "refuses this key" in err[0], (rc, out, err))
    dealer = p.ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.connect(console)
    dealer.send_multipart([b"HELLO", b"eve"])
    check("curve: a plain DEALER on the console gets nothing", not dealer.poll(1000), None)
    dealer.close(0)
    check("curve: no operator but anna was ever here",
          "console:eve" not in p.log("chat-bridge") and "console:operator" not in p.log("chat-bridge"),
          p.log("chat-bridge")[-800:])
done()
