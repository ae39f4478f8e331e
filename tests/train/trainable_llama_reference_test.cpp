// TrainableLlama's forward pass against tests/model's independent float64 Llama forward, on the same GGUF-named
// weights.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "tiny_llama.h"
#include "train/trainable_llama.h"

namespace quantlm::train {
namespace {

// Copies the source's F32 tensors into the model's parameters by GGUF name:
// that the names and shapes line up is half of what this test checks.
void load(TrainableLlama<double>& model, const io::ModelSource& source) {
  for (Parameter<double>& p : model.parameters()) {
    const io::SourceTensor* t = source.find_tensor(p.name);
    ASSERT_NE(t, nullptr) << p.name;
    ASSERT_EQ(static_cast<std::size_t>(t->shape.elements()), p.value.size()) << p.name;
    std::vector<float> f(p.value.size());
    std::memcpy(f.data(), t->data.data(), f.size() * sizeof(float));
    p.value.assign(f.begin(), f.end());
  }
}

void check_against_reference(bool tied) {
  test::TinySpec spec;
  spec.tied = tied;
  spec.seed = tied ? 5 : 4;
  const io::ModelSource source = test::make_tiny_source(spec);
  const TrainableLlamaConfig config{.vocab = static_cast<std::size_t>(spec.vocab),
                                    .dim = static_cast<std::size_t>(spec.dim),
                                    .n_layers = static_cast<std::size_t>(spec.layers),
                                    .n_heads = static_cast<std::size_t>(spec.heads),
                                    .n_kv_heads = static_cast<std::size_t>(spec.kv_heads),
                                    .n_ff = static_cast<std::size_t>(spec.ff),
                                    .rope_base = spec.rope_base,
                                    .rms_eps = 1e-5F,  // as GGUF stores it: an f32
                                    .tied_output = tied};
  TrainableLlama<double> model(config, 1);
  load(model, source);
  const std::vector<std::int32_t> tokens = {1, 30, 7, 7, 0, 36, 12, 3, 19};
  model.forward(tokens, tokens);  // the targets do not matter here
  const std::vector<double> expected = test::reference_logits(source, spec, tokens);
  ASSERT_EQ(model.logits().size(), expected.size());
  double diff_sq = 0.0, ref_sq = 0.0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    diff_sq += (model.logits()[i] - expected[i]) * (model.logits()[i] - expected[i]);
    ref_sq += expected[i] * expected[i];
  }
  const double rel = std::sqrt(diff_sq / ref_sq);
  std::printf("[reference] %s logits vs tests/model's float64 forward: relative error %.2e\n", tied ? "tied" : "untied",
              rel);
  EXPECT_LT(rel, 1e-12);
}

TEST(TrainableLlamaReference, ForwardMatchesIndependentLlama) { check_against_reference(false); }
TEST(TrainableLlamaReference, ForwardMatchesIndependentLlamaTied) { check_against_reference(true); }

}  // namespace
}  // namespace quantlm::train
