// The float engine on tiny random llama / qwen2 models against an independent float64 forward pass.
#include "model/llama_model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <vector>

#include "core/error.h"
#include "tiny_llama.h"

namespace quantlm::model {
namespace {

using test::TinySpec;

std::vector<std::int32_t> some_tokens(std::int64_t n, std::int64_t vocab) {
  std::vector<std::int32_t> t(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) t[static_cast<std::size_t>(i)] = static_cast<std::int32_t>((i * 7 + 3) % vocab);
  return t;
}

std::vector<float> run_batched(LlamaModel& m, const std::vector<std::int32_t>& tokens) {
  std::vector<float> logits(tokens.size() * static_cast<std::size_t>(m.vocab_size()));
  m.forward(tokens, logits);
  return logits;
}

std::vector<float> run_one_by_one(LlamaModel& m, const std::vector<std::int32_t>& tokens) {
  const auto vocab = static_cast<std::size_t>(m.vocab_size());
  std::vector<float> logits(tokens.size() * vocab);
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    m.forward(std::span(tokens).subspan(i, 1), std::span(logits).subspan(i * vocab, vocab));
  }
  return logits;
}

// Largest |a - b| over a position, relative to the largest |b| of that position.
double max_relative_error(const std::vector<float>& got, const std::vector<double>& want, std::size_t vocab) {
  double worst = 0;
  for (std::size_t p = 0; p < want.size() / vocab; ++p) {
    double err = 0;
    double scale = 0;
    for (std::size_t i = p * vocab; i < (p + 1) * vocab; ++i) {
      err = std::max(err, std::fabs(got[i] - want[i]));
      scale = std::max(scale, std::fabs(want[i]));
    }
    worst = std::max(worst, err / scale);
  }
  return worst;
}

struct Variant {
  const char* name;
  TinySpec spec;
};

std::vector<Variant> variants() {
  TinySpec llama;
  TinySpec qwen2;
  qwen2.arch = "qwen2";
  qwen2.rope_base = 1e6;
  TinySpec partial;  // RoPE on half of each head, linear scaling, tied output, llama with biases, MHA
  partial.n_rot = 4;
  partial.linear_scale = 4.0;
  partial.tied = true;
  partial.biases = true;
  partial.kv_heads = 4;
  TinySpec mqa;  // one KV head for all queries
  mqa.kv_heads = 1;
  mqa.layers = 3;
  return {{"llama_gqa", llama}, {"qwen2", qwen2}, {"partial_rope_tied_biases", partial}, {"mqa", mqa}};
}

class TinyModels : public ::testing::TestWithParam<Variant> {};

// A float32 engine against float64: errors of a few ulps per operation,
// through 2-3 layers of 24-40-wide products, stay well under 1e-5 relative.
TEST_P(TinyModels, MatchesFloat64ReferenceBatchedAndOneByOne) {
  const TinySpec& spec = GetParam().spec;
  const io::ModelSource source = test::make_tiny_source(spec);
  const std::vector<std::int32_t> tokens = some_tokens(45, spec.vocab);  // > the 32-query attention block
  const std::vector<double> want = test::reference_logits(source, spec, tokens);
  LlamaModel model(source);
  EXPECT_EQ(model.config().architecture, spec.arch);
  const std::vector<float> batched = run_batched(model, tokens);
  model.reset();
  const std::vector<float> one_by_one = run_one_by_one(model, tokens);
  const auto vocab = static_cast<std::size_t>(spec.vocab);
  EXPECT_LT(max_relative_error(batched, want, vocab), 1e-5);
  EXPECT_LT(max_relative_error(one_by_one, want, vocab), 1e-5);
  // Same kernels, same summation order for every output whatever the batch.
  EXPECT_EQ(batched, one_by_one);
}

TEST_P(TinyModels, EveryIsaLevelAgrees) {
  const TinySpec& spec = GetParam().spec;
  const io::ModelSource source = test::make_tiny_source(spec);
  const std::vector<std::int32_t> tokens = some_tokens(20, spec.vocab);
  const std::vector<double> want = test::reference_logits(source, spec, tokens);
  for (const Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    if (!isa_supported(isa)) {
      std::cout << "[  SKIPPED ] " << to_string(isa) << ": this CPU lacks it\n";
      continue;
    }
    LlamaModel model(source, LlamaOptions{.isa = isa});
    EXPECT_LT(max_relative_error(run_batched(model, tokens), want, static_cast<std::size_t>(spec.vocab)), 1e-5)
        << to_string(isa);
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, TinyModels, ::testing::ValuesIn(variants()),
                         [](const ::testing::TestParamInfo<Variant>& p) { return std::string(p.param.name); });

TEST(LlamaModel, SplitsLongCallsAndContinuesFromTheCache) {
  const TinySpec spec;
  const io::ModelSource source = test::make_tiny_source(spec);
  const std::vector<std::int32_t> tokens = some_tokens(30, spec.vocab);
  LlamaModel whole(source);
  const std::vector<float> expected = run_batched(whole, tokens);

  LlamaModel pieces(source, LlamaOptions{.max_batch = 7});  // one call, split internally into steps of 7
  EXPECT_EQ(run_batched(pieces, tokens), expected);

  pieces.reset();  // 12 tokens, then 18 more after them
  const std::vector<std::int32_t> head(tokens.begin(), tokens.begin() + 12);
  const std::vector<std::int32_t> tail(tokens.begin() + 12, tokens.end());
  std::vector<float> got = run_batched(pieces, head);
  EXPECT_EQ(pieces.cached_tokens(), 12);
  const std::vector<float> rest = run_batched(pieces, tail);
  got.insert(got.end(), rest.begin(), rest.end());
  EXPECT_EQ(got, expected);
  EXPECT_EQ(pieces.cached_tokens(), 30);
}

TEST(LlamaModel, ThreadCountDoesNotChangeResults) {
  const TinySpec spec{.dim = 64, .heads = 8, .kv_heads = 2, .ff = 256, .vocab = 300};
  const io::ModelSource source = test::make_tiny_source(spec);
  const std::vector<std::int32_t> tokens = some_tokens(40, spec.vocab);
  ThreadPool one(1);
  ThreadPool three(3);
  LlamaModel a(source, LlamaOptions{.pool = &one});
  LlamaModel b(source, LlamaOptions{.pool = &three});
  EXPECT_EQ(run_batched(a, tokens), run_batched(b, tokens));
}

TEST(LlamaModel, RejectsBadCallsWithClearErrors) {
  const TinySpec spec;
  const io::ModelSource source = test::make_tiny_source(spec);
  LlamaModel model(source, LlamaOptions{.context_length = 8});
  EXPECT_EQ(model.context_length(), 8);
  std::vector<float> logits(static_cast<std::size_t>(9 * spec.vocab));
  const std::vector<std::int32_t> nine = some_tokens(9, spec.vocab);
  EXPECT_THROW(model.forward(nine, logits), Error);  // more than the cache holds
  const std::vector<std::int32_t> bad = {1, static_cast<std::int32_t>(spec.vocab)};
  std::vector<float> two(static_cast<std::size_t>(2 * spec.vocab));
  EXPECT_THROW(model.forward(bad, two), Error);
  EXPECT_THROW(model.forward(std::vector<std::int32_t>{1}, two), Error);  // logits span of the wrong size
  EXPECT_EQ(model.cached_tokens(), 0);                                    // nothing was appended by the failed calls
  // A forward of zero tokens is allowed and does nothing.
  model.forward({}, {});
  EXPECT_EQ(model.cached_tokens(), 0);
}

TEST(LlamaModel, TiedOutputSharesTheEmbedding) {
  TinySpec spec;
  spec.tied = true;
  const io::ModelSource source = test::make_tiny_source(spec);
  const LlamaModel model(source);
  EXPECT_TRUE(model.weights().tied_output);
  EXPECT_EQ(model.weights().output.data, model.weights().token_embd.data);
  // Views, not copies: the weights point into the source's own bytes.
  EXPECT_EQ(model.weights().token_embd.data, source.find_tensor("token_embd.weight")->data.data());
}

}  // namespace
}  // namespace quantlm::model
