#!/usr/bin/env bash
# Build rustymem, start rustymemd with its embedded defaults in the background
# (127.0.0.1:50051, data in ./rustymem-data), and show live statistics.
# and a demo workload (rustymem-load, mixed profile). Both keep running; stop with:
#   kill "$(cat rustymem-data/load.pid)" "$(cat rustymem-data/rustymemd.pid)"
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)"

CTL=build/cli/rustymemctl
mkdir -p rustymem-data
if $CTL --timeout 1000 health >/dev/null 2>&1; then
  echo "rustymemd is already running on 127.0.0.1:50051"
else
  nohup build/agents/node/rustymemd >rustymem-data/rustymemd.log 2>&1 &
  echo $! >rustymem-data/rustymemd.pid
  for _ in $(seq 1 100); do
    $CTL --timeout 500 health >/dev/null 2>&1 && break
    sleep 0.1
  done
  echo "rustymemd started (pid $(cat rustymem-data/rustymemd.pid), log rustymem-data/rustymemd.log)"
fi
$CTL health
# demo workload: a mixed load over SessionService for an hour, in the background; 512 B rows,
# so their values live in the buffer pool (the engine heap) and `stats buffer-pool` moves
if [ ! -s rustymem-data/load.pid ] || ! kill -0 "$(cat rustymem-data/load.pid)" 2>/dev/null; then
  nohup build/tools/load/rustymem-load --addr 127.0.0.1:50051 --profile mixed --sessions 1000 --rate 200 \
    --value-bytes 512 --duration 3600 >rustymem-data/load.log 2>&1 &
  echo $! >rustymem-data/load.pid
  sleep 2
fi
$CTL stats engine
echo
echo "=== rustymemctl stats buffer-pool ==="
$CTL stats buffer-pool
for i in 1 2 3; do
  echo
  echo "=== rustymemctl stats memory ($i/3) ==="
  $CTL stats memory
  [ "$i" -lt 3 ] && sleep 2
done
echo
echo "rustymemd and the demo load keep running: try 'build/cli/rustymemctl --help';"
echo "stop them with: kill \"\$(cat rustymem-data/load.pid)\" \"\$(cat rustymem-data/rustymemd.pid)\""
