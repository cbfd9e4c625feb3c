#!/usr/bin/env python3
"""Run CTest's tests of one label under Valgrind memcheck.

    scripts/valgrind-tests.py BUILD_DIR [LABEL] [-j N]

Reads the tests (command, environment, working directory) from
`ctest --show-only=json-v1`, runs each under
`valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect
--error-exitcode=99`, and fails if any test fails, reports a memory error or
leaks definitely/indirectly lost memory. Logs go to BUILD_DIR/valgrind/<test>.log.
"""
import concurrent.futures
import json
import os
import subprocess
import sys
import time


def main():
    args = [a for a in sys.argv[1:]]
    jobs = 2
    if "-j" in args:
        i = args.index("-j")
        jobs = int(args[i + 1])
        del args[i:i + 2]
    if not args or args[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if args else 2
    build = os.path.abspath(args[0])
    label = args[1] if len(args) > 1 else "unit"
    out = subprocess.run(["ctest", "-L", label, "--show-only=json-v1"], cwd=build,
                         check=True, capture_output=True, text=True).stdout
    tests = json.loads(out)["tests"]
    logdir = os.path.join(build, "valgrind")
    os.makedirs(logdir, exist_ok=True)
    supp = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "valgrind.supp")

    def run(t):
        props = {p["name"]: p["value"] for p in t.get("properties", [])}
        env = dict(os.environ)
        for kv in props.get("ENVIRONMENT", []):
            k, _, v = kv.partition("=")
            env[k] = v
        env["RM_VALGRIND"] = "1"
        log = os.path.join(logdir, t["name"] + ".log")
        # --fair-sched: Valgrind runs one thread at a time; without a fair lock a thread
        # spinning on another (the session stress test's resizer) can starve it for minutes
        cmd = ["valgrind", "-q", "--fair-sched=yes", "--error-exitcode=99", "--leak-check=full",
               "--errors-for-leak-kinds=definite,indirect",
               "--show-leak-kinds=definite,indirect", "--track-origins=yes",
               "--suppressions=" + supp] + t["command"]
        start = time.time()
        with open(log, "w") as f:
            rc = subprocess.run(cmd, cwd=props.get("WORKING_DIRECTORY", build), env=env,
                                stdout=f, stderr=subprocess.STDOUT,
                                timeout=float(props.get("TIMEOUT", 600))).returncode
        return t["name"], rc, time.time() - start, log

    failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as ex:
        for name, rc, secs, log in ex.map(run, tests):
            what = "ok" if rc == 0 else ("memcheck errors" if rc == 99 else f"exit {rc}")
            print(f"valgrind {name:32s} {what:16s} {secs:6.1f} s")
            if rc != 0:
                failed += 1
                with open(log) as f:
                    sys.stdout.write("".join(f.readlines()[-40:]))
    print(f"valgrind: {len(tests) - failed}/{len(tests)} {label} tests clean")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
