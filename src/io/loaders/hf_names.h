// Tensor names and shapes of a Hugging Face Llama/Qwen2 checkpoint and their GGUF counterparts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor_view.h"
#include "io/loaders/hf_config.h"

namespace quantlm::io {

// "model.layers.3.self_attn.q_proj.weight" -> "blk.3.attn_q.weight"; nullopt for a name with no GGUF counterpart.
[[nodiscard]] std::optional<std::string> hf_to_gguf_name(std::string_view hf_name);
// The inverse; nullopt for a GGUF name that no Llama/Qwen2 checkpoint holds.
[[nodiscard]] std::optional<std::string> gguf_to_hf_name(std::string_view gguf_name);

// One tensor a model with `config` has, in GGUF's naming and order.
struct ExpectedTensor {
  std::string name;  // GGUF name
  Shape shape;       // row-major
  bool required = true;
  // Heads whose rows a Llama's rotate-half layout permutes (n_head for q,
  // n_kv_head for k, weights and biases); 0 when the rows stay as they are.
  std::int64_t rope_heads = 0;
};

// Every tensor of the model in llama.cpp's order: token_embd, output_norm,
// output (optional when the embeddings are tied), then per block attn_q,
// attn_k, attn_v (with biases when the config has them), attn_output,
// attn_norm, ffn_gate, ffn_down, ffn_up, ffn_norm.
[[nodiscard]] std::vector<ExpectedTensor> expected_tensors(const HfConfig& config);

}  // namespace quantlm::io
