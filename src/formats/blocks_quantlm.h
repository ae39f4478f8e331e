// Byte layouts of quantlm's formats (groups sharing a scale, or a scale per row): these structs are the bytes on disk.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <type_traits>

namespace quantlm::formats {

static_assert(std::endian::native == std::endian::little, "block layouts assume a little-endian host");

// A row of a group format ("I4_G32") is a sequence of groups of `Group` values,
// each a header (fp16 scale d, then fp16 offset m for affine "A" formats) and
// the group's codes as a little-endian bit stream: code j occupies bits
// j*Bits .. j*Bits + Bits - 1, counting from bit 0 of the first code byte.
// A value decodes as x = d * level[code] (+ m). When the row length is not a
// multiple of Group, the last group is ragged: the same header followed by
// ceil(rest * Bits / 8) code bytes, so any row length quantizes and no byte is
// spent on padding (stories260K's 172-column ffn_down: 5 groups of 32 and one of 12).
//
// A row of a per-row format ("I8_ROW") is one header with fp32 d (and fp32 m)
// followed by ceil(cols * Bits / 8) code bytes. fp32 costs 32 / cols bits per
// weight (0.5 at 64 columns) and keeps folded corrections exact.
//
// Packed for the same reason as blocks_legacy.h: rows are not aligned.
template <int Bits, int Group, bool Affine>
struct [[gnu::packed]] GroupBlock {
  std::array<std::uint16_t, Affine ? 2 : 1> scales;  // fp16 d, then m
  std::array<std::uint8_t, Group * Bits / 8> qs;
};

template <bool Affine>
struct [[gnu::packed]] RowHeader {
  std::array<float, Affine ? 2 : 1> scales;  // fp32 d, then m
};
static_assert(sizeof(RowHeader<false>) == 4 && sizeof(RowHeader<true>) == 8);

// Bytes per full group; bits per weight = 8 * bytes / Group.
static_assert(sizeof(GroupBlock<8, 32, false>) == 34);    // I8_G32, FP8_G32: 8.5
static_assert(sizeof(GroupBlock<8, 32, true>) == 36);     // I8_G32A: 9.0
static_assert(sizeof(GroupBlock<8, 64, false>) == 66);    // I8_G64: 8.25
static_assert(sizeof(GroupBlock<8, 128, false>) == 130);  // I8_G128: 8.125
static_assert(sizeof(GroupBlock<4, 32, false>) == 18);    // I4_G32, LOG2_4_G32: 4.5
static_assert(sizeof(GroupBlock<4, 32, true>) == 20);     // I4_G32A: 5.0
static_assert(sizeof(GroupBlock<4, 64, false>) == 34);    // I4_G64, NF4_G64: 4.25
static_assert(sizeof(GroupBlock<4, 128, false>) == 66);   // I4_G128: 4.125
static_assert(sizeof(GroupBlock<4, 128, true>) == 68);    // I4_G128A: 4.25
static_assert(sizeof(GroupBlock<3, 32, false>) == 14);    // I3_G32: 3.5
static_assert(sizeof(GroupBlock<3, 128, false>) == 50);   // I3_G128: 3.125
static_assert(sizeof(GroupBlock<2, 32, false>) == 10);    // I2_G32, TERN_G32: 2.5
static_assert(sizeof(GroupBlock<2, 32, true>) == 12);     // I2_G32A: 3.0
static_assert(sizeof(GroupBlock<2, 128, false>) == 34);   // I2_G128: 2.125
static_assert(sizeof(GroupBlock<1, 32, false>) == 6);     // BIN_G32: 1.5
static_assert(std::is_trivially_copyable_v<GroupBlock<3, 32, true>>);

}  // namespace quantlm::formats
