// open_model_source on GGUF files: metadata copied, tensors zero-copy views into the mapping, the tokenizer built.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <fstream>

#include "core/error.h"
#include "io/gguf/gguf_file.h"
#include "io/model_source.h"
#include "io/tokenizer/tokenizer.h"
#include "support/assets.h"
#include "support/temp_dir.h"

namespace quantlm::io {
namespace {

TEST(GgufSource, Stories260KMatchesTheFile) {
  QUANTLM_REQUIRE_ASSETS(assets);
  const auto path = assets / "models/stories260K/stories260K.gguf";
  const gguf::GgufFile file = gguf::GgufFile::open(path);
  ModelSource source = open_model_source(path);

  EXPECT_NE(source.description.find("GGUF v3"), std::string::npos) << source.description;
  EXPECT_EQ(source.path, path);
  EXPECT_EQ(source.metadata, file.metadata());
  ASSERT_NE(source.find("llama.embedding_length"), nullptr);
  EXPECT_EQ(source.find("llama.embedding_length")->as_int(), 64);
  EXPECT_EQ(source.find("no.such.key"), nullptr);

  ASSERT_EQ(source.tensors.size(), file.tensors().size());
  for (std::size_t i = 0; i < file.tensors().size(); ++i) {
    const gguf::TensorInfo& info = file.tensors()[i];
    const SourceTensor& t = source.tensors[i];
    EXPECT_EQ(t.name, info.name);
    EXPECT_EQ(t.shape, info.shape);
    EXPECT_EQ(t.format, info.format);
    const auto expected = file.tensor_data(info);
    ASSERT_EQ(t.data.size(), expected.size()) << t.name;
    EXPECT_EQ(std::memcmp(t.data.data(), expected.data(), expected.size()), 0) << t.name;
    EXPECT_EQ(source.find_tensor(t.name), &t);
  }
  EXPECT_EQ(source.find_tensor("nope"), nullptr);
  const TensorView v = source.find_tensor("blk.0.attn_k.weight")->view();
  EXPECT_EQ(v.shape[0], 32);
  EXPECT_EQ(v.shape[1], 64);

  ASSERT_NE(source.tokenizer, nullptr);
  EXPECT_EQ(source.tokenizer->vocab_size(), 512);
  EXPECT_EQ(source.tokenizer->kind(), tokenizer::TokenizerKind::sentencepiece);
  EXPECT_FALSE(source.keep_alive.empty());
}

TEST(GgufSource, TensorsOutliveAMovedSource) {
  QUANTLM_REQUIRE_ASSETS(assets);
  ModelSource moved;
  {
    ModelSource source = open_model_source(assets / "models/stories260K/llama.cpp-quantized/stories260K-Q4_0.gguf");
    moved = std::move(source);
  }
  const SourceTensor* t = moved.find_tensor("blk.0.attn_q.weight");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->format->name, "Q4_0");
  // Decode the first block and the last: the mapping must still be there after the move (ASan checks).
  std::array<float, 32> values{};
  t->format->dequantize(t->data.data(), values.data(), 32);
  t->format->dequantize(t->data.data() + t->data.size() - 18, values.data(), 32);
  EXPECT_TRUE(std::isfinite(values[0]));
}

TEST(ModelSourceDispatch, ClearErrors) {
  test::TempDir dir;
  EXPECT_THROW((void)open_model_source(dir / "missing.gguf"), Error);
  try {
    (void)open_model_source(dir.path());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("config.json"), std::string::npos) << e.what();
  }
  { std::ofstream(dir / "notes.txt") << "hello"; }
  try {
    (void)open_model_source(dir / "notes.txt");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("notes.txt"), std::string::npos) << e.what();
  }
  {
    std::ofstream(dir / "bad.gguf") << "GGUF";  // the magic and nothing else
  }
  EXPECT_THROW((void)open_model_source(dir / "bad.gguf"), Error);
}

}  // namespace
}  // namespace quantlm::io
