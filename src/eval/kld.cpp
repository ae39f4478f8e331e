// KL divergence of a model from a base model over a text, with top-token agreement and Δp (llama-perplexity's figures).
#include "eval/kld.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <vector>

#include "core/error.h"
#include "core/progress.h"
#include "core/thread_pool.h"
#include "model/causal_lm.h"

namespace quantlm::eval {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Sums over positions in position order (so results do not depend on the
// thread count) and keeps every KLD and Δp for the quantiles.
class KldAccumulator {
 public:
  explicit KldAccumulator(std::size_t positions) {
    kld_values_.reserve(positions);
    delta_p_values_.reserve(positions);
  }

  void add(const PositionComparison& p) {
    nll_model_.add(p.nll_model);
    nll_base_.add(p.nll_base);
    sum_nll_product_ += p.nll_model * p.nll_base;
    kld_.add(p.kld);
    delta_p_.add(p.delta_p);
    delta_p2_.add(p.delta_p * p.delta_p);  // its sum2 is Σ Δp⁴, for the RMS's error
    same_top_ += p.same_top ? 1 : 0;
    kld_values_.push_back(p.kld);
    delta_p_values_.push_back(p.delta_p);
  }

  [[nodiscard]] double mean_kld() const { return kld_.mean_error().mean; }

  void finish(KldResult& r) {
    r.model = perplexity_figures(nll_model_);
    r.base = perplexity_figures(nll_base_);
    const double cov = covariance_of_means(nll_model_, nll_base_, sum_nll_product_);
    r.log_ppl_ratio = r.model.mean_nll - r.base.mean_nll;
    // Var(a - b) = Var a + Var b - 2 Cov(a, b); rounding can push it a hair below 0 for equal series.
    const double ratio_var = r.model.nll_error * r.model.nll_error + r.base.nll_error * r.base.nll_error - 2 * cov;
    r.log_ppl_ratio_error = ratio_var > 0 ? std::sqrt(ratio_var) : 0.0;
    const double error_product = r.model.nll_error * r.base.nll_error;
    r.nll_correlation = error_product > 0 ? cov / error_product : 0.0;
    r.kld = kld_.mean_error();
    const auto n = static_cast<double>(kld_.count);
    r.same_top = n > 0 ? static_cast<double>(same_top_) / n : 0.0;
    r.same_top_error = n > 1 ? std::sqrt(r.same_top * (1 - r.same_top) / (n - 1)) : 0.0;
    r.delta_p = delta_p_.mean_error();
    const MeanError mse = delta_p2_.mean_error();
    r.delta_p_rms = std::sqrt(mse.mean);
    r.delta_p_rms_error = r.delta_p_rms > 0 ? 0.5 / r.delta_p_rms * mse.error : 0.0;  // d√x = dx / (2√x)
    std::sort(kld_values_.begin(), kld_values_.end());
    std::sort(delta_p_values_.begin(), delta_p_values_.end());
    r.kld_distribution = describe_sorted(kld_values_);
    r.delta_p_distribution = describe_sorted(delta_p_values_);
  }

 private:
  Moments nll_model_;
  Moments nll_base_;
  double sum_nll_product_ = 0;
  Moments kld_;
  Moments delta_p_;
  Moments delta_p2_;
  std::int64_t same_top_ = 0;
  std::vector<double> kld_values_;
  std::vector<double> delta_p_values_;
};

// Fills `out` (scored_per_chunk × vocab) with the base's logits for a chunk.
using BaseRowsFn = std::function<void(std::int64_t chunk, std::span<float> out)>;

KldResult compare_on_chunks(const BaseRowsFn& base_rows, model::CausalLm& model, const EvalTokens& text,
                            const ChunkPlan& plan, ProgressMode progress) {
  KldResult result;
  result.plan = plan;
  const auto vocab = static_cast<std::size_t>(model.vocab_size());
  const auto rows = static_cast<std::size_t>(plan.scored_per_chunk());
  std::vector<float> base_logits(rows * vocab);   // rows × vocab
  std::vector<float> model_logits(rows * vocab);  // rows × vocab
  std::vector<float> scratch;
  std::vector<PositionComparison> compared(rows);
  KldAccumulator acc(static_cast<std::size_t>(plan.scored_positions()));

  ProgressBar bar(plan.n_chunks, {.label = "kld", .unit = "chunk", .mode = progress});
  const auto start = Clock::now();
  for (std::int64_t c = 0; c < plan.n_chunks; ++c) {
    const auto base_start = Clock::now();
    base_rows(c, base_logits);
    result.base_seconds += seconds_since(base_start);
    const auto model_start = Clock::now();
    run_chunk(model, text, plan, c, scratch, model_logits);
    result.model_seconds += seconds_since(model_start);

    const std::span<const std::int32_t> targets = chunk_targets(text, plan, c);
    parallel_for(rows, [&](std::size_t r, std::size_t) {
      compared[r] = compare_position(std::span<const float>(base_logits).subspan(r * vocab, vocab),
                                     std::span<const float>(model_logits).subspan(r * vocab, vocab), targets[r]);
    });
    for (const PositionComparison& p : compared) acc.add(p);
    bar.set_extra(fmt::format("KLD {:.6f}", acc.mean_kld()));
    bar.advance();
  }
  bar.finish();
  result.seconds = seconds_since(start);
  result.tokens_per_second =
      result.model_seconds > 0 ? static_cast<double>(plan.evaluated_tokens()) / result.model_seconds : 0.0;
  acc.finish(result);
  return result;
}

void check_same_vocab(const model::CausalLm& base, const model::CausalLm& model) {
  if (base.vocab_size() != model.vocab_size()) {
    throw make_error("the base model has a {}-token vocabulary and the model {}: KL divergence needs the same one",
                     base.vocab_size(), model.vocab_size());
  }
}

}  // namespace

PositionComparison compare_position(std::span<const float> base_logits, std::span<const float> model_logits,
                                    std::int32_t target) {
  const double base_lse = log_sum_exp(base_logits);
  const double model_lse = log_sum_exp(model_logits);
  double kld = 0;
  for (std::size_t i = 0; i < base_logits.size(); ++i) {
    const double log_p = static_cast<double>(base_logits[i]) - base_lse;
    const double p = std::exp(log_p);
    // p == 0 (a -inf logit) contributes nothing; skipping it avoids 0·(-inf) = NaN.
    if (p > 0) kld += p * (log_p - (static_cast<double>(model_logits[i]) - model_lse));
  }
  PositionComparison out;
  out.kld = kld;
  const auto t = static_cast<std::size_t>(target);
  out.nll_base = base_lse - static_cast<double>(base_logits[t]);
  out.nll_model = model_lse - static_cast<double>(model_logits[t]);
  out.delta_p = std::exp(-out.nll_model) - std::exp(-out.nll_base);
  out.same_top = argmax(base_logits) == argmax(model_logits);
  return out;
}

KldResult kl_divergence(model::CausalLm& base, model::CausalLm& model, const EvalTokens& text,
                        const EvalOptions& options, const std::optional<SaveBase>& save) {
  check_same_vocab(base, model);
  const ChunkPlan plan = plan_chunks(static_cast<std::int64_t>(text.ids.size()), options);
  check_model_fits(base, text, plan, "the base model");
  check_model_fits(model, text, plan, "the model");
  std::optional<BaseLogitsWriter> writer;
  if (save) writer.emplace(save->path, make_base_logits_header(text, plan, base.vocab_size(), save->description));
  std::vector<float> scratch;
  const BaseRowsFn base_rows = [&](std::int64_t chunk, std::span<float> out) {
    run_chunk(base, text, plan, chunk, scratch, out);
    if (writer) writer->write_chunk(out);
  };
  KldResult result = compare_on_chunks(base_rows, model, text, plan, options.progress);
  if (writer) writer->finish();
  return result;
}

KldResult kl_divergence(const BaseLogitsFile& base, model::CausalLm& model, const EvalTokens& text,
                        const EvalOptions& options) {
  EvalOptions limited = options;
  // Without --chunks, evaluate what the file holds rather than refuse a partial file.
  if (limited.max_chunks == 0) limited.max_chunks = std::max<std::int64_t>(base.header().n_chunks, 1);
  const ChunkPlan plan = plan_chunks(static_cast<std::int64_t>(text.ids.size()), limited);
  base.check_matches(text, plan, model.vocab_size());
  check_model_fits(model, text, plan, "the model");
  const BaseRowsFn base_rows = [&](std::int64_t chunk, std::span<float> out) { base.read_chunk(chunk, out); };
  return compare_on_chunks(base_rows, model, text, plan, options.progress);
}

PerplexityResult save_base_logits(model::CausalLm& base, const EvalTokens& text, const EvalOptions& options,
                                  const SaveBase& save) {
  const ChunkPlan plan = plan_chunks(static_cast<std::int64_t>(text.ids.size()), options);
  check_model_fits(base, text, plan, "the base model");
  BaseLogitsWriter writer(save.path, make_base_logits_header(text, plan, base.vocab_size(), save.description));
  PerplexityResult result =
      perplexity(base, text, options, [&](std::int64_t, std::span<const float> scored) { writer.write_chunk(scored); });
  writer.finish();
  return result;
}

}  // namespace quantlm::eval
