// The K-quant and ternary integer kernels against their scalar kernel and an exact product of the decoded operands.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "formats/kquants.h"
#include "kernels/kernel_testing.h"
#include "kernels/matmul.h"
#include "kernels/q8k_activations.h"
#include "kernels/quant_k_impl.h"

namespace quantlm::kernels {
namespace {

using formats::FormatId;
using formats::FormatTraits;
using testing::KernelParam;
using testing::make_weight;
using testing::param_name;
using testing::random_values;
using testing::Weight;

constexpr FormatId kFormats[] = {FormatId::Q4_K, FormatId::TQ2_0, FormatId::Q6_K,   FormatId::Q5_K,
                                 FormatId::Q3_K, FormatId::Q2_K,  FormatId::IQ4_XS, FormatId::TQ1_0};

// The activations the kernels compute with: each token quantized to Q8_K, d * q exactly.
std::vector<double> quantized_activations(const std::vector<float>& x, std::int64_t cols) {
  std::vector<double> out(x.size());
  for (std::size_t b = 0; b < x.size() / formats::kQK; ++b) {
    const formats::BlockQ8K q = formats::quantize_block_q8_k(x.data() + b * formats::kQK);
    for (std::size_t i = 0; i < formats::kQK; ++i) {
      out[b * formats::kQK + i] = static_cast<double>(q.d) * q.qs[i];
    }
  }
  (void)cols;
  return out;
}

struct Case {
  std::int64_t rows, cols, tokens;
};

std::vector<float> run_kernel(const MatmulKernel& kernel, const Weight& w, const std::vector<float>& x, Case c) {
  std::vector<float> y(static_cast<std::size_t>(c.tokens * c.rows), std::nanf(""));
  const FormatTraits& format = *formats::find_format(w.view.storage.format_id);
  run_serial(kernel, MatmulArgs{w.view, &format, x.data(), c.cols, nullptr, 0, c.tokens, y.data(), c.rows});
  return y;
}

// Integer sums are exact at every level, so kernels differ from each other and
// from the exact product only by float rounding: of the per-block scale
// products, of their sum over blocks, and (for the exact product) of the
// decoded weights. 1e-5 of Σ|x·w| is far above that and far below the error of
// any wrong weight, scale or activation index.
constexpr double kRelTolerance = 1e-5;
// Against the scalar kernel only the float summation order differs (the
// kernels pass at 2e-7): 1e-6 of Σ|x·w|.
constexpr double kScalarTolerance = 1e-6;

void check_kernel(const MatmulKernel& kernel, const MatmulKernel& reference, Case c, std::uint32_t seed) {
  const FormatTraits& format = formats::traits(kernel.format);
  SCOPED_TRACE(::testing::Message() << kernel.name() << " rows " << c.rows << " cols " << c.cols << " tokens "
                                    << c.tokens);
  const Weight w = make_weight(format, c.rows, c.cols, seed);
  const std::vector<float> x = random_values(static_cast<std::size_t>(c.tokens * c.cols), seed + 1);
  const std::vector<double> xq = quantized_activations(x, c.cols);
  const std::vector<float> y = run_kernel(kernel, w, x, c);
  const std::vector<float> y_ref = run_kernel(reference, w, x, c);
  for (std::int64_t t = 0; t < c.tokens; ++t) {
    for (std::int64_t r = 0; r < c.rows; ++r) {
      const auto [exact, magnitude] = testing::exact_product(xq, w.decoded, t, r, c.cols);
      const auto i = static_cast<std::size_t>(t * c.rows + r);
      const double bound = kRelTolerance * magnitude;
      ASSERT_LE(std::fabs(y[i] - exact), bound) << "token " << t << " row " << r << ": " << y[i] << " vs " << exact;
      ASSERT_LE(std::fabs(y[i] - y_ref[i]), kScalarTolerance * magnitude)
          << "token " << t << " row " << r << " vs the scalar kernel";
    }
  }
}

// The integer kernels of these formats (those that pack activations), not the generic dequantize path.
std::vector<KernelParam> integer_kernels() {
  std::vector<KernelParam> params;
  for (const FormatId id : kFormats) {
    const auto kernels = kernels_for(formats::traits(id));
    for (std::size_t i = 0; i < kernels.size(); ++i) {
      if (kernels[i].packing.packs()) params.push_back({id, i});
    }
  }
  return params;
}

class QuantKKernels : public ::testing::TestWithParam<KernelParam> {};

TEST_P(QuantKKernels, MatchScalarAndExactOnOddShapes) {
  const FormatTraits& format = formats::traits(GetParam().format);
  const MatmulKernel& kernel = kernels_for(format)[GetParam().index];
  if (!kernel.runnable()) GTEST_SKIP() << "this CPU lacks what " << kernel.name() << " needs";
  const MatmulKernel& scalar = select_kernel(format, Isa::scalar);
  ASSERT_EQ(scalar.variant, "scalar");
  std::uint32_t seed = 1;
  for (const std::int64_t cols : {256, 768, 2816}) {
    for (const std::int64_t rows : {1, 3, 37}) {
      for (const std::int64_t tokens : {1, 2, 5, 17}) check_kernel(kernel, scalar, {rows, cols, tokens}, seed++);
    }
  }
  check_kernel(kernel, scalar, {5, 512, 70}, seed);  // more than one 64-token chunk
}

INSTANTIATE_TEST_SUITE_P(AllKernels, QuantKKernels, ::testing::ValuesIn(integer_kernels()), param_name);

TEST(QuantKKernels, EveryFormatHasAllThreeLevels) {
  for (const FormatId id : kFormats) {
    const auto kernels = kernels_for(formats::traits(id));
    std::vector<std::string> variants;
    for (const MatmulKernel& k : kernels) variants.emplace_back(k.variant);
#if defined(__x86_64__)
    ASSERT_GE(kernels.size(), 3U) << formats::traits(id).name;
    EXPECT_EQ(variants[0], "avx512-vnni") << formats::traits(id).name;
    EXPECT_EQ(variants[1], "avx2") << formats::traits(id).name;
    EXPECT_EQ(variants[2], "scalar") << formats::traits(id).name;
#else
    EXPECT_EQ(variants.at(0), "scalar") << formats::traits(id).name;
#endif
  }
}

TEST(QuantKKernels, SelectionFollowsTheIsaCap) {
  for (const FormatId id : kFormats) {
    const FormatTraits& format = formats::traits(id);
    EXPECT_EQ(select_kernel(format, Isa::scalar).variant, "scalar") << format.name;
    if (!isa_supported(Isa::avx2)) continue;
    EXPECT_EQ(select_kernel(format, Isa::avx2).variant, "avx2") << format.name;
    if (!isa_supported(Isa::avx512)) continue;
    // Without VNNI an AVX-512 machine runs the AVX2 integer kernel, never the generic path.
    EXPECT_EQ(select_kernel(format, Isa::avx512).variant, cpu_features().avx512vnni ? "avx512-vnni" : "avx2")
        << format.name;
  }
}

TEST(Q8KActivations, PackedBlocksMatchTheReferenceQuantizer) {
  const std::vector<float> x = random_values(3 * 256, 7);
  std::vector<detail::Q8KBlockA> packed(3);
  ASSERT_EQ(detail::q8k_token_bytes(768), 3 * 384);
  detail::pack_q8k(x.data(), 768, reinterpret_cast<std::byte*>(packed.data()));
  for (std::size_t b = 0; b < 3; ++b) {
    const formats::BlockQ8K ref = formats::quantize_block_q8_k(x.data() + 256 * b);
    EXPECT_EQ(packed[b].d, ref.d);
    EXPECT_EQ(packed[b].qs, ref.qs);
    EXPECT_EQ(packed[b].bsums, ref.bsums);
    for (std::size_t g = 0; g < 16; ++g) EXPECT_EQ(packed[b].fbsums[g], ref.d * static_cast<float>(ref.bsums[g]));
    int sum = 0;
    for (const std::int8_t q : ref.qs) sum += q;
    EXPECT_EQ(packed[b].sum, sum);
  }
}

#if defined(__x86_64__)
TEST(Q8KActivations, Avx512PackingGivesTheSameBytes) {
  if (!isa_supported(Isa::avx512) || !cpu_features().avx512vnni) GTEST_SKIP() << "this CPU lacks AVX-512 VNNI";
  // Random blocks, a block whose peak magnitude appears with both signs (the first decides), and a zero block.
  std::vector<float> x = random_values(4 * 256, 11);
  x[256 + 40] = -1.5F;
  x[256 + 200] = 1.5F;
  std::fill(x.begin() + 512, x.begin() + 768, 0.F);
  std::vector<detail::Q8KBlockA> a(4);
  std::vector<detail::Q8KBlockA> b(4);
  detail::pack_q8k(x.data(), 1024, reinterpret_cast<std::byte*>(a.data()));
  detail::qk::pack_q8k_avx512(x.data(), 1024, reinterpret_cast<std::byte*>(b.data()));
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(a[i].d, b[i].d) << "block " << i;
    EXPECT_EQ(a[i].qs, b[i].qs) << "block " << i;
    EXPECT_EQ(a[i].bsums, b[i].bsums) << "block " << i;
    EXPECT_EQ(a[i].fbsums, b[i].fbsums) << "block " << i;
    EXPECT_EQ(a[i].sum, b[i].sum) << "block " << i;
  }
}
#endif

}  // namespace
}  // namespace quantlm::kernels
