#!/usr/bin/env python3
"""docs_run.py — run every shell command the docs show (tests/integration/test_docs.sh).

Every Markdown file (README.md, docs/*.md, docs/adr/*.md; RM_DOCS_ONLY=a.md,b.md
for some) runs in a world of its own, so the commands run exactly as written:

* a private network namespace with only loopback: the documented addresses
  (127.0.0.1:50051, :8080, :50052) are used as they are, nothing can reach
  another machine, and no other test's port is in the way;
* a private mount namespace in which the checkout, /etc and /usr are overlays
  whose changes land in a scratch directory, /tmp and $HOME are scratch
  directories, and build/ is (an overlay of) RM_BUILD_DIR: relative paths
  (scripts/…, build/…) work from the checkout's root, and nothing a command
  writes reaches the host. The README's cmake lines configure build/ as
  RelWithDebInfo: with the ./build of scripts/test.sh they are no-ops; with a
  build tree of another type they rebuild it inside the overlay (minutes);
* a private PID namespace: whatever a command leaves running is killed with it.
  The rustymem programs are on PATH (build/cli, build/agents/*, build/tests/bench),
  before a Debian root's PATH (/usr/local/sbin:…:/bin).

In that world (docs_extract.py says which blocks are commands):

* When a file's commands talk to an agent (rustymemctl without --fleet,
  rustymem-exporter) and none of them starts one on the default address, a
  real rustymemd is started on it (127.0.0.1:50051) first; the same for
  rustymem-fleet (127.0.0.1:50052) when a command uses --fleet and none starts
  a fleet there.
* A server command (rustymemd, rustymem-exporter, rustymem-fleet without
  --help/--version), with or without a trailing "&", runs in the background as
  in a second terminal; the next command runs once it listens. If it exits
  first, that is the command's failure, with its exit status. A second server
  command of the same program in a block is an alternative to the first: the
  first gets SIGTERM (as Ctrl-C) and must exit 0 before the second starts.
* Every other command must exit 0 (or the block's "exit: N" marker); a
  block stops at its first failing command (RM_DOCS_KEEP_GOING=1: it goes on,
  to see every failure at once). Output shown under a "$ " command
  must appear: each shown line is a pattern in which integers of up to three
  digits must be as shown (defaults, counts), larger numbers and decimals
  match any number (sizes, ratios, times), "…" or "..." anything, and runs of
  spaces any spaces.
* systemctl, in a block marked "systemd", runs the installed units' ExecStart
  lines the way systemd would (systemctl() below says how far).
* Every command, run or skipped, and every inline command of the prose has its
  --flags checked against its program's --help (scripts: their header
  comment), and rustymemctl's command words against its command list.

Exit status 0 when every file passes; one result line per file.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import docs_extract as dx  # noqa: E402

HERE = os.path.abspath(__file__)
SERVERS = ("rustymemd", "rustymem-exporter", "rustymem-fleet")
BIN_DIRS = ("cli", "agents/node", "agents/exporter", "agents/fleet", "tools/load", "tests/bench")
KEEP_GOING = bool(os.environ.get("RM_DOCS_KEEP_GOING"))   # run a block's commands after a failure too
BLOCK_TIMEOUT = float(os.environ.get("RM_DOCS_BLOCK_TIMEOUT", "150"))
SERVE_TIMEOUT = 30


# ---------------------------------------------------------------- flag checks
_help_cache = {}


def help_text(prog, root, build):
    """--help of a rustymem program, or the header comment of a repo script."""
    base = os.path.basename(prog)
    key = base if base in dx.PROGRAMS else prog
    if key in _help_cache:
        return _help_cache[key]
    text = None
    if base in dx.PROGRAMS:
        exe = None
        for d in BIN_DIRS:
            p = os.path.join(build, d, base)
            if os.path.exists(p):
                exe = p
        if exe:
            r = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=20)
            text = r.stdout + r.stderr
            if base == "rustymemctl":
                r = subprocess.run([exe, "help-markdown"], capture_output=True, text=True, timeout=20)
                text += r.stdout
    else:
        p = os.path.join(root, re.sub(r"^\./", "", prog))
        if re.match(r"^(\./)?scripts/[\w-]+\.sh$", prog) and os.path.isfile(p):
            head = []
            with open(p, encoding="utf-8") as f:
                for line in f:
                    if line.startswith("#"):
                        head.append(line)
                    elif head:
                        break
            text = "".join(head)
            with open(p, encoding="utf-8") as f:   # options its case statements handle count too
                text += "\n" + "\n".join(re.findall(r"^\s*(?:[-\w]+\s*\|\s*)*(--[\w-]+)[\s|)]", f.read(), re.M))
    _help_cache[key] = text
    return text


def ctl_commands(root, build):
    """rustymemctl's command words, from help-markdown: {'stats memory', 'health', …}."""
    text = help_text("rustymemctl", root, build) or ""
    cmds = set()
    for m in re.finditer(r"^\| `([a-z][a-z-]*)(?: ([a-z][a-z-]*))?", text, re.M):
        cmds.add(m.group(1) + (" " + m.group(2) if m.group(2) else ""))
        cmds.add(m.group(1))
    return cmds


def check_flags(text, root, build):
    """Problems with the flags of one documented command line ([] when fine)."""
    problems = []
    for part in re.split(r"\s*(?:&&|\|\||;|\|)\s*", dx.strip_comment(text)):
        ws = dx.words(part.strip().strip("()"))
        while ws and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", ws[0]):
            ws = ws[1:]
        if not ws:
            continue
        prog = ws[0]
        if prog in ("timeout", "nohup", "sudo", "exec"):
            ws = ws[1:]
            while ws and ws[0].startswith("-"):
                ws = ws[1:]
            if not ws:
                continue
            prog = ws[0]
        base = os.path.basename(prog)
        if base not in dx.PROGRAMS and not re.match(r"^(\./)?scripts/[\w-]+\.sh$", prog):
            continue
        h = help_text(prog, root, build)
        if h is None:
            problems.append(f"{prog}: no such program to check against")
            continue
        for w in ws[1:]:
            w = w.strip("[]")
            m = re.match(r"^(--[A-Za-z][\w-]*)", w)
            if m and not re.search(re.escape(m.group(1)) + r"(?![\w-])", h):
                where = f"`{base} --help`" if base in dx.PROGRAMS else f"{prog}'s usage comment or options"
                problems.append(f"{base}: flag {m.group(1)} is not in {where}")
        if base == "rustymemctl":
            args, i = ws[1:], 0
            while i < len(args) and args[i].startswith("-"):   # global options and their values
                i += 1 if "=" in args[i] or args[i] in ("--help", "-h", "--version") else 2
            rest = [a for a in args[i:] if not a.startswith("-")]
            if rest and re.match(r"^[a-z][a-z-]*$", rest[0]) and rest[0] not in ("COMMAND",):
                cmds = ctl_commands(root, build)
                two = " ".join(rest[:2])
                if two not in cmds and (rest[0] not in cmds or len(rest) > 1 and re.match(r"^[a-z][a-z-]*$", rest[1])
                                        and any(c.startswith(rest[0] + " ") for c in cmds)):
                    # not in the table (e.g. help-markdown): ask the CLI itself, pointed at nothing
                    exe = os.path.join(build, "cli", "rustymemctl")
                    r = subprocess.run([exe, "--addr", "unix:/nonexistent/docs-test", "--timeout", "1"] + rest[:2],
                                       capture_output=True, text=True, timeout=20)
                    m = re.search(r"unknown command[^\n]*", r.stderr)
                    if m:
                        problems.append(f"rustymemctl: {m.group(0)}")
    return problems


# ---------------------------------------------------------------- the world
def sh(cmd):
    subprocess.run(cmd, shell=True, check=True)


def overlay(target, scratch, name, lower=None):
    u, w = os.path.join(scratch, name + "-upper"), os.path.join(scratch, name + "-work")
    os.makedirs(u, exist_ok=True)
    os.makedirs(w, exist_ok=True)
    sh(f"mount -t overlay overlay -o lowerdir={lower or target},upperdir={u},workdir={w} {target}")


def make_world(root, build, scratch):
    sh("ip link set lo up")
    overlay(root, scratch, "src")
    overlay("/etc", scratch, "etc")
    overlay("/usr", scratch, "usr")
    for d in ("tmp", "home"):
        os.makedirs(os.path.join(scratch, d), exist_ok=True)
    os.chmod(os.path.join(scratch, "tmp"), 0o1777)
    # The checkout or the build tree may live under /tmp themselves (CI clones
    # wherever it likes): keep each visible at its own path across the new
    # /tmp (rbind, so the overlay on the checkout comes along). The scratch
    # directory is under /var/tmp (test_docs.sh).
    keep = []
    rroot = os.path.realpath(root)
    paths = {rroot, os.path.realpath(build)}
    for i, p in enumerate(sorted(paths)):
        if p != rroot and p.startswith(rroot + "/"):
            continue   # comes along with the checkout
        if p == "/tmp" or p.startswith("/tmp/"):
            hold = os.path.join(scratch, "keep", str(i))
            os.makedirs(hold, exist_ok=True)
            sh(f"mount --rbind {p} {hold}")
            keep.append((hold, p))
    sh(f"mount --bind {scratch}/tmp /tmp")
    for hold, p in keep:
        os.makedirs(p, exist_ok=True)
        sh(f"mount --rbind {hold} {p}")
    if os.path.realpath(build) != os.path.realpath(os.path.join(root, "build")):
        # build/ is RM_BUILD_DIR, as an overlay too: a documented cmake writes nothing back
        os.makedirs(os.path.join(root, "build"), exist_ok=True)
        overlay(os.path.join(root, "build"), scratch, "build", lower=os.path.realpath(build))
    env = dict(os.environ)
    env["HOME"] = os.path.join(scratch, "home")
    # a Debian root's PATH (a reader's), after the rustymem programs
    env["PATH"] = ":".join(os.path.join(root, "build", d) for d in BIN_DIRS) + \
        ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    for k in ("RUSTYMEM_ADDR", "RUSTYMEM_TOKEN", "RUSTYMEM_TIMEOUT"):
        env.pop(k, None)
    env["TMPDIR"] = "/tmp"
    return env


def listen_inodes():
    out = set()
    for p in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(p) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    if cols[3] == "0A":
                        out.add(cols[9])
        except OSError:
            pass
    return out


def descendants(pid):
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    st = f.read()
                ppid = int(st[st.rindex(")") + 2:].split()[1])
                kids.setdefault(ppid, []).append(int(d))
            except (OSError, ValueError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def wait_listen(pid, timeout):
    """0 once pid or a descendant listens on TCP, 1 if it is gone first, 2 on timeout."""
    end = time.time() + timeout
    while time.time() < end:
        if not alive(pid):
            return 1
        inodes = listen_inodes()
        for p in descendants(pid):
            try:
                for fd in os.listdir(f"/proc/{p}/fd"):
                    try:
                        link = os.readlink(f"/proc/{p}/fd/{fd}")
                    except OSError:
                        continue
                    m = re.match(r"socket:\[(\d+)\]", link)
                    if m and m.group(1) in inodes:
                        return 0
            except OSError:
                pass
        time.sleep(0.1)
    return 2


def start_service(argv, env, log, what):
    p = subprocess.Popen(argv, stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env,
                         start_new_session=True)
    r = wait_listen(p.pid, SERVE_TIMEOUT)
    if r != 0:
        raise RuntimeError(f"{what} did not start ({' '.join(argv)}): "
                           + open(log).read()[-600:])
    return p


# ---------------------------------------------------------------- systemctl (marker "systemd")
def parse_unit(path):
    """{section: [(key, value)]} of a unit file, continuation lines joined."""
    sec, out, buf = None, {}, ""
    for raw in open(path, encoding="utf-8"):
        line = raw.rstrip("\n")
        if buf:
            line, buf = buf + line.strip(), ""
        if line.endswith("\\"):
            buf = line[:-1] + " "
            continue
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        m = re.match(r"^\[(\w+)\]$", line)
        if m:
            sec = m.group(1)
            continue
        k, _, v = line.partition("=")
        out.setdefault(sec, []).append((k.strip(), v.strip()))
    return out


def systemctl(args, scratch):
    """Run a documented systemctl command the way systemd would run the unit's ExecStart.

    daemon-reload: nothing to do. enable --now / start / restart UNIT...: the unit file
    installed under /etc/systemd/system is read; its conditions are checked; its
    EnvironmentFile=, Environment=, StateDirectory=, LoadCredential= (%d) and %S are
    honoured (state and credentials in the scratch directory); ExecStart runs, as root, in
    the background, and must be listening within 30 s. reload: ExecReload's signal (HUP),
    the process must survive it. status/is-active: 0 when running. Anything else fails."""
    units_dir = os.path.join(scratch, "units")
    os.makedirs(units_dir, exist_ok=True)
    if not args:
        print("systemctl: no command", file=sys.stderr)
        return 2
    cmd, rest = args[0], [a for a in args[1:] if not a.startswith("-")]
    names = [u if "." in u else u + ".service" for u in rest]
    if cmd == "daemon-reload":
        return 0
    if cmd == "enable" and "--now" not in args:
        return 0
    if cmd in ("enable", "start", "restart"):
        for n in names:
            path = os.path.join("/etc/systemd/system", n)
            if not os.path.exists(path):
                print(f"Failed to start {n}: Unit {n} not found.", file=sys.stderr)
                return 5
            u = parse_unit(path)
            unit, svc = u.get("Unit", []), u.get("Service", [])
            for k, v in unit:
                if k == "ConditionPathExists" and (not os.path.exists(v.lstrip("!")) != v.startswith("!")):
                    print(f"{n}: condition {k}={v} failed: systemd skips the unit", file=sys.stderr)
                    return 3
            env = dict(os.environ)
            state = os.path.join(scratch, "state")
            creds = os.path.join(scratch, "credentials", n)
            os.makedirs(creds, exist_ok=True)
            exec_start = None
            for k, v in svc:
                if k == "EnvironmentFile":
                    f = v.lstrip("-")
                    if not os.path.exists(f):
                        if v.startswith("-"):
                            continue
                        print(f"{n}: EnvironmentFile {f} is missing", file=sys.stderr)
                        return 1
                    for line in open(f):
                        line = line.strip()
                        if line and not line.startswith("#") and "=" in line:
                            a, _, b = line.partition("=")
                            env[a.strip()] = b.strip().strip('"')
                elif k == "Environment":
                    for w in dx.words(v):
                        a, _, b = w.partition("=")
                        env[a] = b
                elif k == "StateDirectory":
                    for d in v.split():
                        os.makedirs(os.path.join(state, d), exist_ok=True)
                elif k == "LoadCredential":
                    cname, _, src = v.partition(":")
                    if not os.path.exists(src):
                        print(f"{n}: LoadCredential {src} is missing", file=sys.stderr)
                        return 1
                    dst = os.path.join(creds, cname)   # systemd hands credentials over read-only (0400)
                    with open(src, "rb") as fi, open(dst, "wb") as fo:
                        fo.write(fi.read())
                    os.chmod(dst, 0o400)
                elif k == "ExecStart":
                    exec_start = v
            if not exec_start:
                print(f"{n}: no ExecStart", file=sys.stderr)
                return 1
            bad = re.findall(r"%[^Sd%]", exec_start)
            if bad:
                print(f"{n}: specifier(s) {bad} not interpreted by the docs test", file=sys.stderr)
                return 1
            line = exec_start.lstrip("-@+!:").replace("%S", state).replace("%d", creds).replace("%%", "%")
            argv = [os.path.expandvars(w) if "$" in w else w for w in dx.words(line)]
            log = os.path.join(units_dir, n + ".log")
            p = subprocess.Popen(argv, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                                 start_new_session=True)
            r = wait_listen(p.pid, SERVE_TIMEOUT)
            if r != 0:
                rc = p.wait() if r == 1 else None
                print(f"{n}: {' '.join(argv)} " + (f"exited with status {rc}" if r == 1 else
                      "did not listen within 30 s") + ":\n" + open(log).read()[-800:], file=sys.stderr)
                return 1
            with open(os.path.join(units_dir, n + ".pid"), "w") as f:
                f.write(str(p.pid))
            print(f"{n}: started ({' '.join(argv)})")
        return 0
    pids = {}
    for n in names:
        try:
            pids[n] = int(open(os.path.join(units_dir, n + ".pid")).read())
        except OSError:
            pids[n] = None
    if cmd in ("status", "is-active"):
        ok = all(p and alive(p) for p in pids.values())
        for n, p in pids.items():
            print(f"{n}: {'active (running)' if p and alive(p) else 'inactive'}")
        return 0 if ok else 3
    if cmd == "reload":
        for n, p in pids.items():
            if not p or not alive(p):
                print(f"{n}: not active, cannot reload", file=sys.stderr)
                return 1
            os.kill(p, signal.SIGHUP)
        time.sleep(1)
        return 0 if all(alive(p) for p in pids.values()) else 1
    if cmd == "stop":
        for n, p in pids.items():
            if p and alive(p):
                os.kill(p, signal.SIGTERM)
        return 0
    print(f"systemctl {cmd}: not interpreted by the docs test", file=sys.stderr)
    return 1


def server_name(text):
    return os.path.basename(dx.command_word(dx.strip_comment(text).rstrip("& ")))


def is_server(text):
    ws = dx.words(dx.strip_comment(text).rstrip("& "))
    while ws and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", ws[0]):
        ws = ws[1:]
    return bool(ws) and os.path.basename(ws[0]) in SERVERS and \
        not any(w in ("--help", "-h", "--version") for w in ws) and not re.search(r"[|;]|&&", text)


def block_script(cmds, exit_code, interrupts, systemd=None):
    lines = ["exec 2>&1", "__rm_servers=''"]
    if systemd:
        lines.append(f'systemctl() {{ {sys.executable} {HERE} --systemctl {systemd} "$@"; }}')
    for n, c in enumerate(cmds):
        t = c["text"].strip()
        lines.append(f"printf '\\n@@RM-BEGIN {n}\\n'")
        if is_server(t):
            t = re.sub(r"\s*&\s*$", "", t)
            var = "__rm_srv_" + re.sub(r"\W", "_", server_name(t))
            # a second server of the same program in a block is an alternative to the first:
            # the reader stops the first (SIGTERM, as Ctrl-C would), which must exit 0
            lines.append(f'if [ -n "${{{var}:-}}" ]; then kill -TERM ${var}; wait ${var}; __rm_rc=$?; '
                         f'if [ $__rm_rc != 0 ]; then echo "@@RM-NOTE the previous {server_name(t)} exited '
                         f'$__rm_rc on SIGTERM"; printf \'\\n@@RM-END {n} %s\\n\' 196; exit 100; fi; fi')
            rest = t   # exec after the VAR=value assignments: $! is the server itself
            while dx.ASSIGN.match(rest):
                rest = dx.ASSIGN.sub("", rest, count=1)
            t = t[:len(t) - len(rest)] + "exec " + rest
            lines.append(f"{{ {t} ; }} & __rm_p=$!; {var}=")
            lines.append(f"{sys.executable} {HERE} --wait-listen $__rm_p {SERVE_TIMEOUT}; __rm_rc=$?")
            lines.append('if [ $__rm_rc = 1 ]; then wait $__rm_p; __rm_rc=$?; '
                         'echo "@@RM-NOTE server exited with status $__rm_rc before it listened"; '
                         '[ $__rm_rc = 0 ] && __rm_rc=199; '
                         'elif [ $__rm_rc = 2 ]; then echo "@@RM-NOTE server did not listen within '
                         f'{SERVE_TIMEOUT} s"; __rm_rc=198; else {var}=$__rm_p; fi')
        else:
            secs = None
            for prefix, s in interrupts:
                if t.startswith(prefix):
                    secs = s
            if secs:
                lines.append(f"timeout -s INT {secs} {t}; __rm_rc=$?; "
                             "if [ $__rm_rc = 124 ]; then __rm_rc=0; else "
                             "echo \"@@RM-NOTE ended (status $__rm_rc) before it was interrupted\"; "
                             "[ $__rm_rc = 0 ] && __rm_rc=197; fi")
            else:
                lines.append(t)
                lines.append("__rm_rc=$?")
        lines.append(f"printf '\\n@@RM-END {n} %s\\n' $__rm_rc")
        if not KEEP_GOING:
            lines.append(f"[ $__rm_rc = {exit_code} ] || exit 100")
    return "\n".join(lines) + "\n"


def expect_ok(expect, output):
    missing = []
    for e in expect:
        pat = ""
        for tok in re.split(r"(\d+(?:\.\d+)?|…|\.\.\.|\s+)", e.strip()):
            if not tok:
                continue
            if re.match(r"^\d{1,3}$", tok):   # small integers (defaults, counts) are facts
                pat += r"(?<![\d.])" + re.escape(tok) + r"(?![\d.])"
            elif re.match(r"^\d", tok):
                pat += r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?"
            elif tok in ("…", "..."):
                pat += ".*"
            elif tok.isspace():
                pat += r"\s+"
            else:
                pat += re.escape(tok)
        if not re.search(pat, output):
            missing.append(e)
    return missing


DEFAULT_LISTEN = {"rustymemd": "127.0.0.1:50051", "rustymem-fleet": "127.0.0.1:50052"}


def runs(cmds, prog):
    """Does a command (or a part of a list or pipeline) run the program prog on its
    default address (no --listen, or --listen naming that address)?"""
    for c in cmds:
        for part in re.split(r"&&|\|\||[;&|(]", dx.strip_comment(c["text"])):
            if os.path.basename(dx.command_word(part)) != prog:
                continue
            ws = dx.words(part)
            listen = None
            for i, w in enumerate(ws):
                if w == "--listen" and i + 1 < len(ws):
                    listen = ws[i + 1]
                elif w.startswith("--listen="):
                    listen = w.split("=", 1)[1]
            if listen is None or listen in (DEFAULT_LISTEN[prog], "0.0.0.0:" + DEFAULT_LISTEN[prog].split(":")[1]):
                return True
    return False


def uses(cmds, pattern):
    return any(re.search(pattern, c["text"]) for c in cmds)


def run_file_inside(path, root, build, scratch):
    """Run one file's blocks in this (already private) world; returns the result dict."""
    env = make_world(root, build, scratch)
    doc = dx.extract(path, root)
    res = {"file": path, "run": 0, "skipped": 0, "failures": [], "notes": []}
    runnable = [b for b in doc["blocks"] if b["kind"] == "shell" and "skip" not in b["markers"]]
    cmds = [c for b in runnable for c in b["commands"]]
    provided = []
    unit_start = r"systemctl\s+(enable\s+--now|start|restart)\s[^;&|]*"
    starts_agent = runs(cmds, "rustymemd") or uses(cmds, r"scripts/demo\.sh") \
        or uses(cmds, unit_start + r"\brustymemd\b")
    starts_fleet = runs(cmds, "rustymem-fleet") or uses(cmds, unit_start + r"\brustymem-fleet\b")
    needs_agent = any(re.search(r"(^|\s)(\S*/)?rustymemctl(?!\S)", c["text"]) and "--fleet" not in c["text"]
                      for c in cmds) or uses(cmds, r"rustymem-exporter|rustymem-fleet|:50051")
    try:
        if needs_agent and not starts_agent:
            provided.append(start_service([os.path.join(root, "build/agents/node/rustymemd"),
                                           "--data-dir", os.path.join(scratch, "agent-data")],
                                          env, os.path.join(scratch, "agent.log"), "the provided rustymemd"))
            res["notes"].append("provided: rustymemd on 127.0.0.1:50051")
        if uses(cmds, r"--fleet\b") and not starts_fleet:
            provided.append(start_service([os.path.join(root, "build/agents/fleet/rustymem-fleet"),
                                           "--agents", "127.0.0.1:50051"],
                                          env, os.path.join(scratch, "fleet.log"), "the provided rustymem-fleet"))
            res["notes"].append("provided: rustymem-fleet on 127.0.0.1:50052")
    except RuntimeError as e:
        res["failures"].append({"line": 0, "command": "(set-up)", "why": str(e)})
        return res
    for b in doc["blocks"]:   # the files the docs show are there before any command runs
        if b["kind"] == "file":
            dest = b["markers"]["file"][0]
            dest = dest if dest.startswith("/") else os.path.join(root, dest)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with open(dest, "w") as f:
                f.write("\n".join(b["body"]) + "\n")
            res["notes"].append(f"wrote {b['markers']['file'][0]} from line {b['line']}")
    for b in doc["blocks"]:
        if b["kind"] != "shell" or "skip" in b["markers"]:
            continue
        exit_code = int(b["markers"].get("exit", ["0"])[0])
        interrupts = []
        for spec in b["markers"].get("interrupt", []):
            m = re.match(r"^(.*?)\s+after\s+(\d+)\s*s?$", spec)
            if m:
                interrupts.append((m.group(1).strip(), m.group(2)))
        script = block_script(b["commands"], exit_code, interrupts,
                              scratch if "systemd" in b["markers"] else None)
        log = os.path.join(scratch, f"block-{b['line']}.log")
        with open(log, "w") as out:
            p = subprocess.Popen(["bash", "-c", script], cwd=root, env=env, stdout=out,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True)
            timed_out = False
            try:
                p.wait(timeout=BLOCK_TIMEOUT)
            except subprocess.TimeoutExpired:
                timed_out = True
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        text = open(log, errors="replace").read()
        segs = {}
        for m in re.finditer(r"@@RM-BEGIN (\d+)\n(.*?)(?:\n@@RM-END \1 (\d+)\n|\Z)", text, re.S):
            segs[int(m.group(1))] = (m.group(2), m.group(3))
        for n, c in enumerate(b["commands"]):
            if n not in segs:
                break
            out, rc = segs[n]
            res["run"] += 1
            why = None
            if rc is None:
                why = f"did not finish within {BLOCK_TIMEOUT:.0f} s" if timed_out else "the shell stopped"
            elif int(rc) != exit_code:
                why = f"exit status {rc}, the docs expect {exit_code}"
            else:
                miss = expect_ok(c["expect"], out)
                if miss:
                    why = "output lacks: " + " | ".join(miss[:4])
            if why:
                res["failures"].append({"line": c["line"], "command": c["text"], "why": why,
                                        "output": out.strip()[-1500:]})
                if not KEEP_GOING:
                    break
    for p in provided:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    return res


# ---------------------------------------------------------------- driver
def doc_files(root):
    files = ["README.md"]
    for d in ("docs", "docs/adr"):
        files += sorted(os.path.join(d, f) for f in os.listdir(os.path.join(root, d)) if f.endswith(".md"))
    if os.environ.get("RM_DOCS_FILES"):   # other Markdown files instead (test_docs.sh's fixture)
        return [s.strip() for s in os.environ["RM_DOCS_FILES"].split(",") if s.strip()]
    only = [s.strip() for s in os.environ.get("RM_DOCS_ONLY", "").split(",") if s.strip()]
    if only:
        files = [f for f in files if f in only or os.path.basename(f) in only]
    return files


def path_exists(p, root, build):
    import glob
    p = re.sub(r"^\./", "", p).rstrip(".,")
    base = root
    if p.startswith("build/"):
        base, p = build, p[len("build/"):]
    alts = [p]
    m = re.search(r"\{([^{}]*)\}", p)
    if m:
        alts = [p[:m.start()] + a + p[m.end():] for a in m.group(1).split(",")]
    return all(glob.glob(os.path.join(base, a)) for a in alts)


def check_file(path, root, build, scratch_base):
    doc = dx.extract(path, root)
    res = {"file": path, "run": 0, "skipped": 0, "failures": [], "notes": [], "flag_checked": 0}
    flag_problems = []
    for b in doc["blocks"]:
        for m in b["markers"].get("bad", []):
            flag_problems.append({"line": b["line"], "command": "<!-- docs-test: " + m + " -->",
                                  "why": "unknown docs-test marker"})
        for c in b.get("commands", []):
            for pr in check_flags(c["text"], root, build):
                flag_problems.append({"line": c["line"], "command": c["text"], "why": pr})
            res["flag_checked"] += 1
    for c in doc["inline"]:
        for pr in check_flags(c["text"], root, build):
            flag_problems.append({"line": c["line"], "command": c["text"], "why": pr})
        res["flag_checked"] += 1
    for c in doc["paths"]:
        res["paths_checked"] = res.get("paths_checked", 0) + 1
        if not path_exists(c["path"], root, build):
            flag_problems.append({"line": c["line"], "command": c["path"],
                                  "why": "no such file or directory in the checkout"
                                  + (" or the build tree" if c["path"].startswith("build/") else "")})
    skipped = [b for b in doc["blocks"] if b["kind"] == "shell" and "skip" in b["markers"]]
    res["skipped"] = sum(len(b["commands"]) for b in skipped)
    res["skip_reasons"] = [f"line {b['line']}: {b['markers']['skip'][0]}" for b in skipped]
    res["untagged_shell"] = [b["line"] for b in doc["blocks"] if b["kind"] == "shell" and b["untagged"]]
    if any(b["kind"] in ("shell", "file") and "skip" not in b["markers"] for b in doc["blocks"]):
        scratch = os.path.join(scratch_base, re.sub(r"[^\w.-]", "_", path))
        os.makedirs(scratch)
        out = os.path.join(scratch, "result.json")
        cmd = ["unshare", "--mount", "--net", "--pid", "--fork", "--mount-proc", "--kill-child",
               sys.executable, HERE, "--inside", path, scratch, out]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=BLOCK_TIMEOUT * 4)
            if os.path.exists(out):
                inner = json.load(open(out))
                for k in ("run", "failures", "notes"):
                    res[k] = res[k] + inner[k] if k != "run" else inner[k]
            else:
                res["failures"].append({"line": 0, "command": "(namespace)",
                                        "why": f"the runner failed: {r.stdout[-800:]}{r.stderr[-800:]}"})
        except subprocess.TimeoutExpired:
            res["failures"].append({"line": 0, "command": "(file)", "why": "timed out"})
    res["failures"] = flag_problems + res["failures"]
    return res


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "--systemctl":
        sys.exit(systemctl(sys.argv[3:], sys.argv[2]))
    if len(sys.argv) >= 4 and sys.argv[1] == "--wait-listen":
        sys.exit(wait_listen(int(sys.argv[2]), float(sys.argv[3])))
    root = os.environ.get("RM_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(HERE), "../.."))
    build = os.environ["RM_BUILD_DIR"]
    if len(sys.argv) >= 5 and sys.argv[1] == "--inside":
        path, scratch, out = sys.argv[2:5]
        try:
            res = run_file_inside(path, root, build, scratch)
        except Exception as e:  # a broken world is a failure of the file, reported as such
            res = {"file": path, "run": 0, "failures": [{"line": 0, "command": "(world)", "why": repr(e)}],
                   "notes": []}
        with open(out, "w") as f:
            json.dump(res, f)
        return
    scratch_base = sys.argv[1]
    # SIGTERM (ctest's timeout, test_docs.sh's trap): subprocess.run kills the running
    # unshare on the way out, and --kill-child takes the file's namespaces with it
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    t0 = time.time()
    total_run = total_skip = total_fail = 0
    bad_files = 0
    for path in doc_files(root):
        t = time.time()
        r = check_file(path, root, build, scratch_base)
        total_run += r["run"]
        total_skip += r["skipped"]
        total_fail += len(r["failures"])
        status = "ok  " if not r["failures"] else "FAIL"
        bad_files += bool(r["failures"])
        print(f"{status} {path}: {r['run']} run, {r['skipped']} skipped, {len(r['failures'])} failed, "
              f"{r['flag_checked']} flag-checked, {r.get('paths_checked', 0)} paths checked ({time.time() - t:.0f} s)"
              + (f"; {'; '.join(r['notes'])}" if r["notes"] else ""), flush=True)
        for s in r["skip_reasons"]:
            print(f"       skip {s}")
        if r["untagged_shell"]:
            print(f"       note: untagged fence(s) at line(s) {r['untagged_shell']} run as shell; tag them ```sh")
        for f in r["failures"]:
            print(f"   FAIL {path}:{f['line']}: {f['command']}\n        -> {f['why']}")
            if f.get("output"):
                print("        | " + "\n        | ".join(f["output"].splitlines()[-12:]))
        sys.stdout.flush()
    print(f"docs test: {total_run} commands run, {total_skip} skipped, {total_fail} failures "
          f"in {bad_files} file(s), {time.time() - t0:.0f} s")
    sys.exit(1 if total_fail else 0)


if __name__ == "__main__":
    main()
