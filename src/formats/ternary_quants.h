// Ternary formats TQ1_0 and TQ2_0 (weights in {-1, 0, +1} times a block scale): block layouts and typed row codecs.
#pragma once

#include <array>
#include <cstdint>

namespace quantlm::formats {

// Values per block of both ternary formats (ggml's QK_K super-block).
inline constexpr int kTernaryBlock = 256;

// Scales are fp16 bit patterns; packed for the same reason as blocks_legacy.h.

// TQ1_0: five trits per byte, base 3, stored as ceil(t * 256 / 243) so that a
// multiply by 3^n and a shift recover digit n without a division. qs[0..31]
// hold values m + 32n (n = 0..4, n = 0 the most significant digit) of the
// first 160, qs[32..47] values 160 + m + 16n; qh[j] holds values 240 + j + 4n
// (n = 0..3) with a zero fifth digit. 48 + 4 + 2 = 54 bytes per 256: 1.6875 bits per weight.
struct [[gnu::packed]] BlockTQ1_0 {
  std::array<std::uint8_t, 48> qs;
  std::array<std::uint8_t, 4> qh;
  std::uint16_t d;
};
static_assert(sizeof(BlockTQ1_0) == 54);

// TQ2_0: two bits per value holding trit + 1 (0, 1, 2). Byte 32c + m holds
// values 128c + m + 32l in bits 2l..2l+1. 64 + 2 = 66 bytes per 256: 2.0625 bits per weight.
struct [[gnu::packed]] BlockTQ2_0 {
  std::array<std::uint8_t, 64> qs;
  std::uint16_t d;
};
static_assert(sizeof(BlockTQ2_0) == 66);

// Rows of n values, n a multiple of kTernaryBlock; inputs finite. The
// quantizers are llama.cpp's reference ones, byte for byte: d = max |x| of the
// block, trit = round(x / d) with halves away from zero, so a value is nonzero
// only when |x| >= d / 2. That threshold suits weights trained to be ternary
// (BitNet b1.58, TriLM); on ordinary weights most values round to 0.
void quantize_row_tq1_0(const float* x, BlockTQ1_0* y, std::int64_t n);
void quantize_row_tq2_0(const float* x, BlockTQ2_0* y, std::int64_t n);
void dequantize_row_tq1_0(const BlockTQ1_0* x, float* y, std::int64_t n);
void dequantize_row_tq2_0(const BlockTQ2_0* x, float* y, std::int64_t n);

}  // namespace quantlm::formats
