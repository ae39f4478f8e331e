// The speed measurement on a test double: llama-bench's call pattern (warm-up, resets, batch sizes) and statistics.
#include "eval/speed.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.h"
#include "eval/fake_lm.h"

namespace quantlm::eval {
namespace {

using test::FakeLm;

FakeLm make_lm(std::int64_t context = 64) {
  return FakeLm(32, context, [](std::int64_t, std::int32_t, std::span<float> row) {
    for (float& x : row) x = 0;
  });
}

TEST(Speed, PromptIsOneBatchAndGenerationOneTokenPerCallFromAnEmptyCache) {
  FakeLm lm = make_lm();
  const SpeedResult r = measure_speed(lm, SpeedOptions{.n_prompt = 8, .n_gen = 4, .repetitions = 3});
  // (1 warm-up + 3 runs) of each test, each from a reset; one final reset leaves the cache empty.
  ASSERT_EQ(lm.sequences.size(), 2U * 4U + 1U);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(lm.sequences[i].size(), 8U) << i;
  for (std::size_t i = 4; i < 8; ++i) EXPECT_EQ(lm.sequences[i].size(), 4U) << i;
  EXPECT_TRUE(lm.sequences.back().empty());
  EXPECT_EQ(lm.cached_tokens(), 0);
  // pp: 4 calls starting at position 0; tg: 4 × 4 calls at positions 0, 1, 2, 3.
  std::vector<std::int64_t> expected(4, 0);
  for (int run = 0; run < 4; ++run) expected.insert(expected.end(), {0, 1, 2, 3});
  EXPECT_EQ(lm.call_start_positions, expected);
  // The same random tokens every run.
  EXPECT_EQ(lm.sequences[0], lm.sequences[3]);
  EXPECT_EQ(lm.sequences[4], lm.sequences[7]);
  for (const std::int32_t t : lm.sequences[0]) EXPECT_TRUE(t >= 0 && t < 32) << t;

  EXPECT_EQ(r.pp.tokens, 8);
  EXPECT_EQ(r.tg.tokens, 4);
  EXPECT_EQ(r.pp.samples.size(), 3U);
  EXPECT_EQ(r.tg.samples.size(), 3U);
  EXPECT_GT(r.pp.mean, 0);
  EXPECT_GT(r.tg.median, 0);
}

TEST(Speed, ATestOfZeroTokensIsSkipped) {
  FakeLm lm = make_lm();
  const SpeedResult r = measure_speed(lm, SpeedOptions{.n_prompt = 0, .n_gen = 2, .repetitions = 1});
  EXPECT_TRUE(r.pp.empty());
  EXPECT_EQ(r.tg.samples.size(), 1U);
  EXPECT_EQ(r.tg.sd, 0);
}

TEST(Speed, RefusesWhatTheModelCannotRun) {
  FakeLm lm = make_lm(16);
  EXPECT_THROW((void)measure_speed(lm, SpeedOptions{.n_prompt = 17, .n_gen = 1, .repetitions = 1}), Error);
  EXPECT_THROW((void)measure_speed(lm, SpeedOptions{.n_prompt = 4, .n_gen = 4, .repetitions = 0}), Error);
  EXPECT_THROW((void)measure_speed(lm, SpeedOptions{.n_prompt = -1, .n_gen = 4, .repetitions = 1}), Error);
}

TEST(Speed, SummaryIsMeanSampleSdAndMedian) {
  const SpeedSeries s = summarize(10, {4.0, 1.0, 2.0, 5.0});
  EXPECT_EQ(s.tokens, 10);
  EXPECT_DOUBLE_EQ(s.mean, 3.0);
  EXPECT_DOUBLE_EQ(s.sd, std::sqrt(10.0 / 3.0));  // (1 + 4 + 1 + 4) / (4 - 1)
  EXPECT_DOUBLE_EQ(s.median, 3.0);
  EXPECT_DOUBLE_EQ(summarize(1, {3.0, 9.0, 1.0}).median, 3.0);
  EXPECT_EQ(s.samples, (std::vector<double>{4.0, 1.0, 2.0, 5.0}));  // run order kept
}

}  // namespace
}  // namespace quantlm::eval
