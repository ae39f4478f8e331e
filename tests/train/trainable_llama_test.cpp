// The whole TrainableLlama: gradient check of every parameter in double, and a short, reproducible training run.
#include "train/trainable_llama.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <random>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "train/adamw.h"
#include "train/grad_clip.h"
#include "train/gradcheck.h"
#include "train/schedule.h"

namespace quantlm::train {
namespace {

// The brief's odd shapes: dim 6 = 3 heads of 2, one shared kv head, vocab 11.
TrainableLlamaConfig small_config(bool tied) {
  return {.vocab = 11,
          .dim = 6,
          .n_layers = 2,
          .n_heads = 3,
          .n_kv_heads = 1,
          .n_ff = 10,
          .rope_base = 10000.0,
          .rms_eps = 1e-5,
          .tied_output = tied};
}

// Weights of order one (not the 0.02 of training init) and norm weights away
// from 1, so that every term of every backward pass carries weight.
void randomize(TrainableLlama<double>& model) {
  std::mt19937_64 rng(3);
  for (Parameter<double>& p : model.parameters()) {
    for (double& w : p.value) w = p.decay ? testing::uniform(rng, -0.7, 0.7) : testing::uniform(rng, 0.5, 1.5);
  }
}

// Checks up to 12 elements of every parameter tensor (spread over it, first
// and last included) of the gradient that backward() left against finite
// differences of loss().
void check_model_gradients(TrainableLlama<double>& model, const char* label, const std::function<double()>& loss) {
  std::size_t checked = 0;
  double worst = 0.0;
  for (Parameter<double>& p : model.parameters()) {
    std::vector<std::size_t> idx;
    const std::size_t n = p.value.size(), samples = std::min<std::size_t>(n, 12);
    for (std::size_t s = 0; s < samples; ++s) idx.push_back(samples == 1 ? 0 : s * (n - 1) / (samples - 1));
    const std::vector<double> analytic = p.grad;
    const double err = testing::gradcheck(p.value, analytic, loss, idx);
    std::printf("[gradcheck] %-26s %-10s %2zu of %3zu elements: relative error %.2e\n", p.name.c_str(), label,
                idx.size(), n, err);
    EXPECT_LT(err, 1e-6) << p.name;
    worst = std::max(worst, err);
    checked += idx.size();
  }
  std::printf("[gradcheck] whole model %s: %zu elements of %zu tensors, worst relative error %.2e\n", label, checked,
              model.parameters().size(), worst);
}

void check_cross_entropy_gradients(bool tied) {
  TrainableLlama<double> model(small_config(tied), 7);
  randomize(model);
  const std::vector<std::int32_t> tokens = {1, 9, 4, 4, 10, 0};  // T = 5 predictions
  model.zero_grad();
  model.forward(tokens);
  model.backward();
  check_model_gradients(model, tied ? "(tied)" : "(untied)", [&] { return model.forward(tokens); });
}

TEST(TrainableLlama, GradientsMatchFiniteDifferences) { check_cross_entropy_gradients(false); }
TEST(TrainableLlama, GradientsMatchFiniteDifferencesTied) { check_cross_entropy_gradients(true); }

TEST(TrainableLlama, DistillationGradientsMatchFiniteDifferences) {
  TrainableLlama<double> model(small_config(false), 8);
  randomize(model);
  const std::vector<std::int32_t> inputs = {1, 9, 4, 4, 10};
  std::mt19937_64 rng(12);
  const std::vector<double> teacher = testing::random_vector(inputs.size() * 11, rng, -3.0, 3.0);
  model.zero_grad();
  EXPECT_GT(model.forward_distill(inputs, teacher, 2.0), 0.0);
  model.backward();
  check_model_gradients(model, "(distill)", [&] { return model.forward_distill(inputs, teacher, 2.0); });
  // Against its own logits (of the restored weights: the check's last forward was perturbed) the
  // student has nothing to learn.
  model.forward_distill(inputs, teacher, 2.0);
  const std::vector<double> own = model.logits();
  EXPECT_NEAR(model.forward_distill(inputs, own, 2.0), 0.0, 1e-14);
}

TEST(TrainableLlama, RejectsBadInputs) {
  TrainableLlama<float> model(small_config(false), 1);
  const std::vector<std::int32_t> bad = {1, 11, 2};  // 11 is past the vocabulary
  EXPECT_THROW(model.forward(bad), Error);
  const std::vector<std::int32_t> three = {1, 2, 3}, two = {1, 2};
  EXPECT_THROW(model.forward(three, two), Error);
  const std::vector<std::int32_t> one = {1};
  EXPECT_THROW(model.forward(one), Error);
  const std::vector<float> teacher(3 * 11 - 1);
  EXPECT_THROW(model.forward_distill(three, teacher, 1.0F), Error);
}

TEST(TrainableLlama, ParametersCarryGgufNames) {
  TrainableLlama<float> model(small_config(false), 1);
  ASSERT_NE(model.find("token_embd.weight"), nullptr);
  const Parameter<float>* wk = model.find("blk.1.attn_k.weight");
  ASSERT_NE(wk, nullptr);
  EXPECT_EQ(wk->shape, (std::vector<std::size_t>{2, 6}));  // (kv heads · head_dim, dim)
  EXPECT_NE(model.find("blk.0.ffn_down.weight"), nullptr);
  EXPECT_NE(model.find("output_norm.weight"), nullptr);
  EXPECT_NE(model.find("output.weight"), nullptr);
  EXPECT_FALSE(model.find("blk.0.attn_norm.weight")->decay);
  EXPECT_EQ(model.parameters().size(), 1 + 2 * 9 + 2U);
  TrainableLlama<float> tied(small_config(true), 1);
  EXPECT_EQ(tied.find("output.weight"), nullptr);
  EXPECT_EQ(tied.parameter_count() + 11 * 6, model.parameter_count());
  // The same seed gives the same weights.
  TrainableLlama<float> again(small_config(false), 1);
  EXPECT_EQ(again.find("blk.1.ffn_up.weight")->value, model.find("blk.1.ffn_up.weight")->value);
}

TEST(TrainableLlama, RejectsBadShapes) {
  TrainableLlamaConfig c = small_config(false);
  c.n_kv_heads = 2;  // does not divide 3 heads
  EXPECT_THROW(TrainableLlama<float>(c, 1), Error);
  c = small_config(false);
  c.dim = 9;  // head_dim 3 is odd: RoPE needs pairs
  EXPECT_THROW(TrainableLlama<float>(c, 1), Error);
}

TEST(TrainableLlama, GradientAccumulationAveragesMicroBatches) {
  TrainableLlama<double> model(small_config(false), 5);
  const std::vector<std::int32_t> a = {1, 2, 3, 4, 5, 6}, b = {7, 3, 9, 9, 0, 2};
  auto grads = [&] {
    std::vector<double> g;
    for (const Parameter<double>& p : model.parameters()) g.insert(g.end(), p.grad.begin(), p.grad.end());
    return g;
  };
  model.zero_grad();
  model.forward(a);
  model.backward();
  const std::vector<double> ga = grads();
  model.zero_grad();
  model.forward(b);
  model.backward();
  const std::vector<double> gb = grads();
  model.zero_grad();
  model.forward(a);
  model.backward(0.5);
  model.forward(b);
  model.backward(0.5);
  const std::vector<double> acc = grads();
  for (std::size_t i = 0; i < acc.size(); ++i) EXPECT_NEAR(acc[i], 0.5 * (ga[i] + gb[i]), 1e-15);
}

struct RunResult {
  std::vector<double> losses;
  double seconds = 0.0;
};

// A tiny float model learning a repeated 7-token cycle: every token fixes the
// next, so the loss can fall from log(16) ≈ 2.77 towards zero. Runs the first
// `steps` of a schedule of `schedule_steps`.
RunResult train_tiny(ThreadPool* pool, int steps, int schedule_steps) {
  const TrainableLlamaConfig config{.vocab = 16,
                                    .dim = 32,
                                    .n_layers = 2,
                                    .n_heads = 4,
                                    .n_kv_heads = 2,
                                    .n_ff = 64,
                                    .rope_base = 10000.0,
                                    .rms_eps = 1e-5,
                                    .tied_output = false};
  TrainableLlama<float> model(config, 1234, pool);
  const std::int32_t cycle[] = {3, 9, 1, 14, 6, 11, 2};
  std::vector<std::int32_t> tokens(33);
  for (std::size_t i = 0; i < tokens.size(); ++i) tokens[i] = cycle[i % 7];
  AdamW<float> opt({.beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .weight_decay = 0.01});
  const WarmupCosine lr{.peak_lr = 1e-2, .min_lr = 1e-3, .warmup_steps = 10, .total_steps = schedule_steps};
  const std::vector<ParamRef<float>> params = model.param_refs();
  RunResult r;
  const auto start = std::chrono::steady_clock::now();
  for (int step = 0; step < steps; ++step) {
    model.zero_grad();
    // Two micro-batches (the sequence and its shifted copy) accumulated per step.
    r.losses.push_back(0.5 * model.forward(tokens));
    model.backward(0.5F);
    r.losses.back() += 0.5 * model.forward(std::span(tokens).subspan(3, 28));
    model.backward(0.5F);
    clip_grad_norm<float>(params, 1.0);
    opt.step(params, lr.at(step));
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

TEST(TrainableLlama, TinyModelLearnsARepeatedSequenceReproducibly) {
  const int steps = 200, repeat_steps = 30;
  ThreadPool one(1), two(2);
  const RunResult a = train_tiny(&one, steps, steps);
  // The repeats run a prefix of the same schedule, which keeps the ASan build's time small.
  const RunResult b = train_tiny(&one, repeat_steps, steps);
  const RunResult c = train_tiny(&two, repeat_steps, steps);
  const double first = a.losses.front(), last = a.losses.back();
  std::printf(
      "[train] tiny llama, %d steps: loss %.4f -> %.6f (x%.0f lower) in %.3f s; %d steps: %.3f s on 1 thread, %.3f s "
      "on 2\n",
      steps, first, last, first / last, a.seconds, repeat_steps, b.seconds, c.seconds);
  EXPECT_NEAR(first, std::log(16.0), 0.1);  // a fresh model is close to uniform
  EXPECT_LT(last, first / 50.0);
  // Bit-identical loss curves: the same run again, and on 2 threads.
  const std::vector<double> prefix(a.losses.begin(), a.losses.begin() + repeat_steps);
  EXPECT_EQ(prefix, b.losses);
  EXPECT_EQ(prefix, c.losses);
}

}  // namespace
}  // namespace quantlm::train
