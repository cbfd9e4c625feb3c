#!/usr/bin/env bash
# get-speedtest1.sh DIR — build SQLite's speedtest1 from Debian's sqlite3 source
# package into DIR (the build tree; cached there) and print the binary's path.
#
# The source package is fetched with `apt-get source sqlite3` through a private
# apt configuration under DIR whose deb-src entries are derived from the
# machine's own apt sources (no mirror is named here; the system's sources are
# not edited). Needs dpkg-dev (dpkg-source) and libsqlite3-dev. speedtest1 is
# built against the system libsqlite3 with one gcc line. Nothing of it is
# committed. Exit 0 and the path on stdout; exit 1 and one line on stderr.
set -euo pipefail
DIR=${1:?usage: get-speedtest1.sh DIR}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
BIN=$DIR/speedtest1
if [[ -x $BIN ]]; then echo "$BIN"; exit 0; fi
die() { echo "get-speedtest1: $*" >&2; exit 1; }
command -v dpkg-source >/dev/null || die "dpkg-source missing (apt-get install dpkg-dev)"
[[ -f /usr/include/sqlite3.h ]] || die "/usr/include/sqlite3.h missing (apt-get install libsqlite3-dev)"

SRC=$(ls -d "$DIR"/src/sqlite3-*/ 2>/dev/null | head -1 || true)
if [[ -z $SRC ]]; then
  APT=$DIR/apt
  rm -rf "$APT"; mkdir -p "$APT/sources.list.d" "$APT/lists/partial" "$APT/cache/archives/partial"
  : > "$APT/sources.list"
  # deb822 files: the same stanzas as deb-src
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    sed -E 's/^Types:.*/Types: deb-src/' "$f" > "$APT/sources.list.d/$(basename "$f")"
  done
  # one-line files: every "deb " line as "deb-src "
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] || continue
    sed -nE 's/^[[:space:]]*deb[[:space:]]+/deb-src /p' "$f" >> "$APT/sources.list"
  done
  OPTS=(-o "Dir::Etc::SourceList=$APT/sources.list" -o "Dir::Etc::SourceParts=$APT/sources.list.d"
        -o "Dir::State::Lists=$APT/lists" -o "Dir::Cache=$APT/cache" -o "Debug::NoLocking=1"
        -o "APT::Sandbox::User=root")
  apt-get "${OPTS[@]}" -qq update >"$DIR/apt-update.log" 2>&1 || die "apt-get update (deb-src) failed: see $DIR/apt-update.log"
  mkdir -p "$DIR/src"
  (cd "$DIR/src" && apt-get "${OPTS[@]}" -qq source sqlite3 >"$DIR/apt-source.log" 2>&1) \
    || die "apt-get source sqlite3 failed: see $DIR/apt-source.log"
  SRC=$(ls -d "$DIR"/src/sqlite3-*/ 2>/dev/null | head -1 || true)
  [[ -n $SRC ]] || die "apt-get source sqlite3 left no sqlite3-*/ directory in $DIR/src"
fi
[[ -f $SRC/test/speedtest1.c ]] || die "no test/speedtest1.c in $SRC"
gcc -O2 -o "$BIN.tmp" "$SRC/test/speedtest1.c" -lsqlite3 -lm 2>"$DIR/gcc.log" || die "gcc failed: see $DIR/gcc.log"
mv "$BIN.tmp" "$BIN"
echo "$BIN"
