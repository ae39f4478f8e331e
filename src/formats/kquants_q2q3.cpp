// The Q2_K and Q3_K codecs: 16 sub-blocks of 16 weights, 2-bit quants (plus a high bit for Q3_K).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>

#include "core/half.h"
#include "formats/kquants.h"
#include "formats/kquants_impl.h"

namespace quantlm::formats {

using kq::idx;

namespace {

// Two bits of weight w (levels 0..3) go to byte 32*(w / 128) + w % 32 at bit
// position 2*((w / 32) % 4): the layout both types share.
void pack_2bit(const std::array<std::uint8_t, kQK>& levels, std::array<std::uint8_t, kQK / 4>& qs) {
  for (int h = 0; h < 2; ++h) {
    for (int l = 0; l < 32; ++l) {
      const int w = 128 * h + l;
      qs[idx(32 * h + l)] = static_cast<std::uint8_t>(levels[idx(w)] | (levels[idx(w + 32)] << 2) |
                                                      (levels[idx(w + 64)] << 4) | (levels[idx(w + 96)] << 6));
    }
  }
}

[[nodiscard]] unsigned unpack_2bit(const std::array<std::uint8_t, kQK / 4>& qs, int w) {
  return (static_cast<unsigned>(qs[idx(32 * (w / 128) + w % 32)]) >> (2 * ((w / 32) % 4))) & 3U;
}

}  // namespace

// ---- Q2_K ------------------------------------------------------------------

void dequantize_block(const BlockQ2K& b, float* dst) {
  const float d = fp16_to_fp32(b.d);
  const float dmin = fp16_to_fp32(b.dmin);
  for (int j = 0; j < kQK / 16; ++j) {
    const auto sc = static_cast<unsigned>(b.scales[idx(j)]);
    const float dl = d * static_cast<float>(sc & 0xFU);
    const float ml = dmin * static_cast<float>(sc >> 4);
    for (int w = 16 * j; w < 16 * j + 16; ++w) dst[w] = dl * static_cast<float>(unpack_2bit(b.qs, w)) - ml;
  }
}

BlockQ2K quantize_block_q2_k(const float* x) {
  std::array<std::uint8_t, kQK> levels{};
  std::array<std::uint8_t, 16> aux{};
  std::array<float, 16> weights{};
  std::array<float, kQK / 16> scales{};
  std::array<float, kQK / 16> mins{};
  // Q2_K alone fits |x|-weighted absolute error (use_mad) where Q4_K/Q5_K fit
  // squared error: llama.cpp's parameters, needed for identical bytes.
  constexpr kq::AffineSearch kGrid{3, -0.5F, 0.1F, 15, true};
  float max_scale = 0.F;
  float max_min = 0.F;
  for (int j = 0; j < kQK / 16; ++j) {
    const float* xj = x + std::ptrdiff_t{16} * j;
    for (int l = 0; l < 16; ++l) weights[idx(l)] = std::fabs(xj[l]);
    scales[idx(j)] = kq::make_qkx2_quants(16, xj, weights.data(), levels.data() + std::ptrdiff_t{16} * j, &mins[idx(j)],
                                          aux.data(), kGrid);
    if (scales[idx(j)] > max_scale) max_scale = scales[idx(j)];
    if (mins[idx(j)] > max_min) max_min = mins[idx(j)];
  }

  // 4-bit sub-scales and sub-mins as fractions of the largest of each.
  constexpr float kLevels4 = 15.F;
  BlockQ2K b{};
  if (max_scale > 0.F) {
    const float iscale = kLevels4 / max_scale;
    for (int j = 0; j < kQK / 16; ++j) {
      b.scales[idx(j)] = static_cast<std::uint8_t>(kq::nearest_int(iscale * scales[idx(j)]));
    }
    b.d = fp32_to_fp16(max_scale / kLevels4);
  }
  if (max_min > 0.F) {
    const float iscale = kLevels4 / max_min;
    for (int j = 0; j < kQK / 16; ++j) {
      b.scales[idx(j)] = static_cast<std::uint8_t>(b.scales[idx(j)] | (kq::nearest_int(iscale * mins[idx(j)]) << 4));
    }
    b.dmin = fp32_to_fp16(max_min / kLevels4);
  }

  // Re-round against the stored (quantized) scale and min; a sub-block whose
  // stored scale is zero keeps the levels of its search.
  const float d = fp16_to_fp32(b.d);
  const float dmin = fp16_to_fp32(b.dmin);
  for (int j = 0; j < kQK / 16; ++j) {
    const auto sc = static_cast<unsigned>(b.scales[idx(j)]);
    const float dj = d * static_cast<float>(sc & 0xFU);
    if (dj == 0.F) continue;
    const float mj = dmin * static_cast<float>(sc >> 4);
    for (int i = 16 * j; i < 16 * j + 16; ++i) {
      levels[idx(i)] = static_cast<std::uint8_t>(kq::clamp_int(kq::nearest_int((x[i] + mj) / dj), 0, 3));
    }
  }
  pack_2bit(levels, b.qs);
  return b;
}

// ---- Q3_K ------------------------------------------------------------------

void dequantize_block(const BlockQ3K& b, float* dst) {
  const float d = fp16_to_fp32(b.d);
  for (int j = 0; j < kQK / 16; ++j) {
    const float dl = d * static_cast<float>(q3k_scale(b, j));
    for (int w = 16 * j; w < 16 * j + 16; ++w) {
      const bool high = ((static_cast<unsigned>(b.hmask[idx(w % 32)]) >> (w / 32)) & 1U) != 0;
      dst[w] = dl * static_cast<float>(static_cast<int>(unpack_2bit(b.qs, w)) - (high ? 0 : 4));
    }
  }
}

BlockQ3K quantize_block_q3_k(const float* x) {
  std::array<std::int8_t, kQK> levels{};  // 0..7, i.e. q + 4
  std::array<float, kQK / 16> scales{};
  float max_scale = 0.F;
  float max_abs_scale = 0.F;
  for (int j = 0; j < kQK / 16; ++j) {
    scales[idx(j)] = kq::make_q3_quants(16, 4, x + std::ptrdiff_t{16} * j, levels.data() + std::ptrdiff_t{16} * j);
    if (std::fabs(scales[idx(j)]) > max_abs_scale) {
      max_abs_scale = std::fabs(scales[idx(j)]);
      max_scale = scales[idx(j)];
    }
  }

  // 6-bit signed sub-scales, the largest magnitude mapped to -32.
  BlockQ3K b{};
  if (max_scale != 0.F) {
    const float iscale = -32.F / max_scale;
    for (int j = 0; j < kQK / 16; ++j) {
      const auto rounded = static_cast<std::int8_t>(kq::nearest_int(iscale * scales[idx(j)]));
      const auto l = static_cast<unsigned>(kq::clamp_int(rounded, -32, 31) + 32);
      auto& low = b.scales[idx(j % 8)];
      low = static_cast<std::uint8_t>(low | ((l & 0xFU) << (j < 8 ? 0 : 4)));
      auto& high = b.scales[idx(8 + j % 4)];
      high = static_cast<std::uint8_t>(high | ((l >> 4) << (2 * (j / 4))));
    }
    b.d = fp32_to_fp16(1.F / iscale);
  }

  // Re-round against the stored scales, as for Q2_K.
  const float d = fp16_to_fp32(b.d);
  for (int j = 0; j < kQK / 16; ++j) {
    const float dj = d * static_cast<float>(q3k_scale(b, j));
    if (dj == 0.F) continue;
    for (int i = 16 * j; i < 16 * j + 16; ++i) {
      levels[idx(i)] = static_cast<std::int8_t>(kq::clamp_int(kq::nearest_int(x[i] / dj), -4, 3) + 4);
    }
  }
  // Split each level into the high bit (hmask) and the low two bits (qs).
  std::array<std::uint8_t, kQK> low_levels{};
  for (int w = 0; w < kQK; ++w) {
    const int level = static_cast<std::uint8_t>(levels[idx(w)]);  // 0..7
    if (level > 3) b.hmask[idx(w % 32)] = static_cast<std::uint8_t>(b.hmask[idx(w % 32)] | (1U << (w / 32)));
    low_levels[idx(w)] = static_cast<std::uint8_t>(level > 3 ? level - 4 : level);
  }
  pack_2bit(low_levels, b.qs);
  return b;
}

// ---- rows ------------------------------------------------------------------

void dequantize_row_q2_k(const BlockQ2K* x, float* y, std::int64_t n) { kq::dequantize_blocks(x, y, n); }
void dequantize_row_q3_k(const BlockQ3K* x, float* y, std::int64_t n) { kq::dequantize_blocks(x, y, n); }
void quantize_row_q2_k_ref(const float* x, BlockQ2K* y, std::int64_t n) {
  kq::quantize_blocks(x, y, n, quantize_block_q2_k);
}
void quantize_row_q3_k_ref(const float* x, BlockQ3K* y, std::int64_t n) {
  kq::quantize_blocks(x, y, n, quantize_block_q3_k);
}

}  // namespace quantlm::formats
