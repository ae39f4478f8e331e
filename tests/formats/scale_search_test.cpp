// Tests of the shared scale search: level grids, the paper's s* (about 4x the MSE), the MSE search, importance weights.
#include "formats/scale_search.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "formats/format_traits.h"
#include "formats/grids.h"
#include "formats/quantize.h"
#include "formats/quantize_testing.h"

namespace quantlm::formats {
namespace {

using testing::Matrix;

QuantizeParams with_search(ScaleSearch s) {
  QuantizeParams p;
  p.search = s;
  return p;
}

double sq_error(const FormatTraits& f, const Matrix& x, const QuantizeParams& p, std::span<const float> w = {}) {
  return testing::weighted_sq_error(testing::round_trip(f, x, p), x, w);
}

// ---- grids -------------------------------------------------------------------------

TEST(Grids, DecodeTablesAgreeWithTheSortedLevels) {
  for (const FormatTraits& f : all_formats()) {
    if (f.grid == nullptr) continue;
    const Grid& g = *f.grid;
    for (std::size_t i = 1; i < g.levels.size(); ++i) EXPECT_LT(g.levels[i - 1], g.levels[i]) << f.name;
    if (!g.integer) {
      EXPECT_EQ(g.midpoints.size() + 1, g.levels.size()) << f.name;
    }
    if (g.decode.empty()) continue;  // ggml types pack their own codes
    for (std::size_t i = 0; i < g.levels.size(); ++i) {
      const std::size_t code = g.code_of.empty() ? i : g.code_of[i];
      EXPECT_EQ(g.decode[code], g.levels[i]) << f.name << " level " << i;
    }
  }
}

TEST(Grids, Fp8E4M3FnValues) {
  const Grid& g = grids::kFp8E4M3;
  EXPECT_EQ(g.levels.size(), 253U);  // 256 codes - 2 NaNs - negative zero
  EXPECT_EQ(g.decode[0x7E], 448.0F);
  EXPECT_EQ(g.decode[0xFE], -448.0F);
  EXPECT_EQ(g.decode[0x01], 0x1p-9F);  // smallest subnormal
  EXPECT_EQ(g.decode[0x08], 0x1p-6F);  // smallest normal
  EXPECT_EQ(g.decode[0x38], 1.0F);     // exponent 7 = bias
  EXPECT_TRUE(std::isnan(g.decode[0x7F]) && std::isnan(g.decode[0xFF]));
}

TEST(Grids, NearestLevelTiesGoAwayFromZeroAndEndsClamp) {
  EXPECT_EQ(nearest_level(grids::kTernary, 0.5F), 2);
  EXPECT_EQ(nearest_level(grids::kTernary, -0.5F), 0);
  EXPECT_EQ(nearest_level(grids::kTernary, 0.49F), 1);
  EXPECT_EQ(nearest_level(grids::kSym<4>, 100.0F), 15);  // level 7
  EXPECT_EQ(nearest_level(grids::kSym<4>, -1e30F), 0);   // level -8
  EXPECT_EQ(nearest_level(grids::kSym<4>, 2.5F), 11);    // 3, away from zero
  EXPECT_EQ(nearest_level(grids::kNf4, 0.0F), 7);
  EXPECT_EQ(nearest_level(grids::kLog2, 0.0F), 8);  // no zero level: +2^-7
}

TEST(Grids, SearchesAreDefinedWhereTheyMeanSomething) {
  EXPECT_TRUE(search_supported(grids::kSym<4>, ScaleSearch::paper_s_star));
  EXPECT_FALSE(search_supported(grids::kNf4, ScaleSearch::paper_s_star));  // no step
  EXPECT_FALSE(search_supported(grids::kAffine<4>, ScaleSearch::absmean));
  EXPECT_TRUE(search_supported(grids::kTernary, ScaleSearch::mse));
}

// ---- the seed paper's s* ---------------------------------------------------------------

struct SStarCase {
  const char* format;
  // MSE(s*) / MSE(min-max) on N(0, 1) rows of 1024, measured with seeds 1-3
  // (spread under 3%). ANCHORS.md: doubling the step costs about 4x. It is
  // exactly the doubled step for affine grids, where a bit over 4x comes from
  // the few values that min-max places exactly; symmetric grids (extreme on
  // -2^(b-1)) get 2.1x min-max's step but half the levels still cover the
  // values, so a bit under 4x.
  double lo;
  double hi;
};
const SStarCase kSStar[] = {
    {"I4_G32A", 4.0, 4.8}, {"I2_G32A", 4.0, 4.8}, {"I8_G32A", 4.0, 4.8}, {"Q4_1", 4.0, 4.8},
    {"I4_ROWA", 3.7, 4.3}, {"I4_ROW", 3.6, 4.3},  {"I4_G32", 3.2, 3.9},  {"Q8_0", 2.9, 3.5},
};
void PrintTo(const SStarCase& c, std::ostream* os) { *os << c.format; }
class SStar : public ::testing::TestWithParam<SStarCase> {};

TEST_P(SStar, CostsAboutFourTimesTheMseOfMinMax) {
  const FormatTraits& f = *find_format(GetParam().format);
  const Matrix x = testing::gaussian_matrix(64, 1024, 1);
  const double ratio =
      sq_error(f, x, with_search(ScaleSearch::paper_s_star)) / sq_error(f, x, with_search(ScaleSearch::min_max));
  EXPECT_GE(ratio, GetParam().lo);
  EXPECT_LE(ratio, GetParam().hi);
}
std::string sstar_name(const ::testing::TestParamInfo<SStarCase>& param) { return param.param.format; }
INSTANTIATE_TEST_SUITE_P(Formats, SStar, ::testing::ValuesIn(kSStar), sstar_name);

// ---- the MSE search -------------------------------------------------------------------

// Gaussian rows with a few outliers at 5-12 sigma, like real weight rows.
Matrix heavy_tailed(std::int64_t rows, std::int64_t cols, std::uint32_t seed) {
  Matrix m = testing::gaussian_matrix(rows, cols, seed);
  std::mt19937 gen(seed);
  for (std::size_t i = 0; i < m.values.size(); i += 97) {
    m.values[(i + gen() % 97) % m.values.size()] *= 5.0F + static_cast<float>(gen() % 8);
  }
  return m;
}

// Min-max is one of the MSE search's candidates, and both store what they
// evaluated, so every row (every group) is at least as good. Checked per row
// on every searchable format, with and without importance weights.
TEST(MseSearch, NeverWorseThanMinMaxOnAnyRow) {
  const std::vector<float> w = testing::log_uniform_importance(172, 3);
  for (const FormatTraits& f : all_formats()) {
    if (f.grid == nullptr) continue;
    const std::int64_t cols = f.row_length_ok(172) ? 172 : 256;
    const Matrix x = heavy_tailed(24, cols, 11);
    for (const bool weighted : {false, true}) {
      if (weighted && cols != 172) continue;
      QuantizeParams min_max = with_search(ScaleSearch::min_max);
      QuantizeParams mse = with_search(ScaleSearch::mse);
      if (weighted) mse.importance = w.data();
      const Matrix a = testing::round_trip(f, x, min_max);
      const Matrix b = testing::round_trip(f, x, mse);
      for (std::int64_t r = 0; r < x.rows; ++r) {
        const Matrix xr{1, cols, {x.values.begin() + r * cols, x.values.begin() + (r + 1) * cols}};
        const Matrix ar{1, cols, {a.values.begin() + r * cols, a.values.begin() + (r + 1) * cols}};
        const Matrix br{1, cols, {b.values.begin() + r * cols, b.values.begin() + (r + 1) * cols}};
        const std::span<const float> ws = weighted ? std::span<const float>(w) : std::span<const float>();
        EXPECT_LE(testing::weighted_sq_error(br, xr, ws), testing::weighted_sq_error(ar, xr, ws) * (1 + 1e-12))
            << f.name << " row " << r << (weighted ? " weighted" : "");
      }
    }
  }
}

// ANCHORS.md: the MSE-optimal range clips inside [min, max], near 2.4 sigma at
// 4 bits on a Gaussian. Max (1960) gives 0.3352 sigma as the optimal step of a
// 16-level uniform quantizer, outer levels at +-7.5 steps = +-2.51 sigma.
TEST(MseSearch, FindsTheOptimalUniformStepOnLongGaussianRows) {
  const FormatTraits& f = *find_format("I4_ROWA");
  const Matrix x = testing::gaussian_matrix(4, 65536, 7);
  const std::vector<std::byte> q = testing::quantize_with(f, x, with_search(ScaleSearch::mse));
  for (std::int64_t r = 0; r < x.rows; ++r) {
    float d = 0.0F;
    float m = 0.0F;
    std::memcpy(&d, q.data() + r * f.row_bytes(x.cols), 4);  // fp32 d, then m
    std::memcpy(&m, q.data() + r * f.row_bytes(x.cols) + 4, 4);
    EXPECT_NEAR(d, 0.3352, 0.012) << "row " << r;
    const double half_range = 7.5 * d;  // the values span [-4.5, 4.5] sigma; min-max would keep them all
    EXPECT_GT(half_range, 2.3);
    EXPECT_LT(half_range, 2.7);
    EXPECT_NEAR(m + half_range, 0.0, 0.25) << "centred";
  }
}

TEST(MseSearch, GainsMostWhereLevelsAreFewAndGroupsLarge) {
  const Matrix x = testing::gaussian_matrix(32, 1024, 2);
  const auto gain = [&](const char* name) {
    const FormatTraits& f = *find_format(name);
    return sq_error(f, x, with_search(ScaleSearch::mse)) / sq_error(f, x, with_search(ScaleSearch::min_max));
  };
  // Measured: I2_ROWA 0.30, I4_ROW 0.72, I4_G32 0.91, I8_ROW 0.996.
  EXPECT_LT(gain("I2_ROWA"), 0.34);
  EXPECT_GT(gain("I2_ROWA"), 0.26);
  EXPECT_LT(gain("I4_ROW"), 0.78);
  EXPECT_GT(gain("I4_ROW"), 0.65);
  EXPECT_LT(gain("I4_G32"), 0.95);
  EXPECT_GT(gain("I4_G32"), 0.86);
  EXPECT_GT(gain("I8_ROW"), 0.98);
}

TEST(PercentileSearch, ClipsOutliersToRefineTheRest) {
  // Four 40-sigma outliers in a row of 4096: min-max spends the 16 levels on
  // them; the 99.9th percentile of |x| (~3.3 sigma) keeps the inliers fine.
  Matrix x = testing::gaussian_matrix(1, 4096, 4);
  for (const std::size_t i : {10U, 1000U, 2000U, 3000U}) x.values[i] = 40.0F;
  const FormatTraits& f = *find_format("I4_ROW");
  const Matrix a = testing::round_trip(f, x, with_search(ScaleSearch::min_max));
  const Matrix b = testing::round_trip(f, x, with_search(ScaleSearch::percentile));
  double inlier_a = 0.0;
  double inlier_b = 0.0;
  for (std::size_t i = 0; i < x.values.size(); ++i) {
    if (x.values[i] == 40.0F) {
      EXPECT_LT(b.values[i], 5.0F) << "the outlier clips";
      continue;
    }
    inlier_a += std::pow(a.values[i] - x.values[i], 2);
    inlier_b += std::pow(b.values[i] - x.values[i], 2);
  }
  EXPECT_LT(inlier_b, inlier_a / 50);
}

// ---- importance weights --------------------------------------------------------------

// The search minimises sum_c w_c (x - Q(x))^2, so weighting by the columns'
// importance lowers exactly that error against the unweighted search.
// Measured ratios (weighted / unweighted mse search): 0.82-0.99.
TEST(Importance, LowersTheWeightedErrorOfEveryImportanceAwareFormat) {
  const Matrix x = testing::gaussian_matrix(64, 256, 3);
  const std::vector<float> w = testing::log_uniform_importance(256, 9);
  for (const char* name : {"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "IQ4_NL", "I8_ROW", "I4_G32", "I4_G32A", "I3_G64A",
                           "I2_ROW", "NF4_G64", "LOG2_4_G32", "FP8_G32", "BIN_G32", "TERN_G32"}) {
    const FormatTraits& f = *find_format(name);
    QuantizeParams p = with_search(ScaleSearch::mse);
    const double unweighted = sq_error(f, x, p, w);
    p.importance = w.data();
    const double weighted = sq_error(f, x, p, w);
    EXPECT_LT(weighted, unweighted * 0.995) << name;
    EXPECT_GT(weighted, unweighted * 0.7) << name;
  }
}

TEST(Importance, DefaultSearchWithImportanceIsTheWeightedMseSearch) {
  const Matrix x = testing::gaussian_matrix(8, 64, 5);
  const std::vector<float> w = testing::log_uniform_importance(64, 1);
  QuantizeParams a;
  a.importance = w.data();
  QuantizeParams b = with_search(ScaleSearch::mse);
  b.importance = w.data();
  const FormatTraits& f = traits(FormatId::Q4_0);
  EXPECT_EQ(testing::quantize_with(f, x, a), testing::quantize_with(f, x, b));
}

}  // namespace
}  // namespace quantlm::formats
