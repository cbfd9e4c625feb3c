#!/usr/bin/env bash
# `rustymemctl --output json` of EVERY command, checked against the .proto
# descriptors (build/proto/gen/rustymem.desc) — JSON that scripts can trust:
#   - the command list is rustymemctl's own table (help-markdown): a command
#     added later without an invocation here fails the test;
#   - each output is the RPC's response type, every field present;
#   - no uint64/uint32 prints negative; a 64-bit integer is a JSON number up to
#     2^53 and a decimal string above (docs/api.md, "JSON output");
#   - "unknown" is null: a field guarded by a has_P sibling that is false is
#     null, never 0 (time_to_critical_seconds on a healthy agent);
#   - the checker itself rejects a doctored document (negative uint64, 0 under
#     has_P = false, a missing field), so it cannot pass vacuously.
# Runs against a real rustymemd and a real rustymem-fleet on loopback.
source "$(dirname "$0")/lib.sh"
FLEETD="$RM_BUILD_DIR/agents/fleet/rustymem-fleet"
DESC="$RM_BUILD_DIR/proto/gen/rustymem.desc"
[ -s "$DESC" ] || fail "no descriptor set at $DESC (build the rm_proto target)"
FLEET_PID=""

json_cleanup() {
  if [ -n "$FLEET_PID" ] && kill -0 "$FLEET_PID" 2>/dev/null; then
    kill -TERM "$FLEET_PID" 2>/dev/null || true
    wait "$FLEET_PID" 2>/dev/null || true
  fi
  cleanup
}
trap json_cleanup EXIT

start_agent --node-name jsonnode
"$FLEETD" --listen 127.0.0.1:0 --port-file "$TMP/fport" --poll-ms 200 --agents "$ADDR" >"$TMP/fleet.log" 2>&1 &
FLEET_PID=$!
for _ in $(seq 1 200); do
  [ -s "$TMP/fport" ] && break
  kill -0 "$FLEET_PID" 2>/dev/null || { cat "$TMP/fleet.log" >&2; fail "rustymem-fleet exited at start"; }
  sleep 0.05
done
[ -s "$TMP/fport" ] || fail "rustymem-fleet did not report its port"
FLEET="127.0.0.1:$(cat "$TMP/fport")"

# manual triggers first, so that `events` and `events follow --after 1` have something to print
expect_exit 0 "$RUSTYMEMCTL" --addr "$ADDR" response trigger gentle
expect_exit 0 "$RUSTYMEMCTL" --addr "$ADDR" response trigger aggressive
# the fleet must have polled the agent once, so that `nodes` shows real figures
until_ok 30 bash -c "'$RUSTYMEMCTL' --fleet '$FLEET' --output json nodes | grep -q '\"reachable\": true'" ||
  fail "the fleet never reached the agent: $(cat "$TMP/fleet.log")"

/usr/bin/python3 - "$RUSTYMEMCTL" "$ADDR" "$FLEET" "$DESC" <<'PY' || fail "rustymemctl --output json is not what the .proto says"
import json, re, subprocess, sys
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import FieldDescriptor as FD

ctl, addr, fleet, desc = sys.argv[1:]
fds = descriptor_pb2.FileDescriptorSet()
with open(desc, "rb") as fh:
    fds.ParseFromString(fh.read())
pool = descriptor_pool.DescriptorPool()
for f in fds.file:
    pool.Add(f)

EXACT = 1 << 53
U64 = {FD.TYPE_UINT64, FD.TYPE_FIXED64}
I64 = {FD.TYPE_INT64, FD.TYPE_SINT64, FD.TYPE_SFIXED64}
U32 = {FD.TYPE_UINT32, FD.TYPE_FIXED32}
I32 = {FD.TYPE_INT32, FD.TYPE_SINT32, FD.TYPE_SFIXED32}
counts = {"uint": 0, "guarded_null": 0}

def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)

def check_scalar(path, f, v, errs):
    t = f.type
    if t in U64 or t in I64:
        if is_int(v):
            if t in U64 and v < 0:
                errs.append("%s: negative uint64 %d" % (path, v))
            if abs(v) > EXACT:
                errs.append("%s: %d above 2^53 printed as a number" % (path, v))
        elif isinstance(v, str) and re.fullmatch(r"-?[0-9]+", v):
            n = int(v)
            if t in U64 and n < 0:
                errs.append("%s: negative uint64 %s" % (path, v))
            if abs(n) <= EXACT:
                errs.append("%s: %s within 2^53 printed as a string" % (path, v))
        else:
            errs.append("%s: %r is not a 64-bit integer" % (path, v))
        if t in U64:
            counts["uint"] += 1
    elif t in U32 or t in I32:
        lo, hi = (0, (1 << 32) - 1) if t in U32 else (-(1 << 31), (1 << 31) - 1)
        if not is_int(v) or not lo <= v <= hi:
            errs.append("%s: %r is not a %s" % (path, v, "uint32" if t in U32 else "int32"))
        if t in U32:
            counts["uint"] += 1
    elif t in (FD.TYPE_DOUBLE, FD.TYPE_FLOAT):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            errs.append("%s: %r is not a number" % (path, v))
    elif t == FD.TYPE_BOOL:
        if not isinstance(v, bool):
            errs.append("%s: %r is not a bool" % (path, v))
    elif t == FD.TYPE_ENUM:
        if v not in f.enum_type.values_by_name:
            errs.append("%s: %r is not a value of %s" % (path, v, f.enum_type.full_name))
    elif t in (FD.TYPE_STRING, FD.TYPE_BYTES):
        if not isinstance(v, str):
            errs.append("%s: %r is not a string" % (path, v))

def check_value(path, f, v, errs):
    if f.type == FD.TYPE_MESSAGE:
        if v is None:
            return  # an unset message field
        check_msg(path, f.message_type, v, errs)
    elif v is None:
        errs.append("%s: null for a %s that no has_ field marks unknown" % (path, f.type))
    else:
        check_scalar(path, f, v, errs)

def check_msg(path, d, obj, errs):
    if not isinstance(obj, dict):
        errs.append("%s: %r is not an object (%s)" % (path, obj, d.full_name))
        return
    names = [f.name for f in d.fields]
    for k in obj:
        if k not in names:
            errs.append("%s.%s: not a field of %s" % (path, k, d.full_name))
    guards = [f.name[4:] for f in d.fields
              if f.name.startswith("has_") and f.type == FD.TYPE_BOOL and f.label != FD.LABEL_REPEATED]
    for f in d.fields:
        p = "%s.%s" % (path, f.name)
        if f.name not in obj:
            errs.append("%s: missing (every field is printed)" % p)
            continue
        v = obj[f.name]
        if not f.name.startswith("has_") and any(
                obj.get("has_" + g) is False and (f.name == g or f.name.startswith(g + "_")) for g in guards):
            if v is not None:
                errs.append("%s: %r although has_ says unknown (must be null)" % (p, v))
            counts["guarded_null"] += 1
            continue
        if f.label == FD.LABEL_REPEATED and f.type == FD.TYPE_MESSAGE and f.message_type.GetOptions().map_entry:
            if not isinstance(v, dict):
                errs.append("%s: %r is not a map" % (p, v))
                continue
            vf = f.message_type.fields_by_name["value"]
            for k, x in v.items():
                check_value("%s[%s]" % (p, k), vf, x, errs)
        elif f.label == FD.LABEL_REPEATED:
            if not isinstance(v, list):
                errs.append("%s: %r is not a list" % (p, v))
                continue
            for i, x in enumerate(v):
                check_value("%s[%d]" % (p, i), f, x, errs)
        else:
            check_value(p, f, v, errs)

# ---- the checker must be able to fail --------------------------------------
fc = pool.FindMessageTypeByName("rustymem.v1.Forecast")
ev = pool.FindMessageTypeByName("rustymem.v1.PressureEvent")
good = {f.name: (0 if f.type not in (FD.TYPE_STRING, FD.TYPE_ENUM, FD.TYPE_BOOL, FD.TYPE_MESSAGE) else
                 "" if f.type == FD.TYPE_STRING else False if f.type == FD.TYPE_BOOL else
                 f.enum_type.values[0].name if f.type == FD.TYPE_ENUM else None) for f in fc.fields}
good["horizons"] = []
good["time_to_critical_seconds"] = good["time_to_critical_confidence"] = None
e = []; check_msg("Forecast", fc, good, e)
assert not e, e
bad = dict(good, time_to_critical_seconds=0)
e = []; check_msg("Forecast", fc, bad, e)
assert any("must be null" in x for x in e), e
evd = {f.name: 0 for f in ev.fields}
evd.update(trigger="manual", detail="", kind="reclaim", actions=[], from_level="PRESSURE_LEVEL_GENTLE",
           to_level="PRESSURE_LEVEL_GENTLE", target_bytes=-1)
e = []; check_msg("PressureEvent", ev, evd, e)
assert any("negative uint64" in x for x in e), e
evd["target_bytes"] = "18446744073709551615"
e = []; check_msg("PressureEvent", ev, evd, e)
assert not e, e
del evd["kind"]
e = []; check_msg("PressureEvent", ev, evd, e)
assert any("missing" in x for x in e), e
print("ok - the checker rejects a negative uint64, a 0 under has_ = false and a missing field")

# ---- every command of rustymemctl's table -----------------------------------
FLEET = ["--fleet", fleet]
INVOKE = {   # keyed by the command's words (the synopsis up to its first argument)
    "health": ["health"],
    "stats memory": ["stats", "memory"],
    "stats slab": ["stats", "slab"],
    "stats arena": ["stats", "arena"],
    "stats buffer-pool": ["stats", "buffer-pool"],
    "stats large-object": ["stats", "large-object"],
    "stats fragmentation": ["stats", "fragmentation"],
    "watch": ["watch", "--interval", "100", "--count", "2"],
    "forecast": ["forecast"],
    "events": ["events"],
    "events follow": ["events", "follow", "--after", "1"],
    "alerts": ["alerts"],
    "response trigger": ["response", "trigger", "gentle"],
    "evict": ["evict", "--fraction", "0.01"],
    "gc": ["gc"],
    "coalesce": ["coalesce"],
    "nodes": FLEET + ["nodes"],
    "fleet stats": FLEET + ["fleet", "stats"],
    "fleet forecast": FLEET + ["fleet", "forecast"],
    "fleet rollout": FLEET + ["fleet", "rollout", "mixed", "production", "--canary-wait", "0"],
    "fleet trigger": FLEET + ["fleet", "trigger", "gentle"],
    "knobs list": ["knobs", "list"],
    "knobs get": ["knobs", "get", "memory.budget_bytes", "pressure.warning_threshold"],
    "knobs set": ["knobs", "set", "pressure.history_size=60", "--validate-only"],
    "knobs apply-profile": ["knobs", "apply-profile", "mixed", "production", "--validate-only"],
    "knobs reset": ["knobs", "reset", "pressure.history_size", "--validate-only"],
    "stats engine": ["stats", "engine"],
    "txn list": ["txn", "list"],
    "txn kill-orphaned": ["txn", "kill-orphaned"],
    "plan-cache clear": ["plan-cache", "clear", "--fraction", "0.5"],
    "admission": ["admission", "on"],
    "queries kill": ["queries", "kill", "--older-than", "3600"],
}
ENDLESS = {"events follow"}   # streams until interrupted: read the first document, then stop it


def words(synopsis):
    """The command's words: the synopsis up to its first argument ("[--x N]", "LEVEL", "on|off")."""
    out = []
    for t in synopsis.split():
        if not re.fullmatch(r"[a-z][a-z-]*", t):
            break
        out.append(t)
    return " ".join(out)

def run_endless(argv):
    """Start a command that streams forever; return (0, the first JSON line, "") once one is complete."""
    import select, signal, time
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, deadline = "", time.monotonic() + 60
    try:
        while time.monotonic() < deadline and p.poll() is None:
            r, _, _ = select.select([p.stdout], [], [], 0.5)
            if r:
                line = p.stdout.readline()
                out += line
                try:
                    json.loads(out)
                    return 0, out, ""
                except ValueError:
                    pass
        return 1, out, "no complete JSON document within 60 s (exit %s)" % p.poll()
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

md = subprocess.run([ctl, "help-markdown"], capture_output=True, text=True, check=True).stdout
rows = [(words(c.replace("\\|", "|")), s, m) for c, s, m in
        re.findall(r"^\| `(.+?)` \| `/?([\w.]+)/(\w+)` \|", md, re.M)]
assert len(rows) >= 25, "help-markdown table not understood: %d rows" % len(rows)
missing = [cmd for cmd, _, _ in rows if cmd not in INVOKE]
assert not missing, "commands without an invocation in test_cli_json.sh: %s" % missing

failures = []
for cmd, svc, method in rows:
    out_type = pool.FindServiceByName(svc).FindMethodByName(method).output_type
    argv = [ctl, "--addr", addr, "--output", "json"] + INVOKE[cmd]
    if cmd in ENDLESS:
        rc, text, err = run_endless(argv)
    else:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        rc, text, err = p.returncode, p.stdout, p.stderr
    if rc != 0:
        failures.append("%s: exit %d: %s" % (cmd, rc, err.strip()))
        continue
    docs, i = [], 0
    dec = json.JSONDecoder()
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            break
        try:
            obj, i = dec.raw_decode(text, i)
        except ValueError as ex:
            failures.append("%s: not JSON at %d: %s: %r" % (cmd, i, ex, text[i:i + 80]))
            break
        docs.append(obj)
    if not docs:
        failures.append("%s: printed no JSON" % cmd)
        continue
    errs = []
    for k, d in enumerate(docs):
        check_msg("%s#%d(%s)" % (INVOKE[cmd][-1] if cmd.startswith("fleet") else cmd.split()[0], k, out_type.name),
                  out_type, d, errs)
    failures += ["%s: %s" % (cmd, x) for x in errs]
    print("%s - %-40s %s, %d document(s)%s" % ("not ok" if errs else "ok", cmd[:40], out_type.full_name, len(docs),
                                               "" if not errs else ", %d error(s)" % len(errs)))

if failures:
    print("\n".join(failures), file=sys.stderr)
    sys.exit(1)
assert counts["uint"] > 200, counts            # the walk reached the numbers
assert counts["guarded_null"] >= 2, counts      # Forecast and NodeInfo on a healthy agent: ttc unknown
print("ok - %d commands, %d unsigned integers checked, %d has_-guarded fields null" %
      (len(rows), counts["uint"], counts["guarded_null"]))
PY
pass "every rustymemctl command's --output json matches its .proto type: no negative uint64, unknown is null"
echo "test_cli_json: all passed"
