// Reading, validating and writing Hugging Face config.json for the Llama family, and its GGUF metadata equivalent.
#include "io/loaders/hf_config.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <utility>

#include "core/error.h"
#include "io/loaders/loader_util.h"
#include "io/model_source.h"

namespace quantlm::io {

namespace {

using nlohmann::json;

// Far beyond any real model, small enough that products of two stay exact in int64 and u32 metadata.
constexpr std::int64_t kMaxSize = std::int64_t{1} << 24;
constexpr std::int64_t kMaxContext = std::int64_t{1} << 30;

// Typed access to config.json with errors that name the file and the key.
class ConfigReader {
 public:
  ConfigReader(const json& root, std::string file) : root_(root), file_(std::move(file)) {}

  [[nodiscard]] const std::string& file() const { return file_; }

  [[nodiscard]] const json* find(const std::string& key) const {
    const auto it = root_.find(key);
    return it == root_.end() || it->is_null() ? nullptr : &*it;
  }

  [[nodiscard]] std::int64_t integer(const std::string& key, std::int64_t max,
                                     std::optional<std::int64_t> fallback = std::nullopt) const {
    const json* v = find(key);
    if (v == nullptr) {
      if (fallback) return *fallback;
      throw make_error("{}: key {} is missing (expected an integer from 1 to {})", file_, key, max);
    }
    if (!v->is_number_integer() || v->get<std::int64_t>() < 1 || v->get<std::int64_t>() > max) {
      throw make_error("{}: key {} = {} is not an integer from 1 to {}", file_, key, v->dump(), max);
    }
    return v->get<std::int64_t>();
  }

  [[nodiscard]] double positive_number(const std::string& key, std::optional<double> fallback) const {
    const json* v = find(key);
    if (v == nullptr) {
      if (fallback) return *fallback;
      throw make_error("{}: key {} is missing (expected a positive number)", file_, key);
    }
    if (!v->is_number() || !(v->get<double>() > 0.0) || !std::isfinite(v->get<double>())) {
      throw make_error("{}: key {} = {} is not a positive number", file_, key, v->dump());
    }
    return v->get<double>();
  }

  [[nodiscard]] bool boolean(const std::string& key, bool fallback) const {
    const json* v = find(key);
    if (v == nullptr) return fallback;
    if (!v->is_boolean()) throw make_error("{}: key {} = {} is not a boolean", file_, key, v->dump());
    return v->get<bool>();
  }

  // A token id: an integer, or a list whose first entry is used (Llama 3.1 lists several EOS ids).
  [[nodiscard]] std::optional<std::int64_t> token_id(const std::string& key) const {
    const json* v = find(key);
    if (v != nullptr && v->is_array() && !v->empty()) v = &(*v)[0];
    if (v == nullptr || (v->is_array() && v->empty())) return std::nullopt;
    if (!v->is_number_integer() || v->get<std::int64_t>() < 0) {
      throw make_error("{}: key {} = {} is not a token id", file_, key, v->dump());
    }
    return v->get<std::int64_t>();
  }

 private:
  const json& root_;
  std::string file_;
};

HfRopeScaling read_rope_scaling(const ConfigReader& cfg) {
  HfRopeScaling rs;
  const json* v = cfg.find("rope_scaling");
  if (v == nullptr) return rs;
  if (!v->is_object()) throw make_error("{}: key rope_scaling is not an object or null", cfg.file());
  const ConfigReader sub(*v, cfg.file() + ": rope_scaling");
  const json* type = sub.find("rope_type") != nullptr ? sub.find("rope_type") : sub.find("type");
  if (type == nullptr || !type->is_string()) throw make_error("{}: rope_scaling has no rope_type string", cfg.file());
  rs.type = type->get<std::string>();
  if (rs.type == "default") {
    rs.type = "none";
    return rs;
  }
  if (rs.type != "linear" && rs.type != "yarn" && rs.type != "llama3") {
    throw make_error("{}: rope_scaling type \"{}\" is not supported (supported: linear, yarn, llama3)", cfg.file(),
                     rs.type);
  }
  rs.factor = sub.positive_number("factor", std::nullopt);
  if (rs.type == "yarn") rs.original_context = sub.integer("original_max_position_embeddings", kMaxContext);
  if (rs.type == "llama3") {
    rs.original_context = sub.integer("original_max_position_embeddings", kMaxContext, 8192);
    rs.low_freq_factor = sub.positive_number("low_freq_factor", 1.0);
    rs.high_freq_factor = sub.positive_number("high_freq_factor", 4.0);
    if (!(rs.high_freq_factor > rs.low_freq_factor)) {
      throw make_error("{}: rope_scaling: high_freq_factor must exceed low_freq_factor", cfg.file());
    }
  }
  return rs;
}

std::int64_t int_key(const ModelSource& source, const std::string& key) {
  const gguf::Value* v = source.find(key);
  const auto value = v != nullptr ? v->as_int() : std::nullopt;
  if (!value || *value < 1 || *value > kMaxContext) {
    throw make_error("{}: metadata key {} is missing or not a positive integer", source.description, key);
  }
  return *value;
}

}  // namespace

std::string HfConfig::gguf_architecture() const { return architecture == HfArchitecture::llama ? "llama" : "qwen2"; }

HfConfig read_hf_config(const std::filesystem::path& config_json) {
  const std::string file = config_json.string();
  std::ifstream in(config_json, std::ios::binary);
  if (!in) throw make_error("{}: cannot open the file for reading", file);
  json root;
  try {
    root = json::parse(in);
  } catch (const json::exception& e) {
    throw make_error("{}: invalid JSON ({})", file, e.what());
  }
  if (!root.is_object()) throw make_error("{}: expected a JSON object", file);
  const ConfigReader cfg(root, file);

  HfConfig c;
  const json* archs = cfg.find("architectures");
  if (archs == nullptr || !archs->is_array() || archs->empty() || !(*archs)[0].is_string()) {
    throw make_error("{}: key architectures is missing (expected a list such as [\"LlamaForCausalLM\"])", file);
  }
  c.architecture_name = (*archs)[0].get<std::string>();
  if (c.architecture_name == "LlamaForCausalLM" || c.architecture_name == "MistralForCausalLM") {
    c.architecture = HfArchitecture::llama;
  } else if (c.architecture_name == "Qwen2ForCausalLM") {
    c.architecture = HfArchitecture::qwen2;
  } else {
    throw make_error("{}: architecture \"{}\" is not supported (supported: LlamaForCausalLM, Qwen2ForCausalLM)", file,
                     c.architecture_name);
  }
  c.hidden_size = cfg.integer("hidden_size", kMaxSize);
  c.intermediate_size = cfg.integer("intermediate_size", kMaxSize);
  c.n_layers = cfg.integer("num_hidden_layers", 65536);
  c.n_heads = cfg.integer("num_attention_heads", c.hidden_size);
  c.n_kv_heads = cfg.integer("num_key_value_heads", c.n_heads, c.n_heads);
  c.context_length = cfg.integer("max_position_embeddings", kMaxContext);
  c.vocab_size = cfg.integer("vocab_size", kMaxSize);
  c.rms_norm_eps = cfg.positive_number("rms_norm_eps", std::nullopt);
  c.rope_theta = cfg.positive_number("rope_theta", 10000.0);
  c.rope_scaling = read_rope_scaling(cfg);
  c.tie_word_embeddings = cfg.boolean("tie_word_embeddings", false);
  c.attention_bias = c.architecture == HfArchitecture::qwen2 || cfg.boolean("attention_bias", false);
  if (const json* dtype = cfg.find("torch_dtype"); dtype != nullptr) {
    if (!dtype->is_string()) throw make_error("{}: key torch_dtype = {} is not a string", file, dtype->dump());
    c.torch_dtype = dtype->get<std::string>();
  }
  c.bos_token_id = cfg.token_id("bos_token_id");
  c.eos_token_id = cfg.token_id("eos_token_id");

  if (cfg.find("head_dim") != nullptr) {
    c.head_dim = cfg.integer("head_dim", kMaxSize);
  } else {
    if (c.hidden_size % c.n_heads != 0) {
      throw make_error("{}: num_attention_heads = {} does not divide hidden_size = {}", file, c.n_heads, c.hidden_size);
    }
    c.head_dim = c.hidden_size / c.n_heads;
  }
  if (c.n_heads % c.n_kv_heads != 0) {
    throw make_error("{}: num_key_value_heads = {} does not divide num_attention_heads = {}", file, c.n_kv_heads,
                     c.n_heads);
  }
  if (c.head_dim % 2 != 0) throw make_error("{}: the head size {} is odd (RoPE rotates pairs)", file, c.head_dim);
  return c;
}

void append_gguf_metadata(const HfConfig& c, std::vector<gguf::KeyValue>& metadata) {
  MetadataBuilder md(metadata);
  const std::string a = c.gguf_architecture();
  md.string("general.architecture", a);
  md.u32(a + ".vocab_size", c.vocab_size);
  md.u32(a + ".context_length", c.context_length);
  md.u32(a + ".embedding_length", c.hidden_size);
  md.u32(a + ".feed_forward_length", c.intermediate_size);
  md.u32(a + ".block_count", c.n_layers);
  md.u32(a + ".attention.head_count", c.n_heads);
  md.u32(a + ".attention.head_count_kv", c.n_kv_heads);
  if (c.head_dim * c.n_heads != c.hidden_size) {
    md.u32(a + ".attention.key_length", c.head_dim);
    md.u32(a + ".attention.value_length", c.head_dim);
  }
  md.u32(a + ".rope.dimension_count", c.head_dim);
  md.f32(a + ".rope.freq_base", c.rope_theta);
  md.f32(a + ".attention.layer_norm_rms_epsilon", c.rms_norm_eps);
  // llama3 scaling becomes a rope_freqs.weight tensor (the loader makes it), as in llama.cpp's converter.
  if (c.rope_scaling.type == "linear" || c.rope_scaling.type == "yarn") {
    md.string(a + ".rope.scaling.type", c.rope_scaling.type);
    md.f32(a + ".rope.scaling.factor", c.rope_scaling.factor);
    if (c.rope_scaling.type == "yarn")
      md.u32(a + ".rope.scaling.original_context_length", c.rope_scaling.original_context);
  }
}

HfConfig hf_config_from_source(const ModelSource& source) {
  const gguf::Value* arch_value = source.find("general.architecture");
  const std::string* arch = arch_value != nullptr ? arch_value->as_string() : nullptr;
  HfConfig c;
  if (arch != nullptr && *arch == "llama") {
    c.architecture = HfArchitecture::llama;
    c.architecture_name = "LlamaForCausalLM";
  } else if (arch != nullptr && *arch == "qwen2") {
    c.architecture = HfArchitecture::qwen2;
    c.architecture_name = "Qwen2ForCausalLM";
  } else {
    throw make_error(R"({}: general.architecture must be "llama" or "qwen2" to write a Hugging Face directory)",
                     source.description);
  }
  const std::string& a = *arch;
  c.hidden_size = int_key(source, a + ".embedding_length");
  c.intermediate_size = int_key(source, a + ".feed_forward_length");
  c.n_layers = int_key(source, a + ".block_count");
  c.n_heads = int_key(source, a + ".attention.head_count");
  c.n_kv_heads = source.find(a + ".attention.head_count_kv") != nullptr
                     ? int_key(source, a + ".attention.head_count_kv")
                     : c.n_heads;
  c.head_dim = source.find(a + ".attention.key_length") != nullptr ? int_key(source, a + ".attention.key_length")
                                                                   : c.hidden_size / c.n_heads;
  if (c.head_dim * c.n_heads != c.hidden_size && source.find(a + ".attention.key_length") == nullptr) {
    throw make_error("{}: {}.attention.head_count = {} does not divide {}.embedding_length = {}", source.description, a,
                     c.n_heads, a, c.hidden_size);
  }
  if (c.n_kv_heads > c.n_heads || c.n_heads % c.n_kv_heads != 0 || c.head_dim % 2 != 0) {
    throw make_error("{}: {}.attention.head_count_kv = {} does not divide head_count = {} (or odd head size {})",
                     source.description, a, c.n_kv_heads, c.n_heads, c.head_dim);
  }
  c.context_length = int_key(source, a + ".context_length");
  const gguf::Value* eps = source.find(a + ".attention.layer_norm_rms_epsilon");
  if (eps == nullptr || !eps->as_double()) {
    throw make_error("{}: metadata key {}.attention.layer_norm_rms_epsilon is missing", source.description, a);
  }
  c.rms_norm_eps = *eps->as_double();
  if (const gguf::Value* base = source.find(a + ".rope.freq_base"); base != nullptr && base->as_double()) {
    c.rope_theta = *base->as_double();
  }
  if (const gguf::Value* type = source.find(a + ".rope.scaling.type");
      type != nullptr && type->as_string() != nullptr) {
    c.rope_scaling.type = *type->as_string();
    if (c.rope_scaling.type != "none") {
      const gguf::Value* factor = source.find(a + ".rope.scaling.factor");
      c.rope_scaling.factor = factor != nullptr && factor->as_double() ? *factor->as_double() : 1.0;
      if (c.rope_scaling.type == "yarn")
        c.rope_scaling.original_context = int_key(source, a + ".rope.scaling.original_context_length");
    }
  }
  if (source.find_tensor("rope_freqs.weight") != nullptr) {
    throw make_error("{}: rope_freqs.weight (llama3 RoPE scaling) cannot be written back to config.json",
                     source.description);
  }
  const SourceTensor* embd = source.find_tensor("token_embd.weight");
  if (embd == nullptr || embd->shape.rank != 2)
    throw make_error("{}: token_embd.weight is missing", source.description);
  c.vocab_size = embd->shape[0];
  c.tie_word_embeddings = source.find_tensor("output.weight") == nullptr;
  c.attention_bias = source.find_tensor("blk.0.attn_q.bias") != nullptr;
  const SourceTensor* q = source.find_tensor("blk.0.attn_q.weight");
  const formats::FormatId id = (q != nullptr ? q : embd)->format->id;
  c.torch_dtype = id == formats::FormatId::BF16 ? "bfloat16" : id == formats::FormatId::F16 ? "float16" : "float32";
  for (const auto& [key, out] : {std::pair{"tokenizer.ggml.bos_token_id", &c.bos_token_id},
                                 std::pair{"tokenizer.ggml.eos_token_id", &c.eos_token_id}}) {
    const gguf::Value* v = source.find(key);
    if (v != nullptr && v->as_int() && *v->as_int() >= 0 && *v->as_int() < c.vocab_size) *out = *v->as_int();
  }
  return c;
}

std::string hf_config_to_json(const HfConfig& c) {
  nlohmann::ordered_json j;
  j["architectures"] = {c.architecture_name};
  j["model_type"] = c.gguf_architecture();
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_hidden_layers"] = c.n_layers;
  j["num_attention_heads"] = c.n_heads;
  j["num_key_value_heads"] = c.n_kv_heads;
  if (c.head_dim * c.n_heads != c.hidden_size) j["head_dim"] = c.head_dim;
  j["vocab_size"] = c.vocab_size;
  j["max_position_embeddings"] = c.context_length;
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["rope_theta"] = c.rope_theta;
  if (c.rope_scaling.type == "none") {
    j["rope_scaling"] = nullptr;
  } else {
    j["rope_scaling"] = {{"rope_type", c.rope_scaling.type}, {"factor", c.rope_scaling.factor}};
    if (c.rope_scaling.original_context > 0) {
      j["rope_scaling"]["original_max_position_embeddings"] = c.rope_scaling.original_context;
    }
  }
  j["hidden_act"] = "silu";
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  if (c.architecture == HfArchitecture::llama) j["attention_bias"] = c.attention_bias;
  if (c.bos_token_id) j["bos_token_id"] = *c.bos_token_id;
  if (c.eos_token_id) j["eos_token_id"] = *c.eos_token_id;
  j["torch_dtype"] = c.torch_dtype.empty() ? "float32" : c.torch_dtype;
  return j.dump(2) + "\n";
}

}  // namespace quantlm::io
