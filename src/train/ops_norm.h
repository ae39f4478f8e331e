// RMSNorm with a learned weight, y = x / rms(x) ⊙ w, and its backward pass.
#pragma once

#include <cmath>
#include <cstddef>

#include "train/parallel.h"

namespace quantlm::train {

// Per row of x (n, dim): r = 1 / sqrt(mean(x²) + eps), y = x · r ⊙ w.
// inv_rms (n) keeps r for the backward pass.
template <typename S>
void rmsnorm_forward(const S* x, const S* w, S* y, S* inv_rms, std::size_t n, std::size_t dim, S eps,
                     ThreadPool* pool = nullptr) {
  for_each_task(pool, n, [&](std::size_t t) {
    const S* xr = x + t * dim;
    S* yr = y + t * dim;
    S sum_sq{0};
    for (std::size_t j = 0; j < dim; ++j) sum_sq += xr[j] * xr[j];
    const S r = S{1} / std::sqrt(sum_sq / static_cast<S>(dim) + eps);
    inv_rms[t] = r;
    for (std::size_t j = 0; j < dim; ++j) yr[j] = xr[j] * r * w[j];
  });
}

// With g = dy ⊙ w and r as above, y_j = x_j r w_j and ∂r/∂x_i = -r³ x_i / dim, so
//   dx_i += r g_i - x_i r³ (Σ_j g_j x_j) / dim
//   dw_j += Σ_t dy_tj x_tj r_t
// dx is one task per row; dw sums over rows, serially in row order (n · dim
// multiply-adds, cheap next to the linears around it).
template <typename S>
void rmsnorm_backward(const S* dy, const S* x, const S* w, const S* inv_rms, S* dx, S* dw, std::size_t n,
                      std::size_t dim, ThreadPool* pool = nullptr) {
  for_each_task(pool, n, [&](std::size_t t) {
    const S* dyr = dy + t * dim;
    const S* xr = x + t * dim;
    S* dxr = dx + t * dim;
    const S r = inv_rms[t];
    S dot{0};
    for (std::size_t j = 0; j < dim; ++j) dot += dyr[j] * w[j] * xr[j];
    const S c = r * r * r * dot / static_cast<S>(dim);
    for (std::size_t j = 0; j < dim; ++j) dxr[j] += r * dyr[j] * w[j] - xr[j] * c;
  });
  for (std::size_t t = 0; t < n; ++t) {
    const S r = inv_rms[t];
    for (std::size_t j = 0; j < dim; ++j) dw[j] += dy[t * dim + j] * x[t * dim + j] * r;
  }
}

}  // namespace quantlm::train
