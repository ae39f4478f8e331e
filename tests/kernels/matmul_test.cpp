// Every matrix kernel against an exact (double) reference and its format's scalar kernel, on odd shapes.
#include "kernels/matmul.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/half.h"
#include "core/thread_pool.h"
#include "kernels/kernel_testing.h"

namespace quantlm::kernels {
namespace {

using formats::FormatId;
using formats::FormatTraits;
using testing::KernelParam;
using testing::make_weight;
using testing::param_name;
using testing::random_values;
using testing::Weight;

// The activations a format's kernels compute with: BF16 rounds them to bf16.
double effective_activation(FormatId format, float x) {
  return format == FormatId::BF16 ? bf16_to_fp32(fp32_to_bf16(x)) : x;
}

struct Case {
  std::int64_t rows, cols, tokens;
};

// Float summation in any order of n products (each rounded once or fused)
// errs by at most γ_n Σ|x·w| with γ_n = n·u / (1 - n·u), u = 2^-24 (Higham,
// Accuracy and Stability, §3.1). Every kernel must be that close to the exact
// value, so two kernels are within twice that of each other.
double gamma(std::int64_t n) {
  const double nu = static_cast<double>(n + 1) * std::ldexp(1.0, -24);  // +1: the final horizontal sum's tree
  return nu / (1.0 - nu);
}

std::vector<float> run_kernel(const MatmulKernel& kernel, const Weight& w, const std::vector<float>& x, Case c) {
  std::vector<float> y(static_cast<std::size_t>(c.tokens * c.rows), std::nanf(""));
  const FormatTraits& format = *formats::find_format(w.view.storage.format_id);
  run_serial(kernel, MatmulArgs{w.view, &format, x.data(), c.cols, nullptr, 0, c.tokens, y.data(), c.rows});
  return y;
}

// Checks `kernel` on one shape against the exact product and against `reference` (the scalar kernel).
void check_kernel(const MatmulKernel& kernel, const MatmulKernel& reference, Case c, std::uint32_t seed) {
  const FormatTraits& format = formats::traits(kernel.format);
  SCOPED_TRACE(::testing::Message() << kernel.name() << " rows " << c.rows << " cols " << c.cols << " tokens "
                                    << c.tokens);
  const Weight w = make_weight(format, c.rows, c.cols, seed);
  const std::vector<float> x = random_values(static_cast<std::size_t>(c.tokens * c.cols), seed + 1);
  const std::vector<float> y = run_kernel(kernel, w, x, c);
  const std::vector<float> y_ref = run_kernel(reference, w, x, c);
  for (std::int64_t t = 0; t < c.tokens; ++t) {
    for (std::int64_t r = 0; r < c.rows; ++r) {
      double exact = 0;
      double magnitude = 0;  // Σ|x·w|
      for (std::int64_t k = 0; k < c.cols; ++k) {
        const double p = effective_activation(format.id, x[static_cast<std::size_t>(t * c.cols + k)]) *
                         w.decoded[static_cast<std::size_t>(r * c.cols + k)];
        exact += p;
        magnitude += std::fabs(p);
      }
      const auto i = static_cast<std::size_t>(t * c.rows + r);
      const double bound = gamma(c.cols) * magnitude;
      ASSERT_LE(std::fabs(y[i] - exact), bound) << "token " << t << " row " << r << ": " << y[i] << " vs " << exact;
      ASSERT_LE(std::fabs(y[i] - y_ref[i]), 2 * bound) << "token " << t << " row " << r << " vs the scalar kernel";
    }
  }
}

// The shapes the brief asks for, plus ones that fill the 8-row decode tile, 4 x 4 prefill tiles and more than one
// 64-token block.
std::vector<Case> odd_cases() {
  std::vector<Case> cases;
  for (std::int64_t cols : {1, 7, 33, 100, 257}) {
    for (std::int64_t rows : {1, 3, 17}) {
      for (std::int64_t tokens : {1, 2, 5}) cases.push_back({rows, cols, tokens});
    }
  }
  cases.push_back({37, 300, 70});
  cases.push_back({64, 64, 1});
  return cases;
}

std::vector<KernelParam> all_kernels(bool float_formats) {
  std::vector<KernelParam> params;
  for (const FormatTraits& f : formats::all_formats()) {
    if (f.is_float_weight != float_formats || f.quantize_ref == nullptr) continue;
    const auto kernels = kernels_for(f);
    for (std::size_t i = 0; i < kernels.size(); ++i) {
      // Kernels of quantized formats that quantize their activations too compute something else than this file's
      // f32-activation reference: their own tests check them (quant_legacy_test.cpp).
      if (kernels[i].packing.quantizes) continue;
      params.push_back({f.id, i});
    }
  }
  return params;
}

class FloatKernels : public ::testing::TestWithParam<KernelParam> {};

TEST_P(FloatKernels, MatchExactAndScalarOnOddShapes) {
  const FormatTraits& format = formats::traits(GetParam().format);
  const MatmulKernel& kernel = kernels_for(format)[GetParam().index];
  if (!kernel.runnable()) GTEST_SKIP() << "this CPU lacks what " << kernel.name() << " needs";
  const MatmulKernel& scalar = select_kernel(format, Isa::scalar);
  ASSERT_EQ(scalar.isa, Isa::scalar);
  std::uint32_t seed = 1;
  for (const Case& c : odd_cases()) check_kernel(kernel, scalar, c, seed++);
}

INSTANTIATE_TEST_SUITE_P(AllKernels, FloatKernels, ::testing::ValuesIn(all_kernels(true)), param_name);

// The generic dequantize-then-F32 kernels of every quantized format, on rows of one and three blocks.
class QuantizedKernels : public ::testing::TestWithParam<KernelParam> {};

TEST_P(QuantizedKernels, MatchExactProductOfDequantizedWeights) {
  const FormatTraits& format = formats::traits(GetParam().format);
  const MatmulKernel& kernel = kernels_for(format)[GetParam().index];
  if (!kernel.runnable()) GTEST_SKIP() << "this CPU lacks what " << kernel.name() << " needs";
  // The reference: the format's scalar kernel with f32 activations (the generic one where integer kernels exist).
  const MatmulKernel* scalar_kernel = nullptr;
  for (const MatmulKernel& k : kernels_for(format)) {
    if (scalar_kernel == nullptr && k.isa == Isa::scalar && !k.packing.quantizes) scalar_kernel = &k;
  }
  ASSERT_NE(scalar_kernel, nullptr);
  const MatmulKernel& scalar = *scalar_kernel;
  // Rows of one and three blocks; formats with row-level layouts take any length, so odd ones too.
  std::vector<std::int64_t> lengths = {format.block_elems, 3 * format.block_elems};
  if (format.row_bytes_fn != nullptr) lengths.insert(lengths.end(), {7, 33, 100, 257});
  std::uint32_t seed = 100;
  for (const std::int64_t cols : lengths) {
    ASSERT_TRUE(format.row_length_ok(cols)) << format.name << " cols " << cols;
    for (std::int64_t rows : {1, 3, 17}) {
      for (std::int64_t tokens : {1, 2, 5}) check_kernel(kernel, scalar, {rows, cols, tokens}, seed++);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllKernels, QuantizedKernels, ::testing::ValuesIn(all_kernels(false)), param_name);

TEST(KernelSelection, HonoursTheIsaCapAndPrefersFormatKernels) {
  const FormatTraits& f32 = formats::traits(FormatId::F32);
  EXPECT_EQ(select_kernel(f32, Isa::scalar).variant, "scalar");
  EXPECT_EQ(select_kernel(f32, Isa::avx512).isa, cpu_isa());
  EXPECT_LE(select_kernel(f32).isa, isa_limit());
  // F16 has no scalar kernel of its own: the generic path covers that level.
  EXPECT_EQ(select_kernel(formats::traits(FormatId::F16), Isa::scalar).variant, "dequantize+scalar");
  // A quantized format without kernels of its own gets the generic path at every level.
  const auto i4 = kernels_for(formats::traits(FormatId::I4_G32));
  ASSERT_FALSE(i4.empty());
  EXPECT_EQ(i4.back().variant, "dequantize+scalar");
  EXPECT_EQ(select_kernel(formats::traits(FormatId::I4_G32), Isa::scalar).variant, "dequantize+scalar");
}

TEST(KernelSelection, FormatsWithoutDecoderAreRefusedByName) {
  const FormatTraits& iq2 = formats::traits(FormatId::IQ2_XXS);
  EXPECT_TRUE(kernels_for(iq2).empty());
  try {
    (void)select_kernel(iq2);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("IQ2_XXS"), std::string::npos) << e.what();
  }
}

// The threaded driver gives the same bits as one serial call: each output is
// computed by one kernel call whatever the split, in the same order.
TEST(MatmulDriver, ThreadedBatchEqualsSerialBitForBit) {
  ThreadPool pool(3);
  for (const FormatId id : {FormatId::F32, FormatId::F16, FormatId::BF16, FormatId::Q4_0}) {
    const FormatTraits& format = formats::traits(id);
    const std::int64_t cols = 96;
    const Weight a = make_weight(format, 301, cols, 7);
    const Weight b = make_weight(format, 45, cols, 8);
    const Matmul op_a(a.view);
    const Matmul op_b(b.view);
    for (const std::int64_t tokens : {1, 9}) {
      SCOPED_TRACE(::testing::Message() << format.name << " tokens " << tokens);
      const std::vector<float> x = random_values(static_cast<std::size_t>(tokens * cols), 9);
      std::vector<float> ya(static_cast<std::size_t>(tokens * 301));
      std::vector<float> yb(static_cast<std::size_t>(tokens * 45));
      const MatmulJob jobs[] = {{&op_a, x, ya}, {&op_b, x, yb}};
      run_matmuls(jobs, pool);
      EXPECT_EQ(ya, run_kernel(op_a.kernel(), a, x, {301, cols, tokens}));
      EXPECT_EQ(yb, run_kernel(op_b.kernel(), b, x, {45, cols, tokens}));
    }
  }
}

// Decode (one token) and prefill (many) use different tiles but sum each
// output in the same order, so a token's result does not depend on its batch.
TEST(MatmulDriver, BatchedTokensEqualOneAtATime) {
  ThreadPool pool(2);
  for (const FormatId id : {FormatId::F32, FormatId::F16, FormatId::BF16, FormatId::Q8_0}) {
    const FormatTraits& format = formats::traits(id);
    const std::int64_t rows = 75;
    const std::int64_t cols = 160;
    const std::int64_t tokens = 11;
    const Weight w = make_weight(format, rows, cols, 11);
    const Matmul op(w.view);
    const std::vector<float> x = random_values(static_cast<std::size_t>(tokens * cols), 12);
    std::vector<float> batched(static_cast<std::size_t>(tokens * rows));
    op.run(x, batched, pool);
    for (std::int64_t t = 0; t < tokens; ++t) {
      std::vector<float> one(static_cast<std::size_t>(rows));
      op.run(std::span(x).subspan(static_cast<std::size_t>(t * cols), static_cast<std::size_t>(cols)), one, pool);
      for (std::int64_t r = 0; r < rows; ++r) {
        ASSERT_EQ(one[static_cast<std::size_t>(r)], batched[static_cast<std::size_t>(t * rows + r)])
            << format.name << " token " << t << " row " << r;
      }
    }
  }
}

// Strided weight views (the attention code reads its KV cache this way).
TEST(MatmulDriver, StridedWeightRows) {
  const std::int64_t rows = 13;
  const std::int64_t cols = 40;
  const std::int64_t stride_floats = 57;
  const std::vector<float> storage = random_values(static_cast<std::size_t>(rows * stride_floats), 21);
  TensorView view{reinterpret_cast<const std::byte*>(storage.data()), Shape{{rows, cols}, 2},
                  formats::traits(FormatId::F32).storage(), stride_floats * 4};
  const std::vector<float> x = random_values(static_cast<std::size_t>(3 * cols), 22);
  for (const MatmulKernel& k : kernels_for(formats::traits(FormatId::F32))) {
    if (!k.runnable()) continue;
    std::vector<float> y(static_cast<std::size_t>(3 * rows));
    run_serial(k, MatmulArgs{view, &formats::traits(FormatId::F32), x.data(), cols, nullptr, 0, 3, y.data(), rows});
    for (std::int64_t t = 0; t < 3; ++t) {
      for (std::int64_t r = 0; r < rows; ++r) {
        double exact = 0;
        double magnitude = 0;
        for (std::int64_t c = 0; c < cols; ++c) {
          const double p = double{x[static_cast<std::size_t>(t * cols + c)]} *
                           storage[static_cast<std::size_t>(r * stride_floats + c)];
          exact += p;
          magnitude += std::fabs(p);
        }
        EXPECT_LE(std::fabs(y[static_cast<std::size_t>(t * rows + r)] - exact), gamma(cols) * magnitude) << k.name();
      }
    }
  }
}

}  // namespace
}  // namespace quantlm::kernels
