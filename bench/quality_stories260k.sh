#!/usr/bin/env bash
# The quality proof of issue 4 (docs/QUALITY.md): stories260K quantized by `quantlm quantize`, measured by `quantlm kld`.
#
# Usage: bench/quality_stories260k.sh [BUILD_DIR] [TABLE...]
#   TABLE: search (MSE / imatrix against llama.cpp, whole text), ragged (every tensor quantized, whole text), the seed
#          paper's comparisons (granularity, symmetry, scale, gamma, log2, bits, binary), presets (K / ternary presets),
#          llama (legacy presets, llama.cpp's bytes), llama-files (llama.cpp's own files). Default: all but llama-files.
# Environment: QUANTLM_ASSETS (default ../shared/assets); QUALITY_DIR (default out/quality: files, logits, results);
#   SEED_CHUNKS (default 300): chunks of the text for the seed comparisons (0: the whole text);
#   LLAMA_QUANTIZE (default /tmp/llama.cpp-src/build/bin/llama-quantize): writes llama.cpp's imatrix baselines, skipped
#   when absent.
# Every row of out/quality/results.jsonl records the exact commands; bench/quality_tables.py prints the tables.
# Runs are sequential: each quantize and kld uses every core (-t 2 on the 2-vCPU machine).
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
shift || true
tables=("$@")
[ ${#tables[@]} -eq 0 ] && tables=(search ragged granularity symmetry scale gamma log2 bits binary presets llama)

quantlm="$build/src/cli/quantlm"
assets="${QUANTLM_ASSETS:-../shared/assets}"
model_dir="$assets/models/stories260K"
model="$model_dir/stories260K.gguf"
llama_files="$model_dir/llama.cpp-quantized"
imatrix="$llama_files/imatrix-calib.gguf"
text="$assets/text/tinystories/valid-head.txt"
dir="${QUALITY_DIR:-out/quality}"
seed_chunks="${SEED_CHUNKS:-300}"
llama_quantize="${LLAMA_QUANTIZE:-/tmp/llama.cpp-src/build/bin/llama-quantize}"
threads="${THREADS:-2}"
base="$dir/f32-c256.logits"
results="$dir/results.jsonl"

[ -x "$quantlm" ] || { echo "no $quantlm: build first (scripts/build.sh)" >&2; exit 1; }
[ -f "$text" ] || { echo "no $text: set QUANTLM_ASSETS" >&2; exit 1; }
mkdir -p "$dir/files"

# The F32 base logits of the whole text, once (399 MB); every kld reuses them (--chunks N reads the first N).
if [ ! -f "$base" ]; then
  echo "== F32 base logits -> $base"
  "$quantlm" kld "$model" --save-base "$base" -f "$text" -c 256 -t "$threads"
fi

# measure TABLE LABEL FILE CHUNKS COMMAND: appends one JSON record (kld figures, size, bits per weight, commands).
measure() {
  local table="$1" label="$2" file="$3" chunks="$4" made_by="$5"
  local kld_cmd=("$quantlm" kld "$file" --base-logits "$base" -f "$text" -t "$threads" --json)
  [ "$chunks" != 0 ] && kld_cmd+=(--chunks "$chunks")
  local start kld info
  start=$(date +%s.%N)
  kld="$("${kld_cmd[@]}")"
  info="$("$quantlm" info "$file" --json)"
  python3 - "$table" "$label" "$file" "$chunks" "$made_by" "${kld_cmd[*]}" "$kld" "$info" "$start" >>"$results" <<'PY'
import json, os, sys, time
table, label, path, chunks, made_by, kld_cmd, kld, info, start = sys.argv[1:]
k, i = json.loads(kld), json.loads(info)
by_type = {t: v["tensors"] for t, v in i["by_type"].items()}
# Bits per weight of the matrices stored quantized (every type but F32 / F16 / BF16), scales included.
q = [t for t in i["tensors"] if t["type"] not in ("F32", "F16", "BF16")]
q_bpw = 8 * sum(t["bytes"] for t in q) / max(1, sum(t["elements"] for t in q))
print(json.dumps({
    "table": table, "label": label, "file": path, "chunks": int(chunks), "made_by": made_by, "kld_command": kld_cmd,
    "ppl": k["model_ppl"]["ppl"], "ppl_error": k["model_ppl"]["ppl_error"], "base_ppl": k["base_ppl"]["ppl"],
    "kld": k["kld"], "kld_error": k["kld_error"], "same_top": k["same_top"],
    "bpw": i["totals"]["bits_per_weight"], "quantized_bpw": q_bpw, "tensor_bytes": i["totals"]["tensor_bytes"],
    "file_bytes": os.path.getsize(path), "types": by_type, "seconds": time.time() - float(start)}))
PY
  tail -n 1 "$results" | python3 -c 'import json, sys
r = json.loads(sys.stdin.read())
print("  {:12} {:56} PPL {:.4f}  KLD {:.5f}  top {:.2f}%  {:.3f} bpw  {:.0f} s".format(
    r["table"], r["label"], r["ppl"], r["kld"], 100 * r["same_top"], r["bpw"], r["seconds"]))'
}

# quant TABLE LABEL CHUNKS QUANTIZE-ARGS...: quantize stories260K with the arguments, then measure the file.
quant() {
  local table="$1" label="$2" chunks="$3"
  shift 3
  local name
  name="$(printf '%s' "$table-$label" | tr -c 'A-Za-z0-9_.-' '_')"
  local out="$dir/files/$name.gguf"
  "$quantlm" quantize "$model" "$out" "$@" -t "$threads" --no-progress >"$dir/files/$name.txt"
  measure "$table" "$label" "$out" "$chunks" "quantlm quantize stories260K.gguf OUT $*"
}

# llama.cpp's own file for TYPE (from the assets), or written with its imatrix by llama-quantize when asked.
llama_file() {
  local table="$1" type="$2" chunks="$3" with_imatrix="${4:-}"
  if [ -z "$with_imatrix" ]; then
    measure "$table" "llama.cpp $type" "$llama_files/stories260K-$type.gguf" "$chunks" \
      "llama-quantize --tensor-type ffn_down=f16 stories260K.gguf OUT $type (assets/llama.cpp-quantized)"
    return
  fi
  [ -x "$llama_quantize" ] || { echo "  (no $llama_quantize: llama.cpp $type + imatrix skipped)"; return; }
  local out="$dir/files/llama.cpp-$type-imatrix.gguf"
  "$llama_quantize" --imatrix "$imatrix" --tensor-type ffn_down=f16 "$model" "$out" "$type" 2 >/dev/null 2>&1
  measure "$table" "llama.cpp $type + imatrix" "$out" "$chunks" \
    "llama-quantize --imatrix imatrix-calib.gguf --tensor-type ffn_down=f16 stories260K.gguf OUT $type"
}

# The seed comparisons quantize the 35 linear weights of the blocks; token_embd and output stay F32, as in
# ANCHORS.md's PyTorch table (which used 300 chunks).
linear=(--token-embedding-type F32 --output-tensor-type F32)

for table in "${tables[@]}"; do
  echo "== $table"
  case "$table" in
    llama)  # the legacy presets with their reference quantizers: llama.cpp's bytes (tests/quant/llama_cpp_files_test.cpp)
      for t in Q8_0 Q5_1 Q5_0 Q4_1 Q4_0 IQ4_NL; do quant llama "$t" 0 "$t"; done
      ;;
    llama-files)  # llama.cpp's own files from the assets, same protocol
      for t in F16 BF16 Q8_0 Q5_1 Q5_0 Q4_1 Q4_0 IQ4_NL; do llama_file llama-files "$t" 0; done
      ;;
    search)  # MSE scale search, then with the imatrix, against llama.cpp's imatrix files (its reference files: llama-files)
      for t in Q4_0 Q4_1 Q5_0 Q5_1 IQ4_NL; do
        quant search "$t mse" 0 "$t" --scale-search mse
        quant search "$t mse + imatrix" 0 "$t" --scale-search mse --imatrix "$imatrix"
        llama_file search "$t" 0 imatrix
      done
      ;;
    granularity)  # per tensor, per channel, groups of 128 / 64 / 32; min-max and MSE
      for s in min-max mse; do
        quant granularity "I4 per tensor $s" "$seed_chunks" I4_ROW --tensor-scale --scale-search "$s" "${linear[@]}"
        for f in I4_ROW I4_G128 I4_G64 I4_G32; do
          quant granularity "$f $s" "$seed_chunks" "$f" --scale-search "$s" "${linear[@]}"
        done
      done
      ;;
    symmetry)  # symmetric vs affine (scale + offset) codes, MSE search
      for f in I4_ROW I4_ROWA I4_G32 I4_G32A I2_G32 I2_G32A; do
        quant symmetry "$f mse" "$seed_chunks" "$f" --scale-search mse "${linear[@]}"
      done
      ;;
    scale)  # min-max, MSE, percentile, the paper's s*
      for f in I4_G32 I4_ROW I2_G32; do
        for s in min-max mse "percentile --percentile 99.9" s-star; do
          # shellcheck disable=SC2086
          quant scale "$f $s" "$seed_chunks" "$f" --scale-search $s "${linear[@]}"
        done
      done
      ;;
    gamma)  # none / gamma / least squares, per channel and per tensor, on min-max scales
      for f in I4_G32 I2_G32; do
        quant gamma "$f none" "$seed_chunks" "$f" --scale-search min-max "${linear[@]}"
        for g in gamma ls; do
          quant gamma "$f $g" "$seed_chunks" "$f" --scale-search min-max --gamma "$g" "${linear[@]}"
          quant gamma "$f $g per tensor" "$seed_chunks" "$f" --scale-search min-max --gamma "$g" --gamma-per-tensor \
            "${linear[@]}"
        done
      done
      ;;
    log2)  # log2 (power-of-two levels) vs linear and NF4 at 4 bits, MSE search
      for f in LOG2_4_G32 I4_G32 NF4_G64 I4_G64; do
        quant log2 "$f mse" "$seed_chunks" "$f" --scale-search mse "${linear[@]}"
      done
      ;;
    bits)  # 8 / 5 / 4 / 3 / 2 bits (MSE search); quantlm has no 6- or 5-bit integer format: ggml's Q5_0 stands in
      for f in I8_G32 FP8_G32 I4_G32 I3_G32 I2_G32; do
        quant bits "$f mse" "$seed_chunks" "$f" --scale-search mse "${linear[@]}"
      done
      quant bits "Q5_0 mse (ffn_down I8_G32)" "$seed_chunks" Q5_0 --pure --fallback I8_G32 --scale-search mse "${linear[@]}"
      ;;
    binary)  # binary and ternary: absmean (XNOR-Net, BitNet b1.58), MSE, per group / row / tensor
      quant binary "BIN_G32 absmean" "$seed_chunks" BIN_G32 --scale-search absmean "${linear[@]}"
      quant binary "BIN_ROW absmean" "$seed_chunks" BIN_ROW --scale-search absmean "${linear[@]}"
      quant binary "TERN_G32 absmean" "$seed_chunks" TERN_G32 --scale-search absmean "${linear[@]}"
      quant binary "TERN_G32 mse" "$seed_chunks" TERN_G32 --scale-search mse "${linear[@]}"
      quant binary "TERN_ROW absmean" "$seed_chunks" TERN_ROW --scale-search absmean "${linear[@]}"
      quant binary "TERN per tensor absmean" "$seed_chunks" TERN_ROW --tensor-scale --scale-search absmean "${linear[@]}"
      ;;
    ragged)  # every tensor quantized (ragged ffn_down groups) vs llama.cpp's F16 ffn_down, at the same total size
      quant ragged "Q4_0 mse --fallback quantlm (ffn_down I4_G32)" 0 Q4_0 --scale-search mse --fallback quantlm
      quant ragged "Q5_1 mse, ffn_down I8_G32" 0 Q5_1 --scale-search mse --fallback I8_G32
      quant ragged "Q5_1 mse, ffn_down I8_G32, token_embd + attn_v Q8_0" 0 Q5_1 --scale-search mse --fallback I8_G32 \
        --token-embedding-type Q8_0 --tensor-type attn_v=Q8_0
      ;;
    presets)  # llama.cpp's K / ternary presets: on this model every one falls back to legacy types
      for t in Q6_K Q5_K_M Q4_K_M Q3_K_M Q2_K TQ2_0; do quant presets "$t" 0 "$t"; done
      ;;
    *)
      echo "unknown table '$table'" >&2
      exit 1
      ;;
  esac
done
echo
python3 bench/quality_tables.py "$results"
