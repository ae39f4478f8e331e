// Side-by-side comparison of quantization recipes on one model: quantize each, then size, bits per weight, PPL, KLD.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "eval/chunks.h"
#include "quant/recipe.h"

namespace quantlm::study {

// One contender: a label for tables and the recipe `quantlm quantize` would run,
// or a file quantized elsewhere (llama-quantize's, an earlier run's), measured as it is.
struct ComparisonEntry {
  std::string label;  // "Q4_0", "Q4_0:search=mse", "stories260K-Q4_0.gguf", ...
  quant::Recipe recipe;
  std::filesystem::path file;  // non-empty: measure this file, quantize nothing
};

// An existing model file as an entry, labelled by its file name.
[[nodiscard]] ComparisonEntry existing_file_entry(const std::filesystem::path& file);

// Parses a compact spec, TYPE[:key=value[,key=value...]], keys being
//   search=NAME (--scale-search), gamma=NAME (--gamma), percentile=P, imatrix=FILE,
//   fallback=llama|quantlm|TYPE, pure (no llama.cpp mix).
// The label is the spec itself. Throws quantlm::Error naming the spec and key.
[[nodiscard]] ComparisonEntry parse_comparison_entry(std::string_view spec);

struct ComparisonOptions {
  std::filesystem::path base;      // a float GGUF (F32, F16 or BF16 matrices)
  std::filesystem::path text;      // evaluation text
  std::filesystem::path work_dir;  // where the quantized files and the base's logits are written
  std::vector<ComparisonEntry> entries;
  eval::EvalOptions eval;  // protocol, -c, --chunks; progress applies to every run
  std::size_t threads = 0;
};

// What one file measured. For the base row, the KLD fields are 0 and same_top 1.
struct ComparisonRow {
  std::string label;
  std::filesystem::path file;
  std::uint64_t file_bytes = 0;
  double bits_per_weight = 0;  // tensor data over all parameters, scales included
  double quantize_seconds = 0;
  double ppl = 0;
  double ppl_error = 0;
  double kld = 0;
  double kld_error = 0;
  double kld_p99 = 0;
  double same_top = 1;
  double eval_tokens_per_second = 0;
};

struct ComparisonResult {
  std::string text;
  eval::EvalOptions eval;
  std::int64_t chunks = 0;
  std::int64_t scored_positions = 0;
  ComparisonRow base;
  std::vector<ComparisonRow> rows;  // in entry order
};

// Quantizes the base once per entry into work_dir (files named after the
// labels), saves the base's logits once, and evaluates every file against
// them. Each row is reported through on_row as soon as it is measured (the
// base first). Throws quantlm::Error for a bad entry before any work starts.
[[nodiscard]] ComparisonResult run_comparison(const ComparisonOptions& options,
                                              const std::function<void(const ComparisonRow&)>& on_row = {});

[[nodiscard]] nlohmann::json to_json(const ComparisonResult& result);

}  // namespace quantlm::study
