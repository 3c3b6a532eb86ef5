"""tests/e2e/app_push_mocks.js (FCM and APNs over HTTP/2 and TLS) for the
tests and the bench, with the keys a shop would have: a service account's
JSON key (RSA) and an APNs .p8 key (P-256), made by openssl at test time,
and a self-signed certificate the push-sender trusts through tls-ca."""
import json
import os
import ssl
import subprocess
import urllib.request

from ndtest import ROOT, make_certificate

E2E = os.path.join(ROOT, "tests", "e2e")
PROJECT = "shop-app-test"
CLIENT_EMAIL = "nudge@shop-app-test.iam.gserviceaccount.com"
KEY_ID, TEAM_ID, TOPIC = "ABC123DEFG", "DEF123GHIJ", "com.shop.app"


def _openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


class AppPushMocks:
    """FCM and APNs mocks in one node process; options() for the push-sender."""

    def __init__(self, directory, fast=False):
        os.makedirs(directory, exist_ok=True)
        cert, key = make_certificate(directory, "127.0.0.1")
        self.ca = cert
        self.context = ssl.create_default_context(cafile=cert)
        sa, p8 = os.path.join(directory, "sa.pem"), os.path.join(directory, "apns.p8")
        _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", sa)
        _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", p8)
        _openssl("pkey", "-in", sa, "-pubout", "-out", sa + ".pub")
        _openssl("pkey", "-in", p8, "-pubout", "-out", p8 + ".pub")
        os.chmod(p8, 0o600)
        config = {"cert": cert, "key": key, "fast": fast,
                  "fcm": {"project": PROJECT, "client_email": CLIENT_EMAIL, "public_key": sa + ".pub"},
                  "apns": {"key_id": KEY_ID, "team_id": TEAM_ID, "topic": TOPIC,
                           "public_key": p8 + ".pub"}}
        path = os.path.join(directory, "mocks.json")
        with open(path, "w") as f:
            json.dump(config, f)
        self.proc = subprocess.Popen(["node", os.path.join(E2E, "app_push_mocks.js"), path],
                                     stdout=subprocess.PIPE, text=True, cwd=E2E)
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "listening":
            raise RuntimeError("app_push_mocks.js did not start: %r" % line)
        self.base = "https://127.0.0.1:%s" % line[1]
        #  The service account's key file, as the Firebase console gives it
        self.key_file = os.path.join(directory, "service-account.json")
        with open(sa) as f:
            pem = f.read()
        fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"type": "service_account", "project_id": PROJECT,
                       "private_key_id": "0123456789abcdef", "private_key": pem,
                       "client_email": CLIENT_EMAIL, "token_uri": self.base + "/token"}, f)
        self.p8 = p8

    def options(self):
        """The push-sender's app push options for these mocks."""
        return {"fcm-key-file": self.key_file, "fcm-base": self.base,
                "apns-key-file": self.p8, "apns-key-id": KEY_ID, "apns-team-id": TEAM_ID,
                "apns-topic": TOPIC, "apns-base": self.base, "tls-ca": self.ca}

    def call(self, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method="POST" if data else "GET")
        with urllib.request.urlopen(req, timeout=30, context=self.context) as resp:
            return json.loads(resp.read())

    def script(self, kind, token, statuses):
        return self.call("/script", {"kind": kind, "token": token, "statuses": statuses})

    def received(self, kind=None, token=None):
        return [r for r in self.call("/received")
                if (kind is None or r["kind"] == kind) and (token is None or r["token"] == token)]

    def counts(self):
        return self.call("/counts")

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)
