#!/usr/bin/python3
"""The browser kit and the push key, served by the collector (README,
collector "The browser kit").

A real collector with kit = a directory of this test's own (not web/,
which the kit's authors change) and vapid-key = a key made by nd-vapid:

  - GET /nudge.js and /nudge-sw.js: the files as they are, as
    text/javascript; charset=utf-8, with Cache-Control public, max-age=300
    and an ETag;
  - with Accept-Encoding: gzip, the gzip copy (Content-Encoding: gzip,
    Vary: Accept-Encoding), which inflates to the file and is smaller;
  - If-None-Match with the ETag: 304 and no body;
  - the file is read at start: changing it on disk changes nothing until
    a restart;
  - GET /v1/push/key: {"publicKey"} is the key nd-vapid --public prints
    for the same file (the uncompressed P-256 point, base64url);
  - without vapid-key, /v1/push/key is 404; a file that is not in the kit,
    404; kit naming no directory stops the start at its line.
"""
import base64
import gzip
import http.client
import json
import os
import subprocess

from ndtest import BIN, Pipeline, check, done

SCRIPT = "".join("nudge.track('Product Viewed', {n: %d});\n" % n for n in range(300))
WORKER = "self.addEventListener('push', function (event) { /* shows it */ });\n"


def get(port, path, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


with Pipeline(clock="wall") as p:
    kit = os.path.join(p.dir, "kit")
    os.makedirs(kit)
    with open(os.path.join(kit, "nudge.js"), "w") as f:
        f.write(SCRIPT)
    with open(os.path.join(kit, "nudge-sw.js"), "w") as f:
        f.write(WORKER)
    key_file = os.path.join(p.dir, "vapid.key")
    subprocess.run([BIN + "/nd-vapid", "-o", key_file], check=True, capture_output=True)
    public = subprocess.run([BIN + "/nd-vapid", "--public", key_file], check=True,
                            capture_output=True, text=True).stdout.strip().split("=", 1)[1]
    p.write_config({"collector": {"kit": kit, "vapid-key": "file:" + key_file}})
    p.start("collector")
    port = p.http_port

    status, headers, body = get(port, "/nudge.js")
    check("GET /nudge.js: 200, the file as it is", status == 200 and body == SCRIPT.encode(),
          (status, len(body)))
    check("as text/javascript; charset=utf-8, cached 5 minutes, with an ETag",
          headers.get("content-type") == "text/javascript; charset=utf-8"
          and headers.get("cache-control") == "public, max-age=300"
          and headers.get("etag", "").startswith('"') and "content-encoding" not in headers, headers)
    etag = headers.get("etag")

    status, zheaders, zbody = get(port, "/nudge.js", {"Accept-Encoding": "gzip, deflate, br"})
    check("with Accept-Encoding gzip: the gzip copy, which inflates to the file",
          status == 200 and zheaders.get("content-encoding") == "gzip"
          and "Accept-Encoding" in zheaders.get("vary", "")
          and gzip.decompress(zbody) == SCRIPT.encode() and len(zbody) < len(SCRIPT) / 4,
          (status, zheaders, len(zbody)))

    status, headers304, body = get(port, "/nudge.js", {"If-None-Match": etag})
    check("If-None-Match with its ETag: 304, no body",
          status == 304 and body == b"" and headers304.get("etag") == etag, (status, headers304))
    status, _, body = get(port, "/nudge.js", {"If-None-Match": zheaders.get("etag"),
                                              "Accept-Encoding": "gzip"})
    check("and with the gzip copy's ETag", status == 304 and body == b"", status)
    status, _, body = get(port, "/nudge.js", {"If-None-Match": '"not-this-one"'})
    check("another ETag: the file again", status == 200 and body == SCRIPT.encode(), status)

    status, headers, body = get(port, "/nudge-sw.js")
    check("GET /nudge-sw.js: the service worker's file", status == 200
          and body == WORKER.encode()
          and headers.get("content-type") == "text/javascript; charset=utf-8", (status, body[:40]))

    with open(os.path.join(kit, "nudge.js"), "w") as f:
        f.write("changed();\n")
    status, _, body = get(port, "/nudge.js")
    check("read at start: a change on disk waits for a restart",
          status == 200 and body == SCRIPT.encode(), body[:40])

    status, headers, body = get(port, "/v1/push/key")
    answer = json.loads(body) if status == 200 else {}
    point = base64.urlsafe_b64decode(answer.get("publicKey", "") + "==") if answer else b""
    check("GET /v1/push/key: nd-vapid's public key for the same file",
          status == 200 and answer.get("publicKey") == public, (status, body, public))
    check("an uncompressed P-256 point (65 bytes, 0x04 first), readable by any page",
          len(point) == 65 and point[0] == 4
          and headers.get("access-control-allow-origin") == "*", (len(point), headers))
    check("the private key is not in the collector's log",
          open(key_file).read().strip() not in p.log("collector"), None)

    status, _, _ = get(port, "/nudge-missing.js")
    check("a file the kit does not have: 404", status == 404, status)
    p.stop("collector")

    p.write_config({"collector": {"kit": kit}})
    p.start("collector")
    status, _, body = get(port, "/v1/push/key")
    check("without vapid-key: /v1/push/key is 404", status == 404, (status, body))
    status, _, body = get(port, "/nudge.js")
    check("after a restart, the changed file", status == 200 and body == b"changed();\n", body[:40])
    p.stop("collector")

    p.write_config({"collector": {"kit": os.path.join(p.dir, "no-such-dir")}})
    with open(p.config) as f:
        line = [n for n, l in enumerate(f.read().splitlines(), 1) if "kit =" in l][0]
    run = subprocess.run([BIN + "/collector", "-c", p.config, "-n", "collector"],
                         capture_output=True, text=True, timeout=20, cwd=p.dir)
    check("kit naming no directory stops the start at its line",
          run.returncode != 0 and (":%d: collector/kit: not a directory" % line) in run.stderr,
          run.stderr[-300:])
done()
