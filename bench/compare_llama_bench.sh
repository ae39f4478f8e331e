#!/usr/bin/env bash
# Runs llama.cpp's llama-bench and `quantlm bench` alternately on the same files and prints a markdown table of
# pp512 / tg128 tokens/s (medians over every timed run) with the ratio quantlm / llama.cpp.
#
#   LLAMA_CPP_BIN=/tmp/llama.cpp-src/build/bin bench/compare_llama_bench.sh [options]
#
# Options:
#   --types "Q8_0 Q4_0 ..."  also quantize the F32 model with `quantlm quantize` to these presets and bench them
#   --tinyllama              also bench the DRAM-bound TinyLlama-shaped model (F16, ~1.9 GB, made directly in F16;
#                            the --types are quantized from it). Slow: minutes per file.
#   --only-tinyllama         the TinyLlama-shaped model only
#   --rounds N               alternating rounds (default 3): each round runs llama-bench then quantlm bench,
#                            so that machine noise (other jobs) hits both alike
#   --reps N                 timed repetitions per call (default 3; each call also makes one warm-up run)
#   -p N / -n N / -t N       prompt tokens (512), generated tokens (128), threads (2)
# Environment: LLAMA_CPP_BIN (directory holding llama-bench; without it the llama.cpp columns are left empty),
# QUANTLM (default build/src/cli/quantlm), OUT (model files and raw JSON, default out/bench-compare).
# A llama.cpp built with GGML_NATIVE on a CPU with AMX uses its AMX path for Q4_0/Q8_0/K-quant prompts; where that
# crashes (docs/PERFORMANCE.md), point LD_LIBRARY_PATH at a libggml-cpu.so built with GGML_NATIVE=OFF and the AVX-512
# flags set explicitly. A failed llama-bench call leaves its cells empty (—) and is reported on stderr.
# Needs jq. Models are made once and reused (delete OUT to remake them).
set -euo pipefail
cd "$(dirname "$0")/.."
QUANTLM=${QUANTLM:-build/src/cli/quantlm}
OUT=${OUT:-out/bench-compare}
LLAMA_BENCH=""
if [[ -n "${LLAMA_CPP_BIN:-}" && -x "${LLAMA_CPP_BIN}/llama-bench" ]]; then LLAMA_BENCH="${LLAMA_CPP_BIN}/llama-bench"; fi
TYPES=""
L3=1
TINYLLAMA=0
ROUNDS=3
REPS=3
P=512
N=128
T=2
while [[ $# -gt 0 ]]; do
  case "$1" in
    --types) TYPES="$2"; shift 2 ;;
    --tinyllama) TINYLLAMA=1; shift ;;
    --only-tinyllama) TINYLLAMA=1; L3=0; shift ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --reps) REPS="$2"; shift 2 ;;
    -p) P="$2"; shift 2 ;;
    -n) N="$2"; shift 2 ;;
    -t) T="$2"; shift 2 ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "compare_llama_bench.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
command -v jq > /dev/null || { echo "compare_llama_bench.sh: needs jq" >&2; exit 2; }
[[ -x "$QUANTLM" ]] || { echo "compare_llama_bench.sh: no quantlm binary at $QUANTLM (set QUANTLM)" >&2; exit 2; }
mkdir -p "$OUT/json"

load() { cut -d' ' -f1-3 /proc/loadavg; }

# make_model PRESET TYPE -> path of the model file (synth for F32/F16/BF16, else quantized from $BASE_OF_PRESET).
make_model() {
  local preset=$1 type=$2 file="$OUT/$1-$2.gguf"
  if [[ ! -f "$file" ]]; then
    case "$type" in
      F32|F16|BF16) "$QUANTLM" synth "$file" --preset "$preset" --type "$type" > /dev/null ;;
      *) "$QUANTLM" quantize "$(base_model "$preset")" "$file" "$type" > /dev/null ;;
    esac
  fi
  echo "$file"
}
# The file the quantized types of a preset start from: F32 for l3, F16 for tinyllama (F32 would be ~4 GB).
base_model() { if [[ "$1" == tinyllama ]]; then make_model tinyllama F16; else make_model l3 F32; fi; }

# median of the numbers on stdin ("" when none)
median() { jq -s 'sort | if length == 0 then "" elif length % 2 == 1 then .[length / 2 | floor]
  else (.[length / 2 - 1] + .[length / 2]) / 2 end'; }

# bench_file FILE LABEL: the alternating rounds, then one table row.
bench_file() {
  local file=$1 label=$2 tag
  tag=$(basename "$file" .gguf)
  local load_before load_after
  load_before=$(load)
  rm -f "$OUT/json/$tag".*.json "$OUT/json/$tag".*.err
  for ((round = 1; round <= ROUNDS; round++)); do
    if [[ -n "$LLAMA_BENCH" ]]; then
      if ! "$LLAMA_BENCH" -m "$file" -p "$P" -n "$N" -t "$T" -r "$REPS" -o json > "$OUT/json/$tag.llama.$round.json" \
        2> "$OUT/json/$tag.llama.$round.err"; then
        echo "llama-bench failed on $file (exit $?; see $OUT/json/$tag.llama.$round.err)" >&2
        rm -f "$OUT/json/$tag.llama.$round.json"
      fi
    fi
    "$QUANTLM" bench "$file" -p "$P" -n "$N" -t "$T" -r "$REPS" --json > "$OUT/json/$tag.quantlm.$round.json"
  done
  load_after=$(load)
  # every timed run of every round, per test
  local q_pp q_tg l_pp="" l_tg="" mib gbps share
  q_pp=$(jq -s "[.[].tests[] | select(.test == \"pp$P\") | .samples_ts[]] | .[]" "$OUT/json/$tag".quantlm.*.json | median)
  q_tg=$(jq -s "[.[].tests[] | select(.test == \"tg$N\") | .samples_ts[]] | .[]" "$OUT/json/$tag".quantlm.*.json | median)
  if [[ -n "$LLAMA_BENCH" ]] && compgen -G "$OUT/json/$tag.llama.*.json" > /dev/null; then
    l_pp=$(jq -s "[.[][] | select(.n_prompt == $P and .n_gen == 0) | .samples_ts[]] | .[]" "$OUT/json/$tag".llama.*.json | median)
    l_tg=$(jq -s "[.[][] | select(.n_prompt == 0 and .n_gen == $N) | .samples_ts[]] | .[]" "$OUT/json/$tag".llama.*.json | median)
  fi
  local first="$OUT/json/$tag.quantlm.1.json"
  mib=$(jq '.size_bytes / 1048576' "$first")
  # weight GB/s and share at the median tg rate
  gbps=$(jq -n "$(jq '.decode.weight_bytes_per_token' "$first") * $q_tg / 1e9")
  share=$(jq -n "$gbps / $(jq '.decode.read_bandwidth_gbps' "$first") * 100")
  ratio() { if [[ -n "$1" && -n "$2" ]]; then jq -n "$2 / $1" | xargs printf '%.2f'; else printf '—'; fi; }
  num() { if [[ -n "$1" ]]; then printf '%.0f' "$1"; else printf '—'; fi; }
  printf '| %s | %.1f | %s | %s | **%s** | %s | %s | **%s** | %.1f (%.0f%%) | %s |\n' "$label" "$mib" \
    "$(num "$l_pp")" "$(num "$q_pp")" "$(ratio "$l_pp" "$q_pp")" "$(num "$l_tg")" "$(num "$q_tg")" \
    "$(ratio "$l_tg" "$q_tg")" "$gbps" "$share" "$load_before → $load_after"
  kernels[$label]=$(jq -r '[.kernels[].kernel] | join(", ")' "$first")
}

declare -A kernels
llama_commit="(llama-bench not found: set LLAMA_CPP_BIN)"
echo "# llama-bench vs quantlm bench"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "- machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs, $(free -g | awk '/^Mem:/ {print $2}') GiB;" \
  "uptime: $(uptime | sed 's/^ *//')"
echo "- quantlm: $(git rev-parse --short HEAD 2> /dev/null || echo '?')$(git diff --quiet HEAD 2> /dev/null || echo ' + uncommitted changes')," \
  "binary $QUANTLM"
if [[ -n "$LLAMA_BENCH" ]]; then
  llama_commit=$("$LLAMA_BENCH" -m "$(make_model l3 F16)" -p 0 -n 1 -r 1 -o json 2> /dev/null | jq -r '.[0].build_commit')
fi
echo "- llama.cpp: build commit $llama_commit ($LLAMA_BENCH${LD_LIBRARY_PATH:+, LD_LIBRARY_PATH=$LD_LIBRARY_PATH})"
echo "- settings: -p $P -n $N -t $T; $ROUNDS alternating rounds × $REPS timed runs (+1 warm-up per call);" \
  "figures are medians of the $((ROUNDS * REPS)) runs, tokens/s"
echo
echo "| model type | MiB | llama.cpp pp$P | quantlm pp$P | ratio | llama.cpp tg$N | quantlm tg$N | ratio |" \
  "quantlm decode weight GB/s (% of read bw) | load before → after |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
presets=()
if [[ $L3 == 1 ]]; then presets+=(l3); fi
if [[ $TINYLLAMA == 1 ]]; then presets+=(tinyllama); fi
for preset in "${presets[@]}"; do
  floats="F32 F16 BF16"
  if [[ "$preset" == tinyllama ]]; then floats="F16"; fi
  for type in $floats $TYPES; do
    bench_file "$(make_model "$preset" "$type")" "$preset $type"
  done
done
echo
echo "quantlm kernels:"
for label in "${!kernels[@]}"; do echo "- $label: ${kernels[$label]}"; done | sort
