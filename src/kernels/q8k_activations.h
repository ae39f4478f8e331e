// Per-token Q8_K activation packing for the K-quant and ternary integer kernels: 64-byte aligned Q8_K blocks.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "formats/blocks_k.h"
#include "kernels/matmul.h"

namespace quantlm::kernels::detail {

// One Q8_K block of a token's activations (x ≈ d * qs, qs in [-127, 127],
// formats::quantize_block_q8_k's rounding), laid out for the kernels rather
// than for a file: qs first so that a block starting at a multiple of 64 gives
// cache-line-aligned 256- and 512-bit loads, then the sums the kernels fold
// into their corrections. 384 bytes per 256 values; never persisted.
struct alignas(64) Q8KBlockA {
  std::array<std::int8_t, formats::kQK> qs;
  // d * bsums[g] as floats: the min terms of Q2_K/Q4_K/Q5_K are then one
  // 16-lane FMA per block and token against the weights' dmin * min.
  std::array<float, formats::kQK / 16> fbsums;
  std::array<std::int16_t, formats::kQK / 16> bsums;  // sum of each 16 qs, for the offsets of Q3_K, Q6_K, IQ4_XS
  float d;
  std::int32_t sum;  // sum of all 256 qs, for the ternary formats' "code - 1"
};
static_assert(sizeof(Q8KBlockA) == 384);

// Bytes one packed token takes: cols / 256 blocks (cols a multiple of 256).
[[nodiscard]] std::int64_t q8k_token_bytes(std::int64_t cols);

// Quantizes one token (cols floats) into cols / 256 Q8KBlockA at dst (64-byte aligned).
void pack_q8k(const float* x, std::int64_t cols, std::byte* dst);

// Token t's packed blocks.
[[nodiscard]] inline const Q8KBlockA* q8k_token(const MatmulArgs& a, std::int64_t t) {
  return reinterpret_cast<const Q8KBlockA*>(a.packed + t * a.packed_stride);  // NOLINT: bytes the packer wrote
}

}  // namespace quantlm::kernels::detail
