// stories260K through the float engine: golden float64 logits, greedy text, and the llama.cpp-quantized files.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/model_source.h"
#include "io/tokenizer/tokenizer.h"
#include "model/llama_model.h"
#include "model/sampler.h"
#include "support/assets.h"

namespace quantlm::model {
namespace {

constexpr std::size_t kVocab = 512;
constexpr std::size_t kPositions = 64;

std::filesystem::path stories(const std::filesystem::path& assets, const std::string& file = "stories260K.gguf") {
  return assets / "models/stories260K" / file;
}

std::vector<std::int32_t> golden_ids(const std::filesystem::path& assets) {
  std::ifstream in(assets / "golden/stories260K-golden.json");
  const nlohmann::json golden = nlohmann::json::parse(in);
  auto ids = golden.at("sample_txt_ids").get<std::vector<std::int32_t>>();
  ids.resize(kPositions);
  return ids;
}

std::vector<float> golden_logits(const std::filesystem::path& assets) {
  std::ifstream in(assets / "golden/stories260K-sample-logits64.f32", std::ios::binary);
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<float> logits(kPositions * kVocab);
  EXPECT_EQ(bytes.size(), logits.size() * sizeof(float));
  std::memcpy(logits.data(), bytes.data(), std::min(bytes.size(), logits.size() * sizeof(float)));  // x86: LE
  return logits;
}

std::vector<float> one_by_one(LlamaModel& m, const std::vector<std::int32_t>& ids) {
  std::vector<float> logits(ids.size() * kVocab);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    m.forward(std::span(ids).subspan(i, 1), std::span(logits).subspan(i * kVocab, kVocab));
  }
  return logits;
}

std::vector<float> batched(LlamaModel& m, const std::vector<std::int32_t>& ids) {
  std::vector<float> logits(ids.size() * kVocab);
  m.forward(ids, logits);
  return logits;
}

struct Errors {
  double max_abs = 0;
  double max_rel = 0;  // per position: max |got - want| / max |want|, the worst position
};

Errors compare(const std::vector<float>& got, const std::vector<float>& want) {
  Errors e;
  for (std::size_t p = 0; p < got.size() / kVocab; ++p) {
    double err = 0;
    double scale = 0;
    for (std::size_t i = p * kVocab; i < (p + 1) * kVocab; ++i) {
      err = std::max(err, double{std::fabs(got[i] - want[i])});
      scale = std::max(scale, double{std::fabs(want[i])});
    }
    e.max_abs = std::max(e.max_abs, err);
    e.max_rel = std::max(e.max_rel, err / scale);
  }
  return e;
}

// Positions whose most likely token is the same in both.
std::size_t same_argmax(const std::vector<float>& a, const std::vector<float>& b) {
  std::size_t same = 0;
  for (std::size_t p = 0; p < a.size() / kVocab; ++p) {
    const auto row = [&](const std::vector<float>& v) { return std::span(v).subspan(p * kVocab, kVocab); };
    same += Sampler::argmax(row(a)) == Sampler::argmax(row(b)) ? 1 : 0;
  }
  return same;
}

// The golden logits come from an independent float64 forward pass rounded to
// float32 (half an ulp: 3e-8 relative). A float32 engine's own rounding,
// amplified through 5 layers of 64- and 172-wide products, softmax and the
// output projection, is of order 1e-6 relative to the position's largest
// logit; the bound 1e-5 leaves a margin of several times the measured error
// (printed) while still failing on any real mistake (a wrong RoPE pair or
// epsilon changes logits by 1e-2 or more).
constexpr double kGoldenRelative = 1e-5;

TEST(Stories260K, DecodeOneByOneMatchesFloat64Golden) {
  QUANTLM_REQUIRE_ASSETS(assets);
  LlamaModel model(io::open_model_source(stories(assets)));
  EXPECT_EQ(model.vocab_size(), 512);
  const Errors e = compare(one_by_one(model, golden_ids(assets)), golden_logits(assets));
  std::cout << "decode vs golden: max abs " << e.max_abs << ", max rel " << e.max_rel << " (" << model.kernel_summary()
            << ")\n";
  RecordProperty("max_rel", std::to_string(e.max_rel));
  EXPECT_LT(e.max_rel, kGoldenRelative);
}

TEST(Stories260K, BatchedPrefillMatchesGoldenAndDecode) {
  QUANTLM_REQUIRE_ASSETS(assets);
  LlamaModel model(io::open_model_source(stories(assets)));
  const std::vector<std::int32_t> ids = golden_ids(assets);
  const std::vector<float> prefill = batched(model, ids);
  EXPECT_EQ(model.cached_tokens(), 64);
  const Errors e = compare(prefill, golden_logits(assets));
  std::cout << "prefill vs golden: max abs " << e.max_abs << ", max rel " << e.max_rel << "\n";
  EXPECT_LT(e.max_rel, kGoldenRelative);
  model.reset();
  EXPECT_EQ(prefill, one_by_one(model, ids));  // the same bits, however the tokens are batched
}

// The llama2.c checkpoint and the Hugging Face directory hold the same weights (the loaders translate q/k layouts
// to GGUF's), so the engine must give the golden logits from them too.
TEST(Stories260K, Llama2cAndHuggingFaceSourcesMatchGolden) {
  QUANTLM_REQUIRE_ASSETS(assets);
  for (const char* file : {"stories260K.bin", "hf"}) {
    LlamaModel model(io::open_model_source(stories(assets, file)));
    const Errors e = compare(batched(model, golden_ids(assets)), golden_logits(assets));
    std::cout << file << " vs golden: max abs " << e.max_abs << ", max rel " << e.max_rel << "\n";
    EXPECT_LT(e.max_rel, kGoldenRelative) << file;
  }
}

TEST(Stories260K, ScalarPathMatchesGoldenToo) {
  QUANTLM_REQUIRE_ASSETS(assets);
  LlamaModel model(io::open_model_source(stories(assets)), LlamaOptions{.isa = Isa::scalar});
  const Errors e = compare(batched(model, golden_ids(assets)), golden_logits(assets));
  std::cout << "scalar prefill vs golden: max abs " << e.max_abs << ", max rel " << e.max_rel << "\n";
  EXPECT_LT(e.max_rel, kGoldenRelative);
}

// The first 200 tokens that llama.cpp (34af94cd, examples/simple: greedy sampler, empty prompt so BOS alone)
// generates from stories260K.gguf; its first sentence is the upstream sample in ../shared/assets/README.md.
// The GGUF and the llama2.c checkpoint must both tell exactly this story.
TEST(Stories260K, GreedyGenerationFromBosTellsLlamaCppsStoryForTwoHundredTokens) {
  QUANTLM_REQUIRE_ASSETS(assets);
  const std::string expected =
      "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a "
      "big, red ball. She wanted to play with it, but it was too high.\n"
      "Lily's mom said, \"Lily, let's go to the park.\" Lily was sad and didn't know what to do. She said, \"I want to "
      "play with your ball, but I can't find it.\"\n"
      "Lily was sad and didn't know what to do. She said, \"I'm sorry, Lily. I didn't know what to do.\"\n"
      "Lily didn't want to help her mom, so she";
  ASSERT_EQ(
      expected.rfind("Once upon a time, there was a little girl named Lily. She loved to play outside in the park.", 0),
      0U);
  for (const char* file : {"stories260K.gguf", "stories260K.bin"}) {
    const io::ModelSource source = io::open_model_source(stories(assets, file));
    ASSERT_NE(source.tokenizer, nullptr) << file;
    LlamaModel model(source);
    std::vector<std::int32_t> generated;
    std::vector<float> logits(kVocab);
    std::int32_t token = source.tokenizer->bos();
    while (generated.size() < 200) {
      model.forward(std::span(&token, 1), logits);
      token = Sampler::argmax(logits);
      ASSERT_NE(token, source.tokenizer->eos()) << file << ": end of text after " << generated.size() << " tokens";
      generated.push_back(token);
    }
    EXPECT_EQ(source.tokenizer->decode(generated), expected) << file;
  }
}

// F16 and BF16 files (llama.cpp-quantized; ffn_down and output.weight in their own types, see the assets README)
// against F32. Bounds are about 3x the measured error, and two-sided in spirit: BF16 (8-bit significands, and
// activations rounded to bf16 as llama.cpp does) must err more than F16 (11-bit significands).
TEST(Stories260K, HalfPrecisionFilesStayCloseToF32) {
  QUANTLM_REQUIRE_ASSETS(assets);
  const std::vector<std::int32_t> ids = golden_ids(assets);
  LlamaModel f32(io::open_model_source(stories(assets)));
  const std::vector<float> reference = batched(f32, ids);
  LlamaModel f16(io::open_model_source(stories(assets, "llama.cpp-quantized/stories260K-F16.gguf")));
  LlamaModel bf16(io::open_model_source(stories(assets, "llama.cpp-quantized/stories260K-BF16.gguf")));
  const std::vector<float> f16_logits = batched(f16, ids);
  const std::vector<float> bf16_logits = batched(bf16, ids);
  const Errors e16 = compare(f16_logits, reference);
  const Errors eb16 = compare(bf16_logits, reference);
  std::cout << "F16 vs F32: max abs " << e16.max_abs << ", max rel " << e16.max_rel << ", same argmax "
            << same_argmax(f16_logits, reference) << "/64 (" << f16.kernel_summary() << ")\n";
  std::cout << "BF16 vs F32: max abs " << eb16.max_abs << ", max rel " << eb16.max_rel << ", same argmax "
            << same_argmax(bf16_logits, reference) << "/64 (" << bf16.kernel_summary() << ")\n";
  EXPECT_LT(e16.max_rel, 3e-3);
  EXPECT_LT(eb16.max_rel, 3e-2);
  EXPECT_GT(eb16.max_rel, e16.max_rel);
  EXPECT_GE(same_argmax(f16_logits, reference), 63U);
  EXPECT_GE(same_argmax(bf16_logits, reference), 60U);
}

// Quantized files run through the generic dequantize path: finite logits whose most likely token mostly agrees
// with F32's. ANCHORS.md's llama.cpp figures over the whole validation text: same top token 98.4% (Q8_0), 93.2%
// (Q5_1), 92.6% (Q5_0), 86.5% (Q4_1), 85.1% (Q4_0), 87.3% (IQ4_NL); the minimums below allow for 64 positions.
TEST(Stories260K, QuantizedFilesRunThroughTheGenericPath) {
  QUANTLM_REQUIRE_ASSETS(assets);
  const std::vector<std::int32_t> ids = golden_ids(assets);
  LlamaModel f32(io::open_model_source(stories(assets)));
  const std::vector<float> reference = batched(f32, ids);
  const std::pair<const char*, std::size_t> files[] = {{"Q8_0", 60}, {"Q5_1", 52}, {"Q5_0", 52},
                                                       {"Q4_1", 48}, {"Q4_0", 48}, {"IQ4_NL", 48}};
  for (const auto& [type, min_same] : files) {
    LlamaModel q(
        io::open_model_source(stories(assets, std::string("llama.cpp-quantized/stories260K-") + type + ".gguf")));
    const std::vector<float> logits = batched(q, ids);
    for (const float v : logits) ASSERT_TRUE(std::isfinite(v)) << type;
    const std::size_t same = same_argmax(logits, reference);
    const Errors e = compare(logits, reference);
    std::cout << type << " vs F32: same argmax " << same << "/64, max rel " << e.max_rel << " (" << q.kernel_summary()
              << ")\n";
    EXPECT_GE(same, min_same) << type;
  }
}

}  // namespace
}  // namespace quantlm::model
