// Tensor names and shapes of a Hugging Face Llama/Qwen2 checkpoint and their GGUF counterparts.
#include "io/loaders/hf_names.h"

#include <fmt/format.h>

#include <array>
#include <charconv>
#include <utility>

namespace quantlm::io {

namespace {

// Per-block names after "model.layers.N." and after "blk.N.".
constexpr std::array<std::pair<std::string_view, std::string_view>, 12> kBlockNames = {{
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"self_attn.q_proj.bias", "attn_q.bias"},
    {"self_attn.k_proj.bias", "attn_k.bias"},
    {"self_attn.v_proj.bias", "attn_v.bias"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
    {"input_layernorm.weight", "attn_norm.weight"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
}};

constexpr std::array<std::pair<std::string_view, std::string_view>, 3> kGlobalNames = {{
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight"},
}};

// Splits "<prefix><N>.<rest>" into N and rest; nullopt when `name` has another form.
std::optional<std::pair<std::int64_t, std::string_view>> split_block(std::string_view name, std::string_view prefix) {
  if (!name.starts_with(prefix)) return std::nullopt;
  name.remove_prefix(prefix.size());
  std::int64_t block = 0;
  const auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), block);
  if (ec != std::errc() || end == name.data() || *end != '.' || block < 0) return std::nullopt;
  // No leading zeros: "blk.01" and "blk.1" must not both map to one tensor.
  if (name[0] == '0' && end - name.data() > 1) return std::nullopt;
  return std::pair{block, name.substr(static_cast<std::size_t>(end - name.data()) + 1)};
}

std::optional<std::string> translate(std::string_view name, bool to_gguf) {
  for (const auto& [hf, gg] : kGlobalNames) {
    if (name == (to_gguf ? hf : gg)) return std::string(to_gguf ? gg : hf);
  }
  const auto split = split_block(name, to_gguf ? "model.layers." : "blk.");
  if (!split) return std::nullopt;
  for (const auto& [hf, gg] : kBlockNames) {
    if (split->second == (to_gguf ? hf : gg)) {
      return fmt::format("{}{}.{}", to_gguf ? "blk." : "model.layers.", split->first, to_gguf ? gg : hf);
    }
  }
  return std::nullopt;
}

Shape matrix(std::int64_t rows, std::int64_t cols) { return Shape{{rows, cols, 0, 0}, 2}; }
Shape vector(std::int64_t n) { return Shape{{n, 0, 0, 0}, 1}; }

}  // namespace

std::optional<std::string> hf_to_gguf_name(std::string_view hf_name) { return translate(hf_name, true); }
std::optional<std::string> gguf_to_hf_name(std::string_view gguf_name) { return translate(gguf_name, false); }

std::vector<ExpectedTensor> expected_tensors(const HfConfig& c) {
  const std::int64_t q_rows = c.n_heads * c.head_dim;
  const std::int64_t kv_rows = c.n_kv_heads * c.head_dim;
  const std::int64_t q_heads = c.permutes_qk() ? c.n_heads : 0;
  const std::int64_t k_heads = c.permutes_qk() ? c.n_kv_heads : 0;
  std::vector<ExpectedTensor> out;
  out.push_back({"token_embd.weight", matrix(c.vocab_size, c.hidden_size)});
  out.push_back({"output_norm.weight", vector(c.hidden_size)});
  out.push_back({"output.weight", matrix(c.vocab_size, c.hidden_size), !c.tie_word_embeddings});
  for (std::int64_t b = 0; b < c.n_layers; ++b) {
    const auto name = [b](std::string_view suffix) { return fmt::format("blk.{}.{}", b, suffix); };
    out.push_back({name("attn_q.weight"), matrix(q_rows, c.hidden_size), true, q_heads});
    if (c.attention_bias) out.push_back({name("attn_q.bias"), vector(q_rows), true, q_heads});
    out.push_back({name("attn_k.weight"), matrix(kv_rows, c.hidden_size), true, k_heads});
    if (c.attention_bias) out.push_back({name("attn_k.bias"), vector(kv_rows), true, k_heads});
    out.push_back({name("attn_v.weight"), matrix(kv_rows, c.hidden_size)});
    if (c.attention_bias) out.push_back({name("attn_v.bias"), vector(kv_rows)});
    out.push_back({name("attn_output.weight"), matrix(c.hidden_size, q_rows)});
    out.push_back({name("attn_norm.weight"), vector(c.hidden_size)});
    out.push_back({name("ffn_gate.weight"), matrix(c.intermediate_size, c.hidden_size)});
    out.push_back({name("ffn_down.weight"), matrix(c.hidden_size, c.intermediate_size)});
    out.push_back({name("ffn_up.weight"), matrix(c.intermediate_size, c.hidden_size)});
    out.push_back({name("ffn_norm.weight"), vector(c.hidden_size)});
  }
  return out;
}

}  // namespace quantlm::io
