// Block layouts of ggml's 32-value formats (Q4_0 … Q8_1, IQ4_NL): these structs are the bytes in a GGUF file.
#pragma once

#include <array>
#include <cstdint>
#include <type_traits>

namespace quantlm::formats {

// Values per block of every legacy format (ggml's QK4_0 = QK8_0 = QK4_NL = 32).
inline constexpr int kLegacyBlock = 32;

// Scales are IEEE binary16 kept as raw bits (core/half.h converts them). The
// structs are packed so that a block may start at any byte: a row of 18-byte
// blocks only keeps 2-byte alignment, and views into other buffers may keep
// none. Every member is a byte array or a uint16_t, so the layouts have no
// padding either way; the static_asserts pin each size to ggml's.

// Q4_0: x = d * (q - 8), q in 0..15. qs[j] holds value j in its low nibble and
// value j + 16 in its high nibble. 2 + 16 = 18 bytes per 32: 4.5 bits per weight.
struct [[gnu::packed]] BlockQ4_0 {
  std::uint16_t d;
  std::array<std::uint8_t, kLegacyBlock / 2> qs;
};
static_assert(sizeof(BlockQ4_0) == 18);

// Q4_1: x = d * q + m, q in 0..15, nibbles as Q4_0. 20 bytes per 32: 5.0 bits per weight.
struct [[gnu::packed]] BlockQ4_1 {
  std::uint16_t d;
  std::uint16_t m;
  std::array<std::uint8_t, kLegacyBlock / 2> qs;
};
static_assert(sizeof(BlockQ4_1) == 20);

// Q5_0: x = d * (q - 16), q in 0..31. Low 4 bits as Q4_0; bit j of the
// little-endian qh word is the fifth bit of value j. 22 bytes per 32: 5.5 bits per weight.
struct [[gnu::packed]] BlockQ5_0 {
  std::uint16_t d;
  std::array<std::uint8_t, 4> qh;
  std::array<std::uint8_t, kLegacyBlock / 2> qs;
};
static_assert(sizeof(BlockQ5_0) == 22);

// Q5_1: x = d * q + m, q in 0..31, bits as Q5_0. 24 bytes per 32: 6.0 bits per weight.
struct [[gnu::packed]] BlockQ5_1 {
  std::uint16_t d;
  std::uint16_t m;
  std::array<std::uint8_t, 4> qh;
  std::array<std::uint8_t, kLegacyBlock / 2> qs;
};
static_assert(sizeof(BlockQ5_1) == 24);

// Q8_0: x = d * q, q in -127..127. 34 bytes per 32: 8.5 bits per weight.
struct [[gnu::packed]] BlockQ8_0 {
  std::uint16_t d;
  std::array<std::int8_t, kLegacyBlock> qs;
};
static_assert(sizeof(BlockQ8_0) == 34);

// Q8_1: Q8_0 plus s = d * sum(q), which lets a dot product with a Q4_1/Q5_1
// weight apply the weight's offset m in one multiply. An activation format
// (ggml pairs it with Q4_1 and Q5_1), never stored in model files.
// 36 bytes per 32: 9.0 bits per weight.
struct [[gnu::packed]] BlockQ8_1 {
  std::uint16_t d;
  std::uint16_t s;
  std::array<std::int8_t, kLegacyBlock> qs;
};
static_assert(sizeof(BlockQ8_1) == 36);

// IQ4_NL: x = d * kIq4NlValues[q], q in 0..15, nibbles as Q4_0.
// 18 bytes per 32: 4.5 bits per weight.
struct [[gnu::packed]] BlockIQ4_NL {
  std::uint16_t d;
  std::array<std::uint8_t, kLegacyBlock / 2> qs;
};
static_assert(sizeof(BlockIQ4_NL) == 18);

// IQ4_NL's codebook (ggml's kvalues_iq4nl): a non-uniform grid, denser near
// zero, that suits the bell-shaped distribution of weights better than Q4_0's
// evenly spaced levels. Part of the file format: never change these values.
inline constexpr std::array<std::int8_t, 16> kIq4NlValues = {
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
};

static_assert(std::is_trivially_copyable_v<BlockQ4_0> && std::is_standard_layout_v<BlockQ4_0>);
static_assert(std::is_trivially_copyable_v<BlockQ5_1> && std::is_standard_layout_v<BlockQ5_1>);
static_assert(std::is_trivially_copyable_v<BlockQ8_1> && std::is_standard_layout_v<BlockQ8_1>);
static_assert(std::is_trivially_copyable_v<BlockIQ4_NL> && std::is_standard_layout_v<BlockIQ4_NL>);

}  // namespace quantlm::formats
