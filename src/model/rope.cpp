// RoPE tables and rotation.
#include "model/rope.h"

#include <cassert>
#include <cmath>

namespace quantlm::model {

Rope::Rope(const LlamaConfig& config, std::span<const float> freq_factors)
    : layout_(config.rope_layout), head_dim_(config.head_dim), n_pairs_(config.n_rot / 2) {
  assert(freq_factors.empty() || static_cast<std::int64_t>(freq_factors.size()) == n_pairs_);
  inv_freq_.resize(static_cast<std::size_t>(n_pairs_));
  for (std::int64_t i = 0; i < n_pairs_; ++i) {
    double f = std::pow(config.rope_base, -2.0 * static_cast<double>(i) / static_cast<double>(config.n_rot));
    f /= config.rope_linear_scale;
    if (!freq_factors.empty()) f /= static_cast<double>(freq_factors[static_cast<std::size_t>(i)]);
    inv_freq_[static_cast<std::size_t>(i)] = f;
  }
}

void Rope::prepare(std::int64_t first, std::int64_t n) {
  cos_.resize(static_cast<std::size_t>(n * n_pairs_));
  sin_.resize(static_cast<std::size_t>(n * n_pairs_));
  for (std::int64_t t = 0; t < n; ++t) {
    const auto pos = static_cast<double>(first + t);
    for (std::int64_t i = 0; i < n_pairs_; ++i) {
      const double theta = pos * inv_freq_[static_cast<std::size_t>(i)];
      const auto k = static_cast<std::size_t>(t * n_pairs_ + i);
      cos_[k] = static_cast<float>(std::cos(theta));
      sin_[k] = static_cast<float>(std::sin(theta));
    }
  }
}

void Rope::apply(float* x, std::int64_t n_heads, std::int64_t token) const {
  const float* c = cos_.data() + token * n_pairs_;  // (n_pairs)
  const float* s = sin_.data() + token * n_pairs_;  // (n_pairs)
  // Adjacent pairs (x[2i], x[2i+1]); NeoX pairs x[i] with x[i + n_rot/2]. Dimensions past n_rot pass through.
  const std::int64_t stride = layout_ == RopeLayout::adjacent_pairs ? 2 : 1;
  const std::int64_t partner = layout_ == RopeLayout::adjacent_pairs ? 1 : n_pairs_;
  for (std::int64_t h = 0; h < n_heads; ++h) {
    float* head = x + h * head_dim_;  // (head_dim)
    for (std::int64_t i = 0; i < n_pairs_; ++i) {
      float* a = head + i * stride;
      float* b = a + partner;
      const float x0 = *a;
      const float x1 = *b;
      *a = x0 * c[i] - x1 * s[i];
      *b = x0 * s[i] + x1 * c[i];
    }
  }
}

}  // namespace quantlm::model
