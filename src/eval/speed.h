// Prompt-processing and generation speed of a causal LM by llama-bench's definitions (pp and tg tokens/s).
#pragma once

#include <cstdint>
#include <vector>

#include "model/causal_lm.h"

namespace quantlm::eval {

struct SpeedOptions {
  std::int64_t n_prompt = 512;  // pp: tokens processed as one batch on an empty cache (0: skip)
  std::int64_t n_gen = 128;     // tg: tokens generated one at a time from an empty cache (0: skip)
  int repetitions = 5;          // timed runs of each test, after one untimed warm-up run
  std::uint64_t seed = 1234;    // of the random token ids
};

// Repeated measurements of one test, in tokens per second.
struct SpeedSeries {
  std::int64_t tokens = 0;      // per run
  std::vector<double> samples;  // tokens / seconds, one per repetition, in run order
  double mean = 0;              // of the samples
  double sd = 0;                // sample standard deviation (n - 1); 0 with one sample
  double median = 0;            // of the samples
  [[nodiscard]] bool empty() const { return samples.empty(); }
};

struct SpeedResult {
  SpeedSeries pp;  // empty when n_prompt == 0
  SpeedSeries tg;  // empty when n_gen == 0
};

// Summarizes samples as llama-bench does (mean ± sample standard deviation of
// tokens/s), plus their median.
[[nodiscard]] SpeedSeries summarize(std::int64_t tokens, std::vector<double> samples);

// Runs the pp test (reset, then one forward call of n_prompt random tokens)
// and the tg test (reset, then n_gen forward calls of one random token each),
// each once to warm up and then `repetitions` times, timed with a steady clock.
// Throws quantlm::Error when the model's context is shorter than a test needs
// or an option is out of range.
[[nodiscard]] SpeedResult measure_speed(model::CausalLm& lm, const SpeedOptions& options);

// Peak resident memory of this process so far (getrusage's ru_maxrss), in bytes.
[[nodiscard]] std::uint64_t peak_resident_bytes();

}  // namespace quantlm::eval
