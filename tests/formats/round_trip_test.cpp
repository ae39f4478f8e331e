// Quantize -> dequantize round trips on seeded Gaussian rows of odd block counts, through the traits table.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "formats/format_traits.h"
#include "formats/row_codec_testing.h"

namespace quantlm::formats {
namespace {

using testing::Matrix;

// Largest absolute error a format may make on one block, given its source values.
using ErrorBound = std::function<double(std::span<const float> block)>;

double abs_max(std::span<const float> x) {
  double m = 0.0;
  for (const float v : x) m = std::max(m, static_cast<double>(std::fabs(v)));
  return m;
}
double range(std::span<const float> x) {
  const auto [lo, hi] = std::minmax_element(x.begin(), x.end());
  return static_cast<double>(*hi) - static_cast<double>(*lo);
}

// Codes are computed from the fp32 scale and decoded with its fp16 copy, off
// by at most 2^-11 relative; times up to 127 levels (Q8) that adds amax * 2^-11,
// plus another amax * 2^-11 for an fp16 offset. amax * 2^-9 covers both with room.
double scale_slack(std::span<const float> x) { return abs_max(x) * 0x1p-9; }

struct RoundTripCase {
  const char* format;
  // Relative RMS error on N(0, 1) data. Measured with seeds 1-4 (the spread
  // between seeds was within 1.5%); the bands are +-8% around the midpoint,
  // wide for sampling noise, narrow enough that a bug costing half a bit fails.
  double rms_lo;
  double rms_hi;
  ErrorBound max_error;  // null: no simple per-value bound (IQ4_NL)
  // Whether quantize(dequantize(q)) == q byte for byte. True where the scale
  // comes from the block's extremes: decoded, those are exact multiples of the
  // stored fp16 scale (plus its offset), so re-quantizing derives the same
  // scale to within a float ulp, which rounds back to the same fp16 value and
  // the same codes. IQ4_NL's least-squares search may settle on another scale
  // (2 of 518 blocks when measured).
  bool fixed_point;
};

// Expected figures, with the textbook estimate where there is one: a uniform
// step s gives an RMS error s / sqrt(12); for 32 N(0, 1) values E[amax] ~ 2.1.
const RoundTripCase kCases[] = {
    // s = amax / 127 ~ 0.0165 -> 0.0048; measured 0.00531-0.00535.
    {"Q8_0", 0.0049, 0.0058, [](auto x) { return abs_max(x) / 254 + scale_slack(x); }, true},
    // Q8_1's cached s = sum(q) * d uses the fp32 d, which the decoded row no
    // longer knows, so s (only s) may change on re-quantization.
    {"Q8_1", 0.0049, 0.0058, [](auto x) { return abs_max(x) / 254 + scale_slack(x); }, false},
    // s = amax / 16: measured 0.0422-0.0430.
    {"Q5_0", 0.039, 0.046, [](auto x) { return abs_max(x) / 16 + scale_slack(x); }, true},
    // s = range / 31: measured 0.0375-0.0380.
    {"Q5_1", 0.0347, 0.0408, [](auto x) { return range(x) / 62 + scale_slack(x); }, true},
    // s = amax / 8; the value opposite the extreme can clip by a full step: measured 0.0850-0.0857.
    {"Q4_0", 0.0785, 0.0922, [](auto x) { return abs_max(x) / 8 + scale_slack(x); }, true},
    // s = range / 15: measured 0.0770-0.0785.
    {"Q4_1", 0.0716, 0.0840, [](auto x) { return range(x) / 30 + scale_slack(x); }, true},
    // Non-uniform grid with a searched scale: measured 0.0755-0.0772, a little better than Q4_1 at 4.5 bits.
    {"IQ4_NL", 0.0703, 0.0826, nullptr, false},
    // Ternary with d = amax: most Gaussian values fall below amax / 2 and
    // become 0, so the error is large by design: measured 0.799-0.805.
    {"TQ1_0", 0.738, 0.866, [](auto x) { return abs_max(x) / 2 * (1 + 0x1p-10); }, true},
    {"TQ2_0", 0.738, 0.866, [](auto x) { return abs_max(x) / 2 * (1 + 0x1p-10); }, true},
    // Rounding to 11 and 8 significant bits: an ulp of 2^-10 (2^-7) relative to
    // a mantissa m in [1, 2) with E[m^2] ~ 2.16 gives 2^-10 / sqrt(12 * 2.16)
    // ~ 1.9e-4 (1.5e-3); measured 2.06e-4-2.09e-4 and 1.65e-3-1.68e-3.
    {"F16", 1.92e-4, 2.24e-4, [](auto x) { return abs_max(x) * 0x1p-11 + 0x1p-25; }, true},
    {"BF16", 1.54e-3, 1.80e-3, [](auto x) { return abs_max(x) * 0x1p-8; }, true},
    {"F32", 0.0, 0.0, [](auto) { return 0.0; }, true},
};

void PrintTo(const RoundTripCase& c, std::ostream* os) { *os << c.format; }

class RoundTrip : public ::testing::TestWithParam<RoundTripCase> {
 protected:
  // An odd number of blocks per row (7 of 32, 3 of 256, 225 single values),
  // and about 16k values in all so that the RMS figure is stable.
  static Matrix data(const FormatTraits& f, std::uint32_t seed) {
    const std::int64_t cols = f.block_elems == 1 ? 225 : (f.block_elems == 32 ? 7 : 3) * f.block_elems;
    const std::int64_t rows = 16384 / cols + 1;
    return Matrix{rows, cols, testing::gaussian(static_cast<std::size_t>(rows * cols), seed)};
  }
};

TEST_P(RoundTrip, ErrorWithinBands) {
  const RoundTripCase& c = GetParam();
  const FormatTraits& f = *find_format(c.format);
  const Matrix x = data(f, 1);
  const Matrix y = testing::dequantize(f, testing::quantize(f, x), x.rows, x.cols);
  const double rms = testing::relative_rms(y.values, x.values);
  EXPECT_GE(rms, c.rms_lo) << c.format;
  EXPECT_LE(rms, c.rms_hi) << c.format;

  if (!c.max_error) return;
  const auto block = static_cast<std::size_t>(f.block_elems == 1 ? x.cols : f.block_elems);  // floats: per row
  std::size_t violations = 0;
  for (std::size_t b = 0; b < x.values.size(); b += block) {
    const std::span<const float> src(x.values.data() + b, block);
    const double bound = c.max_error(src);
    for (std::size_t j = 0; j < block; ++j) {
      const double err = std::fabs(static_cast<double>(y.values[b + j]) - static_cast<double>(src[j]));
      if (err > bound && violations++ < 5)
        ADD_FAILURE() << c.format << " value " << b + j << " error " << err << " > " << bound;
    }
  }
  EXPECT_EQ(violations, 0U);
}

TEST_P(RoundTrip, RequantizingDecodedRowsIsAFixedPoint) {
  const RoundTripCase& c = GetParam();
  if (!c.fixed_point) GTEST_SKIP() << c.format << " is not a fixed point (see kCases)";
  const FormatTraits& f = *find_format(c.format);
  const Matrix x = data(f, 2);
  const std::vector<std::byte> q = testing::quantize(f, x);
  const Matrix y = testing::dequantize(f, q, x.rows, x.cols);
  EXPECT_TRUE(testing::quantize(f, y) == q) << c.format;
}

TEST_P(RoundTrip, UnalignedBuffersGiveTheSameBytesAndValues) {
  // Blocks start at odd addresses inside rows of other data; the packed
  // structs and the float converters must not care (UBSan checks alignment).
  const RoundTripCase& c = GetParam();
  const FormatTraits& f = *find_format(c.format);
  const Matrix x = data(f, 3);
  const std::vector<std::byte> q = testing::quantize(f, x);
  std::vector<std::byte> shifted(q.size() + 1);
  const std::int64_t stride = testing::row_bytes(f, x.cols);
  std::vector<float> a(static_cast<std::size_t>(x.cols));
  std::vector<float> b(static_cast<std::size_t>(x.cols));
  for (std::int64_t r = 0; r < x.rows; ++r) {
    f.quantize_ref(x.values.data() + r * x.cols, shifted.data() + 1, x.cols);
    ASSERT_EQ(std::memcmp(shifted.data() + 1, q.data() + r * stride, static_cast<std::size_t>(stride)), 0) << r;
    f.dequantize(shifted.data() + 1, a.data(), x.cols);
    f.dequantize(q.data() + r * stride, b.data(), x.cols);
    ASSERT_EQ(a, b) << r;
  }
}

std::string case_name(const ::testing::TestParamInfo<RoundTripCase>& param) { return param.param.format; }
INSTANTIATE_TEST_SUITE_P(Formats, RoundTrip, ::testing::ValuesIn(kCases), case_name);

}  // namespace
}  // namespace quantlm::formats
