#!/usr/bin/env bash
# Runs clang-tidy 14 (root .clang-tidy) over src/ using the release build's compile_commands.json.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f build/compile_commands.json ] || scripts/build.sh release
mapfile -t files < <(git ls-files -- 'src/*.cpp')
jobs="$(nproc 2>/dev/null || echo 2)"
printf '%s\n' "${files[@]}" | xargs -P "$jobs" -n 4 clang-tidy -p build --quiet --extra-arg=-Wno-unknown-warning-option
echo "lint: ${#files[@]} files clean"
