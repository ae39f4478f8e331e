// The K-quants' shared scale searches, and the Q6_K and Q8_K codecs.
#include "formats/kquants.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstring>

#include "core/half.h"
#include "formats/kquants_impl.h"

namespace quantlm::formats {
namespace kq {
namespace {

// The first value of largest magnitude: symmetric formats map it to the
// extreme level, keeping its sign so the level range's extra negative step
// lands on it.
struct Peak {
  float value = 0.F;
  float magnitude = 0.F;
};

Peak find_peak(int n, const float* x) {
  Peak p;
  for (int i = 0; i < n; ++i) {
    const float a = std::fabs(x[i]);
    if (a > p.magnitude) p = {x[i], a};
  }
  return p;
}

// x^2-weighted sums of x*l and l*l: the least-squares scale for levels l is
// xl / l2, and xl^2 / l2 is the error reduction it achieves (larger is better).
struct SymSums {
  float xl = 0.F;
  float l2 = 0.F;
};

// One trial of the symmetric grid: signed levels in [-nmax, nmax-1] into `out`.
SymSums symmetric_trial(int n, int nmax, const float* x, float iscale, std::int8_t* out) {
  SymSums s;
  for (int i = 0; i < n; ++i) {
    const int l = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
    out[i] = static_cast<std::int8_t>(l);
    const float w = x[i] * x[i];
    const auto fl = static_cast<float>(l);
    s.xl += w * x[i] * fl;
    s.l2 += w * fl * fl;
  }
  return s;
}

constexpr int kMaxGroup = 32;  // the searches run on sub-blocks of 16 or 32 values

}  // namespace

float make_qx_quants(int n, int nmax, const float* x, std::int8_t* levels) {
  assert(n <= kMaxGroup);
  const Peak peak = find_peak(n, x);
  if (peak.magnitude < kGroupMaxEps) {
    std::fill_n(levels, n, std::int8_t{0});
    return 0.F;
  }
  std::array<std::int8_t, kMaxGroup> trial{};
  const auto fnmax = static_cast<float>(nmax);
  SymSums s = symmetric_trial(n, nmax, x, -fnmax / peak.value, levels);
  float scale = s.l2 != 0.F ? s.xl / s.l2 : 0.F;
  float best = scale * s.xl;
  // Nudging the inverse scale by tenths of a level trades clipping of the peak
  // against resolution for the bulk; 18 extra trials are cheap at n = 16.
  for (int k = -9; k <= 9; ++k) {
    if (k == 0) continue;
    const float iscale = -(fnmax + 0.1F * static_cast<float>(k)) / peak.value;
    s = symmetric_trial(n, nmax, x, iscale, trial.data());
    if (s.l2 > 0.F && s.xl * s.xl > best * s.l2) {
      std::copy_n(trial.data(), n, levels);
      scale = s.xl / s.l2;
      best = scale * s.xl;
    }
  }
  for (int i = 0; i < n; ++i) levels[i] = static_cast<std::int8_t>(levels[i] + nmax);
  return scale;
}

float make_q3_quants(int n, int nmax, const float* x, std::int8_t* levels) {
  const Peak peak = find_peak(n, x);
  if (peak.magnitude < kGroupMaxEps) {
    std::fill_n(levels, n, std::int8_t{0});
    return 0.F;
  }
  SymSums s = symmetric_trial(n, nmax, x, -static_cast<float>(nmax) / peak.value, levels);
  // Coordinate descent: for each value, the level that is optimal given the
  // least-squares scale of all the others; kept only if the total improves.
  for (int sweep = 0; sweep < 5; ++sweep) {
    int changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      const auto old_l = static_cast<float>(levels[i]);
      float xl = s.xl - w * x[i] * old_l;
      if (!(xl > 0.F)) continue;  // written so that NaN skips too, as in the reference
      float l2 = s.l2 - w * old_l * old_l;
      const int new_l = clamp_int(nearest_int(x[i] * l2 / xl), -nmax, nmax - 1);
      if (new_l == levels[i]) continue;
      const auto fl = static_cast<float>(new_l);
      xl += w * x[i] * fl;
      l2 += w * fl * fl;
      if (l2 > 0.F && xl * xl * s.l2 > s.xl * s.xl * l2) {
        levels[i] = static_cast<std::int8_t>(new_l);
        s = {xl, l2};
        ++changed;
      }
    }
    if (changed == 0) break;
  }
  for (int i = 0; i < n; ++i) levels[i] = static_cast<std::int8_t>(levels[i] + nmax);
  return s.l2 > 0.F ? s.xl / s.l2 : 0.F;
}

float make_qkx2_quants(int n, const float* x, const float* weights, std::uint8_t* levels, float* the_min,
                       std::uint8_t* aux, const AffineSearch& grid) {
  float lo = x[0];
  float hi = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
    sum_w += weights[i];
    sum_x += weights[i] * x[i];
  }
  // The offset only ever shifts values up (min >= 0 is stored unsigned), so
  // a sub-block of positive values keeps zero as its floor.
  lo = std::min(lo, 0.F);
  if (hi == lo) {
    std::fill_n(levels, n, std::uint8_t{0});
    *the_min = -lo;
    return 0.F;
  }
  const auto fnmax = static_cast<float>(grid.nmax);
  const auto error_of = [&](float scale, float offset, const std::uint8_t* ls) {
    float err = 0.F;
    for (int i = 0; i < n; ++i) {
      float diff = scale * static_cast<float>(ls[i]) + offset - x[i];
      diff = grid.use_mad ? std::fabs(diff) : diff * diff;
      err += weights[i] * diff;
    }
    return err;
  };
  float iscale = fnmax / (hi - lo);
  float scale = 1.F / iscale;
  for (int i = 0; i < n; ++i) {
    levels[i] = static_cast<std::uint8_t>(clamp_int(nearest_int(iscale * (x[i] - lo)), 0, grid.nmax));
  }
  float best_error = error_of(scale, lo, levels);
  if (grid.nstep < 1) {
    *the_min = -lo;
    return scale;
  }
  // Each step re-bins with the current best offset `lo`, then fits scale and
  // offset to those bins by weighted least squares (2x2 normal equations).
  for (int k = 0; k <= grid.nstep; ++k) {
    iscale = (grid.rmin + grid.rdelta * static_cast<float>(k) + fnmax) / (hi - lo);
    float sum_l = 0.F;
    float sum_l2 = 0.F;
    float sum_xl = 0.F;
    for (int i = 0; i < n; ++i) {
      const int l = clamp_int(nearest_int(iscale * (x[i] - lo)), 0, grid.nmax);
      aux[i] = static_cast<std::uint8_t>(l);
      const float w = weights[i];
      const auto fl = static_cast<float>(l);
      sum_l += w * fl;
      sum_l2 += w * fl * fl;
      sum_xl += w * fl * x[i];
    }
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (!(det > 0.F)) continue;  // degenerate (all levels equal) or NaN
    float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
    float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
    if (this_min > 0.F) {
      this_min = 0.F;
      this_scale = sum_xl / sum_l2;
    }
    const float err = error_of(this_scale, this_min, aux);
    if (err < best_error) {
      std::copy_n(aux, n, levels);
      best_error = err;
      scale = this_scale;
      lo = this_min;
    }
  }
  *the_min = -lo;
  return scale;
}

}  // namespace kq

using kq::idx;

// ---- Q6_K ------------------------------------------------------------------

void dequantize_block(const BlockQ6K& b, float* dst) {
  const float d = fp16_to_fp32(b.d);
  for (int h = 0; h < 2; ++h) {
    for (int l = 0; l < 32; ++l) {
      const auto ql_lo = static_cast<unsigned>(b.ql[idx(64 * h + l)]);
      const auto ql_hi = static_cast<unsigned>(b.ql[idx(64 * h + 32 + l)]);
      const auto qh = static_cast<unsigned>(b.qh[idx(32 * h + l)]);
      const std::array<unsigned, 4> low = {ql_lo & 0xFU, ql_hi & 0xFU, ql_lo >> 4, ql_hi >> 4};
      for (int k = 0; k < 4; ++k) {
        const int w = 128 * h + 32 * k + l;
        const auto q = static_cast<int>(low[idx(k)] | (((qh >> (2 * k)) & 3U) << 4)) - 32;
        dst[w] = d * static_cast<float>(b.scales[idx(w / 16)]) * static_cast<float>(q);
      }
    }
  }
}

BlockQ6K quantize_block_q6_k(const float* x) {
  std::array<std::int8_t, kQK> levels{};  // 0..63, i.e. q + 32
  std::array<float, kQK / 16> scales{};
  float max_scale = 0.F;
  float max_abs_scale = 0.F;
  for (int j = 0; j < kQK / 16; ++j) {
    const float s = kq::make_qx_quants(16, 32, x + std::ptrdiff_t{16} * j, levels.data() + std::ptrdiff_t{16} * j);
    scales[idx(j)] = s;
    if (std::fabs(s) > max_abs_scale) {
      max_abs_scale = std::fabs(s);
      max_scale = s;
    }
  }
  BlockQ6K b{};
  if (max_abs_scale < kq::kGroupMaxEps) return b;  // all zero: d = +0 and every byte 0

  // int8 sub-scales: the largest magnitude maps to -128, using the one extra
  // step int8 has on its negative side.
  const float iscale = -128.F / max_scale;
  b.d = fp32_to_fp16(1.F / iscale);
  for (int j = 0; j < kQK / 16; ++j) {
    b.scales[idx(j)] = static_cast<std::int8_t>(std::min(127, kq::nearest_int(iscale * scales[idx(j)])));
  }
  // Re-round every value against the scales as stored (fp16 d times int8),
  // which is what the decoder will multiply by.
  const float d = fp16_to_fp32(b.d);
  for (int j = 0; j < kQK / 16; ++j) {
    const float dj = d * static_cast<float>(b.scales[idx(j)]);
    if (dj == 0.F) continue;
    for (int i = 16 * j; i < 16 * j + 16; ++i) {
      levels[idx(i)] = static_cast<std::int8_t>(kq::clamp_int(kq::nearest_int(x[i] / dj), -32, 31) + 32);
    }
  }
  for (int h = 0; h < 2; ++h) {
    for (int l = 0; l < 32; ++l) {
      std::array<unsigned, 4> q{};
      for (int k = 0; k < 4; ++k) {
        q[idx(k)] = static_cast<unsigned>(static_cast<std::uint8_t>(levels[idx(128 * h + 32 * k + l)]));
      }
      b.ql[idx(64 * h + l)] = static_cast<std::uint8_t>((q[0] & 0xFU) | ((q[2] & 0xFU) << 4));
      b.ql[idx(64 * h + 32 + l)] = static_cast<std::uint8_t>((q[1] & 0xFU) | ((q[3] & 0xFU) << 4));
      b.qh[idx(32 * h + l)] =
          static_cast<std::uint8_t>((q[0] >> 4) | ((q[1] >> 4) << 2) | ((q[2] >> 4) << 4) | ((q[3] >> 4) << 6));
    }
  }
  return b;
}

// ---- Q8_K ------------------------------------------------------------------

void dequantize_block(const BlockQ8K& b, float* dst) {
  for (int i = 0; i < kQK; ++i) dst[i] = b.d * static_cast<float>(b.qs[idx(i)]);
}

BlockQ8K quantize_block_q8_k(const float* x) {
  BlockQ8K b{};  // an all-zero input leaves d, qs and bsums at 0
  float peak = 0.F;
  float peak_abs = 0.F;
  for (int i = 0; i < kQK; ++i) {
    if (std::fabs(x[i]) > peak_abs) {
      peak_abs = std::fabs(x[i]);
      peak = x[i];
    }
  }
  if (peak_abs == 0.F) return b;
  // -127 rather than -128 keeps every q in [-127, 127], so SIMD kernels can
  // negate q or take |q| without overflowing int8.
  const float iscale = -127.F / peak;
  for (int i = 0; i < kQK; ++i) {
    b.qs[idx(i)] = static_cast<std::int8_t>(std::min(127, kq::nearest_int(iscale * x[i])));
  }
  for (int j = 0; j < kQK / 16; ++j) {
    int sum = 0;
    for (int i = 16 * j; i < 16 * j + 16; ++i) sum += b.qs[idx(i)];
    b.bsums[idx(j)] = static_cast<std::int16_t>(sum);
  }
  b.d = 1.F / iscale;
  return b;
}

// ---- rows ------------------------------------------------------------------

void dequantize_row_q6_k(const BlockQ6K* x, float* y, std::int64_t n) { kq::dequantize_blocks(x, y, n); }
void dequantize_row_q8_k(const BlockQ8K* x, float* y, std::int64_t n) { kq::dequantize_blocks(x, y, n); }
void quantize_row_q6_k_ref(const float* x, BlockQ6K* y, std::int64_t n) {
  kq::quantize_blocks(x, y, n, quantize_block_q6_k);
}
void quantize_row_q8_k_ref(const float* x, BlockQ8K* y, std::int64_t n) {
  kq::quantize_blocks(x, y, n, quantize_block_q8_k);
}

void dequantize_q8_k_bytes(const std::byte* src, float* y, std::int64_t n) {
  assert(n % kQK == 0);
  for (std::int64_t i = 0; i < n / kQK; ++i) {
    BlockQ8K b;
    std::memcpy(&b, src + i * static_cast<std::int64_t>(sizeof(BlockQ8K)), sizeof(BlockQ8K));
    dequantize_block(b, y + i * kQK);
  }
}

void quantize_q8_k_bytes(const float* x, std::byte* dst, std::int64_t n) {
  assert(n % kQK == 0);
  for (std::int64_t i = 0; i < n / kQK; ++i) {
    const BlockQ8K b = quantize_block_q8_k(x + i * kQK);
    std::memcpy(dst + i * static_cast<std::int64_t>(sizeof(BlockQ8K)), &b, sizeof(BlockQ8K));
  }
}

}  // namespace quantlm::formats
