// Rotary position embedding over adjacent pairs (GGUF's llama layout); its backward pass is the inverse rotation.
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

#include "train/parallel.h"

namespace quantlm::train {

// cos and sin of θ(t, i) = t · base^(-2i / head_dim) for positions t in
// [0, n_pos) and pairs i in [0, head_dim / 2); angles are computed in double
// and rounded once, as model/rope.cpp does, so float training and the float
// engine rotate by the same amounts.
template <typename S>
struct RopeTable {
  std::size_t head_dim = 0;
  std::size_t n_pairs = 0;
  std::vector<S> cos, sin;  // (n_pos, n_pairs)

  RopeTable() = default;
  RopeTable(std::size_t n_pos, std::size_t head_dim_, double base)
      : head_dim(head_dim_), n_pairs(head_dim_ / 2), cos(n_pos * n_pairs), sin(n_pos * n_pairs) {
    for (std::size_t t = 0; t < n_pos; ++t) {
      for (std::size_t i = 0; i < n_pairs; ++i) {
        const double inv_freq = std::pow(base, -2.0 * static_cast<double>(i) / static_cast<double>(head_dim));
        const double theta = static_cast<double>(t) * inv_freq;
        cos[t * n_pairs + i] = std::cos(theta);
        sin[t * n_pairs + i] = std::sin(theta);
      }
    }
  }
};

// Rotates, in place, every pair (x[2i], x[2i+1]) of every head of x (n, n_heads, head_dim),
// position t = row index, by +θ (forward) or −θ (inverse):
//   forward:  (a, b) → (a c − b s, a s + b c)
// The rotation is orthogonal, so its Jacobian's transpose is the inverse
// rotation: the backward pass rotates the gradient back by −θ.
template <typename S>
void rope_rotate(S* x, std::size_t n, std::size_t n_heads, const RopeTable<S>& table, bool inverse,
                 ThreadPool* pool = nullptr) {
  const std::size_t hd = table.head_dim;
  for_each_task(pool, n, [&](std::size_t t) {
    const S* c = table.cos.data() + t * table.n_pairs;
    const S* s = table.sin.data() + t * table.n_pairs;
    for (std::size_t h = 0; h < n_heads; ++h) {
      S* head = x + (t * n_heads + h) * hd;
      for (std::size_t i = 0; i < table.n_pairs; ++i) {
        const S a = head[2 * i];
        const S b = head[2 * i + 1];
        const S si = inverse ? -s[i] : s[i];
        head[2 * i] = a * c[i] - b * si;
        head[2 * i + 1] = a * si + b * c[i];
      }
    }
  });
}

// x (n, n_heads, head_dim) rotated in place.
template <typename S>
void rope_forward(S* x, std::size_t n, std::size_t n_heads, const RopeTable<S>& table, ThreadPool* pool = nullptr) {
  rope_rotate(x, n, n_heads, table, /*inverse=*/false, pool);
}

// dx = Rᵀ dy, in place: the buffer holding ∂L/∂(rotated x) comes back holding ∂L/∂x.
template <typename S>
void rope_backward(S* d, std::size_t n, std::size_t n_heads, const RopeTable<S>& table, ThreadPool* pool = nullptr) {
  rope_rotate(d, n, n_heads, table, /*inverse=*/true, pool);
}

}  // namespace quantlm::train
