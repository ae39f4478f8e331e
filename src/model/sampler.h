// Choosing the next token from logits: greedy, or temperature / top-k / top-p sampling with a seeded generator.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace quantlm::model {

struct SamplerConfig {
  float temperature = 0.0F;  // <= 0: greedy (argmax)
  std::int64_t top_k = 0;    // keep the k most likely tokens; 0: all
  float top_p = 1.0F;        // keep the smallest set of most likely tokens whose probability reaches p; 1: all
  std::uint64_t seed = 0;
};

// Sampling applies, in order: temperature (logits / T), top-k, softmax over
// the tokens left, top-p (the most likely tokens until their cumulative
// probability reaches p, at least one), renormalization, then one draw. This
// is the order of Hugging Face's generate(); llama.cpp's default chain applies
// the temperature last, which changes what top-p keeps for T != 1. The same
// seed and logits give the same tokens on every platform (the uniform draw is
// built from the 64-bit Mersenne Twister's raw output, not from a standard
// distribution whose algorithm is implementation-defined).
class Sampler {
 public:
  // Throws quantlm::Error for top_k < 0 or top_p outside (0, 1].
  explicit Sampler(const SamplerConfig& config);

  [[nodiscard]] std::int32_t sample(std::span<const float> logits);
  [[nodiscard]] const SamplerConfig& config() const { return config_; }

  // The most likely token; the lowest id among equals.
  [[nodiscard]] static std::int32_t argmax(std::span<const float> logits);

  // The candidates sample() draws from, with their renormalized probabilities
  // (most likely first): exposed for tests.
  struct Candidate {
    std::int32_t id;
    double probability;
  };
  [[nodiscard]] std::vector<Candidate> candidates(std::span<const float> logits) const;

 private:
  SamplerConfig config_;
  std::mt19937_64 rng_;
};

}  // namespace quantlm::model
