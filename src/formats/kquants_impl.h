// Internals shared by the K-quant codec files: rounding, the scale searches, and block-by-block row loops.
#pragma once

#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>

#include "formats/blocks_k.h"

namespace quantlm::formats::kq {

// Round to nearest, ties to even, for |x| < 2^22. Adding 1.5 * 2^23 moves x
// into the binade where one ulp is 1, so the float addition itself does the
// rounding; the integer sits in the low mantissa bits. This is llama.cpp's
// rounding (not std::round's ties-away), which byte-identical output needs.
[[nodiscard]] inline int nearest_int(float x) {
  assert(x <= 4194303.F && x >= -4194303.F);
  const float shifted = x + 12582912.F;
  return static_cast<int>(std::bit_cast<std::uint32_t>(shifted) & 0x007fffffU) - 0x00400000;
}

// Index into the blocks' std::arrays from the int arithmetic of the layouts.
[[nodiscard]] constexpr std::size_t idx(int i) { return static_cast<std::size_t>(i); }

[[nodiscard]] constexpr int clamp_int(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

// Sub-blocks whose largest magnitude is below this are treated as all zero.
inline constexpr float kGroupMaxEps = 1e-15F;

// Symmetric search: a scale s and levels L[i] in 0..2*nmax-1 with
// x[i] ~ s * (L[i] - nmax), minimising sum x^2 * (x - s*q)^2 over a grid of 19
// trial inverse scales around nmax / max|x|, each followed by the least-squares
// scale for its levels. Returns s (negative when the largest-magnitude value is
// positive: the grid maps that value to -nmax, the level with the most room).
float make_qx_quants(int n, int nmax, const float* x, std::int8_t* levels);

// Q3_K's symmetric search: starts like make_qx_quants' first trial, then moves
// single levels while that lowers the x^2-weighted error (up to 5 sweeps).
// Levels come out in 0..2*nmax-1 as above. As in llama.cpp, the refinement
// only ever runs for a sub-block whose peak is negative: with a positive peak
// the levels have the opposite sign of their values, every partial sum of
// x*l is <= 0, and a step needs it > 0. Kept: the bytes must match.
float make_q3_quants(int n, int nmax, const float* x, std::int8_t* levels);

// Asymmetric search for x ~ scale * L - min with L in 0..nmax, min >= 0:
// trial inverse scales (rmin + rdelta*k + nmax) / (max - min) for k in 0..nstep,
// each followed by a weighted least-squares fit of scale and min; the error is
// weighted absolute (use_mad) or squared. `aux` is scratch of n bytes.
struct AffineSearch {
  int nmax;
  float rmin;
  float rdelta;
  int nstep;
  bool use_mad;
};
float make_qkx2_quants(int n, const float* x, const float* weights, std::uint8_t* levels, float* the_min,
                       std::uint8_t* aux, const AffineSearch& grid);

// Row loops over whole super-blocks (n a multiple of kQK).
template <typename Block>
void dequantize_blocks(const Block* x, float* y, std::int64_t n) {
  assert(n % kQK == 0);
  for (std::int64_t i = 0; i < n / kQK; ++i) dequantize_block(x[i], y + i * kQK);
}

template <typename Block>
void quantize_blocks(const float* x, Block* y, std::int64_t n, Block (*quantize_block)(const float*)) {
  assert(n % kQK == 0);
  for (std::int64_t i = 0; i < n / kQK; ++i) y[i] = quantize_block(x + i * kQK);
}

}  // namespace quantlm::formats::kq
