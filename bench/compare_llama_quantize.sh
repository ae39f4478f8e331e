#!/usr/bin/env bash
# Runs `quantlm quantize` and llama.cpp's llama-quantize on the same inputs and compares the files: metadata
# (all but quantlm's recipe key), tensor order, types and bytes. Needs a llama.cpp build beside the project:
#   LLAMA_QUANTIZE=/path/to/llama.cpp/build/bin/llama-quantize bench/compare_llama_quantize.sh
# Optional: QUANTLM=build/src/cli/quantlm, ASSETS=../shared/assets, OUT=/tmp/quantize-compare.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${LLAMA_QUANTIZE:?set LLAMA_QUANTIZE to the llama-quantize binary of a llama.cpp build}"
QUANTLM=${QUANTLM:-build/src/cli/quantlm}
ASSETS=${ASSETS:-../shared/assets}
OUT=${OUT:-/tmp/quantize-compare}
mkdir -p "$OUT"

# Compares two GGUF files tensor by tensor (each tensor's bytes with their padding) and their metadata, ignoring
# the recipe key quantlm adds. Prints one line; exits non-zero on a difference.
compare() {
  python3 - "$1" "$2" <<'EOF'
import struct, sys
SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
def read(path):
    b = open(path, 'rb').read()
    pos = 0
    def take(fmt):
        nonlocal pos
        v = struct.unpack_from('<' + fmt, b, pos); pos += struct.calcsize('<' + fmt); return v[0]
    def string():
        nonlocal pos
        n = take('Q'); s = b[pos:pos + n]; pos += n; return s
    def value(t):
        nonlocal pos
        if t == 8: return string()
        if t == 9:
            et, n = take('I'), take('Q')
            return (et, [value(et) for _ in range(n)])
        raw = b[pos:pos + SIZES[t]]; pos += SIZES[t]; return raw
    assert b[:4] == b'GGUF'; pos = 4
    version, nt, nkv = take('I'), take('Q'), take('Q')
    kv, align = [], 32
    for _ in range(nkv):
        k = string(); t = take('I'); v = value(t)
        if k == b'general.alignment': align = struct.unpack('<I', v)[0]
        kv.append((k, t, v))
    infos = []
    for _ in range(nt):
        name = string(); nd = take('I'); ne = [take('Q') for _ in range(nd)]; typ = take('I'); off = take('Q')
        infos.append((name, ne, typ, off))
    data = (pos + align - 1) // align * align
    ends = sorted(o for *_, o in infos)[1:] + [len(b) - data]
    end_of = dict(zip(sorted(o for *_, o in infos), ends))
    tensors = [(n, ne, t, o, b[data + o:data + end_of[o]]) for n, ne, t, o in infos]
    return version, kv, tensors
ours, theirs = read(sys.argv[1]), read(sys.argv[2])
kv = [x for x in ours[1] if x[0] != b'quantlm.quantize.recipe']
problems = []
if ours[0] != theirs[0]: problems.append('version')
if kv != theirs[1]: problems.append('metadata')
if [t[:4] for t in ours[2]] != [t[:4] for t in theirs[2]]: problems.append('tensor infos')
bad = [t[0].decode() for t, u in zip(ours[2], theirs[2]) if t[4] != u[4]]
if bad: problems.append('data of ' + ', '.join(bad[:4]) + (' ...' if len(bad) > 4 else ''))
print('  identical but the recipe key' if not problems else '  DIFFERENT: ' + '; '.join(problems))
sys.exit(1 if problems else 0)
EOF
}

status=0
run() {  # run NAME INPUT TYPE [flags...]
  local name=$1 input=$2 type=$3; shift 3
  echo "$name: $type $*"
  if ! "$LLAMA_QUANTIZE" "$@" "$input" "$OUT/llama-$name-$type.gguf" "$type" > "$OUT/llama-$name-$type.log" 2>&1; then
    echo "  llama-quantize failed: $(grep -m1 -i 'failed\|error' "$OUT/llama-$name-$type.log")"
    return
  fi
  "$QUANTLM" quantize --no-progress "$@" "$input" "$OUT/quantlm-$name-$type.gguf" "$type" > /dev/null
  compare "$OUT/quantlm-$name-$type.gguf" "$OUT/llama-$name-$type.gguf" || status=1
}

zoo=$ASSETS/models/zoo/zoo-F32.gguf
stories=$ASSETS/models/stories260K/stories260K.gguf
# A wider synthetic model exercises the layer-dependent rules (22 blocks, n_gqa 8).
"$QUANTLM" synth "$OUT/synth22.gguf" --dim 256 --ff 768 --layers 22 --heads 32 --kv-heads 4 > /dev/null

presets=(Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 IQ4_NL IQ4_XS Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K TQ1_0
  TQ2_0 F16 BF16)
for t in "${presets[@]}"; do run zoo "$zoo" "$t"; done
for t in "${presets[@]}"; do run synth22 "$OUT/synth22.gguf" "$t"; done
for t in Q4_K_M Q3_K_M Q2_K Q6_K TQ2_0; do run stories "$stories" "$t"; done
# llama.cpp stops on ffn_down's 172 columns under the legacy types unless told to keep it in F16.
for t in Q8_0 Q4_0 IQ4_NL; do run stories "$stories" "$t" --tensor-type ffn_down=f16; done
run zoo-rules "$zoo" Q4_K_M --tensor-type 'blk\.0\.attn_v=q8_0' --tensor-type 'ffn=q5_k' --output-tensor-type q8_0
run zoo-embd "$zoo" Q5_K_M --token-embedding-type q6_k --leave-output-tensor
exit $status
