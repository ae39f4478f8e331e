// Greedy and temperature / top-k / top-p sampling.
#include "model/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"

namespace quantlm::model {

Sampler::Sampler(const SamplerConfig& config) : config_(config), rng_(config.seed) {
  if (config.top_k < 0) throw make_error("sampler: top-k {} is negative (0 keeps every token)", config.top_k);
  if (!(config.top_p > 0.0F && config.top_p <= 1.0F)) {
    throw make_error("sampler: top-p {} is outside (0, 1]", config.top_p);
  }
}

std::int32_t Sampler::argmax(std::span<const float> logits) {
  // std::max_element returns the first of equal maxima: the lowest id.
  return static_cast<std::int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

std::vector<Sampler::Candidate> Sampler::candidates(std::span<const float> logits) const {
  if (config_.temperature <= 0.0F) return {{argmax(logits), 1.0}};
  std::vector<std::int32_t> ids(logits.size());
  std::iota(ids.begin(), ids.end(), 0);
  const auto by_logit = [&](std::int32_t a, std::int32_t b) {
    const float la = logits[static_cast<std::size_t>(a)];
    const float lb = logits[static_cast<std::size_t>(b)];
    return la > lb || (la == lb && a < b);  // a total order: ties by id, so results do not depend on the sort
  };
  std::size_t keep = ids.size();
  if (config_.top_k > 0) keep = std::min(keep, static_cast<std::size_t>(config_.top_k));
  std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(keep), ids.end(), by_logit);
  ids.resize(keep);

  // Softmax of logits / T over the kept tokens (the first is the largest).
  const double t = config_.temperature;
  const double max = logits[static_cast<std::size_t>(ids.front())];
  std::vector<Candidate> out;
  out.reserve(keep);
  double sum = 0.0;
  for (const std::int32_t id : ids) {
    const double p = std::exp((logits[static_cast<std::size_t>(id)] - max) / t);
    out.push_back({id, p});
    sum += p;
  }
  // Top-p: the shortest prefix whose probability reaches p.
  double cumulative = 0.0;
  std::size_t n = 0;
  while (n < out.size()) {
    cumulative += out[n].probability / sum;
    ++n;
    if (cumulative >= static_cast<double>(config_.top_p)) break;
  }
  out.resize(n);
  double kept = 0.0;
  for (const Candidate& c : out) kept += c.probability;
  for (Candidate& c : out) c.probability /= kept;
  return out;
}

std::int32_t Sampler::sample(std::span<const float> logits) {
  if (config_.temperature <= 0.0F) return argmax(logits);
  const std::vector<Candidate> cands = candidates(logits);
  // A uniform double in [0, 1) from the top 53 bits of one draw.
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
  double cumulative = 0.0;
  for (const Candidate& c : cands) {
    cumulative += c.probability;
    if (u < cumulative) return c.id;
  }
  return cands.back().id;  // u within rounding of 1
}

}  // namespace quantlm::model
