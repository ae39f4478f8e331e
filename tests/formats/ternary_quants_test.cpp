// Tests of the ternary formats TQ1_0 and TQ2_0 on blocks whose bytes and values are worked out by hand.
#include "formats/ternary_quants.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>

#include "formats/format_traits.h"

namespace quantlm::formats {
namespace {

using Block256 = std::array<float, kTernaryBlock>;

Block256 decode1(const BlockTQ1_0& b) {
  Block256 y{};
  dequantize_row_tq1_0(&b, y.data(), kTernaryBlock);
  return y;
}
Block256 decode2(const BlockTQ2_0& b) {
  Block256 y{};
  dequantize_row_tq2_0(&b, y.data(), kTernaryBlock);
  return y;
}

TEST(TernaryQuants, ZeroBlock) {
  const Block256 x{};
  BlockTQ1_0 b1{};
  quantize_row_tq1_0(x.data(), &b1, kTernaryBlock);
  EXPECT_EQ(b1.d, 0);
  // Five zero trits are digits 1,1,1,1,1 = 121; ceil(121 * 256 / 243) = 128.
  for (const std::uint8_t byte : b1.qs) EXPECT_EQ(byte, 128);
  // Four digits 1 and a zero fifth: 120; ceil(120 * 256 / 243) = 127.
  for (const std::uint8_t byte : b1.qh) EXPECT_EQ(byte, 127);
  EXPECT_EQ(decode1(b1), x);

  BlockTQ2_0 b2{};
  quantize_row_tq2_0(x.data(), &b2, kTernaryBlock);
  EXPECT_EQ(b2.d, 0);
  for (const std::uint8_t byte : b2.qs) EXPECT_EQ(byte, 0x55) << "code 1 (trit 0) in all four slots";
  EXPECT_EQ(decode2(b2), x);
}

TEST(TernaryQuants, HandPackedBytes) {
  // x[0] = 1, x[32] = -1, x[255] = -1, the rest 0: d = 1.
  Block256 x{};
  x[0] = 1.0f;
  x[32] = -1.0f;
  x[255] = -1.0f;

  BlockTQ2_0 b2{};
  quantize_row_tq2_0(x.data(), &b2, kTernaryBlock);
  EXPECT_EQ(b2.d, 0x3C00);
  // Byte 0 holds values 0, 32, 64, 96 in bit pairs 0, 2, 4, 6: codes 2, 0, 1, 1.
  EXPECT_EQ(b2.qs[0], 0b01'01'00'10);
  // Byte 63 holds values 159, 191, 223, 255: codes 1, 1, 1, 0.
  EXPECT_EQ(b2.qs[63], 0b00'01'01'01);
  EXPECT_EQ(decode2(b2), x);

  BlockTQ1_0 b1{};
  quantize_row_tq1_0(x.data(), &b1, kTernaryBlock);
  // qs[0] holds values 0, 32, 64, 96, 128 as digits 2, 0, 1, 1, 1:
  // 2*81 + 0*27 + 9 + 3 + 1 = 175; ceil(175 * 256 / 243) = ceil(184.4) = 185.
  EXPECT_EQ(b1.qs[0], 185);
  // qh[3] holds values 243, 247, 251, 255 as digits 1, 1, 1, 0, then a zero
  // fifth digit: (27 + 9 + 3 + 0) * 3 = 117; ceil(117 * 256 / 243) = 124.
  EXPECT_EQ(b1.qh[3], 124);
  EXPECT_EQ(decode1(b1), x);
}

TEST(TernaryQuants, HalfScaleRoundsAwayFromZero) {
  // d = 2: values at exactly +-d/2 become +-d (lround), just below become 0.
  Block256 x{};
  x[0] = 2.0f;
  x[1] = 1.0f;
  x[2] = -1.0f;
  x[3] = 0.999f;
  BlockTQ2_0 b{};
  quantize_row_tq2_0(x.data(), &b, kTernaryBlock);
  const Block256 y = decode2(b);
  EXPECT_EQ(y[1], 2.0f);
  EXPECT_EQ(y[2], -2.0f);
  EXPECT_EQ(y[3], 0.0f);
}

TEST(TernaryQuants, ExactTernaryValuesSurviveBothFormats) {
  // Multiples {-0.75, 0, 0.75}: d = 0.75 is an fp16 value, so both formats are exact,
  // and both decode to the same floats since they store the same trits.
  Block256 x{};
  for (std::size_t j = 0; j < x.size(); ++j)
    x[j] = 0.75f * static_cast<float>(static_cast<int>((j * 7 + j / 5) % 3) - 1);
  BlockTQ1_0 b1{};
  BlockTQ2_0 b2{};
  quantize_row_tq1_0(x.data(), &b1, kTernaryBlock);
  quantize_row_tq2_0(x.data(), &b2, kTernaryBlock);
  EXPECT_EQ(decode1(b1), x);
  EXPECT_EQ(decode2(b2), x);
}

TEST(TernaryQuants, EveryTq1ByteDecodesItsOwnDigits) {
  // All 3^5 digit strings survive the ceil(t * 256 / 243) packing: the decoder
  // recovers the digits from the byte alone.
  for (int t = 0; t < 243; ++t) {
    Block256 x{};
    x[255] = 1.0f;  // keeps d = 1 (qh[3] slot), away from qs[0]'s values
    int rest = t;
    for (int n = 4; n >= 0; --n) {  // digit n of t (n = 0 most significant) -> value 32n
      x[static_cast<std::size_t>(32 * n)] = static_cast<float>(rest % 3 - 1);
      rest /= 3;
    }
    BlockTQ1_0 b{};
    quantize_row_tq1_0(x.data(), &b, kTernaryBlock);
    ASSERT_EQ(decode1(b), x) << "digit string " << t;
  }
}

TEST(TernaryQuants, TraitsTableCarriesTheseCodecs) {
  EXPECT_EQ(traits(FormatId::TQ1_0).block_bytes, static_cast<std::int64_t>(sizeof(BlockTQ1_0)));
  EXPECT_EQ(traits(FormatId::TQ2_0).block_bytes, static_cast<std::int64_t>(sizeof(BlockTQ2_0)));
  for (const FormatId id : {FormatId::TQ1_0, FormatId::TQ2_0}) {
    EXPECT_EQ(traits(id).block_elems, kTernaryBlock);
    EXPECT_NE(traits(id).dequantize, nullptr);
    EXPECT_NE(traits(id).quantize_ref, nullptr);
  }
}

}  // namespace
}  // namespace quantlm::formats
