// Grouped-query causal attention: scores and weighted values as F32 kernel products on the cache's head views.
#include "model/attention.h"

#include <algorithm>
#include <cmath>

#include "formats/format_traits.h"
#include "model/ops.h"

namespace quantlm::model {
namespace {

// Queries per task. A block's scores cover keys up to its last token's
// position, so causal masking wastes at most a block's worth of products per
// query; blocks also give prefill more tasks than there are heads.
constexpr std::int64_t kQueryBlock = 32;
// Multiply-adds below which the heads run on the calling thread: waking the
// pool costs a few microseconds, more than a small model's single-token
// attention over a few hundred positions takes.
constexpr std::int64_t kParallelMacs = 65536;

}  // namespace

Attention::Attention(const LlamaConfig& config, const kernels::MatmulKernel& f32)
    : n_heads_(config.n_heads), group_(config.n_heads / config.n_kv_heads), head_dim_(config.head_dim), f32_(&f32) {}

void Attention::run(const KvCache& cache, std::int64_t layer, const float* q, std::int64_t first, std::int64_t n,
                    float* out, ThreadPool& pool) {
  if (scores_.size() < pool.size()) scores_.resize(pool.size());
  const std::int64_t q_stride = n_heads_ * head_dim_;  // floats between tokens of q and out
  const std::int64_t n_blocks = (n + kQueryBlock - 1) / kQueryBlock;
  const float scale = 1.0F / std::sqrt(static_cast<float>(head_dim_));
  const formats::FormatTraits& f32 = formats::traits(formats::FormatId::F32);

  const auto run_task = [&](std::size_t index, std::size_t thread) {
    const std::int64_t h = static_cast<std::int64_t>(index) / n_blocks;
    const std::int64_t block = static_cast<std::int64_t>(index) % n_blocks;
    const std::int64_t t0 = block * kQueryBlock;
    const std::int64_t nb = std::min(kQueryBlock, n - t0);
    const std::int64_t kv_len = first + t0 + nb;  // keys the block's last query sees
    const std::int64_t g = h / group_;

    std::vector<float>& scores = scores_[thread];  // (nb, kv_len)
    if (static_cast<std::int64_t>(scores.size()) < nb * kv_len) scores.resize(static_cast<std::size_t>(nb * kv_len));

    // scores (nb, kv_len) = q_h (nb, head_dim) · K_g (kv_len, head_dim)ᵀ
    kernels::run_serial(
        *f32_, kernels::MatmulArgs{cache.keys(layer, g, kv_len), &f32, q + t0 * q_stride + h * head_dim_, q_stride,
                                   nullptr, 0, nb, scores.data(), kv_len});
    for (std::int64_t i = 0; i < nb; ++i) {
      float* row = scores.data() + i * kv_len;          // (kv_len)
      const std::int64_t visible = first + t0 + i + 1;  // causal: positions up to the query's own
      ops::scaled_softmax(row, visible, scale);
      std::fill(row + visible, row + kv_len, 0.0F);
    }
    // out_h (nb, head_dim) = scores (nb, kv_len) · V_g (kv_len, head_dim), with V_g stored transposed.
    kernels::run_serial(
        *f32_, kernels::MatmulArgs{cache.values_transposed(layer, g, kv_len), &f32, scores.data(), kv_len, nullptr, 0,
                                   nb, out + t0 * q_stride + h * head_dim_, q_stride});
  };
  const auto n_tasks = static_cast<std::size_t>(n_heads_ * n_blocks);
  if (2 * n_heads_ * n * (first + n) * head_dim_ < kParallelMacs) {
    for (std::size_t i = 0; i < n_tasks; ++i) run_task(i, 0);
  } else {
    pool.parallel_for(n_tasks, run_task);
  }
}

}  // namespace quantlm::model
