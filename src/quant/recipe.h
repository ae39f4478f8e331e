// A quantization recipe: what the user asked for (preset, overrides, fallbacks, scale options), validated and as JSON.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <regex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "formats/format_traits.h"
#include "formats/quantize.h"
#include "quant/file_types.h"

namespace quantlm::quant {

// One --tensor-type REGEX=TYPE rule. As in llama.cpp the rules are tried in
// the order given and the first whose regex matches somewhere in the tensor's
// name (std::regex_search) decides; they apply only under quantized presets.
struct TensorTypeRule {
  std::string pattern;
  std::string type;
  friend bool operator==(const TensorTypeRule&, const TensorTypeRule&) = default;
};

// What happens to a tensor whose row length is not a multiple of its chosen
// format's block size (stories260K: 64 and 172 columns against K-quants' 256).
enum class FallbackPolicy : std::uint8_t {
  llama,    // llama.cpp's chain: K-quants to legacy types, then F16 (bit-compatible files)
  quantlm,  // llama.cpp's chain, but a quantlm format (ragged last group) where it would end in F16
  format,   // one named format (Recipe::fallback holds its name)
};

// The recipe as given: names, not resolved pointers, so that it reads back
// from JSON exactly. Defaults are llama-quantize's.
struct Recipe {
  static constexpr int kVersion = 1;  // of the JSON layout

  std::string type;   // a preset (find_file_type) or a quantlm format name
  bool pure = false;  // --pure: no per-tensor mix, every matrix in the base format
  bool leave_output_tensor = false;
  std::string output_tensor_type;    // empty: the preset's rule
  std::string token_embedding_type;  // empty: the preset's rule
  std::vector<TensorTypeRule> tensor_types;
  std::string fallback = "llama";  // "llama", "quantlm" or a format name
  bool allow_requantize = false;   // quantize tensors whose source is already quantized
  formats::ScaleSearch scale_search = formats::ScaleSearch::format_default;
  double percentile = 99.9;  // for scale_search == percentile (double: reads back from JSON as written)
  formats::ScaleCorrection correction = formats::ScaleCorrection::none;
  bool correction_per_tensor = false;  // one factor per tensor instead of one per row
  bool tensor_scale = false;           // one scale for the whole tensor (quantlm's per-row formats)
  std::string imatrix;                 // llama.cpp imatrix GGUF; empty: none
  // How matrices are rounded: "rtn" (each block on its own, the default),
  // "gptq" (Hessian-guided, from activations of the float model over the
  // calibration text), "awq" (per-input-channel scales folded into the
  // preceding RMSNorm, then RTN) or "awq-gptq" (both); docs/GPTQ.md. Formats
  // GPTQ cannot write, and tensors that are no Linear the model runs
  // (token_embd), stay RTN.
  std::string method = "rtn";
  std::string calib;              // calibration text for gptq
  std::int64_t calib_ctx = 512;   // tokens per calibration chunk (llama-imatrix's default)
  std::int64_t calib_chunks = 0;  // 0: every whole chunk of the text
  double gptq_damp = 0.01;        // dampening, a fraction of mean(diag H)
  std::int64_t gptq_block = 128;  // columns per lazy update
  bool gptq_act_order = false;    // columns by decreasing activation, scales fixed up front

  friend bool operator==(const Recipe&, const Recipe&) = default;
};

// A name for an enum value, declared once: parsing, --help and JSON derive from these lists.
template <typename E>
struct NamedValue {
  E value;
  std::string_view name;
  std::string_view help;
};
[[nodiscard]] std::span<const NamedValue<formats::ScaleSearch>> scale_search_names();
[[nodiscard]] std::span<const NamedValue<formats::ScaleCorrection>> correction_names();
[[nodiscard]] std::string_view to_string(formats::ScaleSearch value);
[[nodiscard]] std::string_view to_string(formats::ScaleCorrection value);
// Throws quantlm::Error listing the valid names; `what` names the option in the message.
[[nodiscard]] formats::ScaleSearch parse_scale_search(std::string_view name, std::string_view what = "--scale-search");
[[nodiscard]] formats::ScaleCorrection parse_correction(std::string_view name, std::string_view what = "--gamma");

// "REGEX=TYPE" split at its last '=' (types never contain one, regexes may).
[[nodiscard]] TensorTypeRule parse_tensor_type_rule(std::string_view text);

// The recipe checked and bound to formats. Every name is looked up here, so
// an unknown one fails before any file is opened, with the valid names listed.
struct ResolvedRecipe {
  struct Rule {
    std::regex regex;
    const formats::FormatTraits* format;
    std::string text;  // "attn_v=Q8_0", for messages
  };
  Recipe recipe;
  const FileType* file_type = nullptr;                          // null when `type` names a quantlm format
  const formats::FormatTraits* base = nullptr;                  // the format most matrices get
  const formats::FormatTraits* output_type = nullptr;           // --output-tensor-type, or null
  const formats::FormatTraits* token_embedding_type = nullptr;  // --token-embedding-type, or null
  std::vector<Rule> rules;
  FallbackPolicy fallback = FallbackPolicy::llama;
  const formats::FormatTraits* fallback_format = nullptr;  // FallbackPolicy::format
  formats::QuantizeParams params;                          // scale search and correction; importance is per tensor

  // Whether llama.cpp's per-tensor mix applies (a quantized preset without --pure).
  [[nodiscard]] bool uses_mix() const { return file_type != nullptr && !recipe.pure && is_quantized(*base); }
};
[[nodiscard]] ResolvedRecipe resolve(const Recipe& recipe);

// Formats quantlm can write (a quantizer exists), as "F32, F16, Q4_0, ..." for messages.
[[nodiscard]] std::string producible_format_names();
// A producible format by name (case-insensitive); throws naming `what` and listing valid names otherwise.
[[nodiscard]] const formats::FormatTraits& producible_format(std::string_view name, std::string_view what);

// JSON: {"version": 1, "type": "Q4_K_M", "pure": false, ...}; every field is
// written, and from_json accepts a subset (missing fields take their defaults)
// but refuses unknown keys and a newer version, so a typo cannot pass silently.
[[nodiscard]] nlohmann::json to_json(const Recipe& recipe);
[[nodiscard]] Recipe recipe_from_json(const nlohmann::json& json, std::string_view source);
void save_recipe(const Recipe& recipe, const std::string& path);
[[nodiscard]] Recipe load_recipe(const std::string& path);

}  // namespace quantlm::quant
