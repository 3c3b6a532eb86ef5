#!/usr/bin/env python3
"""nd-supervisor: the pipeline under a real supervisord.

Generates a supervisord config for a temporary collector + sessionizer
pipeline, runs supervisord on it in the foreground, checks both stages come
up (collector /health over HTTP, sessionizer HEALTH with nd-ctl), kills a
stage with SIGKILL and checks supervisord restarts it, stops supervisord
with SIGTERM and checks no stage is left behind. Also: bad pipeline files
are refused with file and reason, the systemd units look right, and the
reference copies in conf/ match the shipped pipeline.
"""
import filecmp
import glob
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

from ndtest import BIN, ROOT, Pipeline, check, done, wait_for

SUPERVISOR = os.path.join(BIN, "nd-supervisor")
CTL = os.path.join(BIN, "nd-ctl")
SUPERVISORD = shutil.which("supervisord") or "/usr/bin/supervisord"
SUPERVISORCTL = shutil.which("supervisorctl") or "/usr/bin/supervisorctl"


def run(*cmd, cwd=None, timeout=30):
    proc = subprocess.run(list(cmd), capture_output=True, cwd=cwd, timeout=timeout)
    return proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")


def status_of(conf):
    """{program: (state, pid or None)} from supervisorctl status."""
    _, out, _ = run(SUPERVISORCTL, "-c", conf, "status")
    programs = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 2:
            pid = re.search(r"pid (\d+),", line)
            programs[fields[0]] = (fields[1], int(pid.group(1)) if pid else None)
    return programs


def running(conf, program, not_pid=None):
    state, pid = status_of(conf).get(program, (None, None))
    return pid if state == "RUNNING" and pid != not_pid else None


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open("/proc/%d/stat" % pid) as f:
        return f.read().split(") ")[-1][:1] != "Z"


def generate(p):
    conf = os.path.join(p.dir, "supervisord.conf")
    status, out, err = run(SUPERVISOR, "-c", p.config, "--bin", BIN, "--dir", p.dir, "-o", conf)
    text = open(conf).read() if os.path.exists(conf) else ""
    check("nd-supervisor writes a config with one program per stage",
          status == 0 and "[program:collector]" in text and "[program:sessionizer]" in text, (status, err))
    check("each program runs BIN/STAGE --config ABS --name STAGE in WORKDIR",
          "command=%s/sessionizer --config %s --name sessionizer" % (BIN, p.config) in text and
          "directory=%s\n" % p.dir in text, text)
    return conf


def supervise(p, conf):
    for sub in ("var/run", "var/log"):
        os.makedirs(os.path.join(p.dir, sub), exist_ok=True)
    log = open(os.path.join(p.dir, "supervisord.out"), "ab")
    proc = subprocess.Popen([SUPERVISORD, "-n", "-c", conf], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, cwd=p.dir)
    log.close()
    return proc


def output(p):
    with open(os.path.join(p.dir, "supervisord.out"), "rb") as f:
        return f.read().decode(errors="replace")


def stop_supervisord(proc):
    """SIGTERM, as Ctrl-C under make run; its exit status, or why none."""
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        return "still running after 60 s"


def under_supervisord():
    with Pipeline(clock="wall") as p:
        conf = generate(p)
        proc = supervise(p, conf)
        try:
            stages_up(p, conf)
            restarted_after_kill(p, conf)
        finally:
            pids = [pid for _, pid in status_of(conf).values() if pid]
            status = stop_supervisord(proc)
        check("supervisord stops cleanly on SIGTERM", status == 0, (status, output(p)[-3000:]))
        check("no stage outlives supervisord", pids and not any(alive(pid) for pid in pids), pids)


def included():
    """--format include: an existing supervisord (one with its own sections,
    including nudge's file from conf.d) runs the stages as group nudge."""
    with Pipeline(clock="wall") as p:
        include = os.path.join(p.dir, "conf.d", "nudge.conf")
        os.makedirs(os.path.dirname(include))
        status, out, err = run(SUPERVISOR, "-c", p.config, "-f", "include", "--bin", BIN,
                               "--dir", p.dir, "-o", include)
        text = open(include).read() if os.path.exists(include) else ""
        check("include: programs and [group:nudge] only, no daemon sections",
              status == 0 and "[group:nudge]\nprograms=collector,sessionizer\n" in text
              and "[program:sessionizer]" in text and "[supervisord]" not in text
              and "[unix_http_server]" not in text and "/dev/stdout" not in text, (status, err, text))
        for sub in ("var/run", "var/log"):
            os.makedirs(os.path.join(p.dir, sub), exist_ok=True)
        conf = os.path.join(p.dir, "main.conf")
        with open(conf, "w") as f:
            f.write("[supervisord]\nnodaemon=true\nlogfile=%(d)s/var/log/main.log\n"
                    "pidfile=%(d)s/var/run/main.pid\nchildlogdir=%(d)s/var/log\n"
                    "[unix_http_server]\nfile=%(d)s/var/run/main.sock\nchmod=0700\n"
                    "[supervisorctl]\nserverurl=unix://%(d)s/var/run/main.sock\n"
                    "[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory="
                    "supervisor.rpcinterface:make_main_rpcinterface\n"
                    "[include]\nfiles=%(d)s/conf.d/*.conf\n" % {"d": p.dir})
        proc = supervise(p, conf)
        try:
            up = wait_for(lambda: running(conf, "nudge:collector") and running(conf, "nudge:sessionizer"),
                          timeout=30, interval=0.3)
            check("include: the existing supervisord runs nudge:collector and nudge:sessionizer",
                  up, status_of(conf))
            check("include: the sessionizer answers nd-ctl health",
                  wait_for(lambda: sessionizer_healthy(p), timeout=30, interval=0.3), status_of(conf))
            pid = running(conf, "nudge:sessionizer")
            status, out, err = run(SUPERVISORCTL, "-c", conf, "signal", "HUP", "nudge:sessionizer")
            logs = lambda: "".join(open(f, errors="replace").read()
                                   for f in glob.glob(os.path.join(p.dir, "var", "log", "*sessionizer*")))
            said = wait_for(lambda: "nothing to reload" in logs(), timeout=30, interval=0.2)
            check("include: supervisorctl signal HUP nudge:sessionizer reaches the stage, which "
                  "runs on (the same pid)", status == 0 and said
                  and running(conf, "nudge:sessionizer") == pid, (out, err, logs()[-600:]))
            status, out, err = run(SUPERVISORCTL, "-c", conf, "stop", "nudge:")
            check("include: supervisorctl stop nudge: stops the group",
                  status == 0 and wait_for(lambda: not running(conf, "nudge:collector")
                                           and not running(conf, "nudge:sessionizer"), timeout=30),
                  (out, err, status_of(conf)))
        finally:
            stop_supervisord(proc)


def collector_healthy(p):
    try:
        return p.get("/health")[0] == 200
    except OSError:         # not listening yet
        return False


def sessionizer_healthy(p):
    return run(CTL, "-c", p.config, "-t", "1000", "sessionizer", "health", cwd=p.dir)[0] == 0


def stages_up(p, conf):
    check("collector answers /health under supervisord",
          wait_for(lambda: collector_healthy(p), timeout=30, interval=0.2), output(p)[-3000:])
    check("sessionizer answers nd-ctl health",
          wait_for(lambda: sessionizer_healthy(p), timeout=30, interval=0.3),
          (run(CTL, "-c", p.config, "sessionizer", "health", cwd=p.dir), output(p)[-3000:]))
    check("supervisorctl -c CONF status shows both RUNNING",
          wait_for(lambda: running(conf, "collector") and running(conf, "sessionizer"), timeout=20),
          status_of(conf))
    check("stage logs reach supervisord's stdout",
          wait_for(lambda: "sessionizer:" in output(p), timeout=10), output(p)[-3000:])


def restarted_after_kill(p, conf):
    old = running(conf, "sessionizer")
    if not check("sessionizer has a pid", old, status_of(conf)):
        return
    os.kill(old, signal.SIGKILL)
    new = wait_for(lambda: running(conf, "sessionizer", not_pid=old), timeout=30, interval=0.2)
    check("kill -9: supervisord restarts the stage with a new pid", new and new != old,
          (old, status_of(conf)))
    check("the restarted sessionizer is healthy",
          wait_for(lambda: sessionizer_healthy(p), timeout=30, interval=0.3), output(p)[-3000:])
    check("the collector was not touched", running(conf, "collector"), status_of(conf))


def bad_configs():
    work = tempfile.mkdtemp(prefix="nd-test-")
    try:
        cases = [
            ("indent.zpl", "collector\n   http = 1\n", ":2: indent 4 spaces at once"),
            ("input.zpl", "collector\nsessionizer\n    input = colector\n",
             "sessionizer: input 'colector' is not a stage"),
            ("clash.zpl", "a\n    pub = ipc://x\nb\n    pub = ipc://x\n", "a and b both use ipc://x"),
            ("empty.zpl", "pipeline\n    run = r\n", "no stages"),
        ]
        for name, text, reason in cases:
            path = os.path.join(work, name)
            with open(path, "w") as f:
                f.write(text)
            out_file = os.path.join(work, name + ".conf")
            status, out, err = run(SUPERVISOR, "-c", path, "--bin", BIN, "-o", out_file)
            check("nd-supervisor refuses %s: one line with file and reason" % name,
                  status == 1 and err.count("\n") == 1 and err.startswith("nd-supervisor: " + path)
                  and reason in err and not os.path.exists(out_file), (status, err))
        status, out, err = run(SUPERVISOR, "-c", os.path.join(work, "absent.zpl"))
        check("nd-supervisor: a missing file is one line", status == 1 and
              "absent.zpl: No such file or directory" in err, err)
        status, out, err = run(SUPERVISOR, "--format", "upstart")
        check("nd-supervisor: unknown format is a usage error", status == 64 and "upstart" in err, err)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def systemd_units():
    with Pipeline(clock="wall") as p:
        units = os.path.join(p.dir, "units")
        status, out, err = run(SUPERVISOR, "-c", p.config, "-f", "systemd", "--bin", "/opt/nudge/bin",
                               "--dir", "/srv/shop nudge", "--user", "nudge", "-o", units)
        names = sorted(os.listdir(units)) if os.path.isdir(units) else []
        check("systemd: one service per stage and nudge.target", status == 0 and names ==
              ["nudge-collector.service", "nudge-sessionizer.service", "nudge.target"], (names, err))
        if status != 0 or not names:
            return
        service = open(os.path.join(units, "nudge-sessionizer.service")).read()
        check("systemd: service runs the stage in WORKDIR, restarts, as USER",
              "ExecStart=/opt/nudge/bin/sessionizer --config %s --name sessionizer\n" % p.config
              in service and "WorkingDirectory=/srv/shop nudge\n" in service and
              "Restart=always\n" in service and "User=nudge\n" in service and
              "After=network-online.target nudge-collector.service\n" in service, service)
        target = open(os.path.join(units, "nudge.target")).read()
        check("systemd: nudge.target wants every stage",
              "Wants=nudge-collector.service nudge-sessionizer.service" in target, target)


def fhs_units():
    """--root reads the pipeline file under a staging directory (an install's
    DESTDIR) and names the paths as on the target system; a state directory
    under /var/lib/NAME and sockets under /run/NAME become systemd's
    StateDirectory=NAME and RuntimeDirectory=NAME (kept while one stage
    restarts: the others' sockets are in it); other paths stay ReadWritePaths."""
    work = tempfile.mkdtemp(prefix="nd-test-")
    try:
        os.makedirs(os.path.join(work, "root/etc/nudge"))
        with open(os.path.join(work, "root/etc/nudge/pipeline.zpl"), "w") as f:
            f.write("pipeline\n    state = /var/lib/nudge/state\n    run = /run/nudge\n"
                    "    unsubscribe-secret = file:/var/lib/nudge/unsubscribe.secret\n"
                    "collector\nmail-sender\n    input = collector\n    maildir = /srv/shop mail/new\n"
                    "    unsubscribe-secret = file:/etc/nudge/keys/unsubscribe.secret\n")
        units = os.path.join(work, "units")
        status, out, err = run(SUPERVISOR, "--root", os.path.join(work, "root"), "-c", "/etc/nudge/pipeline.zpl",
                               "-f", "systemd", "--bin", "/usr/bin", "--dir", "/var/lib/nudge",
                               "--user", "nudge", "-o", units)
        collector = open(os.path.join(units, "nudge-collector.service")).read() if status == 0 else err
        mail = open(os.path.join(units, "nudge-mail-sender.service")).read() if status == 0 else err
        check("--root: the units name /etc/nudge/pipeline.zpl, read from under the root",
              status == 0 and "ExecStart=/usr/bin/collector --config /etc/nudge/pipeline.zpl --name "
              "collector\n" in collector and "WorkingDirectory=/var/lib/nudge\n" in collector, collector)
        check("systemd: /var/lib/nudge and /run/nudge are StateDirectory= and RuntimeDirectory= "
              "(0700, kept), nothing else writable",
              "\nStateDirectory=nudge\nStateDirectoryMode=0700\nRuntimeDirectory=nudge\n"
              "RuntimeDirectoryMode=0700\nRuntimeDirectoryPreserve=yes\nProtectSystem=strict\n"
              in collector and "ReadWritePaths" not in collector, collector)
        check("systemd: a Maildir and a secret's directory elsewhere are ReadWritePaths",
              "\nStateDirectory=nudge\n" in mail and
              '\nReadWritePaths=-"/srv/shop mail/new" -/etc/nudge/keys\n' in mail, mail)
        status, out, err = run(SUPERVISOR, "--root", work, "-c", "etc/nudge/pipeline.zpl", "--dir", "/")
        check("--root wants absolute --config, --bin and --dir (usage error)",
              status == 64 and "absolute" in err, (status, err))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def same_file(a, b):
    return os.path.isfile(a) and os.path.isfile(b) and filecmp.cmp(a, b, shallow=False)


def reference_copies():
    """conf/supervisor/nudge.conf and conf/systemd/ are what make install
    (PREFIX=/usr/local) writes for conf/pipeline.zpl as installed in
    /etc/nudge (make supervisor); a stage added to the pipeline must show up
    there."""
    work = tempfile.mkdtemp(prefix="nd-test-")
    try:
        os.makedirs(os.path.join(work, "root/etc/nudge"))
        with open(os.path.join(work, "root/etc/nudge/pipeline.zpl"), "w") as f:
            subprocess.run(["sed", "-f", "tools/install/fhs.sed", "-e", "s|@DATADIR@|/usr/local/share/nudge|g",
                            "conf/pipeline.zpl"], stdout=f, cwd=ROOT, check=True, timeout=30)
        fresh = os.path.join(work, "nudge.conf")
        args = ["--root", os.path.join(work, "root"), "-c", "/etc/nudge/pipeline.zpl", "--bin", "/usr/local/bin",
                "--dir", "/var/lib/nudge", "--user", "nudge"]
        run(SUPERVISOR, *args, "-f", "include", "-o", fresh, cwd=ROOT)
        run(SUPERVISOR, *args, "-f", "systemd", "-o", os.path.join(work, "systemd"), cwd=ROOT)
        hint = "regenerate: make supervisor"
        check("conf/supervisor/nudge.conf matches conf/pipeline.zpl",
              same_file(fresh, os.path.join(ROOT, "conf/supervisor/nudge.conf")), hint)
        shipped = os.path.join(ROOT, "conf/systemd")
        names = sorted(os.listdir(os.path.join(work, "systemd")))
        same = os.path.isdir(shipped) and sorted(os.listdir(shipped)) == names and all(
            same_file(os.path.join(work, "systemd", n), os.path.join(shipped, n)) for n in names)
        check("conf/systemd/ matches conf/pipeline.zpl", same, hint)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    bad_configs()
    systemd_units()
    fhs_units()
    included()
    reference_copies()
    under_supervisord()
    done()


if __name__ == "__main__":
    main()
