// Reading and checking Llama-family hyperparameters from GGUF-keyed metadata.
#include "model/llama_config.h"

#include <fmt/format.h>

#include <optional>
#include <string_view>

#include "core/error.h"

namespace quantlm::model {
namespace {

class MetadataReader {
 public:
  MetadataReader(const io::ModelSource& source, std::string arch) : source_(source), arch_(std::move(arch)) {}

  [[nodiscard]] std::string key(std::string_view suffix) const { return fmt::format("{}.{}", arch_, suffix); }

  // "<arch>.<suffix>" as a positive integer; nullopt when absent and not required.
  [[nodiscard]] std::optional<std::int64_t> positive_int(std::string_view suffix, bool required) const {
    const std::string k = key(suffix);
    const gguf::Value* v = source_.find(k);
    if (v == nullptr) {
      if (required) throw make_error("{}: metadata key '{}' is missing", source_.description, k);
      return std::nullopt;
    }
    if (v->as_array() != nullptr) {
      throw make_error("{}: metadata key '{}' is an array (per-layer values are not supported)", source_.description,
                       k);
    }
    const std::optional<std::int64_t> n = v->as_int();
    if (!n) {
      throw make_error("{}: metadata key '{}' has type {}, expected an integer", source_.description, k,
                       gguf::value_type_name(v->type()));
    }
    if (*n <= 0)
      throw make_error("{}: metadata key '{}' is {}, expected a positive number", source_.description, k, *n);
    return n;
  }

  [[nodiscard]] std::optional<double> number(std::string_view suffix, bool required) const {
    const std::string k = key(suffix);
    const gguf::Value* v = source_.find(k);
    if (v == nullptr) {
      if (required) throw make_error("{}: metadata key '{}' is missing", source_.description, k);
      return std::nullopt;
    }
    const std::optional<double> d = v->as_double();
    if (!d) {
      throw make_error("{}: metadata key '{}' has type {}, expected a number", source_.description, k,
                       gguf::value_type_name(v->type()));
    }
    return d;
  }

  [[nodiscard]] std::optional<std::string> string(std::string_view suffix) const {
    const std::string k = key(suffix);
    const gguf::Value* v = source_.find(k);
    if (v == nullptr) return std::nullopt;
    if (v->as_string() == nullptr) {
      throw make_error("{}: metadata key '{}' has type {}, expected a string", source_.description, k,
                       gguf::value_type_name(v->type()));
    }
    return *v->as_string();
  }

 private:
  const io::ModelSource& source_;
  std::string arch_;
};

std::string architecture(const io::ModelSource& source) {
  const gguf::Value* v = source.find("general.architecture");
  if (v == nullptr) throw make_error("{}: metadata key 'general.architecture' is missing", source.description);
  if (v->as_string() == nullptr) {
    throw make_error("{}: metadata key 'general.architecture' has type {}, expected a string", source.description,
                     gguf::value_type_name(v->type()));
  }
  const std::string& arch = *v->as_string();
  if (arch != "llama" && arch != "qwen2") {
    throw make_error("{}: architecture {} is not supported (expected llama or qwen2)", source.description,
                     gguf::quote_for_message(arch));
  }
  return arch;
}

// Linear scaling divides positions by `factor`; llama.cpp reads
// rope.scaling.type (default "linear") with rope.scaling.factor, or the older
// rope.scale_linear. A factor of 0 or 1 means no scaling.
double linear_scale(const MetadataReader& m, const io::ModelSource& source) {
  const std::string type = m.string("rope.scaling.type").value_or("linear");
  std::optional<double> factor = m.number("rope.scaling.factor", false);
  if (!factor) factor = m.number("rope.scale_linear", false);
  if (type == "none") return 1.0;
  if (type != "linear") {
    throw make_error("{}: metadata key '{}' is {}, which is not supported (expected none or linear)",
                     source.description, m.key("rope.scaling.type"), gguf::quote_for_message(type));
  }
  if (!factor || *factor == 0.0) return 1.0;
  if (!(*factor > 0.0)) {
    throw make_error("{}: metadata key '{}' is {}, expected a positive factor", source.description,
                     m.key("rope.scaling.factor"), *factor);
  }
  return *factor;
}

}  // namespace

LlamaConfig read_llama_config(const io::ModelSource& source) {
  LlamaConfig c;
  c.architecture = architecture(source);
  const MetadataReader m(source, c.architecture);
  const std::string& where = source.description;

  c.context_length = *m.positive_int("context_length", true);
  c.dim = *m.positive_int("embedding_length", true);
  c.n_layers = *m.positive_int("block_count", true);
  c.n_ff = *m.positive_int("feed_forward_length", true);
  c.n_heads = *m.positive_int("attention.head_count", true);
  c.n_kv_heads = m.positive_int("attention.head_count_kv", false).value_or(c.n_heads);
  if (c.n_heads % c.n_kv_heads != 0) {
    throw make_error("{}: attention.head_count {} is not a multiple of attention.head_count_kv {}", where, c.n_heads,
                     c.n_kv_heads);
  }
  if (c.dim % c.n_heads != 0) {
    throw make_error("{}: embedding_length {} is not a multiple of attention.head_count {}", where, c.dim, c.n_heads);
  }
  c.head_dim = c.dim / c.n_heads;
  for (const char* length : {"attention.key_length", "attention.value_length"}) {
    const std::optional<std::int64_t> n = m.positive_int(length, false);
    if (n && *n != c.head_dim) {
      throw make_error("{}: {}.{} is {}, but only heads of embedding_length / head_count = {} are supported", where,
                       c.architecture, length, *n, c.head_dim);
    }
  }
  c.n_rot = m.positive_int("rope.dimension_count", false).value_or(c.head_dim);
  if (c.n_rot > c.head_dim || c.n_rot % 2 != 0) {
    throw make_error("{}: rope.dimension_count {} must be even and at most the head dimension {}", where, c.n_rot,
                     c.head_dim);
  }
  c.rope_base = m.number("rope.freq_base", false).value_or(10000.0);
  if (!(c.rope_base > 0.0)) throw make_error("{}: rope.freq_base {} must be positive", where, c.rope_base);
  c.rope_linear_scale = linear_scale(m, source);
  const double eps = *m.number("attention.layer_norm_rms_epsilon", true);
  if (!(eps > 0.0 && eps < 1.0)) {
    throw make_error("{}: attention.layer_norm_rms_epsilon {} is outside (0, 1)", where, eps);
  }
  c.rms_eps = static_cast<float>(eps);
  c.rope_layout = c.architecture == "qwen2" ? RopeLayout::neox : RopeLayout::adjacent_pairs;
  c.qkv_bias = c.architecture == "qwen2";
  return c;
}

}  // namespace quantlm::model
