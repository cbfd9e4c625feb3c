#!/usr/bin/env bash
# test_docs.sh — every shell command shown in README.md and docs/**/*.md runs
# against the real binaries, each file in private network, mount and PID
# namespaces (loopback only, the documented ports as written, writes kept in a
# scratch directory, everything started killed at the end). Rules and markers:
# tests/integration/docs_extract.py (what is a command) and docs_run.py (how it
# runs). One result line per file; RM_DOCS_ONLY=docs/deploy.md[,README.md]
# runs only those files; RM_DOCS_KEEP_GOING=1 runs a block on after a failing
# command.
set -euo pipefail
: "${RM_BUILD_DIR:?RM_BUILD_DIR must point at the build tree}"
here=$(cd "$(dirname "$0")" && pwd)
export RM_SOURCE_DIR=${RM_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
if [ -n "${RM_SANITIZE:-}" ]; then
  echo "SKIP: the docs are checked in the plain build (RM_SANITIZE=$RM_SANITIZE)"; exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! unshare --mount --net --pid --fork true 2>/dev/null; then
  echo "SKIP: needs root for private network, mount and PID namespaces (unshare)"; exit 0
fi
scratch=$(mktemp -d /var/tmp/rm-docs-XXXXXX)
# RM_DOCS_KEEP=1 keeps the scratch directory (block-LINE.log has each block's output)
[ -n "${RM_DOCS_KEEP:-}" ] && echo "scratch: $scratch" || trap 'rm -rf "$scratch"' EXIT
/usr/bin/python3 "$here/docs_run.py" "$scratch"
