// A Llama-family model's tensors bound by name: zero-copy views into the source, checked against the config.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor_view.h"
#include "io/model_source.h"
#include "model/llama_config.h"

namespace quantlm::model {

// One block. Matrices are {rows = outputs, cols = inputs} views into the
// source's bytes, in whatever format the file stores (no copies); vectors
// (norms, biases) are decoded to f32 once, since they are tiny.
struct LlamaLayer {
  std::vector<float> attn_norm;  // (dim)
  TensorView wq;                 // (n_heads * head_dim, dim)
  TensorView wk;                 // (n_kv_heads * head_dim, dim)
  TensorView wv;                 // (n_kv_heads * head_dim, dim)
  std::vector<float> bq;         // (n_heads * head_dim), empty without biases
  std::vector<float> bk;         // (n_kv_heads * head_dim)
  std::vector<float> bv;         // (n_kv_heads * head_dim)
  TensorView wo;                 // (dim, n_heads * head_dim)
  std::vector<float> ffn_norm;   // (dim)
  TensorView w_gate;             // (n_ff, dim)
  TensorView w_up;               // (n_ff, dim)
  TensorView w_down;             // (dim, n_ff)
};

struct LlamaWeights {
  TensorView token_embd;  // (vocab, dim)
  std::vector<LlamaLayer> layers;
  std::vector<float> output_norm;  // (dim)
  TensorView output;               // (vocab, dim): token_embd itself when the file has no output.weight
  bool tied_output = false;
  std::vector<float> rope_freq_factors;  // (n_rot / 2), empty when absent (Llama 3.1's rope_freqs.weight)
};

// Binds every tensor of the model and sets config.vocab_size from the
// embedding. Throws quantlm::Error naming the source and tensor for a missing
// tensor, one the architecture does not have, a shape that disagrees with the
// config, a type quantlm cannot decode, or a vocabulary that disagrees with the
// embedding (tokenizer size, "<arch>.vocab_size", output.weight rows).
// Tensor bytes stay owned by the source (keep its keep_alive alive).
[[nodiscard]] LlamaWeights bind_llama_weights(const io::ModelSource& source, LlamaConfig& config);

}  // namespace quantlm::model
