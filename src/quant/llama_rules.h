// llama.cpp's per-tensor rules (src/llama-quant.cpp at 34af94cd), restated: what is quantized, the mixes, the
// fallbacks.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "formats/format_traits.h"

namespace quantlm::quant::llama_rules {

// llama.cpp's broad tensor categories, decided by name alone.
enum class Category : std::uint8_t {
  token_embd,
  attn_q,
  attn_v,
  attn_k,
  attn_qkv,
  attn_kv_b,
  attn_output,
  ffn_up,
  ffn_gate,
  ffn_down,
  output,
  other,
};
[[nodiscard]] Category category(std::string_view name);
[[nodiscard]] std::string_view to_string(Category c);
// attn_v and the fused projections that contain it (attn_qkv, attn_kv_b): the rules treat them alike.
[[nodiscard]] bool is_attn_v_like(Category c);

// Whether llama.cpp quantizes a tensor at all: matrices (n_dims >= 2, trailing
// dimensions of 1 not counted) whose name ends in "weight", except norms,
// expert routers, positional and small special-purpose tensors, and
// output.weight under --leave-output-tensor. Everything else keeps its type.
[[nodiscard]] bool allows_quantization(std::string_view name, int n_dims, bool leave_output_tensor);

// The hyperparameters the rules read, from the file's metadata.
struct ModelFacts {
  std::string arch;   // general.architecture
  int n_layer = 0;    // <arch>.block_count
  int n_head = 0;     // <arch>.attention.head_count (the first layer's when per layer)
  int n_head_kv = 0;  // <arch>.attention.head_count_kv
  int n_expert = 0;   // <arch>.expert_count

  [[nodiscard]] int n_gqa() const { return n_head_kv > 0 ? n_head / n_head_kv : 0; }
  [[nodiscard]] bool is_falcon() const { return arch == "falcon"; }
  // llama.cpp's LLM_TYPE_70B: a llama with 80 blocks and grouped-query attention.
  [[nodiscard]] bool is_70b() const { return arch == "llama" && n_layer == 80 && n_head != n_head_kv; }
};

// The counters llama.cpp advances as it visits tensors in its order (by block
// number, then by name): some rules depend on how many attn_v or ffn_down
// tensors came before. Tensors decided by --tensor-type or --pure skip the
// rules and so do not advance the counters, as in llama.cpp.
struct MixState {
  int n_attention_wv = 0;  // attn_v-like tensors in the model
  int i_attention_wv = 0;
  int i_ffn_down = 0;
  int i_ffn_gate = 0;
  int i_ffn_up = 0;
  bool tied_embeddings = true;  // no output.weight: token_embd serves as the output too
};

struct MixInput {
  std::uint32_t ftype = 0;  // LLAMA_FTYPE_* of the preset
  const ModelFacts* facts = nullptr;
  bool has_imatrix = false;
  const formats::FormatTraits* output_type = nullptr;  // --output-tensor-type, or null
};

// The format llama.cpp's mix gives a tensor of `category` starting from the
// preset's base format `current` (llama_tensor_get_type_impl). `cols` is the
// row length; `why` receives a short reason when the mix changed the format.
// Throws quantlm::Error where llama.cpp refuses (bad layer numbers in MoE names).
[[nodiscard]] formats::FormatId mix(const MixInput& in, MixState& state, formats::FormatId current, Category category,
                                    std::string_view name, std::int64_t cols, std::string& why);

// i_layer < n/8, or i_layer >= 7n/8, or every third layer in between.
[[nodiscard]] bool use_more_bits(int i_layer, int n_layers);

// llama.cpp's replacement for `target` when rows of `cols` values are not a
// whole number of its blocks: block-256 types fall back to a block-32 type
// (IQ4_XS -> IQ4_NL; Q2_K, Q3_K, TQ1_0, TQ2_0 -> Q4_0; Q4_K -> Q5_0;
// Q5_K -> Q5_1; Q6_K -> Q8_0), and whatever still does not fit is F16.
// nullopt when `target` fits.
[[nodiscard]] std::optional<formats::FormatId> fallback(formats::FormatId target, std::int64_t cols);

// Whether llama.cpp refuses to write `target` for this tensor without an
// importance matrix: of the formats quantlm writes, only Q2_K inside a Q2_K_S file.
[[nodiscard]] bool requires_imatrix(std::string_view name, formats::FormatId target, std::uint32_t ftype);

}  // namespace quantlm::quant::llama_rules
