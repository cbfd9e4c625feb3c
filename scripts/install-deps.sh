#!/usr/bin/env bash
# Install the Debian 12 packages rustymem needs to build, run and test —
# only the ones that are missing. Needs root (or sudo) when something is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config git
  libgrpc-dev grpc-proto protobuf-c-compiler libprotobuf-c-dev protobuf-compiler libprotobuf-dev
  libjemalloc-dev libnuma-dev libssl-dev libcmocka-dev libjansson-dev libmimalloc-dev
  libinih-dev libmicrohttpd-dev libsystemd-dev zlib1g-dev
  libsqlite3-dev sqlite3 dpkg-dev
  python3 python3-grpcio python3-protobuf python3-grpc-tools python3-yaml curl
  openssl yamllint prometheus systemd valgrind clang libclang-rt-14-dev
  tmux zsh fish   # tests only: rustymemctl top and its bash/zsh/fish completion (test_cli_ux.sh)
  # tests: tests/integration/test_fleet_etcd.sh starts a real etcd (rustymem-fleet --etcd, ADR 0027)
  etcd-server etcd-client
)
# Node.js and npm (manifest validation): any installation will do; Debian's
# packages only when the machine has none.
command -v npm >/dev/null 2>&1 || PACKAGES+=(nodejs npm)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
