// Binding a Llama-family model's tensors by GGUF name, with errors that say which tensor is wrong and why.
#include "model/llama_weights.h"

#include <fmt/format.h>

#include <set>
#include <string>

#include "core/error.h"
#include "io/tokenizer/tokenizer.h"
#include "kernels/matmul.h"

namespace quantlm::model {
namespace {

Shape shape_of(std::int64_t n) { return Shape{{n}, 1}; }
Shape shape_of(std::int64_t rows, std::int64_t cols) { return Shape{{rows, cols}, 2}; }

// Looks tensors up by name, remembers which were used, and checks shapes and formats.
class Binder {
 public:
  explicit Binder(const io::ModelSource& source) : source_(source) {}

  // nullptr when absent and optional. `meaning` says where the expected shape comes from.
  const io::SourceTensor* find(const std::string& name, const Shape& expected, const char* meaning, bool required) {
    const io::SourceTensor* t = source_.find_tensor(name);
    if (t == nullptr) {
      if (required) throw make_error("{}: tensor '{}' is missing", source_.description, name);
      return nullptr;
    }
    used_.insert(name);
    if (t->shape != expected) {
      throw make_error("{}: tensor '{}' has shape {}, expected {} ({})", source_.description, name,
                       t->shape.to_string(), expected.to_string(), meaning);
    }
    return t;
  }

  // A weight matrix, kept in its stored format: any format a kernel computes with.
  TensorView matrix(const std::string& name, std::int64_t rows, std::int64_t cols, const char* meaning) {
    const io::SourceTensor* t = find(name, shape_of(rows, cols), meaning, true);
    check_computable(*t);
    return t->view();
  }

  // A vector (norm, bias) decoded to f32; empty when absent and optional.
  std::vector<float> vector(const std::string& name, std::int64_t n, const char* meaning, bool required = true) {
    const io::SourceTensor* t = find(name, shape_of(n), meaning, required);
    if (t == nullptr) return {};
    if (t->format->dequantize == nullptr || !t->format->row_length_ok(n)) {
      throw make_error("{}: tensor '{}' has type {}, which quantlm cannot decode", source_.description, name,
                       t->format->name);
    }
    std::vector<float> out(static_cast<std::size_t>(n));
    t->format->dequantize(t->data.data(), out.data(), n);
    return out;
  }

  void check_computable(const io::SourceTensor& t) const {
    if (kernels::kernels_for(*t.format).empty()) {
      throw make_error("{}: tensor '{}' has type {}, which quantlm cannot compute with yet", source_.description,
                       t.name, t.format->name);
    }
  }

  // Every tensor of the source that no find() asked for.
  void reject_unused(const std::string& what) const {
    std::vector<std::string> extra;
    for (const io::SourceTensor& t : source_.tensors) {
      if (!used_.contains(t.name)) extra.push_back(t.name);
    }
    if (extra.empty()) return;
    std::string list;
    for (std::size_t i = 0; i < extra.size() && i < 5; ++i) list += (i > 0 ? ", '" : "'") + extra[i] + "'";
    if (extra.size() > 5) list += fmt::format(" and {} more", extra.size() - 5);
    throw make_error("{}: {} unexpected tensor{} for {}: {}", source_.description, extra.size(),
                     extra.size() == 1 ? "" : "s", what, list);
  }

 private:
  const io::ModelSource& source_;
  std::set<std::string> used_;
};

// The vocabulary size is the embedding's; everything else that states one must agree.
void check_vocabulary(const io::ModelSource& source, const LlamaConfig& c) {
  if (const gguf::Value* v = source.find(c.architecture + ".vocab_size"); v != nullptr) {
    if (v->as_int() != c.vocab_size) {
      throw make_error("{}: {}.vocab_size is {}, but token_embd.weight has {} rows", source.description, c.architecture,
                       v->to_display_string(), c.vocab_size);
    }
  }
  if (source.tokenizer != nullptr && source.tokenizer->vocab_size() != c.vocab_size) {
    throw make_error("{}: the tokenizer has {} tokens, but token_embd.weight has {} rows", source.description,
                     source.tokenizer->vocab_size(), c.vocab_size);
  }
}

}  // namespace

LlamaWeights bind_llama_weights(const io::ModelSource& source, LlamaConfig& c) {
  Binder b(source);
  LlamaWeights w;

  // The embedding fixes the vocabulary; its rows are decoded one at a time, so any decodable format will do.
  const io::SourceTensor* embd = source.find_tensor("token_embd.weight");
  if (embd == nullptr) throw make_error("{}: tensor 'token_embd.weight' is missing", source.description);
  if (embd->shape.rank != 2 || embd->shape[1] != c.dim) {
    throw make_error("{}: tensor 'token_embd.weight' has shape {}, expected [vocab, {}] (embedding_length columns)",
                     source.description, embd->shape.to_string(), c.dim);
  }
  c.vocab_size = embd->shape[0];
  b.find("token_embd.weight", embd->shape, "vocabulary, embedding_length", true);
  b.check_computable(*embd);
  w.token_embd = embd->view();
  check_vocabulary(source, c);

  w.output_norm = b.vector("output_norm.weight", c.dim, "embedding_length");
  if (const io::SourceTensor* out = b.find("output.weight", shape_of(c.vocab_size, c.dim),
                                           "token_embd.weight's vocabulary, embedding_length", false)) {
    b.check_computable(*out);
    w.output = out->view();
  } else {
    w.output = w.token_embd;  // tied: the embedding doubles as the output projection
    w.tied_output = true;
  }
  w.rope_freq_factors = b.vector("rope_freqs.weight", c.n_rot / 2, "rope.dimension_count / 2", false);

  bool any_bias = false;
  for (std::int64_t i = 0; i < c.n_layers; ++i) {
    const std::string p = fmt::format("blk.{}.", i);
    LlamaLayer& l = w.layers.emplace_back();
    l.attn_norm = b.vector(p + "attn_norm.weight", c.dim, "embedding_length");
    l.wq = b.matrix(p + "attn_q.weight", c.q_dim(), c.dim, "head_count x head_dim, embedding_length");
    l.wk = b.matrix(p + "attn_k.weight", c.kv_dim(), c.dim, "head_count_kv x head_dim, embedding_length");
    l.wv = b.matrix(p + "attn_v.weight", c.kv_dim(), c.dim, "head_count_kv x head_dim, embedding_length");
    l.bq = b.vector(p + "attn_q.bias", c.q_dim(), "head_count x head_dim", c.qkv_bias);
    l.bk = b.vector(p + "attn_k.bias", c.kv_dim(), "head_count_kv x head_dim", c.qkv_bias);
    l.bv = b.vector(p + "attn_v.bias", c.kv_dim(), "head_count_kv x head_dim", c.qkv_bias);
    any_bias = any_bias || !l.bq.empty() || !l.bk.empty() || !l.bv.empty();
    l.wo = b.matrix(p + "attn_output.weight", c.dim, c.q_dim(), "embedding_length, head_count x head_dim");
    l.ffn_norm = b.vector(p + "ffn_norm.weight", c.dim, "embedding_length");
    l.w_gate = b.matrix(p + "ffn_gate.weight", c.n_ff, c.dim, "feed_forward_length, embedding_length");
    l.w_up = b.matrix(p + "ffn_up.weight", c.n_ff, c.dim, "feed_forward_length, embedding_length");
    l.w_down = b.matrix(p + "ffn_down.weight", c.dim, c.n_ff, "embedding_length, feed_forward_length");
  }
  // A llama file may carry q/k/v biases (llama.cpp loads them when present); then every layer needs all three.
  if (any_bias && !c.qkv_bias) {
    for (std::int64_t i = 0; i < c.n_layers; ++i) {
      const LlamaLayer& l = w.layers[static_cast<std::size_t>(i)];
      if (l.bq.empty() || l.bk.empty() || l.bv.empty()) {
        throw make_error("{}: block {} lacks some of attn_q.bias, attn_k.bias and attn_v.bias that other blocks have",
                         source.description, i);
      }
    }
    c.qkv_bias = true;
  }
  b.reject_unused(fmt::format("a {} model with {} blocks", c.architecture, c.n_layers));
  return w;
}

}  // namespace quantlm::model
