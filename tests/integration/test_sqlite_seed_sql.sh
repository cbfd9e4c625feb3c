#!/usr/bin/env bash
# Every SQL statement of the seed, run through the sqlite3 CLI under
# LD_PRELOAD=librustymem_sqlite_agent.so with RUSTYMEM_LISTEN (issue 22): each runs
# and returns the seed's columns, and the figures equal the gRPC stats that
# rustymemctl reads from the same process at the same moment (the CLI waits in
# .shell while rustymemctl asks). Adaptations, as SQLite's grammar needs:
# CALL x() -> SELECT x(), and PostgreSQL's `used_frames::float` ->
# CAST(used_frames AS REAL). Needs the sqlite3 CLI (Debian package sqlite3).
source "$(dirname "$0")/lib.sh"
PRELOAD="$RM_BUILD_DIR/integrations/sqlite/librustymem_sqlite_agent.so"
# A sanitizer build of the adapter links libasan/libtsan, whose runtime must come first in
# LD_PRELOAD when the program itself (python3, sqlite3) is not instrumented.
san_rt=$(sanitizer_runtime "$PRELOAD")
PRELOAD="${san_rt:+$san_rt }$PRELOAD"
[ -f "$RM_BUILD_DIR/integrations/sqlite/librustymem_sqlite_agent.so" ] || fail "librustymem_sqlite_agent.so not built (libsqlite3-dev missing?)"
SQLITE3=$(command -v sqlite3 || true)
[ -n "$SQLITE3" ] || fail "the sqlite3 CLI is needed: apt-get install sqlite3"

# rustymemctl from inside the CLI: without the preload, against the CLI's own agent
cat >"$TMP/grpc.sh" <<SH
#!/bin/sh
exec env -u LD_PRELOAD "$RUSTYMEMCTL" --addr "127.0.0.1:\$(cat "$TMP/port")" --output json "\$@"
SH
chmod +x "$TMP/grpc.sh"
G="$TMP/grpc.sh"

cat >"$TMP/seed.sql" <<SQL
CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000)
INSERT INTO t(v) SELECT randomblob(1500) FROM c;
SELECT count(*) FROM t WHERE length(v) > 0;
.headers on
.mode json
.output $TMP/q_bp.json
-- Monitor buffer pool utilization
SELECT
    total_frames,
    used_frames,
    (CAST(used_frames AS REAL) / total_frames) * 100 AS utilization_pct,
    hit_ratio
FROM buffer_pool_stats();
.output stdout
.shell $G stats buffer-pool > $TMP/g_bp.json
.output $TMP/q_mem.json
-- Memory usage by component
SELECT * FROM memory_stats();
.output stdout
.shell $G stats memory > $TMP/g_mem.json
.output $TMP/q_slab.json
-- Slab allocator statistics
SELECT * FROM slab_allocator_stats();
.output stdout
.shell $G stats slab > $TMP/g_slab.json
.output $TMP/q_arena.json
-- Transaction arena statistics
SELECT * FROM transaction_arena_stats();
.output $TMP/q_bp2.json
-- Buffer pool statistics
SELECT * FROM buffer_pool_stats();
.output stdout
.shell $G stats buffer-pool > $TMP/g_bp2.json
.output $TMP/q_large.json
-- Large object allocator statistics
SELECT * FROM large_object_stats();
.output stdout
.shell $G stats large-object > $TMP/g_large.json
.output $TMP/q_comp.json
-- Check component memory usage
SELECT component, memory_mb, percentage
FROM memory_stats()
ORDER BY memory_mb DESC;
.output $TMP/q_plans.json
-- Clear cache: CALL clear_plan_cache();
SELECT clear_plan_cache();
.output $TMP/q_gc.json
-- Force garbage collection
SELECT force_garbage_collection();
.output $TMP/q_orph.json
-- Check for orphaned transactions
SELECT * FROM orphaned_transactions();
.output $TMP/q_kill.json
-- Kill orphaned transactions
SELECT kill_orphaned_transactions();
.output $TMP/q_frag.json
-- Check fragmentation ratio
SELECT
    component,
    fragmentation_ratio,
    CASE
        WHEN fragmentation_ratio < 0.20 THEN 'Good'
        WHEN fragmentation_ratio < 0.35 THEN 'Fair'
        ELSE 'Poor'
    END AS status
FROM fragmentation_stats();
.output stdout
.shell $G stats fragmentation > $TMP/g_frag.json
.output $TMP/q_fc.json
SELECT memory_forecast();
.output stdout
SELECT 'end';
SQL

LD_PRELOAD="$PRELOAD" RUSTYMEM_SQLITE_CACHE_BYTES=2m RUSTYMEM_LISTEN=127.0.0.1:0 RUSTYMEM_PORT_FILE="$TMP/port" \
  "$SQLITE3" -bail "$TMP/seed.db" <"$TMP/seed.sql" >"$TMP/cli.out" 2>"$TMP/cli.err" ||
  { cat "$TMP/cli.out" "$TMP/cli.err" >&2; fail "the sqlite3 CLI failed"; }
grep -q '"end"' "$TMP/cli.out" || { cat "$TMP/cli.out" "$TMP/cli.err" >&2; fail "the script did not run to its end"; }
[ ! -s "$TMP/cli.err" ] || { cat "$TMP/cli.err" >&2; fail "the CLI wrote to stderr"; }
pass "every seed statement ran through the sqlite3 CLI under the preload"

/usr/bin/python3 - "$TMP" <<'PY' || fail "the SQL figures do not match the gRPC stats"
import json, os, sys
T = sys.argv[1]
def q(name):
    p = os.path.join(T, "q_%s.json" % name)
    s = open(p).read().strip()
    return json.loads(s) if s else []
def g(name):
    return json.load(open(os.path.join(T, "g_%s.json" % name)))
def cols(rows, want, name):
    assert rows, "%s returned no rows" % name
    got = list(rows[0].keys())
    assert got[:len(want)] == want, "%s columns %s, expected %s" % (name, got, want)
bad = []
def same(what, a, b, tol=0.0, own=None):
    if own is not None:
        # slab figures: the SQL reading also counts the statement that reads them
        # (its VDBE, cursor and row buffers live in SQLite's allocator, here the
        # slab); the gRPC reading comes after it finished. SQL >= gRPC, by at most `own`.
        ok = 0 <= float(a) - float(b) <= own
    elif isinstance(a, float) or isinstance(b, float):
        ok = abs(float(a) - float(b)) <= tol + 1e-9 * max(abs(float(a)), abs(float(b)))
    else:
        ok = int(a) == int(b)
    print(("ok   " if ok else "DIFF ") + "%s: SQL %s, gRPC %s" % (what, a, b))
    if not ok:
        bad.append(what)

bp = q("bp"); cols(bp, ["total_frames", "used_frames", "utilization_pct", "hit_ratio"], "buffer_pool_stats (seed)")
gb = g("bp")
same("total_frames", bp[0]["total_frames"], gb["total_frames"])
same("used_frames", bp[0]["used_frames"], gb["used_frames"])
same("hit_ratio", bp[0]["hit_ratio"], gb["hit_ratio"], 1e-9)
same("utilization_pct", bp[0]["utilization_pct"], 100.0 * gb["used_frames"] / gb["total_frames"], 1e-9)
assert gb["used_frames"] > 0, "the page cache is empty: nothing compared"

mem = q("mem"); cols(mem, ["component", "memory_mb", "percentage"], "memory_stats")
gm = {c["component"]: c for c in g("mem")["components"]}
for r in mem:
    c = gm[r["component"]]
    own = 32768 if r["component"] == "slab" else None
    same("memory_stats %s used_bytes" % r["component"], r["used_bytes"], c.get("used_bytes", 0), own=own)
    same("memory_stats %s memory_mb" % r["component"], r["memory_mb"], int(c.get("used_bytes", 0)) / 1048576.0,
         1e-9, own=own and own / 1048576.0)
assert {r["component"] for r in mem} == set(gm), "components differ: %s vs %s" % ([r["component"] for r in mem], list(gm))
assert any(r["component"] == "page_cache" and r["used_bytes"] > 0 for r in mem), "no page_cache component"

slab = q("slab"); cols(slab, ["size_class", "object_size", "active_objects"], "slab_allocator_stats")
gs = g("slab")
classes = gs.get("classes") or gs.get("size_classes") or next(v for v in gs.values() if isinstance(v, list))
assert len(classes) == len(slab), "slab classes: SQL %d, gRPC %d" % (len(slab), len(classes))
for r, c in zip(slab, classes):
    same("slab %s object_size" % r["size_class"], r["object_size"], c.get("object_size", c.get("object_size_bytes", 0)))
    same("slab %s active_objects" % r["size_class"], r["active_objects"], c.get("active_objects", 0), own=128)

assert q("arena") == [], "transaction_arena_stats: SQLite has no transaction arenas, expected no rows"
bp2 = q("bp2"); cols(bp2, ["total_frames", "used_frames", "hit_ratio"], "buffer_pool_stats")
same("buffer_pool_stats(*) used_frames", bp2[0]["used_frames"], g("bp2")["used_frames"])

large = q("large"); cols(large, ["threshold_bytes", "live_objects", "used_bytes", "held_bytes"], "large_object_stats")
gl = g("large")
for k in ("threshold_bytes", "live_objects", "used_bytes", "held_bytes"):
    same("large_object_stats %s" % k, large[0][k], gl.get(k, 0))

comp = q("comp"); cols(comp, ["component", "memory_mb", "percentage"], "memory_stats (seed ORDER BY)")
mb = [r["memory_mb"] for r in comp]
assert mb == sorted(mb, reverse=True), "ORDER BY memory_mb DESC not honoured: %s" % mb

plans = q("plans"); cols(plans, ["clear_plan_cache()"], "clear_plan_cache")
gc = q("gc"); cols(gc, ["force_garbage_collection()"], "force_garbage_collection")
assert gc[0]["force_garbage_collection()"] > 0, "force_garbage_collection freed nothing with a full page cache"
assert q("orph") == [], "orphaned_transactions: none expected in the CLI"
kill = q("kill"); cols(kill, ["kill_orphaned_transactions()"], "kill_orphaned_transactions")
assert kill[0]["kill_orphaned_transactions()"] == 0

frag = q("frag"); cols(frag, ["component", "fragmentation_ratio", "status"], "fragmentation_stats (seed CASE)")
gf = {c["component"]: c for c in g("frag")["components"]}
for r in frag:
    c = gf[r["component"]]
    if r["component"] == "slab":   # held is the same; used differs by the statement's own objects (above)
        same("fragmentation slab ratio", r["fragmentation_ratio"], c.get("fragmentation_ratio", 0.0), 0.02)
    else:
        same("fragmentation %s ratio" % r["component"], r["fragmentation_ratio"], c.get("fragmentation_ratio", 0.0),
             1e-9)
    want = "Good" if r["fragmentation_ratio"] < 0.20 else "Fair" if r["fragmentation_ratio"] < 0.35 else "Poor"
    assert r["status"] == want == c["status"], "status %s / %s / %s" % (r["status"], want, c["status"])

fc = json.loads(q("fc")[0]["memory_forecast()"])
assert fc["horizons"] and fc["budget_bytes"] > 0, fc
if bad:
    sys.exit("differences: %s" % bad)
PY
pass "columns as the seed names them; figures equal the gRPC stats of the same process"

# Bad agent settings: one stderr line naming the variable, no agent, SQLite
# (and the SQL surface) work on.
for bad in "RUSTYMEM_SERVER_THREADS=99|RUSTYMEM_SERVER_THREADS" "RUSTYMEM_INSECURE=yes|RUSTYMEM_INSECURE" \
           "RUSTYMEM_LISTEN=0.0.0.0:0|not a loopback address" "RUSTYMEM_LISTEN=127.0.0.1:99999|127.0.0.1:99999"; do
  assign=${bad%%|*}; want=${bad#*|}
  rm -f "$TMP/bad.port"
  got=$(env RUSTYMEM_LISTEN=127.0.0.1:0 "$assign" RUSTYMEM_PORT_FILE="$TMP/bad.port" LD_PRELOAD="$PRELOAD" \
        "$SQLITE3" :memory: "SELECT count(*) >= 0 FROM buffer_pool_stats();" 2>"$TMP/bad.err") ||
    fail "$assign: the CLI failed"
  [ "$got" = 1 ] || fail "$assign: answer '$got'"
  [ "$(wc -l <"$TMP/bad.err")" -eq 1 ] && grep -q "^rustymem-sqlite: embedded agent not started: .*$want" "$TMP/bad.err" ||
    fail "$assign: expected one line naming '$want', got: $(cat "$TMP/bad.err")"
  [ ! -e "$TMP/bad.port" ] || fail "$assign: an agent started"
done
pass "bad agent settings: one line naming the variable, no agent, SQLite works on"
