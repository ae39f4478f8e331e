// Prompt-processing and generation speed of a causal LM by llama-bench's definitions (pp and tg tokens/s).
#include "eval/speed.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <random>
#include <span>
#include <utility>

#include "core/error.h"

namespace quantlm::eval {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

std::vector<std::int32_t> random_tokens(std::int64_t n, std::int64_t vocab, std::mt19937_64& rng) {
  std::uniform_int_distribution<std::int32_t> pick(0, static_cast<std::int32_t>(vocab - 1));
  std::vector<std::int32_t> ids(static_cast<std::size_t>(n));
  for (std::int32_t& id : ids) id = pick(rng);
  return ids;
}

// One pp run: n tokens in one call from an empty cache; returns seconds.
double prompt_run(model::CausalLm& lm, std::span<const std::int32_t> tokens, std::vector<float>& logits) {
  lm.reset();  // before the clock starts, as llama-bench clears its cache
  const Clock::time_point start = Clock::now();
  lm.forward(tokens, logits);
  return seconds_since(start);
}

// One tg run: one call per token from an empty cache; returns seconds.
double generation_run(model::CausalLm& lm, std::span<const std::int32_t> tokens, std::vector<float>& logits) {
  lm.reset();
  const Clock::time_point start = Clock::now();
  for (const std::int32_t& token : tokens) lm.forward(std::span(&token, 1), logits);
  return seconds_since(start);
}

template <typename Run>
SpeedSeries measure(std::int64_t tokens, int repetitions, const Run& run) {
  if (tokens == 0) return {};
  (void)run();  // warm-up: page in the weights, fill the caches, wake the threads
  std::vector<double> samples;
  for (int r = 0; r < repetitions; ++r) samples.push_back(static_cast<double>(tokens) / run());
  return summarize(tokens, std::move(samples));
}

}  // namespace

SpeedSeries summarize(std::int64_t tokens, std::vector<double> samples) {
  SpeedSeries s;
  s.tokens = tokens;
  s.samples = std::move(samples);
  const auto n = static_cast<double>(s.samples.size());
  if (s.samples.empty()) return s;
  s.mean = std::accumulate(s.samples.begin(), s.samples.end(), 0.0) / n;
  if (s.samples.size() > 1) {
    double ss = 0;
    for (const double x : s.samples) ss += (x - s.mean) * (x - s.mean);
    s.sd = std::sqrt(ss / (n - 1));
  }
  std::vector<double> sorted = s.samples;
  std::sort(sorted.begin(), sorted.end());
  const std::size_t mid = sorted.size() / 2;
  s.median = sorted.size() % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return s;
}

SpeedResult measure_speed(model::CausalLm& lm, const SpeedOptions& o) {
  if (o.n_prompt < 0 || o.n_gen < 0)
    throw make_error("bench: -p {} / -n {}: token counts must be >= 0", o.n_prompt, o.n_gen);
  if (o.repetitions < 1) throw make_error("bench: -r {}: at least one repetition is needed", o.repetitions);
  const std::int64_t longest = std::max(o.n_prompt, o.n_gen);
  if (longest > lm.context_length()) {
    throw make_error("bench: a test of {} tokens needs more than the model's context of {} positions", longest,
                     lm.context_length());
  }
  const std::int64_t vocab = lm.vocab_size();
  std::mt19937_64 rng(o.seed);
  const std::vector<std::int32_t> prompt = random_tokens(o.n_prompt, vocab, rng);
  const std::vector<std::int32_t> gen = random_tokens(o.n_gen, vocab, rng);

  SpeedResult result;
  std::vector<float> logits(static_cast<std::size_t>(o.n_prompt * vocab));
  result.pp = measure(o.n_prompt, o.repetitions, [&] { return prompt_run(lm, prompt, logits); });
  logits.assign(static_cast<std::size_t>(vocab), 0.0F);
  result.tg = measure(o.n_gen, o.repetitions, [&] { return generation_run(lm, gen, logits); });
  lm.reset();
  return result;
}

std::uint64_t peak_resident_bytes() {
  rusage usage{};
  if (::getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return static_cast<std::uint64_t>(usage.ru_maxrss) * 1024U;  // Linux reports KiB
}

}  // namespace quantlm::eval
