// Helpers for format tests: whole-tensor quantize/dequantize through the traits table, error metrics, seeded data.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <numbers>
#include <random>
#include <span>
#include <vector>

#include "formats/format_traits.h"

namespace quantlm::formats::testing {

// A rows x cols matrix of floats, row-major.
struct Matrix {
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  std::vector<float> values;
};

inline std::int64_t row_bytes(const FormatTraits& format, std::int64_t cols) {
  return cols / format.block_elems * format.block_bytes;
}

// Every row through format.quantize_ref, rows packed back to back.
inline std::vector<std::byte> quantize(const FormatTraits& format, const Matrix& m) {
  const std::int64_t stride = row_bytes(format, m.cols);
  std::vector<std::byte> out(static_cast<std::size_t>(stride * m.rows));
  for (std::int64_t r = 0; r < m.rows; ++r) {
    format.quantize_ref(m.values.data() + r * m.cols, out.data() + r * stride, m.cols);
  }
  return out;
}

// Every row through format.dequantize.
inline Matrix dequantize(const FormatTraits& format, std::span<const std::byte> bytes, std::int64_t rows,
                         std::int64_t cols) {
  const std::int64_t stride = row_bytes(format, cols);
  Matrix m{rows, cols, std::vector<float>(static_cast<std::size_t>(rows * cols))};
  for (std::int64_t r = 0; r < rows; ++r)
    format.dequantize(bytes.data() + r * stride, m.values.data() + r * cols, cols);
  return m;
}

// Sums for a relative RMS error ||a - ref|| / ||ref||, accumulated in double
// so that several tensors can be pooled before taking the ratio.
struct ErrorSums {
  double err2 = 0.0;
  double ref2 = 0.0;
  void add(std::span<const float> a, std::span<const float> ref) {
    for (std::size_t i = 0; i < ref.size(); ++i) {
      const double e = static_cast<double>(a[i]) - static_cast<double>(ref[i]);
      err2 += e * e;
      ref2 += static_cast<double>(ref[i]) * static_cast<double>(ref[i]);
    }
  }
  [[nodiscard]] double relative_rms() const { return ref2 > 0.0 ? std::sqrt(err2 / ref2) : 0.0; }
};

inline double relative_rms(std::span<const float> a, std::span<const float> ref) {
  ErrorSums s;
  s.add(a, ref);
  return s.relative_rms();
}

// Standard normal values from a seeded mt19937 via Box-Muller, written out
// rather than std::normal_distribution, whose algorithm the standard leaves
// to the library: these values are the same with every toolchain.
inline std::vector<float> gaussian(std::size_t count, std::uint32_t seed) {
  std::mt19937 gen(seed);
  const auto uniform = [&gen] { return (static_cast<double>(gen() >> 8) + 0.5) / 16777216.0; };  // (0, 1)
  std::vector<float> out(count);
  for (std::size_t i = 0; i < count; i += 2) {
    const double radius = std::sqrt(-2.0 * std::log(uniform()));
    const double angle = 2.0 * std::numbers::pi * uniform();
    out[i] = static_cast<float>(radius * std::cos(angle));
    if (i + 1 < count) out[i + 1] = static_cast<float>(radius * std::sin(angle));
  }
  return out;
}

}  // namespace quantlm::formats::testing
