// Tests of the 32-value formats (Q4_0 … Q8_1, IQ4_NL) on tiny blocks whose bytes and values are worked out by hand.
#include "formats/legacy_quants.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/half.h"
#include "formats/format_traits.h"

namespace quantlm::formats {
namespace {

using Block32 = std::array<float, kLegacyBlock>;

std::array<float, kLegacyBlock> decode(void (*fn)(const BlockQ4_0*, float*, std::int64_t), const BlockQ4_0& b) {
  Block32 y{};
  fn(&b, y.data(), kLegacyBlock);
  return y;
}

TEST(LegacyQuants, AllZeroBlocksStoreZeroScales) {
  const Block32 x{};
  BlockQ8_0 q8{};
  quantize_row_q8_0(x.data(), &q8, kLegacyBlock);
  EXPECT_EQ(q8.d, 0);  // d = 0 / 127, and the inverse scale falls back to 0 instead of dividing by zero
  for (const std::int8_t q : q8.qs) EXPECT_EQ(q, 0);

  BlockQ4_0 q4{};
  quantize_row_q4_0(x.data(), &q4, kLegacyBlock);
  EXPECT_EQ(q4.d, 0x8000) << "d = 0 / -8 is -0, kept as fp16 -0 like llama.cpp's files";
  for (const std::uint8_t byte : q4.qs) EXPECT_EQ(byte, 0x88) << "zero is code 8 in both nibbles";

  BlockQ4_1 q41{};
  quantize_row_q4_1(x.data(), &q41, kLegacyBlock);
  EXPECT_EQ(q41.d, 0);
  EXPECT_EQ(q41.m, 0);
  for (const std::uint8_t byte : q41.qs) EXPECT_EQ(byte, 0x00);

  // IQ4_NL's codebook has no zero; a zero block stores d = 0 and the entry
  // nearest 0 (index 8, value +1) everywhere, as llama.cpp does.
  BlockIQ4_NL nl{};
  quantize_row_iq4_nl(x.data(), &nl, kLegacyBlock);
  EXPECT_EQ(nl.d, 0);
  for (const std::uint8_t byte : nl.qs) EXPECT_EQ(byte, 0x88);
  Block32 y{};
  y.fill(1.0f);
  dequantize_row_iq4_nl(&nl, y.data(), kLegacyBlock);
  for (const float v : y) EXPECT_EQ(v, 0.0f);
}

TEST(LegacyQuants, Q8_0RecoversRepresentableValuesExactly) {
  // Halves of integers with |q| <= 127 and 63.5 = 127 * 0.5 present: d = 0.5
  // exactly (an fp16 value), x / d is an exact integer, so nothing is lost.
  Block32 x{};
  for (int j = 0; j < kLegacyBlock; ++j)
    x[static_cast<std::size_t>(j)] = 0.5f * static_cast<float>((j * 37) % 255 - 127);
  x[3] = 63.5f;
  x[4] = -63.5f;
  BlockQ8_0 b{};
  quantize_row_q8_0(x.data(), &b, kLegacyBlock);
  EXPECT_EQ(b.d, 0x3800) << "fp16 0.5";
  for (std::size_t j = 0; j < x.size(); ++j) EXPECT_EQ(b.qs[j], static_cast<std::int8_t>(x[j] * 2.0f)) << j;
  Block32 y{};
  dequantize_row_q8_0(&b, y.data(), kLegacyBlock);
  EXPECT_EQ(y, x);
}

TEST(LegacyQuants, Q8_0RoundsHalvesAwayFromZero) {
  // amax 127 gives d = 1; llama.cpp uses roundf, so +-2.5 -> +-3 (not 2 as ties-to-even would).
  Block32 x{};
  x[0] = 127.0f;
  x[1] = 2.5f;
  x[2] = -2.5f;
  x[3] = 0.49999997f;  // the float below 0.5: stays 0 (adding 0.5 first would round it up to 1)
  BlockQ8_0 b{};
  quantize_row_q8_0(x.data(), &b, kLegacyBlock);
  EXPECT_EQ(b.d, 0x3C00) << "fp16 1.0";
  EXPECT_EQ(b.qs[0], 127);
  EXPECT_EQ(b.qs[1], 3);
  EXPECT_EQ(b.qs[2], -3);
  EXPECT_EQ(b.qs[3], 0);
}

TEST(LegacyQuants, Q4_0OutlierTakesTheUnpairedLevel) {
  // One value 16, the rest 0: d = 16 / -8 = -2, so 16 is code 0 ((0 - 8) * -2)
  // and 0 is code 8. Byte j holds values j (low nibble) and j + 16 (high).
  Block32 x{};
  x[5] = 16.0f;
  BlockQ4_0 b{};
  quantize_row_q4_0(x.data(), &b, kLegacyBlock);
  EXPECT_EQ(b.d, 0xC000) << "fp16 -2.0";
  for (std::size_t j = 0; j < b.qs.size(); ++j) EXPECT_EQ(b.qs[j], j == 5 ? 0x80 : 0x88) << j;
  EXPECT_EQ(decode(dequantize_row_q4_0, b), x);

  // The opposite extreme clips: with d = -2, -16 would need code 16; it gets
  // 15, i.e. -14 — the error of up to one step Q4_0 pays for its -8..7 range.
  x[21] = -16.0f;
  quantize_row_q4_0(x.data(), &b, kLegacyBlock);
  EXPECT_EQ(b.qs[5], 0xF0);
  EXPECT_EQ(decode(dequantize_row_q4_0, b)[21], -14.0f);
}

TEST(LegacyQuants, Q4_1RecoversARampExactly) {
  // min 1, max 4.75: d = 3.75 / 15 = 0.25, m = 1, codes j mod 16, all exact in fp16.
  Block32 x{};
  for (int j = 0; j < kLegacyBlock; ++j) x[static_cast<std::size_t>(j)] = 1.0f + 0.25f * static_cast<float>(j % 16);
  BlockQ4_1 b{};
  quantize_row_q4_1(x.data(), &b, kLegacyBlock);
  EXPECT_EQ(b.d, 0x3400) << "fp16 0.25";
  EXPECT_EQ(b.m, 0x3C00) << "fp16 1.0";
  for (std::size_t j = 0; j < b.qs.size(); ++j) EXPECT_EQ(b.qs[j], (j % 16) | ((j % 16) << 4)) << j;
  Block32 y{};
  dequantize_row_q4_1(&b, y.data(), kLegacyBlock);
  EXPECT_EQ(y, x);
}

TEST(LegacyQuants, Q5_0PacksTheFifthBit) {
  // -3.2 at index 31, the rest 0: d = -3.2 / -16 = 0.2; -3.2 is code 0 and 0
  // is code 16 = 0b10000, so every low nibble is 0 and every fifth bit but
  // bit 31 is set.
  Block32 x{};
  x[31] = -3.2f;
  BlockQ5_0 b{};
  quantize_row_q5_0(x.data(), &b, kLegacyBlock);
  EXPECT_EQ(b.d, fp32_to_fp16(0.2f));
  for (const std::uint8_t byte : b.qs) EXPECT_EQ(byte, 0x00);
  EXPECT_EQ(b.qh, (std::array<std::uint8_t, 4>{0xFF, 0xFF, 0xFF, 0x7F})) << "little-endian 0x7FFFFFFF";
  Block32 y{};
  dequantize_row_q5_0(&b, y.data(), kLegacyBlock);
  EXPECT_EQ(y[31], -16.0f * fp16_to_fp32(b.d)) << "-3.2 comes back as -16 times the fp16 scale 0.19995";
  for (std::size_t j = 0; j < 31; ++j) EXPECT_EQ(y[j], 0.0f) << j;
}

TEST(LegacyQuants, Q5_1RecoversARampExactly) {
  // -4 .. 11.5 in steps of 0.5: d = 15.5 / 31 = 0.5, m = -4, codes 0..31.
  Block32 x{};
  for (int j = 0; j < kLegacyBlock; ++j) x[static_cast<std::size_t>(j)] = -4.0f + 0.5f * static_cast<float>(j);
  BlockQ5_1 b{};
  quantize_row_q5_1(x.data(), &b, kLegacyBlock);
  EXPECT_EQ(b.d, 0x3800) << "fp16 0.5";
  EXPECT_EQ(b.m, 0xC400) << "fp16 -4.0";
  // Codes j and j + 16 differ only in the fifth bit, so byte j = (j & 15) * 0x11.
  for (std::size_t j = 0; j < b.qs.size(); ++j) EXPECT_EQ(b.qs[j], j * 0x11) << j;
  EXPECT_EQ(b.qh, (std::array<std::uint8_t, 4>{0x00, 0x00, 0xFF, 0xFF}));
  Block32 y{};
  dequantize_row_q5_1(&b, y.data(), kLegacyBlock);
  EXPECT_EQ(y, x);
}

TEST(LegacyQuants, Q8_1CachesTheScaledSumAndDecodesLikeQ8_0) {
  Block32 x{};
  for (int j = 0; j < kLegacyBlock; ++j) x[static_cast<std::size_t>(j)] = static_cast<float>(j - 10) * 0.125f;
  x[0] = -15.875f;  // amax = 127 * 0.125
  BlockQ8_1 b{};
  quantize_row_q8_1(x.data(), &b, kLegacyBlock);
  BlockQ8_0 ref{};
  quantize_row_q8_0(x.data(), &ref, kLegacyBlock);
  EXPECT_EQ(b.d, ref.d);
  EXPECT_EQ(b.qs, ref.qs);
  // sum(q) = -127 + sum over j = 1..31 of (j - 10) = -127 + 186 = 59; s = 59 * 0.125.
  EXPECT_EQ(b.s, fp32_to_fp16(7.375f));
  Block32 y{};
  dequantize_row_q8_1(&b, y.data(), kLegacyBlock);
  EXPECT_EQ(y, x);
}

TEST(LegacyQuants, Iq4NlFindsAnExactCodebookScale) {
  // x = 0.01 * codebook[j mod 16]. The largest magnitude is -1.27 (entry 0),
  // and the scale search's candidate mapping it onto -127 (t = 0) fits every
  // value exactly, so it wins with d = 0.01 and codes j mod 16.
  Block32 x{};
  for (std::size_t j = 0; j < x.size(); ++j) x[j] = 0.01f * static_cast<float>(kIq4NlValues[j % 16]);
  BlockIQ4_NL b{};
  quantize_row_iq4_nl(x.data(), &b, kLegacyBlock);
  EXPECT_EQ(b.d, fp32_to_fp16(0.01f));
  for (std::size_t j = 0; j < b.qs.size(); ++j) EXPECT_EQ(b.qs[j], (j % 16) * 0x11) << j;
  Block32 y{};
  dequantize_row_iq4_nl(&b, y.data(), kLegacyBlock);
  // Only the fp16 rounding of the scale remains: relative error <= 2^-11.
  for (std::size_t j = 0; j < x.size(); ++j) EXPECT_NEAR(y[j], x[j], std::abs(x[j]) * 0x1p-11f) << j;
}

TEST(LegacyQuants, TraitsTableCarriesTheseCodecs) {
  for (const char* name : {"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q8_1", "IQ4_NL"}) {
    const FormatTraits* f = find_format(name);
    ASSERT_NE(f, nullptr) << name;
    EXPECT_NE(f->dequantize, nullptr) << name;
    EXPECT_NE(f->quantize_ref, nullptr) << name;
    EXPECT_EQ(f->block_elems, kLegacyBlock) << name;
  }
  EXPECT_EQ(traits(FormatId::Q4_0).block_bytes, static_cast<std::int64_t>(sizeof(BlockQ4_0)));
  EXPECT_EQ(traits(FormatId::Q4_1).block_bytes, static_cast<std::int64_t>(sizeof(BlockQ4_1)));
  EXPECT_EQ(traits(FormatId::Q5_0).block_bytes, static_cast<std::int64_t>(sizeof(BlockQ5_0)));
  EXPECT_EQ(traits(FormatId::Q5_1).block_bytes, static_cast<std::int64_t>(sizeof(BlockQ5_1)));
  EXPECT_EQ(traits(FormatId::Q8_0).block_bytes, static_cast<std::int64_t>(sizeof(BlockQ8_0)));
  EXPECT_EQ(traits(FormatId::Q8_1).block_bytes, static_cast<std::int64_t>(sizeof(BlockQ8_1)));
  EXPECT_EQ(traits(FormatId::IQ4_NL).block_bytes, static_cast<std::int64_t>(sizeof(BlockIQ4_NL)));
}

}  // namespace
}  // namespace quantlm::formats
