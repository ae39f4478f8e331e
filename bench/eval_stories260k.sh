#!/usr/bin/env bash
# Reproduces ANCHORS.md's stories260K table with quantlm: F32 perplexity, then KLD and PPL of llama.cpp's files vs F32.
# Usage: bench/eval_stories260k.sh [BUILD_DIR] [-- extra quantlm options, e.g. --chunks 100]
# Needs ../shared/assets (or $QUANTLM_ASSETS). Writes the F32 base logits (~400 MB) to $TMPDIR once and reuses them.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
shift || true
[ "${1:-}" = "--" ] && shift
extra=("$@")
quantlm="$build/src/cli/quantlm"
assets="${QUANTLM_ASSETS:-../shared/assets}"
model_dir="$assets/models/stories260K"
text="$assets/text/tinystories/valid-head.txt"
base_logits="$(mktemp -d)/stories260K-F32-c256.logits"
trap 'rm -rf "$(dirname "$base_logits")"' EXIT

[ -x "$quantlm" ] || { echo "no $quantlm: build first (scripts/build.sh)" >&2; exit 1; }
[ -f "$text" ] || { echo "no $text: set QUANTLM_ASSETS" >&2; exit 1; }

echo "== quantlm perplexity, F32, -c 256 (ANCHORS.md: 4.8753 ± 0.0235)"
/usr/bin/time -f "%e s wall, %M KiB peak" "$quantlm" perplexity "$model_dir/stories260K.gguf" -f "$text" -c 256 "${extra[@]}"

echo
echo "== saving the F32 base logits while comparing F32 with itself (KLD must be 0)"
/usr/bin/time -f "%e s wall, %M KiB peak" "$quantlm" kld "$model_dir/stories260K.gguf" "$model_dir/stories260K.gguf" \
  -f "$text" -c 256 --save-base "$base_logits" "${extra[@]}"

echo
printf '| file | PPL | KLD vs F32 | same top token | mean Δp | RMS Δp | seconds |\n|---|---|---|---|---|---|---|\n' >"$base_logits.table"
for type in F16 BF16 Q8_0 Q5_1 Q5_0 Q4_1 Q4_0 IQ4_NL; do
  file="$model_dir/llama.cpp-quantized/stories260K-$type.gguf"
  [ -f "$file" ] || continue
  echo "== $type"
  json="$("$quantlm" kld "$file" --base-logits "$base_logits" -f "$text" --json "${extra[@]}")"
  python3 - "$type" "$json" >>"$base_logits.table" <<'PY'
import json, sys
t, r = sys.argv[1], json.loads(sys.argv[2])
print(f"| {t} | {r['model_ppl']['ppl']:.4f} ± {r['model_ppl']['ppl_error']:.4f} | {r['kld']:.4g} ± {r['kld_error']:.2g} "
      f"| {100*r['same_top']:.2f}% | {100*r['delta_p']:.3f}% | {100*r['delta_p_rms']:.3f}% | {r['seconds']:.1f} |")
PY
  tail -n 1 "$base_logits.table"
done
echo
cat "$base_logits.table"
