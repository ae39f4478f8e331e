// GPTQ: Hessian-guided rounding of one weight matrix into a block format's own scales and levels (Frantar et al. 2022).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/thread_pool.h"
#include "formats/format_traits.h"
#include "formats/scale_search.h"

namespace quantlm::quant {

struct GptqOptions {
  double damp = 0.01;        // λ = damp · mean(diag H) added to the diagonal
  std::int64_t block = 128;  // columns per lazy update (rounded up to a multiple of the format's group)
  // Columns in decreasing diag(H) order. Groups stay the stored groups (a
  // scale belongs to consecutive columns): every group's scale is then chosen
  // up front from the unmodified weights ("static groups"), since a group's
  // columns no longer come one after another.
  bool act_order = false;
  // How a group's scale is chosen (when GPTQ reaches its first column, from the
  // error-updated weights). format_default means mse weighted by diag(H): the
  // group's share of the layer's output error, as an imatrix weights RTN.
  formats::ScaleSearch search = formats::ScaleSearch::format_default;
  float percentile = 99.9F;
};

// Whether GPTQ can write `format`: it needs the format's level grid and a
// quantizer that takes a fixed scale (ggml's Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
// IQ4_NL and quantlm's integer/codebook formats; not the K-quants yet).
[[nodiscard]] bool gptq_supports(const formats::FormatTraits& format);

// Quantizes w (rows × cols, row-major: rows = outputs, cols = inputs, GGUF's
// layout) into `dst` (rows · format.row_bytes(cols) bytes) so as to keep
// X·Wᵀ close for inputs X whose Gram matrix is h (cols × cols, row-major,
// symmetric: Σ over tokens of x xᵀ; any positive multiple gives the same
// result). Columns are processed left to right: each is rounded to its
// group's grid, and its rounding error, weighted through the upper Cholesky
// factor of H⁻¹, is pushed onto the columns not yet rounded. A group's scale
// is chosen when its first column is reached. Every block is finally written
// by the format's own quantizer with that fixed scale, so the bytes are a
// standard block. Rows are independent: the result does not depend on the
// pool's size. Throws quantlm::Error for an unsupported format, a row length
// the format cannot store, or non-finite values.
void gptq_quantize(const formats::FormatTraits& format, std::span<const float> w, std::int64_t rows, std::int64_t cols,
                   std::span<const double> h, std::byte* dst, const GptqOptions& options, ThreadPool& pool);

// In place, the lower Cholesky factor L of the symmetric positive definite
// n × n matrix a (row-major; only its lower triangle is read), a = L·Lᵀ, with
// the upper triangle zeroed. False when a is not positive definite.
[[nodiscard]] bool cholesky_lower(std::vector<double>& a, std::int64_t n);

// The upper triangular U with Uᵀ·U = (h + λI)⁻¹, λ = damp · mean(diag h),
// after replacing zero diagonal entries (inputs never seen) by 1. When h + λI
// is not positive definite, λ grows tenfold until it is (at most 6 times).
// Returns U row-major (n × n) and sets `lambda` to the λ used.
[[nodiscard]] std::vector<double> inverse_cholesky_upper(std::span<const double> h, std::int64_t n, double damp,
                                                         double* lambda = nullptr);

}  // namespace quantlm::quant
