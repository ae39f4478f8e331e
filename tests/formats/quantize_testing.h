// Helpers for tests of quantize_rows and quantlm's row-level formats: matrices through any row layout, error sums.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "formats/format_traits.h"
#include "formats/quantize.h"
#include "formats/row_codec_testing.h"

namespace quantlm::formats::testing {

// The bytes of m through quantize_rows (rows of format.row_bytes(cols), back to back).
inline std::vector<std::byte> quantize_with(const FormatTraits& format, const Matrix& m,
                                            const QuantizeParams& params = {}) {
  std::vector<std::byte> out(static_cast<std::size_t>(format.row_bytes(m.cols) * m.rows));
  quantize_rows(format, m.values.data(), out.data(), m.rows, m.cols, params);
  return out;
}

// Rows decoded with format.dequantize, for any row layout.
inline Matrix decode(const FormatTraits& format, std::span<const std::byte> bytes, std::int64_t rows,
                     std::int64_t cols) {
  const std::int64_t stride = format.row_bytes(cols);
  Matrix m{rows, cols, std::vector<float>(static_cast<std::size_t>(rows * cols))};
  for (std::int64_t r = 0; r < rows; ++r)
    format.dequantize(bytes.data() + r * stride, m.values.data() + r * cols, cols);
  return m;
}

inline Matrix round_trip(const FormatTraits& format, const Matrix& m, const QuantizeParams& params = {}) {
  return decode(format, quantize_with(format, m, params), m.rows, m.cols);
}

// sum_c w[c] (a - b)^2 over a matrix whose rows have w.size() columns (w empty: uniform).
inline double weighted_sq_error(const Matrix& a, const Matrix& b, std::span<const float> w = {}) {
  double sum = 0.0;
  for (std::size_t i = 0; i < a.values.size(); ++i) {
    const double e = static_cast<double>(a.values[i]) - static_cast<double>(b.values[i]);
    const double wi = w.empty() ? 1.0 : static_cast<double>(w[i % w.size()]);
    sum += wi * e * e;
  }
  return sum;
}

// Per-row sum of squared errors.
inline std::vector<double> row_sq_errors(const Matrix& a, const Matrix& b) {
  std::vector<double> out(static_cast<std::size_t>(a.rows));
  for (std::int64_t r = 0; r < a.rows; ++r) {
    for (std::int64_t c = 0; c < a.cols; ++c) {
      const auto i = static_cast<std::size_t>(r * a.cols + c);
      const double e = static_cast<double>(a.values[i]) - static_cast<double>(b.values[i]);
      out[static_cast<std::size_t>(r)] += e * e;
    }
  }
  return out;
}

inline Matrix gaussian_matrix(std::int64_t rows, std::int64_t cols, std::uint32_t seed) {
  return Matrix{rows, cols, gaussian(static_cast<std::size_t>(rows * cols), seed)};
}

// Positive per-column importance spanning two orders of magnitude (log-uniform),
// like an imatrix's mean squared activations.
inline std::vector<float> log_uniform_importance(std::int64_t cols, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::vector<float> w(static_cast<std::size_t>(cols));
  for (float& v : w) v = std::pow(10.0F, 2.0F * static_cast<float>(gen() >> 8) / 16777216.0F - 1.0F);
  return w;
}

}  // namespace quantlm::formats::testing
