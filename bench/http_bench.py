#!/usr/bin/python3
"""make bench, part: the collector's single-event path next to nginx.

The same wrk (1 thread, 32 connections, bench/events.lua: one Segment
track event per POST /v1/track, each with its own messageId) against

  1. the collector, sync = 1: each 200 means the event is committed
     and fsynced in its LMDB (concurrent requests share commits);
  2. nginx with one worker answering 204 to the same POSTs, body read
     and dropped: what an HTTP server on this machine does with nothing
     to keep (the baseline);

one after the other in the same run, on loopback only, each for
BENCH_SECONDS (default 8). nginx comes from Debian (nginx-light, which
`make bench-http` installs without starting its service); without it the
baseline row says so and the rest runs. Then the disk alone: how many
commits a second it allows when each flushes twice as LMDB's does (the
pages, then the meta page), which times the connections is the most
sync = 1 could answer while every connection waits for its own event's
commit.
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

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
from ndtest import ROOT, WRITE_KEY, Pipeline, free_port, wait_for  # noqa: E402

SECONDS = int(os.environ.get("BENCH_SECONDS", "8"))
CONNECTIONS = 32
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)

NGINX_CONF = """
worker_processes 1;
daemon off;
pid %(dir)s/nginx.pid;
error_log %(dir)s/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path %(dir)s/body;
    proxy_temp_path %(dir)s/proxy;
    fastcgi_temp_path %(dir)s/fastcgi;
    uwsgi_temp_path %(dir)s/uwsgi;
    scgi_temp_path %(dir)s/scgi;
    client_body_buffer_size 64k;
    server {
        listen 127.0.0.1:%(port)d;
        location / { return 204; }
    }
}
"""


def wrk(port, run):
    """wrk's summary (bench/events.lua's JSON line) with events_per_s."""
    env = dict(os.environ, BATCH="1", RUN=run,
               AUTH="Basic " + base64.b64encode((WRITE_KEY + ":").encode()).decode())
    out = subprocess.run(["wrk", "-t1", "-c%d" % CONNECTIONS, "-d%ds" % SECONDS,
                          "-s", os.path.join(ROOT, "bench", "events.lua"),
                          "http://127.0.0.1:%d/" % port],
                         env=env, capture_output=True, text=True, check=True,
                         timeout=SECONDS + 60).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["events_per_s"] = result["requests"] / result["seconds"]
    return result


def collector_rate():
    """wrk against the collector, with how many requests its commits
    carried (a commit is an fsync: group commit is what makes sync = 1
    affordable)."""
    with Pipeline(clock="wall", extra={"pipeline": {"sync": "1"}}) as p:
        p.start("collector")
        before = p.control("collector")
        result = wrk(p.http_port, "c%d" % time.time())
        after = p.control("collector")
        commits = after["commits"] - before["commits"]
        result["commits_per_s"] = commits / result["seconds"]
        result["per_commit"] = (after["accepted"] - before["accepted"]) / max(commits, 1)
        return result


def nginx_rate():
    """wrk against nginx answering 204; None without nginx."""
    if not NGINX:
        return None
    with tempfile.TemporaryDirectory(prefix="nd-bench-nginx-") as tmp:
        port = free_port()
        conf = os.path.join(tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF % {"dir": tmp, "port": port})
        log = open(os.path.join(tmp, "stderr"), "w")
        proc = subprocess.Popen([NGINX, "-p", tmp, "-c", conf], stdout=log, stderr=log)
        try:
            def answers():
                probe = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                        "-X", "POST", "-d", "{}", "http://127.0.0.1:%d/v1/track" % port],
                                       capture_output=True, text=True)
                return probe.stdout == "204"
            wait_for(answers, timeout=10, interval=0.05)
            return wrk(port, "n%d" % time.time())
        finally:
            proc.send_signal(signal.SIGQUIT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()


def disk_commits(seconds=3.0):
    """Commits a second the disk under the bench's temporary directory
    allows with nothing else to do: a 4 KB page written and flushed, then
    a 4 KB meta page written and flushed, as an LMDB commit with sync = 1."""
    with tempfile.TemporaryDirectory(prefix="nd-bench-disk-") as tmp:
        fd = os.open(os.path.join(tmp, "data"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            page, done, t0 = b"\0" * 4096, 0, time.monotonic()
            while time.monotonic() - t0 < seconds and done < 100000:
                os.pwrite(fd, page, 4096 * (1 + done % 1024))
                os.fdatasync(fd)
                os.pwrite(fd, page, 0)
                os.fdatasync(fd)
                done += 1
            return done / (time.monotonic() - t0)
        finally:
            os.close(fd)


def main():
    collector = collector_rate()
    nginx = nginx_rate()
    disk = disk_commits()
    print("\nthe collector's single-event path (wrk -t1 -c%d, %d s each, POST /v1/track)\n"
          % (CONNECTIONS, SECONDS))
    print("%-58s %14s  %s" % ("measure", "requests/s", "notes"))
    if nginx:
        print("%-58s %14.0f  %s" % ("nginx, 1 worker, 204 to the same POSTs (baseline)",
                                    nginx["events_per_s"], "p99 %.1f ms, %d non-2xx"
                                    % (nginx["p99_ms"], nginx["non2xx"])))
    else:
        print("%-58s %14s  %s" % ("nginx (baseline)", "-", "not installed (Debian nginx-light)"))
    print("%-58s %14.0f  %s" % ("collector /v1/track, sync = 1, one event a request",
                                collector["events_per_s"],
                                "p99 %.1f ms, %d non-2xx, %.0f commits/s, %.1f requests a commit"
                                % (collector["p99_ms"], collector["non2xx"],
                                   collector["commits_per_s"], collector["per_commit"])))
    print("%-58s %14.0f  %s" % ("the disk alone: %d connections x its commits a second" % CONNECTIONS,
                                CONNECTIONS * disk, "%.0f commits/s of two fdatasyncs each (the bound "
                                "for sync = 1)" % disk))
    if nginx:
        print("collector vs nginx: %.0f%% (aim: at least half); collector vs the disk's bound: %.0f%%"
              % (100 * collector["events_per_s"] / nginx["events_per_s"],
                 100 * collector["events_per_s"] / (CONNECTIONS * disk)))


if __name__ == "__main__":
    main()
