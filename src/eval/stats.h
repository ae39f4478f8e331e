// Summary statistics for evaluation records: means with standard errors, llama.cpp-style percentiles, log-softmax.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace quantlm::eval {

// A mean and its standard error.
struct MeanError {
  double mean = 0;
  double error = 0;
};

// Sums of x, x² (and of x·y for a paired series) in double, in the order the
// values arrive, so a result does not depend on the thread count.
struct Moments {
  double sum = 0;
  double sum2 = 0;
  std::int64_t count = 0;

  void add(double x) {
    sum += x;
    sum2 += x * x;
    ++count;
  }
  // llama-perplexity's estimate: mean = sum/n and standard error
  // sqrt((sum2/n - mean²) / (n - 1)); the error is 0 when that variance is not
  // positive (constant series) or n < 2.
  [[nodiscard]] MeanError mean_error() const;
};

// Covariance of the means of two paired series, as llama-perplexity's KL mode
// estimates it: (Σxy/n - x̄·ȳ) / (n - 1); 0 for n < 2.
[[nodiscard]] double covariance_of_means(const Moments& x, const Moments& y, double sum_xy);

// The `fraction` quantile of ascending `sorted` values, interpolating linearly
// between neighbours at fraction·(n - 1) (llama-perplexity's percentile; 0.5
// gives the median). 0 for an empty span.
[[nodiscard]] double percentile(std::span<const double> sorted, double fraction);

// A sorted series at llama-perplexity's quantiles (its KLD and Δp tables).
struct Distribution {
  double min = 0;
  double p01 = 0;  // 1%
  double p10 = 0;
  double median = 0;
  double p90 = 0;
  double p99 = 0;
  double p999 = 0;  // 99.9%
  double max = 0;
};

[[nodiscard]] Distribution describe_sorted(std::span<const double> sorted);

// log Σ exp(logits) in double, shifted by the maximum so that no exp overflows:
// a row's log-probabilities are logits[i] - log_sum_exp(row).
[[nodiscard]] double log_sum_exp(std::span<const float> logits);

// -log softmax(logits)[target] in double.
[[nodiscard]] inline double token_nll(std::span<const float> logits, std::int32_t target) {
  return log_sum_exp(logits) - static_cast<double>(logits[static_cast<std::size_t>(target)]);
}

// Index of the largest logit, the first one on ties (llama.cpp's argmax).
[[nodiscard]] std::size_t argmax(std::span<const float> logits);

}  // namespace quantlm::eval
