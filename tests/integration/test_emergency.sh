#!/usr/bin/env bash
# EmergencyService: each action reports what it did and is audited; actions of
# modules this agent does not host answer UNIMPLEMENTED and change nothing.
source "$(dirname "$0")/lib.sh"
ctl() { "$RUSTYMEMCTL" --addr "$ADDR" --timeout 30000 "$@"; }   # generous: sanitizer builds on a busy machine

start_agent
expect_exit 0 ctl --output json gc
/usr/bin/python3 - "$OUT" <<'PY' || fail "gc result: $OUT"
import json, sys
r = json.loads(sys.argv[1])
assert r["action"] == "force_garbage_collection", r
assert r["summary"].startswith("released "), r
assert r["duration_seconds"] >= 0
PY
grep -q "AUDIT anonymous /rustymem.v1.EmergencyService/ForceGarbageCollection released" "$TMP/agent.log" || fail "gc not audited"
pass "gc reports what it released and is audited"

expect_exit 0 ctl --output json coalesce --release
grep -q '"action": "coalesce_large_objects"' <<<"$OUT" || fail "coalesce: $OUT"
expect_exit 2 ctl coalesce --now
pass "coalesce"

frames() { ctl --output json stats buffer-pool | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["total_frames"])'; }
[ "$(frames)" -gt 64 ] || fail "buffer pool not sized"
expect_exit 0 ctl knobs set buffer_pool.num_frames=5000
[ "$(frames)" = "5000" ] || fail "live resize did not take effect"
expect_exit 0 ctl knobs set buffer_pool.num_frames=6000
[ "$(frames)" = "6000" ] || fail "live grow did not take effect"
pass "buffer pool resizes live through the knob registry"
# a size the pool cannot take is refused before anything is committed: the knob
# and the pool both keep 6000 (it used to be committed, then the resize failed)
knob() { ctl --output json knobs get buffer_pool.num_frames | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["knobs"][0]["value"])'; }
expect_exit 1 ctl knobs set buffer_pool.num_frames=3
grep -q "INVALID_ARGUMENT: buffer_pool.num_frames = 3: must be 0 (auto) or at least 8" <<<"$ERR" || fail "num_frames=3: $ERR"
expect_exit 1 ctl knobs set buffer_pool.num_frames=67108864   # 256 GiB of 4 KiB frames
grep -Eq "INVALID_ARGUMENT: buffer_pool.num_frames = 67108864: .* exceed the .* MiB of (MemTotal|the memory cgroup)" \
    <<<"$ERR" || fail "num_frames beyond the machine: $ERR"
[ "$(frames)" = "6000" ] && [ "$(knob)" = "6000" ] || fail "a refused size changed something: $(frames) / $(knob)"
pass "a buffer pool size the pool or the budget cannot take is refused and changes nothing"
# (budgets small enough for any CI machine or cgroup: the pool never exceeds the machine's share)
expect_exit 0 ctl knobs set buffer_pool.num_frames=0 memory.budget_bytes=256MiB
a=$(frames)
expect_exit 0 ctl knobs set memory.budget_bytes=512MiB
b=$(frames)
[ "$a" = $(( 256 * 1024 * 1024 * 3 / 10 / 4096 )) ] && [ "$b" = $(( 512 * 1024 * 1024 * 3 / 10 / 4096 )) ] ||
    fail "auto pool did not follow the budget: $a -> $b"
pass "an auto-sized buffer pool follows memory.budget_bytes live ($a -> $b frames)"
# a budget above the machine does not size the pool past it (30 % of 1 TiB would be 80 Mi frames)
expect_exit 0 ctl knobs set memory.budget_bytes=1TiB
c=$(frames)
mem_total=$(awk '/^MemTotal:/ {print $2 * 1024}' /proc/meminfo)
[ "$c" -le $(( mem_total * 3 / 10 / 4096 + 1 )) ] || fail "auto pool sized past MemTotal: $c frames"
expect_exit 1 ctl knobs set buffer_pool.num_frames=67108864
grep -Eq "exceed the .* MiB of (MemTotal|the memory cgroup)" <<<"$ERR" || fail "explicit pool past the machine: $ERR"
expect_exit 0 ctl knobs set memory.budget_bytes=512MiB
pass "a budget above the machine sizes the pool by the machine ($c frames) and does not admit a larger one"
expect_exit 1 ctl evict --fraction 1.5
grep -q "INVALID_ARGUMENT: fraction = 1.5 is out of range" <<<"$ERR" || fail "evict range: $ERR"
expect_exit 0 ctl --output json evict --fraction 0.5
grep -q '"action": "evict_buffer_pool"' <<<"$OUT" || fail "evict: $OUT"
pass "evict validates its fraction and reports pages evicted"

/usr/bin/python3 - "$ADDR" <<'PY' || fail "unhosted emergency actions"
import sys, grpc
ch = grpc.insecure_channel(sys.argv[1])
for m in ["ClearPlanCache", "KillOrphanedTransactions", "KillLongRunningQueries", "EvictBufferPool",
          "SetAdmission", "TriggerResponse"]:
    call = ch.unary_unary("/rustymem.v1.EmergencyService/" + m, request_serializer=lambda b: b,
                          response_deserializer=lambda b: b)
    try:
        call(b"", timeout=5)
    except grpc.RpcError as e:
        if e.code() == grpc.StatusCode.UNIMPLEMENTED:
            assert m in e.details(), e.details()
            continue
        if e.code() == grpc.StatusCode.INVALID_ARGUMENT:
            continue  # hosted, and an empty request is out of range
        raise
PY
pass "every other emergency action answers (an empty request is rejected with INVALID_ARGUMENT where a field is required)"
stop_agent
echo "test_emergency: all passed"
