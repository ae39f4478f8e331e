// Test helpers: tiny Hugging Face directories (config.json + model.safetensors) with chosen contents, and error checks.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/loaders/safetensors_writer.h"

namespace quantlm::io::test_util {

// A small model's config: hidden 16, 4 heads of 4, 2 KV heads, ffn 24, 2 layers, vocab 32.
inline nlohmann::json small_config(const std::string& architecture) {
  return {{"architectures", {architecture}},
          {"hidden_size", 16},
          {"intermediate_size", 24},
          {"num_hidden_layers", 2},
          {"num_attention_heads", 4},
          {"num_key_value_heads", 2},
          {"vocab_size", 32},
          {"max_position_embeddings", 128},
          {"rms_norm_eps", 1e-6},
          {"rope_theta", 1000000.0},
          {"tie_word_embeddings", architecture == "Qwen2ForCausalLM"},
          {"torch_dtype", "float32"}};
}

struct HfTensor {
  std::string name;
  std::vector<std::int64_t> shape;
  std::string dtype = "F32";
};

// The tensors a config implies, with Hugging Face names.
inline std::vector<HfTensor> tensors_for(const nlohmann::json& c) {
  const std::int64_t h = c["hidden_size"], ff = c["intermediate_size"], heads = c["num_attention_heads"];
  const std::int64_t kv = c["num_key_value_heads"], vocab = c["vocab_size"], layers = c["num_hidden_layers"];
  const std::int64_t hd = h / heads;
  const bool qwen = c["architectures"][0] == "Qwen2ForCausalLM";
  std::vector<HfTensor> t = {{"model.embed_tokens.weight", {vocab, h}}, {"model.norm.weight", {h}}};
  if (!c.value("tie_word_embeddings", false)) t.push_back({"lm_head.weight", {vocab, h}});
  for (std::int64_t l = 0; l < layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    t.push_back({p + "self_attn.q_proj.weight", {heads * hd, h}});
    t.push_back({p + "self_attn.k_proj.weight", {kv * hd, h}});
    t.push_back({p + "self_attn.v_proj.weight", {kv * hd, h}});
    if (qwen || c.value("attention_bias", false)) {
      t.push_back({p + "self_attn.q_proj.bias", {heads * hd}});
      t.push_back({p + "self_attn.k_proj.bias", {kv * hd}});
      t.push_back({p + "self_attn.v_proj.bias", {kv * hd}});
    }
    t.push_back({p + "self_attn.o_proj.weight", {h, heads * hd}});
    t.push_back({p + "mlp.gate_proj.weight", {ff, h}});
    t.push_back({p + "mlp.up_proj.weight", {ff, h}});
    t.push_back({p + "mlp.down_proj.weight", {h, ff}});
    t.push_back({p + "input_layernorm.weight", {h}});
    t.push_back({p + "post_attention_layernorm.weight", {h}});
  }
  return t;
}

inline std::size_t dtype_bytes(const std::string& dtype) { return dtype == "F32" || dtype == "I32" ? 4 : 2; }

// Writes config.json and model.safetensors (random data, seeded) into `dir`.
inline void write_hf_dir(const std::filesystem::path& dir, const nlohmann::json& config,
                         const std::vector<HfTensor>& tensors, std::uint32_t seed = 1) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "config.json") << config.dump(2);
  std::vector<SafetensorsSpec> specs;
  for (const HfTensor& t : tensors) specs.push_back({t.name, t.dtype, t.shape});
  SafetensorsWriter w(dir / "model.safetensors", specs, {{"format", "pt"}});
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist;
  for (const HfTensor& t : tensors) {
    std::int64_t n = 1;
    for (const std::int64_t d : t.shape) n *= d;
    std::vector<std::byte> data(static_cast<std::size_t>(n) * dtype_bytes(t.dtype));
    for (std::size_t i = 0; i < data.size(); i += dtype_bytes(t.dtype)) {
      const float v = dist(rng);
      if (dtype_bytes(t.dtype) == 4) {
        std::memcpy(&data[i], &v, 4);
      } else {
        std::uint32_t bits = 0;
        std::memcpy(&bits, &v, 4);
        const auto top = static_cast<std::uint16_t>(bits >> 16);  // a bf16 (or just some f16 pattern)
        std::memcpy(&data[i], &top, 2);
      }
    }
    w.write_tensor(data);
  }
  w.finish();
}

// Runs `f`, which must throw quantlm::Error whose message contains every one of `needles`.
inline void expect_error(const std::function<void()>& f, const std::vector<std::string>& needles) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning " << needles.front();
  } catch (const Error& e) {
    const std::string what = e.what();
    for (const std::string& n : needles) EXPECT_NE(what.find(n), std::string::npos) << "'" << n << "' not in: " << what;
  }
}

}  // namespace quantlm::io::test_util
