// Perplexity of a causal LM over a text, by llama-perplexity's protocol or the full one (docs/EVALUATION.md).
#include "eval/perplexity.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>

#include "core/progress.h"
#include "core/thread_pool.h"
#include "model/causal_lm.h"

namespace quantlm::eval {

PerplexityFigures perplexity_figures(const Moments& nll) {
  const MeanError m = nll.mean_error();
  const double ppl = std::exp(m.mean);
  return {m.mean, m.error, ppl, ppl * m.error};
}

PerplexityResult perplexity(model::CausalLm& model, const EvalTokens& text, const EvalOptions& options,
                            const ChunkLogitsFn& on_chunk) {
  PerplexityResult result;
  result.plan = plan_chunks(static_cast<std::int64_t>(text.ids.size()), options);
  const ChunkPlan& plan = result.plan;
  check_model_fits(model, text, plan, "the model");

  const auto vocab = static_cast<std::size_t>(model.vocab_size());
  const auto rows = static_cast<std::size_t>(plan.scored_per_chunk());
  std::vector<float> scratch;
  std::vector<float> logits(rows * vocab);  // scored rows of one chunk: rows × vocab
  std::vector<double> nll(rows);
  Moments moments;
  result.running_ppl.reserve(static_cast<std::size_t>(plan.n_chunks));

  ProgressBar bar(plan.n_chunks, {.label = "perplexity", .unit = "chunk", .mode = options.progress});
  const auto start = std::chrono::steady_clock::now();
  for (std::int64_t c = 0; c < plan.n_chunks; ++c) {
    run_chunk(model, text, plan, c, scratch, logits);
    if (on_chunk) on_chunk(c, logits);
    const std::span<const std::int32_t> targets = chunk_targets(text, plan, c);
    parallel_for(rows, [&](std::size_t r, std::size_t) {
      nll[r] = token_nll(std::span<const float>(logits).subspan(r * vocab, vocab), targets[r]);
    });
    for (const double x : nll) moments.add(x);
    result.running_ppl.push_back(std::exp(moments.sum / static_cast<double>(moments.count)));
    bar.set_extra(fmt::format("PPL {:.4f}", result.running_ppl.back()));
    bar.advance();
  }
  bar.finish();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.tokens_per_second = result.seconds > 0 ? static_cast<double>(plan.evaluated_tokens()) / result.seconds : 0.0;
  result.figures = perplexity_figures(moments);
  return result;
}

}  // namespace quantlm::eval
