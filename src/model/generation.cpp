// The generation loop.
#include "model/generation.h"

#include <chrono>
#include <vector>

#include "core/error.h"

namespace quantlm::model {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

GenerationStats generate(CausalLm& lm, std::span<const std::int32_t> prompt, const GenerationOptions& options,
                         const std::function<void(std::int32_t)>& on_token) {
  if (prompt.empty()) throw make_error("generate: the prompt has no tokens");
  if (static_cast<std::int64_t>(prompt.size()) > lm.context_length()) {
    throw make_error("generate: the prompt has {} tokens, more than the context of {}", prompt.size(),
                     lm.context_length());
  }
  GenerationStats stats;
  stats.prompt_tokens = static_cast<std::int64_t>(prompt.size());
  Sampler sampler(options.sampler);
  const auto vocab = static_cast<std::size_t>(lm.vocab_size());
  lm.reset();

  std::vector<float> logits(prompt.size() * vocab);  // (prompt tokens, vocab); only the last row is sampled
  auto start = std::chrono::steady_clock::now();
  lm.forward(prompt, logits);
  stats.prefill_seconds = seconds_since(start);

  start = std::chrono::steady_clock::now();
  std::span<const float> last = std::span<const float>(logits).subspan(logits.size() - vocab);
  while (stats.generated_tokens < options.max_tokens) {
    std::int32_t token = sampler.sample(last);
    if (token == options.stop_token) {
      stats.stopped_at_token = true;
      break;
    }
    on_token(token);
    ++stats.generated_tokens;
    if (stats.generated_tokens == options.max_tokens) break;  // the last token needs no forward call
    if (lm.cached_tokens() >= lm.context_length()) {
      stats.context_full = true;
      break;
    }
    logits.resize(vocab);
    lm.forward(std::span(&token, 1), logits);
    ++stats.decode_calls;
    last = logits;
  }
  stats.decode_seconds = seconds_since(start);
  return stats;
}

}  // namespace quantlm::model
