// The IQ4_XS codec: 8 sub-blocks of 32 weights on the non-uniform IQ4 grid, 6-bit sub-scales.
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

// Index of the grid level nearest to v; a tie goes to the upper level, and
// values beyond either end clamp to it.
int nearest_level(float v) {
  if (v <= static_cast<float>(kIq4NlValues.front())) return 0;
  if (v >= static_cast<float>(kIq4NlValues.back())) return 15;
  int upper = 15;
  for (int k = 1; k < 15; ++k) {
    if (v < static_cast<float>(kIq4NlValues[idx(k)])) {
      upper = k;
      break;
    }
  }
  const auto below = static_cast<float>(kIq4NlValues[idx(upper - 1)]);
  const auto above = static_cast<float>(kIq4NlValues[idx(upper)]);
  return v - below < above - v ? upper - 1 : upper;
}

struct GridSums {
  float qx = 0.F;  // sum w*q*x
  float q2 = 0.F;  // sum w*q*q; the best scale for the levels is qx / q2
};

GridSums grid_trial(const float* x, float inverse_scale) {
  GridSums s;
  for (int i = 0; i < 32; ++i) {
    const auto q = static_cast<float>(kIq4NlValues[idx(nearest_level(inverse_scale * x[i]))]);
    const float w = x[i] * x[i];
    s.qx += w * q * x[i];
    s.q2 += w * q * q;
  }
  return s;
}

// The x^2-weighted least-squares scale of one sub-block over 16 trial grids:
// the peak mapped to the grid's -127 end, then to (-127 + t) for t in -7..7.
float best_sub_scale(const float* x) {
  float peak = 0.F;
  float peak_abs = 0.F;
  for (int i = 0; i < 32; ++i) {
    if (std::fabs(x[i]) > peak_abs) {
      peak_abs = std::fabs(x[i]);
      peak = x[i];
    }
  }
  if (peak_abs < kq::kGroupMaxEps) return 0.F;
  const auto lowest = static_cast<float>(kIq4NlValues.front());
  GridSums s = grid_trial(x, 1.F / (-peak / lowest));
  float d = s.q2 > 0.F ? s.qx / s.q2 : 0.F;
  float best = d * s.qx;
  for (int t = -7; t <= 7; ++t) {
    s = grid_trial(x, static_cast<float>(t + kIq4NlValues.front()) / peak);
    if (s.q2 > 0.F && s.qx * s.qx > best * s.q2) {
      d = s.qx / s.q2;
      best = d * s.qx;
    }
  }
  return d;
}

}  // namespace

void dequantize_block(const BlockIQ4XS& b, float* dst) {
  const float d = fp16_to_fp32(b.d);
  for (int sb = 0; sb < 8; ++sb) {
    const float dl = d * static_cast<float>(iq4xs_scale(b, sb));
    for (int l = 0; l < 16; ++l) {
      const auto q = static_cast<unsigned>(b.qs[idx(16 * sb + l)]);
      dst[32 * sb + l] = dl * static_cast<float>(kIq4NlValues[q & 0xFU]);
      dst[32 * sb + 16 + l] = dl * static_cast<float>(kIq4NlValues[q >> 4]);
    }
  }
}

BlockIQ4XS quantize_block_iq4_xs(const float* x) {
  std::array<float, 8> scales{};
  float max_scale = 0.F;
  float max_abs_scale = 0.F;
  for (int sb = 0; sb < 8; ++sb) {
    scales[idx(sb)] = best_sub_scale(x + std::ptrdiff_t{32} * sb);
    if (std::fabs(scales[idx(sb)]) > max_abs_scale) {
      max_abs_scale = std::fabs(scales[idx(sb)]);
      max_scale = scales[idx(sb)];
    }
  }

  // The largest sub-scale maps to -32, the end of the signed 6-bit range with
  // one more step. The sub-scales are rounded against the float step d (not
  // its fp16 rounding), as the reference does. An all-zero block gives d = -0.
  BlockIQ4XS b{};
  const float d = -max_scale / 32.F;
  b.d = fp32_to_fp16(d);
  const float id = d != 0.F ? 1.F / d : 0.F;
  std::array<std::uint8_t, kQK> levels{};
  for (int sb = 0; sb < 8; ++sb) {
    const int l = kq::clamp_int(kq::nearest_int(id * scales[idx(sb)]), -32, 31);
    const float dl = d * static_cast<float>(l);
    const float idl = dl != 0.F ? 1.F / dl : 0.F;
    for (int i = 32 * sb; i < 32 * sb + 32; ++i) levels[idx(i)] = static_cast<std::uint8_t>(nearest_level(idl * x[i]));
    const auto stored = static_cast<unsigned>(l + 32);
    b.scales_l[idx(sb / 2)] = static_cast<std::uint8_t>(b.scales_l[idx(sb / 2)] | ((stored & 0xFU) << (4 * (sb % 2))));
    b.scales_h = static_cast<std::uint16_t>(b.scales_h | ((stored >> 4) << (2 * sb)));
  }
  for (int sb = 0; sb < 8; ++sb) {
    for (int l = 0; l < 16; ++l) {
      b.qs[idx(16 * sb + l)] =
          static_cast<std::uint8_t>(levels[idx(32 * sb + l)] | (levels[idx(32 * sb + 16 + l)] << 4));
    }
  }
  return b;
}

void dequantize_row_iq4_xs(const BlockIQ4XS* x, float* y, std::int64_t n) { kq::dequantize_blocks(x, y, n); }
void quantize_row_iq4_xs_ref(const float* x, BlockIQ4XS* y, std::int64_t n) {
  kq::quantize_blocks(x, y, n, quantize_block_iq4_xs);
}

}  // namespace quantlm::formats
