// AWQ's scale search on a planted case: a few input channels far louder than the rest get the largest scales.
#include "quant/awq.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "core/error.h"

namespace quantlm::quant {
namespace {

TEST(Awq, FindsPlantedOutlierChannels) {
  const std::int64_t cols = 64;
  const std::int64_t rows = 32;
  const std::int64_t tokens = 256;
  const std::vector<std::int64_t> loud = {3, 17, 40};
  std::mt19937 rng(1);
  std::normal_distribution<float> g;
  // Inputs: unit noise, with three channels 20 times louder (LLM activations' outlier channels).
  std::vector<double> h(static_cast<std::size_t>(cols * cols), 0.0);
  std::vector<float> x(static_cast<std::size_t>(cols));
  for (std::int64_t t = 0; t < tokens; ++t) {
    for (std::int64_t c = 0; c < cols; ++c) x[c] = g(rng);
    for (const std::int64_t c : loud) x[c] *= 20.0F;
    for (std::int64_t i = 0; i < cols; ++i)
      for (std::int64_t j = 0; j < cols; ++j) h[i * cols + j] += double{x[i]} * x[j];
  }
  std::vector<float> w(static_cast<std::size_t>(rows * cols));
  for (float& v : w) v = 0.02F * g(rng);
  const AwqWeight weights[] = {{&formats::traits(formats::FormatId::Q4_0), w, rows}};
  const AwqResult r = awq_search(weights, cols, h, tokens, formats::QuantizeParams{});
  EXPECT_GT(r.alpha, 0.0);
  EXPECT_LT(r.error, 0.8 * r.error_plain) << "plain " << r.error_plain << ", AWQ " << r.error;
  // The three loudest scales are the planted channels.
  std::vector<std::int64_t> order(static_cast<std::size_t>(cols));
  for (std::int64_t c = 0; c < cols; ++c) order[c] = c;
  std::sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) { return r.scales[a] > r.scales[b]; });
  std::vector<std::int64_t> top(order.begin(), order.begin() + 3);
  std::sort(top.begin(), top.end());
  EXPECT_EQ(top, loud);
}

TEST(Awq, UniformInputsKeepPlainRtn) {
  // Equal channel power: every s is 1 whatever alpha, so nothing beats plain RTN.
  const std::int64_t cols = 32;
  std::vector<double> h(static_cast<std::size_t>(cols * cols), 0.0);
  for (std::int64_t i = 0; i < cols; ++i) h[i * cols + i] = 100.0;
  std::vector<float> w(static_cast<std::size_t>(4 * cols));
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = 0.01F * static_cast<float>(static_cast<int>(i % 13) - 6);
  const AwqWeight weights[] = {{&formats::traits(formats::FormatId::Q4_0), w, 4}};
  const AwqResult r = awq_search(weights, cols, h, 100, formats::QuantizeParams{});
  EXPECT_EQ(r.alpha, 0.0);
  EXPECT_EQ(r.error, r.error_plain);
  EXPECT_THROW((void)awq_search(weights, cols, h, 0, formats::QuantizeParams{}), Error);
}

}  // namespace
}  // namespace quantlm::quant
