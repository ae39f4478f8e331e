// The Q4_K and Q5_K codecs: 8 sub-blocks of 32 weights, x = d*sc*q - dmin*m with 6-bit sc and m.
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

// What Q4_K and Q5_K share: fp16 steps, packed 6-bit scales and mins, and
// each weight's level (0..nmax) rounded against those stored values.
struct AffineBlock {
  std::uint16_t d = 0;
  std::uint16_t dmin = 0;
  std::array<std::uint8_t, kKScaleBytes> scales{};
  std::array<std::uint8_t, kQK> levels{};
};

// The inverse of k4_scale_min (blocks_k.h).
void pack_k4_scales(const std::array<std::uint8_t, 8>& ls, const std::array<std::uint8_t, 8>& lm,
                    std::array<std::uint8_t, kKScaleBytes>& s) {
  for (int j = 0; j < 4; ++j) {
    s[idx(j)] = ls[idx(j)];
    s[idx(j + 4)] = lm[idx(j)];
  }
  for (int j = 4; j < 8; ++j) {
    s[idx(j + 4)] = static_cast<std::uint8_t>((ls[idx(j)] & 0xFU) | ((lm[idx(j)] & 0xFU) << 4));
    s[idx(j - 4)] = static_cast<std::uint8_t>(s[idx(j - 4)] | ((ls[idx(j)] >> 4) << 6));
    s[idx(j)] = static_cast<std::uint8_t>(s[idx(j)] | ((lm[idx(j)] >> 4) << 6));
  }
}

AffineBlock quantize_affine(const float* x, const kq::AffineSearch& grid) {
  AffineBlock out;
  std::array<std::uint8_t, 32> aux{};
  std::array<float, 32> weights{};
  std::array<float, 8> scales{};
  std::array<float, 8> mins{};
  float max_scale = 0.F;
  float max_min = 0.F;
  for (int j = 0; j < 8; ++j) {
    const float* xj = x + std::ptrdiff_t{32} * j;
    // Weight |x| plus the sub-block's RMS: large values matter more, but not
    // so much that small ones are ignored.
    float sum_x2 = 0.F;
    for (int l = 0; l < 32; ++l) sum_x2 += xj[l] * xj[l];
    const float rms = std::sqrt(sum_x2 / 32.F);
    for (int l = 0; l < 32; ++l) weights[idx(l)] = rms + std::fabs(xj[l]);
    scales[idx(j)] = kq::make_qkx2_quants(32, xj, weights.data(), out.levels.data() + std::ptrdiff_t{32} * j,
                                          &mins[idx(j)], aux.data(), grid);
    if (scales[idx(j)] > max_scale) max_scale = scales[idx(j)];
    if (mins[idx(j)] > max_min) max_min = mins[idx(j)];
  }

  // 6-bit sub-scales and sub-mins as fractions of the largest of each.
  const float inv_scale = max_scale > 0.F ? 63.F / max_scale : 0.F;
  const float inv_min = max_min > 0.F ? 63.F / max_min : 0.F;
  std::array<std::uint8_t, 8> ls{};
  std::array<std::uint8_t, 8> lm{};
  for (int j = 0; j < 8; ++j) {
    // Narrow first, then cap: the order the reference uses.
    const auto s = static_cast<std::uint8_t>(kq::nearest_int(inv_scale * scales[idx(j)]));
    const auto m = static_cast<std::uint8_t>(kq::nearest_int(inv_min * mins[idx(j)]));
    ls[idx(j)] = std::min<std::uint8_t>(63, s);
    lm[idx(j)] = std::min<std::uint8_t>(63, m);
  }
  pack_k4_scales(ls, lm, out.scales);
  out.d = fp32_to_fp16(max_scale / 63.F);
  out.dmin = fp32_to_fp16(max_min / 63.F);

  // Re-round against the stored scale and min; a sub-block whose stored scale
  // is zero keeps the levels of its search.
  const float d = fp16_to_fp32(out.d);
  const float dmin = fp16_to_fp32(out.dmin);
  for (int j = 0; j < 8; ++j) {
    const ScaleMin sm = k4_scale_min(out.scales, j);
    const float dj = d * static_cast<float>(sm.scale);
    if (dj == 0.F) continue;
    const float mj = dmin * static_cast<float>(sm.min);
    for (int i = 32 * j; i < 32 * j + 32; ++i) {
      out.levels[idx(i)] = static_cast<std::uint8_t>(kq::clamp_int(kq::nearest_int((x[i] + mj) / dj), 0, grid.nmax));
    }
  }
  return out;
}

// Low nibbles of weights 64c + l and 64c + 32 + l share byte 32c + l.
void pack_nibbles(const std::array<std::uint8_t, kQK>& levels, std::array<std::uint8_t, kQK / 2>& qs) {
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      qs[idx(32 * c + l)] =
          static_cast<std::uint8_t>((levels[idx(64 * c + l)] & 0xFU) | ((levels[idx(64 * c + 32 + l)] & 0xFU) << 4));
    }
  }
}

[[nodiscard]] unsigned unpack_nibble(const std::array<std::uint8_t, kQK / 2>& qs, int w) {
  return (static_cast<unsigned>(qs[idx(32 * (w / 64) + w % 32)]) >> (4 * ((w / 32) % 2))) & 0xFU;
}

// Shared by both decoders: `high(w)` adds Q5_K's fifth bit (0 for Q4_K).
template <typename Block, typename High>
void dequantize_affine(const Block& b, float* dst, High high) {
  const float d = fp16_to_fp32(b.d);
  const float dmin = fp16_to_fp32(b.dmin);
  for (int j = 0; j < 8; ++j) {
    const ScaleMin sm = k4_scale_min(b.scales, j);
    const float dj = d * static_cast<float>(sm.scale);
    const float mj = dmin * static_cast<float>(sm.min);
    for (int w = 32 * j; w < 32 * j + 32; ++w) {
      dst[w] = dj * static_cast<float>(unpack_nibble(b.qs, w) + high(w)) - mj;
    }
  }
}

}  // namespace

// ---- Q4_K ------------------------------------------------------------------

void dequantize_block(const BlockQ4K& b, float* dst) {
  dequantize_affine(b, dst, [](int) { return 0U; });
}

BlockQ4K quantize_block_q4_k(const float* x) {
  const AffineBlock a = quantize_affine(x, kq::AffineSearch{15, -1.F, 0.1F, 20, false});
  BlockQ4K b{};
  b.d = a.d;
  b.dmin = a.dmin;
  b.scales = a.scales;
  pack_nibbles(a.levels, b.qs);
  return b;
}

// ---- Q5_K ------------------------------------------------------------------

void dequantize_block(const BlockQ5K& b, float* dst) {
  dequantize_affine(b, dst, [&b](int w) { return ((static_cast<unsigned>(b.qh[idx(w % 32)]) >> (w / 32)) & 1U) << 4; });
}

BlockQ5K quantize_block_q5_k(const float* x) {
  const AffineBlock a = quantize_affine(x, kq::AffineSearch{31, -0.5F, 0.1F, 15, false});
  BlockQ5K b{};
  b.d = a.d;
  b.dmin = a.dmin;
  b.scales = a.scales;
  pack_nibbles(a.levels, b.qs);
  for (int w = 0; w < kQK; ++w) {
    if (a.levels[idx(w)] > 15) b.qh[idx(w % 32)] = static_cast<std::uint8_t>(b.qh[idx(w % 32)] | (1U << (w / 32)));
  }
  return b;
}

// ---- rows ------------------------------------------------------------------

void dequantize_row_q4_k(const BlockQ4K* x, float* y, std::int64_t n) { kq::dequantize_blocks(x, y, n); }
void dequantize_row_q5_k(const BlockQ5K* x, float* y, std::int64_t n) { kq::dequantize_blocks(x, y, n); }
void quantize_row_q4_k_ref(const float* x, BlockQ4K* y, std::int64_t n) {
  kq::quantize_blocks(x, y, n, quantize_block_q4_k);
}
void quantize_row_q5_k_ref(const float* x, BlockQ5K* y, std::int64_t n) {
  kq::quantize_blocks(x, y, n, quantize_block_q5_k);
}

}  // namespace quantlm::formats
