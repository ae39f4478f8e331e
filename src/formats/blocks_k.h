// Super-block layouts of llama.cpp's K-quants, Q8_K and IQ4_XS: these structs are the bytes on disk.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "formats/blocks_legacy.h"  // kIq4NlValues, the grid IQ4_XS shares with IQ4_NL

namespace quantlm::formats {

// Every type here covers kQK = 256 weights per super-block, split into
// sub-blocks of 16 or 32 weights that each carry a small integer scale (and,
// for the "x = d*q - m" types, a min) relative to the super-block's fp16 scale.
// fp16 fields hold raw binary16 bits (core/half.h converts); multi-byte fields
// are little-endian on disk, which these structs read natively only on a
// little-endian host. As in blocks_legacy.h the file formats are packed, so a
// block may start at any byte (a row of 110-byte Q3_K blocks keeps only 2-byte
// alignment, a view into another buffer may keep none); their members are
// bytes, byte arrays and uint16_t, so there is no padding either way.
static_assert(std::endian::native == std::endian::little, "block structs assume a little-endian host");

inline constexpr int kQK = 256;          // weights per super-block
inline constexpr int kKScaleBytes = 12;  // Q4_K/Q5_K: 8 six-bit scales + 8 six-bit mins

// Q2_K: x = d*sc*q - dmin*m over 16 sub-blocks of 16, q in 0..3, sc and m 4-bit.
// 16 + 64 + 2 + 2 = 84 bytes per 256 weights = 2.625 bits per weight.
// Weight w = 128*h + 32*s + l (h < 2, s < 4, l < 32) is bits 2s..2s+1 of
// qs[32*h + l]; its sub-block is w / 16.
struct [[gnu::packed]] BlockQ2K {
  std::array<std::uint8_t, kQK / 16> scales;  // low nibble sc, high nibble m, per sub-block
  std::array<std::uint8_t, kQK / 4> qs;
  std::uint16_t d;     // fp16 step of the sub-block scales
  std::uint16_t dmin;  // fp16 step of the sub-block mins
};
static_assert(sizeof(BlockQ2K) == 84);

// Q3_K: x = d*(sc - 32)*(q - 4) over 16 sub-blocks of 16, q in 0..7, sc 6-bit.
// 32 + 64 + 12 + 2 = 110 bytes per 256 weights = 3.4375 bits per weight.
// The low two bits of q sit in qs as in Q2_K; the high bit of weight w is bit
// w / 32 of hmask[w % 32]. Scale j: low nibble in scales[j % 8] (low nibble for
// j < 8, high for j >= 8), high two bits at bit 2*(j / 4) of scales[8 + j % 4].
struct [[gnu::packed]] BlockQ3K {
  std::array<std::uint8_t, kQK / 8> hmask;
  std::array<std::uint8_t, kQK / 4> qs;
  std::array<std::uint8_t, 12> scales;
  std::uint16_t d;  // fp16
};
static_assert(sizeof(BlockQ3K) == 110);

// Q4_K: x = d*sc*q - dmin*m over 8 sub-blocks of 32, q in 0..15, sc and m 6-bit
// (unpacked by k4_scale_min below). 2 + 2 + 12 + 128 = 144 bytes = 4.5 bits per weight.
// Weight 64*c + l (l < 32) is the low nibble of qs[32*c + l], 64*c + 32 + l the high one.
struct [[gnu::packed]] BlockQ4K {
  std::uint16_t d;     // fp16
  std::uint16_t dmin;  // fp16
  std::array<std::uint8_t, kKScaleBytes> scales;
  std::array<std::uint8_t, kQK / 2> qs;
};
static_assert(sizeof(BlockQ4K) == 144);

// Q5_K: Q4_K with a fifth bit, q in 0..31; the high bit of weight w is bit
// w / 32 of qh[w % 32]. 2 + 2 + 12 + 32 + 128 = 176 bytes = 5.5 bits per weight.
struct [[gnu::packed]] BlockQ5K {
  std::uint16_t d;     // fp16
  std::uint16_t dmin;  // fp16
  std::array<std::uint8_t, kKScaleBytes> scales;
  std::array<std::uint8_t, kQK / 8> qh;
  std::array<std::uint8_t, kQK / 2> qs;
};
static_assert(sizeof(BlockQ5K) == 176);

// Q6_K: x = d*sc*(q - 32) over 16 sub-blocks of 16, q in 0..63, sc int8.
// 128 + 64 + 16 + 2 = 210 bytes = 6.5625 bits per weight. In half h (128
// weights), weight 128*h + 32*k + l (k < 4, l < 32) keeps its low nibble in
// ql[64*h + 32*(k % 2) + l] (low nibble for k < 2, high for k >= 2) and its top
// two bits at bit 2k of qh[32*h + l].
struct [[gnu::packed]] BlockQ6K {
  std::array<std::uint8_t, kQK / 2> ql;
  std::array<std::uint8_t, kQK / 4> qh;
  std::array<std::int8_t, kQK / 16> scales;
  std::uint16_t d;  // fp16
};
static_assert(sizeof(BlockQ6K) == 210);

// Q8_K: the activation format K-quant dot products pair with: x = d*q, q int8,
// plus the sum of each 16 quants so kernels fold in Q2_K..Q5_K's mins cheaply.
// 4 + 256 + 32 = 292 bytes = 9.125 bits per value. Never stored in model files,
// so not packed: kernels fill aligned scratch rows and read d and bsums with
// natural loads (292 is a multiple of alignof = 4, so arrays stay aligned).
struct BlockQ8K {
  float d;
  std::array<std::int8_t, kQK> qs;
  std::array<std::int16_t, kQK / 16> bsums;
};
static_assert(sizeof(BlockQ8K) == 292 && alignof(BlockQ8K) == 4);

// IQ4_XS: x = d*(sc - 32)*kIq4NlValues[q] over 8 sub-blocks of 32, q 4-bit
// indexing IQ4_NL's non-uniform grid (blocks_legacy.h), sc 6-bit.
// 2 + 2 + 4 + 128 = 136 bytes = 4.25 bits per weight. Sub-block b: weight 32*b + l is the low nibble of
// qs[16*b + l] for l < 16, the high nibble of qs[16*b + l - 16] otherwise;
// its scale's low nibble is nibble b % 2 of scales_l[b / 2], its high two bits
// are bits 2b..2b+1 of scales_h.
struct [[gnu::packed]] BlockIQ4XS {
  std::uint16_t d;  // fp16
  std::uint16_t scales_h;
  std::array<std::uint8_t, kQK / 64> scales_l;
  std::array<std::uint8_t, kQK / 2> qs;
};
static_assert(sizeof(BlockIQ4XS) == 136);

static_assert(std::is_trivially_copyable_v<BlockQ2K> && std::is_trivially_copyable_v<BlockQ3K> &&
              std::is_trivially_copyable_v<BlockQ4K> && std::is_trivially_copyable_v<BlockQ5K> &&
              std::is_trivially_copyable_v<BlockQ6K> && std::is_trivially_copyable_v<BlockQ8K> &&
              std::is_trivially_copyable_v<BlockIQ4XS>);

// Unpacking helpers shared by the row codecs and, later, the dot kernels.

struct ScaleMin {
  std::uint8_t scale;  // 0..63
  std::uint8_t min;    // 0..63
};

// Sub-block j's 6-bit scale and min in Q4_K/Q5_K's 12 bytes: sub-blocks 0..3
// keep theirs in the low six bits of bytes j and j + 4; 4..7 put their low
// nibbles in byte j + 4 and their top two bits in the spare high bits of
// bytes j - 4 (scale) and j (min).
[[nodiscard]] constexpr ScaleMin k4_scale_min(const std::array<std::uint8_t, kKScaleBytes>& s, int j) {
  const auto at = [&](int i) { return static_cast<unsigned>(s[static_cast<std::size_t>(i)]); };
  if (j < 4) return {static_cast<std::uint8_t>(at(j) & 63U), static_cast<std::uint8_t>(at(j + 4) & 63U)};
  return {static_cast<std::uint8_t>((at(j + 4) & 0xFU) | ((at(j - 4) >> 6) << 4)),
          static_cast<std::uint8_t>((at(j + 4) >> 4) | ((at(j) >> 6) << 4))};
}

// Q3_K's sub-block j scale, -32..31.
[[nodiscard]] constexpr int q3k_scale(const BlockQ3K& b, int j) {
  const unsigned low = static_cast<unsigned>(b.scales[static_cast<std::size_t>(j % 8)]) >> (j < 8 ? 0 : 4);
  const unsigned high = static_cast<unsigned>(b.scales[static_cast<std::size_t>(8 + j % 4)]) >> (2 * (j / 4));
  return static_cast<int>((low & 0xFU) | ((high & 3U) << 4)) - 32;
}

// IQ4_XS's sub-block b scale, -32..31.
[[nodiscard]] constexpr int iq4xs_scale(const BlockIQ4XS& blk, int b) {
  const unsigned low = static_cast<unsigned>(blk.scales_l[static_cast<std::size_t>(b / 2)]) >> (4 * (b % 2));
  const unsigned high = static_cast<unsigned>(blk.scales_h) >> (2 * b);
  return static_cast<int>((low & 0xFU) | ((high & 3U) << 4)) - 32;
}

}  // namespace quantlm::formats
