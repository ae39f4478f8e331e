// The rules of llama.cpp's quantizer, written from its behaviour so that quantlm picks the same format per tensor.
#include "quant/llama_rules.h"

#include <algorithm>
#include <array>
#include <charconv>

#include "core/error.h"

namespace quantlm::quant::llama_rules {
namespace {

using formats::FormatId;

// LLAMA_FTYPE_* values the rules test (llama.h). Rules for file types quantlm
// cannot write (IQ1/IQ2/IQ3 mixes, MXFP4) are left out with those presets.
constexpr std::uint32_t kQ4_0 = 2;
constexpr std::uint32_t kQ5_0 = 8;
constexpr std::uint32_t kQ2_K = 10;
constexpr std::uint32_t kQ3_K_S = 11;
constexpr std::uint32_t kQ3_K_M = 12;
constexpr std::uint32_t kQ3_K_L = 13;
constexpr std::uint32_t kQ4_K_S = 14;
constexpr std::uint32_t kQ4_K_M = 15;
constexpr std::uint32_t kQ5_K_M = 17;
constexpr std::uint32_t kQ2_K_S = 21;
constexpr std::uint32_t kIQ4_NL = 25;
constexpr std::uint32_t kIQ4_XS = 30;
constexpr std::uint32_t kTQ1_0 = 36;
constexpr std::uint32_t kTQ2_0 = 37;

bool contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }
bool ends_with(std::string_view s, std::string_view tail) {
  return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

// Name fragments of tensors llama.cpp never quantizes: small, or read as
// something other than a weight matrix (routers, positions, convolutions).
constexpr std::array<std::string_view, 35> kNeverQuantized = {"_norm.weight",
                                                              "ffn_gate_inp.weight",
                                                              "ffn_gate_tid2eid.weight",
                                                              "altup",
                                                              "laurel",
                                                              "per_layer_model_proj",
                                                              "ssm_conv1d",
                                                              "shortconv.conv.weight",
                                                              "indexer.k_proj.weight",
                                                              "indexer.q_proj.weight",
                                                              "time_mix_first.weight",
                                                              "time_mix_w0.weight",
                                                              "time_mix_w1.weight",
                                                              "time_mix_w2.weight",
                                                              "time_mix_v0.weight",
                                                              "time_mix_v1.weight",
                                                              "time_mix_v2.weight",
                                                              "time_mix_a0.weight",
                                                              "time_mix_a1.weight",
                                                              "time_mix_a2.weight",
                                                              "time_mix_g1.weight",
                                                              "time_mix_g2.weight",
                                                              "time_mix_decay_w1.weight",
                                                              "time_mix_decay_w2.weight",
                                                              "time_mix_lerp_fused.weight",
                                                              "attn_rel_b.weight",
                                                              ".position_embd",
                                                              "sam.pos_embd",
                                                              "sam.neck.",
                                                              "sam.net_",
                                                              ".rel_pos",
                                                              ".patch_embd",
                                                              ".patch_merger",
                                                              "a.rvq.codebook",
                                                              "mm.a.code_embd"};

// The block a tensor belongs to, from "blk.N."; -1 when there is none.
int block_of(std::string_view name) {
  if (name.substr(0, 4) != "blk.") return -1;
  int layer = -1;
  const char* begin = name.data() + 4;
  const auto [end, ec] = std::from_chars(begin, name.data() + name.size(), layer);
  return ec == std::errc() && end != begin ? layer : -1;
}

// llama.cpp counts ffn tensors to find their layer, except in mixtures of
// experts, whose tensors it locates by name.
int ffn_layer(const MixInput& in, int counter, std::string_view name) {
  if (in.facts->n_expert <= 1) return counter;
  const int layer = block_of(name);
  if (layer < 0) throw make_error("cannot find the block number of tensor '{}'", name);
  if (layer >= in.facts->n_layer)
    throw make_error("tensor '{}' is in block {}, outside [0, {})", name, layer, in.facts->n_layer);
  return layer;
}

FormatId output_rule(const MixInput& in, FormatId current, std::int64_t cols, std::string& why) {
  if (in.output_type != nullptr) {
    why = "--output-tensor-type (tied embeddings)";
    return in.output_type->id;
  }
  if (in.facts->is_falcon() || !formats::traits(current).row_length_ok(cols)) {
    why = "output: Q8_0 (row length)";
    return FormatId::Q8_0;
  }
  if (current != FormatId::Q8_0) {
    why = "output: Q6_K";
    return FormatId::Q6_K;
  }
  return current;
}

// The rule chains below keep llama.cpp's branches one for one and in its
// order (first match wins), so that they can be checked against it line by
// line; merging the branches that pick the same format would lose that.
// NOLINTBEGIN(bugprone-branch-clone)
FormatId attn_v_rule(const MixInput& in, MixState& s, FormatId t, std::string& why) {
  const std::uint32_t f = in.ftype;
  const int gqa = in.facts->n_gqa();
  if (f == kQ2_K) {
    t = gqa >= 4 ? FormatId::Q4_K : FormatId::Q3_K;
  } else if (f == kQ2_K_S && gqa >= 4) {
    t = FormatId::Q4_K;
  } else if (f == kQ3_K_M) {
    t = s.i_attention_wv < 2 ? FormatId::Q5_K : FormatId::Q4_K;
  } else if (f == kQ3_K_L) {
    t = FormatId::Q5_K;
  } else if ((f == kIQ4_NL || f == kIQ4_XS) && gqa >= 4) {
    t = FormatId::Q5_K;
  } else if ((f == kQ4_K_M || f == kQ5_K_M) && use_more_bits(s.i_attention_wv, s.n_attention_wv)) {
    t = FormatId::Q6_K;
  } else if (f == kQ4_K_S && s.i_attention_wv < 4) {
    t = FormatId::Q5_K;
  }
  // 70B: eight heads share each attn_v, which is 8x smaller than attn_q; more bits cost little.
  if (in.facts->is_70b() && (t == FormatId::Q3_K || t == FormatId::Q4_K)) t = FormatId::Q5_K;
  if (in.facts->n_expert == 8) t = FormatId::Q8_0;
  why = fmt::format("mix: attn_v #{} of {}", s.i_attention_wv, s.n_attention_wv);
  ++s.i_attention_wv;
  return t;
}

FormatId ffn_down_rule(const MixInput& in, MixState& s, FormatId t, std::string_view name, std::string& why) {
  const std::uint32_t f = in.ftype;
  const int i = ffn_layer(in, s.i_ffn_down, name);
  const int n = in.facts->n_layer;
  const bool falcon = in.facts->is_falcon();
  if (f == kQ2_K) {
    t = FormatId::Q3_K;
  } else if (f == kQ2_K_S) {
    if (i < n / 8) t = FormatId::Q4_K;
  } else if (f == kQ3_K_M) {
    t = i < n / 16 ? FormatId::Q5_K : !falcon || use_more_bits(i, n) ? FormatId::Q4_K : FormatId::Q3_K;
  } else if (f == kQ3_K_L) {
    t = falcon ? FormatId::Q4_K : FormatId::Q5_K;
  } else if (f == kQ4_K_M) {
    if (falcon) {
      t = i < n / 16 ? FormatId::Q6_K : use_more_bits(i, n) ? FormatId::Q5_K : FormatId::Q4_K;
    } else if (use_more_bits(i, n)) {
      t = FormatId::Q6_K;
    }
  } else if (i < n / 8 && (f == kIQ4_NL || f == kIQ4_XS) && !in.has_imatrix) {
    t = FormatId::Q5_K;
  } else if (f == kQ5_K_M && use_more_bits(i, n)) {
    t = FormatId::Q6_K;
  } else if (f == kQ4_K_S && !falcon && i < n / 8) {
    t = FormatId::Q5_K;
  } else if ((f == kQ4_0 || f == kQ5_0) && in.has_imatrix && i < n / 8) {
    // llama.cpp guards the first ffn_down layers of Q4_0/Q5_0 only with an
    // imatrix, so that files made without one stay as they always were.
    t = f == kQ4_0 ? FormatId::Q4_1 : FormatId::Q5_1;
  }
  why = fmt::format("mix: ffn_down layer {} of {}", i, n);
  ++s.i_ffn_down;
  return t;
}
// NOLINTEND(bugprone-branch-clone)

FormatId attn_output_rule(const MixInput& in, FormatId t) {
  const std::uint32_t f = in.ftype;
  if (in.facts->is_falcon()) return f == kQ3_K_L ? FormatId::Q4_K : t;
  if (in.facts->n_expert == 8) {
    const bool bump =
        f == kQ2_K || f == kQ3_K_S || f == kQ3_K_M || f == kIQ4_NL || f == kQ4_K_S || f == kQ4_K_M || f == kIQ4_XS;
    return bump ? FormatId::Q5_K : t;
  }
  if (f == kQ2_K) return FormatId::Q3_K;
  if (f == kQ3_K_M) return FormatId::Q4_K;
  if (f == kQ3_K_L) return FormatId::Q5_K;
  return t;
}

}  // namespace

Category category(std::string_view name) {
  if (name == "output.weight") return Category::output;
  if (name == "token_embd.weight" || name == "per_layer_token_embd.weight") return Category::token_embd;
  if (contains(name, "attn_qkv.weight")) return Category::attn_qkv;
  if (contains(name, "attn_kv_b.weight")) return Category::attn_kv_b;
  if (contains(name, "attn_v.weight")) return Category::attn_v;
  if (contains(name, "attn_k.weight")) return Category::attn_k;
  if (contains(name, "attn_q.weight")) return Category::attn_q;
  if (contains(name, "attn_output.weight")) return Category::attn_output;
  if (contains(name, "ffn_up")) return Category::ffn_up;
  if (contains(name, "ffn_gate")) return Category::ffn_gate;
  if (contains(name, "ffn_down")) return Category::ffn_down;
  return Category::other;
}

bool is_attn_v_like(Category c) { return c == Category::attn_v || c == Category::attn_qkv || c == Category::attn_kv_b; }

std::string_view to_string(Category c) {
  constexpr std::array<std::string_view, 12> kNames = {"token_embd", "attn_q",    "attn_v",      "attn_k",
                                                       "attn_qkv",   "attn_kv_b", "attn_output", "ffn_up",
                                                       "ffn_gate",   "ffn_down",  "output",      "other"};
  return kNames[static_cast<std::size_t>(c)];
}

bool allows_quantization(std::string_view name, int n_dims, bool leave_output_tensor) {
  if (n_dims < 2 || !ends_with(name, "weight")) return false;
  if (leave_output_tensor && name == "output.weight") return false;
  if (name == "position_embd.weight" || name == "token_types.weight") return false;
  return std::ranges::none_of(kNeverQuantized, [&](std::string_view part) { return contains(name, part); });
}

bool use_more_bits(int i_layer, int n_layers) {
  return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

FormatId mix(const MixInput& in, MixState& state, FormatId current, Category category, std::string_view name,
             std::int64_t cols, std::string& why) {
  if (category == Category::output || (state.tied_embeddings && category == Category::token_embd)) {
    return output_rule(in, current, cols, why);
  }
  switch (category) {
    case Category::token_embd:
      if (in.ftype == kTQ1_0 || in.ftype == kTQ2_0) {
        why = "mix: token_embd Q4_K";
        return FormatId::Q4_K;
      }
      return current;
    case Category::attn_v:
    case Category::attn_qkv:  // llama.cpp's separate attn_qkv rule is unreachable behind this one
    case Category::attn_kv_b:
      return attn_v_rule(in, state, current, why);
    case Category::attn_k:
      if (in.facts->n_expert == 8) {
        why = "mix: attn_k of 8 experts";
        return FormatId::Q8_0;
      }
      return current;
    case Category::ffn_down:
      return ffn_down_rule(in, state, current, name, why);
    case Category::attn_output: {
      const FormatId t = attn_output_rule(in, current);
      if (t != current) why = "mix: attn_output";
      return t;
    }
    case Category::ffn_gate:
      (void)ffn_layer(in, state.i_ffn_gate++, name);  // validates MoE names as llama.cpp does
      return current;
    case Category::ffn_up:
      (void)ffn_layer(in, state.i_ffn_up++, name);
      return current;
    default:
      return current;
  }
}

std::optional<FormatId> fallback(FormatId target, std::int64_t cols) {
  const formats::FormatTraits& t = formats::traits(target);
  if (t.row_length_ok(cols)) return std::nullopt;
  FormatId next = FormatId::F16;
  switch (target) {
    case FormatId::IQ4_XS:
      next = FormatId::IQ4_NL;
      break;
    case FormatId::Q2_K:
    case FormatId::Q3_K:
    case FormatId::TQ1_0:
    case FormatId::TQ2_0:
      next = FormatId::Q4_0;
      break;
    case FormatId::Q4_K:
      next = FormatId::Q5_0;
      break;
    case FormatId::Q5_K:
      next = FormatId::Q5_1;
      break;
    case FormatId::Q6_K:
      next = FormatId::Q8_0;
      break;
    default:
      break;
  }
  if (!formats::traits(next).row_length_ok(cols)) next = FormatId::F16;
  return next;
}

bool requires_imatrix(std::string_view name, FormatId target, std::uint32_t ftype) {
  if (name == "token_embd.weight" || name == "per_layer_token_embd.weight" || name == "output.weight") return false;
  return target == FormatId::Q2_K && ftype == kQ2_K_S;
}

}  // namespace quantlm::quant::llama_rules
