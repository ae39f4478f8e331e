// Writes random-weight Llama GGUFs with a byte-fallback SentencePiece-style vocabulary.
#include "model/synth.h"

#include <cmath>
#include <cstring>
#include <numbers>
#include <vector>

#include "core/error.h"
#include "core/half.h"
#include "io/gguf/gguf_writer.h"

namespace quantlm::model {
namespace {

using formats::FormatId;

// splitmix64: a tiny, well-mixed generator whose output is the same on every
// platform (std::normal_distribution is not), so files are reproducible.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30U)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27U)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31U);
  }
  // Uniform in (0, 1]: never 0, so log() below is finite.
  double uniform() { return (static_cast<double>(next() >> 11U) + 1.0) * 0x1.0p-53; }
  // Box-Muller; one of the pair is discarded to keep the stream simple.
  double normal() { return std::sqrt(-2.0 * std::log(uniform())) * std::cos(2.0 * std::numbers::pi * uniform()); }

 private:
  std::uint64_t state_;
};

struct TensorPlan {
  gguf::TensorSpec spec;
  bool is_norm;
};

Shape matrix(std::int64_t rows, std::int64_t cols) { return Shape{{rows, cols}, 2}; }
Shape vector(std::int64_t n) { return Shape{{n}, 1}; }

std::vector<TensorPlan> plan_tensors(const SynthConfig& c) {
  const formats::FormatTraits* weight = &formats::traits(c.weight_format);
  const formats::FormatTraits* f32 = &formats::traits(FormatId::F32);
  const std::int64_t kv_dim = c.dim / c.heads * c.kv_heads;
  std::vector<TensorPlan> plan;
  auto add = [&](std::string name, Shape shape, bool is_norm) {
    plan.push_back({{std::move(name), shape, is_norm ? f32 : weight}, is_norm});
  };
  // Same order as llama.cpp's converters write them.
  add("token_embd.weight", matrix(c.vocab, c.dim), false);
  add("output_norm.weight", vector(c.dim), true);
  add("output.weight", matrix(c.vocab, c.dim), false);
  for (std::int64_t l = 0; l < c.layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_q.weight", matrix(c.dim, c.dim), false);
    add(p + "attn_k.weight", matrix(kv_dim, c.dim), false);
    add(p + "attn_v.weight", matrix(kv_dim, c.dim), false);
    add(p + "attn_output.weight", matrix(c.dim, c.dim), false);
    add(p + "attn_norm.weight", vector(c.dim), true);
    add(p + "ffn_gate.weight", matrix(c.n_ff, c.dim), false);
    add(p + "ffn_down.weight", matrix(c.dim, c.n_ff), false);
    add(p + "ffn_up.weight", matrix(c.n_ff, c.dim), false);
    add(p + "ffn_norm.weight", vector(c.dim), true);
  }
  return plan;
}

// <unk>, <s>, </s>, the 256 byte-fallback tokens, then "▁" + letters and
// letter pairs until the vocabulary is full: enough for llama.cpp's
// SentencePiece tokenizer to encode any UTF-8 text.
struct Vocab {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<std::int32_t> types;  // llama.cpp token types: 1 normal, 2 unknown, 3 control, 6 byte
};

Vocab make_vocab(std::int64_t size) {
  Vocab v;
  auto push = [&](std::string piece, float score, std::int32_t type) {
    v.tokens.push_back(std::move(piece));
    v.scores.push_back(score);
    v.types.push_back(type);
  };
  push("<unk>", 0.0F, 2);
  push("<s>", 0.0F, 3);
  push("</s>", 0.0F, 3);
  for (int b = 0; b < 256; ++b) push(fmt::format("<0x{:02X}>", b), 0.0F, 6);
  const std::string space = "\xE2\x96\x81";  // U+2581, SentencePiece's word-start marker
  std::vector<std::string> pieces = {space};
  for (char ch = 'a'; ch <= 'z'; ++ch) pieces.emplace_back(1, ch);
  for (char ch = 'a'; ch <= 'z'; ++ch) pieces.push_back(space + std::string(1, ch));
  for (char x = 'a'; x <= 'z'; ++x) {
    for (char y = 'a'; y <= 'z'; ++y) pieces.push_back(std::string{x, y});
  }
  float score = -1.0F;
  for (std::size_t i = 0; static_cast<std::int64_t>(v.tokens.size()) < size; ++i, score -= 1.0F) {
    push(i < pieces.size() ? pieces[i] : fmt::format("<extra_{}>", i), score, i < pieces.size() ? 1 : 4);
  }
  return v;
}

std::vector<gguf::KeyValue> make_metadata(const SynthConfig& c) {
  using gguf::Value;
  const Vocab vocab = make_vocab(c.vocab);
  auto u32 = [](std::int64_t v) { return Value::from_u32(static_cast<std::uint32_t>(v)); };
  std::vector<gguf::KeyValue> kv = {
      {"general.architecture", Value::from_string("llama")},
      {"general.name", Value::from_string(c.name)},
      {"general.file_type", u32(c.weight_format == FormatId::F32   ? 0
                                : c.weight_format == FormatId::F16 ? 1
                                                                   : 32)},
      {"quantlm.synth.seed", Value::from_u64(c.seed)},
      {"llama.context_length", u32(c.context)},
      {"llama.embedding_length", u32(c.dim)},
      {"llama.feed_forward_length", u32(c.n_ff)},
      {"llama.block_count", u32(c.layers)},
      {"llama.attention.head_count", u32(c.heads)},
      {"llama.attention.head_count_kv", u32(c.kv_heads)},
      {"llama.rope.dimension_count", u32(c.dim / c.heads)},
      {"llama.rope.freq_base", Value::from_f32(c.rope_base)},
      {"llama.attention.layer_norm_rms_epsilon", Value::from_f32(c.rms_eps)},
      {"tokenizer.ggml.model", Value::from_string("llama")},
      {"tokenizer.ggml.tokens", Value::from_array({gguf::ValueType::string, vocab.tokens})},
      {"tokenizer.ggml.scores", Value::from_array({gguf::ValueType::f32, vocab.scores})},
      {"tokenizer.ggml.token_type", Value::from_array({gguf::ValueType::i32, vocab.types})},
      {"tokenizer.ggml.unknown_token_id", u32(0)},
      {"tokenizer.ggml.bos_token_id", u32(1)},
      {"tokenizer.ggml.eos_token_id", u32(2)},
  };
  return kv;
}

// Fills one tensor's bytes in its storage format.
std::vector<std::byte> make_tensor(const TensorPlan& plan, Rng& rng) {
  const std::int64_t n = plan.spec.shape.elements();
  std::vector<float> values(static_cast<std::size_t>(n), 1.0F);
  if (!plan.is_norm) {
    const double scale = 1.0 / std::sqrt(static_cast<double>(plan.spec.shape.innermost()));
    for (float& x : values) x = static_cast<float>(rng.normal() * scale);
  }
  const formats::FormatTraits& format = *plan.spec.format;
  std::vector<std::byte> bytes(static_cast<std::size_t>(n * format.block_bytes));
  switch (format.element_type) {
    case ElementType::f32:
      std::memcpy(bytes.data(), values.data(), bytes.size());
      break;
    case ElementType::f16:
    case ElementType::bf16: {
      std::vector<std::uint16_t> half(values.size());
      if (format.element_type == ElementType::f16) {
        fp32_to_fp16_row(values, half);
      } else {
        fp32_to_bf16_row(values, half);
      }
      std::memcpy(bytes.data(), half.data(), bytes.size());
      break;
    }
    case ElementType::blocks:
      throw make_error("synth: weight format {} is not supported (use F32, F16 or BF16)", format.name);
  }
  return bytes;
}

}  // namespace

void SynthConfig::validate() const {
  auto require = [](bool ok, std::string_view field, std::string_view expected) {
    if (!ok) throw make_error("synth: --{} must be {}", field, expected);
  };
  require(dim > 0 && dim <= 65536, "dim", "in [1, 65536]");
  require(n_ff > 0 && n_ff <= 262144, "ff", "in [1, 262144]");
  require(layers > 0 && layers <= 512, "layers", "in [1, 512]");
  require(heads > 0 && dim % heads == 0, "heads", "positive and divide --dim");
  require((dim / heads) % 2 == 0, "heads", "such that the head size (dim / heads) is even, for RoPE");
  require(kv_heads > 0 && heads % kv_heads == 0, "kv-heads", "positive and divide --heads");
  require(vocab >= 259 && vocab <= 1'000'000, "vocab", "in [259, 1000000] (3 special and 256 byte tokens at least)");
  require(context > 0 && context <= 1'048'576, "context", "in [1, 1048576]");
  const formats::FormatTraits& f = formats::traits(weight_format);
  require(f.is_float_weight, "type", "F32, F16 or BF16");
}

std::int64_t SynthConfig::parameter_count() const {
  const std::int64_t kv_dim = dim / heads * kv_heads;
  const std::int64_t per_layer = 2 * dim * dim + 2 * kv_dim * dim + 3 * n_ff * dim + 2 * dim;
  return 2 * vocab * dim + dim + layers * per_layer;
}

void write_synthetic_llama(const std::filesystem::path& path, const SynthConfig& config) {
  config.validate();
  std::vector<TensorPlan> plan = plan_tensors(config);
  std::vector<gguf::TensorSpec> specs;
  specs.reserve(plan.size());
  for (const TensorPlan& p : plan) specs.push_back(p.spec);
  gguf::GgufWriter writer(path, make_metadata(config), std::move(specs));
  Rng rng(config.seed);
  for (const TensorPlan& p : plan) writer.write_tensor(make_tensor(p, rng));
  writer.finish();
}

}  // namespace quantlm::model
