// The per-tensor plan: which format each tensor of a model gets under a recipe, and why.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "formats/format_traits.h"
#include "io/gguf/gguf_value.h"
#include "quant/llama_rules.h"
#include "quant/recipe.h"

namespace quantlm::quant {

// A tensor as the plan sees it: GGUF's name, dimensions (innermost first) and stored format.
struct TensorDesc {
  std::string name;
  std::vector<std::uint64_t> ne;
  const formats::FormatTraits* format = nullptr;

  [[nodiscard]] std::int64_t cols() const { return ne.empty() ? 1 : static_cast<std::int64_t>(ne[0]); }
  // ggml_n_dims: trailing dimensions of 1 do not count (a [64, 1] tensor is 1-D).
  [[nodiscard]] int n_dims() const;
};

struct TensorPlan {
  std::size_t source_index = 0;  // into the descriptions given to plan_tensors
  const formats::FormatTraits* source = nullptr;
  const formats::FormatTraits* target = nullptr;
  std::string why;           // how the target was chosen: "preset", "mix: ffn_down layer 1 of 2", ...
  bool quantizable = false;  // llama.cpp would consider converting it at all
  bool fallback = false;     // the first choice did not fit the row length

  // Same format in and out: the bytes are copied unchanged.
  [[nodiscard]] bool copy() const { return target == source; }
};

struct Plan {
  std::vector<TensorPlan> tensors;  // in llama.cpp's order: the output file's order
  int fallbacks = 0;
};

// The hyperparameters llama.cpp's rules read, from GGUF metadata (missing keys read as 0).
[[nodiscard]] llama_rules::ModelFacts model_facts(const std::vector<gguf::KeyValue>& metadata);

// Tensor indices in llama-quantize's output order: tensors outside blocks
// first, then block by block (the number after "blk."), by name within each.
[[nodiscard]] std::vector<std::size_t> llama_order(std::span<const TensorDesc> tensors);

// Chooses every tensor's format as llama-quantize would (llama_tensor_get_type
// followed by its fallback), with quantlm's fallbacks when the recipe asks.
// Throws quantlm::Error for a --tensor-type rule that matches no quantizable
// tensor, an --output-tensor-type or --token-embedding-type that cannot hold
// the tensor's rows, a fallback that has no format to go to, and a preset
// that needs an importance matrix (Q2_K_S) when has_imatrix is false.
[[nodiscard]] Plan plan_tensors(const ResolvedRecipe& recipe, const llama_rules::ModelFacts& facts,
                                std::span<const TensorDesc> tensors, bool has_imatrix);

// The quantlm format --fallback quantlm puts where llama.cpp's chain ends in
// F16: among quantlm's formats that can be written and take rows of `cols`
// values, the one with the fewest bits per weight (at that row length, ragged
// groups included) not below `target`'s nominal figure, else the most below
// it; ties go to the lower id. nullptr when there is none.
[[nodiscard]] const formats::FormatTraits* quantlm_fallback(const formats::FormatTraits& target, std::int64_t cols);

}  // namespace quantlm::quant
