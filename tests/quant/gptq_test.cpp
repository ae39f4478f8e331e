// GPTQ on hand-sized cases: Cholesky factors, H = I equals RTN, correlated inputs beat RTN, valid blocks, any thread
// count.
#include "quant/gptq.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/error.h"
#include "core/half.h"
#include "formats/blocks_legacy.h"
#include "formats/quantize.h"

namespace quantlm::quant {
namespace {

using formats::FormatId;
using formats::FormatTraits;

TEST(Cholesky, KnownMatrix) {
  // The classic example: [[4, 12, -16], [12, 37, -43], [-16, -43, 98]] = L·Lᵀ.
  std::vector<double> a = {4, 12, -16, 12, 37, -43, -16, -43, 98};
  ASSERT_TRUE(cholesky_lower(a, 3));
  const std::vector<double> want = {2, 0, 0, 6, 1, 0, -8, 5, 3};
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], want[i], 1e-12) << i;
}

TEST(Cholesky, RefusesIndefinite) {
  std::vector<double> a = {1, 2, 2, 1};  // eigenvalues 3 and -1
  EXPECT_FALSE(cholesky_lower(a, 2));
}

TEST(Cholesky, InverseUpperFactor) {
  // U upper with Uᵀ·U = (H + λI)⁻¹: check (H + λI)·Uᵀ·U = I on a random SPD H.
  const std::int64_t n = 7;
  std::mt19937 rng(3);
  std::normal_distribution<double> g;
  std::vector<double> b(static_cast<std::size_t>(n * n));
  for (double& x : b) x = g(rng);
  std::vector<double> h(static_cast<std::size_t>(n * n), 0.0);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j)
      for (std::int64_t k = 0; k < n; ++k) h[i * n + j] += b[i * n + k] * b[j * n + k];
  double lambda = 0.0;
  const std::vector<double> u = inverse_cholesky_upper(h, n, 0.01, &lambda);
  double mean = 0.0;
  for (std::int64_t i = 0; i < n; ++i) mean += h[i * n + i] / static_cast<double>(n);
  EXPECT_DOUBLE_EQ(lambda, 0.01 * mean);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < i; ++j) EXPECT_EQ(u[i * n + j], 0.0) << "upper triangular";
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t j = 0; j < n; ++j) {
      double s = 0.0;
      for (std::int64_t k = 0; k < n; ++k) {
        double inv_kj = 0.0;  // (Uᵀ·U)[k][j]
        for (std::int64_t m = 0; m < n; ++m) inv_kj += u[m * n + k] * u[m * n + j];
        s += (h[i * n + k] + (i == k ? lambda : 0.0)) * inv_kj;
      }
      EXPECT_NEAR(s, i == j ? 1.0 : 0.0, 1e-9) << i << "," << j;
    }
  }
}

std::vector<float> random_weights(std::int64_t rows, std::int64_t cols, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0F, 0.05F);
  std::vector<float> w(static_cast<std::size_t>(rows * cols));
  for (float& x : w) x = g(rng);
  w[5] = 0.4F;  // an outlier, so block scales differ
  return w;
}

std::vector<std::byte> run_gptq(const FormatTraits& f, const std::vector<float>& w, std::int64_t rows,
                                std::int64_t cols, const std::vector<double>& h, const GptqOptions& o,
                                std::size_t threads = 2) {
  std::vector<std::byte> out(static_cast<std::size_t>(rows * f.row_bytes(cols)));
  ThreadPool pool(threads);
  gptq_quantize(f, w, rows, cols, h, out.data(), o, pool);
  return out;
}

std::vector<float> decode(const FormatTraits& f, const std::vector<std::byte>& bytes, std::int64_t rows,
                          std::int64_t cols) {
  std::vector<float> out(static_cast<std::size_t>(rows * cols));
  for (std::int64_t r = 0; r < rows; ++r)
    f.dequantize(bytes.data() + r * f.row_bytes(cols), out.data() + r * cols, cols);
  return out;
}

class GptqIdentity : public ::testing::TestWithParam<FormatId> {};

// Uncorrelated inputs of equal power: U is diagonal, no error is passed on,
// and every column is rounded on its own with the scale RTN would choose.
TEST_P(GptqIdentity, EqualsRtn) {
  const FormatTraits& f = formats::traits(GetParam());
  const std::int64_t rows = 6;
  const std::int64_t cols = 96;
  const std::vector<float> w = random_weights(rows, cols, 11);
  std::vector<double> h(static_cast<std::size_t>(cols * cols), 0.0);
  for (std::int64_t i = 0; i < cols; ++i) h[i * cols + i] = 1.0;
  const std::vector<std::byte> gptq = run_gptq(f, w, rows, cols, h, GptqOptions{});

  std::vector<float> ones(static_cast<std::size_t>(cols), 1.0F);
  formats::QuantizeParams p;
  p.search = formats::ScaleSearch::mse;
  p.importance = ones.data();
  std::vector<std::byte> rtn(gptq.size());
  formats::quantize_rows(f, w.data(), rtn.data(), rows, cols, p);
  EXPECT_EQ(gptq, rtn) << f.name;
}

INSTANTIATE_TEST_SUITE_P(Formats, GptqIdentity,
                         ::testing::Values(FormatId::Q4_0, FormatId::Q4_1, FormatId::Q5_0, FormatId::Q5_1,
                                           FormatId::Q8_0, FormatId::IQ4_NL, FormatId::I4_G32, FormatId::I4_ROW,
                                           FormatId::I3_G64A),
                         [](const auto& p) { return std::string(formats::traits(p.param).name); });

// Correlated inputs: X = Z·A with a random mixing A, so H = XᵀX is far from diagonal.
struct Correlated {
  std::int64_t tokens = 512;
  std::int64_t rows = 48;
  std::int64_t cols = 128;
  std::vector<float> x;  // tokens × cols
  std::vector<float> w;  // rows × cols
  std::vector<double> h;

  Correlated() {
    std::mt19937 rng(7);
    std::normal_distribution<float> g;
    std::vector<float> z(static_cast<std::size_t>(tokens * cols));
    for (float& v : z) v = g(rng);
    std::vector<float> a(static_cast<std::size_t>(cols * cols));
    for (float& v : a) v = 0.3F * g(rng);
    for (std::int64_t i = 0; i < cols; ++i) a[i * cols + i] += 1.0F;
    x.assign(static_cast<std::size_t>(tokens * cols), 0.0F);
    for (std::int64_t t = 0; t < tokens; ++t)
      for (std::int64_t k = 0; k < cols; ++k)
        for (std::int64_t j = 0; j < cols; ++j) x[t * cols + j] += z[t * cols + k] * a[k * cols + j];
    w = random_weights(rows, cols, 5);
    h.assign(static_cast<std::size_t>(cols * cols), 0.0);
    for (std::int64_t t = 0; t < tokens; ++t)
      for (std::int64_t i = 0; i < cols; ++i)
        for (std::int64_t j = 0; j < cols; ++j) h[i * cols + j] += double{x[t * cols + i]} * x[t * cols + j];
  }

  // ‖X·Wᵀ − X·Ŵᵀ‖²
  [[nodiscard]] double output_error(const std::vector<float>& wq) const {
    double e = 0.0;
    for (std::int64_t t = 0; t < tokens; ++t) {
      for (std::int64_t r = 0; r < rows; ++r) {
        double d = 0.0;
        for (std::int64_t c = 0; c < cols; ++c) d += double{x[t * cols + c]} * (w[r * cols + c] - wq[r * cols + c]);
        e += d * d;
      }
    }
    return e;
  }
};

TEST(Gptq, BeatsRtnOnCorrelatedInputsQ4_0) {
  const Correlated c;
  const FormatTraits& f = formats::traits(FormatId::Q4_0);
  // RTN twice: llama.cpp's reference quantizer, and the MSE search weighted by diag(H) (imatrix-style).
  std::vector<std::byte> ref(static_cast<std::size_t>(c.rows * f.row_bytes(c.cols)));
  formats::quantize_rows(f, c.w.data(), ref.data(), c.rows, c.cols);
  std::vector<float> diag(static_cast<std::size_t>(c.cols));
  for (std::int64_t i = 0; i < c.cols; ++i) diag[i] = static_cast<float>(c.h[i * c.cols + i]);
  formats::QuantizeParams p;
  p.search = formats::ScaleSearch::mse;
  p.importance = diag.data();
  std::vector<std::byte> weighted(ref.size());
  formats::quantize_rows(f, c.w.data(), weighted.data(), c.rows, c.cols, p);
  const double e_ref = c.output_error(decode(f, ref, c.rows, c.cols));
  const double e_weighted = c.output_error(decode(f, weighted, c.rows, c.cols));

  const std::vector<std::byte> gptq = run_gptq(f, c.w, c.rows, c.cols, c.h, GptqOptions{});
  const double e_gptq = c.output_error(decode(f, gptq, c.rows, c.cols));
  EXPECT_LT(e_gptq, 0.8 * e_ref) << "reference RTN " << e_ref << ", GPTQ " << e_gptq;
  EXPECT_LT(e_gptq, 0.8 * e_weighted) << "weighted RTN " << e_weighted << ", GPTQ " << e_gptq;

  GptqOptions act;
  act.act_order = true;
  const double e_act = c.output_error(decode(f, run_gptq(f, c.w, c.rows, c.cols, c.h, act), c.rows, c.cols));
  EXPECT_LT(e_act, 0.8 * e_ref) << "act-order " << e_act;

  // Valid Q4_0 blocks: finite fp16 scales, and every value decodes to d · (q − 8) of its stored nibble.
  std::vector<float> values = decode(f, gptq, c.rows, c.cols);
  for (std::int64_t b = 0; b < c.rows * c.cols / 32; ++b) {
    formats::BlockQ4_0 block;
    std::memcpy(&block, gptq.data() + b * 18, sizeof(block));
    const float d = fp16_to_fp32(block.d);
    ASSERT_TRUE(std::isfinite(d));
    for (int j = 0; j < 32; ++j) {
      const int q = j < 16 ? (block.qs[j] & 0x0F) : (block.qs[j - 16] >> 4);
      EXPECT_EQ(values[static_cast<std::size_t>(b * 32 + j)], d * static_cast<float>(q - 8));
    }
  }
}

TEST(Gptq, BeatsRtnOnCorrelatedInputsOtherFormats) {
  const Correlated c;
  for (const FormatId id : {FormatId::IQ4_NL, FormatId::Q4_1, FormatId::Q5_0, FormatId::I4_G64, FormatId::I3_ROW}) {
    const FormatTraits& f = formats::traits(id);
    std::vector<std::byte> rtn(static_cast<std::size_t>(c.rows * f.row_bytes(c.cols)));
    formats::QuantizeParams p;
    p.search = formats::ScaleSearch::mse;
    formats::quantize_rows(f, c.w.data(), rtn.data(), c.rows, c.cols, p);
    const double e_rtn = c.output_error(decode(f, rtn, c.rows, c.cols));
    const double e_gptq =
        c.output_error(decode(f, run_gptq(f, c.w, c.rows, c.cols, c.h, GptqOptions{}), c.rows, c.cols));
    EXPECT_LT(e_gptq, 0.8 * e_rtn) << f.name << ": RTN " << e_rtn << ", GPTQ " << e_gptq;
  }
}

TEST(Gptq, SameBytesForAnyThreadCountAndBlock) {
  const Correlated c;
  const FormatTraits& f = formats::traits(FormatId::Q4_0);
  const std::vector<std::byte> one = run_gptq(f, c.w, c.rows, c.cols, c.h, GptqOptions{}, 1);
  EXPECT_EQ(one, run_gptq(f, c.w, c.rows, c.cols, c.h, GptqOptions{}, 3));
  // The lazy update is an exact reordering of the same arithmetic up to float
  // rounding: a different block size may flip a rare tie, never the quality.
  GptqOptions small;
  small.block = 32;
  const double e128 = c.output_error(decode(f, one, c.rows, c.cols));
  const double e32 = c.output_error(decode(f, run_gptq(f, c.w, c.rows, c.cols, c.h, small), c.rows, c.cols));
  EXPECT_NEAR(e32, e128, 0.02 * e128);
}

TEST(Gptq, RefusesWhatItCannotWrite) {
  const std::vector<float> w(256, 0.1F);
  const std::vector<double> h(256 * 256, 0.0);
  EXPECT_FALSE(gptq_supports(formats::traits(FormatId::Q4_K)));
  EXPECT_FALSE(gptq_supports(formats::traits(FormatId::F16)));
  ThreadPool pool(1);
  std::vector<std::byte> out(1024);
  EXPECT_THROW(gptq_quantize(formats::traits(FormatId::Q4_K), w, 1, 256, h, out.data(), {}, pool), Error);
  EXPECT_THROW(gptq_quantize(formats::traits(FormatId::Q4_0), w, 1, 200, h, out.data(), {}, pool), Error);
}

TEST(Gptq, DeadInputsKeepTheirWeightsRounded) {
  // An input never seen (zero row and column of H) must not make H singular.
  const std::int64_t cols = 64;
  const std::vector<float> w = random_weights(2, cols, 9);
  std::vector<double> h(static_cast<std::size_t>(cols * cols), 0.0);
  for (std::int64_t i = 1; i < cols; ++i) h[i * cols + i] = 2.0;
  const FormatTraits& f = formats::traits(FormatId::Q8_0);
  const std::vector<float> q = decode(f, run_gptq(f, w, 2, cols, h, GptqOptions{}), 2, cols);
  for (std::size_t i = 0; i < q.size(); ++i) EXPECT_NEAR(q[i], w[i], 0.01) << i;
}

}  // namespace
}  // namespace quantlm::quant
