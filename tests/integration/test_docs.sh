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
mkdir "$scratch/fixture"
# RM_DOCS_KEEP=1 keeps the scratch directory (block-LINE.log has each block's output)
[ -n "${RM_DOCS_KEEP:-}" ] && echo "scratch: $scratch" || trap 'rm -rf "$scratch"' EXIT

# First the fixture (tests/data/docs-test/fixture.md): the docs test must find
# exactly its five broken cases (a missing flag, output the command does not
# print, an unmarked block that cannot run, an agents file the program refuses:
# a label without '=', a moved path) and pass its others (a documented exit 2,
# a command run until interrupted, a skipped block, a large number in shown
# output).
fx=tests/data/docs-test/fixture.md
rc=0
RM_DOCS_FILES=$fx /usr/bin/python3 "$here/docs_run.py" "$scratch/fixture" >"$scratch/fixture.out" 2>&1 || rc=$?
lines=$(sed -n "s|^   FAIL $fx:\([0-9]*\):.*|\1|p" "$scratch/fixture.out" | sort -un | tr '\n' ' ')
if [ "$rc" -ne 1 ] || [ "$lines" != "9 15 22 33 36 " ] ||
   ! grep -q "^docs test: 7 commands run, 1 skipped" "$scratch/fixture.out"; then
  cat "$scratch/fixture.out"
  echo "FAIL: the docs test misjudged its fixture $fx (exit $rc, failing lines '$lines', want '9 15 22 33 36 ')"
  exit 1
fi
echo "ok - fixture: the docs test fails the five broken cases of $fx and passes the others"
mkdir "$scratch/docs"
/usr/bin/python3 "$here/docs_run.py" "$scratch/docs" &
runner=$!
trap 'kill -TERM $runner 2>/dev/null; wait $runner; exit 143' TERM INT
wait $runner
