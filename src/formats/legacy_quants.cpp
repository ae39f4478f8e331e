// Reference quantizers and decoders of ggml's 32-value formats, byte-compatible with llama.cpp's.
#include "formats/legacy_quants.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>
#include <cstdint>
#include <limits>

#include "core/half.h"
#include "formats/rounding.h"

// Bit-exactness notes, for anyone touching the arithmetic below:
// * Each code is computed as llama.cpp computes it: `x * id` rounded to float
//   first, then the offset added and truncated (Q4/Q5), or rounded half away
//   from zero (Q8, like roundf). A fused multiply-add would round once instead
//   of twice and flip rare codes, so this file must not be built with
//   -ffp-contract=fast on an FMA target (ISO C++ mode, which quantlm uses,
//   leaves contraction off).
// * id = 1 / d uses the fp32 scale; only the stored copy is rounded to fp16.
//   Quantizing against the rounded scale would be slightly more accurate but
//   would not reproduce llama.cpp's files.

namespace quantlm::formats {
namespace {

constexpr std::size_t kQK = kLegacyBlock;
constexpr std::size_t kHalfQK = kQK / 2;

std::int64_t block_count(std::int64_t n) {
  assert(n % kLegacyBlock == 0);
  return n / kLegacyBlock;
}

float inverse_or_zero(float d) { return d != 0.0f ? 1.0f / d : 0.0f; }

// The value of largest magnitude, sign kept; the first one wins a tie, and an
// all-zero block gives 0.
float signed_absmax(const float* x) {
  float amax = 0.0f;
  float max = 0.0f;
  for (std::size_t j = 0; j < kQK; ++j) {
    if (std::fabs(x[j]) > amax) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

float abs_max(const float* x) {
  float amax = 0.0f;
  for (std::size_t j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
  return amax;
}

struct MinMax {
  float min;
  float max;
};
MinMax min_max(const float* x) {
  MinMax r{std::numeric_limits<float>::max(), -std::numeric_limits<float>::max()};
  for (std::size_t j = 0; j < kQK; ++j) {
    r.min = std::min(r.min, x[j]);
    r.max = std::max(r.max, x[j]);
  }
  return r;
}

// Symmetric code with an offset: trunc(x * id + offset), which for the
// non-negative sums that occur is round-half-up of x * id, shifted.
int offset_code(float x, float id, float offset, int max_code) {
  const float scaled = x * id;
  return std::min(max_code, static_cast<int>(scaled + offset));
}

// Asymmetric code: (x - min) * id rounded half up. Adding 0.5 and truncating
// is llama.cpp's rounding (its float addition can round up a value just below
// a half, which lround would not), so it is kept on purpose.
int affine_code(float x, float min, float id, int max_code) {
  const float scaled = (x - min) * id;
  return std::min(max_code, static_cast<int>(scaled + 0.5f));  // NOLINT(bugprone-incorrect-roundings)
}

// Q8 code: x * id rounded half away from zero (llama.cpp uses roundf).
std::int8_t round_code(float x, float id) { return static_cast<std::int8_t>(round_half_away(x * id)); }

// Packs 32 codes of up to 5 bits: low nibbles of value j and j + 16 share qs[j];
// the fifth bits go to a little-endian 32-bit word, bit j for value j.
template <typename Block>
void pack_nibbles(const std::array<int, kQK>& q, Block& b) {
  for (std::size_t j = 0; j < kHalfQK; ++j) {
    b.qs[j] = static_cast<std::uint8_t>((q[j] & 0x0F) | ((q[j + kHalfQK] & 0x0F) << 4));
  }
}
template <typename Block>
void pack_fifth_bits(const std::array<int, kQK>& q, Block& b) {
  std::uint32_t qh = 0;
  for (std::size_t j = 0; j < kQK; ++j) qh |= static_cast<std::uint32_t>((q[j] >> 4) & 1) << j;
  for (std::size_t k = 0; k < 4; ++k) b.qh[k] = static_cast<std::uint8_t>(qh >> (8 * k));
}

// Codes 0..31 of a 5-bit block: nibble plus fifth bit.
template <typename Block>
std::array<int, kQK> unpack_5bit(const Block& b) {
  const std::uint32_t qh = std::uint32_t{b.qh[0]} | (std::uint32_t{b.qh[1]} << 8) | (std::uint32_t{b.qh[2]} << 16) |
                           (std::uint32_t{b.qh[3]} << 24);
  std::array<int, kQK> q{};
  for (std::size_t j = 0; j < kHalfQK; ++j) {
    const int byte = b.qs[j];
    q[j] = (byte & 0x0F) | static_cast<int>(((qh >> j) & 1U) << 4);
    q[j + kHalfQK] = (byte >> 4) | static_cast<int>(((qh >> (j + kHalfQK)) & 1U) << 4);
  }
  return q;
}

// ---- IQ4_NL ----------------------------------------------------------------

// The codebook as floats, for the comparisons below.
constexpr std::array<float, 16> kIq4NlGrid = [] {
  std::array<float, 16> g{};
  for (std::size_t k = 0; k < g.size(); ++k) g[k] = static_cast<float>(kIq4NlValues[k]);
  return g;
}();

float iq4nl_value(int index) { return kIq4NlGrid[static_cast<std::size_t>(index)]; }

// The codebook index nearest to v (v in codebook units); values beyond either
// end clamp to it and a tie goes to the larger entry. Same answer as
// llama.cpp's binary search, including its float distances (the scale search
// compares errors of candidates, so one flipped code can flip the winner),
// but branch-free: lo counts the inner entries <= v. A binary search on
// random codes mispredicts so often that IQ4_NL quantized 3.7 M values/s (16
// searches per value); this form makes it 10.9 M values/s (scalar, -O3).
int nearest_iq4nl(float v) {
  int lo = 0;
  for (std::size_t k = 1; k < 15; ++k) lo += v >= kIq4NlGrid[k] ? 1 : 0;
  // v <= grid[0] gives lo = 0 and a true comparison (0); v >= grid[15] gives
  // lo = 14 and a false one (15), so the ends need no special case.
  const float below = kIq4NlGrid[static_cast<std::size_t>(lo)];
  const float above = kIq4NlGrid[static_cast<std::size_t>(lo) + 1];
  return v - below < above - v ? lo : lo + 1;
}

// Weighted least squares over a fixed assignment: returns sum w*q*x and sum w*q*q.
struct Fit {
  float sumqx = 0.0f;
  float sumq2 = 0.0f;
};
Fit fit_scale(const float* x, const std::array<float, kQK>& w, float id) {
  Fit f;
  for (std::size_t j = 0; j < kQK; ++j) {
    const float q = iq4nl_value(nearest_iq4nl(id * x[j]));
    f.sumqx += w[j] * q * x[j];
    f.sumq2 += w[j] * q * q;
  }
  return f;
}

// Below this magnitude a block is treated as all zeros (ggml's GROUP_MAX_EPS).
constexpr float kIq4NlZeroBlock = 1e-15f;
// Candidate scales map the largest value to -127 + t for t in [-7, 7].
constexpr int kIq4NlSearch = 7;

// One block the way llama-quantize writes IQ4_NL without an importance matrix
// (ggml's quantize_iq4_nl with no quant weights, ntry = 7). Each candidate
// scale assigns codes by nearest codebook entry, then gets its least-squares
// scale under weights x² (large values matter most); the candidate with the
// least weighted error wins. ggml's quantize_row_iq4_nl_ref (ntry = -1) keeps
// only the first candidate and is not what the quantizer tool writes.
void quantize_block_iq4_nl(const float* x, BlockIQ4_NL& b) {
  float d = 0.0f;
  const float max = signed_absmax(x);
  if (std::fabs(max) >= kIq4NlZeroBlock) {
    std::array<float, kQK> w{};
    for (std::size_t j = 0; j < kQK; ++j) w[j] = x[j] * x[j];
    // First candidate: the largest value at +127, which clips to the top
    // entry 113; the others map it to -127 + t, where the grid reaches -127.
    Fit f = fit_scale(x, w, 1.0f / (-max / iq4nl_value(0)));
    d = f.sumq2 > 0.0f ? f.sumqx / f.sumq2 : 0.0f;
    float best = d * f.sumqx;  // the error reduction sum(w*q*x)^2 / sum(w*q*q) to maximise
    for (int t = -kIq4NlSearch; t <= kIq4NlSearch; ++t) {
      f = fit_scale(x, w, static_cast<float>(t + kIq4NlValues[0]) / max);
      if (f.sumq2 > 0.0f && f.sumqx * f.sumqx > best * f.sumq2) {
        d = f.sumqx / f.sumq2;
        best = d * f.sumqx;
      }
    }
  }
  b.d = fp32_to_fp16(d);
  // Final codes against the fp32 scale. A zero block maps every value to the
  // entry nearest 0 (index 8, value +1) with d = 0, as llama.cpp does.
  const float id = inverse_or_zero(d);
  std::array<int, kQK> q{};
  for (std::size_t j = 0; j < kQK; ++j) q[j] = nearest_iq4nl(id * x[j]);
  pack_nibbles(q, b);
}

}  // namespace

// ---- quantizers ------------------------------------------------------------

void quantize_row_q4_0(const float* x, BlockQ4_0* y, std::int64_t n) {
  for (std::int64_t i = 0, nb = block_count(n); i < nb; ++i, x += kQK) {
    // The extreme value maps to code 0 (-8): the grid's one unpaired level.
    const float d = signed_absmax(x) / -8.0f;
    const float id = inverse_or_zero(d);
    std::array<int, kQK> q{};
    for (std::size_t j = 0; j < kQK; ++j) q[j] = offset_code(x[j], id, 8.5f, 15);
    y[i].d = fp32_to_fp16(d);
    pack_nibbles(q, y[i]);
  }
}

void quantize_row_q4_1(const float* x, BlockQ4_1* y, std::int64_t n) {
  for (std::int64_t i = 0, nb = block_count(n); i < nb; ++i, x += kQK) {
    const MinMax r = min_max(x);
    const float d = (r.max - r.min) / 15.0f;
    const float id = inverse_or_zero(d);
    std::array<int, kQK> q{};
    for (std::size_t j = 0; j < kQK; ++j) q[j] = affine_code(x[j], r.min, id, 15);
    y[i].d = fp32_to_fp16(d);
    y[i].m = fp32_to_fp16(r.min);
    pack_nibbles(q, y[i]);
  }
}

void quantize_row_q5_0(const float* x, BlockQ5_0* y, std::int64_t n) {
  for (std::int64_t i = 0, nb = block_count(n); i < nb; ++i, x += kQK) {
    const float d = signed_absmax(x) / -16.0f;
    const float id = inverse_or_zero(d);
    std::array<int, kQK> q{};
    for (std::size_t j = 0; j < kQK; ++j) q[j] = offset_code(x[j], id, 16.5f, 31);
    y[i].d = fp32_to_fp16(d);
    pack_nibbles(q, y[i]);
    pack_fifth_bits(q, y[i]);
  }
}

void quantize_row_q5_1(const float* x, BlockQ5_1* y, std::int64_t n) {
  for (std::int64_t i = 0, nb = block_count(n); i < nb; ++i, x += kQK) {
    const MinMax r = min_max(x);
    const float d = (r.max - r.min) / 31.0f;
    const float id = inverse_or_zero(d);
    std::array<int, kQK> q{};
    // llama.cpp does not clamp Q5_1 codes; (max - min) * id stays below 31.5,
    // so the clamp never fires and only guards the bit packing.
    for (std::size_t j = 0; j < kQK; ++j) q[j] = affine_code(x[j], r.min, id, 31);
    y[i].d = fp32_to_fp16(d);
    y[i].m = fp32_to_fp16(r.min);
    pack_nibbles(q, y[i]);
    pack_fifth_bits(q, y[i]);
  }
}

void quantize_row_q8_0(const float* x, BlockQ8_0* y, std::int64_t n) {
  for (std::int64_t i = 0, nb = block_count(n); i < nb; ++i, x += kQK) {
    const float d = abs_max(x) / 127.0f;
    const float id = inverse_or_zero(d);
    y[i].d = fp32_to_fp16(d);
    for (std::size_t j = 0; j < kQK; ++j) y[i].qs[j] = round_code(x[j], id);
  }
}

void quantize_row_q8_1(const float* x, BlockQ8_1* y, std::int64_t n) {
  for (std::int64_t i = 0, nb = block_count(n); i < nb; ++i, x += kQK) {
    const float d = abs_max(x) / 127.0f;
    const float id = inverse_or_zero(d);
    int sum = 0;
    for (std::size_t j = 0; j < kQK; ++j) {
      y[i].qs[j] = round_code(x[j], id);
      sum += y[i].qs[j];
    }
    y[i].d = fp32_to_fp16(d);
    y[i].s = fp32_to_fp16(static_cast<float>(sum) * d);  // from the fp32 d, as llama.cpp
  }
}

void quantize_row_iq4_nl(const float* x, BlockIQ4_NL* y, std::int64_t n) {
  for (std::int64_t i = 0, nb = block_count(n); i < nb; ++i, x += kQK) quantize_block_iq4_nl(x, y[i]);
}

// ---- decoders --------------------------------------------------------------

void dequantize_row_q4_0(const BlockQ4_0* x, float* y, std::int64_t n) {
  for (std::int64_t i = 0, nb = block_count(n); i < nb; ++i, y += kQK) {
    const float d = fp16_to_fp32(x[i].d);
    for (std::size_t j = 0; j < kHalfQK; ++j) {
      y[j] = static_cast<float>((x[i].qs[j] & 0x0F) - 8) * d;
      y[j + kHalfQK] = static_cast<float>((x[i].qs[j] >> 4) - 8) * d;
    }
  }
}

void dequantize_row_q4_1(const BlockQ4_1* x, float* y, std::int64_t n) {
  for (std::int64_t i = 0, nb = block_count(n); i < nb; ++i, y += kQK) {
    const float d = fp16_to_fp32(x[i].d);
    const float m = fp16_to_fp32(x[i].m);
    for (std::size_t j = 0; j < kHalfQK; ++j) {
      y[j] = static_cast<float>(x[i].qs[j] & 0x0F) * d + m;
      y[j + kHalfQK] = static_cast<float>(x[i].qs[j] >> 4) * d + m;
    }
  }
}

void dequantize_row_q5_0(const BlockQ5_0* x, float* y, std::int64_t n) {
  for (std::int64_t i = 0, nb = block_count(n); i < nb; ++i, y += kQK) {
    const float d = fp16_to_fp32(x[i].d);
    const std::array<int, kQK> q = unpack_5bit(x[i]);
    for (std::size_t j = 0; j < kQK; ++j) y[j] = static_cast<float>(q[j] - 16) * d;
  }
}

void dequantize_row_q5_1(const BlockQ5_1* x, float* y, std::int64_t n) {
  for (std::int64_t i = 0, nb = block_count(n); i < nb; ++i, y += kQK) {
    const float d = fp16_to_fp32(x[i].d);
    const float m = fp16_to_fp32(x[i].m);
    const std::array<int, kQK> q = unpack_5bit(x[i]);
    for (std::size_t j = 0; j < kQK; ++j) y[j] = static_cast<float>(q[j]) * d + m;
  }
}

void dequantize_row_q8_0(const BlockQ8_0* x, float* y, std::int64_t n) {
  for (std::int64_t i = 0, nb = block_count(n); i < nb; ++i, y += kQK) {
    const float d = fp16_to_fp32(x[i].d);
    for (std::size_t j = 0; j < kQK; ++j) y[j] = static_cast<float>(x[i].qs[j]) * d;
  }
}

void dequantize_row_q8_1(const BlockQ8_1* x, float* y, std::int64_t n) {
  for (std::int64_t i = 0, nb = block_count(n); i < nb; ++i, y += kQK) {
    const float d = fp16_to_fp32(x[i].d);
    for (std::size_t j = 0; j < kQK; ++j) y[j] = static_cast<float>(x[i].qs[j]) * d;
  }
}

void dequantize_row_iq4_nl(const BlockIQ4_NL* x, float* y, std::int64_t n) {
  for (std::int64_t i = 0, nb = block_count(n); i < nb; ++i, y += kQK) {
    const float d = fp16_to_fp32(x[i].d);
    for (std::size_t j = 0; j < kHalfQK; ++j) {
      y[j] = d * iq4nl_value(x[i].qs[j] & 0x0F);
      y[j + kHalfQK] = d * iq4nl_value(x[i].qs[j] >> 4);
    }
  }
}

}  // namespace quantlm::formats
