// AdamW against a hand-computed case, the warmup + cosine schedule at chosen steps, and global-norm clipping.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <vector>

#include "train/adamw.h"
#include "train/grad_clip.h"
#include "train/param.h"
#include "train/schedule.h"

namespace quantlm::train {
namespace {

TEST(AdamW, TwoStepsMatchHandComputation) {
  // β1 0.9, β2 0.999, ε 1e-8, lr 0.1, weight decay 0.1 on `w`, none on the norm weight `n`.
  std::vector<double> w = {1.0, -2.0}, gw = {0.5, -0.1};
  std::vector<double> n = {1.0}, gn = {0.5};
  const std::vector<ParamRef<double>> params = {{w.data(), gw.data(), 2, true}, {n.data(), gn.data(), 1, false}};
  AdamW<double> opt({.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.1});
  opt.step(params, 0.1);
  // Step 1: m = 0.1 g, v = 0.001 g², so m̂ = g and v̂ = g²: the update is lr · g / (|g| + ε).
  EXPECT_NEAR(w[0], 1.0 * (1 - 0.1 * 0.1) - 0.1 * 0.5 / (0.5 + 1e-8), 1e-15);
  EXPECT_NEAR(w[1], -2.0 * (1 - 0.1 * 0.1) + 0.1 * 0.1 / (0.1 + 1e-8), 1e-15);
  EXPECT_NEAR(n[0], 1.0 - 0.1 * 0.5 / (0.5 + 1e-8), 1e-15);  // no decay
  EXPECT_EQ(opt.steps_taken(), 1);

  gw = {0.25, 0.3};
  gn = {0.0};
  const double w0 = w[0], w1 = w[1];
  opt.step(params, 0.1);
  // Step 2, element 0: m = 0.9·0.05 + 0.1·0.25 = 0.07, v = 0.999·0.00025 + 0.001·0.0625 = 0.00031225,
  // bias corrections 1 − 0.9² = 0.19 and 1 − 0.999² = 0.001999.
  EXPECT_NEAR(w[0], w0 * 0.99 - 0.1 * (0.07 / 0.19) / (std::sqrt(0.00031225 / 0.001999) + 1e-8), 1e-14);
  EXPECT_NEAR(w[0], 0.7878820404574624, 1e-13);  // the same, from an independent Python script
  // Element 1: m = 0.9·(−0.01) + 0.1·0.3 = 0.021, v = 0.999·1e-5 + 0.001·0.09 = 9.999e-5.
  EXPECT_NEAR(w[1], w1 * 0.99 - 0.1 * (0.021 / 0.19) / (std::sqrt(9.999e-5 / 0.001999) + 1e-8), 1e-14);
  EXPECT_NEAR(w[1], -1.9106189910200655, 1e-13);
}

TEST(WarmupCosine, ValuesAtChosenSteps) {
  const WarmupCosine s{.peak_lr = 1e-3, .min_lr = 1e-4, .warmup_steps = 10, .total_steps = 110};
  EXPECT_DOUBLE_EQ(s.at(0), 1e-4);  // warmup's first step already moves
  EXPECT_DOUBLE_EQ(s.at(4), 5e-4);
  EXPECT_DOUBLE_EQ(s.at(9), 1e-3);
  EXPECT_DOUBLE_EQ(s.at(10), 1e-3);  // cosine starts at the peak
  EXPECT_NEAR(s.at(35), 1e-4 + 9e-4 * (1 + std::cos(std::numbers::pi / 4)) / 2, 1e-18);
  EXPECT_NEAR(s.at(35), 8.681980515339464e-4, 1e-18);
  EXPECT_NEAR(s.at(60), 5.5e-4, 1e-18);  // half way: the mean of peak and floor
  EXPECT_NEAR(s.at(110), 1e-4, 1e-18);
  EXPECT_NEAR(s.at(1000), 1e-4, 1e-18);  // held at the floor past the end
  const WarmupCosine no_warmup{.peak_lr = 2.0, .min_lr = 0.0, .warmup_steps = 0, .total_steps = 4};
  EXPECT_DOUBLE_EQ(no_warmup.at(0), 2.0);
  EXPECT_NEAR(no_warmup.at(2), 1.0, 1e-15);
}

TEST(GradClip, ScalesEveryGradientByTheSameFactor) {
  std::vector<float> v1(2), g1 = {3.0F, 4.0F}, v2(1), g2 = {12.0F};
  const std::vector<ParamRef<float>> params = {{v1.data(), g1.data(), 2, true}, {v2.data(), g2.data(), 1, false}};
  EXPECT_DOUBLE_EQ(global_grad_norm<float>(params), 13.0);
  EXPECT_DOUBLE_EQ(clip_grad_norm<float>(params, 100.0), 13.0);  // under the limit: untouched
  EXPECT_EQ(g1, (std::vector<float>{3.0F, 4.0F}));
  EXPECT_DOUBLE_EQ(clip_grad_norm<float>(params, 6.5), 13.0);
  EXPECT_EQ(g1, (std::vector<float>{1.5F, 2.0F}));
  EXPECT_EQ(g2, (std::vector<float>{6.0F}));
}

}  // namespace
}  // namespace quantlm::train
