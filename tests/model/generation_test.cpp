// The generation loop over a scripted CausalLm and a tiny random Llama: stopping rules, counts, reproducibility.
#include "model/generation.h"

#include <gtest/gtest.h>

#include <vector>

#include "core/error.h"
#include "model/llama_model.h"
#include "tiny_llama.h"

namespace quantlm::model {
namespace {

// After token t the most likely next token is (t + 1) % vocab; every other token is 1 logit behind.
class CountingLm final : public CausalLm {
 public:
  explicit CountingLm(std::int64_t context) : context_(context) {}
  [[nodiscard]] std::int64_t vocab_size() const override { return 5; }
  [[nodiscard]] std::int64_t context_length() const override { return context_; }
  void reset() override { cached_ = 0; }
  void forward(std::span<const std::int32_t> tokens, std::span<float> logits) override {
    EXPECT_EQ(logits.size(), tokens.size() * 5);
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      for (std::int32_t v = 0; v < 5; ++v)
        logits[i * 5 + static_cast<std::size_t>(v)] = v == (tokens[i] + 1) % 5 ? 1.0F : 0.0F;
    }
    cached_ += static_cast<std::int64_t>(tokens.size());
    calls.push_back(static_cast<std::int64_t>(tokens.size()));
  }
  [[nodiscard]] std::int64_t cached_tokens() const override { return cached_; }
  std::vector<std::int64_t> calls;

 private:
  std::int64_t context_;
  std::int64_t cached_ = 0;
};

std::vector<std::int32_t> run(CausalLm& lm, std::vector<std::int32_t> prompt, const GenerationOptions& o,
                              GenerationStats* stats = nullptr) {
  std::vector<std::int32_t> out;
  const GenerationStats s = generate(lm, prompt, o, [&](std::int32_t t) { out.push_back(t); });
  if (stats != nullptr) *stats = s;
  return out;
}

TEST(Generation, GreedyPrefillsOnceThenDecodesOneTokenPerCall) {
  CountingLm lm(100);
  GenerationStats s;
  EXPECT_EQ(run(lm, {1, 2}, {.max_tokens = 6}, &s), (std::vector<std::int32_t>{3, 4, 0, 1, 2, 3}));
  EXPECT_EQ(lm.calls, (std::vector<std::int64_t>{2, 1, 1, 1, 1, 1}));  // the last token is not fed back
  EXPECT_EQ(s.prompt_tokens, 2);
  EXPECT_EQ(s.generated_tokens, 6);
  EXPECT_EQ(s.decode_calls, 5);
  EXPECT_FALSE(s.stopped_at_token);
}

TEST(Generation, StopsAtTheStopTokenWithoutEmittingIt) {
  CountingLm lm(100);
  GenerationStats s;
  EXPECT_EQ(run(lm, {1}, {.max_tokens = 50, .stop_token = 4}, &s), (std::vector<std::int32_t>{2, 3}));
  EXPECT_TRUE(s.stopped_at_token);
}

TEST(Generation, StopsWhenTheContextIsFull) {
  CountingLm lm(4);
  GenerationStats s;
  EXPECT_EQ(run(lm, {0, 1}, {.max_tokens = 50}, &s).size(), 3U);  // 2 prompt + 2 fed back fill 4 positions
  EXPECT_TRUE(s.context_full);
  EXPECT_EQ(lm.cached_tokens(), 4);
  EXPECT_THROW(run(lm, {0, 1, 2, 3, 4}, {}), Error);  // a prompt longer than the context
  EXPECT_THROW(run(lm, {}, {}), Error);
}

TEST(Generation, SamplingOnATinyLlamaIsReproducibleAndTopKOneIsGreedy) {
  const test::TinySpec spec;
  const io::ModelSource source = test::make_tiny_source(spec);
  LlamaModel lm(source);
  const std::vector<std::int32_t> prompt = {1, 5, 9};
  const std::vector<std::int32_t> greedy = run(lm, prompt, {.max_tokens = 20});
  EXPECT_EQ(run(lm, prompt, {.max_tokens = 20, .sampler = {.temperature = 0.8F, .top_k = 1, .seed = 3}}), greedy);
  const GenerationOptions sampled{.max_tokens = 20, .sampler = {.temperature = 1.5F, .top_p = 0.95F, .seed = 7}};
  const std::vector<std::int32_t> a = run(lm, prompt, sampled);
  EXPECT_EQ(run(lm, prompt, sampled), a);
  EXPECT_NE(a, greedy);  // at temperature 1.5 over a random model, 20 tokens all equal to greedy's would be a bug
}

}  // namespace
}  // namespace quantlm::model
