// Calibration: statistics that do not depend on the thread count, Gram matrices that agree with the sums, and
// stories260K against llama.cpp's own imatrix of the same text.
#include "quant/calibration.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.h"
#include "io/model_source.h"
#include "support/assets.h"
#include "tiny_llama.h"

namespace quantlm::quant {
namespace {

eval::EvalTokens some_text(std::int64_t n, std::int64_t vocab) {
  eval::EvalTokens t;
  for (std::int64_t i = 0; i < n; ++i) t.ids.push_back(static_cast<std::int32_t>((i * 13 + 5) % vocab));
  t.chunk_bos = 1;
  return t;
}

struct Collected {
  std::vector<InputStats> inputs;
  CalibrationRun run;
};

Collected collect(std::size_t threads, const std::set<std::string>& hessians) {
  test::TinySpec spec;
  spec.context = 64;
  const io::ModelSource source = test::make_tiny_source(spec);
  ThreadPool pool(threads);
  model::LlamaModel m(source, model::LlamaOptions{.context_length = 32, .pool = &pool});
  ActivationCollector c(pool, hessians);
  CalibrationOptions o;
  o.n_ctx = 32;
  o.progress = ProgressMode::never;
  Collected out;
  out.run = run_calibration(m, some_text(100, spec.vocab), o, c);
  out.inputs = c.inputs();
  return out;
}

TEST(Calibration, SameStatisticsForOneAndTwoThreads) {
  const std::set<std::string> h = {"blk.0.attn_k.weight", "blk.1.ffn_down.weight", "output.weight"};
  const Collected a = collect(1, h);
  const Collected b = collect(2, h);
  EXPECT_EQ(a.run.chunks, 3);  // 100 tokens: 3 whole chunks of 32
  ASSERT_EQ(a.inputs.size(), b.inputs.size());
  // Per layer: q/k/v, attn_output, gate/up, down; then the output.
  ASSERT_EQ(a.inputs.size(), 2U * 4U + 1U);
  for (std::size_t i = 0; i < a.inputs.size(); ++i) {
    const InputStats& x = a.inputs[i];
    const InputStats& y = b.inputs[i];
    EXPECT_EQ(x.names, y.names);
    EXPECT_EQ(x.tokens, 96);
    EXPECT_EQ(x.sum_sq, y.sum_sq) << x.names.front();
    EXPECT_EQ(x.absmax, y.absmax) << x.names.front();
    ASSERT_EQ(static_cast<bool>(x.hessian), static_cast<bool>(y.hessian)) << x.names.front();
    if (x.hessian) {
      EXPECT_EQ(x.hessian->h, y.hessian->h) << x.names.front();
    }
  }
  EXPECT_EQ(a.inputs[0].names,
            (std::vector<std::string>{"blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.attn_v.weight"}));
}

TEST(Calibration, HessianDiagonalIsTheSumOfSquares) {
  const Collected a = collect(2, {"blk.0.ffn_gate.weight"});
  int with = 0;
  for (const InputStats& s : a.inputs) {
    if (!s.hessian) continue;
    ++with;
    EXPECT_EQ(s.names, (std::vector<std::string>{"blk.0.ffn_gate.weight", "blk.0.ffn_up.weight"}));
    for (std::int64_t i = 0; i < s.cols; ++i) {
      EXPECT_NEAR(s.hessian->h[i * s.cols + i], s.sum_sq[i], 1e-9 * s.sum_sq[i]);
      for (std::int64_t j = 0; j < s.cols; ++j) EXPECT_EQ(s.hessian->h[i * s.cols + j], s.hessian->h[j * s.cols + i]);
    }
  }
  EXPECT_EQ(with, 1);
}

TEST(Calibration, RefusesShortText) {
  test::TinySpec spec;
  const io::ModelSource source = test::make_tiny_source(spec);
  model::LlamaModel m(source, model::LlamaOptions{.context_length = 32});
  ThreadPool pool(1);
  ActivationCollector c(pool);
  CalibrationOptions o;
  o.n_ctx = 32;
  o.progress = ProgressMode::never;
  EXPECT_THROW((void)run_calibration(m, some_text(20, spec.vocab), o, c), Error);
}

// Our statistics of stories260K over calib.txt against llama-imatrix's file of the same run (-c 256).
TEST(CalibrationAssets, Stories260kMatchesLlamaImatrix) {
  QUANTLM_REQUIRE_ASSETS(assets);
  const auto model_path = assets / "models/stories260K/stories260K.gguf";
  const io::ModelSource source = io::open_model_source(model_path);
  model::LlamaModel m(source, model::LlamaOptions{.context_length = 256});
  const eval::EvalTokens text =
      eval::tokenize_eval_text(*source.tokenizer, eval::read_text_file(assets / "text/tinystories/calib.txt"));
  ThreadPool pool(2);
  ActivationCollector c(pool);
  CalibrationOptions o;
  o.n_ctx = 256;
  o.progress = ProgressMode::never;
  const CalibrationRun run = run_calibration(m, text, o, c);
  EXPECT_EQ(run.chunks, 67);
  // The asset was made with --process-output: it holds output.weight too.
  const ImatrixData ours = to_imatrix(c, run, "calib.txt", true);
  const Imatrix theirs = load_imatrix(assets / "models/stories260K/llama.cpp-quantized/imatrix-calib.gguf");
  EXPECT_EQ(theirs.chunk_count, 67U);
  ASSERT_EQ(ours.entries.size(), theirs.importance.size());
  double worst = 0.0;
  for (const auto& [name, e] : ours.entries) {
    const std::vector<float>* v = theirs.find(name);
    ASSERT_NE(v, nullptr) << name;
    ASSERT_EQ(v->size(), e.sum_sq.size()) << name;
    EXPECT_EQ(e.count, 17152.0F) << name;
    for (std::size_t i = 0; i < v->size(); ++i) {
      const double mine = e.sum_sq[i] / e.count;
      const double rel = std::fabs(mine - (*v)[i]) / std::max(1e-12, static_cast<double>((*v)[i]));
      worst = std::max(worst, rel);
    }
  }
  // llama.cpp's CPU matmuls round activations differently (its own kernels, F32 here): agreement, not bits.
  EXPECT_LT(worst, 3e-3) << "largest relative difference of the mean squares";  // 8.5e-4 measured
  RecordProperty("max_relative_difference", std::to_string(worst));
}

}  // namespace
}  // namespace quantlm::quant
