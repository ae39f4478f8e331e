// Hyperparameters of a Llama-family model (llama, qwen2), read and validated from a ModelSource's GGUF-keyed metadata.
#pragma once

#include <cstdint>
#include <string>

#include "io/model_source.h"

namespace quantlm::model {

// How RoPE pairs the dimensions of a head.
enum class RopeLayout : std::uint8_t {
  // (x[2i], x[2i+1]): GGUF's llama layout (its converters permute q/k rows to
  // it); llama.cpp's LLAMA_ROPE_TYPE_NORM.
  adjacent_pairs,
  // (x[i], x[i + n_rot/2]): GPT-NeoX / Hugging Face rotate-half, which qwen2
  // GGUFs keep; llama.cpp's LLAMA_ROPE_TYPE_NEOX.
  neox,
};

struct LlamaConfig {
  std::string architecture;         // "llama" or "qwen2": the metadata key prefix
  std::int64_t context_length = 0;  // positions the model was trained for
  std::int64_t dim = 0;             // embedding_length
  std::int64_t n_layers = 0;        // block_count
  std::int64_t n_ff = 0;            // feed_forward_length
  std::int64_t n_heads = 0;
  std::int64_t n_kv_heads = 0;     // grouped-query attention: n_heads / n_kv_heads queries share a key/value head
  std::int64_t head_dim = 0;       // dim / n_heads
  std::int64_t n_rot = 0;          // rope.dimension_count: leading dimensions of a head that rotate
  double rope_base = 10000.0;      // rope.freq_base
  double rope_linear_scale = 1.0;  // positions are divided by this (rope.scaling.type "linear")
  float rms_eps = 1e-5F;           // attention.layer_norm_rms_epsilon
  RopeLayout rope_layout = RopeLayout::adjacent_pairs;
  bool qkv_bias = false;  // qwen2: q, k and v projections have biases (required); llama: optional
  // vocab_size is the embedding's row count (set when the weights are bound);
  // the tokenizer and "<arch>.vocab_size", when present, must agree with it.
  std::int64_t vocab_size = 0;

  [[nodiscard]] std::int64_t q_dim() const { return n_heads * head_dim; }
  [[nodiscard]] std::int64_t kv_dim() const { return n_kv_heads * head_dim; }
};

// Reads "general.architecture" and "<arch>.*" hyperparameters. Throws
// quantlm::Error naming the source and the key for an unsupported
// architecture, a missing or mistyped key, or inconsistent values (head counts
// that do not divide, a RoPE dimension count larger than a head, an unknown
// RoPE scaling type). vocab_size is left 0.
[[nodiscard]] LlamaConfig read_llama_config(const io::ModelSource& source);

}  // namespace quantlm::model
