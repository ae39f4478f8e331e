#!/usr/bin/env bash
# Installs dependencies, builds and runs every test. Usage: scripts/test.sh [release|asan] (default release).
# Tests that need ../shared/assets skip cleanly when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-release}"
scripts/setup.sh
scripts/build.sh "$mode"
dir=build; [ "$mode" = asan ] && dir=build-asan
jobs="$(nproc 2>/dev/null || echo 2)"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
ctest --test-dir "$dir" --output-on-failure -j "$jobs"
