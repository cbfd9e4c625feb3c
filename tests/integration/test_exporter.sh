#!/usr/bin/env bash
# rustymem-exporter against a real rustymemd and a real Prometheus server:
# promtool-clean /metrics, Prometheus scrapes it, the seed's REST paths as
# JSON, /healthz and /readyz, bad requests, the agent stopped and restarted,
# bearer tokens. Needs curl, /usr/bin/python3 and the Debian package
# "prometheus" (prometheus + promtool).
source "$(dirname "$0")/lib.sh"
EXPORTER="$RM_BUILD_DIR/agents/exporter/rustymem-exporter"
PROMETHEUS=$(command -v prometheus || true)
PROMTOOL=$(command -v promtool || true)
[ -n "$PROMETHEUS" ] && [ -n "$PROMTOOL" ] || fail "prometheus and promtool are needed: apt-get install prometheus"
EXP_PID=""
PROM_PID=""

exp_cleanup() {
  for pid in "$EXP_PID" "$PROM_PID"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  cleanup
}
trap exp_cleanup EXIT

# start_exporter AGENT_ADDR [extra flags…] — sets EXP_PID and HTTP (base URL)
start_exporter() {
  local agent=$1; shift
  rm -f "$TMP/exp.port"
  "$EXPORTER" --agent "$agent" --listen 127.0.0.1:0 --port-file "$TMP/exp.port" --timeout 1000 "$@" \
    >"$TMP/exporter.log" 2>&1 &
  EXP_PID=$!
  for _ in $(seq 1 200); do
    [ -s "$TMP/exp.port" ] && break
    kill -0 "$EXP_PID" 2>/dev/null || { cat "$TMP/exporter.log" >&2; fail "rustymem-exporter exited at start"; }
    sleep 0.05
  done
  [ -s "$TMP/exp.port" ] || fail "rustymem-exporter did not report its port"
  HTTP="http://127.0.0.1:$(cat "$TMP/exp.port")"
}

stop_exporter() {
  kill -TERM "$EXP_PID"
  local rc=0
  wait "$EXP_PID" || rc=$?
  EXP_PID=""
  [ "$rc" -eq 0 ] || fail "rustymem-exporter exited with $rc after SIGTERM"
}

# get PATH — body in $TMP/body, status in $CODE, Content-Type in $CTYPE
get() {
  local out
  out=$(curl -s -o "$TMP/body" -w '%{http_code} %{content_type}' "$@") || fail "curl $* failed"
  CODE=${out%% *}
  CTYPE=${out#* }
}

# lint FILE — promtool must print nothing and exit 0
lint() {
  local rc=0 msg
  msg=$("$PROMTOOL" check metrics <"$1" 2>&1) || rc=$?
  [ "$rc" -eq 0 ] && [ -z "$msg" ] || { cat "$1" >&2; fail "promtool check metrics: rc=$rc: $msg"; }
}

# ---- flags -------------------------------------------------------------------
expect_exit 0 "$EXPORTER" --help
for flag in --agent --listen --port-file --timeout --token --token-file --tls-ca --tls-cert --tls-key \
            --tls-server-name --verbose --version --help; do
  grep -q -- "$flag" <<<"$OUT" || fail "--help does not list $flag"
done
expect_exit 2 "$EXPORTER" --bogus
grep -q "unknown option --bogus" <<<"$ERR" || fail "unclear: $ERR"
expect_exit 2 "$EXPORTER" --timeout 0
grep -q -- "--timeout 0: expected milliseconds in 1..60000" <<<"$ERR" || fail "unclear: $ERR"
expect_exit 2 "$EXPORTER" --listen nonsense
grep -q -- "--listen nonsense: expected HOST:PORT" <<<"$ERR" || fail "unclear: $ERR"
[ "$(wc -l <<<"$ERR")" -eq 1 ] || fail "usage error is more than one line: $ERR"
expect_exit 2 "$EXPORTER" --agent nonsense   # exited 1 (a start-up error) where the docs say 2
grep -q -- "--agent nonsense: expected HOST:PORT" <<<"$ERR" || fail "unclear: $ERR"
expect_exit 2 "$EXPORTER" --token a --token-file b
expect_exit 1 "$EXPORTER" --token-file "$TMP/no-such-file"
grep -q "no-such-file" <<<"$ERR" || fail "unclear: $ERR"
pass "flags: --help lists them all, usage errors exit 2 with one line, unreadable token file exits 1"

# ---- agent up ------------------------------------------------------------------
start_agent
AGENT_PORT=$(cat "$TMP/port")
start_exporter "$ADDR"

get "$HTTP/metrics"
[ "$CODE" = 200 ] || fail "/metrics answered $CODE"
[[ "$CTYPE" == "text/plain; version=0.0.4"* ]] || fail "/metrics Content-Type: $CTYPE"
cp "$TMP/body" "$TMP/metrics.up"
lint "$TMP/metrics.up"
pass "promtool check metrics reports nothing on /metrics (agent up)"

/usr/bin/python3 - "$TMP/metrics.up" <<'PY' || fail "/metrics content is wrong"
import re, sys
text = open(sys.argv[1]).read()
help_, type_, samples = {}, {}, {}
for line in text.splitlines():
    if line.startswith("# HELP "):
        n = line.split()[2]; assert n not in help_, "HELP twice: " + n; help_[n] = line
    elif line.startswith("# TYPE "):
        _, _, n, t = line.split(); assert n not in type_, "TYPE twice: " + n; type_[n] = t
    elif line:
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$', line)
        assert m, "bad sample line: " + line
        samples.setdefault(m.group(1), []).append((m.group(2) or "", float(m.group(3))))
for n in samples:
    assert n in help_ and n in type_, "no HELP/TYPE for " + n
    assert n.startswith("rustymem_") or n.startswith("process_"), n
# HELP is written for people (ADR 0028): no protobuf path such as
# "MemoryStats.rss_bytes (rustymem.v1.MemoryService/GetMemoryStats)", never just the name
for n, line in help_.items():
    h = line.split(" ", 3)[3]
    assert not re.search(r"rustymem\.v1|[A-Z][A-Za-z]+\.[a-z_]+|\[\]|Service/", h), "protobuf path in HELP: " + line
    assert h != n and len(h) > 15, "HELP says nothing: " + line
    assert (type_[n] == "counter") == n.endswith("_total"), n
def one(n, labels=""):
    v = [x for l, x in samples.get(n, []) if l == labels]
    assert len(v) == 1, (n, labels, samples.get(n)); return v[0]
assert one("rustymem_up") == 1
assert one("rustymem_memory_rss_bytes") > 0
assert one("rustymem_memory_budget_bytes") > 0
# the agent's process metrics, and renamed families served under the old name for one release
assert one("rustymem_agent_process_resident_memory_bytes") == one("rustymem_memory_rss_bytes")
assert one("rustymem_agent_process_virtual_memory_bytes") > 0
assert one("rustymem_agent_process_start_time_seconds") > 1.6e9
assert help_["rustymem_memory_rss_bytes"].split(" ", 3)[3].startswith("Deprecated: renamed to "
                                                                      "rustymem_agent_process_resident_memory_bytes")
# the exporter's own process metrics, as every Prometheus client library has them
assert one("process_cpu_seconds_total") >= 0 and one("process_resident_memory_bytes") > 0
assert one("process_open_fds") > 3 and one("process_max_fds") >= one("process_open_fds")
assert one("process_start_time_seconds") > 1.6e9
assert 0 < one("rustymem_memory_usage_ratio") < 1
assert one("rustymem_scrape_rpc_up", '{rpc="GetMemoryStats"}') == 1
assert one("rustymem_scrape_rpc_up", '{rpc="ListKnobs"}') == 1
assert one("rustymem_knob_value", '{knob="pressure.warning_threshold"}') == 0.7
assert one("rustymem_knob_value", '{knob="plan_cache.max_bytes"}') == 100 * 2**20
assert one("rustymem_exporter_grpc_calls_total", '{rpc="GetMemoryStats",code="OK"}') >= 1
assert "rustymem_scrape_duration_seconds" in samples and "rustymem_exporter_build_info" in samples
# every scraped RPC reports whether it answered; one that answers contributes its family
fam = {"GetSlabStats": "rustymem_slab_", "GetArenaStats": "rustymem_arena_",
       "GetBufferPoolStats": "rustymem_buffer_pool_", "GetLargeObjectStats": "rustymem_large_object_",
       "GetForecast": "rustymem_forecast_", "ListAlerts": "rustymem_alerts_active",
       "GetFragmentationStats": "rustymem_fragmentation_"}
for rpc, prefix in fam.items():
    up = one("rustymem_scrape_rpc_up", '{rpc="%s"}' % rpc)
    present = any(n.startswith(prefix) for n in samples)
    assert present == (up == 1), (rpc, up, present)
print("families:", len(samples), "samples:", sum(len(v) for v in samples.values()))
PY
pass "/metrics: HELP+TYPE for every family, HELP for people (no protobuf path), counters end in _total, up 1, memory and process series, rpc_up matches families"

# ---- gzip when the scraper accepts it ----------------------------------------------
for ae in "gzip" "deflate, gzip;q=0.8" "*"; do
  hdr=$(curl -s -H "Accept-Encoding: $ae" -D - -o "$TMP/metrics.gz" "$HTTP/metrics") || fail "curl failed"
  grep -qi '^Content-Encoding: gzip' <<<"$hdr" || fail "Accept-Encoding: $ae: no Content-Encoding: gzip: $hdr"
  grep -qi '^Vary: Accept-Encoding' <<<"$hdr" || fail "gzip answer without Vary: Accept-Encoding: $hdr"
  gzip -dc <"$TMP/metrics.gz" >"$TMP/metrics.unz" || fail "Accept-Encoding: $ae: the body is not gzip"
  lint "$TMP/metrics.unz"
done
plain=$(stat -c %s "$TMP/metrics.up"); packed=$(stat -c %s "$TMP/metrics.gz")
[ "$packed" -lt $((plain / 3)) ] || fail "gzip body $packed bytes is not much smaller than $plain"
for ae in "" "identity" "gzip;q=0" "br"; do
  hdr=$(curl -s ${ae:+-H "Accept-Encoding: $ae"} -D - -o "$TMP/metrics.plain" "$HTTP/metrics") || fail "curl failed"
  ! grep -qi '^Content-Encoding' <<<"$hdr" || fail "Accept-Encoding '$ae' got a compressed answer: $hdr"
  lint "$TMP/metrics.plain"
done
pass "/metrics gzip: Content-Encoding gzip for gzip, gzip;q>0 and *, $plain -> $packed bytes, promtool clean; plain for none, identity, gzip;q=0, br"

# ---- a real Prometheus scrapes the exporter ----------------------------------------
start_prometheus <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: rustymem
    static_configs:
      - targets: ['127.0.0.1:$(cat "$TMP/exp.port")']
EOF
wait_prom 'up{job="rustymem"}' 1 45
wait_prom 'rustymem_up' 1 10
wait_prom 'count(rustymem_agent_process_resident_memory_bytes > 0)' 1 10
wait_prom 'count(rustymem_knob_value{knob="pressure.critical_threshold"} == 0.9)' 1 10
pass "a real Prometheus ($PROM_PORT) scrapes the exporter: up 1, rustymem_up 1, rustymem_agent_process_resident_memory_bytes present"

# ---- REST ----------------------------------------------------------------------
get "$HTTP/api/v1/stats/memory"
[ "$CODE" = 200 ] || fail "/api/v1/stats/memory answered $CODE: $(cat "$TMP/body")"
[ "$CTYPE" = "application/json" ] || fail "Content-Type $CTYPE"
/usr/bin/python3 - "$TMP/body" <<'PY' || fail "/api/v1/stats/memory JSON is wrong"
import json, sys
d = json.load(open(sys.argv[1]))
for k, t in {"total_memory_bytes": int, "used_memory_bytes": int, "available_memory_bytes": int,
             "total_memory_mb": float, "used_memory_mb": float, "available_memory_mb": float,
             "usage_pct": (int, float), "budget_source": str, "node_name": str, "components": list,
             "details": dict}.items():
    assert isinstance(d[k], t), (k, d.get(k))
assert d["used_memory_bytes"] > 0 and d["total_memory_bytes"] >= d["used_memory_bytes"]
assert d["available_memory_bytes"] == d["total_memory_bytes"] - d["used_memory_bytes"]
assert d["details"]["rss_bytes"] > 0
for c in d["components"]:
    for k in ("component", "memory_mb", "percentage", "fragmentation"):
        assert k in c, (k, c)
mbs = [c["memory_mb"] for c in d["components"]]
assert mbs == sorted(mbs, reverse=True), "components not ordered by memory_mb"
assert d["fragmentation"] is None or d["fragmentation"]["overall_status"] in ("Good", "Fair", "Poor")
PY
pass "/api/v1/stats/memory: JSON with total/used/available memory and the component table"

# forecast and buffer pool: 200 with the seed's fields once the agent has them, 503 JSON before
for path in /api/v1/stats/memory/forecast /api/v1/stats/buffer_pool; do
  get "$HTTP$path"
  [ "$CTYPE" = "application/json" ] || fail "$path Content-Type $CTYPE"
  /usr/bin/python3 - "$TMP/body" "$CODE" "$path" <<'PY' || fail "$path answered $CODE: $(cat "$TMP/body")"
import json, sys
d, code, path = json.load(open(sys.argv[1])), int(sys.argv[2]), sys.argv[3]
if code == 503:
    assert d["status"] == 503 and d["grpc_code"] == "UNIMPLEMENTED", d
    assert "not available" in d["error"], d
    assert ("forecast" in d["error"]) == path.endswith("forecast"), d
elif path.endswith("forecast"):
    assert code == 200
    for k in ("used_bytes", "budget_bytes", "current_level", "current_level_name", "horizons"):
        assert k in d, k
    for h in d["horizons"]:
        assert {"horizon_seconds", "predicted_usage_ratio", "confidence"} <= h.keys(), h
else:
    assert code == 200
    for k, t in {"total_frames": int, "used_frames": int, "utilization_pct": (int, float),
                 "hit_ratio": (int, float)}.items():
        assert isinstance(d[k], t), (k, d)
    assert 0 <= d["utilization_pct"] <= 100
PY
done
pass "/api/v1/stats/memory/forecast and /api/v1/stats/buffer_pool: seed fields, or 503 JSON 'not available'"

get "$HTTP/healthz"; [ "$CODE" = 200 ] || fail "/healthz $CODE"
get "$HTTP/readyz"; [ "$CODE" = 200 ] || fail "/readyz $CODE: $(cat "$TMP/body")"
grep -q '"SERVING"' "$TMP/body" || fail "/readyz body: $(cat "$TMP/body")"
pass "/healthz 200, /readyz 200 with the agent SERVING"

# ---- bad requests ----------------------------------------------------------------
get -X POST --data 'a=1' "$HTTP/metrics"
[ "$CODE" = 405 ] || fail "POST /metrics answered $CODE"
grep -q '"error"' "$TMP/body" || fail "405 without JSON error"
curl -s -o /dev/null -D "$TMP/hdr" -X DELETE "$HTTP/api/v1/stats/memory"
grep -qi '^Allow: GET, HEAD' "$TMP/hdr" || fail "405 without Allow header: $(cat "$TMP/hdr")"
head -c 60000 /dev/zero >"$TMP/body60k"
get -X PUT --data-binary @"$TMP/body60k" "$HTTP/healthz"
[ "$CODE" = 405 ] || fail "PUT with a 60 kB body answered $CODE"
head -c 200000 /dev/zero >"$TMP/body200k"
get -X PUT --data-binary @"$TMP/body200k" "$HTTP/healthz"
[ "$CODE" = 413 ] && grep -q '"status": *413' "$TMP/body" || fail "PUT with a 200 kB body answered $CODE: $(cat "$TMP/body")"
get "$HTTP/no/such/path"
[ "$CODE" = 404 ] && [ "$CTYPE" = "application/json" ] || fail "unknown path: $CODE $CTYPE"
/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["status"]==404 and d["error"]' "$TMP/body" ||
  fail "404 body: $(cat "$TMP/body")"
get "$HTTP/metrics?collect%5B%5D=x&debug=%ZZ&&="
[ "$CODE" = 200 ] && grep -q '^rustymem_up 1' "$TMP/body" || fail "query string broke /metrics: $CODE"
get -I "$HTTP/metrics"
[ "$CODE" = 200 ] || fail "HEAD /metrics $CODE"
/usr/bin/python3 - "$(cat "$TMP/exp.port")" <<'PY' || fail "raw-socket requests"
import http.client, socket, sys
port = int(sys.argv[1])
def raw(data):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(data)
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b: break
            out += b
            if b"\r\n\r\n" in out and not out.startswith(b"HTTP/1.1 200"): break
    except socket.timeout:
        pass
    s.close()
    return out
r = raw(b"\x00\x01\x02garbage \xff\xfe\r\n\r\n")
assert r == b"" or r.startswith(b"HTTP/1.1 400"), r[:80]
r = raw(b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
assert r == b"" or r[:12] in (b"HTTP/1.1 414", b"HTTP/1.1 431", b"HTTP/1.1 400"), r[:80]
r = raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
# keep-alive: three requests on one connection
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
socks = set()
for path in ("/healthz", "/metrics", "/api/v1/stats/memory"):
    c.request("GET", path)
    resp = resp_ = c.getresponse()
    resp.read()
    assert resp.status == 200, (path, resp.status)
    socks.add(id(c.sock))
    assert c.sock is not None, "server closed the connection after " + path
assert len(socks) == 1, "connection not reused"
c.close()
PY
get "$HTTP/healthz"; [ "$CODE" = 200 ] || fail "exporter stopped serving after bad requests"
kill -0 "$EXP_PID" || fail "exporter died"
pass "POST/PUT/DELETE 405 with Allow, a body over 64 KiB 413, unknown path 404 JSON, query strings ignored, garbage and huge URLs refused, keep-alive works, still serving"

# ---- agent stopped ------------------------------------------------------------------
stop_agent
get "$HTTP/metrics"
[ "$CODE" = 200 ] || fail "/metrics with the agent down answered $CODE"
grep -q '^rustymem_up 0$' "$TMP/body" || fail "no 'rustymem_up 0': $(head -5 "$TMP/body")"
grep -q '^rustymem_scrape_rpc_up{rpc="GetMemoryStats"} 0$' "$TMP/body" || fail "rpc_up not 0"
grep -q '^rustymem_memory_' "$TMP/body" && fail "memory series while the agent is down"
cp "$TMP/body" "$TMP/metrics.down"
lint "$TMP/metrics.down"
for path in /api/v1/stats/memory /api/v1/stats/memory/forecast /api/v1/stats/buffer_pool; do
  get "$HTTP$path"
  [ "$CODE" = 503 ] && [ "$CTYPE" = "application/json" ] || fail "$path with the agent down: $CODE $CTYPE"
  /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["status"]==503 and "unavailable" in d["error"], d' \
    "$TMP/body" || fail "$path body: $(cat "$TMP/body")"
done
get "$HTTP/readyz"; [ "$CODE" = 503 ] || fail "/readyz with the agent down: $CODE"
get "$HTTP/healthz"; [ "$CODE" = 200 ] || fail "/healthz with the agent down: $CODE"
wait_prom 'rustymem_up' 0 15
pass "agent stopped: /metrics 200 with rustymem_up 0 (promtool clean, Prometheus sees 0), REST 503 JSON, readyz 503, healthz 200"

# ---- agent back on the same port: seen at the next scrape, not after gRPC's backoff ----
"$RUSTYMEMD" --listen "127.0.0.1:$AGENT_PORT" --data-dir "$TMP/data" >"$TMP/agent2.log" 2>&1 &
AGENT_PID=$!
ok=""
for _ in $(seq 1 40); do
  get "$HTTP/metrics"
  grep -q '^rustymem_up 1$' "$TMP/body" && { ok=1; break; }
  sleep 0.25
done
[ -n "$ok" ] || { cat "$TMP/agent2.log" >&2; fail "exporter did not see the restarted agent within 10 s"; }
wait_prom 'rustymem_up' 1 15
pass "agent restarted: rustymem_up 1 again within seconds"
kill -TERM "$PROM_PID"; wait "$PROM_PID" || true; PROM_PID=""
stop_exporter
stop_agent
pass "exporter and Prometheus stop on SIGTERM (exporter exit 0)"

# ---- bearer tokens -----------------------------------------------------------------
printf 'token reader exporter-reader-token-0123456789 dashboards\n' >"$TMP/auth"
start_agent --auth-file "$TMP/auth"
start_exporter "$ADDR"
get "$HTTP/metrics"
grep -q '^rustymem_up 0$' "$TMP/body" || fail "rustymem_up not 0 without a token"
grep -q 'rustymem_exporter_grpc_calls_total{rpc="GetMemoryStats",code="UNAUTHENTICATED"}' "$TMP/body" ||
  fail "UNAUTHENTICATED not counted"
get "$HTTP/api/v1/stats/memory"
[ "$CODE" = 502 ] && grep -q UNAUTHENTICATED "$TMP/body" || fail "no token: REST $CODE $(cat "$TMP/body")"
stop_exporter
printf 'exporter-reader-token-0123456789\n' >"$TMP/token"
start_exporter "$ADDR" --token-file "$TMP/token"
get "$HTTP/metrics"
grep -q '^rustymem_up 1$' "$TMP/body" || fail "rustymem_up not 1 with a reader token"
get "$HTTP/api/v1/stats/memory"; [ "$CODE" = 200 ] || fail "reader token: REST $CODE"
stop_exporter
stop_agent
pass "bearer token: without it rustymem_up 0 and REST 502 UNAUTHENTICATED; with --token-file up 1"
echo "test_exporter: all passed"
