// Reference quantizers and decoders of the ternary formats TQ1_0 and TQ2_0, byte-compatible with llama.cpp's.
#include "formats/ternary_quants.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstddef>

#include "core/half.h"
#include "formats/rounding.h"

namespace quantlm::formats {
namespace {

constexpr std::size_t kQK = kTernaryBlock;

std::int64_t block_count(std::int64_t n) {
  assert(n % kTernaryBlock == 0);
  return n / kTernaryBlock;
}

// Per-block scale: the largest magnitude maps to +-1.
float block_scale(const float* x) {
  float amax = 0.0f;
  for (std::size_t j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
  return amax;
}

// trit + 1, i.e. 0, 1 or 2 for -1, 0, +1; halves round away from zero like
// llama.cpp's lroundf, which decides values at exactly d / 2.
int trit_code(float x, float id) { return round_half_away(x * id) + 1; }

// `digits` base-3 codes (the first most significant) of values x[0], x[stride], ...
// padded with zero digits to five, scaled to a byte as ceil(t * 256 / 243).
// The ceiling makes digit n recoverable as ((byte * 3^n mod 256) * 3) >> 8.
std::uint8_t pack_trits(const float* x, std::size_t stride, int digits, float id) {
  int t = 0;
  for (int n = 0; n < digits; ++n) t = t * 3 + trit_code(x[static_cast<std::size_t>(n) * stride], id);
  for (int n = digits; n < 5; ++n) t *= 3;
  return static_cast<std::uint8_t>((t * 256 + 242) / 243);
}

// Digit n (0 = most significant) of a TQ1_0 byte, as trit + 1.
int unpack_trit(std::uint8_t byte, std::size_t n) {
  static constexpr std::array<int, 5> kPow3 = {1, 3, 9, 27, 81};
  // The product wraps mod 256 on purpose: that discards the higher digits.
  const int shifted = (byte * kPow3[n]) & 0xFF;
  return (shifted * 3) >> 8;
}

}  // namespace

void quantize_row_tq1_0(const float* x, BlockTQ1_0* y, std::int64_t n) {
  for (std::int64_t i = 0, nb = block_count(n); i < nb; ++i, x += kQK) {
    const float d = block_scale(x);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockTQ1_0& b = y[i];
    b.d = fp32_to_fp16(d);
    for (std::size_t m = 0; m < 32; ++m) b.qs[m] = pack_trits(x + m, 32, 5, id);             // values 0..159
    for (std::size_t m = 0; m < 16; ++m) b.qs[32 + m] = pack_trits(x + 160 + m, 16, 5, id);  // values 160..239
    for (std::size_t j = 0; j < 4; ++j) b.qh[j] = pack_trits(x + 240 + j, 4, 4, id);         // values 240..255
  }
}

void quantize_row_tq2_0(const float* x, BlockTQ2_0* y, std::int64_t n) {
  for (std::int64_t i = 0, nb = block_count(n); i < nb; ++i, x += kQK) {
    const float d = block_scale(x);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockTQ2_0& b = y[i];
    b.d = fp32_to_fp16(d);
    for (std::size_t c = 0; c < 2; ++c) {
      for (std::size_t m = 0; m < 32; ++m) {
        int byte = 0;
        for (std::size_t l = 0; l < 4; ++l) byte |= trit_code(x[128 * c + 32 * l + m], id) << (2 * l);
        b.qs[32 * c + m] = static_cast<std::uint8_t>(byte);
      }
    }
  }
}

void dequantize_row_tq1_0(const BlockTQ1_0* x, float* y, std::int64_t n) {
  for (std::int64_t i = 0, nb = block_count(n); i < nb; ++i, y += kQK) {
    const float d = fp16_to_fp32(x[i].d);
    const BlockTQ1_0& b = x[i];
    for (std::size_t k = 0; k < 5; ++k) {
      for (std::size_t m = 0; m < 32; ++m) y[32 * k + m] = static_cast<float>(unpack_trit(b.qs[m], k) - 1) * d;
      for (std::size_t m = 0; m < 16; ++m)
        y[160 + 16 * k + m] = static_cast<float>(unpack_trit(b.qs[32 + m], k) - 1) * d;
    }
    for (std::size_t k = 0; k < 4; ++k) {
      for (std::size_t j = 0; j < 4; ++j) y[240 + 4 * k + j] = static_cast<float>(unpack_trit(b.qh[j], k) - 1) * d;
    }
  }
}

void dequantize_row_tq2_0(const BlockTQ2_0* x, float* y, std::int64_t n) {
  for (std::int64_t i = 0, nb = block_count(n); i < nb; ++i, y += kQK) {
    const float d = fp16_to_fp32(x[i].d);
    for (std::size_t c = 0; c < 2; ++c) {
      for (std::size_t l = 0; l < 4; ++l) {
        for (std::size_t m = 0; m < 32; ++m) {
          const int code = (x[i].qs[32 * c + m] >> (2 * l)) & 3;
          y[128 * c + 32 * l + m] = static_cast<float>(code - 1) * d;
        }
      }
    }
  }
}

}  // namespace quantlm::formats
