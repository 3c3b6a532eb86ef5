#!/usr/bin/python3
"""make install and make deb: an install an operator can trust.

  layout      make install DESTDIR=TMP PREFIX=/usr lays out the FHS tree:
              programs in /usr/bin, man pages, the browser kit and the
              shipped configuration in /usr/share/nudge, what the operator
              edits in /etc/nudge (0750), /var/lib/nudge (0700), the nudge
              user and directories (sysusers.d, tmpfiles.d), units
  pipeline    the installed /etc/nudge/pipeline.zpl names /var/lib/nudge and
              /run/nudge, every path in it absolute and there; nd-supervisor
              makes units of it that systemd-analyze verify passes and
              security scores at most 2.5
  user        systemd-sysusers and systemd-tmpfiles (--root TMP) make the
              nudge user and its directories with their modes
  again       a second install keeps a changed /etc/nudge file
  live        make install with no DESTDIR, in a mount namespace whose /usr,
              /etc and /var are overlays (the live system's untouched):
              the user, the directories and the VAPID key are made
  run         in a private mount and network namespace, with the install
              where the FHS puts it: the package's postinst (user,
              directories, VAPID key), then every stage of the installed
              pipeline as user nudge says READY=1, and its files are private
  deb         make deb: dpkg-deb --info and --contents show the control
              fields, conffiles and files; dpkg --root unpacks it
Never touches the live /usr, /etc or /var: everything is under a temporary
directory, or in a namespace of its own.
"""
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time

from ndtest import BIN, ROOT, check, done

STAGES = ("collector", "sessionizer", "segmenter", "chat-bridge", "scheduler", "mail-sender",
          "push-sender", "sms-sender", "onsite")
TOOLS = ("tap", "nd-ctl", "nd-supervisor", "nd-codes", "nd-report", "nd-vapid", "nd-chat", "nd-cert", "nd-render",
         "nd-backtest", "nd-month", "relay")
SAN = ["SAN=1"] if os.path.basename(os.path.dirname(BIN)) == "build-san" else []


def make(*args, timeout=300):
    r = subprocess.run(["make", "--no-print-directory"] + SAN + list(args), cwd=ROOT, capture_output=True,
                       text=True, timeout=timeout)
    return r.returncode, r.stdout + r.stderr


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def options(text):
    """{(section, key): value} of a pipeline file, one level deep."""
    found, section = {}, None
    for line in text.splitlines():
        bare = re.sub(r"\s+#.*", "", line).rstrip()
        if not bare or bare.lstrip().startswith("#"):
            continue
        if not bare.startswith(" "):
            section = bare
        elif bare.startswith("    ") and not bare.startswith("     ") and "=" in bare:
            key, value = (part.strip() for part in bare.split("=", 1))
            found[(section, key)] = value.strip('"')
    return found


def layout(root):
    missing = [p for p in ["usr/bin/%s" % n for n in STAGES + TOOLS] if not os.access(os.path.join(root, p), os.X_OK)]
    check("make install: every program in /usr/bin", not missing, missing)
    check("its man pages in /usr/share/man/man1",
          all(os.path.isfile(os.path.join(root, "usr/share/man/man1/%s.1" % n)) for n in STAGES + ("nd-supervisor",)))
    check("the file formats' pages in /usr/share/man/man5",
          all(os.path.isfile(os.path.join(root, "usr/share/man/man5/nudge-%s.5" % n))
              for n in ("conditions", "segments", "journey")))
    check("the pipeline file's page in /usr/share/man/man5",
          os.path.isfile(os.path.join(root, "usr/share/man/man5/nudge-pipeline.5")))
    check("the browser kit in /usr/share/nudge/web",
          os.path.isfile(os.path.join(root, "usr/share/nudge/web/nudge.js"))
          and os.path.isfile(os.path.join(root, "usr/share/nudge/web/nudge-sw.js")))
    shipped = sorted(os.listdir(os.path.join(root, "usr/share/nudge/conf")))
    check("the shipped configuration in /usr/share/nudge/conf: pipeline, segments, widget, journeys, templates",
          shipped == ["chat-widget.js", "journeys", "pipeline.zpl", "segments.zpl", "templates"], shipped)
    etc = os.path.join(root, "etc/nudge")
    same = subprocess.run(["diff", "-r", os.path.join(root, "usr/share/nudge/conf"), etc], capture_output=True)
    check("/etc/nudge (0750) holds the same, the operator's to edit",
          mode(etc) == 0o750 and same.returncode == 0 and
          mode(os.path.join(etc, "journeys/abandoned-cart.zpl")) == 0o644, (oct(mode(etc)), same.stdout[:300]))
    check("/var/lib/nudge is 0700; nothing under /opt or /usr/local",
          mode(os.path.join(root, "var/lib/nudge")) == 0o700 and
          not os.path.exists(os.path.join(root, "opt")) and not os.path.exists(os.path.join(root, "usr/local")))
    sysusers = open(os.path.join(root, "usr/lib/sysusers.d/nudge.conf")).read()
    tmpfiles = open(os.path.join(root, "usr/lib/tmpfiles.d/nudge.conf")).read()
    check("sysusers.d: user nudge, home /var/lib/nudge",
          re.search(r"^u nudge - \".*\" /var/lib/nudge$", sysusers, re.M), sysusers)
    lines = {tuple(line.split()[:5]) for line in tmpfiles.splitlines() if line and not line.startswith("#")}
    check("tmpfiles.d: /var/lib/nudge and /run/nudge 0700 nudge, /etc/nudge 0750 root:nudge",
          lines == {("d", "/var/lib/nudge", "0700", "nudge", "nudge"), ("d", "/run/nudge", "0700", "nudge", "nudge"),
                    ("d", "/etc/nudge", "0750", "root", "nudge")}, lines)
    units = os.path.join(root, "usr/lib/systemd/system")
    names = sorted(os.listdir(units))
    check("units for every stage and nudge.target in /usr/lib/systemd/system",
          names == sorted(["nudge-%s.service" % s for s in STAGES] + ["nudge.target"]), names)
    include = open(os.path.join(root, "usr/share/nudge/supervisor/nudge.conf")).read()
    check("supervisord's include file in /usr/share/nudge/supervisor, the stages as user nudge",
          "[group:nudge]" in include and "command=/usr/bin/collector --config /etc/nudge/pipeline.zpl "
          "--name collector\ndirectory=/var/lib/nudge\nuser=nudge\n" in include, include[:600])


def installed_pipeline(root, work):
    text = open(os.path.join(root, "etc/nudge/pipeline.zpl")).read()
    found = options(text)
    check("installed pipeline: state in /var/lib/nudge/state, sockets in /run/nudge",
          found.get(("pipeline", "state")) == "/var/lib/nudge/state"
          and found.get(("pipeline", "run")) == "/run/nudge", found)
    paths = {k: v[5:] if v.startswith("file:") else v for k, v in found.items()
             if k[1] in ("state", "run", "journeys", "templates", "segments", "widget", "maildir", "spool", "kit",
                         "vapid-key", "unsubscribe-secret")}
    relative = {k: v for k, v in paths.items() if not v.startswith("/")}
    check("every path in it is absolute (%d paths)" % len(paths), len(paths) >= 15 and not relative, relative)
    reads = ("journeys", "templates", "segments", "widget", "kit")
    read = {k: v for k, v in paths.items() if k[1] in reads}
    absent = {k: v for k, v in read.items() if not os.path.exists(root + v)}
    check("what the stages read is installed there: journeys, templates, segments, widget, kit in "
          "/usr/share/nudge/web", not absent and read[("collector", "kit")] == "/usr/share/nudge/web", absent)
    written = {k: v for k, v in paths.items() if k[1] not in reads}
    stray = {k: v for k, v in written.items() if not re.match(r"/(var/lib|run)/nudge(/|$)", v)}
    check("what nudge writes (state, Maildir, spools, secrets, VAPID key) is under /var/lib/nudge or /run/nudge",
          not stray, stray)

    # The units, as nd-supervisor makes them of it: verify checks that ExecStart is there, so --bin
    # names the staging tree's programs
    units = os.path.join(work, "units")
    r = subprocess.run([os.path.join(BIN, "nd-supervisor"), "--root", root, "-c", "/etc/nudge/pipeline.zpl",
                        "-f", "systemd", "--bin", os.path.join(root, "usr/bin"), "--dir", "/var/lib/nudge",
                        "--user", "nudge", "-o", units], capture_output=True, text=True, timeout=30)
    check("nd-supervisor accepts the installed pipeline.zpl (--root)", r.returncode == 0 and not r.stderr, r.stderr)
    if r.returncode:
        return
    shipped = os.path.join(root, "usr/lib/systemd/system")
    differ = [n for n in os.listdir(units) if open(os.path.join(units, n)).read().replace(
        os.path.join(root, "usr/bin"), "/usr/bin") != open(os.path.join(shipped, n)).read()]
    check("the installed units are what nd-supervisor makes of /etc/nudge/pipeline.zpl", not differ, differ)
    text = open(os.path.join(units, "nudge-collector.service")).read()
    check("they run as nudge in /var/lib/nudge with StateDirectory=nudge and RuntimeDirectory=nudge",
          "\nUser=nudge\n" in text and "\nWorkingDirectory=/var/lib/nudge\n" in text and
          "\nStateDirectory=nudge\n" in text and "\nRuntimeDirectory=nudge\n" in text, text)
    analyze = shutil.which("systemd-analyze")
    if not check("systemd-analyze is here", analyze):
        return
    names = sorted(os.listdir(units))
    r = subprocess.run([analyze, "verify"] + names, cwd=units, capture_output=True, text=True, timeout=120)
    check("systemd-analyze verify passes the installed units", r.returncode == 0 and not r.stderr.strip(),
          r.stderr[-1500:])
    scores = {}
    for name in ("nudge-collector.service", "nudge-mail-sender.service"):
        r = subprocess.run([analyze, "security", "--offline=true", name], cwd=units, capture_output=True, text=True,
                           timeout=60)
        found = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout)
        scores[name] = float(found.group(1)) if found else None
    check("systemd-analyze security: at most 2.5 (%s)" % scores,
          all(v is not None and v <= 2.5 for v in scores.values()), scores)


def user_and_directories(root, work):
    """systemd-sysusers and systemd-tmpfiles, as the package's postinst runs
    them, on a copy of the staging tree."""
    if os.geteuid() != 0:
        print("# skipped: systemd-tmpfiles --root needs root to chown")
        return
    copy = os.path.join(work, "sysroot")
    shutil.copytree(root, copy, symlinks=True)
    for tool in ("systemd-sysusers", "systemd-tmpfiles"):
        if not shutil.which(tool):
            check("%s is here" % tool, False)
            return
    r = subprocess.run(["systemd-sysusers", "--root", copy, os.path.join(copy, "usr/lib/sysusers.d/nudge.conf")],
                       capture_output=True, text=True, timeout=30)
    passwd = open(os.path.join(copy, "etc/passwd")).read() if r.returncode == 0 else r.stderr
    user = re.search(r"^nudge:x:(\d+):(\d+):[^:]*:/var/lib/nudge:(\S+)$", passwd, re.M)
    check("systemd-sysusers: a system user nudge (uid < 1000), home /var/lib/nudge, no login",
          user and int(user.group(1)) < 1000 and user.group(3).endswith("nologin"), passwd)
    r = subprocess.run(["systemd-tmpfiles", "--root", copy, "--create",
                        os.path.join(copy, "usr/lib/tmpfiles.d/nudge.conf")], capture_output=True, text=True,
                       timeout=30)
    if not user or r.returncode:
        check("systemd-tmpfiles --create", False, r.stderr)
        return
    uid, gid = int(user.group(1)), int(user.group(2))
    want = {"var/lib/nudge": (0o700, uid, gid), "run/nudge": (0o700, uid, gid), "etc/nudge": (0o750, 0, gid)}
    got = {}
    for path in want:
        st = os.lstat(os.path.join(copy, path))
        got[path] = (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
    check("systemd-tmpfiles: /var/lib/nudge and /run/nudge 0700 nudge, /etc/nudge 0750 root:nudge",
          got == want, (got, want))


def second_install(root):
    mine = os.path.join(root, "etc/nudge/pipeline.zpl")
    with open(mine, "a") as f:
        f.write("#   the operator's own line\n")
    os.unlink(os.path.join(root, "etc/nudge/journeys/win-back.zpl"))
    status, out = make("install", "DESTDIR=" + root, "PREFIX=/usr")
    check("a second make install keeps a changed /etc/nudge file (and adds what is missing)",
          status == 0 and open(mine).read().endswith("#   the operator's own line\n") and
          os.path.isfile(os.path.join(root, "etc/nudge/journeys/win-back.zpl")), out[-1500:])


INSIDE = r"""
set -e
root=$1 work=$2
mkdir -p $work/etc.up $work/etc.work $work/var.up $work/var.work
mount -t overlay overlay -o lowerdir=$root/etc:/etc,upperdir=$work/etc.up,workdir=$work/etc.work /etc
mount -t overlay overlay -o lowerdir=$root/usr:/usr /usr
mount -t overlay overlay -o lowerdir=$root/var/lib:/var/lib,upperdir=$work/var.up,workdir=$work/var.work /var/lib
mount -t tmpfs -o mode=0755 tmpfs /run
ip link set lo up
PREFIX=/usr /usr/share/nudge/postinst configure
shift 2
exec "$@"
"""


LIVE = r"""
set -e
work=$1
for d in usr etc var; do
    mkdir -p $work/$d.up $work/$d.work
    mount -t overlay overlay -o lowerdir=/$d,upperdir=$work/$d.up,workdir=$work/$d.work /$d
done
mount -t tmpfs -o mode=0755 tmpfs /run
shift
"$@" >$work/make.out 2>&1 || { cat $work/make.out; exit 1; }
getent passwd nudge
stat -c '%n %a %U:%G' /etc/nudge /var/lib/nudge /run/nudge /var/lib/nudge/vapid.key \
    /usr/local/bin/collector /usr/local/lib/systemd/system/nudge.target
"""


LIVE_PATHS = ("/etc/nudge", "/var/lib/nudge", "/usr/local/bin/collector", "/usr/local/lib/systemd/system/nudge.target")


def live_install(work):
    """make install to the live system, as root would run it, with the live
    system's /usr, /etc and /var behind overlays of a namespace of its own."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        print("# skipped: the live install needs root and unshare")
        return
    script = os.path.join(work, "live.sh")
    with open(script, "w") as f:
        f.write(LIVE)
    live = os.path.join(work, "live")
    os.makedirs(live)
    before = {path: os.path.exists(path) for path in LIVE_PATHS}
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", script, live,
                        "make", "--no-print-directory"] + SAN + ["install"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    modes = dict(line.split(" ", 1) for line in r.stdout.splitlines() if line.startswith("/"))
    check("make install (no DESTDIR): systemd-sysusers makes nudge, systemd-tmpfiles its directories, "
          "a VAPID key (0600 nudge), programs and units under /usr/local",
          r.returncode == 0 and re.search(r"^nudge:x:\d+:\d+:[^:]*:/var/lib/nudge:", r.stdout, re.M) and modes == {
              "/etc/nudge": "750 root:nudge", "/var/lib/nudge": "700 nudge:nudge", "/run/nudge": "700 nudge:nudge",
              "/var/lib/nudge/vapid.key": "600 nudge:nudge", "/usr/local/bin/collector": "755 root:root",
              "/usr/local/lib/systemd/system/nudge.target": "644 root:root"}, (r.stdout[-1500:], r.stderr[-500:]))
    after = {path: os.path.exists(path) for path in LIVE_PATHS}
    check("... and nothing of it reached the live system", after == before, (before, after))


def run_installed(root, work):
    """The installed pipeline, where the FHS puts it, in a namespace of its
    own: the postinst, then every stage as nudge until READY=1."""
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("setpriv"):
        print("# skipped: the namespace run needs root, unshare and setpriv")
        return
    shutil.copy(os.path.join(ROOT, "tools/install/deb/postinst"), os.path.join(root, "usr/share/nudge/postinst"))
    script = os.path.join(work, "inside.sh")
    with open(script, "w") as f:
        f.write(INSIDE)
    r = subprocess.run(["unshare", "--mount", "--net", "--propagation", "private", "sh", script, root, work,
                        sys.executable, os.path.abspath(__file__), "--inside"],
                       capture_output=True, text=True, timeout=120, env=dict(os.environ, PYTHONPATH=os.path.dirname(
                           os.path.abspath(__file__))))
    report = [line for line in r.stdout.splitlines() if line.startswith(("ok - ", "not ok - "))]
    for line in report:
        check(line.split(" - ", 1)[1], line.startswith("ok - "))
    check("the namespace run ended well", r.returncode == 0 and report, (r.returncode, r.stdout[-1500:],
                                                                         r.stderr[-1500:]))


def inside():
    """In the namespace: / is the install. Each stage as nudge, NOTIFY_SOCKET
    set, as its unit would run it."""
    passwd = open("/etc/passwd").read()
    check("postinst: the user nudge exists", re.search(r"^nudge:", passwd, re.M))
    key = "/var/lib/nudge/vapid.key"
    st = os.stat(key) if os.path.exists(key) else None
    check("postinst: a VAPID key in /var/lib/nudge, 0600, owned by nudge",
          st and stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == int(passwd.split("\nnudge:x:")[1].split(":")[0])
          if st and "\nnudge:x:" in passwd else False, st)
    procs, sockets, ready = {}, {}, {}
    notify_dir = tempfile.mkdtemp(prefix="nd-notify-")
    os.chmod(notify_dir, 0o777)
    # A sanitized build reports where nudge may write; each report is a failure here
    env = dict(os.environ)
    for name in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
        if name in env:
            env[name] = re.sub(r"log_path=[^:]*", "log_path=%s/%s" % (notify_dir, name[:-8].lower()), env[name])
    try:
        for stage in STAGES:
            path = os.path.join(notify_dir, stage)
            sockets[stage] = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sockets[stage].bind(path)
            os.chmod(path, 0o777)
            sockets[stage].setblocking(False)
            log = open(os.path.join(notify_dir, stage + ".log"), "w")
            procs[stage] = subprocess.Popen(
                ["setpriv", "--reuid=nudge", "--regid=nudge", "--init-groups", "/usr/bin/" + stage,
                 "--config", "/etc/nudge/pipeline.zpl", "--name", stage],
                cwd="/var/lib/nudge", stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=dict(env, NOTIFY_SOCKET=path))
        deadline = time.time() + 40
        while time.time() < deadline and len(ready) < len(STAGES):
            for stage in STAGES:
                try:
                    if sockets[stage].recv(64).startswith(b"READY=1"):
                        ready[stage] = True
                except BlockingIOError:
                    pass
                if procs[stage].poll() is not None and stage not in ready:
                    deadline = 0
            time.sleep(0.05)
        late = [s for s in STAGES if s not in ready]
        logs = {s: open(os.path.join(notify_dir, s + ".log")).read()[-600:] for s in late}
        check("every stage of the installed pipeline starts as nudge and says READY=1", not late, logs)
        shared = []
        for top in ("/var/lib/nudge", "/run/nudge"):
            for base, dirs, files in os.walk(top):
                for name in dirs + files:
                    path = os.path.join(base, name)
                    if stat.S_IMODE(os.lstat(path).st_mode) & 0o077 and not os.path.islink(path):
                        shared.append((path, oct(stat.S_IMODE(os.lstat(path).st_mode))))
        check("nothing under /var/lib/nudge or /run/nudge is open to others", not shared, shared[:10])
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        for stage, proc in procs.items():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        reports = [open(os.path.join(notify_dir, f), errors="replace").read()[:1500]
                   for f in os.listdir(notify_dir) if f.startswith(("asan.", "ubsan."))]
        shutil.rmtree(notify_dir, ignore_errors=True)
    check("no sanitizer report from the installed stages", not reports, reports[:2])
    check("every stage exits 0 on SIGTERM", all(p.returncode == 0 for p in procs.values()),
          {s: p.returncode for s, p in procs.items()})


def package():
    start = time.time()
    status, out = make("deb", timeout=300)
    deb = out.strip().splitlines()[-1] if status == 0 else ""
    check("make deb builds a package in build/ (%.0f s)" % (time.time() - start),
          status == 0 and re.search(r"build(-san)?/nudge_\d+\.\d+\.\d+_\w+\.deb$", deb), out[-1500:])
    if status:
        return
    deb = os.path.join(ROOT, deb)
    info = subprocess.run(["dpkg-deb", "--info", deb], capture_output=True, text=True, timeout=60).stdout
    version = re.search(r'#define ND_VERSION "([^"]+)"', open(os.path.join(ROOT, "pipeline/runtime/nd.h")).read())
    fields = dict(re.findall(r"^ (\w[\w-]*): (.*)$", info, re.M))
    check("control: Package nudge, the version of nd.h, Depends on the runtime libraries",
          fields.get("Package") == "nudge" and fields.get("Version") == version.group(1) and
          all(lib in info for lib in ("libzmq5", "libczmq4", "liblmdb0", "libcurl4", "libesmtp6", "libjansson4",
                                      "libmicrohttpd12", "libssl3", "libjemalloc2", "zlib1g")), info[:1500])
    check("postinst, prerm, postrm and conffiles in the control archive",
          all(re.search(r"\s%s\s" % name, info) for name in ("postinst", "prerm", "postrm", "conffiles")), info[:800])
    conffiles = subprocess.run(["dpkg-deb", "--ctrl-tarfile", deb], capture_output=True, timeout=60).stdout
    contents = subprocess.run(["dpkg-deb", "--contents", deb], capture_output=True, text=True, timeout=60).stdout
    check("conffiles: /etc/nudge/pipeline.zpl and the journeys",
          b"/etc/nudge/pipeline.zpl\n" in conffiles and b"/etc/nudge/journeys/abandoned-cart.zpl\n" in conffiles)
    check("contents: programs, units, sysusers.d, tmpfiles.d, /etc/nudge 0750, owned by root",
          all(p in contents for p in ("./usr/bin/collector", "./usr/lib/systemd/system/nudge.target",
                                      "./usr/lib/sysusers.d/nudge.conf", "./usr/lib/tmpfiles.d/nudge.conf",
                                      "./usr/share/man/man1/collector.1.gz", "./usr/share/man/man5/nudge-pipeline.5.gz",
                                      "./usr/share/nudge/web/nudge.js"))
          and re.search(r"^drwxr-x--- root/root .* \./etc/nudge/$", contents, re.M)
          and " root/root " in contents and not re.search(r"^\S+ (?!root/root)", contents, re.M), contents[:1500])
    with tempfile.TemporaryDirectory(prefix="nd-deb-") as target:
        os.makedirs(os.path.join(target, "var/lib/dpkg/updates"))
        os.makedirs(os.path.join(target, "var/lib/dpkg/info"))
        open(os.path.join(target, "var/lib/dpkg/status"), "w").close()
        r = subprocess.run(["dpkg", "--root", target, "--force-depends", "--force-not-root",
                            "--unpack", deb], capture_output=True, text=True, timeout=120)
        # conffiles wait as .dpkg-new until --configure, which would run the postinst
        check("dpkg --root unpacks it (no scripts run)",
              r.returncode == 0 and os.access(os.path.join(target, "usr/bin/collector"), os.X_OK) and
              os.path.isfile(os.path.join(target, "etc/nudge/pipeline.zpl.dpkg-new")),
              (r.returncode, r.stdout[-500:], r.stderr[-1500:]))


def main():
    if sys.argv[1:] == ["--inside"]:
        inside()
        done()
    work = tempfile.mkdtemp(prefix="nd-install-")
    root = os.path.join(work, "root")
    try:
        start = time.time()
        status, out = make("install", "DESTDIR=" + root, "PREFIX=/usr")
        if not check("make install DESTDIR=TMP PREFIX=/usr (%.0f s)" % (time.time() - start), status == 0,
                     out[-2000:]):
            done()
        layout(root)
        installed_pipeline(root, work)
        user_and_directories(root, work)
        second_install(root)
        live_install(work)
        run_installed(root, work)
        package()
    finally:
        subprocess.run(["rm", "-rf", work])
    done()


if __name__ == "__main__":
    main()
