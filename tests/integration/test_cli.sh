#!/usr/bin/env bash
# rustymemctl and rustymemd against each other: output forms, exit codes, errors.
source "$(dirname "$0")/lib.sh"

# rustymemd usage errors
expect_exit 0 "$RUSTYMEMD" --help
for flag in --listen --data-dir --port-file --threads --grace-ms --tls-cert --insecure; do
  grep -q -- "$flag" <<<"$OUT" || fail "rustymemd --help does not list $flag"
done
pass "rustymemd --help lists its flags"
expect_exit 2 "$RUSTYMEMD" --no-such-flag
grep -q "unknown option --no-such-flag" <<<"$ERR" || fail "unclear message: $ERR"
expect_exit 2 "$RUSTYMEMD" --threads 99
grep -q -- "--threads 99: expected a whole number in 1..16" <<<"$ERR" || fail "unclear message: $ERR"
expect_exit 2 "$RUSTYMEMD" --listen 0.0.0.0:0
grep -q "not a loopback address" <<<"$ERR" || fail "plaintext on 0.0.0.0 not refused: $ERR"
labels=(); for i in $(seq 1 17); do labels+=(--label "k$i=v"); done
expect_exit 2 "$RUSTYMEMD" "${labels[@]}"
[ "$ERR" = "rustymemd: at most 16 --label flags" ] || fail "17 --label flags: $ERR"
pass "rustymemd rejects bad flags with exit 2 and one line"

start_agent

expect_exit 0 "$RUSTYMEMCTL" --addr "$ADDR" health
[ "$OUT" = "SERVING" ] || fail "health printed '$OUT'"
pass "health prints SERVING"

expect_exit 0 "$RUSTYMEMCTL" --addr "$ADDR" stats memory
grep -Eq '^rss_bytes +[1-9][0-9]* ' <<<"$OUT" || fail "no rss_bytes in table: $OUT"
if [ -z "${RM_SANITIZE:-}" ]; then   # sanitizer builds replace malloc, so jemalloc is not the allocator
  grep -Eq '^jemalloc.allocated_bytes +[1-9]' <<<"$OUT" || fail "no jemalloc figures: $OUT"
fi
pass "stats memory table shows RSS and jemalloc"

expect_exit 0 "$RUSTYMEMCTL" --addr "$ADDR" --output json stats memory
RM_SANITIZE="${RM_SANITIZE:-}" /usr/bin/python3 - "$OUT" <<'PY' || fail "stats memory JSON is wrong"
import json, os, sys
d = json.loads(sys.argv[1])
assert d["rss_bytes"] > 0, d
assert d["budget_bytes"] > 0, d
if not os.environ["RM_SANITIZE"]:
    assert d["jemalloc"]["active"] is True, d["jemalloc"]
    assert d["jemalloc"]["allocated_bytes"] > 0
else:
    assert d["jemalloc"]["active"] is False, d["jemalloc"]
assert d["budget_source"] in ("memtotal", "memavailable", "cgroup_v1", "cgroup_v2", "knob")
assert isinstance(d["components"], list)
PY
pass "stats memory --output json parses with the expected fields"

expect_exit 0 "$RUSTYMEMCTL" --addr "$ADDR" --output json stats fragmentation
grep -q '"overall_status"' <<<"$OUT" || fail "fragmentation JSON: $OUT"
pass "stats fragmentation answers"

expect_exit 0 "$RUSTYMEMCTL" --addr "$ADDR" --output json watch --interval 100 --count 3
[ "$(grep -c '"rss_bytes"' <<<"$OUT")" -eq 3 ] || fail "watch printed: $OUT"
expect_exit 1 "$RUSTYMEMCTL" --addr "$ADDR" watch --interval 5 --count 1
grep -q "INVALID_ARGUMENT: interval_ms = 5" <<<"$ERR" || fail "watch interval: $ERR"
pass "watch streams JSON lines; a bad interval names the field"

expect_exit 0 "$RUSTYMEMCTL" completion bash
# shellcheck disable=SC1090
source <(printf '%s\n' "$OUT")
COMP_WORDS=("$RUSTYMEMCTL" stats s); COMP_CWORD=2; _rustymemctl
[ "${COMPREPLY[*]}" = "slab" ] || fail "completion offered: ${COMPREPLY[*]}"
pass "bash completion from the command table"

RUSTYMEM_ADDR="$ADDR" expect_exit 0 "$RUSTYMEMCTL" health
pass "RUSTYMEM_ADDR is honoured"

# usage errors: exit 2, one line
expect_exit 2 "$RUSTYMEMCTL" --addr "$ADDR" no-such-command
grep -q "unknown command 'no-such-command'" <<<"$ERR" || fail "$ERR"
expect_exit 2 "$RUSTYMEMCTL" --addr "$ADDR" stats nonsense   # a group with a wrong second word
grep -q "unknown command 'stats nonsense': after 'stats' comes one of memory, slab, .*buffer-pool" <<<"$ERR" ||
    fail "$ERR"
[ "$(wc -l <<<"$ERR")" -eq 1 ] || fail "usage error is more than one line: $ERR"
expect_exit 2 "$RUSTYMEMCTL" --addr "$ADDR" knobs
grep -q "knobs: say which: list, get, set, reset, diff, apply-profile" <<<"$ERR" || fail "$ERR"
# gRPC would take port 99999 as 34463: every address is checked first
expect_exit 2 "$RUSTYMEMCTL" --addr 127.0.0.1:99999 health
grep -q "address 127.0.0.1:99999: port 99999 is out of range 1..65535" <<<"$ERR" || fail "$ERR"
expect_exit 2 "$RUSTYMEMD" --data-dir "$TMP/nodata" --listen 127.0.0.1:99999
grep -q "rustymemd: --listen 127.0.0.1:99999: port 99999 is out of range 0..65535" <<<"$ERR" || fail "$ERR"
expect_exit 2 "$RUSTYMEMD" --data-dir "$TMP/nodata" --listen
grep -q "rustymemd: --listen needs a value" <<<"$ERR" || fail "$ERR"
expect_exit 2 "$RUSTYMEMCTL" --addr "$ADDR" --output xml health
grep -q -- "--output xml: expected table, wide, json or yaml" <<<"$ERR" || fail "$ERR"
expect_exit 2 "$RUSTYMEMCTL" --addr "$ADDR" --timeout -5 health
grep -q -- "--timeout -5" <<<"$ERR" || fail "$ERR"
expect_exit 2 "$RUSTYMEMCTL" --addr "$ADDR" stats memory extra
[ "$(wc -l <<<"$ERR")" -eq 1 ] || fail "usage error is more than one line: $ERR"
pass "usage errors exit 2 with one readable line"

# RPC errors: exit 1 with the status name
expect_exit 1 "$RUSTYMEMCTL" --addr "$ADDR" health --service no.such.Service
grep -q "NOT_FOUND" <<<"$ERR" || fail "$ERR"
stop_agent
expect_exit 1 "$RUSTYMEMCTL" --addr "$ADDR" --timeout 500 health
grep -q "UNAVAILABLE" <<<"$ERR" || grep -q "DEADLINE_EXCEEDED" <<<"$ERR" || fail "$ERR"
grep -q "is rustymemd running" <<<"$ERR" || grep -q "raise --timeout" <<<"$ERR" || fail "no hint: $ERR"
pass "RPC errors exit 1 with the status name and a hint"
# systemd Type=notify: READY=1 once serving, STOPPING=1 at shutdown
/usr/bin/python3 - "$RUSTYMEMD" "$TMP" <<'PY' || fail "sd_notify protocol"
import os, socket, subprocess, sys, time
bin, tmp = sys.argv[1:]
path = os.path.join(tmp, "notify.sock")
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(0.5)
log = open(os.path.join(tmp, "sd.log"), "w+")
p = subprocess.Popen([bin, "--listen", "127.0.0.1:0", "--data-dir", os.path.join(tmp, "sd")],
                     env=dict(os.environ, NOTIFY_SOCKET=path), stderr=log)

def recv(what):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            return s.recv(4096).decode()
        except socket.timeout:
            if p.poll() is not None and what == "READY":
                break
    log.seek(0)
    raise SystemExit("no %s from rustymemd (exit %s); its log:\n%s" % (what, p.poll(), log.read()))

try:
    ready = recv("READY")
    assert "READY=1" in ready and "MAINPID=%d" % p.pid in ready, ready
    p.terminate()
    assert "STOPPING=1" in recv("STOPPING")
    assert p.wait(timeout=30) == 0
finally:
    if p.poll() is None:
        p.kill()
PY
pass "sd_notify READY=1 / STOPPING=1"

expect_exit 0 "$RUSTYMEMCTL" help-markdown
diff -u "$RM_SOURCE_DIR/docs/cli.md" - <<<"$OUT" >&2 || fail "docs/cli.md is stale: regenerate with 'rustymemctl help-markdown > docs/cli.md'"
pass "docs/cli.md matches the command table"
echo "test_cli: all passed"
