// KL divergence of a model from a base model over a text, with top-token agreement and Δp (llama-perplexity's figures).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>

#include "eval/chunks.h"
#include "eval/logits_file.h"
#include "eval/perplexity.h"
#include "eval/stats.h"

namespace quantlm::model {
class CausalLm;
}

namespace quantlm::eval {

// One scored position, compared in double precision. P = softmax(base row),
// Q = softmax(model row), t = the text's next token.
struct PositionComparison {
  double kld = 0;         // KL(P || Q) = Σ P·(log P - log Q): exactly 0 for equal rows
  double nll_model = 0;   // -log Q(t)
  double nll_base = 0;    // -log P(t)
  double delta_p = 0;     // Q(t) - P(t): llama-perplexity's Δp (the next token's, not the base's top token's)
  bool same_top = false;  // argmax P == argmax Q (first index on ties)
};

[[nodiscard]] PositionComparison compare_position(std::span<const float> base_logits,
                                                  std::span<const float> model_logits, std::int32_t target);

struct KldResult {
  ChunkPlan plan;
  PerplexityFigures model;  // of the model and the base on the same positions
  PerplexityFigures base;
  double log_ppl_ratio = 0;  // ln(PPL(model) / PPL(base)) = mean NLL difference
  double log_ppl_ratio_error = 0;
  double nll_correlation = 0;  // Cor(ln PPL(model), ln PPL(base)) of the two means
  MeanError kld;
  Distribution kld_distribution;
  double same_top = 0;  // fraction of positions whose top tokens agree
  double same_top_error = 0;
  MeanError delta_p;
  double delta_p_rms = 0;
  double delta_p_rms_error = 0;
  Distribution delta_p_distribution;
  double seconds = 0;            // the whole chunk loop
  double model_seconds = 0;      // forward passes of the model
  double base_seconds = 0;       // forward passes of the base, or reading its saved logits
  double tokens_per_second = 0;  // of the model: plan.evaluated_tokens() / model_seconds
};

// Where to write the base's logits while they are computed.
struct SaveBase {
  std::filesystem::path path;
  std::string description;  // the base model, recorded in the file for messages
};

// Runs both models on every chunk of the plan. The two must share a
// vocabulary; quantlm::Error otherwise, and for options the text or models
// cannot satisfy. With `save`, the base's scored logits are also written
// (BaseLogitsWriter) and the file is renamed into place at the end.
[[nodiscard]] KldResult kl_divergence(model::CausalLm& base, model::CausalLm& model, const EvalTokens& text,
                                      const EvalOptions& options, const std::optional<SaveBase>& save = std::nullopt);

// Reads the base's logits from a saved file, which must match this run's
// protocol, -c, text and vocabulary (quantlm::Error naming the field). With
// options.max_chunks 0, evaluates as many chunks as the file holds.
[[nodiscard]] KldResult kl_divergence(const BaseLogitsFile& base, model::CausalLm& model, const EvalTokens& text,
                                      const EvalOptions& options);

// Runs only the base, writing its logits for later kl_divergence(file, ...)
// calls, and returns its perplexity on the same positions.
[[nodiscard]] PerplexityResult save_base_logits(model::CausalLm& base, const EvalTokens& text,
                                                const EvalOptions& options, const SaveBase& save);

}  // namespace quantlm::eval
