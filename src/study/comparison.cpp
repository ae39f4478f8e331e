// Side-by-side comparison of quantization recipes: quantize, then evaluate every file against the base's saved logits.
#include "study/comparison.h"

#include <chrono>
#include <string>

#include "core/error.h"
#include "eval/eval_model.h"
#include "eval/file_summary.h"
#include "eval/kld.h"
#include "eval/logits_file.h"
#include "io/gguf/gguf_file.h"
#include "quant/quantize_model.h"

namespace quantlm::study {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// A label as a file name: letters, digits, '_' and '-' kept, the rest '_'.
std::string file_stem(std::string_view label) {
  std::string out;
  for (const char c : label) {
    const bool keep =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
    out.push_back(keep ? c : '_');
  }
  return out;
}

void set_key(quant::Recipe& recipe, std::string_view spec, std::string_view key, std::string_view value) {
  auto need_value = [&] {
    if (value.empty()) throw make_error("compare: '{}': key '{}' needs a value ({}=...)", spec, key, key);
  };
  if (key == "search") {
    need_value();
    recipe.scale_search = quant::parse_scale_search(value, "search=");
  } else if (key == "gamma") {
    need_value();
    recipe.correction = quant::parse_correction(value, "gamma=");
  } else if (key == "percentile") {
    need_value();
    try {
      recipe.percentile = std::stod(std::string(value));
    } catch (const std::exception&) {
      throw make_error("compare: '{}': percentile={} is not a number", spec, value);
    }
  } else if (key == "imatrix") {
    need_value();
    recipe.imatrix = std::string(value);
  } else if (key == "fallback") {
    need_value();
    recipe.fallback = std::string(value);
  } else if (key == "pure") {
    if (!value.empty()) throw make_error("compare: '{}': 'pure' takes no value", spec);
    recipe.pure = true;
  } else {
    throw make_error("compare: '{}': unknown key '{}' (expected search, gamma, percentile, imatrix, fallback, pure)",
                     spec, key);
  }
}

ComparisonRow measure_file(const std::string& label, const std::filesystem::path& file) {
  ComparisonRow row;
  row.label = label;
  row.file = file;
  const eval::FileSummary summary = eval::summarize(gguf::GgufFile::open(file));
  row.file_bytes = summary.file_bytes;
  row.bits_per_weight = summary.bits_per_weight();
  return row;
}

}  // namespace

ComparisonEntry parse_comparison_entry(std::string_view spec) {
  ComparisonEntry entry;
  entry.label = std::string(trim(spec));
  const std::string_view text = entry.label;
  const std::size_t colon = text.find(':');
  entry.recipe.type = std::string(trim(text.substr(0, colon)));
  if (entry.recipe.type.empty()) throw make_error("compare: '{}' names no type (TYPE[:key=value,...])", spec);
  if (colon != std::string_view::npos) {
    std::string_view rest = text.substr(colon + 1);
    while (!rest.empty()) {
      const std::size_t comma = rest.find(',');
      const std::string_view item = trim(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
      if (item.empty()) continue;
      const std::size_t eq = item.find('=');
      set_key(entry.recipe, text, trim(item.substr(0, eq)),
              eq == std::string_view::npos ? std::string_view{} : trim(item.substr(eq + 1)));
    }
  }
  (void)quant::resolve(entry.recipe);  // every name checked now, before any file is written
  return entry;
}

ComparisonEntry existing_file_entry(const std::filesystem::path& file) {
  if (!std::filesystem::is_regular_file(file)) throw make_error("compare: '{}' is not a model file", file.string());
  ComparisonEntry entry;
  entry.label = file.filename().string();
  entry.file = file;
  return entry;
}

ComparisonResult run_comparison(const ComparisonOptions& options,
                                const std::function<void(const ComparisonRow&)>& on_row) {
  if (options.entries.empty()) throw make_error("compare: no recipe to compare");
  for (const ComparisonEntry& e : options.entries) {
    if (e.file.empty()) (void)quant::resolve(e.recipe);
  }
  std::filesystem::create_directories(options.work_dir);

  ComparisonResult result;
  result.text = options.text.string();
  result.eval = options.eval;

  // The base: its perplexity, and its logits saved once for every comparison.
  const std::filesystem::path logits_path = options.work_dir / "base.logits";
  eval::EvalTokens text;
  {
    const eval::EvalModel base = eval::open_eval_model(options.base, "BASE", options.eval.n_ctx);
    text = eval::tokenize_eval_text(*base.tokenizer, eval::read_text_file(options.text));
    const eval::PerplexityResult ppl =
        eval::save_base_logits(*base.lm, text, options.eval, {logits_path, options.base.string()});
    result.chunks = ppl.plan.n_chunks;
    result.scored_positions = ppl.plan.scored_positions();
    result.base = measure_file("base", options.base);
    result.base.ppl = ppl.figures.ppl;
    result.base.ppl_error = ppl.figures.ppl_error;
    result.base.eval_tokens_per_second = ppl.tokens_per_second;
  }
  if (on_row) on_row(result.base);
  const eval::BaseLogitsFile saved = eval::BaseLogitsFile::open(logits_path);

  for (const ComparisonEntry& entry : options.entries) {
    std::filesystem::path out = entry.file;
    double seconds = 0;
    if (out.empty()) {
      out = options.work_dir / (file_stem(entry.label) + ".gguf");
      quant::QuantizeOptions q;
      q.input = options.base;
      q.output = out;
      q.recipe = entry.recipe;
      q.threads = options.threads;
      q.progress = options.eval.progress;
      const auto start = std::chrono::steady_clock::now();
      (void)quant::quantize_model(q);
      seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }

    ComparisonRow row = measure_file(entry.label, out);
    row.quantize_seconds = seconds;
    const eval::EvalModel m = eval::open_eval_model(out, "MODEL", options.eval.n_ctx);
    const eval::KldResult k = eval::kl_divergence(saved, *m.lm, text, options.eval);
    row.ppl = k.model.ppl;
    row.ppl_error = k.model.ppl_error;
    row.kld = k.kld.mean;
    row.kld_error = k.kld.error;
    row.kld_p99 = k.kld_distribution.p99;
    row.same_top = k.same_top;
    row.eval_tokens_per_second = k.tokens_per_second;
    if (on_row) on_row(row);
    result.rows.push_back(std::move(row));
  }
  return result;
}

nlohmann::json to_json(const ComparisonResult& result) {
  auto row_json = [](const ComparisonRow& r) {
    return nlohmann::json{{"label", r.label},
                          {"file", r.file.string()},
                          {"file_bytes", r.file_bytes},
                          {"bits_per_weight", r.bits_per_weight},
                          {"quantize_seconds", r.quantize_seconds},
                          {"ppl", r.ppl},
                          {"ppl_error", r.ppl_error},
                          {"kld", r.kld},
                          {"kld_error", r.kld_error},
                          {"kld_p99", r.kld_p99},
                          {"same_top", r.same_top},
                          {"eval_tokens_per_second", r.eval_tokens_per_second}};
  };
  nlohmann::json rows = nlohmann::json::array();
  for (const ComparisonRow& r : result.rows) rows.push_back(row_json(r));
  return {{"text", result.text},
          {"n_ctx", result.eval.n_ctx},
          {"protocol", eval::to_string(result.eval.protocol)},
          {"chunks", result.chunks},
          {"scored_positions", result.scored_positions},
          {"base", row_json(result.base)},
          {"rows", rows}};
}

}  // namespace quantlm::study
