// The perplexity protocols on test doubles with hand-computable logits: values, positions, chunks, BOS, cache resets.
#include "eval/perplexity.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "eval/fake_lm.h"

namespace quantlm::eval {
namespace {

using test::FakeLm;

constexpr std::int32_t kBos = 1;
constexpr std::int64_t kVocab = 16;

// The successor rule of the cyclic text below: 2, 3, …, 15, 2, …
std::int32_t successor(std::int32_t t) { return t == kVocab - 1 ? 2 : t + 1; }

// BOS (when asked), then 2, 3, …, 15 repeated: every token after the first is its predecessor's successor.
EvalTokens cyclic_text(std::size_t n, bool with_bos) {
  EvalTokens text;
  std::int32_t t = 2;
  if (with_bos) {
    text.ids.push_back(kBos);
    text.chunk_bos = kBos;
  }
  while (text.ids.size() < n) {
    text.ids.push_back(t);
    t = successor(t);
  }
  return text;
}

// Puts logit a(position) on the successor of the input token, 0 elsewhere:
// the next token gets probability e^a / (e^a + V - 1). After BOS: uniform.
FakeLm::RowFn successor_rows(std::function<double(std::int64_t)> a) {
  return [a = std::move(a)](std::int64_t position, std::int32_t token, std::span<float> row) {
    for (float& x : row) x = 0.0f;
    if (token != kBos) row[static_cast<std::size_t>(successor(token))] = static_cast<float>(a(position));
  };
}

// The NLL of the successor under successor_rows with logit a (the test's own
// reference), a rounded to float as the model's logits are.
double successor_nll(double a) {
  const double a_float = static_cast<float>(a);
  return std::log(std::exp(a_float) + (kVocab - 1)) - a_float;
}

EvalOptions options(std::int64_t n_ctx, Protocol protocol = Protocol::llamacpp) {
  return {.n_ctx = n_ctx, .protocol = protocol, .progress = ProgressMode::never};
}

TEST(Perplexity, UniformLogitsGivePerplexityEqualToTheVocabulary) {
  for (const Protocol protocol : {Protocol::llamacpp, Protocol::full}) {
    FakeLm lm(37, 64, test::uniform_rows());
    EvalTokens text;
    for (int i = 0; i < 1000; ++i) text.ids.push_back((i * 7) % 37);
    const PerplexityResult r = perplexity(lm, text, options(16, protocol));
    EXPECT_NEAR(r.figures.ppl, 37.0, 37.0 * 1e-13) << to_string(protocol);
    EXPECT_EQ(r.figures.ppl_error, 0.0) << "a constant NLL has no spread";
    EXPECT_EQ(r.plan.n_chunks, 62);
    EXPECT_EQ(r.plan.scored_per_chunk(), protocol == Protocol::llamacpp ? 7 : 15);
    ASSERT_EQ(r.running_ppl.size(), 62U);
    EXPECT_NEAR(r.running_ppl.front(), 37.0, 1e-11);
  }
}

TEST(Perplexity, NextTokenWithProbabilityPGivesOneOverP) {
  const double p = 0.7;
  const double a = std::log(p * (kVocab - 1) / (1 - p));
  // The float logit moves p by ~1e-8; the checks below use the exact p_float.
  const double p_float = std::exp(-successor_nll(a));
  ASSERT_NEAR(p_float, p, 1e-7);
  const std::int64_t n_ctx = 32;
  {
    FakeLm lm(kVocab, n_ctx, successor_rows([a](std::int64_t) { return a; }));
    const PerplexityResult r = perplexity(lm, cyclic_text(1000, true), options(n_ctx));
    EXPECT_NEAR(r.figures.ppl, 1 / p_float, 1e-12);
  }
  {
    // Full protocol: row 0 sees the BOS written over each chunk's first token
    // and predicts uniformly; the other n_ctx - 2 rows give -log p.
    FakeLm lm(kVocab, n_ctx, successor_rows([a](std::int64_t) { return a; }));
    const PerplexityResult r = perplexity(lm, cyclic_text(1000, true), options(n_ctx, Protocol::full));
    const double mean_nll = ((n_ctx - 2) * -std::log(p_float) + std::log(double{kVocab})) / (n_ctx - 1);
    EXPECT_NEAR(r.figures.ppl, std::exp(mean_nll), 1e-12);
  }
  {
    // Without BOS, no token is replaced: every row predicts its successor.
    FakeLm lm(kVocab, n_ctx, successor_rows([a](std::int64_t) { return a; }));
    const PerplexityResult r = perplexity(lm, cyclic_text(1000, false), options(n_ctx, Protocol::full));
    EXPECT_NEAR(r.figures.ppl, 1 / p_float, 1e-12);
  }
}

// Each position gets its own probability, so the mean reveals exactly which
// positions were scored: llama-perplexity's n_ctx/2 … n_ctx-2, or 0 … n_ctx-2.
TEST(Perplexity, ScoresExactlyTheProtocolsPositions) {
  const auto a = [](std::int64_t position) { return 0.05 * static_cast<double>(position) - 1.0; };
  for (const std::int64_t n_ctx : {7, 8, 64, 256}) {
    for (const Protocol protocol : {Protocol::llamacpp, Protocol::full}) {
      FakeLm lm(kVocab, n_ctx, successor_rows(a));
      const EvalTokens text = cyclic_text(static_cast<std::size_t>(3 * n_ctx + n_ctx / 2), true);
      const PerplexityResult r = perplexity(lm, text, options(n_ctx, protocol));
      // The reference: NLL per scored position, from the protocol's definition.
      std::vector<double> nll;
      const std::int64_t first = protocol == Protocol::llamacpp ? n_ctx / 2 : 0;
      for (std::int64_t j = first; j <= n_ctx - 2; ++j) {
        nll.push_back(j == 0 ? std::log(double{kVocab}) : successor_nll(a(j)));
      }
      double sum = 0;
      double sum2 = 0;
      for (const double x : nll) sum += x, sum2 += x * x;
      const double count = 3.0 * static_cast<double>(nll.size());  // 3 chunks, the same values in each
      const double mean = 3 * sum / count;
      const double error = std::sqrt((3 * sum2 / count - mean * mean) / (count - 1));
      const std::string where = fmt::format("n_ctx {} {}", n_ctx, to_string(protocol));
      EXPECT_EQ(r.plan.n_chunks, 3) << where;
      EXPECT_EQ(r.plan.scored_positions(), static_cast<std::int64_t>(count)) << where;
      EXPECT_EQ(r.plan.scored_per_chunk(), protocol == Protocol::llamacpp ? n_ctx - 1 - n_ctx / 2 : n_ctx - 1) << where;
      EXPECT_NEAR(r.figures.mean_nll, mean, 1e-13) << where;
      EXPECT_NEAR(r.figures.ppl, std::exp(mean), 1e-12) << where;
      // The variance sum2/n - mean² cancels digits: relative 1e-9 (a wrong
      // position would move it by percents).
      EXPECT_NEAR(r.figures.nll_error, error, error * 1e-9) << where;
      EXPECT_NEAR(r.figures.ppl_error, std::exp(mean) * error, std::exp(mean) * error * 1e-9) << where;
    }
  }
  EXPECT_EQ(plan_chunks(393019, options(256)).scored_per_chunk(), 127) << "ANCHORS.md's stories260K setting";
  EXPECT_EQ(plan_chunks(393019, options(256)).n_chunks, 1535);
}

TEST(Perplexity, CountsWholeChunksOnly) {
  EXPECT_EQ(plan_chunks(1000, options(64)).n_chunks, 15);
  EXPECT_EQ(plan_chunks(1023, options(64)).n_chunks, 15);
  EXPECT_EQ(plan_chunks(1024, options(64)).n_chunks, 16);
  EvalOptions limited = options(64);
  limited.max_chunks = 4;
  EXPECT_EQ(plan_chunks(1000, limited).n_chunks, 4);
  limited.max_chunks = 100;
  EXPECT_EQ(plan_chunks(1000, limited).n_chunks, 15);
  // llama-perplexity needs two contexts of text; the full protocol one.
  EXPECT_THROW(static_cast<void>(plan_chunks(127, options(64))), Error);
  EXPECT_EQ(plan_chunks(128, options(64)).n_chunks, 2);
  EXPECT_EQ(plan_chunks(64, options(64, Protocol::full)).n_chunks, 1);
  EXPECT_THROW(static_cast<void>(plan_chunks(63, options(64, Protocol::full))), Error);
  EXPECT_THROW(static_cast<void>(plan_chunks(1000, options(2))), Error) << "no position left to score";
  EXPECT_EQ(plan_chunks(1000, options(2, Protocol::full)).scored_per_chunk(), 1);
  limited.max_chunks = -1;
  EXPECT_THROW(static_cast<void>(plan_chunks(1000, limited)), Error);

  FakeLm lm(kVocab, 64, test::uniform_rows());
  limited.max_chunks = 5;
  const PerplexityResult r = perplexity(lm, cyclic_text(1000, true), limited);
  EXPECT_EQ(r.plan.n_chunks, 5);
  EXPECT_EQ(lm.sequences.size(), 5U) << "only the requested chunks run";
}

TEST(Perplexity, WritesBosOverEachChunkStartAndResetsTheCache) {
  const std::int64_t n_ctx = 20;
  for (const bool with_bos : {true, false}) {
    FakeLm lm(kVocab, n_ctx, test::hashed_rows(3));
    const EvalTokens text = cyclic_text(130, with_bos);
    const PerplexityResult r = perplexity(lm, text, options(n_ctx));
    ASSERT_EQ(r.plan.n_chunks, 6);
    EXPECT_EQ(lm.resets, 6);
    ASSERT_EQ(lm.sequences.size(), 6U);
    for (std::size_t c = 0; c < 6; ++c) {
      const std::vector<std::int32_t>& seq = lm.sequences[c];
      ASSERT_EQ(seq.size(), static_cast<std::size_t>(n_ctx));
      EXPECT_EQ(seq[0], with_bos ? kBos : text.ids[c * n_ctx]) << "chunk " << c;
      for (std::size_t k = 1; k < seq.size(); ++k) ASSERT_EQ(seq[k], text.ids[c * n_ctx + k]) << "chunk " << c;
    }
    for (const std::int64_t pos : lm.call_start_positions) EXPECT_EQ(pos, 0) << "each chunk starts on an empty cache";
  }
}

TEST(Perplexity, SmallerForwardCallsGiveTheSameFigures) {
  const EvalTokens text = cyclic_text(700, true);
  FakeLm whole(kVocab, 64, test::hashed_rows(5));
  const PerplexityResult a = perplexity(whole, text, options(64));
  FakeLm pieces(kVocab, 64, test::hashed_rows(5));
  EvalOptions batched = options(64);
  batched.batch = 5;
  const PerplexityResult b = perplexity(pieces, text, batched);
  EXPECT_EQ(a.figures.ppl, b.figures.ppl);
  EXPECT_EQ(a.figures.ppl_error, b.figures.ppl_error);
  EXPECT_EQ(whole.call_start_positions.size(), 10U);
  ASSERT_EQ(pieces.call_start_positions.size(), 10U * 13);  // ceil(64 / 5) calls per chunk
  for (std::size_t i = 0; i < 13; ++i) EXPECT_EQ(pieces.call_start_positions[i], static_cast<std::int64_t>(5 * i));
}

TEST(Perplexity, FiguresDoNotDependOnTheThreadCount) {
  const EvalTokens text = cyclic_text(2000, true);
  set_default_thread_count(1);
  FakeLm one(kVocab, 128, test::hashed_rows(9));
  const PerplexityResult a = perplexity(one, text, options(128, Protocol::full));
  set_default_thread_count(4);
  FakeLm four(kVocab, 128, test::hashed_rows(9));
  const PerplexityResult b = perplexity(four, text, options(128, Protocol::full));
  set_default_thread_count(0);
  EXPECT_EQ(a.figures.mean_nll, b.figures.mean_nll);
  EXPECT_EQ(a.figures.nll_error, b.figures.nll_error);
  EXPECT_EQ(a.running_ppl, b.running_ppl);
}

TEST(Perplexity, RefusesWhatTheModelCannotRun) {
  const EvalTokens text = cyclic_text(1000, true);
  FakeLm short_context(kVocab, 32, test::uniform_rows());
  try {
    static_cast<void>(perplexity(short_context, text, options(64)));
    FAIL() << "a context longer than the model's must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("-c 64"), std::string::npos) << e.what();
  }
  FakeLm small_vocab(10, 64, test::uniform_rows());
  EXPECT_THROW(static_cast<void>(perplexity(small_vocab, text, options(64))), Error)
      << "ids up to 15 in a 10-token vocabulary";
}

}  // namespace
}  // namespace quantlm::eval
