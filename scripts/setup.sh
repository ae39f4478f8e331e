#!/usr/bin/env bash
# Installs quantlm's build dependencies from Debian (idempotent; needs root or sudo).
set -euo pipefail

packages=(
  build-essential cmake          # g++ 12 and the build
  libgtest-dev libgmock-dev      # unit tests
  libbenchmark-dev               # bench/ microbenchmarks
  libfmt-dev                     # formatting of messages and tables
  nlohmann-json3-dev             # --json records
  libcli11-dev                   # command-line parsing and --help
  clang clang-format clang-tidy  # fuzzing (libFuzzer), formatting and lint
  libclang-rt-14-dev             # libFuzzer and sanitizer runtimes for clang
  python3                        # bench/quality_tables.py turns quality runs into tables
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages already installed"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
