// Tests of the file summary behind `quantlm info`, on the real GGUF files in ../shared/assets.
#include "eval/file_summary.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "support/assets.h"

namespace quantlm::eval {
namespace {

std::int64_t hyper(const FileSummary& s, const std::string& label) {
  for (const auto& h : s.hyperparameters) {
    if (h.label == label) return h.value.as_int().value_or(-1);
  }
  return -1;
}

TEST(FileSummary, Stories260KMatchesItsKnownShape) {
  QUANTLM_REQUIRE_ASSETS(assets);
  const auto file = gguf::GgufFile::open(assets / "models/stories260K/stories260K.gguf");
  const FileSummary s = summarize(file);
  EXPECT_EQ(s.version, 3U);
  EXPECT_EQ(s.alignment, 32U);
  EXPECT_EQ(s.metadata_keys, 19);
  EXPECT_EQ(s.architecture, "llama");
  EXPECT_EQ(hyper(s, "embedding_length"), 64);
  EXPECT_EQ(hyper(s, "block_count"), 5);
  EXPECT_EQ(hyper(s, "feed_forward_length"), 172);
  EXPECT_EQ(hyper(s, "attention.head_count"), 8);
  EXPECT_EQ(hyper(s, "attention.head_count_kv"), 4);
  EXPECT_EQ(hyper(s, "context_length"), 2048);
  EXPECT_EQ(hyper(s, "rope.dimension_count"), 8);
  ASSERT_TRUE(s.tokenizer.has_value());
  EXPECT_EQ(s.tokenizer->model, "llama");
  EXPECT_EQ(s.tokenizer->vocab_size, 512);
  EXPECT_TRUE(s.tokenizer->has_scores);
  EXPECT_EQ(s.tokenizer->bos, 1);
  EXPECT_EQ(s.tokenizer->bos_text, "<s>");
  EXPECT_EQ(s.tokenizer->eos, 2);
  EXPECT_FALSE(s.tokenizer->pad.has_value()) << "0xFFFFFFFF means no padding token";
  ASSERT_EQ(s.tensors.size(), 48U);
  EXPECT_EQ(s.tensors[0].name, "token_embd.weight");
  EXPECT_EQ(s.tensors[0].shape, (Shape{{512, 64}, 2}));
  // 2 x 512x64 embeddings/output + 64 + 5 layers x (64*64*2 + 32*64*2 + 3*172*64 + 2*64).
  EXPECT_EQ(s.total_elements, 292'800);
  EXPECT_EQ(s.by_format.at("F32").tensors, 48);
  EXPECT_DOUBLE_EQ(s.bits_per_weight(), 32.0);
}

// ANCHORS.md lists llama.cpp's files with "bpw (all params)": tensor data
// bits over all parameters. Our accounting must give the same figures.
TEST(FileSummary, BitsPerWeightMatchAnchorsForLlamaCppFiles) {
  QUANTLM_REQUIRE_ASSETS(assets);
  const std::map<std::string, double> expected = {{"F16", 16.04}, {"BF16", 16.04}, {"Q8_0", 9.97}, {"Q5_1", 8.22},
                                                  {"Q5_0", 7.87}, {"Q4_1", 7.52},  {"Q4_0", 7.18}, {"IQ4_NL", 7.18}};
  for (const auto& [type, bpw] : expected) {
    const auto file =
        gguf::GgufFile::open(assets / ("models/stories260K/llama.cpp-quantized/stories260K-" + type + ".gguf"));
    const FileSummary s = summarize(file);
    EXPECT_NEAR(s.bits_per_weight(), bpw, 0.005) << type;
    EXPECT_EQ(s.total_elements, 292'800) << type;
    if (type != "F16" && type != "BF16") {
      // llama.cpp keeps ffn_down (172 columns) in F16 and writes output.weight as Q8_0.
      EXPECT_EQ(s.by_format.at("F16").tensors, 5) << type;
      EXPECT_EQ(s.by_format.count(type), 1U) << type;
    }
  }
}

TEST(FileSummary, ZooFilesHoldTheirNamedType) {
  QUANTLM_REQUIRE_ASSETS(assets);
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(assets / "models/zoo")) {
    const std::string stem = entry.path().stem().string();  // zoo-Q4_K_S
    std::string type = stem.substr(4);
    if (type.ends_with("_S")) type.resize(type.size() - 2);  // K-quant mixes are pure: Q4_K_S -> Q4_K
    const FileSummary s = summarize(gguf::GgufFile::open(entry.path()));
    ASSERT_EQ(s.tensors.size(), 21U) << stem;
    EXPECT_EQ(hyper(s, "embedding_length"), 256) << stem;
    EXPECT_EQ(hyper(s, "block_count"), 2) << stem;
    for (const auto& t : s.tensors) {
      if (t.shape.rank == 2) {
        EXPECT_EQ(t.format, type) << stem << " " << t.name;
      }
    }
    ++files;
  }
  EXPECT_EQ(files, 17);
}

}  // namespace
}  // namespace quantlm::eval
