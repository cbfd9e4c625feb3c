#!/bin/sh
# runtime-packages.sh BINARY... — print the Debian packages that provide the
# shared libraries the binaries load (one per line, sorted, unique), so the
# runtime image installs exactly what the build links against. Used by
# deploy/container/Containerfile; checked by tests/integration/test_deploy_manifests.sh.
# Exit 1 when a library belongs to no package (it would be missing at run time).
set -eu
[ $# -gt 0 ] || { echo "usage: runtime-packages.sh BINARY..." >&2; exit 2; }
libs=$(ldd "$@" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u)
for lib in $libs; do
  real=$(readlink -f "$lib")
  # dpkg records /usr/lib/... on merged-/usr systems while ldd may say /lib/...
  pkg=$(dpkg-query -S "$real" 2>/dev/null || dpkg-query -S "/usr$real" 2>/dev/null || dpkg-query -S "${real#/usr}" 2>/dev/null) || {
    echo "runtime-packages.sh: $lib belongs to no Debian package" >&2
    exit 1
  }
  echo "${pkg%%:*}"
done | sort -u
