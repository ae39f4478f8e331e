// A Hugging Face config.json (LlamaForCausalLM, Qwen2ForCausalLM): validated hyperparameters and their GGUF keys.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "io/gguf/gguf_value.h"

namespace quantlm::io {

struct ModelSource;

enum class HfArchitecture : std::uint8_t {
  llama,  // LlamaForCausalLM (and MistralForCausalLM): rotate-half q/k, permuted to GGUF's layout
  qwen2,  // Qwen2ForCausalLM: q/k/v biases, NeoX RoPE in llama.cpp, so q/k are not permuted
};

// RoPE scaling as config.json's rope_scaling describes it; type "none" when null or absent.
struct HfRopeScaling {
  std::string type = "none";  // "none", "linear", "yarn", "llama3"
  double factor = 1.0;
  std::int64_t original_context = 0;  // original_max_position_embeddings (yarn, llama3)
  double low_freq_factor = 1.0;       // llama3
  double high_freq_factor = 4.0;      // llama3
};

struct HfConfig {
  HfArchitecture architecture = HfArchitecture::llama;
  std::string architecture_name;  // as config.json spells it: "LlamaForCausalLM"
  std::int64_t hidden_size = 0;
  std::int64_t intermediate_size = 0;
  std::int64_t n_layers = 0;
  std::int64_t n_heads = 0;
  std::int64_t n_kv_heads = 0;
  std::int64_t head_dim = 0;  // config's head_dim, else hidden_size / n_heads
  std::int64_t context_length = 0;
  std::int64_t vocab_size = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  HfRopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q/k/v biases: always for Qwen2, config's attention_bias for Llama
  std::string torch_dtype;      // "float32", "float16", "bfloat16" or "" when absent
  std::optional<std::int64_t> bos_token_id;
  std::optional<std::int64_t> eos_token_id;

  [[nodiscard]] std::string gguf_architecture() const;  // "llama" or "qwen2"
  [[nodiscard]] bool permutes_qk() const { return architecture == HfArchitecture::llama; }
};

// Reads and validates config.json; throws quantlm::Error naming the file and
// the key (missing, wrong type, out of range, heads not dividing the sizes).
[[nodiscard]] HfConfig read_hf_config(const std::filesystem::path& config_json);

// The GGUF metadata llama.cpp's converter writes for this config
// (general.architecture, "<arch>.context_length", ...).
void append_gguf_metadata(const HfConfig& config, std::vector<gguf::KeyValue>& metadata);

// The inverse: a config from a source's GGUF metadata and tensors (for
// writing a Hugging Face directory). Throws quantlm::Error naming the source
// and the key when the architecture is not llama or qwen2 or a key is missing.
[[nodiscard]] HfConfig hf_config_from_source(const ModelSource& source);

// config.json text for `config` (what transformers needs to load the directory).
[[nodiscard]] std::string hf_config_to_json(const HfConfig& config);

}  // namespace quantlm::io
