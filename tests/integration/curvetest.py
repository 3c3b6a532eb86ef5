"""curvetest - ZeroMQ peers of a stage, with or without CURVE, for the
tests that play a tap, an operator or an intruder (not a test itself)."""
import re
import time

import zmq


def read_cert(path):
    """The public and secret keys of a czmq certificate, as pyzmq wants them."""
    keys = {}
    with open(path) as f:
        for line in f:
            m = re.match(r'\s*(public|secret)-key\s*=\s*"(.*)"', line)
            if m:
                keys[m.group(1)] = m.group(2).encode()
    return keys.get("public"), keys.get("secret")


def curve_socket(ctx, kind, endpoint, cert=None, server=None, identity=None):
    """A socket connected to endpoint; with cert (a keypair file) a CURVE
    client of the server whose public certificate is server."""
    s = ctx.socket(kind)
    s.setsockopt(zmq.LINGER, 0)
    if identity is not None:
        s.setsockopt(zmq.IDENTITY, identity)
    if cert:
        s.curve_publickey, s.curve_secretkey = read_cert(cert)
        s.curve_serverkey = read_cert(server)[0]
    s.connect(endpoint)
    return s


def received(sock, wait):
    """Messages a socket gets within wait seconds."""
    got, deadline = [], time.time() + wait
    while time.time() < deadline:
        if sock.poll(50):
            got.append(sock.recv_multipart())
    return got
