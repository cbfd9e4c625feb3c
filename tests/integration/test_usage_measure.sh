#!/usr/bin/env bash
# One usage measure under one name (docs/adr/0013-one-usage-measure.md), on real
# binaries: MemoryStats and Forecast report the same usage_ratio, used_bytes,
# budget_bytes, usage_source and budget_source for the same sample
# (sampled_at_unix_ms), on a host without a cgroup limit, with the
# memory.budget_bytes knob, and — as root — inside a memory cgroup with a limit;
# rustymem-fleet's NodeInfo carries the same figures for the same sample;
# rustymem-exporter's rustymem_memory_usage_ratio equals
# rustymem_forecast_usage_ratio for one sample; REST /api/v1/stats/memory marks
# nested components and its totals add up over the top-level ones.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cgroup.sh"
EXPORTER="$RM_BUILD_DIR/agents/exporter/rustymem-exporter"
FLEETD="$RM_BUILD_DIR/agents/fleet/rustymem-fleet"
EXP_PID=""
FLEET_PID=""
CG=""

um_cleanup() {
  for pid in "$EXP_PID" "$FLEET_PID"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  cleanup
  cg_remove "$CG"
}
trap um_cleanup EXIT

# agree EXPECT — stats memory and forecast queried back to back until at least 3
# pairs name the same sample (each pair is one sampler tick apart at most); every
# such pair must agree exactly. EXPECT is a Python expression on m (MemoryStats)
# that must hold too.
agree() {
  /usr/bin/python3 - "$RUSTYMEMCTL" "$ADDR" "$1" <<'PY'
import json, subprocess, sys, time
ctl, addr, expect = sys.argv[1:]
def q(*cmd):
    return json.loads(subprocess.run([ctl, "--addr", addr, "--output", "json", *cmd], check=True,
                                     capture_output=True, text=True).stdout)
VOCAB_B = {"knob", "cgroup_v1", "cgroup_v2", "memtotal", "memavailable"}
VOCAB_U = {"cgroup", "rss", "memcore"}
same, pairs, deadline = 0, 0, time.monotonic() + 60
while same < 3 and time.monotonic() < deadline:
    m, f = q("stats", "memory"), q("forecast")
    pairs += 1
    assert m["budget_source"] in VOCAB_B and m["usage_source"] in VOCAB_U, m
    assert m["budget_bytes"] > 0 and m["used_bytes"] > 0, m
    assert abs(m["usage_ratio"] - m["used_bytes"] / m["budget_bytes"]) < 1e-9, m
    assert abs(m["rss_budget_ratio"] - m["rss_bytes"] / m["budget_bytes"]) < 1e-9, m
    assert m["sampled_at_unix_ms"] > 0 and f["sampled_at_unix_ms"] >= m["sampled_at_unix_ms"], (m, f)
    assert eval(expect), (expect, m)
    if f["sampled_at_unix_ms"] != m["sampled_at_unix_ms"]:
        continue   # a tick came between the two calls
    same += 1
    for k in ("usage_ratio", "used_bytes", "budget_bytes", "usage_source", "budget_source"):
        assert m[k] == f[k], (k, m[k], f[k])
assert same >= 3, "only %d of %d back-to-back pairs named the same sample" % (same, pairs)
print("usage_ratio %.6f = %d / %d B (usage %s, budget %s, rss_budget_ratio %.6f); %d of %d pairs same sample"
      % (m["usage_ratio"], m["used_bytes"], m["budget_bytes"], m["usage_source"], m["budget_source"],
         m["rss_budget_ratio"], same, pairs))
PY
}

samples_at_least() { # samples_at_least N — the sampler has taken N samples
  [ "$("$RUSTYMEMCTL" --addr "$ADDR" --output json forecast | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["samples"])')" -ge "$1" ]
}

# ---- a host agent: no cgroup limit, no knob ------------------------------------
start_agent
until_ok 60 samples_at_least 2 || fail "the sampler took no samples"
agree 'm["usage_source"] in ("rss", "memcore") and m["budget_source"] in ("memtotal", "memavailable")' ||
  fail "stats memory and forecast disagree on a host agent"
pass "host agent: stats memory and forecast give one usage_ratio, used, budget and sources per sample"

# ---- the knob: budget 1 GiB → both say knob at the next tick ----------------------
expect_exit 0 "$RUSTYMEMCTL" --addr "$ADDR" knobs set memory.budget_bytes=1GiB
knob_seen() {
  "$RUSTYMEMCTL" --addr "$ADDR" --output json forecast | grep -q '"budget_source": "knob"' &&
    "$RUSTYMEMCTL" --addr "$ADDR" --output json stats memory | grep -q '"budget_source": "knob"'
}
until_ok 30 knob_seen || fail "memory.budget_bytes=1GiB never became the budget_source"
agree 'm["budget_source"] == "knob" and m["budget_bytes"] == 1 << 30' ||
  fail "stats memory and forecast disagree with a 1 GiB knob"
pass "memory.budget_bytes=1GiB: both report budget 1 GiB from the knob, the same ratio per sample"

# ---- the fleet: NodeInfo carries the agent's figures for the agent's sample ---------
"$FLEETD" --listen 127.0.0.1:0 --port-file "$TMP/fport" --poll-ms 200 --agents "$ADDR" >"$TMP/fleet.log" 2>&1 &
FLEET_PID=$!
for _ in $(seq 1 200); do
  [ -s "$TMP/fport" ] && break
  kill -0 "$FLEET_PID" 2>/dev/null || { cat "$TMP/fleet.log" >&2; fail "rustymem-fleet exited at start"; }
  sleep 0.05
done
[ -s "$TMP/fport" ] || fail "rustymem-fleet did not report its port"
/usr/bin/python3 - "$RUSTYMEMCTL" "$ADDR" "127.0.0.1:$(cat "$TMP/fport")" <<'PY' || fail "the fleet's usage figures are not the agent's"
import json, subprocess, sys, time
ctl, addr, fleet = sys.argv[1:]
def q(*cmd):
    return json.loads(subprocess.run([ctl, *cmd], check=True, capture_output=True, text=True).stdout)
same, deadline = 0, time.monotonic() + 60
while same < 3 and time.monotonic() < deadline:
    nodes = q("--fleet", fleet, "--output", "json", "nodes")["nodes"]
    m = q("--addr", addr, "--output", "json", "stats", "memory")
    if len(nodes) != 1 or nodes[0]["sampled_at_unix_ms"] != m["sampled_at_unix_ms"]:
        time.sleep(0.1)   # the fleet polls every 200 ms: wait for the poll that saw this sample
        continue
    same += 1
    n = nodes[0]
    for k in ("usage_ratio", "used_bytes", "budget_bytes", "usage_source", "budget_source"):
        assert n[k] == m[k], (k, n[k], m[k])
assert same >= 3, "the fleet never showed the agent's current sample"
print("ok - fleet NodeInfo usage_ratio %.6f (%s/%s) = the agent's for the same sample"
      % (n["usage_ratio"], n["usage_source"], n["budget_source"]))
PY
kill -TERM "$FLEET_PID"; wait "$FLEET_PID" || fail "rustymem-fleet exited with $? after SIGTERM"; FLEET_PID=""
pass "fleet: ListNodes shows the agent's usage_ratio, used, budget and sources for the agent's sample"

# ---- the exporter: one ratio in the metrics, nested components in REST -----------
rm -f "$TMP/exp.port"
"$EXPORTER" --agent "$ADDR" --listen 127.0.0.1:0 --port-file "$TMP/exp.port" --timeout 3000 >"$TMP/exporter.log" 2>&1 &
EXP_PID=$!
for _ in $(seq 1 200); do
  [ -s "$TMP/exp.port" ] && break
  kill -0 "$EXP_PID" 2>/dev/null || { cat "$TMP/exporter.log" >&2; fail "rustymem-exporter exited at start"; }
  sleep 0.05
done
[ -s "$TMP/exp.port" ] || fail "rustymem-exporter did not report its port"
HTTP="http://127.0.0.1:$(cat "$TMP/exp.port")"
/usr/bin/python3 - "$HTTP" <<'PY' || fail "the exporter's usage figures disagree or do not add up"
import json, sys, time, urllib.request
base = sys.argv[1]
def get(path):
    with urllib.request.urlopen(base + path, timeout=10) as r:
        return r.read().decode()
def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("no %s in /metrics" % name)

same, deadline = 0, time.monotonic() + 60
while same < 3 and time.monotonic() < deadline:
    t = get("/metrics")
    if metric(t, "rustymem_memory_sampled_at_timestamp_seconds") != metric(t, "rustymem_forecast_sampled_at_timestamp_seconds"):
        continue
    same += 1
    for a, b in (("rustymem_memory_usage_ratio", "rustymem_forecast_usage_ratio"),
                 ("rustymem_memory_used_bytes", "rustymem_forecast_used_bytes"),
                 ("rustymem_memory_budget_bytes", "rustymem_forecast_budget_bytes")):
        assert metric(t, a) == metric(t, b), (a, metric(t, a), b, metric(t, b))
assert same >= 3, "the memory and forecast samples never matched within one scrape"
print("ok - rustymem_memory_usage_ratio = rustymem_forecast_usage_ratio = %g in %d scrapes of one sample"
      % (metric(t, "rustymem_memory_usage_ratio"), same))

m = json.loads(get("/api/v1/stats/memory"))
d = m["details"]
assert m["used_memory_bytes"] == d["used_bytes"] and m["total_memory_bytes"] == d["budget_bytes"], m
assert m["usage_ratio"] == d["usage_ratio"] and m["budget_source"] == d["budget_source"], m
assert m["usage_source"] == d["usage_source"] and m["rss_budget_ratio"] == d["rss_budget_ratio"], m
comps = m["components"]
by = {c["component"]: c for c in comps}
for c in comps:
    assert isinstance(c["nested"], bool), c
    assert c["nested"] == [x for x in d["components"] if x["component"] == c["component"]][0]["nested"], c
# what is drawn from slab classes or the heap is nested; the allocators are not
for name in ("mvcc", "plan_cache", "session", "pool", "engine"):
    assert by[name]["nested"] is True, by[name]
for name in ("slab", "arena", "large_object", "buffer_pool"):
    assert by[name]["nested"] is False, by[name]
top = [c for c in comps if not c["nested"]]
assert sum(c["used_bytes"] for c in top) == m["memcore_used_bytes"] == d["memcore_used_bytes"], m
assert sum(c["held_bytes"] for c in top) == m["memcore_held_bytes"] == d["memcore_held_bytes"], m
assert abs(sum(c["memory_mb"] for c in top) - m["memcore_used_mb"]) <= 0.005 * len(top) + 1e-9, m
assert m["other_memory_bytes"] == max(0, m["used_memory_bytes"] - m["memcore_held_bytes"]), m
if m["used_memory_bytes"] >= m["memcore_held_bytes"]:
    assert m["memcore_held_bytes"] + m["other_memory_bytes"] == m["used_memory_bytes"], m
nested_mb = sum(c["memory_mb"] for c in comps if c["nested"])
print("ok - REST memory: %d components (%d nested, %.2f MiB), top-level used %.2f MiB = memcore_used_mb, "
      "used_memory %.2f MiB = memcore held %.2f + other %.2f"
      % (len(comps), len(comps) - len(top), nested_mb, sum(c["memory_mb"] for c in top), m["used_memory_mb"],
         m["memcore_held_mb"], m["other_memory_mb"]))
f = json.loads(get("/api/v1/stats/memory/forecast"))
assert f["budget_source"] in ("knob", "cgroup_v1", "cgroup_v2", "memtotal", "memavailable"), f
if not f["has_time_to_critical"]:
    assert f["time_to_critical_seconds"] is None and f["time_to_critical_confidence"] is None, f
PY
pass "exporter: memory and forecast usage_ratio equal per sample; REST memory marks nested components, totals add up"
kill -TERM "$EXP_PID"; wait "$EXP_PID" || fail "rustymem-exporter exited with $? after SIGTERM"; EXP_PID=""
stop_agent

# ---- in a memory cgroup with a limit: the working set against the limit -----------
if [ "$(id -u)" != 0 ] || ! { [ -w /sys/fs/cgroup/memory/cgroup.procs ] ||
     grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; }; then
  echo "SKIP: the cgroup case needs root and a writable memory cgroup"
  echo "test_usage_measure: all passed"
  exit 0
fi
cg_detect
CG="$CG_ROOT/rm_usage_$$"
cg_make "$CG" $((768 << 20)) || fail "cannot create the memory cgroup $CG"
# a 64-frame buffer pool: memcore then holds well under the agent's working set,
# so the figure is the cgroup's own and not the memcore floor
rm -f "$TMP/port"
( echo "$BASHPID" >"$CG/cgroup.procs" && exec "$RUSTYMEMD" --listen 127.0.0.1:0 --port-file "$TMP/port" \
    --data-dir "$TMP/data-cg" --set buffer_pool.num_frames=64 ) >"$TMP/agent.log" 2>&1 &
AGENT_PID=$!
for _ in $(seq 1 200); do [ -s "$TMP/port" ] && break; sleep 0.05; done
[ -s "$TMP/port" ] || { cat "$TMP/agent.log" >&2; fail "rustymemd did not start in the cgroup"; }
ADDR="127.0.0.1:$(cat "$TMP/port")"
until_ok 60 samples_at_least 2 || fail "the sampler took no samples in the cgroup"
agree "m['usage_source'] == 'cgroup' and m['budget_source'] == 'cgroup_v$CG_VER' and m['budget_bytes'] == 768 << 20" ||
  fail "stats memory and forecast disagree in a memory cgroup"
# the figure is the cgroup's working set as the kernel reports it (read here a moment later)
/usr/bin/python3 - "$RUSTYMEMCTL" "$ADDR" "$CG" "$CG_VER" <<'PY' || fail "used_bytes is not the cgroup's working set"
import json, subprocess, sys
ctl, addr, cg, ver = sys.argv[1:]
m = json.loads(subprocess.run([ctl, "--addr", addr, "--output", "json", "stats", "memory"], check=True,
                              capture_output=True, text=True).stdout)
usage = int(open(cg + ("/memory.usage_in_bytes" if ver == "1" else "/memory.current")).read())
stat = dict(l.split() for l in open(cg + "/memory.stat"))
inactive = int(stat.get("total_inactive_file" if ver == "1" else "inactive_file", stat.get("inactive_file", 0)))
ws = usage - inactive
assert m["usage_source"] == "cgroup", m["usage_source"]
# RSS would be 3-4 x more (shared libraries are charged elsewhere); sanitizer shadow memory moves faster
tol = (8 if __import__("os").environ.get("RM_SANITIZE") else 2) << 20
assert abs(m["used_bytes"] - ws) <= tol, (m["used_bytes"], ws, tol)
assert m["used_bytes"] > m["memcore_held_bytes"], m
print("ok - used_bytes %d = the cgroup's working set %d (usage %d - inactive file %d) +- %d MiB; memcore holds %d"
      % (m["used_bytes"], ws, usage, inactive, tol >> 20, m["memcore_held_bytes"]))
PY
expect_exit 0 "$RUSTYMEMCTL" --addr "$ADDR" knobs set memory.budget_bytes=512MiB
knob_seen_512() { "$RUSTYMEMCTL" --addr "$ADDR" --output json forecast | grep -q '"budget_bytes": 536870912'; }
until_ok 30 knob_seen_512 || fail "memory.budget_bytes=512MiB below the limit never became the budget"
agree "m['budget_source'] == 'knob' and m['usage_source'] == 'cgroup'" ||
  fail "stats memory and forecast disagree in a cgroup with a knob below the limit"
stop_agent
pass "in a cgroup v$CG_VER with a 768 MiB limit: the working set against the limit (then against a 512 MiB knob), one figure in both RPCs"
echo "test_usage_measure: all passed"
