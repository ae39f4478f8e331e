// The interface evaluation code runs models through: tokens in, logits out, with a KV cache behind it.
#pragma once

#include <cstdint>
#include <span>

namespace quantlm::model {

// A causal language model with internal state (its KV cache). Evaluation
// (perplexity, KL divergence, generation) is written against this interface so
// that it works for the float engine, quantized engines and test doubles.
class CausalLm {
 public:
  virtual ~CausalLm() = default;

  [[nodiscard]] virtual std::int64_t vocab_size() const = 0;
  [[nodiscard]] virtual std::int64_t context_length() const = 0;  // positions the cache holds
  // Forgets all cached positions (a new sequence starts at position 0).
  virtual void reset() = 0;
  // Appends `tokens` at positions [cached, cached + n) and writes the logits
  // of every one of them to `logits` (n x vocab_size, row-major). Prefill is
  // a call with many tokens, decode a call with one.
  virtual void forward(std::span<const std::int32_t> tokens, std::span<float> logits) = 0;
  [[nodiscard]] virtual std::int64_t cached_tokens() const = 0;
};

}  // namespace quantlm::model
