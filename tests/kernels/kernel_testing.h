// Shared by the kernel tests: random non-zero inputs, weights built with a format's reference quantizer, test names.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/tensor_view.h"
#include "formats/format_traits.h"
#include "kernels/matmul.h"

namespace quantlm::kernels::testing {

// Random non-zero values of both signs, magnitudes in [0.1, 1], plus `shift`: no zero to hide a missed term, no
// subnormal for vdpbf16ps to flush; a shift gives the formats with a minimum one that is not zero.
inline std::vector<float> random_values(std::size_t n, std::uint32_t seed, float shift = 0.0F) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> magnitude(0.1F, 1.0F);
  std::vector<float> v(n);
  for (float& x : v) x = shift + ((rng() & 1U) != 0 ? magnitude(rng) : -magnitude(rng));
  return v;
}

// A {rows, cols} weight of `format` built from random values with the format's reference quantizer.
struct Weight {
  std::vector<std::byte> bytes;
  std::vector<double> decoded;  // what the kernels must compute with: the dequantized values
  TensorView view;
};

inline Weight make_weight(const formats::FormatTraits& format, std::int64_t rows, std::int64_t cols, std::uint32_t seed,
                          float shift = 0.0F) {
  Weight w;
  const std::vector<float> values = random_values(static_cast<std::size_t>(rows * cols), seed, shift);
  const std::int64_t row_bytes = format.row_bytes(cols);  // row-level formats add a per-row header
  w.bytes.resize(static_cast<std::size_t>(rows * row_bytes));
  std::vector<float> row(static_cast<std::size_t>(cols));
  for (std::int64_t r = 0; r < rows; ++r) {
    format.quantize_ref(values.data() + r * cols, w.bytes.data() + r * row_bytes, cols);
    format.dequantize(w.bytes.data() + r * row_bytes, row.data(), cols);
    w.decoded.insert(w.decoded.end(), row.begin(), row.end());
  }
  w.view = TensorView{w.bytes.data(), Shape{{rows, cols}, 2}, format.storage(), row_bytes};
  return w;
}

// Token t of x (tokens × cols) times row r of w (rows × cols), in double: the exact product, and the sum of the
// terms' magnitudes that bounds a float summation's error.
struct ExactProduct {
  double value = 0;
  double magnitude = 0;
};

inline ExactProduct exact_product(const std::vector<double>& x, const std::vector<double>& w, std::int64_t t,
                                  std::int64_t r, std::int64_t cols) {
  ExactProduct e;
  for (std::int64_t k = 0; k < cols; ++k) {
    const double p = x[static_cast<std::size_t>(t * cols + k)] * w[static_cast<std::size_t>(r * cols + k)];
    e.value += p;
    e.magnitude += std::fabs(p);
  }
  return e;
}

// One kernel of kernels_for(format), as a test parameter named after it ("Q4_0 avx512-vnni" -> Q4_0_avx512_vnni).
struct KernelParam {
  formats::FormatId format;
  std::size_t index;  // into kernels_for(format)
};

inline std::string param_name(const ::testing::TestParamInfo<KernelParam>& info) {
  std::string name = kernels_for(formats::traits(info.param.format))[info.param.index].name();
  for (char& ch : name) {
    if (ch == ' ' || ch == '-' || ch == '+') ch = '_';
  }
  return name;
}

}  // namespace quantlm::kernels::testing
