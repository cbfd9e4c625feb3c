#!/usr/bin/env bash
# test_grafana_dashboard.sh — the shipped Grafana dashboard (deploy/grafana/rustymem.json,
# ADR 0028) against a real rustymemd under load, rustymem-exporter and Prometheus on loopback:
#   1. scripts/gen-dashboard.py --check: the JSON and its ConfigMap
#      (grafana_dashboard: "1", in the kustomization) are what the script generates;
#   2. the template variables' label_values() queries find the job and the node;
#   3. every PromQL expression of every panel, with $job, $node and
#      $__rate_interval substituted, parses in Prometheus (instant and range
#      query) and returns data — except targets marked "rustymemEmptyOk" with
#      the reason (legitimately empty while nothing fired), which must still parse;
#   4. no HELP line of the real scrape contains a protobuf path.
# Needs curl, /usr/bin/python3 with PyYAML (Debian python3-yaml) and the Debian package "prometheus".
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
SRC=${RM_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
DASHBOARD="$SRC/deploy/grafana/rustymem.json"
EXPORTER="$RM_BUILD_DIR/agents/exporter/rustymem-exporter"
LOAD="$RM_BUILD_DIR/tools/load/rustymem-load"
PROMETHEUS=$(command -v prometheus || true)
[ -n "$PROMETHEUS" ] || fail "prometheus is needed: apt-get install prometheus"
/usr/bin/python3 -c 'import yaml' 2>/dev/null || fail "PyYAML is needed: apt-get install python3-yaml"
EXP_PID=""
PROM_PID=""
LOAD_PID=""

dash_cleanup() {
  for pid in "$LOAD_PID" "$EXP_PID" "$PROM_PID"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  cleanup
}
trap dash_cleanup EXIT


# ---- 1. generated files agree ----------------------------------------------------------
/usr/bin/python3 "$SRC/scripts/gen-dashboard.py" --check --root "$SRC" ||
  fail "deploy/grafana/rustymem.json or its ConfigMap drifted: run scripts/gen-dashboard.py"
/usr/bin/python3 - "$SRC" <<'PY' || fail "the dashboard ConfigMap is wrong or not in the kustomization"
import json, sys, yaml
src = sys.argv[1]
cm = yaml.safe_load(open(f"{src}/deploy/kubernetes/base/grafana-dashboard.yaml"))
assert cm["kind"] == "ConfigMap" and cm["metadata"]["labels"]["grafana_dashboard"] == "1", cm["metadata"]
assert json.loads(cm["data"]["rustymem.json"]) == json.load(open(f"{src}/deploy/grafana/rustymem.json"))
k = yaml.safe_load(open(f"{src}/deploy/kubernetes/base/kustomization.yaml"))
assert "grafana-dashboard.yaml" in k["resources"], k["resources"]
PY
pass "gen-dashboard.py --check: rustymem.json and the grafana_dashboard ConfigMap (in the kustomization) agree"

# ---- agent under load, exporter, Prometheus ----------------------------------------------
start_agent
"$LOAD" --addr "$ADDR" --profile mixed --threads 2 --sessions 20 --duration 300 >"$TMP/load.log" 2>&1 &
LOAD_PID=$!
rm -f "$TMP/exp.port"
"$EXPORTER" --agent "$ADDR" --listen 127.0.0.1:0 --port-file "$TMP/exp.port" --timeout 2000 \
  >"$TMP/exporter.log" 2>&1 &
EXP_PID=$!
for _ in $(seq 1 200); do
  [ -s "$TMP/exp.port" ] && break
  kill -0 "$EXP_PID" 2>/dev/null || { cat "$TMP/exporter.log" >&2; fail "rustymem-exporter exited at start"; }
  sleep 0.05
done
[ -s "$TMP/exp.port" ] || fail "rustymem-exporter did not report its port"

start_prometheus <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: rustymem
    static_configs:
      - targets: ['127.0.0.1:$(cat "$TMP/exp.port")']
        labels: {node: test-node}
EOF

# Wait (polling) until rate() over a 1m window has samples to work with: at
# least 5 scrapes of the exporter with the agent up.
have=""
for _ in $(seq 1 240); do
  kill -0 "$PROM_PID" 2>/dev/null || { cat "$TMP/prometheus.log" >&2; fail "prometheus exited"; }
  kill -0 "$LOAD_PID" 2>/dev/null || { cat "$TMP/load.log" >&2; fail "rustymem-load stopped"; }
  have=$({ curl -s --get "$PROM/api/v1/query" --data-urlencode 'query=sum_over_time(rustymem_up[1m])' || true; } |
    /usr/bin/python3 -c 'import json,sys
try:
    r = json.load(sys.stdin)["data"]["result"]; print(int(float(r[0]["value"][1])) if r else 0)
except Exception:
    print(0)')
  [ "${have:-0}" -ge 5 ] && break
  sleep 0.25
done
[ "${have:-0}" -ge 5 ] || { tail -20 "$TMP/prometheus.log" >&2; fail "Prometheus has no 5 samples of rustymem_up 1 after 60 s"; }
pass "Prometheus scrapes the exporter of a loaded agent ($have samples of rustymem_up 1 in the last minute)"

# ---- 2 + 3. template variables and every panel expression ---------------------------------
/usr/bin/python3 - "$DASHBOARD" "$PROM" <<'PY' || fail "a dashboard expression fails (see above)"
import json, re, sys, time, urllib.parse, urllib.request
dash = json.load(open(sys.argv[1]))
prom = sys.argv[2]
subst = {"$job": "rustymem", "$node": "test-node", "$__rate_interval": "1m"}

def q(path, **params):
    url = prom + path + "?" + urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        return json.load(e)

def expand(expr):
    for k in sorted(subst, key=len, reverse=True):
        expr = expr.replace(k, subst[k])
    assert "$" not in expr, "unsubstituted variable in " + expr
    return expr

# template variables: label_values(SELECTOR, LABEL) finds our job and node
want = {"job": "rustymem", "node": "test-node"}
names = [v["name"] for v in dash["templating"]["list"]]
assert names == ["datasource", "job", "node"], names
for v in dash["templating"]["list"]:
    if v["type"] != "query":
        continue
    m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", v["query"]["query"])
    assert m, v["query"]
    sel, label = expand(m.group(1)), m.group(2)
    r = q("/api/v1/query", query=sel)
    assert r["status"] == "success", (sel, r)
    values = {s["metric"].get(label) for s in r["data"]["result"]}
    assert want[v["name"]] in values, (v["name"], sel, values)
print("ok - template variables: label_values finds job=rustymem and node=test-node")

failed, checked, empty_ok, titles = [], 0, [], set()
now = time.time()
for p in dash["panels"]:
    for tg in p.get("targets", []):
        expr = expand(tg["expr"])
        checked += 1
        titles.add(p["title"])
        r = q("/api/v1/query", query=expr)
        rr = q("/api/v1/query_range", query=expr, start=now - 60, end=now, step=5)
        if r.get("status") != "success" or rr.get("status") != "success":
            failed.append(f'{p["title"]}: {expr}: {r.get("error") or rr.get("error")}')
            continue
        if not r["data"]["result"]:
            why = tg.get("rustymemEmptyOk")
            if why:
                empty_ok.append(f'{p["title"]}: {expr} (allowed: {why})')
            else:
                failed.append(f'{p["title"]}: {expr}: no data')
for f in failed:
    print("FAIL:", f, file=sys.stderr)
for e in empty_ok:
    print("# empty, marked legitimate:", e)
assert not failed, f"{len(failed)} of {checked} expressions failed"
need = {"Nodes by pressure level", "Time to critical", "Top usage", "Memory by component", "Hit ratio",
        "Evictions and I/O", "Forecast vs actual", "Pressure events", "Responder actions", "Slab classes",
        "Fragmentation"}
assert need <= titles, need - titles
print(f"ok - {checked} expressions of {len(titles)} panels parse (instant and range) and return data "
      f"({len(empty_ok)} marked legitimately empty)")
PY

# ---- 4. HELP for people on the real scrape ---------------------------------------------------
curl -s -H 'Accept-Encoding: gzip' "http://127.0.0.1:$(cat "$TMP/exp.port")/metrics" | gzip -dc >"$TMP/metrics" ||
  fail "no gzip /metrics"
bad=$(grep '^# HELP' "$TMP/metrics" | grep -E 'rustymem\.v1|\b[A-Z][A-Za-z]+\.[a-z_]+|\[\]|Service/' || true)
[ -z "$bad" ] || fail "HELP lines with a protobuf path: $bad"
pass "no HELP line of the real scrape names a protobuf path ($(grep -c '^# HELP' "$TMP/metrics") families)"
