// The legacy integer kernels (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL): every path against the scalar kernel (bit for
// bit) and an exact double product of dequantized weights and quantized activations; Q8 packing; selection.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/aligned_buffer.h"
#include "core/cpu_features.h"
#include "kernels/kernel_testing.h"
#include "kernels/matmul.h"
#include "kernels/q8_activations.h"
#include "kernels/quant_legacy_impl.h"

namespace quantlm::kernels {
namespace {

using formats::FormatId;
using formats::FormatTraits;
using testing::KernelParam;
using testing::make_weight;
using testing::param_name;
using testing::random_values;
using testing::Weight;

constexpr FormatId kFormats[] = {FormatId::Q8_0, FormatId::Q4_0, FormatId::IQ4_NL,
                                 FormatId::Q4_1, FormatId::Q5_0, FormatId::Q5_1};

struct Case {
  std::int64_t rows, cols, tokens;
};

std::vector<float> run_kernel(const MatmulKernel& kernel, const Weight& w, const std::vector<float>& x, Case c) {
  std::vector<float> y(static_cast<std::size_t>(c.tokens * c.rows), std::nanf(""));
  const FormatTraits& format = *formats::find_format(w.view.storage.format_id);
  run_serial(kernel, MatmulArgs{w.view, &format, x.data(), c.cols, nullptr, 0, c.tokens, y.data(), c.rows});
  return y;
}

// The activations as the kernels see them: d · q per value, from pack_q8.
std::vector<double> quantized_activations(const std::vector<float>& x, Case c) {
  std::vector<double> out(x.size());
  AlignedBuffer<std::byte> buffer(static_cast<std::size_t>(q8_token_bytes(c.cols)));
  for (std::int64_t t = 0; t < c.tokens; ++t) {
    pack_q8(x.data() + t * c.cols, c.cols, buffer.data());
    const Q8Token a = q8_token(buffer.data(), c.cols);
    for (std::int64_t i = 0; i < c.cols; ++i) {
      out[static_cast<std::size_t>(t * c.cols + i)] = double{a.d[i / kQ8Block]} * a.qs[i];
    }
  }
  return out;
}

std::vector<Case> cases() {
  std::vector<Case> out;
  for (std::int64_t cols : {32, 96, 4160}) {
    for (std::int64_t rows : {1, 3, 37}) {
      for (std::int64_t tokens : {1, 2, 5, 17}) out.push_back({rows, cols, tokens});
    }
  }
  return out;
}

std::vector<KernelParam> integer_kernels() {
  std::vector<KernelParam> params;
  for (const FormatId id : kFormats) {
    const auto kernels = kernels_for(formats::traits(id));
    for (std::size_t i = 0; i < kernels.size(); ++i) {
      if (kernels[i].packing.quantizes) params.push_back({id, i});
    }
  }
  return params;
}

class LegacyKernels : public ::testing::TestWithParam<KernelParam> {};

// Every path sums exactly the same integers and then runs the scalar kernel's fused multiply-adds in the same
// order, so results are equal bit for bit (stronger than the ≤1e-5 relative that reordering would allow).
// Against the exact product of the dequantized weights with the quantized activations, the f32 error is bounded
// by γ_{2·blocks+2} Σ|terms| (each block adds a product d_w·d_a and one or two fused multiply-adds).
TEST_P(LegacyKernels, MatchScalarBitForBitAndExactProduct) {
  const FormatTraits& format = formats::traits(GetParam().format);
  const MatmulKernel& kernel = kernels_for(format)[GetParam().index];
  if (!kernel.runnable()) GTEST_SKIP() << "this CPU lacks what " << kernel.name() << " needs";
  const auto scalar_list = kernels_for(format);
  const MatmulKernel* scalar = nullptr;
  for (const MatmulKernel& k : scalar_list) {
    if (k.isa == Isa::scalar && k.packing.quantizes) scalar = &k;
  }
  ASSERT_NE(scalar, nullptr);
  std::uint32_t seed = 1;
  for (const Case& c : cases()) {
    SCOPED_TRACE(::testing::Message() << kernel.name() << " rows " << c.rows << " cols " << c.cols << " tokens "
                                      << c.tokens);
    const Weight w = make_weight(format, c.rows, c.cols, seed++, 0.3F);
    const std::vector<float> x = random_values(static_cast<std::size_t>(c.tokens * c.cols), seed++);
    const std::vector<double> xq = quantized_activations(x, c);
    const std::vector<float> y = run_kernel(kernel, w, x, c);
    const std::vector<float> y_ref = run_kernel(*scalar, w, x, c);
    const double u = std::ldexp(1.0, -24);
    const double n = 2.0 * static_cast<double>(c.cols / kQ8Block) + 2.0;
    const double gamma = n * u / (1.0 - n * u);
    for (std::int64_t t = 0; t < c.tokens; ++t) {
      for (std::int64_t r = 0; r < c.rows; ++r) {
        const auto [exact, magnitude] = testing::exact_product(xq, w.decoded, t, r, c.cols);
        const auto i = static_cast<std::size_t>(t * c.rows + r);
        ASSERT_EQ(y[i], y_ref[i]) << "token " << t << " row " << r << " vs the scalar kernel";
        // Formats with a minimum compute d·Σ and m·s apart: their sizes, not |x·w|, bound the error.
        const double slack = format.id == FormatId::Q4_1 || format.id == FormatId::Q5_1 ? 4.0 : 1.0;
        ASSERT_LE(std::fabs(y[i] - exact), slack * gamma * magnitude + 1e-30)
            << "token " << t << " row " << r << ": " << y[i] << " vs " << exact;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, LegacyKernels, ::testing::ValuesIn(integer_kernels()), param_name);

TEST(LegacyKernels, EveryFormatHasAllThreePaths) {
  for (const FormatId id : kFormats) {
    std::vector<std::string> variants;
    for (const MatmulKernel& k : kernels_for(formats::traits(id))) {
      if (k.packing.quantizes) variants.emplace_back(k.variant);
    }
#if defined(__x86_64__)
    EXPECT_EQ(variants, (std::vector<std::string>{"avx512-vnni", "avx2", "scalar"})) << formats::traits(id).name;
#else
    EXPECT_EQ(variants, (std::vector<std::string>{"scalar"})) << formats::traits(id).name;
#endif
  }
}

TEST(Q8Packing, ScalesRoundsAndSums) {
  std::vector<float> x(64);
  for (std::size_t i = 0; i < 32; ++i) x[i] = static_cast<float>(i) - 15.5F;  // -15.5 … 15.5
  // Block 1 stays zero: scale 0, all q 0.
  AlignedBuffer<std::byte> buffer(static_cast<std::size_t>(q8_token_bytes(64)));
  pack_q8(x.data(), 64, buffer.data());
  const Q8Token a = q8_token(buffer.data(), 64);
  EXPECT_FLOAT_EQ(a.d[0], 15.5F / 127.0F);
  EXPECT_EQ(a.qs[0], -127);
  EXPECT_EQ(a.qs[31], 127);
  std::int32_t sum = 0;
  for (int i = 0; i < 32; ++i) {
    EXPECT_NEAR(a.qs[i] * a.d[0], x[static_cast<std::size_t>(i)], a.d[0] / 2 * 1.0001) << i;
    sum += a.qs[i];
  }
  EXPECT_EQ(a.sum[0], sum);
  EXPECT_EQ(a.s[0], a.d[0] * static_cast<float>(sum));
  EXPECT_EQ(a.d[1], 0.0F);
  EXPECT_EQ(a.sum[1], 0);
  for (int i = 32; i < 64; ++i) EXPECT_EQ(a.qs[i], 0);
}

#if defined(__x86_64__)
// The SIMD packers write pack_q8's bytes: random blocks, a zero block, ties at .5 steps, values that hit ±127.
TEST(Q8Packing, SimdPackersMatchScalarByteForByte) {
  const std::int64_t cols = 4160;
  std::vector<float> x = random_values(static_cast<std::size_t>(cols), 31);
  for (std::size_t i = 64; i < 96; ++i) x[i] = 0.0F;
  for (std::size_t i = 96; i < 128; ++i) x[i] = static_cast<float>(i - 112) * 0.5F;  // halves: ties when scaled
  x[200] = -1e-30F;  // tiny values and a block scale far from 1
  const auto bytes = static_cast<std::size_t>(q8_token_bytes(cols));
  AlignedBuffer<std::byte> expected(bytes);
  pack_q8(x.data(), cols, expected.data());
  struct Packer {
    const char* name;
    bool runnable;
    void (*pack)(const float*, std::int64_t, std::byte*);
  };
  for (const Packer& p : {Packer{"avx2", isa_supported(Isa::avx2), &pack_q8_avx2},
                          Packer{"avx512", isa_supported(Isa::avx512), &pack_q8_avx512}}) {
    if (!p.runnable) {
      std::printf("skipped: this CPU lacks %s\n", p.name);
      continue;
    }
    AlignedBuffer<std::byte> got(bytes);  // zeroed, like `expected`: padding compares equal
    p.pack(x.data(), cols, got.data());
    EXPECT_EQ(std::memcmp(got.data(), expected.data(), bytes), 0) << p.name;
  }
}
#endif

TEST(LegacySelection, PicksTheBestLevelAndHonoursTheCap) {
  for (const FormatId id : kFormats) {
    const FormatTraits& f = formats::traits(id);
    SCOPED_TRACE(f.name);
    EXPECT_EQ(select_kernel(f, Isa::scalar).variant, "scalar");
    if (isa_supported(Isa::avx2)) {
      EXPECT_EQ(select_kernel(f, Isa::avx2).variant, "avx2");
    }
    if (isa_supported(Isa::avx512) && cpu_features().avx512vnni) {
      EXPECT_EQ(select_kernel(f, Isa::avx512).variant, "avx512-vnni");
    }
    // The process-wide cap ($QUANTLM_ISA) lowers the default choice.
    const Isa before = isa_limit();
    set_isa_limit(Isa::scalar);
    EXPECT_EQ(select_kernel(f).variant, "scalar");
    set_isa_limit(before);
    // Without activation quantization the generic dequantize path of the same level is chosen.
    set_quantized_activations(false);
    EXPECT_EQ(select_kernel(f, Isa::scalar).variant, "dequantize+scalar");
    EXPECT_FALSE(select_kernel(f).packing.quantizes);
    set_quantized_activations(true);
    EXPECT_TRUE(select_kernel(f).packing.quantizes);
  }
}

// The threaded driver (rows split across tasks, packing on the pool) gives the serial bits, and a token's
// outputs do not depend on its batch (decode tiles and prefill panels sum in the same order).
TEST(LegacyDriver, ThreadedAndBatchedEqualSerialAndOneAtATime) {
  ThreadPool pool(3);
  for (const FormatId id : kFormats) {
    const FormatTraits& format = formats::traits(id);
    const Case c{301, 4160, 13};
    const Weight w = make_weight(format, c.rows, c.cols, 5, 0.3F);
    const Matmul op(w.view);
    const std::vector<float> x = random_values(static_cast<std::size_t>(c.tokens * c.cols), 6);
    std::vector<float> batched(static_cast<std::size_t>(c.tokens * c.rows));
    op.run(x, batched, pool);
    EXPECT_EQ(batched, run_kernel(op.kernel(), w, x, c)) << format.name;
    for (std::int64_t t = 0; t < c.tokens; t += 6) {
      std::vector<float> one(static_cast<std::size_t>(c.rows));
      op.run(std::span(x).subspan(static_cast<std::size_t>(t * c.cols), static_cast<std::size_t>(c.cols)), one, pool);
      for (std::int64_t r = 0; r < c.rows; ++r) {
        ASSERT_EQ(one[static_cast<std::size_t>(r)], batched[static_cast<std::size_t>(t * c.rows + r)])
            << format.name << " token " << t << " row " << r;
      }
    }
  }
}

}  // namespace
}  // namespace quantlm::kernels
