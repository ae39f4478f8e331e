// Perplexity of a causal LM over a text, by llama-perplexity's protocol or the full one (docs/EVALUATION.md).
#pragma once

#include <functional>
#include <span>
#include <vector>

#include "eval/chunks.h"
#include "eval/stats.h"

namespace quantlm::model {
class CausalLm;
}

namespace quantlm::eval {

// PPL = exp(mean NLL); its error is llama-perplexity's first-order one,
// PPL · (standard error of the mean NLL).
struct PerplexityFigures {
  double mean_nll = 0;
  double nll_error = 0;
  double ppl = 0;
  double ppl_error = 0;
};

[[nodiscard]] PerplexityFigures perplexity_figures(const Moments& nll);

struct PerplexityResult {
  ChunkPlan plan;
  PerplexityFigures figures;
  std::vector<double> running_ppl;  // PPL over chunks 0 … i, after each chunk (llama-perplexity's [i]ppl line)
  double seconds = 0;               // the chunk loop: forward passes and scoring, not tokenization
  double tokens_per_second = 0;     // plan.evaluated_tokens() / seconds
};

// Evaluates `model` on every chunk of the plan that `options` give for `text`.
// The NLL of each row is computed in double; rows are scored in parallel on
// the default thread pool but summed in position order, so the figures do not
// depend on the thread count. Throws quantlm::Error for options the text or
// model cannot satisfy.
// `on_chunk`, when set, sees each chunk's scored logits (scored_per_chunk ×
// vocab) before they are scored: save_base_logits writes them to a file.
using ChunkLogitsFn = std::function<void(std::int64_t chunk, std::span<const float> scored_logits)>;
[[nodiscard]] PerplexityResult perplexity(model::CausalLm& model, const EvalTokens& text, const EvalOptions& options,
                                          const ChunkLogitsFn& on_chunk = {});

}  // namespace quantlm::eval
