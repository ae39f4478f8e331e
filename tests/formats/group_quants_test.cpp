// Tests of quantlm's own formats: table rows, row sizes, hand-computed rows, and round trips on odd row lengths.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "formats/format_traits.h"
#include "formats/quantize_testing.h"

namespace quantlm::formats {
namespace {

using testing::Matrix;

std::vector<std::byte> bytes(std::initializer_list<int> v) {
  std::vector<std::byte> out;
  for (const int b : v) out.push_back(static_cast<std::byte>(b));
  return out;
}

// One row through quantize_ref (what quantize_rows does with default params).
std::vector<std::byte> quantize_row(const char* name, const std::vector<float>& x) {
  const FormatTraits& f = *find_format(name);
  std::vector<std::byte> out(static_cast<std::size_t>(f.row_bytes(static_cast<std::int64_t>(x.size()))));
  f.quantize_ref(x.data(), out.data(), static_cast<std::int64_t>(x.size()));
  return out;
}
std::vector<float> dequantize_row(const char* name, const std::vector<std::byte>& q, std::size_t n) {
  std::vector<float> y(n);
  find_format(name)->dequantize(q.data(), y.data(), static_cast<std::int64_t>(n));
  return y;
}

TEST(QuantlmFormats, EveryRowHasItsFunctionsAndAnIdInQuantlmsRange) {
  int count = 0;
  for (const FormatTraits& f : all_formats()) {
    if (f.origin != Origin::quantlm) continue;
    ++count;
    EXPECT_GE(static_cast<std::uint32_t>(f.id), kFirstQuantlmId) << f.name;
    EXPECT_NE(f.dequantize, nullptr) << f.name;
    EXPECT_NE(f.quantize_ref, nullptr) << f.name;
    EXPECT_NE(f.quantize, nullptr) << f.name;
    EXPECT_NE(f.rescale, nullptr) << f.name;
    EXPECT_NE(f.row_bytes_fn, nullptr) << f.name;
    ASSERT_NE(f.grid, nullptr) << f.name;
    EXPECT_EQ(f.grid->decode.size(), std::size_t{1} << f.grid->bits) << f.name;
    EXPECT_EQ(f.element_type, ElementType::blocks) << f.name;
    // A full group (or, per row, the nominal code block) is what the block fields describe.
    if (f.group > 0) {
      EXPECT_EQ(f.row_bytes(f.group), f.block_bytes) << f.name;
    }
  }
  EXPECT_EQ(count, 39);
}

TEST(QuantlmFormats, BitsPerWeightMatchHandComputedLayouts) {
  // fp16 scale + 32 nibbles = 18 bytes per 32.
  EXPECT_DOUBLE_EQ(find_format("I4_G32")->bits_per_weight(), 4.5);
  EXPECT_DOUBLE_EQ(find_format("I4_G32A")->bits_per_weight(), 5.0);  // + fp16 offset
  EXPECT_DOUBLE_EQ(find_format("I3_G32")->bits_per_weight(), 3.5);   // 2 + 12 bytes
  EXPECT_DOUBLE_EQ(find_format("I2_G128")->bits_per_weight(), 2.125);
  EXPECT_DOUBLE_EQ(find_format("I8_G64A")->bits_per_weight(), 8.5);  // 4 + 64 bytes per 64
  EXPECT_DOUBLE_EQ(find_format("NF4_G64")->bits_per_weight(), 4.25);
  EXPECT_DOUBLE_EQ(find_format("LOG2_4_G32")->bits_per_weight(), 4.5);
  EXPECT_DOUBLE_EQ(find_format("FP8_G32")->bits_per_weight(), 8.5);
  EXPECT_DOUBLE_EQ(find_format("BIN_G32")->bits_per_weight(), 1.5);   // 2 + 4 bytes
  EXPECT_DOUBLE_EQ(find_format("TERN_G32")->bits_per_weight(), 2.5);  // 2 + 8 bytes
  // Per-row formats: the codes, plus a 4-byte fp32 scale (8 with an offset) per row.
  EXPECT_DOUBLE_EQ(find_format("I8_ROW")->bits_per_weight(), 8.0);
  EXPECT_DOUBLE_EQ(find_format("I8_ROW")->bits_per_weight(64), 8.0 * 68 / 64);
  EXPECT_DOUBLE_EQ(find_format("I4_ROWA")->bits_per_weight(64), 8.0 * 40 / 64);
  EXPECT_DOUBLE_EQ(find_format("I3_ROW")->bits_per_weight(), 3.0);
  EXPECT_DOUBLE_EQ(find_format("TERN_ROW")->bits_per_weight(256), 8.0 * 68 / 256);
  // Ragged: 172 = 5 * 32 + 12 values.
  EXPECT_DOUBLE_EQ(find_format("I4_G32")->bits_per_weight(172), 8.0 * (5 * 18 + 2 + 6) / 172);
}

TEST(QuantlmFormats, RowBytesCoverRaggedGroupsAndRejectBadLengths) {
  const FormatTraits& i4 = *find_format("I4_G32");
  EXPECT_EQ(i4.row_bytes(172), 5 * 18 + 2 + 6);                      // stories260K's ffn_down rows
  EXPECT_EQ(i4.row_bytes(1), 3);                                     // header + one nibble's byte
  EXPECT_EQ(find_format("I3_G32")->row_bytes(172), 5 * 14 + 2 + 5);  // 12 codes * 3 bits = 36 bits -> 5 bytes
  EXPECT_EQ(find_format("I3_G32A")->row_bytes(33), 16 + 4 + 1);
  EXPECT_EQ(find_format("I8_ROW")->row_bytes(172), 4 + 172);
  EXPECT_EQ(find_format("I2_ROWA")->row_bytes(7), 8 + 2);
  EXPECT_EQ(find_format("BIN_ROW")->row_bytes(257), 4 + 33);
  EXPECT_EQ(i4.row_bytes(0), 0);
  EXPECT_TRUE(i4.row_length_ok(257));
  EXPECT_FALSE(i4.row_length_ok(-1));
  EXPECT_FALSE(i4.row_bytes_checked(-1).has_value());
  // The size of a row of INT64_MAX values overflows int64 (34 bytes per 32 values).
  EXPECT_FALSE(find_format("I8_G32")->row_bytes_checked(std::numeric_limits<std::int64_t>::max()).has_value());
  EXPECT_FALSE(find_format("I8_ROW")->row_bytes_checked(std::numeric_limits<std::int64_t>::max()).has_value());
  EXPECT_TRUE(find_format("I2_G32")->row_bytes_checked(std::numeric_limits<std::int64_t>::max()).has_value());
  // ggml's block formats keep whole blocks.
  EXPECT_FALSE(traits(FormatId::Q4_0).row_length_ok(33));
  EXPECT_FALSE(traits(FormatId::Q4_0).row_bytes_checked(33).has_value());
  EXPECT_EQ(traits(FormatId::Q4_0).row_bytes(64), 36);
  const std::int64_t blocks = std::numeric_limits<std::int64_t>::max() / 32;
  EXPECT_EQ(traits(FormatId::Q4_0).row_bytes_checked(blocks * 32), blocks * 18);    // 18 < 32: fits
  EXPECT_FALSE(traits(FormatId::Q8_0).row_bytes_checked(blocks * 32).has_value());  // 34 > 32: overflows
}

// ---- hand-computed rows ---------------------------------------------------------

TEST(QuantlmFormatsByHand, AllZeroGroupIsScaleZeroAndTheZeroLevel) {
  // d = 0 (fp16 0x0000); every value takes level 0 = code 8 of -8..7, two per byte.
  std::vector<std::byte> expected = bytes({0x00, 0x00});
  expected.resize(18, std::byte{0x88});
  const std::vector<float> x(32, 0.0F);
  EXPECT_EQ(quantize_row("I4_G32", x), expected);
  EXPECT_EQ(dequantize_row("I4_G32", expected, 32), x);
}

TEST(QuantlmFormatsByHand, RepresentableValuesComeBackExactly) {
  // x_j = 0.5 * (j % 16 - 8): the extreme -4 lands on level -8, so d = 0.5
  // (fp16 0x3800) and code j is j % 16, stored low nibble first.
  std::vector<float> x(32);
  for (std::size_t j = 0; j < x.size(); ++j) x[j] = 0.5F * static_cast<float>(static_cast<int>(j % 16) - 8);
  std::vector<std::byte> expected = bytes({0x00, 0x38});
  for (int half = 0; half < 2; ++half) {
    for (int k = 0; k < 8; ++k) expected.push_back(static_cast<std::byte>((2 * k) | ((2 * k + 1) << 4)));
  }
  const std::vector<std::byte> q = quantize_row("I4_G32", x);
  EXPECT_EQ(q, expected);
  EXPECT_EQ(dequantize_row("I4_G32", q, 32), x);
}

TEST(QuantlmFormatsByHand, OutlierKeepsItsValueAndZeroesTheRest) {
  // min-max: d = 100 / -8 = -12.5 (fp16 0xCA40); 0.1 / 12.5 rounds to level 0 (code 8).
  std::vector<float> x(32, 0.1F);
  x[0] = 100.0F;
  std::vector<std::byte> expected = bytes({0x40, 0xCA, 0x80});
  expected.resize(18, std::byte{0x88});
  const std::vector<std::byte> q = quantize_row("I4_G32", x);
  EXPECT_EQ(q, expected);
  const std::vector<float> y = dequantize_row("I4_G32", q, 32);
  EXPECT_EQ(y[0], 100.0F);
  EXPECT_EQ(y[1], 0.0F);
}

TEST(QuantlmFormatsByHand, PerRowInt8WithOutlier) {
  // d = 100 / -128 = -0.78125 (fp32 0xBF480000, little-endian); 1 / d = -1.28 -> level -1 (code 127).
  const std::vector<float> x = {100.0F, 1.0F, -1.0F, 0.5F};
  const std::vector<std::byte> q = quantize_row("I8_ROW", x);
  EXPECT_EQ(q, bytes({0x00, 0x00, 0x48, 0xBF, 0x00, 0x7F, 0x81, 0x7F}));
  EXPECT_EQ(dequantize_row("I8_ROW", q, 4), (std::vector<float>{100.0F, 0.78125F, -0.78125F, 0.78125F}));
}

TEST(QuantlmFormatsByHand, AffineRaggedRowOfSeven) {
  // d = 6 / 15 -> fp16 0x3666 = 0.39990234375, m = 0; x / d rounds to 0, 3, 5, 8, 10, 13, 15;
  // 7 codes of 4 bits fill 4 bytes after the 4-byte header.
  const std::vector<float> x = {0, 1, 2, 3, 4, 5, 6};
  const std::vector<std::byte> q = quantize_row("I4_G32A", x);
  EXPECT_EQ(q, bytes({0x66, 0x36, 0x00, 0x00, 0x30, 0x85, 0xDA, 0x0F}));
  const std::vector<float> y = dequantize_row("I4_G32A", q, 7);
  EXPECT_FLOAT_EQ(y[3], 8 * 0.39990234375F);
}

TEST(QuantlmFormatsByHand, BinaryRowScaleIsMeanAbs) {
  // XNOR-Net: d = mean |x| = 2 (fp32 0x40000000); signs 1, 0, 1, 0 as bits 0..3.
  const std::vector<float> x = {1.0F, -3.0F, 2.0F, -2.0F};
  const std::vector<std::byte> q = quantize_row("BIN_ROW", x);
  EXPECT_EQ(q, bytes({0x00, 0x00, 0x00, 0x40, 0x05}));
  EXPECT_EQ(dequantize_row("BIN_ROW", q, 4), (std::vector<float>{2.0F, -2.0F, 2.0F, -2.0F}));
}

TEST(QuantlmFormatsByHand, TernaryAbsmeanThreshold) {
  // BitNet b1.58: d = mean |x| = 0.575 -> fp16 0x389A (0.5751953125); round(x / d)
  // clipped to +-1 gives +1, 0, -1, 0: codes 2, 1, 0, 1 in 2-bit fields.
  const std::vector<float> x = {0.9F, -0.1F, -1.1F, 0.2F};
  const std::vector<std::byte> q = quantize_row("TERN_G32", x);
  EXPECT_EQ(q, bytes({0x9A, 0x38, 0x46}));
  const float d = 0.5751953125F;
  EXPECT_EQ(dequantize_row("TERN_G32", q, 4), (std::vector<float>{d, 0.0F, -d, 0.0F}));
}

TEST(QuantlmFormatsByHand, Nf4LevelsTimesScaleAreExact) {
  // 16 values 2 * level_i: d = 2 (fp16 0x4000), code i.
  std::vector<float> x;
  for (const float v : {-1.0F, -0.6961928010F, -0.5250730515F, -0.3949174881F, -0.2844413817F, -0.1847734302F,
                        -0.0910500363F, 0.0F, 0.0795802996F, 0.1609302014F, 0.2461123019F, 0.3379152417F, 0.4407098293F,
                        0.5626170039F, 0.7229568362F, 1.0F}) {
    x.push_back(2.0F * v);
  }
  const std::vector<std::byte> q = quantize_row("NF4_G64", x);
  EXPECT_EQ(q, bytes({0x00, 0x40, 0x10, 0x32, 0x54, 0x76, 0x98, 0xBA, 0xDC, 0xFE}));
  EXPECT_EQ(dequantize_row("NF4_G64", q, 16), x);
}

TEST(QuantlmFormatsByHand, Log2CodesAreSignAndExponent) {
  // d = 1; 1 = +2^0 (code 0), -0.25 = -2^-2 (8|2), 0.125 (3), -2^-7 (8|7).
  const std::vector<float> x = {1.0F, -0.25F, 0.125F, -0.0078125F};
  const std::vector<std::byte> q = quantize_row("LOG2_4_G32", x);
  EXPECT_EQ(q, bytes({0x00, 0x3C, 0xA0, 0xF3}));
  EXPECT_EQ(dequantize_row("LOG2_4_G32", q, 4), x);
}

TEST(QuantlmFormatsByHand, Fp8E4M3Codes) {
  // d = 448 / 448 = 1; 448 = 0x7E (largest finite), -1 = 0xB8, 0.5 = 0x30, 2^-9 = 0x01 (smallest subnormal).
  const std::vector<float> x = {448.0F, -1.0F, 0.5F, 0.001953125F};
  const std::vector<std::byte> q = quantize_row("FP8_G32", x);
  EXPECT_EQ(q, bytes({0x00, 0x3C, 0x7E, 0xB8, 0x30, 0x01}));
  EXPECT_EQ(dequantize_row("FP8_G32", q, 4), x);
}

// ---- round trips -----------------------------------------------------------------

struct BandCase {
  const char* format;
  // Relative RMS error of the reference quantizer on N(0, 1) rows of 257
  // values (64 rows, seed 1). Measured with seeds 1-4, spread within 3%;
  // bands are +-6% around the midpoint: sampling noise passes, a bug costing a
  // fraction of a bit (or a surprising gain) fails.
  double rms_lo;
  double rms_hi;
};

// Textbook checks: a uniform step s has RMS error s / sqrt(12), so I8_G32's
// s ~ 2 * 2.1 / 255 (E[max |x|] of 32 normals ~ 2.1) gives 0.0048 (measured
// 0.0053; fp16 scales and the ragged groups add a little); BIN_ROW with
// d = E|x| = sqrt(2 / pi) has error sqrt(1 - 2 / pi) = 0.603 (measured 0.600).
const BandCase kBands[] = {
    {"I8_ROW", 0.006387, 0.007203},  {"I8_ROWA", 0.005993, 0.006758}, {"I8_G32", 0.004944, 0.005576},
    {"I8_G32A", 0.004305, 0.004855}, {"I8_G64", 0.005476, 0.006175},  {"I8_G64A", 0.004935, 0.005565},
    {"I8_G128", 0.005964, 0.006726}, {"I8_G128A", 0.00549, 0.00619},  {"I4_ROW", 0.1026, 0.1157},
    {"I4_ROWA", 0.1015, 0.1144},     {"I4_G32", 0.08015, 0.09038},    {"I4_G32A", 0.07319, 0.08254},
    {"I4_G64", 0.08814, 0.0994},     {"I4_G64A", 0.08364, 0.09431},   {"I4_G128", 0.09572, 0.1079},
    {"I4_G128A", 0.09325, 0.1052},   {"I3_ROW", 0.2059, 0.2322},      {"I3_ROWA", 0.2177, 0.2455},
    {"I3_G32", 0.1632, 0.1841},      {"I3_G32A", 0.1575, 0.1776},     {"I3_G64", 0.1787, 0.2015},
    {"I3_G64A", 0.1795, 0.2024},     {"I3_G128", 0.1928, 0.2174},     {"I3_G128A", 0.1992, 0.2246},
    {"I2_ROW", 0.4173, 0.4705},      {"I2_ROWA", 0.5103, 0.5754},     {"I2_G32", 0.3375, 0.3806},
    {"I2_G32A", 0.3677, 0.4146},     {"I2_G64", 0.3663, 0.413},       {"I2_G64A", 0.4187, 0.4721},
    {"I2_G128", 0.3932, 0.4434},     {"I2_G128A", 0.468, 0.5277},     {"NF4_G64", 0.0863, 0.09731},
    {"LOG2_4_G32", 0.1695, 0.1911},  {"FP8_G32", 0.02242, 0.02529},   {"BIN_G32", 0.5562, 0.6272},
    {"BIN_ROW", 0.5644, 0.6365},     {"TERN_G32", 0.4719, 0.5321},    {"TERN_ROW", 0.4796, 0.5408},
};

void PrintTo(const BandCase& c, std::ostream* os) { *os << c.format; }

class QuantlmRoundTrip : public ::testing::TestWithParam<BandCase> {};

TEST_P(QuantlmRoundTrip, ErrorWithinBand) {
  const FormatTraits& f = *find_format(GetParam().format);
  const Matrix x = testing::gaussian_matrix(64, 257, 1);
  const Matrix y = testing::round_trip(f, x);
  const double rms = testing::relative_rms(y.values, x.values);
  EXPECT_GE(rms, GetParam().rms_lo);
  EXPECT_LE(rms, GetParam().rms_hi);
}

// The largest error min-max scaling allows for a group with these values: half
// the widest gap between levels, plus on grids whose most negative level has
// no positive twin (int -8..7) up to a full step on the other side, plus the
// fp16 rounding of the scale (relative 2^-11, times the level) and offset.
double min_max_bound(const Grid& g, std::span<const float> x) {
  const auto [lo, hi] = std::minmax_element(x.begin(), x.end());
  const double amax = std::max(std::fabs(*lo), std::fabs(*hi));
  const double slack = amax * 0x1p-9 + 1e-30;
  if (g.affine) return (static_cast<double>(*hi) - *lo) / (g.levels.back() - g.levels.front()) / 2 + slack;
  double gap = 0.0;
  for (std::size_t i = 1; i < g.levels.size(); ++i) gap = std::max(gap, double{g.levels[i]} - g.levels[i - 1]);
  const double top = std::max(-g.levels.front(), g.levels.back());
  const double unpaired = std::max(0.0, double{-g.levels.front()} - g.levels.back());
  return amax / top * (gap / 2 + unpaired) + slack;
}

// Rows of 1, 7, 33, 172 and 257 values: ragged last groups of every size.
TEST_P(QuantlmRoundTrip, OddRowLengthsStayWithinTheMinMaxBound) {
  const FormatTraits& f = *find_format(GetParam().format);
  for (const std::int64_t cols : {1, 7, 33, 172, 257}) {
    const Matrix x = testing::gaussian_matrix(9, cols, static_cast<std::uint32_t>(cols));
    const Matrix y = testing::round_trip(f, x);
    ASSERT_EQ(y.values.size(), x.values.size());
    if (f.grid->default_search != ScaleSearch::min_max) {
      // absmean (binary, ternary): a single value is its own mean |x|, up to
      // the fp16 rounding of a group's scale (exact in a per-row fp32 scale).
      if (cols == 1) {
        for (std::size_t i = 0; i < x.values.size(); ++i) {
          const double tolerance = f.group == 0 ? 0.0 : std::fabs(x.values[i]) * 0x1p-11;
          EXPECT_NEAR(y.values[i], x.values[i], tolerance) << f.name;
        }
      }
      continue;
    }
    const std::int64_t group = f.group == 0 ? cols : f.group;
    int violations = 0;
    for (std::int64_t r = 0; r < x.rows; ++r) {
      for (std::int64_t start = 0; start < cols; start += group) {
        const auto at = static_cast<std::size_t>(r * cols + start);
        const std::span<const float> xs(x.values.data() + at, static_cast<std::size_t>(std::min(group, cols - start)));
        const double bound = min_max_bound(*f.grid, xs);
        for (std::size_t j = 0; j < xs.size(); ++j) {
          const double err = std::fabs(double{y.values[at + j]} - xs[j]);
          if (err > bound && violations++ < 3) ADD_FAILURE() << f.name << " cols " << cols << " error " << err;
        }
      }
    }
  }
}

// Re-quantizing a decoded row gives the same bytes where the scale comes from
// the group's extremes, which decode to exact multiples of the stored scale.
TEST_P(QuantlmRoundTrip, RequantizingDecodedRowsIsStable) {
  const FormatTraits& f = *find_format(GetParam().format);
  if (f.grid->default_search != ScaleSearch::min_max || f.grid->affine) GTEST_SKIP() << "scale not from extremes";
  const Matrix x = testing::gaussian_matrix(16, 172, 5);
  const std::vector<std::byte> q = testing::quantize_with(f, x);
  const Matrix y = testing::decode(f, q, x.rows, x.cols);
  const Matrix z = testing::round_trip(f, y);
  EXPECT_EQ(z.values, y.values) << f.name;
}

std::string band_name(const ::testing::TestParamInfo<BandCase>& param) { return param.param.format; }
INSTANTIATE_TEST_SUITE_P(Formats, QuantlmRoundTrip, ::testing::ValuesIn(kBands), band_name);

}  // namespace
}  // namespace quantlm::formats
