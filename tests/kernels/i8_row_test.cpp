// Dynamic W8A8 for I8_ROW: every path against the scalar kernel (bit for bit) and the exact product of dequantized
// weights and per-token quantized activations, on odd shapes.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/aligned_buffer.h"
#include "kernels/i8_row_impl.h"
#include "kernels/kernel_testing.h"
#include "kernels/matmul.h"

namespace quantlm::kernels {
namespace {

using formats::FormatId;
using formats::FormatTraits;
using testing::random_values;

struct Case {
  std::int64_t rows, cols, tokens;
};

std::vector<float> run_kernel(const MatmulKernel& kernel, const TensorView& w, const std::vector<float>& x, Case c) {
  std::vector<float> y(static_cast<std::size_t>(c.tokens * c.rows), std::nanf(""));
  const FormatTraits& format = formats::traits(FormatId::I8_ROW);
  run_serial(kernel, MatmulArgs{w, &format, x.data(), c.cols, nullptr, 0, c.tokens, y.data(), c.rows});
  return y;
}

class I8RowKernels : public ::testing::TestWithParam<std::size_t> {};

// Integer sums are exact and every path then computes float(isum) · (d_w · d_a): equal bits, and within 3 roundings
// (the conversion and two products) of the exact value, plus the decoded weights' own rounding.
TEST_P(I8RowKernels, MatchScalarBitForBitAndExactProduct) {
  const FormatTraits& format = formats::traits(FormatId::I8_ROW);
  const MatmulKernel& kernel = kernels_for(format)[GetParam()];
  if (!kernel.runnable()) GTEST_SKIP() << "this CPU lacks what " << kernel.name() << " needs";
  const MatmulKernel* scalar = nullptr;
  for (const MatmulKernel& k : kernels_for(format)) {
    if (k.isa == Isa::scalar && k.packing.quantizes) scalar = &k;
  }
  ASSERT_NE(scalar, nullptr);
  std::uint32_t seed = 1;
  for (std::int64_t cols : {1, 7, 33, 64, 100, 257, 4160}) {
    for (std::int64_t rows : {1, 3, 37}) {
      for (std::int64_t tokens : {1, 2, 5, 17}) {
        const Case c{rows, cols, tokens};
        SCOPED_TRACE(::testing::Message()
                     << kernel.name() << " rows " << rows << " cols " << cols << " tokens " << tokens);
        const std::int64_t row_bytes = format.row_bytes(cols);
        std::vector<std::byte> bytes(static_cast<std::size_t>(rows * row_bytes));
        std::vector<float> decoded(static_cast<std::size_t>(rows * cols));
        const std::vector<float> values = random_values(decoded.size(), seed++);
        for (std::int64_t r = 0; r < rows; ++r) {
          format.quantize_ref(values.data() + r * cols, bytes.data() + r * row_bytes, cols);
          format.dequantize(bytes.data() + r * row_bytes, decoded.data() + r * cols, cols);
        }
        const TensorView w{bytes.data(), Shape{{rows, cols}, 2}, format.storage(), row_bytes};
        const std::vector<float> x = random_values(static_cast<std::size_t>(tokens * cols), seed++);
        const std::vector<float> y = run_kernel(kernel, w, x, c);
        const std::vector<float> y_ref = run_kernel(*scalar, w, x, c);
        AlignedBuffer<std::byte> packed(static_cast<std::size_t>(detail::i8_token_bytes(cols)));
        for (std::int64_t t = 0; t < tokens; ++t) {
          detail::pack_i8_token(x.data() + t * cols, cols, packed.data());
          const detail::I8Token a = detail::i8_token(packed.data(), cols);
          for (std::int64_t r = 0; r < rows; ++r) {
            double exact = 0;
            double magnitude = 0;  // Σ|w·x|: the decoded weights are d · level rounded to f32 once each
            for (std::int64_t k = 0; k < cols; ++k) {
              const double p = double{decoded[static_cast<std::size_t>(r * cols + k)]} * (double{a.d} * a.qs[k]);
              exact += p;
              magnitude += std::fabs(p);
            }
            const auto i = static_cast<std::size_t>(t * rows + r);
            ASSERT_EQ(y[i], y_ref[i]) << "token " << t << " row " << r;
            const double u = std::ldexp(1.0, -24);
            ASSERT_LE(std::fabs(y[i] - exact), 3.01 * u * std::fabs(exact) + 1.01 * u * magnitude + 1e-30)
                << "token " << t << " row " << r << ": " << y[i] << " vs " << exact;
          }
        }
      }
    }
  }
}

std::string param_name(const ::testing::TestParamInfo<std::size_t>& info) {
  std::string name = kernels_for(formats::traits(FormatId::I8_ROW))[info.param].name();
  for (char& ch : name) {
    if (ch == ' ' || ch == '-' || ch == '+') ch = '_';
  }
  return name;
}

std::vector<std::size_t> integer_kernels() {
  std::vector<std::size_t> out;
  const auto kernels = kernels_for(formats::traits(FormatId::I8_ROW));
  for (std::size_t i = 0; i < kernels.size(); ++i) {
    if (kernels[i].packing.quantizes) out.push_back(i);
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(All, I8RowKernels, ::testing::ValuesIn(integer_kernels()), param_name);

TEST(I8RowSelection, PicksTheIntegerKernelUnlessActivationsMustStayF32) {
  const FormatTraits& f = formats::traits(FormatId::I8_ROW);
  EXPECT_EQ(select_kernel(f, Isa::scalar).variant, "scalar");
  EXPECT_TRUE(select_kernel(f).packing.quantizes);
  set_quantized_activations(false);
  EXPECT_EQ(select_kernel(f, Isa::scalar).variant, "dequantize+scalar");
  set_quantized_activations(true);
}

}  // namespace
}  // namespace quantlm::kernels
