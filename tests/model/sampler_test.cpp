// Greedy and temperature / top-k / top-p sampling.
#include "model/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

#include "core/error.h"

namespace quantlm::model {
namespace {

const std::vector<float> kLogits = {1.0F, 3.0F, 0.5F, 3.0F, -2.0F, 2.0F};

TEST(Sampler, GreedyIsArgmaxWithLowestIdOnTies) {
  Sampler s(SamplerConfig{});
  EXPECT_EQ(s.sample(kLogits), 1);
  EXPECT_EQ(Sampler::argmax(std::vector<float>{-1.0F, -0.5F, -3.0F}), 1);
}

TEST(Sampler, TopKOfOneEqualsGreedyAtAnyTemperature) {
  for (const std::uint64_t seed : {1U, 2U, 3U}) {
    Sampler s(SamplerConfig{.temperature = 5.0F, .top_k = 1, .seed = seed});
    for (int i = 0; i < 50; ++i) EXPECT_EQ(s.sample(kLogits), Sampler::argmax(kLogits));
  }
}

TEST(Sampler, TopPKeepsTheSmallestSetReachingP) {
  // Temperature 1 over {0, ln 2, ln 4, ln 8} (ids 3, 2, 1, 0 by likelihood): probabilities 8/15, 4/15, 2/15, 1/15.
  const std::vector<float> logits = {0.0F, std::log(2.0F), std::log(4.0F), std::log(8.0F)};
  const auto ids = [&](float p) {
    std::vector<std::int32_t> out;
    for (const auto& c : Sampler(SamplerConfig{.temperature = 1.0F, .top_p = p}).candidates(logits))
      out.push_back(c.id);
    return out;
  };
  EXPECT_EQ(ids(0.5F), (std::vector<std::int32_t>{3}));     // 8/15 = 0.533 reaches 0.5 alone
  EXPECT_EQ(ids(0.6F), (std::vector<std::int32_t>{3, 2}));  // 12/15 = 0.8
  EXPECT_EQ(ids(0.79F), (std::vector<std::int32_t>{3, 2}));
  EXPECT_EQ(ids(0.81F), (std::vector<std::int32_t>{3, 2, 1}));  // 14/15
  EXPECT_EQ(ids(1.0F), (std::vector<std::int32_t>{3, 2, 1, 0}));
  const auto kept = Sampler(SamplerConfig{.temperature = 1.0F, .top_p = 0.6F}).candidates(logits);
  // Renormalized over what is kept (the logits are floats: ln 2 is rounded, hence the tolerance).
  EXPECT_NEAR(kept[0].probability, 2.0 / 3.0, 1e-6);
  EXPECT_NEAR(kept[1].probability, 1.0 / 3.0, 1e-6);
}

TEST(Sampler, FixedSeedReproducesAndDrawsFollowTheDistribution) {
  const SamplerConfig config{.temperature = 1.0F, .seed = 42};
  Sampler a(config);
  Sampler b(config);
  std::map<std::int32_t, int> counts;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    const std::int32_t t = a.sample(kLogits);
    ASSERT_EQ(t, b.sample(kLogits));
    ++counts[t];
  }
  // Every token is drawn at about its softmax probability (5 sigma of a binomial).
  double z = 0;
  for (float l : kLogits) z += std::exp(l);
  for (std::size_t id = 0; id < kLogits.size(); ++id) {
    const double p = std::exp(kLogits[id]) / z;
    EXPECT_NEAR(counts[static_cast<std::int32_t>(id)] / double{n}, p, 5 * std::sqrt(p * (1 - p) / n)) << id;
  }
  Sampler other(SamplerConfig{.temperature = 1.0F, .seed = 43});
  int same = 0;
  Sampler again(config);
  for (int i = 0; i < 100; ++i) same += other.sample(kLogits) == again.sample(kLogits) ? 1 : 0;
  EXPECT_LT(same, 100);  // another seed gives another sequence
}

TEST(Sampler, RejectsBadSettings) {
  EXPECT_THROW(Sampler(SamplerConfig{.top_k = -1}), Error);
  EXPECT_THROW(Sampler(SamplerConfig{.top_p = 0.0F}), Error);
  EXPECT_THROW(Sampler(SamplerConfig{.top_p = 1.5F}), Error);
}

}  // namespace
}  // namespace quantlm::model
