// Grouped-query causal self-attention over the KV cache, parallel over heads and blocks of tokens.
#pragma once

#include <cstdint>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/matmul.h"
#include "model/kv_cache.h"
#include "model/llama_config.h"

namespace quantlm::model {

class Attention {
 public:
  Attention() = default;
  // f32: the F32 matrix kernel both products of attention run on.
  Attention(const LlamaConfig& config, const kernels::MatmulKernel& f32);

  // For n tokens at positions [first, first + n), whose keys and values are
  // already in `cache` (as are those of every earlier position):
  //   out = softmax(q · Kᵀ / sqrt(head_dim), causal) · V
  // q and out are (n, n_heads, head_dim); query head h reads KV head
  // h / (n_heads / n_kv_heads). Tasks are (head, block of tokens) pairs.
  void run(const KvCache& cache, std::int64_t layer, const float* q, std::int64_t first, std::int64_t n, float* out,
           ThreadPool& pool);

 private:
  std::int64_t n_heads_ = 0;
  std::int64_t group_ = 1;  // query heads per KV head
  std::int64_t head_dim_ = 0;
  const kernels::MatmulKernel* f32_ = nullptr;
  std::vector<std::vector<float>> scores_;  // per pool thread: (block tokens, key positions)
};

}  // namespace quantlm::model
