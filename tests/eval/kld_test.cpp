// KL divergence on test doubles: zero against itself, hand-computed pairs, saved base logits and their refusals.
#include "eval/kld.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "eval/fake_lm.h"
#include "support/temp_dir.h"

namespace quantlm::eval {
namespace {

using test::FakeLm;

EvalOptions options(std::int64_t n_ctx, Protocol protocol = Protocol::llamacpp) {
  return {.n_ctx = n_ctx, .protocol = protocol, .progress = ProgressMode::never};
}

EvalTokens hashed_text(std::size_t n, std::int32_t vocab, std::uint64_t seed) {
  EvalTokens text;
  text.chunk_bos = 1;
  std::uint64_t h = seed;
  for (std::size_t i = 0; i < n; ++i) {
    h = h * 6364136223846793005ULL + 1442695040888963407ULL;
    text.ids.push_back(static_cast<std::int32_t>((h >> 33) % static_cast<std::uint64_t>(vocab)));
  }
  text.ids[0] = 1;
  return text;
}

// Every row the same constant logits.
FakeLm::RowFn constant_rows(std::vector<float> logits) {
  return [logits = std::move(logits)](std::int64_t, std::int32_t, std::span<float> row) {
    std::copy(logits.begin(), logits.end(), row.begin());
  };
}

// Every figure except the timings.
void expect_same_figures(const KldResult& a, const KldResult& b) {
  EXPECT_EQ(a.plan.n_chunks, b.plan.n_chunks);
  EXPECT_EQ(a.plan.scored_positions(), b.plan.scored_positions());
  EXPECT_EQ(a.model.mean_nll, b.model.mean_nll);
  EXPECT_EQ(a.model.nll_error, b.model.nll_error);
  EXPECT_EQ(a.base.mean_nll, b.base.mean_nll);
  EXPECT_EQ(a.base.nll_error, b.base.nll_error);
  EXPECT_EQ(a.log_ppl_ratio_error, b.log_ppl_ratio_error);
  EXPECT_EQ(a.kld.mean, b.kld.mean);
  EXPECT_EQ(a.kld.error, b.kld.error);
  EXPECT_EQ(a.kld_distribution.median, b.kld_distribution.median);
  EXPECT_EQ(a.kld_distribution.p99, b.kld_distribution.p99);
  EXPECT_EQ(a.kld_distribution.max, b.kld_distribution.max);
  EXPECT_EQ(a.same_top, b.same_top);
  EXPECT_EQ(a.delta_p.mean, b.delta_p.mean);
  EXPECT_EQ(a.delta_p_rms, b.delta_p_rms);
}

TEST(Kld, ComparesOnePositionByHand) {
  // P = (1/2, 1/2), Q = (3/4, 1/4): KL = ½ln(2/3) + ½ln 2 = ½ln(4/3).
  const std::vector<float> base = {0.0f, 0.0f};
  const std::vector<float> model = {static_cast<float>(std::log(3.0)), 0.0f};
  const PositionComparison c = compare_position(base, model, 1);
  EXPECT_NEAR(c.kld, 0.5 * std::log(4.0 / 3.0), 1e-8);  // float logits: log 3 is rounded to float
  EXPECT_NEAR(c.nll_base, std::log(2.0), 1e-15);
  EXPECT_NEAR(c.nll_model, std::log(4.0), 1e-7);
  EXPECT_NEAR(c.delta_p, 0.25 - 0.5, 1e-7);
  EXPECT_TRUE(c.same_top) << "ties go to the first index, as in llama.cpp";

  // Three tokens, logits chosen as exact log-probabilities of P = (.2, .3, .5) and Q = (.1, .6, .3).
  const std::vector<float> p3 = {std::log(0.2f), std::log(0.3f), std::log(0.5f)};
  const std::vector<float> q3 = {std::log(0.1f), std::log(0.6f), std::log(0.3f)};
  const double expected = 0.2 * std::log(2.0) + 0.3 * std::log(0.5) + 0.5 * std::log(5.0 / 3.0);
  const PositionComparison d = compare_position(p3, q3, 2);
  EXPECT_NEAR(d.kld, expected, 1e-7);
  EXPECT_NEAR(d.delta_p, 0.3 - 0.5, 1e-7);
  EXPECT_FALSE(d.same_top);

  const PositionComparison self = compare_position(p3, p3, 0);
  EXPECT_EQ(self.kld, 0.0);
  EXPECT_EQ(self.delta_p, 0.0);
  EXPECT_TRUE(self.same_top);
}

TEST(Kld, AModelAgainstItselfIsExactlyZero) {
  const EvalTokens text = hashed_text(3000, 40, 7);
  FakeLm base(40, 256, test::hashed_rows(11));
  FakeLm same(40, 256, test::hashed_rows(11));
  const KldResult r = kl_divergence(base, same, text, options(128));
  EXPECT_EQ(r.plan.n_chunks, 23);
  EXPECT_EQ(r.kld.mean, 0.0);
  EXPECT_EQ(r.kld.error, 0.0);
  EXPECT_EQ(r.kld_distribution.max, 0.0);
  EXPECT_EQ(r.kld_distribution.min, 0.0);
  EXPECT_EQ(r.same_top, 1.0);
  EXPECT_EQ(r.delta_p.mean, 0.0);
  EXPECT_EQ(r.delta_p_rms, 0.0);
  EXPECT_EQ(r.log_ppl_ratio, 0.0);
  EXPECT_EQ(r.model.ppl, r.base.ppl);
  EXPECT_GT(r.model.ppl, 1.0);

  // Both PPLs are the perplexity of each model on the same positions, to the bit.
  FakeLm again(40, 256, test::hashed_rows(11));
  const PerplexityResult p = perplexity(again, text, options(128));
  EXPECT_EQ(p.figures.ppl, r.base.ppl);
  EXPECT_EQ(p.figures.ppl_error, r.base.ppl_error);
}

TEST(Kld, MatchesAHandComputedPairOverAText) {
  // Base: uniform over 2 tokens; model: (3/4, 1/4) or (1/4, 3/4) at every position.
  EvalTokens text = hashed_text(600, 2, 3);
  text.chunk_bos.reset();
  const float log3 = static_cast<float>(std::log(3.0));
  const double kl = compare_position(std::vector<float>{0, 0}, std::vector<float>{log3, 0}, 0).kld;
  EXPECT_NEAR(kl, 0.5 * std::log(4.0 / 3.0), 1e-8);
  for (const bool favour_first : {true, false}) {
    FakeLm base(2, 64, constant_rows({0.0f, 0.0f}));
    FakeLm model(2, 64, constant_rows(favour_first ? std::vector<float>{log3, 0} : std::vector<float>{0, log3}));
    const KldResult r = kl_divergence(base, model, text, options(64));
    EXPECT_NEAR(r.kld.mean, kl, 1e-15);
    EXPECT_EQ(r.kld.error, 0.0);
    EXPECT_NEAR(r.kld_distribution.p99, kl, 1e-15);
    EXPECT_EQ(r.same_top, favour_first ? 1.0 : 0.0);
    EXPECT_NEAR(r.base.ppl, 2.0, 1e-14);
    // Δp = Q(t) - 1/2 = ±1/4 depending on the target.
    double expected_dp = 0;
    std::int64_t n = 0;
    for (std::int64_t c = 0; c < r.plan.n_chunks; ++c) {
      for (const std::int32_t t : chunk_targets(text, r.plan, c)) {
        expected_dp += (t == 0) == favour_first ? 0.25 : -0.25;
        ++n;
      }
    }
    EXPECT_NEAR(r.delta_p.mean, expected_dp / static_cast<double>(n), 1e-7);
    EXPECT_NEAR(r.delta_p_rms, 0.25, 1e-7);
  }
}

TEST(Kld, SavedBaseLogitsReproduceTheDirectComputation) {
  test::TempDir dir;
  const EvalTokens text = hashed_text(5000, 50, 5);
  for (const Protocol protocol : {Protocol::llamacpp, Protocol::full}) {
    const auto path = dir / fmt::format("base-{}.logits", to_string(protocol));
    FakeLm base(50, 128, test::hashed_rows(1));
    FakeLm model(50, 128, test::hashed_rows(2));
    const KldResult direct = kl_divergence(base, model, text, options(100, protocol), SaveBase{path, "fake base"});
    EXPECT_GT(direct.kld.mean, 0.01);
    ASSERT_TRUE(std::filesystem::exists(path));
    EXPECT_EQ(std::filesystem::file_size(path), 128 + 50U * direct.plan.scored_per_chunk() * 50 * sizeof(float));

    const BaseLogitsFile file = BaseLogitsFile::open(path);
    EXPECT_EQ(file.header().base, "fake base");
    EXPECT_EQ(file.header().n_chunks, 50);
    FakeLm model2(50, 128, test::hashed_rows(2));
    const KldResult reused = kl_divergence(file, model2, text, options(100, protocol));
    expect_same_figures(direct, reused);
    EXPECT_EQ(reused.base.ppl, direct.base.ppl);
  }
  // save_base_logits runs the base alone; its PPL is perplexity()'s.
  const auto path = dir / "only-base.logits";
  FakeLm base(50, 128, test::hashed_rows(1));
  EvalOptions limited = options(100);
  limited.max_chunks = 7;
  const PerplexityResult saved = save_base_logits(base, text, limited, {path, "fake base"});
  FakeLm base2(50, 128, test::hashed_rows(1));
  EXPECT_EQ(saved.figures.ppl, perplexity(base2, text, limited).figures.ppl);
  // Without --chunks a reuse evaluates what the file holds.
  FakeLm model(50, 128, test::hashed_rows(2));
  const KldResult reused = kl_divergence(BaseLogitsFile::open(path), model, text, options(100));
  EXPECT_EQ(reused.plan.n_chunks, 7);
  EXPECT_EQ(reused.base.ppl, saved.figures.ppl);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()) == false);
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    EXPECT_EQ(entry.path().string().find(".partial"), std::string::npos) << "temporary file left: " << entry.path();
  }
}

std::string refusal(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(not refused)";
}

TEST(Kld, RefusesMismatchedBaseLogits) {
  test::TempDir dir;
  const auto path = dir / "base.logits";
  const EvalTokens text = hashed_text(3000, 50, 5);
  {
    FakeLm base(50, 128, test::hashed_rows(1));
    EvalOptions o = options(64);
    o.max_chunks = 10;
    static_cast<void>(save_base_logits(base, text, o, {path, "fake base"}));
  }
  const BaseLogitsFile file = BaseLogitsFile::open(path);
  FakeLm model(50, 128, test::hashed_rows(2));
  auto with = [&](const EvalTokens& t, EvalOptions o) { static_cast<void>(kl_divergence(file, model, t, o)); };
  EXPECT_NE(refusal([&] { with(text, options(32)); }).find("saved with -c 64"), std::string::npos);
  EXPECT_NE(refusal([&] { with(text, options(64, Protocol::full)); }).find("--protocol"), std::string::npos);
  EXPECT_NE(refusal([&] { with(hashed_text(3000, 50, 6), options(64)); }).find("different text"), std::string::npos);
  EXPECT_NE(refusal([&] { with(hashed_text(3001, 50, 5), options(64)); }).find("different text"), std::string::npos);
  EvalTokens no_bos = text;
  no_bos.chunk_bos.reset();
  EXPECT_NE(refusal([&] { with(no_bos, options(64)); }).find("chunk-start"), std::string::npos);
  EvalOptions more = options(64);
  more.max_chunks = 11;
  EXPECT_NE(refusal([&] { with(text, more); }).find("holds 10 chunks"), std::string::npos);
  FakeLm other_vocab(51, 128, test::hashed_rows(2));
  EXPECT_NE(refusal([&] { static_cast<void>(kl_divergence(file, other_vocab, text, options(64))); }).find("vocabulary"),
            std::string::npos);
  EXPECT_NE(refusal([&] {
              FakeLm b(50, 128, test::uniform_rows());
              static_cast<void>(kl_divergence(b, other_vocab, text, options(64)));
            }).find("vocabulary"),
            std::string::npos);

  // Damaged files: truncated, wrong magic, empty.
  const auto truncated = dir / "truncated.logits";
  std::filesystem::copy_file(path, truncated);
  std::filesystem::resize_file(truncated, std::filesystem::file_size(path) - 4);
  EXPECT_NE(refusal([&] { static_cast<void>(BaseLogitsFile::open(truncated)); }).find("truncated"), std::string::npos);
  const auto text_file = dir / "notes.txt";
  std::ofstream(text_file) << "not a logits file, but long enough to hold a header of eighty bytes ................";
  EXPECT_NE(refusal([&] { static_cast<void>(BaseLogitsFile::open(text_file)); }).find("not a quantlm base-logits file"),
            std::string::npos);
  EXPECT_NE(refusal([&] { static_cast<void>(BaseLogitsFile::open(dir / "missing.logits")); }).find("missing.logits"),
            std::string::npos);
}

}  // namespace
}  // namespace quantlm::eval
