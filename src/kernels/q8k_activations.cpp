// Per-token Q8_K activation packing: llama.cpp's Q8_K rounding, stored in the kernels' aligned block layout.
#include "kernels/q8k_activations.h"

#include <cassert>
#include <cstdint>
#include <new>

#include "formats/kquants.h"

namespace quantlm::kernels::detail {

std::int64_t q8k_token_bytes(std::int64_t cols) {
  assert(cols % formats::kQK == 0);
  return cols / formats::kQK * static_cast<std::int64_t>(sizeof(Q8KBlockA));
}

void pack_q8k(const float* x, std::int64_t cols, std::byte* dst) {
  assert(cols % formats::kQK == 0 && reinterpret_cast<std::uintptr_t>(dst) % alignof(Q8KBlockA) == 0);
  for (std::int64_t b = 0; b < cols / formats::kQK; ++b) {
    // The format's own reference quantizer: every kernel level sees the same int8 values.
    const formats::BlockQ8K q = formats::quantize_block_q8_k(x + b * formats::kQK);
    auto* out = new (dst + b * static_cast<std::int64_t>(sizeof(Q8KBlockA))) Q8KBlockA;
    out->qs = q.qs;
    out->bsums = q.bsums;
    out->d = q.d;
    for (std::size_t g = 0; g < q.bsums.size(); ++g) out->fbsums[g] = q.d * static_cast<float>(q.bsums[g]);
    std::int32_t sum = 0;
    for (const std::int16_t s : q.bsums) sum += s;
    out->sum = sum;
  }
}

}  // namespace quantlm::kernels::detail
