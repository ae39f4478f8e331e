// AdamW with decoupled weight decay (Loshchilov & Hutter), PyTorch's update order, one moment pair per parameter.
#pragma once

#include <cassert>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "train/param.h"

namespace quantlm::train {

struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;  // applied only to parameters whose ParamRef::decay is set
};

// One step t (counted from 1) of, for every element with gradient g:
//   m ← β1 m + (1 − β1) g,   v ← β2 v + (1 − β2) g²
//   w ← w (1 − lr λ) − lr · (m / (1 − β1^t)) / (sqrt(v / (1 − β2^t)) + ε)
// The decay multiplies w directly instead of entering g (decoupled), so it is
// not rescaled by the adaptive denominator; this is torch.optim.AdamW's order,
// which makes its figures comparable. Per-element arithmetic is in double
// and each element's update is independent, so the result has no ordering to
// depend on.
template <typename S>
class AdamW {
 public:
  explicit AdamW(AdamWOptions options = {}) : options_(options) {}

  [[nodiscard]] const AdamWOptions& options() const { return options_; }
  [[nodiscard]] std::int64_t steps_taken() const { return t_; }

  // params must list the same tensors, in the same order, on every call.
  void step(std::span<const ParamRef<S>> params, double lr) {
    if (m_.empty()) {
      for (const ParamRef<S>& p : params) {
        m_.emplace_back(p.size, S{0});
        v_.emplace_back(p.size, S{0});
      }
    }
    assert(m_.size() == params.size());
    ++t_;
    const double b1 = options_.beta1, b2 = options_.beta2;
    const double c1 = 1.0 - std::pow(b1, static_cast<double>(t_));
    const double c2 = 1.0 - std::pow(b2, static_cast<double>(t_));
    for (std::size_t k = 0; k < params.size(); ++k) {
      const ParamRef<S>& p = params[k];
      assert(m_[k].size() == p.size);
      const double decay = p.decay ? 1.0 - lr * options_.weight_decay : 1.0;
      for (std::size_t i = 0; i < p.size; ++i) {
        const double g = p.grad[i];
        const double m = b1 * m_[k][i] + (1.0 - b1) * g;
        const double v = b2 * v_[k][i] + (1.0 - b2) * g * g;
        m_[k][i] = m;
        v_[k][i] = v;
        p.value[i] = p.value[i] * decay - lr * (m / c1) / (std::sqrt(v / c2) + options_.eps);
      }
    }
  }

 private:
  AdamWOptions options_;
  std::int64_t t_ = 0;
  std::vector<std::vector<S>> m_, v_;  // first and second moments, one (size) vector per parameter
};

}  // namespace quantlm::train
