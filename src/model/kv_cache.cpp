// KV cache storage and the views attention reads it through.
#include "model/kv_cache.h"

#include <cassert>
#include <cstring>

#include "formats/format_traits.h"

namespace quantlm::model {

KvCache::KvCache(std::int64_t n_layers, std::int64_t n_kv_heads, std::int64_t head_dim, std::int64_t capacity)
    : n_kv_heads_(n_kv_heads),
      head_dim_(head_dim),
      capacity_(capacity),
      // Uninitialized: a long context reserves address space, and pages are touched only when positions are written.
      k_(static_cast<std::size_t>(n_layers * n_kv_heads * capacity * head_dim), BufferInit::uninitialized),
      vt_(static_cast<std::size_t>(n_layers * n_kv_heads * capacity * head_dim), BufferInit::uninitialized) {}

void KvCache::store(std::int64_t layer, std::int64_t first, std::int64_t n, const float* k, const float* v) {
  assert(first >= 0 && first + n <= capacity_);
  const std::int64_t kv_dim = n_kv_heads_ * head_dim_;
  for (std::int64_t g = 0; g < n_kv_heads_; ++g) {
    float* keys = k_.data() + head_offset(layer, g);
    float* values_t = vt_.data() + head_offset(layer, g);
    for (std::int64_t i = 0; i < n; ++i) {
      const float* ki = k + i * kv_dim + g * head_dim_;  // (head_dim)
      const float* vi = v + i * kv_dim + g * head_dim_;  // (head_dim)
      std::memcpy(keys + (first + i) * head_dim_, ki, static_cast<std::size_t>(head_dim_) * sizeof(float));
      for (std::int64_t d = 0; d < head_dim_; ++d) values_t[d * capacity_ + first + i] = vi[d];
    }
  }
}

TensorView KvCache::keys(std::int64_t layer, std::int64_t kv_head, std::int64_t n_positions) const {
  const float* base = k_.data() + head_offset(layer, kv_head);
  return make_contiguous_view(reinterpret_cast<const std::byte*>(base), Shape{{n_positions, head_dim_}, 2},
                              formats::traits(formats::FormatId::F32).storage());
}

TensorView KvCache::values_transposed(std::int64_t layer, std::int64_t kv_head, std::int64_t n_positions) const {
  const float* base = vt_.data() + head_offset(layer, kv_head);
  return TensorView{reinterpret_cast<const std::byte*>(base), Shape{{head_dim_, n_positions}, 2},
                    formats::traits(formats::FormatId::F32).storage(),
                    capacity_ * static_cast<std::int64_t>(sizeof(float))};
}

}  // namespace quantlm::model
