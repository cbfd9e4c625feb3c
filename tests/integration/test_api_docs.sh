#!/usr/bin/env bash
# docs/api.md is generated from the .proto comments and must be current.
set -euo pipefail
: "${RM_SOURCE_DIR:?}"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
/usr/bin/python3 "$RM_SOURCE_DIR/scripts/gen-api-docs.py" >"$tmp"
if ! diff -u "$RM_SOURCE_DIR/docs/api.md" "$tmp" >&2; then
  echo "FAIL: docs/api.md is stale: run scripts/gen-api-docs.py > docs/api.md" >&2
  exit 1
fi
grep -q "### service MemoryService" "$tmp"
echo "ok - docs/api.md matches proto/rustymem/v1"
