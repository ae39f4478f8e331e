#!/usr/bin/env bash
# The main job on a default that needs no download: build quantlm, write a small random-weight Llama GGUF with
# `quantlm synth`, and describe it with `quantlm info` (later issues replace this with quantize-and-evaluate).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh release
mkdir -p out
./build/src/cli/quantlm synth out/demo-tiny.gguf --seed 1
./build/src/cli/quantlm info out/demo-tiny.gguf
