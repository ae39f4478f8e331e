// The key/value cache of a Llama-family model: per layer and KV head, keys by position and values transposed.
#pragma once

#include <cstdint>

#include "core/aligned_buffer.h"
#include "core/tensor_view.h"

namespace quantlm::model {

// Keys are stored (n_kv_heads, capacity, head_dim) per layer, so a head's keys
// are the rows of a {positions, head_dim} matrix; values are stored transposed,
// (n_kv_heads, head_dim, capacity), so a head's values are the rows of a
// {head_dim, positions} matrix. Both products of attention, scores = q·Kᵀ and
// out = p·V = p·(Vᵀ)ᵀ, are then ordinary Y = X·Wᵀ products for the kernels.
// Memory is reserved for `capacity` positions but only touched as positions
// are written.
class KvCache {
 public:
  KvCache() = default;
  KvCache(std::int64_t n_layers, std::int64_t n_kv_heads, std::int64_t head_dim, std::int64_t capacity);

  [[nodiscard]] std::int64_t capacity() const { return capacity_; }

  // Stores the keys and values of n tokens at positions [first, first + n) of
  // `layer`; k and v are (n, n_kv_heads, head_dim). first + n <= capacity().
  void store(std::int64_t layer, std::int64_t first, std::int64_t n, const float* k, const float* v);

  // {n_positions, head_dim} F32 view of one head's keys.
  [[nodiscard]] TensorView keys(std::int64_t layer, std::int64_t kv_head, std::int64_t n_positions) const;
  // {head_dim, n_positions} F32 view of one head's values, transposed (row stride: capacity floats).
  [[nodiscard]] TensorView values_transposed(std::int64_t layer, std::int64_t kv_head, std::int64_t n_positions) const;

 private:
  [[nodiscard]] std::int64_t head_offset(std::int64_t layer, std::int64_t kv_head) const {
    return (layer * n_kv_heads_ + kv_head) * capacity_ * head_dim_;
  }

  std::int64_t n_kv_heads_ = 0;
  std::int64_t head_dim_ = 0;
  std::int64_t capacity_ = 0;
  AlignedBuffer<float> k_;   // (n_layers, n_kv_heads, capacity, head_dim)
  AlignedBuffer<float> vt_;  // (n_layers, n_kv_heads, head_dim, capacity)
};

}  // namespace quantlm::model
