// Recipe validation (names to formats, regexes compiled once) and its JSON form.
#include "quant/recipe.h"

#include <array>
#include <cmath>
#include <fstream>
#include <iterator>
#include <sstream>

#include "core/error.h"

namespace quantlm::quant {
namespace {

using formats::ScaleCorrection;
using formats::ScaleSearch;

constexpr std::array kScaleSearches = {
    NamedValue<ScaleSearch>{ScaleSearch::format_default, "default",
                            "the format's own rule (llama.cpp's quantizer for its types)"},
    NamedValue<ScaleSearch>{ScaleSearch::min_max, "min-max", "step from the block's range"},
    NamedValue<ScaleSearch>{ScaleSearch::mse, "mse", "clipping searched for the least (importance-weighted) error"},
    NamedValue<ScaleSearch>{ScaleSearch::percentile, "percentile", "range from a percentile of |x| (--percentile)"},
    NamedValue<ScaleSearch>{ScaleSearch::paper_s_star, "s-star",
                            "the seed paper's s* = 2(max-min)/(2^b-1), kept only to be measured"},
    NamedValue<ScaleSearch>{ScaleSearch::absmean, "absmean",
                            "d = mean |x|: XNOR-Net's binary and BitNet b1.58's ternary scale"},
};

constexpr std::array kCorrections = {
    NamedValue<ScaleCorrection>{ScaleCorrection::none, "none", "scales as searched"},
    NamedValue<ScaleCorrection>{ScaleCorrection::gamma, "gamma", "the seed paper's sqrt(E[x^2]/E[Q(x)^2])"},
    NamedValue<ScaleCorrection>{ScaleCorrection::least_squares, "ls", "least squares E[x Q(x)]/E[Q(x)^2]"},
};

template <typename E, std::size_t N>
std::string names_of(const std::array<NamedValue<E>, N>& table) {
  std::string out;
  for (const auto& v : table) out += (out.empty() ? "" : ", ") + std::string(v.name);
  return out;
}

template <typename E, std::size_t N>
E parse_named(const std::array<NamedValue<E>, N>& table, std::string_view name, std::string_view what) {
  for (const auto& v : table) {
    if (v.name == name) return v.value;
  }
  throw make_error("{}: unknown value '{}' (expected one of: {})", what, name, names_of(table));
}

template <typename E, std::size_t N>
std::string_view name_of(const std::array<NamedValue<E>, N>& table, E value) {
  for (const auto& v : table) {
    if (v.value == value) return v.name;
  }
  return "?";
}

// Formats a weight can be written in: a quantizer exists, and it is not one of
// ggml's activation formats (Q8_1, Q8_K pair with others in dot products;
// llama.cpp has no matrix kernels that take them as weights).
bool is_producible(const formats::FormatTraits& f) {
  return f.quantize_ref != nullptr && f.id != formats::FormatId::Q8_1 && f.id != formats::FormatId::Q8_K;
}

}  // namespace

std::span<const NamedValue<ScaleSearch>> scale_search_names() { return kScaleSearches; }
std::span<const NamedValue<ScaleCorrection>> correction_names() { return kCorrections; }
std::string_view to_string(ScaleSearch value) { return name_of(kScaleSearches, value); }
std::string_view to_string(ScaleCorrection value) { return name_of(kCorrections, value); }
ScaleSearch parse_scale_search(std::string_view name, std::string_view what) {
  return parse_named(kScaleSearches, name, what);
}
ScaleCorrection parse_correction(std::string_view name, std::string_view what) {
  return parse_named(kCorrections, name, what);
}

TensorTypeRule parse_tensor_type_rule(std::string_view text) {
  const auto eq = text.rfind('=');
  if (eq == std::string_view::npos || eq == 0 || eq + 1 == text.size()) {
    throw make_error("--tensor-type '{}': expected REGEX=TYPE, e.g. attn_v=Q8_0", text);
  }
  return {std::string(text.substr(0, eq)), std::string(text.substr(eq + 1))};
}

std::string producible_format_names() {
  std::string out;
  for (const auto& f : formats::all_formats()) {
    if (is_producible(f)) out += (out.empty() ? "" : ", ") + std::string(f.name);
  }
  return out;
}

const formats::FormatTraits& producible_format(std::string_view name, std::string_view what) {
  const formats::FormatTraits* f = formats::find_format(name);
  if (f == nullptr || !is_producible(*f)) {
    throw make_error("{}: {} '{}' (quantlm can write: {})", what, f == nullptr ? "unknown type" : "cannot write type",
                     name, producible_format_names());
  }
  return *f;
}

ResolvedRecipe resolve(const Recipe& recipe) {
  ResolvedRecipe r;
  r.recipe = recipe;
  r.file_type = find_file_type(recipe.type);
  if (r.file_type != nullptr) {
    r.base = &formats::traits(r.file_type->base);
  } else {
    // A format of quantlm's own stands for "every matrix in it": llama.cpp's
    // mixes are tuned for its types and have nothing to say about ours.
    const formats::FormatTraits* f = formats::find_format(recipe.type);
    if (f == nullptr || f->origin != formats::Origin::quantlm || !is_producible(*f)) {
      throw make_error("unknown type '{}': expected a preset ({}) or a quantlm format", recipe.type, file_type_names());
    }
    r.base = f;
  }
  if (!recipe.output_tensor_type.empty())
    r.output_type = &producible_format(recipe.output_tensor_type, "--output-tensor-type");
  if (!recipe.token_embedding_type.empty())
    r.token_embedding_type = &producible_format(recipe.token_embedding_type, "--token-embedding-type");

  if (!recipe.tensor_types.empty() && !is_quantized(*r.base)) {
    throw make_error("--tensor-type needs a quantized type, not {}: llama.cpp ignores the rules for float presets",
                     r.base->name);
  }
  for (const TensorTypeRule& rule : recipe.tensor_types) {
    const std::string text = rule.pattern + "=" + rule.type;
    const formats::FormatTraits& f = producible_format(rule.type, fmt::format("--tensor-type '{}'", text));
    try {
      // llama.cpp lower-cases the pattern; icase matches the same (lower-case)
      // names without turning escapes such as \D or \W into \d or \w.
      r.rules.push_back({std::regex(rule.pattern, std::regex::ECMAScript | std::regex::icase), &f, text});
    } catch (const std::regex_error& e) {
      throw make_error("--tensor-type '{}': bad regular expression: {}", text, e.what());
    }
  }

  if (recipe.fallback == "llama") {
    r.fallback = FallbackPolicy::llama;
  } else if (recipe.fallback == "quantlm") {
    r.fallback = FallbackPolicy::quantlm;
  } else {
    r.fallback = FallbackPolicy::format;
    r.fallback_format = &producible_format(recipe.fallback, "--fallback (llama, quantlm or a type)");
  }

  if (!(recipe.percentile > 0.0 && recipe.percentile <= 100.0)) {
    throw make_error("--percentile {}: expected a value in (0, 100]", recipe.percentile);
  }
  if (recipe.correction_per_tensor && recipe.correction == ScaleCorrection::none) {
    throw Error("--gamma-per-tensor needs --gamma gamma or --gamma ls");
  }
  r.params.search = recipe.scale_search;
  r.params.percentile = static_cast<float>(recipe.percentile);
  r.params.correction = recipe.correction;
  r.params.correction_per_channel = !recipe.correction_per_tensor;
  r.params.tensor_scale = recipe.tensor_scale;

  if (recipe.method != "rtn" && recipe.method != "gptq" && recipe.method != "awq" && recipe.method != "awq-gptq") {
    throw make_error("--method '{}': expected rtn, gptq, awq or awq-gptq", recipe.method);
  }
  if (recipe.method != "rtn") {
    if (recipe.calib.empty()) throw make_error("--method {} needs calibration text (--calib FILE)", recipe.method);
    if (!(recipe.gptq_damp > 0.0 && recipe.gptq_damp < 1e6)) {
      throw make_error("--gptq-damp {}: expected a positive fraction of mean(diag H)", recipe.gptq_damp);
    }
    if (recipe.gptq_block < 1) throw make_error("--gptq-block {}: expected at least 1", recipe.gptq_block);
    if (recipe.calib_ctx < 2) throw make_error("--calib-ctx {}: expected at least 2 tokens", recipe.calib_ctx);
    if (recipe.calib_chunks < 0) throw make_error("--calib-chunks {}: expected 0 (all) or more", recipe.calib_chunks);
    if (recipe.tensor_scale || recipe.correction != ScaleCorrection::none) {
      throw make_error("--method {} does not combine with --tensor-scale or --gamma", recipe.method);
    }
  }
  return r;
}

nlohmann::json to_json(const Recipe& recipe) {
  nlohmann::json rules = nlohmann::json::array();
  for (const TensorTypeRule& rule : recipe.tensor_types)
    rules.push_back({{"pattern", rule.pattern}, {"type", rule.type}});
  return {{"version", Recipe::kVersion},
          {"type", recipe.type},
          {"pure", recipe.pure},
          {"leave_output_tensor", recipe.leave_output_tensor},
          {"output_tensor_type", recipe.output_tensor_type},
          {"token_embedding_type", recipe.token_embedding_type},
          {"tensor_types", rules},
          {"fallback", recipe.fallback},
          {"allow_requantize", recipe.allow_requantize},
          {"scale_search", to_string(recipe.scale_search)},
          {"percentile", recipe.percentile},
          {"gamma", to_string(recipe.correction)},
          {"gamma_per_tensor", recipe.correction_per_tensor},
          {"tensor_scale", recipe.tensor_scale},
          {"imatrix", recipe.imatrix},
          {"method", recipe.method},
          {"calib", recipe.calib},
          {"calib_ctx", recipe.calib_ctx},
          {"calib_chunks", recipe.calib_chunks},
          {"gptq_damp", recipe.gptq_damp},
          {"gptq_block", recipe.gptq_block},
          {"gptq_act_order", recipe.gptq_act_order}};
}

Recipe recipe_from_json(const nlohmann::json& json, std::string_view source) {
  if (!json.is_object()) throw make_error("{}: a recipe is a JSON object", source);
  Recipe r;
  // Each field is read with its expected JSON type; a wrong type or an unknown
  // key is an error that names the key, not a silently ignored setting.
  auto get = [&](const std::string& key, auto& out, nlohmann::json::value_t type) {
    const auto& v = json.at(key);
    const bool ok = v.type() == type || (type == nlohmann::json::value_t::number_float && v.is_number()) ||
                    (type == nlohmann::json::value_t::number_integer && v.is_number_integer());
    if (!ok) throw make_error("{}: recipe field '{}' has the wrong type ({})", source, key, v.type_name());
    out = v.get<std::remove_reference_t<decltype(out)>>();
  };
  using T = nlohmann::json::value_t;
  for (const auto& [key, value] : json.items()) {
    if (key == "version") {
      if (!value.is_number_integer() || value.get<int>() < 1 || value.get<int>() > Recipe::kVersion)
        throw make_error("{}: recipe version {} is not supported (this quantlm reads 1 to {})", source, value.dump(),
                         Recipe::kVersion);
    } else if (key == "type") {
      get(key, r.type, T::string);
    } else if (key == "pure") {
      get(key, r.pure, T::boolean);
    } else if (key == "leave_output_tensor") {
      get(key, r.leave_output_tensor, T::boolean);
    } else if (key == "output_tensor_type") {
      get(key, r.output_tensor_type, T::string);
    } else if (key == "token_embedding_type") {
      get(key, r.token_embedding_type, T::string);
    } else if (key == "fallback") {
      get(key, r.fallback, T::string);
    } else if (key == "allow_requantize") {
      get(key, r.allow_requantize, T::boolean);
    } else if (key == "percentile") {
      get(key, r.percentile, T::number_float);
    } else if (key == "gamma_per_tensor") {
      get(key, r.correction_per_tensor, T::boolean);
    } else if (key == "tensor_scale") {
      get(key, r.tensor_scale, T::boolean);
    } else if (key == "imatrix") {
      get(key, r.imatrix, T::string);
    } else if (key == "method") {
      get(key, r.method, T::string);
    } else if (key == "calib") {
      get(key, r.calib, T::string);
    } else if (key == "calib_ctx") {
      get(key, r.calib_ctx, T::number_integer);
    } else if (key == "calib_chunks") {
      get(key, r.calib_chunks, T::number_integer);
    } else if (key == "gptq_damp") {
      get(key, r.gptq_damp, T::number_float);
    } else if (key == "gptq_block") {
      get(key, r.gptq_block, T::number_integer);
    } else if (key == "gptq_act_order") {
      get(key, r.gptq_act_order, T::boolean);
    } else if (key == "scale_search") {
      std::string name;
      get(key, name, T::string);
      r.scale_search = parse_scale_search(name, fmt::format("{}: recipe field 'scale_search'", source));
    } else if (key == "gamma") {
      std::string name;
      get(key, name, T::string);
      r.correction = parse_correction(name, fmt::format("{}: recipe field 'gamma'", source));
    } else if (key == "tensor_types") {
      if (!value.is_array()) throw make_error("{}: recipe field 'tensor_types' must be an array", source);
      for (const auto& item : value) {
        if (!item.is_object() || !item.contains("pattern") || !item.contains("type") || item.size() != 2 ||
            !item["pattern"].is_string() || !item["type"].is_string()) {
          throw make_error(R"({}: each tensor_types entry is {{"pattern": REGEX, "type": TYPE}})", source);
        }
        r.tensor_types.push_back({item["pattern"].get<std::string>(), item["type"].get<std::string>()});
      }
    } else {
      throw make_error("{}: unknown recipe field '{}'", source, key);
    }
  }
  if (r.type.empty()) throw make_error("{}: the recipe has no 'type'", source);
  return r;
}

void save_recipe(const Recipe& recipe, const std::string& path) {
  std::ofstream out(path);
  out << to_json(recipe).dump(2) << '\n';
  out.close();
  if (!out) throw make_error("cannot write the recipe to '{}'", path);
}

Recipe load_recipe(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw make_error("cannot open recipe '{}'", path);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const nlohmann::json json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded()) throw make_error("{}: not valid JSON", path);
  return recipe_from_json(json, path);
}

}  // namespace quantlm::quant
