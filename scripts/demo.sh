#!/usr/bin/env bash
# The main job on a default that needs no download: build quantlm, then describe, generate from, measure the
# perplexity of, and quantize into several types side by side (size, bits per weight, PPL, KLD) stories260K when
# ../shared/assets is present, otherwise a random-weight Llama that `quantlm synth` writes (its text is noise and its
# perplexity near the vocabulary size: it shows the pipeline, not quality).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh release
q=./build/src/cli/quantlm
mkdir -p out
assets="${QUANTLM_ASSETS:-../shared/assets}"
if [ -f "$assets/models/stories260K/stories260K.gguf" ]; then
  model="$assets/models/stories260K/stories260K.gguf"
  text="$assets/text/tinystories/valid-head.txt"
  echo "demo: using stories260K from $assets"
else
  model=out/demo-tiny.gguf
  "$q" synth "$model" --seed 1
  text=out/demo-text.txt
  for i in $(seq 1 400); do echo "once upon a time there was a little model that could count to $i"; done >"$text"
  echo "demo: ../shared/assets not found; using a random-weight model written by quantlm synth"
fi
"$q" info "$model" | head -n 20
"$q" generate "$model" -p "Once upon a time" -n 48
"$q" perplexity "$model" -f "$text" -c 256 --chunks 100
"$q" compare "$model" -f "$text" -c 256 --chunks 100
