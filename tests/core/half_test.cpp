// Tests of fp16/bf16 conversion: all 16-bit patterns, an independent reference, ties, and every SIMD path vs scalar.
#include "core/half.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <ostream>
#include <random>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace quantlm {

// Prints a failing HalfRows test's parameter by name (found by gtest through ADL).
inline void PrintTo(Isa isa, std::ostream* os) { *os << to_string(isa); }

namespace {

std::uint32_t bits_of(float value) { return std::bit_cast<std::uint32_t>(value); }
float float_of(std::uint32_t bits) { return std::bit_cast<float>(bits); }
bool fp16_is_nan(std::uint16_t h) { return (h & 0x7c00U) == 0x7c00U && (h & 0x3ffU) != 0; }
bool bf16_is_nan(std::uint16_t h) { return (h & 0x7f80U) == 0x7f80U && (h & 0x7fU) != 0; }

// The value of a non-NaN half pattern from the IEEE definition, in double.
double fp16_value(std::uint16_t h) {
  const int exponent = (h >> 10) & 0x1f;
  const int mantissa = h & 0x3ff;
  const double sign = (h & 0x8000U) != 0 ? -1.0 : 1.0;
  if (exponent == 0x1f) return sign * std::numeric_limits<double>::infinity();
  if (exponent == 0) return sign * std::ldexp(mantissa, -24);
  return sign * std::ldexp(1024 + mantissa, exponent - 25);
}

// An fp32 -> fp16 rounding that shares nothing with the implementation: the
// nearest of all finite halves by binary search in double, ties to the even
// pattern. Inf sits where 2^16 would be, so 65520 ties to it as IEEE says.
class Fp16Reference {
 public:
  Fp16Reference() {
    for (std::uint16_t h = 0; h < 0x7c00; ++h) values_.push_back(fp16_value(h));
    values_.push_back(65536.0);
  }

  [[nodiscard]] std::uint16_t operator()(float value) const {
    const auto sign = static_cast<std::uint16_t>(std::signbit(value) ? 0x8000U : 0U);
    const double a = std::fabs(static_cast<double>(value));
    const auto above = std::lower_bound(values_.begin(), values_.end(), a);
    if (above == values_.end()) return sign | 0x7c00U;
    auto pattern = static_cast<std::size_t>(above - values_.begin());
    if (*above != a) {
      const std::size_t below = pattern - 1;  // a > 0 here, and values_[0] == 0
      const double down = a - values_[below];
      const double up = *above - a;
      if (down < up || (down == up && below % 2 == 0)) pattern = below;
    }
    return static_cast<std::uint16_t>(sign | pattern);
  }

 private:
  std::vector<double> values_;  // index == pattern, increasing
};

// fp32 -> bf16 by comparing distances to the two neighbouring bf16 values.
std::uint16_t bf16_reference(float value) {
  const std::uint32_t bits = bits_of(value);
  const std::uint32_t sign = (bits >> 16) & 0x8000U;
  const std::uint32_t abs = bits & 0x7fffffffU;
  if (abs == 0x7f800000U) return static_cast<std::uint16_t>(sign | 0x7f80U);
  const std::uint32_t below = abs >> 16;
  const std::uint32_t above = below + 1;
  const double a = float_of(abs);
  const double down = a - float_of(below << 16);
  const double up = (above == 0x7f80U ? std::ldexp(1.0, 128) : float_of(above << 16)) - a;
  const bool round_down = down < up || (down == up && below % 2 == 0);
  return static_cast<std::uint16_t>(sign | (round_down ? below : above));
}

void add_neighbours(std::vector<std::uint32_t>& out, std::uint32_t bits, std::uint32_t reach) {
  for (std::uint32_t d = 0; d <= 2 * reach; ++d) {
    const std::uint64_t b = std::uint64_t{bits} + d - reach;
    if (b <= 0xffffffffU) out.push_back(static_cast<std::uint32_t>(b));
  }
}

// fp32 patterns for fp32 -> fp16: a stride through all 2^32 (NaNs and Infs
// included), and both signs of every half value and every midpoint between
// neighbouring halves (the ties) with two float ulps either side.
std::vector<std::uint32_t> fp16_sweep() {
  std::vector<std::uint32_t> out;
  for (std::uint64_t b = 0; b <= 0xffffffffU; b += 4093) out.push_back(static_cast<std::uint32_t>(b));
  for (std::uint16_t h = 0; h < 0x7c00; ++h) {
    const double midpoint = (fp16_value(h) + (h == 0x7bff ? 65536.0 : fp16_value(h + 1))) / 2;
    for (const double v : {fp16_value(h), midpoint}) {
      const std::uint32_t bits = bits_of(static_cast<float>(v));  // exact: 12 significant bits at most
      add_neighbours(out, bits, 2);
      add_neighbours(out, bits | 0x80000000U, 2);
    }
  }
  return out;
}

// fp32 patterns for fp32 -> bf16: a stride through all 2^32, and around
// every bf16 pattern (ties at +0x8000, NaN payloads only in the low half).
std::vector<std::uint32_t> bf16_sweep() {
  std::vector<std::uint32_t> out;
  for (std::uint64_t b = 0; b <= 0xffffffffU; b += 4093) out.push_back(static_cast<std::uint32_t>(b));
  for (std::uint32_t p = 0; p <= 0xffffU; ++p) {
    for (const std::uint32_t low : {0x0U, 0x1U, 0x7fffU, 0x8000U, 0x8001U, 0xffffU}) out.push_back(p << 16 | low);
  }
  return out;
}

std::vector<float> floats_of(const std::vector<std::uint32_t>& bits) {
  std::vector<float> out(bits.size());
  std::transform(bits.begin(), bits.end(), out.begin(), float_of);
  return out;
}

std::vector<std::uint16_t> all_16bit_patterns() {
  std::vector<std::uint16_t> out(0x10000);
  for (std::uint32_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::uint16_t>(i);
  return out;
}

struct Case {
  std::uint32_t input;
  std::uint16_t expected;
};

TEST(Half, Fp32ToFp16HandCheckedCases) {
  const Case cases[] = {
      {0x3f801000, 0x3c00},  // 1 + 2^-11: halfway between 0x3c00 and 0x3c01, to even
      {0x3f803000, 0x3c02},  // 1 + 3*2^-11: halfway between 0x3c01 and 0x3c02, to even
      {0x3f801001, 0x3c01},  // just above the first tie
      {0xbf801000, 0xbc00},  // the first tie, negative
      {0x45001000, 0x6800},  // 2049: halfway between 2048 and 2050
      {0x45003000, 0x6802},  // 2051: halfway between 2050 and 2052
      {0x33000000, 0x0000},  // 2^-25: halfway between 0 and the smallest subnormal, to even zero
      {0x33000001, 0x0001},  // just above it
      {0x33c00000, 0x0002},  // 1.5 * 2^-24: halfway between subnormals 1 and 2
      {0x34200000, 0x0002},  // 2.5 * 2^-24: halfway between subnormals 2 and 3
      {0x387fe000, 0x0400},  // 1023.5 * 2^-24: the largest subnormal ties up into the smallest normal
      {0x38800000, 0x0400},  // 2^-14, the smallest normal
      {0x477fe000, 0x7bff},  // 65504, the largest half
      {0x477fefff, 0x7bff},  // just below 65520
      {0x477ff000, 0x7c00},  // 65520 ties to Inf
      {0x7f7fffff, 0x7c00},  // FLT_MAX overflows
      {0x00000001, 0x0000},  // the smallest float subnormal
      {0x80000000, 0x8000},  // -0
      {0x7f800000, 0x7c00},  // Inf
      {0xff800000, 0xfc00},  // -Inf
      {0x7fc00000, 0x7e00},  // quiet NaN
      {0xff800001, 0xfe00},  // signalling NaN whose payload is below the kept bits: still a NaN, quiet
      {0x7fa00000, 0x7f00},  // signalling NaN: quiet bit set, top payload bits kept
  };
  for (const Case& c : cases) {
    EXPECT_EQ(fp32_to_fp16(float_of(c.input)), c.expected) << std::hex << "input 0x" << c.input;
  }
}

TEST(Half, Fp32ToBf16HandCheckedCases) {
  const Case cases[] = {
      {0x3f808000, 0x3f80},  // halfway between 0x3f80 and 0x3f81, to even
      {0x3f818000, 0x3f82},  // halfway between 0x3f81 and 0x3f82, to even
      {0x3f808001, 0x3f81},  // just above the tie
      {0x007fffff, 0x0080},  // the largest float subnormal rounds up to the smallest normal
      {0x00008000, 0x0000},  // a subnormal tie, to even zero
      {0x00018000, 0x0002},  // a subnormal tie, to even
      {0x7f7f7fff, 0x7f7f},  // just below the tie with Inf
      {0x7f7f8000, 0x7f80},  // ties to Inf
      {0x7f7fffff, 0x7f80},  // FLT_MAX overflows
      {0x80000000, 0x8000},  // -0
      {0xff800000, 0xff80},  // -Inf
      {0x7fc00000, 0x7fc0},  // quiet NaN
      {0x7f800001, 0x7fc0},  // NaN that plain rounding would carry into Inf
      {0xff800001, 0xffc0},  // the same, negative
      {0x7fffffff, 0x7fff},  // NaN with every payload bit: no carry out
  };
  for (const Case& c : cases) {
    EXPECT_EQ(fp32_to_bf16(float_of(c.input)), c.expected) << std::hex << "input 0x" << c.input;
  }
}

TEST(Half, Fp16ToFp32HandCheckedCases) {
  EXPECT_EQ(fp16_to_fp32(0x0001), std::ldexp(1.0F, -24));
  EXPECT_EQ(fp16_to_fp32(0x03ff), std::ldexp(1023.0F, -24));
  EXPECT_EQ(fp16_to_fp32(0x0400), std::ldexp(1.0F, -14));
  EXPECT_EQ(fp16_to_fp32(0x3c00), 1.0F);
  EXPECT_EQ(fp16_to_fp32(0xc000), -2.0F);
  EXPECT_EQ(fp16_to_fp32(0x7bff), 65504.0F);
  EXPECT_EQ(bits_of(fp16_to_fp32(0x8000)), 0x80000000U);
  EXPECT_EQ(bits_of(fp16_to_fp32(0x7c00)), 0x7f800000U);
  EXPECT_EQ(bits_of(fp16_to_fp32(0x7c01)), 0x7fc02000U);  // signalling NaN comes out quiet, as vcvtph2ps does
  EXPECT_EQ(bits_of(fp16_to_fp32(0xfe00)), 0xffc00000U);
}

TEST(Half, ScalarIsConstexpr) {
  static_assert(fp32_to_fp16(1.0F) == 0x3c00);
  static_assert(fp16_to_fp32(0x3c00) == 1.0F);
  static_assert(fp32_to_bf16(1.0F) == 0x3f80);
  static_assert(bf16_to_fp32(0x3f80) == 1.0F);
}

TEST(Half, EveryFp16PatternRoundTrips) {
  for (const std::uint16_t h : all_16bit_patterns()) {
    const float f = fp16_to_fp32(h);
    if (fp16_is_nan(h)) {
      EXPECT_TRUE(std::isnan(f)) << std::hex << h;
      EXPECT_EQ(fp32_to_fp16(f), h | 0x200U) << std::hex << h;  // the same NaN, quiet
    } else {
      EXPECT_EQ(static_cast<double>(f), fp16_value(h)) << std::hex << h;
      EXPECT_EQ(fp32_to_fp16(f), h) << std::hex << h;
    }
  }
}

TEST(Half, EveryBf16PatternRoundTrips) {
  for (const std::uint16_t h : all_16bit_patterns()) {
    const float f = bf16_to_fp32(h);
    if (bf16_is_nan(h)) {
      EXPECT_TRUE(std::isnan(f)) << std::hex << h;
      EXPECT_EQ(fp32_to_bf16(f), h | 0x40U) << std::hex << h;
    } else {
      EXPECT_EQ(fp32_to_bf16(f), h) << std::hex << h;
    }
  }
}

TEST(Half, Fp32ToFp16MatchesNearestValueReference) {
  const Fp16Reference reference;
  for (const std::uint32_t bits : fp16_sweep()) {
    const float f = float_of(bits);
    const std::uint16_t h = fp32_to_fp16(f);
    if (std::isnan(f)) {
      ASSERT_TRUE(fp16_is_nan(h)) << std::hex << bits;
      ASSERT_EQ(h & 0x8000U, (bits >> 16) & 0x8000U) << std::hex << bits;
    } else {
      ASSERT_EQ(h, reference(f)) << std::hex << "input 0x" << bits;
    }
  }
}

TEST(Half, Fp32ToBf16MatchesNearestValueReference) {
  for (const std::uint32_t bits : bf16_sweep()) {
    const float f = float_of(bits);
    const std::uint16_t h = fp32_to_bf16(f);
    if (std::isnan(f)) {
      ASSERT_TRUE(bf16_is_nan(h)) << std::hex << bits;
      ASSERT_EQ(h, (bits >> 16) | 0x40U) << std::hex << bits;  // sign and top payload kept, quiet
    } else {
      ASSERT_EQ(h, bf16_reference(f)) << std::hex << "input 0x" << bits;
    }
  }
}

// The row converters, once per Isa; levels this CPU lacks are skipped.
class HalfRows : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (!isa_supported(GetParam())) GTEST_SKIP() << "this CPU lacks the " << to_string(GetParam()) << " path";
  }
};

// Compares outputs bit for bit, so NaN payloads must agree too.
template <typename T>
void expect_same_bits(const std::vector<T>& actual, const std::vector<T>& expected, const std::string& what) {
  using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint16_t>;
  ASSERT_EQ(actual.size(), expected.size());
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const auto got = std::bit_cast<Bits>(actual[i]);
    const auto want = std::bit_cast<Bits>(expected[i]);
    ASSERT_EQ(got, want) << std::hex << what << ": element " << i << " of " << actual.size();
  }
}

TEST_P(HalfRows, NarrowingMatchesScalarOverSweeps) {
  const std::vector<float> fp16_in = floats_of(fp16_sweep());
  std::vector<std::uint16_t> out(fp16_in.size());
  std::vector<std::uint16_t> expected(fp16_in.size());
  fp32_to_fp16_row(fp16_in, out, GetParam());
  std::transform(fp16_in.begin(), fp16_in.end(), expected.begin(), fp32_to_fp16);
  expect_same_bits(out, expected, "fp32_to_fp16_row");

  const std::vector<float> bf16_in = floats_of(bf16_sweep());
  out.resize(bf16_in.size());
  expected.resize(bf16_in.size());
  fp32_to_bf16_row(bf16_in, out, GetParam());
  std::transform(bf16_in.begin(), bf16_in.end(), expected.begin(), fp32_to_bf16);
  expect_same_bits(out, expected, "fp32_to_bf16_row");
}

TEST_P(HalfRows, WideningMatchesScalarForEveryPattern) {
  const std::vector<std::uint16_t> in = all_16bit_patterns();
  std::vector<float> out(in.size());
  std::vector<float> expected(in.size());
  fp16_to_fp32_row(in, out, GetParam());
  std::transform(in.begin(), in.end(), expected.begin(), fp16_to_fp32);
  expect_same_bits(out, expected, "fp16_to_fp32_row");

  bf16_to_fp32_row(in, out, GetParam());
  std::transform(in.begin(), in.end(), expected.begin(), bf16_to_fp32);
  expect_same_bits(out, expected, "bf16_to_fp32_row");
}

// Odd lengths exercise every tail; the input starts one element past an
// aligned address, and guard elements after the output must stay untouched.
TEST_P(HalfRows, OddLengthsAndUnalignedRows) {
  constexpr std::uint16_t kGuard = 0xdead;
  constexpr std::size_t kGuards = 32;
  std::mt19937 rng(42);
  std::normal_distribution<float> normal(0.0F, 100.0F);
  const float specials[] = {0.0F,
                            -0.0F,
                            std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::quiet_NaN(),
                            1e-6F,
                            70000.0F,
                            float_of(0x3f801000)};
  for (const std::size_t n : {1, 7, 15, 17, 33, 1001}) {
    std::vector<float> src(n + 1);
    for (std::size_t i = 0; i < src.size(); ++i) src[i] = i % 5 == 4 ? specials[i % std::size(specials)] : normal(rng);
    const std::span<const float> in = std::span<const float>(src).subspan(1);

    std::vector<std::uint16_t> fp16(n + kGuards, kGuard);
    std::vector<std::uint16_t> bf16(n + kGuards, kGuard);
    fp32_to_fp16_row(in, std::span(fp16).first(n), GetParam());
    fp32_to_bf16_row(in, std::span(bf16).first(n), GetParam());
    std::vector<std::uint16_t> halves(n + 1);  // widening input, also unaligned
    std::copy(fp16.begin(), fp16.begin() + static_cast<std::ptrdiff_t>(n), halves.begin() + 1);
    std::vector<float> widened(n + kGuards, -1.0F);
    fp16_to_fp32_row(std::span<const std::uint16_t>(halves).subspan(1), std::span(widened).first(n), GetParam());
    std::vector<float> bf16_widened(n + kGuards, -1.0F);
    bf16_to_fp32_row(std::span<const std::uint16_t>(bf16).first(n), std::span(bf16_widened).first(n), GetParam());

    for (std::size_t i = 0; i < n; ++i) {
      ASSERT_EQ(fp16[i], fp32_to_fp16(in[i])) << "n=" << n << " i=" << i;
      ASSERT_EQ(bf16[i], fp32_to_bf16(in[i])) << "n=" << n << " i=" << i;
      ASSERT_EQ(bits_of(widened[i]), bits_of(fp16_to_fp32(fp16[i]))) << "n=" << n << " i=" << i;
      ASSERT_EQ(bits_of(bf16_widened[i]), bits_of(bf16_to_fp32(bf16[i]))) << "n=" << n << " i=" << i;
    }
    for (std::size_t i = n; i < n + kGuards; ++i) {
      ASSERT_EQ(fp16[i], kGuard) << "fp32_to_fp16_row wrote past n=" << n;
      ASSERT_EQ(bf16[i], kGuard) << "fp32_to_bf16_row wrote past n=" << n;
      ASSERT_EQ(widened[i], -1.0F) << "fp16_to_fp32_row wrote past n=" << n;
      ASSERT_EQ(bf16_widened[i], -1.0F) << "bf16_to_fp32_row wrote past n=" << n;
    }
  }
}

TEST_P(HalfRows, EmptyRowsAreFine) {
  fp32_to_fp16_row({}, {}, GetParam());
  fp16_to_fp32_row({}, {}, GetParam());
  fp32_to_bf16_row({}, {}, GetParam());
  bf16_to_fp32_row({}, {}, GetParam());
}

// All 2^32 float patterns through every path, against the scalar reference:
// about a minute in a Release build, so only with QUANTLM_EXHAUSTIVE=1.
TEST_P(HalfRows, NarrowingMatchesScalarForEveryFloat) {
  const char* exhaustive = std::getenv("QUANTLM_EXHAUSTIVE");
  if (exhaustive == nullptr || std::string(exhaustive) != "1") GTEST_SKIP() << "set QUANTLM_EXHAUSTIVE=1 to run";
  constexpr std::size_t kChunk = std::size_t{1} << 16;
  std::vector<float> in(kChunk);
  std::vector<std::uint16_t> fp16(kChunk);
  std::vector<std::uint16_t> bf16(kChunk);
  for (std::uint64_t base = 0; base <= 0xffffffffU; base += kChunk) {
    for (std::size_t i = 0; i < kChunk; ++i) in[i] = float_of(static_cast<std::uint32_t>(base + i));
    fp32_to_fp16_row(in, fp16, GetParam());
    fp32_to_bf16_row(in, bf16, GetParam());
    for (std::size_t i = 0; i < kChunk; ++i) {
      ASSERT_EQ(fp16[i], fp32_to_fp16(in[i])) << std::hex << "input 0x" << base + i;
      ASSERT_EQ(bf16[i], fp32_to_bf16(in[i])) << std::hex << "input 0x" << base + i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllIsas, HalfRows, ::testing::Values(Isa::scalar, Isa::avx2, Isa::avx512),
                         [](const ::testing::TestParamInfo<Isa>& param) {
                           return std::string(to_string(param.param));
                         });

}  // namespace
}  // namespace quantlm
