#!/usr/bin/env bash
# Configures and builds quantlm. Usage: scripts/build.sh [release|asan] (default release).
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-release}"
jobs="$(nproc 2>/dev/null || echo 2)"
case "$mode" in
  release) dir=build; flags=(-DCMAKE_BUILD_TYPE=Release) ;;
  asan) dir=build-asan; flags=(-DCMAKE_BUILD_TYPE=Debug -DQUANTLM_SANITIZE=ON -DQUANTLM_BUILD_BENCH=OFF) ;;
  *) echo "usage: $0 [release|asan]" >&2; exit 2 ;;
esac
cmake -S . -B "$dir" "${flags[@]}" >/dev/null
cmake --build "$dir" -j "$jobs"
