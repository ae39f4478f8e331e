// The float reference engine for Llama-family models (llama, qwen2): a model::CausalLm over a ModelSource's weights.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/aligned_buffer.h"
#include "core/isa.h"
#include "core/thread_pool.h"
#include "io/model_source.h"
#include "kernels/matmul.h"
#include "model/attention.h"
#include "model/causal_lm.h"
#include "model/kv_cache.h"
#include "model/llama_config.h"
#include "model/llama_weights.h"
#include "model/rope.h"

namespace quantlm::model {

// Sees the input of every Linear during forward passes, for calibration
// (activation statistics, GPTQ's Hessians). Called on the thread that called
// forward, between matrix products, so an implementation may use the model's
// thread pool itself.
class LinearInputObserver {
 public:
  virtual ~LinearInputObserver() = default;
  // `names`: the GGUF names of the weights that multiply this input (one
  // input feeds attn_q, attn_k and attn_v, another ffn_gate and ffn_up);
  // `x`: the input, (n_tokens, cols) row-major, valid during the call only.
  virtual void observe(std::span<const std::string> names, std::span<const float> x, std::int64_t n_tokens,
                       std::int64_t cols) = 0;
};

struct LlamaOptions {
  std::int64_t context_length = 0;  // positions the KV cache holds; 0: the model's context_length
  std::int64_t max_batch = 512;     // tokens per internal step (bounds scratch memory); longer calls are split
  ThreadPool* pool = nullptr;       // nullptr: default_thread_pool() at construction
  Isa isa = active_isa();           // the highest kernel level to use
};

// Activations are f32 throughout; weights stay in the source's format and go
// through kernels::Matmul (F32/F16/BF16 kernels, the generic dequantize path
// for quantized formats). Prefill (many tokens per forward call) and decode
// (one) run the same code; a token's logits do not depend on how the tokens
// were batched (the kernels sum each output in the same order either way).
// Not thread-safe: one forward at a time.
class LlamaModel final : public CausalLm {
 public:
  // Reads and validates the config and tensors (quantlm::Error naming the
  // source and what is wrong), binds the weights without copying them and
  // shares ownership of the source's mappings, so `source` may be destroyed.
  explicit LlamaModel(const io::ModelSource& source, const LlamaOptions& options = {});

  [[nodiscard]] const LlamaConfig& config() const { return config_; }
  [[nodiscard]] const LlamaWeights& weights() const { return weights_; }
  // The kernels the matrix products use, e.g. "F32 avx512" or "Q4_0 dequantize+avx512, F16 avx512".
  [[nodiscard]] std::string kernel_summary() const;

  [[nodiscard]] std::int64_t vocab_size() const override { return config_.vocab_size; }
  [[nodiscard]] std::int64_t context_length() const override { return cache_.capacity(); }
  void reset() override { n_cached_ = 0; }
  // Throws quantlm::Error for a token outside the vocabulary, a call that
  // would overflow the cache, or a logits span of the wrong size.
  void forward(std::span<const std::int32_t> tokens, std::span<float> logits) override;
  [[nodiscard]] std::int64_t cached_tokens() const override { return n_cached_; }
  // Reports every Linear's input to `observer` from the next forward on;
  // nullptr (the default) turns it off, leaving one pointer test per product.
  // The observer must outlive its use.
  void set_linear_input_observer(LinearInputObserver* observer) { observer_ = observer; }

 private:
  struct LayerOps {
    kernels::Matmul wq, wk, wv, wo, gate, up, down;
  };
  // GGUF names of the weights behind each distinct Linear input of a layer.
  struct LayerInputNames {
    std::vector<std::string> qkv, wo, gate_up, down;
  };
  // Activations of one step of up to max_batch tokens.
  struct Scratch {
    AlignedBuffer<float> x;     // (batch, dim) the residual stream
    AlignedBuffer<float> xn;    // (batch, dim) its normalized copy
    AlignedBuffer<float> q;     // (batch, n_heads, head_dim)
    AlignedBuffer<float> k;     // (batch, n_kv_heads, head_dim)
    AlignedBuffer<float> v;     // (batch, n_kv_heads, head_dim)
    AlignedBuffer<float> attn;  // (batch, n_heads, head_dim)
    AlignedBuffer<float> proj;  // (batch, dim) attention or FFN output before the residual add
    AlignedBuffer<float> gate;  // (batch, n_ff)
    AlignedBuffer<float> up;    // (batch, n_ff)
  };

  void forward_step(std::span<const std::int32_t> tokens, float* logits);
  void attention_block(std::int64_t layer, std::int64_t n);
  void ffn_block(std::int64_t layer, std::int64_t n);
  // fn(token) for every token, on the pool when there is enough work (width values per token).
  template <typename Fn>
  void per_token(std::int64_t n, std::int64_t width, const Fn& fn);
  // Hands (n, cols) inputs in `x` to the observer, if one is set.
  void observe(const std::vector<std::string>& names, const AlignedBuffer<float>& x, std::int64_t n,
               std::int64_t cols) {
    if (observer_ != nullptr) observer_->observe(names, {x.data(), static_cast<std::size_t>(n * cols)}, n, cols);
  }

  std::vector<std::shared_ptr<const void>> keep_alive_;  // the source's mappings behind the weight views
  LlamaConfig config_;
  LlamaWeights weights_;
  ThreadPool* pool_;
  std::int64_t max_batch_;
  std::vector<LayerOps> layer_ops_;
  kernels::Matmul output_;
  Rope rope_;
  Attention attention_;
  KvCache cache_;
  Scratch s_;
  std::int64_t n_cached_ = 0;
  LinearInputObserver* observer_ = nullptr;
  std::vector<LayerInputNames> input_names_;  // per layer
  std::vector<std::string> output_names_;     // {"output.weight"}; empty when the output is tied to token_embd
};

}  // namespace quantlm::model
