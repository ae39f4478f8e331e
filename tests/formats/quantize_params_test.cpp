// Tests of quantize_rows' options: defaults, validation, gamma and least squares, per-tensor scales, ggml searches.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/half.h"
#include "formats/format_traits.h"
#include "formats/quantize.h"
#include "formats/quantize_testing.h"

namespace quantlm::formats {
namespace {

using testing::Matrix;

QuantizeParams correction(ScaleCorrection c, bool per_channel) {
  QuantizeParams p;
  p.correction = c;
  p.correction_per_channel = per_channel;
  return p;
}

double sq_error(const FormatTraits& f, const Matrix& x, const QuantizeParams& p) {
  return testing::weighted_sq_error(testing::round_trip(f, x, p), x);
}

// Sums of x and its reference quantization Q(x) over one row (or all rows).
CorrectionSums sums(const Matrix& x, const Matrix& q, std::int64_t row) {
  CorrectionSums s;
  const std::int64_t begin = row < 0 ? 0 : row * x.cols;
  const std::int64_t end = row < 0 ? x.rows * x.cols : begin + x.cols;
  for (std::int64_t i = begin; i < end; ++i) {
    const double a = x.values[static_cast<std::size_t>(i)];
    const double b = q.values[static_cast<std::size_t>(i)];
    s.xx += a * a;
    s.xq += a * b;
    s.qq += b * b;
  }
  return s;
}

TEST(QuantizeRows, DefaultParamsAreTheReferenceQuantizer) {
  const Matrix x = testing::gaussian_matrix(3, 256, 1);
  for (const FormatTraits& f : all_formats()) {
    if (f.quantize_ref == nullptr) continue;
    std::vector<std::byte> expected(static_cast<std::size_t>(3 * f.row_bytes(256)));
    for (std::int64_t r = 0; r < 3; ++r) f.quantize_ref(&x.values[r * 256], &expected[r * f.row_bytes(256)], 256);
    EXPECT_EQ(testing::quantize_with(f, x), expected) << f.name;
  }
}

void expect_error(const char* format, std::int64_t cols, const QuantizeParams& p, const std::string& fragment) {
  const Matrix x = testing::gaussian_matrix(1, cols, 1);
  std::vector<std::byte> out(4096);
  try {
    quantize_rows(*find_format(format), x.values.data(), out.data(), 1, cols, p);
    ADD_FAILURE() << format << ": expected an error containing '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(QuantizeRows, RejectsWhatAFormatCannotDo) {
  QuantizeParams p;
  expect_error("Q4_0", 33, p, "not a multiple of its block size 32");
  expect_error("IQ2_XXS", 256, p, "cannot be produced");
  p.search = ScaleSearch::mse;
  expect_error("Q4_K", 256, p, "format Q4_K: only its reference quantizer");
  p.search = ScaleSearch::paper_s_star;
  expect_error("NF4_G64", 64, p, "format NF4_G64: scale search 'paper s*' does not apply");
  p = {};
  p.search = ScaleSearch::absmean;
  expect_error("I4_G32A", 64, p, "'absmean' does not apply");
  const std::vector<float> importance(64, 1.0F);
  p.search = ScaleSearch::min_max;
  p.importance = importance.data();
  expect_error("I4_G32", 64, p, "importance weights need the mse");
  std::vector<float> bad = importance;
  bad[5] = -1.0F;
  p = {};
  p.importance = bad.data();
  expect_error("I4_G32", 64, p, "importance of column 5");
  bad[5] = std::numeric_limits<float>::quiet_NaN();
  expect_error("Q4_0", 64, p, "importance of column 5");
  p = {};
  p.percentile = 0.0F;
  expect_error("I4_ROW", 64, p, "percentile 0");
  p = {};
  p.mse_steps = 0;
  expect_error("I4_ROW", 64, p, "steps 0");
  p = {};
  p.correction = ScaleCorrection::gamma;
  expect_error("Q8_K", 256, p, "cannot be folded");
  p = {};
  p.tensor_scale = true;
  expect_error("Q2_K", 256, p, "only its reference quantizer");
}

// ---- γ and least squares ---------------------------------------------------------------

// Cauchy-Schwarz: (sum x q)^2 <= sum x^2 sum q^2, so sum xq / sum qq <=
// sqrt(sum xx / sum qq): γ over-scales relative to the MSE-optimal factor.
TEST(Correction, GammaIsNeverBelowTheLeastSquaresFactor) {
  const Matrix x = testing::gaussian_matrix(16, 256, 2);
  for (const FormatTraits& f : all_formats()) {
    if (f.rescale == nullptr || f.quantize_ref == nullptr) continue;
    const Matrix q = testing::round_trip(f, x);
    for (std::int64_t r = -1; r < x.rows; ++r) {  // -1: the whole tensor
      const CorrectionSums s = sums(x, q, r);
      const double gamma = correction_factor(ScaleCorrection::gamma, s);
      const double ls = correction_factor(ScaleCorrection::least_squares, s);
      EXPECT_GE(gamma, ls * (1 - 1e-12)) << f.name << " row " << r;
    }
  }
}

TEST(Correction, TextbookFactorsOfTheBinaryFormat) {
  // d = E|x| = sqrt(2 / pi) sigma is already the least-squares scale of sign
  // codes (factor 1), and γ = sqrt(E[x^2]) / E|x| = sqrt(pi / 2) = 1.2533.
  const Matrix x = testing::gaussian_matrix(64, 1024, 3);
  const FormatTraits& f = *find_format("BIN_ROW");
  const CorrectionSums s = sums(x, testing::round_trip(f, x), -1);
  EXPECT_NEAR(correction_factor(ScaleCorrection::gamma, s), std::sqrt(std::numbers::pi / 2), 0.01);
  EXPECT_NEAR(correction_factor(ScaleCorrection::least_squares, s), 1.0, 1e-6);
}

// Least squares minimises the error over all factors, γ included, and 1
// (no correction) included. Checked at 4 bits and below, where the factors
// differ by more than the fp16 rounding of the folded scales (at 8 bits that
// rounding of the offsets dominates: docs/FORMATS.md).
TEST(Correction, LeastSquaresGivesLowerErrorThanGammaAndNone) {
  const Matrix x = testing::gaussian_matrix(64, 256, 4);
  for (const char* name : {"Q4_0", "Q4_1", "IQ4_NL", "Q2_K", "Q3_K", "Q4_K", "IQ4_XS", "TQ2_0", "I4_ROW", "I4_G32A",
                           "I3_G32", "I3_ROWA", "I2_G32", "I2_ROWA", "NF4_G64", "LOG2_4_G32", "TERN_ROW", "TERN_G32"}) {
    const FormatTraits& f = *find_format(name);
    const double none = sq_error(f, x, {});
    for (const bool per_channel : {true, false}) {
      const double gamma = sq_error(f, x, correction(ScaleCorrection::gamma, per_channel));
      const double ls = sq_error(f, x, correction(ScaleCorrection::least_squares, per_channel));
      EXPECT_LT(ls, gamma) << name << (per_channel ? " per channel" : " per tensor");
      EXPECT_LT(ls, none) << name << (per_channel ? " per channel" : " per tensor");
    }
  }
  // Binary: absmean is already least squares, and γ only adds error.
  const FormatTraits& bin = *find_format("BIN_G32");
  const double none = sq_error(bin, x, {});
  EXPECT_LE(sq_error(bin, x, correction(ScaleCorrection::least_squares, false)), none * (1 + 1e-6));
  EXPECT_GT(sq_error(bin, x, correction(ScaleCorrection::gamma, false)), none * 1.05);
}

// The factor multiplies every stored scale: each decoded value moves by it,
// up to the rounding of the folded scale (relative 2^-11 in fp16, about 2^-23
// in an fp32 row scale). Q4_K's x = d*sc*q - dmin*m rounds d and dmin
// separately, so its bound is absolute: 2^-11 of the largest decoded value.
TEST(Correction, FoldedFactorScalesEveryDecodedValue) {
  const struct {
    const char* name;
    double relative;
    double absolute;
  } cases[] = {{"I4_G32", 0x1p-11, 0.0}, {"I2_ROW", 0x1p-21, 0.0}, {"Q4_0", 0x1p-11, 0.0}, {"Q4_K", 0.0, 0x1p-11}};
  for (const auto& c : cases) {
    const FormatTraits& f = *find_format(c.name);
    const Matrix x = testing::gaussian_matrix(8, f.row_length_ok(172) ? 172 : 256, 6);
    const Matrix q = testing::round_trip(f, x);
    const double factor = correction_factor(ScaleCorrection::least_squares, sums(x, q, -1));
    ASSERT_LT(factor, 0.999) << c.name;  // a factor big enough to see
    const Matrix y = testing::round_trip(f, x, correction(ScaleCorrection::least_squares, false));
    double qmax = 0.0;
    for (const float v : q.values) qmax = std::max(qmax, std::fabs(static_cast<double>(v)));
    for (std::size_t i = 0; i < q.values.size(); ++i) {
      const double expected = factor * q.values[i];
      EXPECT_NEAR(y.values[i], expected, std::fabs(expected) * c.relative + qmax * c.absolute) << c.name << " " << i;
    }
  }
}

// ---- per-tensor scales -----------------------------------------------------------------

TEST(TensorScale, TernaryPerTensorIsBitNetsAbsmean) {
  const Matrix x = testing::gaussian_matrix(5, 100, 7);
  double sum = 0.0;
  for (const float v : x.values) sum += std::fabs(static_cast<double>(v));
  const auto mean = static_cast<float>(sum / static_cast<double>(x.values.size()));
  QuantizeParams p;
  p.tensor_scale = true;
  const FormatTraits& f = *find_format("TERN_ROW");
  const std::vector<std::byte> q = testing::quantize_with(f, x, p);
  for (std::int64_t r = 0; r < x.rows; ++r) {
    float d = 0.0F;
    std::memcpy(&d, q.data() + r * f.row_bytes(x.cols), 4);
    EXPECT_FLOAT_EQ(d, mean) << "row " << r;
  }
  // Every value decodes to 0 or +-mean: round(x / mean) clipped to [-1, 1].
  const Matrix y = testing::decode(f, q, x.rows, x.cols);
  for (std::size_t i = 0; i < x.values.size(); ++i) {
    const float expected = std::fabs(x.values[i]) < mean / 2 ? 0.0F : std::copysign(mean, x.values[i]);
    EXPECT_EQ(y.values[i], expected) << i;
  }
}

TEST(TensorScale, Q4_0WithOneScaleStaysAStandardBlockLayout) {
  const Matrix x = testing::gaussian_matrix(4, 64, 8);
  float amax = 0.0F;
  for (const float v : x.values) amax = std::max(amax, std::fabs(v));
  QuantizeParams p;
  p.tensor_scale = true;
  p.search = ScaleSearch::min_max;
  const std::vector<std::byte> q = testing::quantize_with(traits(FormatId::Q4_0), x, p);
  for (std::size_t b = 0; b < q.size(); b += 18) {
    std::uint16_t d = 0;
    std::memcpy(&d, q.data() + b, 2);
    EXPECT_FLOAT_EQ(std::fabs(fp16_to_fp32(d)), fp16_to_fp32(fp32_to_fp16(amax / 8))) << "block " << b / 18;
  }
}

// ---- ggml types with a search -----------------------------------------------------------

// MSE / importance searches write standard blocks that decode with llama.cpp's
// formula; on Gaussian rows the MSE search lowers the error against
// llama.cpp's reference quantizer by the measured ratios (seed 1, +-3%).
TEST(GgmlSearch, MseSearchBeatsTheReferenceQuantizer) {
  const Matrix x = testing::gaussian_matrix(64, 1024, 1);
  const struct {
    const char* name;
    double ratio;
  } cases[] = {{"Q4_0", 0.907}, {"Q4_1", 0.866}, {"Q5_0", 0.925}, {"Q5_1", 0.894}, {"Q8_0", 0.965}, {"IQ4_NL", 0.981}};
  for (const auto& c : cases) {
    const FormatTraits& f = *find_format(c.name);
    QuantizeParams p;
    p.search = ScaleSearch::mse;
    const double ratio = sq_error(f, x, p) / sq_error(f, x, {});
    EXPECT_NEAR(ratio, c.ratio, 0.03 * c.ratio) << c.name;
  }
}

}  // namespace
}  // namespace quantlm::formats
