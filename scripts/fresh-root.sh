#!/usr/bin/env bash
# The clean-machine job (scripts/test.sh --fresh): prove the README's set-up on
# a minimal Debian 12 root, where nothing was installed by hand.
#
#  1. debootstrap --variant=minbase a root of this machine's Debian release. The
#     mirror, suite and components come from this machine's own apt sources
#     (/etc/apt/sources.list, sources.list.d/*.list and deb822 *.sources); the
#     root gets the same Debian entries (SUITE, SUITE-updates, SUITE-security).
#     The bootstrapped root is cached as a tarball in $RM_FRESH_CACHE
#     (/var/cache/rustymem-fresh), keyed by suite, arch, mirror, debootstrap
#     version and ISO week, and the root's /var/cache/apt/archives is that
#     directory's archives/, so no .deb is downloaded twice.
#  2. Copy the checkout in: the tracked files of the working tree (git ls-files),
#     never build directories, to /root/rustymem.
#  3. Everything from here runs in private mount and PID namespaces: the root
#     (a tmpfs when MemAvailable >= 6 GiB, else /var/tmp/rustymem-fresh.*),
#     its /proc, /sys, /dev and apt cache mounts, and every process started in
#     it (a daemon a package starts, the agent) are unmounted/stopped by a trap
#     and in any case end with the namespaces, also when the job is killed.
#     In a chroot, run the set-up lines of README.md's "Building by hand" block
#     up to its first ctest line, as written: scripts/install-deps.sh,
#     configure, build (a bare `-j` becomes -j$RM_FRESH_JOBS, default 2). No
#     tests run in the root; the suite runs outside.
#  4. In a private network namespace (its own loopback, so an agent on this
#     machine's 127.0.0.1:50051 cannot answer for it), start
#     build/agents/node/rustymemd with its defaults, run the README's
#     `rustymemctl health` line until it prints what the README says (SERVING),
#     stop the agent with SIGTERM and require exit status 0.
#
# A failed step prints its name, the command, what is missing (CMake's "Could
# not find …", pkg-config's "No package …", apt's "E: …", a missing header,
# library or command) with the package that provides it on this machine
# (dpkg -S), and the end of its log; exit 1. Logs of the last run stay in
# $RM_FRESH_CACHE/logs/. Without root, without a Debian 12 apt source or
# without namespaces it prints SKIP and the reason and exits 0.
#
# Environment: RM_FRESH_CACHE (cache dir), RM_FRESH_JOBS (build jobs, 2),
# RM_FRESH_KEEP=1 (the root on disk, kept after the run; prints where it is).
set -euo pipefail

JOBS=${RM_FRESH_JOBS:-2}
CACHE=${RM_FRESH_CACHE:-/var/cache/rustymem-fresh}
SRC_IN_ROOT=/root/rustymem
CHROOT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

say() { echo "fresh: $*"; }
skip() { say "SKIP: $*"; exit 0; }
die() { say "FAIL: $*" >&2; exit 1; }

# ---------------------------------------------------------------------------
# What is missing: the file, package, module or command a failed step's log
# names, with the package that has it on this machine.
host_pkg() { # host_pkg DPKG-S-PATTERN… → "pkg1, pkg2" or ""
  { dpkg -S "$@" 2>/dev/null || true; } | sed 's/: .*//; s/:[a-z0-9]*$//' | tr ',' '\n' | sed 's/^ *//' | sort -u |
    paste -sd, - | sed 's/,/, /g'
}
explain() { # explain WHAT DPKG-S-PATTERN… (the first pattern that matches wins)
  local what=$1 pkg="" pat
  shift
  for pat in "$@"; do
    pkg=$(host_pkg "$pat")
    [ -z "$pkg" ] || break
  done
  if [ -n "$pkg" ]; then
    echo "  missing: $what — on this machine it comes from: $pkg (is it in scripts/install-deps.sh?)"
  else
    echo "  missing: $what"
  fi
}
diagnose() { # diagnose LOG
  local log=$1 flat found=0 m
  flat=$(tr '\n' ' ' <"$log" | tr -s ' ')
  # CMake: "Could not find VAR using the following files: a/b.h" (find_path)
  # or "… names: x, y" (find_program, find_library)
  while read -r kind m; do
    [ -n "$m" ] || continue
    found=1
    case $kind in
      files) explain "$m" "/usr/include/$m" "/usr/include/*/$m" "*/$m" ;;
      *) explain "$m (program or library)" "*bin/$m" "*/lib$m.so" ;;
    esac
  done < <(grep -oE "Could not find [A-Za-z0-9_]+ using the following (files|names): [^ ,]+(, [^ ,]+)*" <<<"$flat" |
             sed -E 's/.*following (files|names): /\1 /' | awk '{k=$1; for (i = 2; i <= NF; i++) { sub(/,$/, "", $i); print k, $i }}' |
             sort -u)
  # pkg-config (pkgconf 1.8: "Package 'x', required by 'virtual:world', not found"; older: "No package 'x' found")
  while read -r m; do
    [ -n "$m" ] && { found=1; explain "pkg-config module $m ($m.pc)" "*/pkgconfig/$m.pc"; }
  done < <(grep -oE "(No package '[^']+' found|Package '[^']+', required by '[^']+', not found)" "$log" |
             sed -E "s/^[^']*'([^']+)'.*/\1/" | sort -u)
  while read -r m; do
    [ -n "$m" ] && { found=1; explain "CMake package $m" "*/$m*Config.cmake"; }
  done < <(grep -oE "Could NOT find [A-Za-z0-9_]+" "$log" | awk '{print $4}' | sort -u)
  if grep -qE "No CMAKE_(C|CXX)_COMPILER could be found" "$log"; then
    found=1
    explain "a C compiler (cc)" "/usr/bin/gcc"
  fi
  while read -r m; do
    [ -n "$m" ] && { found=1; explain "command $m" "*bin/$m"; }
  done < <(grep -oE "[A-Za-z0-9_.+-]+: command not found$" "$log" | sed 's/: .*//' | sort -u)
  while read -r m; do
    [ -n "$m" ] && { found=1; explain "header $m" "/usr/include/$m" "*/include/$m"; }
  done < <(grep -oE "fatal error: [^:]+: No such file or directory" "$log" | sed -E 's/fatal error: ([^:]+):.*/\1/' | sort -u)
  while read -r m; do
    [ -n "$m" ] && { found=1; explain "library lib$m" "*/lib$m.so"; }
  done < <(grep -oE "cannot find -l[A-Za-z0-9_+.-]+" "$log" | sed 's/cannot find -l//' | sort -u)
  if grep -qE "^(E|Err): " "$log"; then
    found=1
    grep -E "^(E|Err): " "$log" | sort -u | head -10 | sed 's/^/  apt: /'
  fi
  [ "$found" = 1 ] || echo "  (no missing file or package named in the log)"
}

# ---------------------------------------------------------------------------
# README.md: the set-up lines of "Building by hand" and the health line.
readme_steps() { # prints NAME<TAB>COMMAND per step
  local readme=$1 line cmd name seen=""
  local block
  block=$(awk '/^## /{sec=($0 ~ /^## Building by hand/); inb=0; next}
               sec && !inb && /^```(sh|bash)?$/ {inb=1; next}
               sec && inb && /^```/ {exit}
               sec && inb {print}' "$readme")
  [ -n "$block" ] || die "README.md has no \`\`\`sh block under '## Building by hand'"
  while IFS= read -r line; do
    line=$(sed -E 's/[[:space:]]+#.*$//; s/^[[:space:]]+//; s/[[:space:]]+$//' <<<"$line")
    [ -n "$line" ] || continue
    case $line in *ctest*) break ;; esac # the suite runs outside the root
    while [ -n "$line" ]; do
      cmd=${line%% && *}
      if [ "$cmd" = "$line" ]; then line=""; else line=${line#* && }; fi
      case $cmd in
        scripts/install-deps.sh* | "bash scripts/install-deps.sh"*) name=install-deps ;;
        "cmake -S"*) name=configure ;;
        "cmake --build"*)
          name=build
          cmd=$(sed -E "s/(^| )-j( |$)/\1-j$JOBS\2/; s/(^| )--parallel( |$)/\1--parallel $JOBS\2/" <<<"$cmd")
          ;;
        *) name=${cmd%% *}; name=${name##*/} ;;
      esac
      seen="$seen $name"
      printf '%s\t%s\n' "$name" "$cmd"
    done
  done <<<"$block"
  for need in install-deps configure build; do
    case " $seen " in *" $need "*) ;; *) die "README.md's 'Building by hand' block has no $need line before ctest: the job follows the README and cannot run without it" ;; esac
  done
}
readme_health() { # prints COMMAND<TAB>EXPECTED from the README's health line: a console block's
  # "$ build/cli/rustymemctl health" with its shown output on the next line, or a shell block's
  # "build/cli/rustymemctl health   # SERVING"
  local l cmd expect
  if l=$(grep -m1 -A1 -E '^\$ [^#]*rustymemctl health[[:space:]]*$' "$1"); then
    cmd=$(head -1 <<<"$l" | sed -E 's/^\$[[:space:]]+//; s/[[:space:]]+$//')
    expect=$(sed -n 2p <<<"$l" | sed -E 's/^[[:space:]]+//; s/[[:space:]].*//')
  elif l=$(grep -m1 -E '^[^#]*rustymemctl health[[:space:]]+#' "$1"); then
    cmd=$(sed -E 's/[[:space:]]+#.*//; s/^[[:space:]]+//' <<<"$l")
    expect=$(sed -E 's/.*#[[:space:]]*//; s/[[:space:]].*//' <<<"$l")
  fi
  [ -n "${cmd:-}" ] && [ -n "${expect:-}" ] && [ "${expect#\$}" = "$expect" ] ||
    die "README.md has no 'rustymemctl health' line with its expected output ('\$ build/cli/rustymemctl health' then SERVING, or '… health   # SERVING'): the job checks the agent with it"
  printf '%s\t%s\n' "$cmd" "$expect"
}

# ---------------------------------------------------------------------------
# The README's steps in the root (called inside the namespaces, root mounted).
run_in_root() { # run_in_root COMMAND: as root, in a login-like clean environment
  chroot "$ROOT" /usr/bin/env -i HOME=/root USER=root LOGNAME=root PATH="$CHROOT_PATH" LANG=C.UTF-8 \
    TERM=dumb /bin/bash -c "cd $SRC_IN_ROOT && $1" </dev/null
}
step_failed() { # step_failed WHAT LOG LINES: "FAIL: WHAT", LOG's diagnosis and its last LINES lines on stderr; exit 1
  {
    say "FAIL: $1"
    diagnose "$2"
    echo "  --- last lines of $2 ---"
    tail -n "$3" "$2" | sed 's/^/  | /'
  } >&2
  exit 1
}

run_steps() { # run_steps LOGDIR STEPS-FILE HEALTH-FILE (from readme_steps, readme_health)
  local logs=$1 steps=$2 healthf=$3
  local n=0 total name cmd t0 rc
  local -a names cmds
  while IFS=$'\t' read -r name cmd; do names+=("$name"); cmds+=("$cmd"); done <"$steps"
  total=$((${#names[@]} + 1))
  for i in "${!names[@]}"; do
    n=$((n + 1))
    name=${names[$i]}
    cmd=${cmds[$i]}
    say "step $n/$total $name: $cmd"
    t0=$SECONDS
    rc=0
    # in the background, so that a signal's trap runs at once (wait returns)
    run_in_root "$cmd" >"$logs/$n-$name.log" 2>&1 &
    wait $! || rc=$?
    [ "$rc" -eq 0 ] ||
      step_failed "step $n/$total '$name' (README.md, Building by hand) exited $rc after $((SECONDS - t0)) s: $cmd" \
        "$logs/$n-$name.log" 25
    say "  ok in $((SECONDS - t0)) s"
    if [ "$name" = install-deps ]; then
      # idempotent: a second run finds everything installed and changes nothing
      rc=0
      run_in_root "$cmd" >"$logs/$n-$name-again.log" 2>&1 &
      wait $! || rc=$?
      if [ "$rc" -ne 0 ] || [ -s "$logs/$n-$name-again.log" ]; then
        {
          say "FAIL: step $n/$total '$name' run a second time exited $rc or had something to do:"
          sed 's/^/  | /' "$logs/$n-$name-again.log" | tail -n 10
        } >&2
        exit 1
      fi
      say "  a second run installs nothing"
    fi
  done

  # The agent with its defaults, checked with the README's health line, in a
  # network namespace of its own.
  local health expect
  IFS=$'\t' read -r health expect <"$healthf"
  n=$((n + 1))
  name=agent
  say "step $n/$total agent: build/agents/node/rustymemd (defaults), '$health' → $expect, SIGTERM → exit 0"
  t0=$SECONDS
  cat >"$ROOT/tmp/rustymem-fresh-agent.sh" <<EOF
set -u
build/agents/node/rustymemd >/tmp/rustymemd.log 2>&1 &
pid=\$!
trap 'kill -KILL \$pid 2>/dev/null' EXIT
out="" ok=0
for _ in \$(seq 1 300); do
  out=\$($health 2>&1) && [ "\$out" = "$expect" ] && { ok=1; break; }
  kill -0 \$pid 2>/dev/null || break
  sleep 0.2
done
if [ \$ok -ne 1 ]; then
  if kill -0 \$pid 2>/dev/null; then
    echo "'$health' did not print $expect within 60 s; last answer: \$out"
  else
    wait \$pid; echo "rustymemd exited (status \$?) before '$health' printed $expect; last answer: \$out"
  fi
  echo "--- rustymemd log ---"; tail -n 20 /tmp/rustymemd.log
  exit 1
fi
echo "$health: \$out"
kill -TERM \$pid
for _ in \$(seq 1 300); do kill -0 \$pid 2>/dev/null || break; sleep 0.1; done
if kill -0 \$pid 2>/dev/null; then echo "rustymemd still running 30 s after SIGTERM"; exit 1; fi
wait \$pid; rc=\$?
trap - EXIT
echo "rustymemd stopped, exit status \$rc"
tail -n 3 /tmp/rustymemd.log
[ \$rc -eq 0 ] || { echo "--- rustymemd log ---"; tail -n 20 /tmp/rustymemd.log; exit 1; }
EOF
  rc=0
  unshare --net /bin/sh -c 'ip link set lo up && exec "$@"' sh \
    chroot "$ROOT" /usr/bin/env -i HOME=/root PATH="$CHROOT_PATH" LANG=C.UTF-8 \
    /bin/bash -c "cd $SRC_IN_ROOT && exec bash /tmp/rustymem-fresh-agent.sh" \
    </dev/null >"$logs/$n-$name.log" 2>&1 &
  wait $! || rc=$?
  [ "$rc" -eq 0 ] ||
    step_failed "step $n/$total 'agent' (start rustymemd with its defaults, $health → $expect, stop) after $((SECONDS - t0)) s" \
      "$logs/$n-$name.log" 30
  sed 's/^/  /' "$logs/$n-$name.log"
  say "  ok in $((SECONDS - t0)) s"
  # keep the .deb cache to what the archive still has (not part of the set-up)
  t0=$SECONDS
  run_in_root "apt-get autoclean -q" >"$logs/autoclean.log" 2>&1 || true
  say "apt-get autoclean of the .deb cache: $((SECONDS - t0)) s"
}

# ---------------------------------------------------------------------------
# Checks and the apt sources (on the host, then again in the namespaces).
START=${RM_FRESH_START:-$EPOCHSECONDS}
cd "$(dirname "$0")/.."
REPO=$PWD
[ "$(id -u)" -eq 0 ] || skip "needs root (debootstrap, chroot, mount and network namespaces)"
command -v apt-get >/dev/null && command -v dpkg >/dev/null || skip "not a Debian machine (no apt-get/dpkg)"
for c in unshare chroot mount ip git tar; do
  command -v "$c" >/dev/null || skip "no '$c' on this machine"
done
unshare --mount --pid --fork --kill-child /bin/true 2>/dev/null ||
  skip "cannot create mount and PID namespaces here (unshare --mount --pid failed: a container without CAP_SYS_ADMIN?)"
unshare --net /bin/sh -c 'ip link set lo up' 2>/dev/null ||
  skip "cannot create a network namespace with a loopback interface here"

# Mirror, suite and components from this machine's apt sources.
. /etc/os-release
[ "${ID:-}" = debian ] && [ "${VERSION_ID:-}" = 12 ] ||
  skip "this machine is ${PRETTY_NAME:-not Debian}; the job builds a Debian 12 root from the machine's own Debian 12 apt sources"
CODENAME=${VERSION_CODENAME:?}
apt_entries() { # prints "URI SUITE COMPONENTS…" for every enabled deb entry
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    sed -E 's/#.*//' "$f" | awk '$1 == "deb" { sub(/^deb[ \t]+(\[[^]]*\][ \t]+)?/, ""); if (NF >= 2) print }'
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk 'function flush(  i, j, nu, ns, u, s) {
           if (f["types"] ~ /(^|[ \t])deb([ \t]|$)/ && tolower(f["enabled"]) != "no") {
             nu = split(f["uris"], u); ns = split(f["suites"], s)
             for (i = 1; i <= nu; i++) for (j = 1; j <= ns; j++) print u[i], s[j], f["components"]
           }
           delete f; last = ""
         }
         /^#/ { next }
         /^[ \t]*$/ { flush(); next }
         /^[ \t]/ { if (last != "") f[last] = f[last] " " $0; next }
         { k = tolower($1); sub(/:$/, "", k); v = $0; sub(/^[^:]*:[ \t]*/, "", v); f[k] = v; last = k }
         END { flush() }' "$f"
  done
}
mapfile -t ENTRIES < <(apt_entries | awk -v c="$CODENAME" '$2 == c || index($2, c "-") == 1 || index($2, c "/") == 1')
MIRROR="" COMPONENTS=""
for e in "${ENTRIES[@]}"; do
  read -r uri suite comps <<<"$e"
  if [ "$suite" = "$CODENAME" ]; then MIRROR=$uri COMPONENTS=$comps; break; fi
done
[ -n "$MIRROR" ] || skip "no 'deb URI $CODENAME …' entry in /etc/apt/sources.list or /etc/apt/sources.list.d/ to bootstrap from"
COMPONENTS=${COMPONENTS:-main}
ARCH=$(dpkg --print-architecture)

if [ "${RM_FRESH_IN_NS:-0}" != 1 ]; then
  if ! command -v debootstrap >/dev/null; then
    say "installing debootstrap on this machine"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap >/dev/null 2>&1 ||
      { DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null 2>&1 &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap >/dev/null 2>&1; } ||
      skip "debootstrap is not installed and apt-get cannot install it"
  fi
  mkdir -p "$CACHE/archives"
  exec 9>"$CACHE/lock" # one run per cache at a time; the namespace inherits it
  if ! flock -n 9; then
    say "another clean-machine run holds $CACHE/lock; waiting"
    flock 9
  fi
  # The rest runs in private mount and PID namespaces: every mount made there
  # (the root's tmpfs, /proc, /sys, /dev, the apt cache) and every process
  # started there (the agent, a daemon a package starts) ends with them, also
  # when this job is killed.
  # unshare blocks SIGINT and SIGTERM while it waits: hand them to the
  # namespace's first process (its trap stops everything there and cleans up).
  RM_FRESH_IN_NS=1 RM_FRESH_START=$START unshare --mount --pid --fork --kill-child \
    bash "$REPO/scripts/fresh-root.sh" &
  upid=$!
  trap 'pkill -TERM -P "$upid" 2>/dev/null || true' INT TERM
  rc=0
  while :; do
    wait "$upid" && rc=0 || rc=$?
    kill -0 "$upid" 2>/dev/null || break
  done
  exit "$rc"
fi

# ---------------------------------------------------------------------------
# In the namespaces.
LOGS=$CACHE/logs
rm -rf "$LOGS" && mkdir -p "$LOGS"
# Work directories a killed run left on disk (we hold the lock: none is in use).
for d in /var/tmp/rustymem-fresh.*; do
  [ -d "$d" ] && ! findmnt -rn -o TARGET | grep -q "^$d" && rm -rf --one-file-system "$d"
done
WORK=$(mktemp -d /var/tmp/rustymem-fresh.XXXXXX)
ROOT=$WORK/root
mkdir -p "$ROOT"
# The root in memory when there is room (no disk I/O; nothing to delete), else on disk.
avail_kb=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)
if [ "${RM_FRESH_KEEP:-0}" != 1 ] && [ "${avail_kb:-0}" -ge $((6 * 1024 * 1024)) ]; then
  mount -t tmpfs -o "mode=755,size=$((avail_kb / 2))k" rustymem-fresh "$ROOT"
  WHERE="tmpfs, $((avail_kb / 2 / 1024)) MiB at most"
else
  WHERE="disk, $WORK"
fi
umount_all() {
  local m
  for m in var/cache/apt/archives dev sys proc; do
    if mountpoint -q "$ROOT/$m" 2>/dev/null; then
      umount -R "$ROOT/$m" 2>/dev/null || umount -R -l "$ROOT/$m"
    fi
  done
  if mountpoint -q "$ROOT"; then umount "$ROOT" 2>/dev/null || umount -l "$ROOT"; fi
}
cleanup() {
  local rc=$? t0=$SECONDS
  trap - INT TERM
  # The first process of the PID namespace: stop every other process in it (a
  # step still running, a daemon), so that nothing holds a mount.
  if [ "$$" -eq 1 ] && [ "${RM_FRESH_IN_NS:-0}" = 1 ]; then
    kill -KILL -1 2>/dev/null || true
    wait 2>/dev/null || true
  fi
  if [ "${RM_FRESH_KEEP:-0}" = 1 ]; then
    umount_all
    say "root kept in $ROOT (RM_FRESH_KEEP=1); remove it with: rm -rf --one-file-system $WORK"
  else
    umount_all
    if findmnt -rn -o TARGET | grep -q "^$WORK"; then
      say "something is still mounted under $WORK; not removing it" >&2 # never delete through a mount
      rc=1
    else
      rm -rf --one-file-system "$WORK"
      say "root removed in $((SECONDS - t0)) s"
    fi
  fi
  if [ "$rc" -eq 130 ]; then
    say "stopped by a signal after $((EPOCHSECONDS - START)) s; nothing left running or mounted" >&2
  elif [ "$rc" -eq 0 ]; then
    say "PASS: the README's set-up on a clean Debian 12 minbase root, $((EPOCHSECONDS - START)) s in all"
  else
    say "FAIL after $((EPOCHSECONDS - START)) s (logs in $LOGS)" >&2
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The set-up as README.md writes it (checked before anything is downloaded).
readme_steps "$REPO/README.md" >"$WORK/steps"
readme_health "$REPO/README.md" >"$WORK/health"

KEY="$CODENAME-$ARCH-$(date -u +%G-w%V)-$(printf '%s %s %s' "$MIRROR" "$COMPONENTS" "$(debootstrap --version)" | sha256sum | cut -c1-10)"
TARBALL=$CACHE/minbase-$KEY.tar.zst
t0=$SECONDS
if [ -s "$TARBALL" ]; then
  say "root ($WHERE): $TARBALL (cached minbase $CODENAME/$ARCH from $MIRROR)"
  tar --zstd --numeric-owner -xpf "$TARBALL" -C "$ROOT"
else
  say "root ($WHERE): debootstrap --variant=minbase $CODENAME from $MIRROR ($COMPONENTS), cached as $TARBALL"
  if ! debootstrap --variant=minbase --arch="$ARCH" --components="${COMPONENTS// /,}" \
       --cache-dir="$CACHE/archives" "$CODENAME" "$ROOT" "$MIRROR" >"$LOGS/0-debootstrap.log" 2>&1; then
    {
      say "FAIL: step 0 'debootstrap' (minbase $CODENAME from $MIRROR)"
      grep -E "^(E|W): " "$LOGS/0-debootstrap.log" | head -10 | sed 's/^/  /'
      tail -n 15 "$LOGS/0-debootstrap.log" | sed 's/^/  | /'
    } >&2
    exit 1
  fi
  find "$CACHE" -maxdepth 1 -name 'minbase-*.tar.zst' ! -name "minbase-$KEY.tar.zst" -delete
  tar --zstd --numeric-owner -cpf "$TARBALL.tmp" -C "$ROOT" . && mv "$TARBALL.tmp" "$TARBALL"
fi
say "  ok in $((SECONDS - t0)) s"

# This machine's Debian entries for the root; no daemon starts in a chroot
# (policy-rc.d, as in every Debian build chroot); dpkg without fsync.
{
  for e in "${ENTRIES[@]}"; do echo "deb $e"; done
} >"$ROOT/etc/apt/sources.list"
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
chmod 755 "$ROOT/usr/sbin/policy-rc.d"
echo force-unsafe-io >"$ROOT/etc/dpkg/dpkg.cfg.d/rustymem-fresh-unsafe-io"
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"

# The checkout: tracked files as they are in the working tree.
mkdir -p "$ROOT$SRC_IN_ROOT"
git -C "$REPO" ls-files -z --cached | sort -zu |
  comm -z -23 - <(git -C "$REPO" ls-files -z --deleted | sort -zu) |
  tar -C "$REPO" --null -T - -cf - | tar -C "$ROOT$SRC_IN_ROOT" -xf -
say "checkout: $(git -C "$REPO" ls-files | wc -l) tracked files of $REPO ($(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff --quiet HEAD || echo ', with uncommitted changes')) in $SRC_IN_ROOT"

mount -t proc proc "$ROOT/proc"
mount --rbind /sys "$ROOT/sys"
mount --rbind /dev "$ROOT/dev"
mkdir -p "$ROOT/var/cache/apt/archives"
mount --bind "$CACHE/archives" "$ROOT/var/cache/apt/archives"
run_steps "$LOGS" "$WORK/steps" "$WORK/health"
say "root used $(du -sxm "$ROOT" | cut -f1) MiB"
