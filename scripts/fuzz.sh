#!/usr/bin/env bash
# fuzz.sh — build the libFuzzer targets (tests/fuzz, clang + ASan + UBSan) and
# run each for a bounded time on a temporary copy of its seed corpus.
#
#   scripts/fuzz.sh [--seconds N] [--build-dir DIR] [--jobs N] [--keep-corpus DIR] [target...]
#
#   --seconds N      run each target N seconds (default 60)
#   --build-dir DIR  build directory (default build-fuzz)
#   --jobs N         parallel build jobs (default 2)
#   --keep-corpus D  copy each grown working corpus to D/<target>/ afterwards
#                    (the committed corpus under tests/fuzz/corpus is never written)
#   target...        fuzz_rpc fuzz_config ... (default: every tests/fuzz/fuzz_*.c)
#
# Exit status: 0 when every target ran its time without a crash, leak,
# timeout or out-of-memory; 1 otherwise (the crash input's path is printed:
# reproduce with `<build-dir>/tests/fuzz/<target> <path>`); 2 on usage or
# build errors. Prints per target: executions, cov/ft (libFuzzer's final
# coverage: edges, features) and the working corpus size.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
seconds=60
build="$root/build-fuzz"
jobs=2
keep=""
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
    --seconds) seconds=${2:?}; shift 2 ;;
    --build-dir) build=$(realpath -m "${2:?}"); shift 2 ;;
    --jobs) jobs=${2:?}; shift 2 ;;
    --keep-corpus) keep=$(realpath -m "${2:?}"); shift 2 ;;
    -h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
    esac
done
case "$seconds" in '' | *[!0-9]*) echo "fuzz.sh: --seconds needs a whole number" >&2; exit 2 ;; esac
if [ ${#targets[@]} -eq 0 ]; then
    for src in "$root"/tests/fuzz/fuzz_*.c; do
        targets+=("$(basename "$src" .c)")
    done
fi

command -v clang >/dev/null || { echo "fuzz.sh: clang not found (apt-get install clang libclang-rt-dev)" >&2; exit 2; }
echo "== configure and build $build (clang, RM_FUZZ=ON, address,undefined)"
mkdir -p "$build"
CC=clang cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRM_FUZZ=ON \
    -DRM_SANITIZE=address,undefined >"$build/fuzz-configure.log" 2>&1 ||
    { cat "$build/fuzz-configure.log" >&2; exit 2; }
cmake --build "$build" -j"$jobs" --target "${targets[@]}" >"$build/fuzz-build.log" 2>&1 ||
    { tail -50 "$build/fuzz-build.log" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/rm-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$root/tests/fuzz/lsan.supp:print_suppressions=0}"
artifacts="$build/fuzz-artifacts"
mkdir -p "$artifacts"

failed=0
summary=()
for t in "${targets[@]}"; do
    bin="$build/tests/fuzz/$t"
    [ -x "$bin" ] || { echo "fuzz.sh: no such target $t" >&2; exit 2; }
    corpus="$work/$t"
    mkdir -p "$corpus"
    if [ -d "$root/tests/fuzz/corpus/$t" ]; then
        cp -r "$root/tests/fuzz/corpus/$t/." "$corpus/"
    fi
    seeds=$(find "$corpus" -type f | wc -l)
    log="$work/$t.log"
    echo "== $t: ${seconds}s from $seeds seeds"
    rc=0
    # -timeout: one input taking longer is a hang (reported as a crash);
    # -rss_limit_mb: libFuzzer's default 2048; -max_len 4096 (libFuzzer default).
    ( cd "$work" && TMPDIR="$work" "$bin" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$artifacts/$t-" "$corpus" ) >"$log" 2>&1 || rc=$?
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$done_line")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$done_line")
    if [ -z "$cov" ]; then   # crashed: last status line
        last=$(grep -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse|INITED)' "$log" | tail -1 || true)
        cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
        ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    fi
    size=$(find "$corpus" -type f | wc -l)
    line=$(printf '%-22s execs %-9s cov %-6s ft %-7s corpus %s files (from %s)' "$t" "${execs:-?}" \
        "${cov:-?}" "${ft:-?}" "$size" "$seeds")
    if [ "$rc" -ne 0 ]; then
        failed=1
        crash=$(sed -n "s/.*Test unit written to \(.*\)$/\1/p" "$log" | tail -1)
        echo "-- $t FAILED (exit $rc); its report:"
        # from the first sanitizer/libFuzzer/harness error line on, 120 lines at most
        grep -vE '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse)' "$log" |
            awk '/ERROR:|runtime error:|contract violated|^fuzz_[a-z_]+: / {p=1} p' | head -120
        cp "$log" "$artifacts/$t.log"
        line="$line  FAILED: ${crash:-see $artifacts/$t.log}"
        [ -n "$crash" ] && echo "-- reproduce: $bin $crash"
    fi
    echo "$line"
    summary+=("$line")
    if [ -n "$keep" ]; then
        mkdir -p "$keep/$t"
        cp -r "$corpus/." "$keep/$t/"
    fi
done

echo "== summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
exit "$failed"
