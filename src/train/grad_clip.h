// Gradient clipping by global norm: one L2 norm over every parameter's gradient, all scaled by the same factor.
#pragma once

#include <cmath>
#include <cstddef>
#include <span>

#include "train/param.h"

namespace quantlm::train {

// sqrt(Σ over every gradient element of g²), summed in double in parameter order.
template <typename S>
double global_grad_norm(std::span<const ParamRef<S>> params) {
  double sum_sq = 0.0;
  for (const ParamRef<S>& p : params) {
    for (std::size_t i = 0; i < p.size; ++i) sum_sq += static_cast<double>(p.grad[i]) * p.grad[i];
  }
  return std::sqrt(sum_sq);
}

// When the global norm exceeds max_norm, scales every gradient by
// max_norm / norm, so the update keeps its direction but not a spike's size.
// Returns the norm before clipping (worth logging: a rising norm warns early).
template <typename S>
double clip_grad_norm(std::span<const ParamRef<S>> params, double max_norm) {
  const double norm = global_grad_norm(params);
  if (norm > max_norm && norm > 0.0) {
    const double factor = max_norm / norm;
    for (const ParamRef<S>& p : params) {
      for (std::size_t i = 0; i < p.size; ++i) p.grad[i] = p.grad[i] * factor;
    }
  }
  return norm;
}

}  // namespace quantlm::train
