// Planning a model's quantization: llama.cpp's order and per-tensor choices, overrides and fallbacks.
#include "quant/plan.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "quant/file_types.h"

namespace quantlm::quant {
namespace {

using llama_rules::Category;

const gguf::Value* find_key(const std::vector<gguf::KeyValue>& metadata, std::string_view key) {
  for (const auto& kv : metadata) {
    if (kv.key == key) return &kv.value;
  }
  return nullptr;
}

// An integer key, or the first element of an integer array (per-layer head counts).
int int_key(const std::vector<gguf::KeyValue>& metadata, const std::string& key) {
  const gguf::Value* v = find_key(metadata, key);
  if (v == nullptr) return 0;
  if (const auto i = v->as_int()) return static_cast<int>(*i);
  if (const gguf::Array* a = v->as_array(); a != nullptr && a->size() > 0) {
    return std::visit(
        [](const auto& items) -> int {
          using T = typename std::decay_t<decltype(items)>::value_type;
          if constexpr (std::is_integral_v<T>) return static_cast<int>(items.front());
          return 0;
        },
        a->items);
  }
  return 0;
}

int block_number(const std::string& name) {
  if (name.rfind("blk.", 0) != 0) return -1;
  int n = -1;
  const auto [end, ec] = std::from_chars(name.data() + 4, name.data() + name.size(), n);
  return ec == std::errc() && end != name.data() + 4 ? n : -1;
}

// Rows of `cols` values can be stored: whole blocks, any length for row-level formats.
bool fits(const formats::FormatTraits& f, std::int64_t cols) { return f.row_length_ok(cols); }

// The fallback under the recipe's policy; sets plan.target, .fallback and .why.
void apply_fallback(const ResolvedRecipe& recipe, const std::string& name, std::int64_t cols, TensorPlan& plan) {
  const formats::FormatTraits& wanted = *plan.target;
  if (fits(wanted, cols)) return;
  const formats::FormatTraits* chosen = nullptr;
  switch (recipe.fallback) {
    case FallbackPolicy::llama:
      chosen = &formats::traits(*llama_rules::fallback(wanted.id, cols));
      break;
    case FallbackPolicy::quantlm:
      // llama.cpp's chain keeps files loadable by llama.cpp where it can; only
      // its last resort, F16, is replaced by a quantlm format near the bits
      // that were asked for.
      chosen = &formats::traits(*llama_rules::fallback(wanted.id, cols));
      if (chosen->id == formats::FormatId::F16) chosen = quantlm_fallback(wanted, cols);
      if (chosen == nullptr) {
        throw make_error(
            "--fallback quantlm: {} has rows of {} values, which {} cannot hold, and no quantlm format that can is "
            "available; use --fallback llama or name a type",
            name, cols, wanted.name);
      }
      break;
    case FallbackPolicy::format:
      chosen = recipe.fallback_format;
      if (!fits(*chosen, cols)) {
        throw make_error("--fallback {}: {} has rows of {} values, not a multiple of {}'s block of {}", chosen->name,
                         name, cols, chosen->name, chosen->block_elems);
      }
      break;
  }
  plan.why =
      fmt::format("{}; fallback from {} ({} columns, block {})", plan.why, wanted.name, cols, wanted.block_elems);
  plan.target = chosen;
  plan.fallback = true;
}

// A type the user named for one tensor must hold its rows: llama.cpp applies
// no fallback to these and would fail later, mid-file.
const formats::FormatTraits* checked(const formats::FormatTraits* f, const std::string& name, std::int64_t cols,
                                     std::string_view option) {
  if (!fits(*f, cols)) {
    throw make_error("{} {}: {} has rows of {} values, not a multiple of {}'s block of {}", option, f->name, name, cols,
                     f->name, f->block_elems);
  }
  return f;
}

}  // namespace

int TensorDesc::n_dims() const {
  int n = static_cast<int>(ne.size());
  while (n > 1 && ne[static_cast<std::size_t>(n - 1)] == 1) --n;
  return n;
}

llama_rules::ModelFacts model_facts(const std::vector<gguf::KeyValue>& metadata) {
  llama_rules::ModelFacts f;
  if (const gguf::Value* v = find_key(metadata, "general.architecture"); v != nullptr && v->as_string() != nullptr) {
    f.arch = *v->as_string();
  }
  f.n_layer = int_key(metadata, f.arch + ".block_count");
  f.n_head = int_key(metadata, f.arch + ".attention.head_count");
  f.n_head_kv = int_key(metadata, f.arch + ".attention.head_count_kv");
  if (f.n_head_kv == 0) f.n_head_kv = f.n_head;  // llama.cpp's default: no grouping
  f.n_expert = int_key(metadata, f.arch + ".expert_count");
  return f;
}

std::vector<std::size_t> llama_order(std::span<const TensorDesc> tensors) {
  std::vector<std::size_t> order(tensors.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const int la = block_number(tensors[a].name);
    const int lb = block_number(tensors[b].name);
    if (la != lb) return la < lb;
    return tensors[a].name < tensors[b].name;
  });
  return order;
}

const formats::FormatTraits* quantlm_fallback(const formats::FormatTraits& target, std::int64_t cols) {
  const double want = target.bits_per_weight();
  const formats::FormatTraits* above = nullptr;
  const formats::FormatTraits* below = nullptr;
  for (const formats::FormatTraits& f : formats::all_formats()) {
    if (f.origin != formats::Origin::quantlm || f.quantize_ref == nullptr || !fits(f, cols)) continue;
    const double bpw = f.bits_per_weight(cols);
    if (bpw >= want) {
      if (above == nullptr || bpw < above->bits_per_weight(cols)) above = &f;
    } else if (below == nullptr || bpw > below->bits_per_weight(cols)) {
      below = &f;
    }
  }
  return above != nullptr ? above : below;
}

Plan plan_tensors(const ResolvedRecipe& recipe, const llama_rules::ModelFacts& facts,
                  std::span<const TensorDesc> tensors, bool has_imatrix) {
  const Recipe& r = recipe.recipe;
  const std::uint32_t ftype = recipe.file_type != nullptr ? recipe.file_type->ftype : 0;
  llama_rules::MixState state;
  for (const TensorDesc& t : tensors) {
    const Category c = llama_rules::category(t.name);
    if (llama_rules::is_attn_v_like(c)) ++state.n_attention_wv;
    if (c == Category::output) state.tied_embeddings = false;
  }
  const llama_rules::MixInput mix_in{ftype, &facts, has_imatrix, recipe.output_type};
  std::vector<bool> rule_used(recipe.rules.size(), false);

  Plan plan;
  for (const std::size_t index : llama_order(tensors)) {
    const TensorDesc& t = tensors[index];
    TensorPlan p;
    p.source_index = index;
    p.source = t.format;
    p.target = t.format;
    p.quantizable = llama_rules::allows_quantization(t.name, t.n_dims(), r.leave_output_tensor);
    const Category c = llama_rules::category(t.name);
    const std::int64_t cols = t.cols();
    if (!p.quantizable) {
      p.why = t.n_dims() < 2 ? "kept: 1-D" : "kept: not quantized by llama.cpp's rules";
    } else if (recipe.token_embedding_type != nullptr && c == Category::token_embd) {
      p.target = checked(recipe.token_embedding_type, t.name, cols, "--token-embedding-type");
      p.why = "--token-embedding-type";
    } else if (recipe.output_type != nullptr && c == Category::output) {
      p.target = checked(recipe.output_type, t.name, cols, "--output-tensor-type");
      p.why = "--output-tensor-type";
    } else {
      p.target = recipe.base;
      p.why = r.pure ? "--pure" : "preset";
      if (is_quantized(*recipe.base)) {
        bool manual = false;
        for (std::size_t i = 0; i < recipe.rules.size(); ++i) {
          if (!std::regex_search(t.name, recipe.rules[i].regex)) continue;
          rule_used[i] = true;
          p.target = recipe.rules[i].format;
          p.why = "--tensor-type " + recipe.rules[i].text;
          manual = true;
          break;  // the first matching rule wins, as in llama.cpp
        }
        if (!manual && recipe.uses_mix()) {
          std::string why;
          p.target = &formats::traits(llama_rules::mix(mix_in, state, p.target->id, c, t.name, cols, why));
          if (!why.empty() && p.target != recipe.base) p.why = why;
        }
        apply_fallback(recipe, t.name, cols, p);
        if (p.fallback) ++plan.fallbacks;
      }
    }
    if (p.quantizable && !has_imatrix && llama_rules::requires_imatrix(t.name, p.target->id, ftype)) {
      throw make_error("{} needs an importance matrix for {} ({}): pass --imatrix FILE", r.type, t.name,
                       p.target->name);
    }
    plan.tensors.push_back(std::move(p));
  }
  // A rule that never matched is almost always a typo, and llama.cpp would
  // ignore it without a word; name it instead.
  for (std::size_t i = 0; i < recipe.rules.size(); ++i) {
    if (rule_used[i]) continue;
    const bool matches_any = std::any_of(tensors.begin(), tensors.end(), [&](const TensorDesc& t) {
      return llama_rules::allows_quantization(t.name, t.n_dims(), r.leave_output_tensor) &&
             std::regex_search(t.name, recipe.rules[i].regex);
    });
    if (!matches_any) {
      throw make_error("--tensor-type '{}' matches no quantizable tensor (names look like blk.0.attn_v.weight)",
                       recipe.rules[i].text);
    }
  }
  return plan;
}

}  // namespace quantlm::quant
