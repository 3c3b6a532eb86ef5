#!/usr/bin/python3
"""Every program answers --help and --version; the stages exit as sysexits
says, so a supervisor can tell a mistake a restart won't mend.

  --version   "NAME (nudge) VERSION", exit 0, for every program in bin/
  --help      exit 0 with a usage text, for every program
  a tool      64 (EX_USAGE) for an unknown option
  a stage     64 (EX_USAGE) for an unknown option, 78 (EX_CONFIG) for a
              pipeline file it refuses (with file:line: reason), 78 for a
              pipeline file that is not there, and 0 after SIGTERM
  units       the systemd units nd-supervisor writes do not restart after
              64 or 78, run sandboxed as nudge (Type=notify, ProtectSystem=
              strict...), reload with SIGHUP (ExecReload): systemd-analyze
              verify passes them and security scores each at most 2.5; a
              stage says READY=1 to systemd
"""
import os
import re
import shutil
import socket
import subprocess

from ndtest import BIN, ROOT, Pipeline, check, done

PROGRAMS = sorted(name for name in os.listdir(BIN)
                  if os.access(os.path.join(BIN, name), os.X_OK) and not name.endswith(".py")
                  and os.path.isfile(os.path.join(BIN, name)))
STAGES = ("collector", "sessionizer", "relay", "segmenter", "scheduler", "mail-sender",
          "push-sender", "sms-sender", "chat-bridge", "onsite")


def run(*args, cwd=None):
    r = subprocess.run([os.path.join(BIN, args[0])] + list(args[1:]), capture_output=True,
                       text=True, timeout=30, cwd=cwd, stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout, r.stderr


versions, helps = {}, {}
for name in PROGRAMS:
    status, out, err = run(name, "--version")
    versions[name] = (status, out.strip())
    status, out, err = run(name, "--help")
    helps[name] = (status, len(out))
wrong = {n: v for n, v in versions.items()
         if v[0] != 0 or not re.fullmatch(re.escape(n) + r" \(nudge\) \d+\.\d+\.\d+", v[1])}
check("all %d programs answer --version with 'NAME (nudge) VERSION', exit 0" % len(PROGRAMS),
      len(PROGRAMS) >= 20 and not wrong, wrong)
check("all of them share one version", len({v[1].split()[-1] for v in versions.values()}) == 1,
      versions)
wrong = {n: h for n, h in helps.items() if h[0] != 0 or h[1] < 80}
check("all of them answer --help with a usage text, exit 0", not wrong, wrong)

with Pipeline(clock="event") as p:
    for stage in STAGES:
        status, _, err = run(stage, "--no-such-option", cwd=p.dir)
        if status != 64:
            check("%s: an unknown option exits 64" % stage, False, (status, err))
            break
    else:
        check("every stage exits 64 (EX_USAGE) for an unknown option", True)
    status, _, err = run("relay", "--config", os.path.join(p.dir, "none.zpl"), cwd=p.dir)
    check("a pipeline file that is not there: exit 78 (EX_CONFIG)",
          status == 78 and "none.zpl" in err, (status, err))
    p.write_config({"relay": {"input": "collector", "mapsize": "lots"}})
    status, _, err = run("relay", "--config", p.config, "--name", "relay", cwd=p.dir)
    check("a refused option: exit 78 with file:line: reason",
          status == 78 and re.search(r"pipeline\.zpl:\d+: relay/mapsize: ", err), (status, err))
    p.write_config({"relay": {"input": "collector"}})
    p.start("collector")
    p.start("relay")
    proc = p.stop("relay")
    check("a stage stopped with SIGTERM exits 0", proc is not None and proc.returncode == 0,
          proc and proc.returncode)
    wrong = {}
    for name in PROGRAMS:
        if name not in STAGES:
            status, _, err = run(name, "--no-such-option", cwd=p.dir)
            if status != 64:
                wrong[name] = (status, err[-200:])
    check("every tool exits 64 (EX_USAGE) for an unknown option too", not wrong, wrong)

    out = os.path.join(p.dir, "units")
    subprocess.run([os.path.join(BIN, "nd-supervisor"), "-c", os.path.join(ROOT, "conf", "pipeline.zpl"),
                    "-f", "systemd", "--bin", BIN, "--dir", ROOT, "--user", "nudge", "-o", out],
                   check=True, capture_output=True, timeout=30)
    units = sorted(f for f in os.listdir(out) if f.endswith(".service"))
    texts = [open(os.path.join(out, f)).read() for f in units]
    check("the %d systemd units do not restart after 64 or 78, and set UMask=0077" % len(units),
          len(units) >= 8 and all("\nRestartPreventExitStatus=64 78\n" in t and "\nUMask=0077\n" in t
                                  for t in texts), units)
    check("they run as nudge, Type=notify, in a read-only system but for their own var/",
          all("\nUser=nudge\n" in t and "\nType=notify\n" in t and "\nProtectSystem=strict\n" in t
              and "\nReadWritePaths=-%s/var\n" % ROOT in t for t in texts), texts[0])
    check("systemctl reload sends SIGHUP (ExecReload), which reloads journeys and templates",
          all("\nExecReload=/bin/kill -HUP $MAINPID\n" in t for t in texts), texts[0])
    analyze = shutil.which("systemd-analyze")
    if check("systemd-analyze is here (Debian's systemd)", analyze):
        r = subprocess.run([analyze, "verify"] + units + ["nudge.target"], cwd=out,
                           capture_output=True, text=True, timeout=120)
        check("systemd-analyze verify passes every unit and the target (no ordering cycle)",
              r.returncode == 0 and not r.stderr.strip(), r.stderr[-1500:])
        scores = {}
        for unit in units:
            r = subprocess.run([analyze, "security", "--offline=true", unit], cwd=out,
                               capture_output=True, text=True, timeout=60)
            found = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout)
            scores[unit] = float(found.group(1)) if found else None
        check("systemd-analyze security: every unit's exposure is at most 2.5 (%s)"
              % ", ".join("%s %s" % (u[6:-8], v) for u, v in scores.items()),
              all(v is not None and v <= 2.5 for v in scores.values()), scores)

    # A stage says READY=1 (and STOPPING=1) on $NOTIFY_SOCKET, as Type=notify wants
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(os.path.join(p.dir, "notify"))
    notify.settimeout(20)
    os.environ["NOTIFY_SOCKET"] = os.path.join(p.dir, "notify")
    try:
        p.start("relay")
        ready = notify.recv(64)
        p.stop("relay")
        stopping = notify.recv(64)
    finally:
        del os.environ["NOTIFY_SOCKET"]
    check("a stage tells systemd READY=1 once up, STOPPING=1 on SIGTERM",
          (ready, stopping) == (b"READY=1", b"STOPPING=1"), (ready, stopping))
done()
