"""smtpd - a real SMTP server for the mail-sender's tests and benchmark.

aiosmtpd (python3-aiosmtpd) in a thread: STARTTLS or implicit TLS with a
self-signed certificate made by `openssl req` for "localhost", AUTH
PLAIN/LOGIN against one user, and answers scripted per recipient and per
DATA so tests can play a greylisting relay (451) or a dead mailbox (550).

    server = SmtpServer(dir, tls="starttls", auth=("nudge", "s3cret"))
    server.start()
    server.rcpt_script["gone@example.com"] = ["550 5.1.1 no such user"]
    server.data_script = ["451 4.7.1 greylisted", "451 4.7.1 greylisted"]
    ... server.messages  -> [(mail_from, [rcpt], bytes)]
    server.stop()
"""
import logging
import os
import ssl
import threading
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from ndtest import free_port, make_certificate

#  aiosmtpd's own chatter (deprecations, the AUTH-without-STARTTLS warning
#  for implicit TLS) is not the test's output
warnings.filterwarnings("ignore", module="aiosmtpd")
warnings.filterwarnings("ignore", message=".*login_data.*")
logging.getLogger("mail.log").setLevel(logging.ERROR)


class _Handler:
    def __init__(self, owner):
        self.owner = owner

    async def handle_MAIL(self, server, session, envelope, address, options):
        with self.owner.lock:
            self.owner.sessions.add(id(session))
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):
        reply = self.owner._next(self.owner.rcpt_script.get(address.lower()), "250 OK")
        if reply.startswith("250"):
            envelope.rcpt_tos.append(address)
        return reply

    async def handle_DATA(self, server, session, envelope):
        data = envelope.original_content or envelope.content
        with self.owner.lock:
            self.owner.attempts.append((envelope.mail_from, list(envelope.rcpt_tos), data))
        reply = self.owner._next(self.owner.data_script, "250 Message accepted")
        if reply.startswith("250"):
            with self.owner.lock:
                self.owner.messages.append((envelope.mail_from, list(envelope.rcpt_tos), data))
        return reply


class SmtpServer:
    def __init__(self, directory, tls="starttls", auth=None, port=None):
        self.port = port or free_port()
        self.tls = tls
        self.auth = auth
        self.lock = threading.Lock()
        self.messages = []          # accepted: (mail_from, rcpt_tos, bytes)
        self.attempts = []          # every DATA, accepted or not
        self.sessions = set()       # SMTP sessions that sent MAIL
        self.logins = []            # (login, ok)
        self.rcpt_script = {}       # address -> replies to use, in order
        self.data_script = []       # replies to the next DATAs, in order
        self.cert, self.key = make_certificate(directory) if tls else (None, None)
        self.controller = None

    def _next(self, script, default):
        with self.lock:
            return script.pop(0) if script else default

    def _authenticate(self, server, session, envelope, mechanism, data):
        ok = self.auth is not None and (data.login, data.password) == \
            (self.auth[0].encode(), self.auth[1].encode())
        with self.lock:
            self.logins.append((data.login, ok))
        return AuthResult(success=ok)

    def start(self):
        context = None
        if self.tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.cert, self.key)
        kwargs = {"hostname": "localhost", "port": self.port,
                  "server_hostname": "localhost", "decode_data": False}
        if self.tls == "starttls":
            kwargs.update(tls_context=context, require_starttls=True)
        elif self.tls == "implicit":
            kwargs.update(ssl_context=context)
        if self.auth:
            #  aiosmtpd only counts STARTTLS as TLS; with implicit TLS the
            #  whole connection is encrypted anyway
            kwargs.update(authenticator=self._authenticate, auth_required=True,
                          auth_require_tls=self.tls == "starttls")
        self.controller = Controller(_Handler(self), **kwargs)
        self.controller.start()
        return self

    def stop(self):
        if self.controller:
            self.controller.stop()
            self.controller = None

    def wait(self, count, timeout=20.0, pump=None):
        """Waits until count messages were accepted; pump() runs meanwhile."""
        import time
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return True
            if pump:
                pump()
            else:
                time.sleep(0.02)
        return False
