// Tests of the F32, F16 and BF16 row codecs through the traits table: known bit patterns, rounding ties, alignment.
#include "formats/float_formats.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

#include "formats/format_traits.h"

namespace quantlm::formats {
namespace {

// Little-endian 16-bit patterns the traits' quantize_ref writes for `x`.
std::vector<std::uint16_t> encode(FormatId id, const std::vector<float>& x) {
  std::vector<std::byte> bytes(2 * x.size());
  traits(id).quantize_ref(x.data(), bytes.data(), static_cast<std::int64_t>(x.size()));
  std::vector<std::uint16_t> out(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    out[i] = static_cast<std::uint16_t>(std::to_integer<unsigned>(bytes[2 * i]) |
                                        (std::to_integer<unsigned>(bytes[2 * i + 1]) << 8));
  }
  return out;
}

TEST(FloatFormats, F16KnownPatternsAndTies) {
  // 1 + 2^-11 is halfway between 1 and the next half 1 + 2^-10: ties go to
  // the even mantissa (1); 1 + 3 * 2^-11 goes up to the even 1 + 2^-9.
  const std::vector<float> x = {1.0f, -2.0f, 65504.0f, 1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f, 0x1p-24f, 0.0f};
  const std::vector<std::uint16_t> want = {0x3C00, 0xC000, 0x7BFF, 0x3C00, 0x3C02, 0x0001, 0x0000};
  EXPECT_EQ(encode(FormatId::F16, x), want);
}

TEST(FloatFormats, Bf16KnownPatternsAndTies) {
  // bf16 keeps 8 mantissa bits: 1 + 2^-8 is a tie (-> 1), 1 + 3 * 2^-8 rounds up to 1 + 2^-6.
  const std::vector<float> x = {1.0f, -2.0f, 1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, 3.0e38f};
  const std::vector<std::uint16_t> want = {0x3F80, 0xC000, 0x3F80, 0x3F82, 0x7F62};
  EXPECT_EQ(encode(FormatId::BF16, x), want);
}

TEST(FloatFormats, RowsDecodeThroughTheTable) {
  const std::array<std::uint16_t, 3> halves = {0x3C00, 0xC000, 0x3555};  // 1, -2, 0.333251953125
  std::array<float, 3> y{};
  dequantize_row_f16(halves.data(), y.data(), 3);
  EXPECT_EQ(y, (std::array<float, 3>{1.0f, -2.0f, 0.333251953125f}));
  const std::array<std::uint16_t, 2> brains = {0x3F80, 0xBEAB};  // 1, -0.333984375
  std::array<float, 2> z{};
  dequantize_row_bf16(brains.data(), z.data(), 2);
  EXPECT_EQ(z, (std::array<float, 2>{1.0f, -0.333984375f}));
}

TEST(FloatFormats, OddLengthsAndUnalignedBuffersGiveTheSameBits) {
  // 1001 values (odd, past the unaligned path's 256-value chunks), once at
  // an aligned and once at an odd byte address.
  std::vector<float> x(1001);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i) * 0.37f - 150.0f;
  for (const FormatId id : {FormatId::F32, FormatId::F16, FormatId::BF16}) {
    const FormatTraits& f = traits(id);
    const auto n = static_cast<std::int64_t>(x.size());
    const auto bytes = static_cast<std::size_t>(n * f.block_bytes);
    std::vector<std::byte> aligned(bytes);
    std::vector<std::byte> shifted(bytes + 1);
    f.quantize_ref(x.data(), aligned.data(), n);
    f.quantize_ref(x.data(), shifted.data() + 1, n);
    EXPECT_EQ(std::memcmp(aligned.data(), shifted.data() + 1, bytes), 0) << f.name;
    std::vector<float> a(x.size());
    std::vector<float> b(x.size());
    f.dequantize(aligned.data(), a.data(), n);
    f.dequantize(shifted.data() + 1, b.data(), n);
    EXPECT_EQ(a, b) << f.name;
    if (id == FormatId::F32) {
      EXPECT_EQ(a, x);
    }
  }
}

}  // namespace
}  // namespace quantlm::formats
