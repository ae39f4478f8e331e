// Builds a FileSummary from a GGUF file's metadata and tensor table.
#include "eval/file_summary.h"

#include <array>
#include <string_view>

namespace quantlm::eval {
namespace {

// Architecture-scoped keys worth showing, in display order (GGUF's naming).
constexpr std::array<std::string_view, 15> kHyperparameterKeys = {
    "context_length",
    "embedding_length",
    "block_count",
    "feed_forward_length",
    "attention.head_count",
    "attention.head_count_kv",
    "attention.key_length",
    "attention.value_length",
    "rope.dimension_count",
    "rope.freq_base",
    "rope.scaling.type",
    "rope.scaling.factor",
    "attention.layer_norm_rms_epsilon",
    "attention.layer_norm_epsilon",
    "vocab_size",
};

std::optional<std::int64_t> int_value(const gguf::GgufFile& file, std::string_view key) {
  const gguf::Value* v = file.find(key);
  return v != nullptr ? v->as_int() : std::nullopt;
}

std::string string_value(const gguf::GgufFile& file, std::string_view key) {
  const gguf::Value* v = file.find(key);
  const std::string* s = v != nullptr ? v->as_string() : nullptr;
  return s != nullptr ? *s : std::string();
}

// Token text for an id, when the vocabulary holds it.
std::string token_text(const gguf::Array* tokens, std::optional<std::int64_t> id) {
  if (tokens == nullptr || !id) return {};
  const auto* strings = std::get_if<std::vector<std::string>>(&tokens->items);
  if (strings == nullptr || *id < 0 || *id >= static_cast<std::int64_t>(strings->size())) return {};
  return (*strings)[static_cast<std::size_t>(*id)];
}

std::optional<TokenizerSummary> summarize_tokenizer(const gguf::GgufFile& file) {
  const gguf::Value* model = file.find("tokenizer.ggml.model");
  if (model == nullptr) return std::nullopt;
  TokenizerSummary t;
  t.model = string_value(file, "tokenizer.ggml.model");
  t.pre = string_value(file, "tokenizer.ggml.pre");
  const gguf::Value* tokens = file.find("tokenizer.ggml.tokens");
  const gguf::Array* token_array = tokens != nullptr ? tokens->as_array() : nullptr;
  t.vocab_size = token_array != nullptr ? static_cast<std::int64_t>(token_array->size()) : 0;
  t.has_scores = file.find("tokenizer.ggml.scores") != nullptr;
  if (const gguf::Value* merges = file.find("tokenizer.ggml.merges"); merges != nullptr && merges->as_array()) {
    t.merges = static_cast<std::int64_t>(merges->as_array()->size());
  }
  // llama.cpp writes 0xFFFFFFFF for "no such token": show it as absent.
  auto id = [&](std::string_view key) -> std::optional<std::int64_t> {
    auto v = int_value(file, key);
    if (v && (*v < 0 || *v >= t.vocab_size)) return std::nullopt;
    return v;
  };
  t.bos = id("tokenizer.ggml.bos_token_id");
  t.eos = id("tokenizer.ggml.eos_token_id");
  t.unk = id("tokenizer.ggml.unknown_token_id");
  t.pad = id("tokenizer.ggml.padding_token_id");
  t.bos_text = token_text(token_array, t.bos);
  t.eos_text = token_text(token_array, t.eos);
  return t;
}

}  // namespace

double FileSummary::bits_per_weight() const {
  return total_elements > 0 ? 8.0 * static_cast<double>(total_tensor_bytes) / static_cast<double>(total_elements) : 0.0;
}

FileSummary summarize(const gguf::GgufFile& file) {
  FileSummary s;
  s.path = file.path().string();
  s.file_bytes = file.file_size();
  s.version = file.version();
  s.alignment = file.alignment();
  s.metadata_keys = static_cast<std::int64_t>(file.metadata().size());
  s.architecture = string_value(file, "general.architecture");
  s.name = string_value(file, "general.name");
  if (!s.architecture.empty()) {
    for (std::string_view label : kHyperparameterKeys) {
      const std::string key = s.architecture + "." + std::string(label);
      if (const gguf::Value* v = file.find(key)) s.hyperparameters.push_back({std::string(label), key, *v});
    }
  }
  s.tokenizer = summarize_tokenizer(file);
  for (const gguf::TensorInfo& info : file.tensors()) {
    TensorSummary t;
    t.name = info.name;
    t.format = std::string(info.format->name);
    t.shape = info.shape;
    t.elements = info.shape.elements();
    t.bytes = info.bytes;
    t.bits_per_weight = t.elements > 0 ? 8.0 * static_cast<double>(t.bytes) / static_cast<double>(t.elements) : 0.0;
    FormatTotal& total = s.by_format[t.format];
    total.tensors += 1;
    total.elements += t.elements;
    total.bytes += t.bytes;
    s.total_elements += t.elements;
    s.total_tensor_bytes += t.bytes;
    s.tensors.push_back(std::move(t));
  }
  return s;
}

}  // namespace quantlm::eval
