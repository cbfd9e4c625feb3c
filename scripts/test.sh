#!/usr/bin/env bash
# Build rustymem and run the whole test suite through CTest.
#   scripts/test.sh              RelWithDebInfo build in ./build
#   scripts/test.sh --sanitize   ASan+UBSan build in ./build-asan
#   scripts/test.sh --tsan       ThreadSanitizer build in ./build-tsan, running the
#                                unit tests of the concurrent modules (memcore); tests that
#                                link gRPC are left out: gRPC itself is not built with TSan
# Missing Debian packages are installed first. Exit status is CTest's.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

dir=build
cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
if [ "${1:-}" = "--sanitize" ]; then
  dir=build-asan
  cmake_args+=(-DRM_SANITIZE=address,undefined)
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
fi
ctest_args=()
if [ "${1:-}" = "--tsan" ]; then
  dir=build-tsan
  cmake_args+=(-DRM_SANITIZE=thread)
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
  ctest_args+=(-L unit -E "test_(rpc|exporter|fleet|config)")
fi
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B "$dir" "${cmake_args[@]}"
cmake --build "$dir" -j"$jobs"
cd "$dir"
ctest --output-on-failure -j"$jobs" --timeout 900 "${ctest_args[@]}"
