// The level grids of searchable formats (integer, NF4, log2, binary, ternary, FP8 E4M3, IQ4_NL), as constexpr tables.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <utility>

#include "formats/blocks_legacy.h"
#include "formats/scale_search.h"

namespace quantlm::formats::grids {
namespace detail {

template <int Lo, int Count>
constexpr std::array<float, Count> int_levels() {
  std::array<float, Count> a{};
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(Lo + static_cast<int>(i));
  return a;
}

template <std::size_t N>
constexpr std::array<float, N - 1> midpoints(const std::array<float, N>& levels) {
  std::array<float, N - 1> m{};
  for (std::size_t i = 0; i + 1 < N; ++i) m[i] = 0.5F * (levels[i] + levels[i + 1]);
  return m;
}

// FP8 E4M3 "fn" (OCP FP8, as in PyTorch's float8_e4m3fn): sign, 4 exponent
// bits with bias 7, 3 mantissa bits; no infinities, 0x7F and 0xFF are NaN;
// largest finite 448 = 1.75 * 2^8, smallest subnormal 2^-9.
constexpr float e4m3_value(unsigned code) {
  const unsigned exponent = (code >> 3) & 0xFU;
  const unsigned mantissa = code & 0x7U;
  if (exponent == 0xFU && mantissa == 0x7U) return std::numeric_limits<float>::quiet_NaN();
  float magnitude = exponent == 0 ? static_cast<float>(mantissa) / 8.0F : 1.0F + static_cast<float>(mantissa) / 8.0F;
  const int e = exponent == 0 ? -6 : static_cast<int>(exponent) - 7;
  for (int i = 0; i < e; ++i) magnitude *= 2.0F;
  for (int i = 0; i > e; --i) magnitude *= 0.5F;
  return (code & 0x80U) != 0 ? -magnitude : magnitude;
}

// Finite E4M3 values without -0: 2 * 126 nonzero magnitudes and 0.
inline constexpr std::size_t kFp8Levels = 253;

struct Fp8Tables {
  std::array<float, 256> decode{};
  std::array<float, kFp8Levels> levels{};
  std::array<std::uint8_t, kFp8Levels> code_of{};
};

constexpr Fp8Tables fp8_tables() {
  Fp8Tables t;
  std::array<std::pair<float, std::uint8_t>, kFp8Levels> sorted{};
  std::size_t n = 0;
  for (unsigned c = 0; c < 256; ++c) {
    t.decode[c] = e4m3_value(c);
    const bool nan = (c & 0x7FU) == 0x7FU;
    if (!nan && c != 0x80U) sorted[n++] = {t.decode[c], static_cast<std::uint8_t>(c)};
  }
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t i = 0; i < kFp8Levels; ++i) {
    t.levels[i] = sorted[i].first;
    t.code_of[i] = sorted[i].second;
  }
  return t;
}

// Log2 4-bit: code = sign << 3 | e, value (sign ? -1 : 1) * 2^-e, e in 0..7.
// No zero: the smallest magnitude is 2^-7 of the scale.
constexpr float log2_value(unsigned code) {
  float v = 1.0F;
  for (unsigned i = 0; i < (code & 7U); ++i) v *= 0.5F;
  return (code & 8U) != 0 ? -v : v;
}
constexpr std::array<float, 16> log2_decode() {
  std::array<float, 16> d{};
  for (unsigned c = 0; c < 16; ++c) d[c] = log2_value(c);
  return d;
}
// Ascending: -1, -1/2, ..., -1/128 (codes 8..15), then 1/128, ..., 1 (codes 7..0).
constexpr std::array<std::uint8_t, 16> log2_codes() {
  std::array<std::uint8_t, 16> c{};
  for (std::size_t i = 0; i < 16; ++i) c[i] = static_cast<std::uint8_t>(i < 8 ? 8 + i : 15 - i);
  return c;
}
constexpr std::array<float, 16> log2_levels() {
  const auto d = log2_decode();
  const auto c = log2_codes();
  std::array<float, 16> l{};
  for (std::size_t i = 0; i < 16; ++i) l[i] = d[c[i]];
  return l;
}

}  // namespace detail

// Integer levels: symmetric lo = -2^(b-1) .. 2^(b-1) - 1, affine 0 .. 2^b - 1.
template <int Bits>
inline constexpr auto kSymLevels = detail::int_levels<-(1 << (Bits - 1)), (1 << Bits)>();
template <int Bits>
inline constexpr auto kAffineLevels = detail::int_levels<0, (1 << Bits)>();
// Q8_0's -127..127 (llama.cpp never writes -128).
inline constexpr auto kQ8Levels = detail::int_levels<-127, 255>();

// QLoRA's NormalFloat-4: quantiles of N(0, 1) scaled to [-1, 1], with an exact
// zero; 7 negative and 8 positive levels (bitsandbytes' table, to fp32 precision).
inline constexpr std::array<float, 16> kNf4Levels = {
    -1.0F,         -0.6961928010F, -0.5250730515F, -0.3949174881F, -0.2844413817F, -0.1847734302F, -0.0910500363F, 0.0F,
    0.0795802996F, 0.1609302014F,  0.2461123019F,  0.3379152417F,  0.4407098293F,  0.5626170039F,  0.7229568362F,  1.0F,
};
inline constexpr auto kNf4Midpoints = detail::midpoints(kNf4Levels);

inline constexpr auto kLog2Decode = detail::log2_decode();
inline constexpr auto kLog2Codes = detail::log2_codes();
inline constexpr auto kLog2Levels = detail::log2_levels();
inline constexpr auto kLog2Midpoints = detail::midpoints(kLog2Levels);

inline constexpr std::array<float, 2> kBinaryLevels = {-1.0F, 1.0F};
inline constexpr auto kBinaryMidpoints = detail::midpoints(kBinaryLevels);
inline constexpr std::array<float, 3> kTernaryLevels = {-1.0F, 0.0F, 1.0F};
inline constexpr auto kTernaryMidpoints = detail::midpoints(kTernaryLevels);
inline constexpr std::array<float, 4> kTernaryDecode = {-1.0F, 0.0F, 1.0F, 0.0F};  // code 3 is never written

inline constexpr detail::Fp8Tables kFp8 = detail::fp8_tables();
inline constexpr auto kFp8Midpoints = detail::midpoints(kFp8.levels);

inline constexpr std::array<float, 16> kIq4NlLevels = [] {
  std::array<float, 16> l{};
  for (std::size_t i = 0; i < l.size(); ++i) l[i] = static_cast<float>(kIq4NlValues[i]);
  return l;
}();
inline constexpr auto kIq4NlMidpoints = detail::midpoints(kIq4NlLevels);

namespace detail {

// Built by assignment: g++ 12 warns about members a designated initializer leaves to their defaults.
constexpr Grid integer_grid(std::span<const float> levels, int bits, bool affine, bool with_decode = true) {
  Grid g;
  g.levels = levels;
  if (with_decode) g.decode = levels;
  g.bits = bits;
  g.integer = true;
  g.affine = affine;
  return g;
}
constexpr Grid codebook(std::span<const float> levels, std::span<const float> midpoints, std::span<const float> decode,
                        int bits, std::span<const std::uint8_t> code_of = {},
                        ScaleSearch default_search = ScaleSearch::min_max) {
  Grid g;
  g.levels = levels;
  g.midpoints = midpoints;
  g.code_of = code_of;
  g.decode = decode;
  g.bits = bits;
  g.default_search = default_search;
  return g;
}

}  // namespace detail

template <int Bits>
inline constexpr Grid kSym = detail::integer_grid(kSymLevels<Bits>, Bits, false);
template <int Bits>
inline constexpr Grid kAffine = detail::integer_grid(kAffineLevels<Bits>, Bits, true);
inline constexpr Grid kQ8_0 = detail::integer_grid(kQ8Levels, 8, false, false);  // Q8_0 packs its own codes
inline constexpr Grid kNf4 = detail::codebook(kNf4Levels, kNf4Midpoints, kNf4Levels, 4);
inline constexpr Grid kLog2 = detail::codebook(kLog2Levels, kLog2Midpoints, kLog2Decode, 4, kLog2Codes);
inline constexpr Grid kBinary =
    detail::codebook(kBinaryLevels, kBinaryMidpoints, kBinaryLevels, 1, {}, ScaleSearch::absmean);
inline constexpr Grid kTernary =
    detail::codebook(kTernaryLevels, kTernaryMidpoints, kTernaryDecode, 2, {}, ScaleSearch::absmean);
inline constexpr Grid kFp8E4M3 = detail::codebook(kFp8.levels, kFp8Midpoints, kFp8.decode, 8, kFp8.code_of);
inline constexpr Grid kIq4Nl = detail::codebook(kIq4NlLevels, kIq4NlMidpoints, {}, 4);  // IQ4_NL packs its own

}  // namespace quantlm::formats::grids
