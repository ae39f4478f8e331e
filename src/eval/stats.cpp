// Summary statistics for evaluation records: means with standard errors, llama.cpp-style percentiles, log-softmax.
#include "eval/stats.h"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace quantlm::eval {

MeanError Moments::mean_error() const {
  if (count == 0) return {};
  const auto n = static_cast<double>(count);
  const double mean = sum / n;
  const double variance = sum2 / n - mean * mean;
  if (count < 2 || !(variance > 0)) return {mean, 0.0};
  return {mean, std::sqrt(variance / (n - 1))};
}

double covariance_of_means(const Moments& x, const Moments& y, double sum_xy) {
  assert(x.count == y.count);
  if (x.count < 2) return 0.0;
  const auto n = static_cast<double>(x.count);
  return (sum_xy / n - (x.sum / n) * (y.sum / n)) / (n - 1);
}

double percentile(std::span<const double> sorted, double fraction) {
  if (sorted.empty()) return 0.0;
  if (fraction <= 0) return sorted.front();
  if (fraction >= 1) return sorted.back();
  const double position = fraction * static_cast<double>(sorted.size() - 1);
  const auto below = static_cast<std::size_t>(position);
  const double weight = position - static_cast<double>(below);
  const std::size_t above = std::min(below + 1, sorted.size() - 1);
  return (1 - weight) * sorted[below] + weight * sorted[above];
}

Distribution describe_sorted(std::span<const double> sorted) {
  if (sorted.empty()) return {};
  return {sorted.front(),           percentile(sorted, 0.01), percentile(sorted, 0.10),  percentile(sorted, 0.50),
          percentile(sorted, 0.90), percentile(sorted, 0.99), percentile(sorted, 0.999), sorted.back()};
}

double log_sum_exp(std::span<const float> logits) {
  assert(!logits.empty());
  const double max = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (const float x : logits) sum += std::exp(static_cast<double>(x) - max);
  return max + std::log(sum);
}

std::size_t argmax(std::span<const float> logits) {
  assert(!logits.empty());
  // max_element keeps the first of equal maxima, as llama.cpp's strict '>' scan does.
  return static_cast<std::size_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

}  // namespace quantlm::eval
