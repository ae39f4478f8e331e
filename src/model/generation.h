// Text generation over any CausalLm: prefill the prompt, then sample and decode token by token, timing both phases.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

#include "model/causal_lm.h"
#include "model/sampler.h"

namespace quantlm::model {

struct GenerationOptions {
  std::int64_t max_tokens = 128;  // tokens to generate at most
  SamplerConfig sampler{};        // greedy by default
  std::int32_t stop_token = -1;   // generation ends when this token is sampled (it is not emitted); -1: none
};

struct GenerationStats {
  std::int64_t prompt_tokens = 0;
  std::int64_t generated_tokens = 0;  // tokens emitted
  std::int64_t decode_calls = 0;      // single-token forward calls after the prompt
  double prefill_seconds = 0;         // the prompt's forward call
  double decode_seconds = 0;          // everything after it: decode calls and sampling
  bool stopped_at_token = false;      // the stop token ended generation
  bool context_full = false;          // the model's context ended generation

  [[nodiscard]] double prefill_tokens_per_second() const {
    return prefill_seconds > 0 ? static_cast<double>(prompt_tokens) / prefill_seconds : 0.0;
  }
  [[nodiscard]] double decode_tokens_per_second() const {
    return decode_seconds > 0 ? static_cast<double>(decode_calls) / decode_seconds : 0.0;
  }
};

// Starts a new sequence (lm.reset()), runs the prompt in one forward call,
// then repeatedly samples the next token, passes it to on_token as soon as it
// is chosen, and feeds it back, until max_tokens, the stop token or the end of
// the context. Throws quantlm::Error for an empty prompt or one longer than
// the context.
GenerationStats generate(CausalLm& lm, std::span<const std::int32_t> prompt, const GenerationOptions& options,
                         const std::function<void(std::int32_t)>& on_token);

}  // namespace quantlm::model
