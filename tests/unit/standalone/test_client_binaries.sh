#!/bin/bash
# test_client_binaries.sh — the clients carry nothing of the server
# (docs/adr/0019): rustymemctl, rustymem-exporter and rustymem-load define no
# symbol of the gRPC runtime (rm_runtime), of rustymemd's handlers
# (rm_service) or of memcore (librustymem), and do not load libnuma. Also:
# service/common/rm_base.h takes memcore's status codes from the build's copy of status.h.
# Needs RM_BUILD_DIR and RM_SOURCE_DIR (set by CTest).
set -euo pipefail   # hence no "grep -q" or "head" at the end of a pipe: SIGPIPE would fail it
: "${RM_BUILD_DIR:?}" "${RM_SOURCE_DIR:?}"
fail() { echo "FAIL: $*" >&2; exit 1; }

defined() { nm -g --defined-only "$@" 2>/dev/null | awk 'NF == 3 && $2 ~ /[TDBR]/ {print $3}' | sort -u; }

SERVER_SYMS=$(mktemp /tmp/rm-srvsyms-XXXXXX)
trap 'rm -f "$SERVER_SYMS"' EXIT
defined "$RM_BUILD_DIR/service/librm_runtime.a" "$RM_BUILD_DIR/service/librm_service.a" \
        "$RM_BUILD_DIR/memcore/librustymem.a" >"$SERVER_SYMS"
[ "$(wc -l <"$SERVER_SYMS")" -gt 100 ] || fail "could not list the server's and memcore's symbols"
grep -x rm_rpc_decode "$SERVER_SYMS" >/dev/null || fail "rm_rpc_decode not among the runtime's symbols"

for bin in cli/rustymemctl agents/exporter/rustymem-exporter tools/load/rustymem-load; do
  path="$RM_BUILD_DIR/$bin"
  [ -x "$path" ] || fail "$path is not built"
  n_rpc=$(nm "$path" | grep -c ' T rm_rpc_' || true)
  [ "$n_rpc" -eq 0 ] || fail "$bin defines $n_rpc rm_rpc_ symbols"
  syms=$(defined "$path")
  leaked=$(comm -12 <(printf '%s\n' "$syms") "$SERVER_SYMS" | tr '\n' ' ')
  [ -z "$leaked" ] || fail "$bin defines server or memcore symbols: $leaked"
  needed=$(readelf -d "$path" | grep NEEDED || true)
  case "$needed" in *libnuma*) fail "$bin loads libnuma" ;; esac
  # it is a client: it does define the client library
  case $'\n'"$syms"$'\n' in *$'\n'rm_client_unary$'\n'*) ;; *) fail "$bin does not contain rm_client_unary" ;; esac
  echo "ok - $bin: no server or memcore symbols, no libnuma"
done

# rm_base.h gets memcore's status codes from a build-time copy of status.h (one source):
# it declares no enum of its own, and the copy the build made is memcore's file as it is now.
extract() { sed -n '/^typedef enum rm_status {/,/^} rm_status_t;/p' "$1"; }
[ -z "$(extract "$RM_SOURCE_DIR/service/common/rm_base.h")" ] \
  || fail "service/common/rm_base.h lists status codes of its own (they come from memcore's status.h)"
grep -x '#include "rm_status_codes.h".*' "$RM_SOURCE_DIR/service/common/rm_base.h" >/dev/null \
  || fail "service/common/rm_base.h does not include rm_status_codes.h"
copy="$RM_BUILD_DIR/service/common/rm_status_codes.h"
[ -n "$(extract "$copy")" ] || fail "no rm_status enum in $copy"
cmp "$RM_SOURCE_DIR/memcore/include/rustymem/status.h" "$copy" \
  || fail "$copy differs from memcore's status.h (re-run cmake)"
echo "ok - rm_base.h takes memcore's status codes from the build's copy of status.h"
