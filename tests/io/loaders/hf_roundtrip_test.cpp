// GGUF -> Hugging Face directory -> open_model_source gives the GGUF's tensors back bit for bit; safetensors writing.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/gguf/gguf_file.h"
#include "io/loaders/hf_writer.h"
#include "io/loaders/safetensors_file.h"
#include "io/loaders/safetensors_writer.h"
#include "io/model_source.h"
#include "support/assets.h"
#include "support/temp_dir.h"

namespace quantlm::io {
namespace {

bool same_bytes(std::span<const std::byte> a, std::span<const std::byte> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size()) == 0;
}

// Same names (in any order), shapes, formats and bytes.
void expect_same_tensors(const ModelSource& a, const ModelSource& b) {
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (const SourceTensor& x : a.tensors) {
    const SourceTensor* found = b.find_tensor(x.name);
    ASSERT_NE(found, nullptr) << x.name;
    const SourceTensor& y = *found;
    EXPECT_EQ(x.shape, y.shape) << x.name;
    EXPECT_EQ(x.format, y.format) << x.name;
    EXPECT_TRUE(same_bytes(x.data, y.data)) << x.name;
  }
}

TEST(HfWriter, Stories260KRoundTripsBitForBit) {
  QUANTLM_REQUIRE_ASSETS(assets);
  const auto model = assets / "models/stories260K";
  const ModelSource gguf = open_model_source(model / "stories260K.gguf");
  test::TempDir tmp;
  const auto out = tmp / "hf-out";
  write_hf_directory(gguf, out);
  const ModelSource back = open_model_source(out);
  expect_same_tensors(gguf, back);
  for (const char* key : {"llama.embedding_length", "llama.feed_forward_length", "llama.block_count",
                          "llama.attention.head_count", "llama.attention.head_count_kv", "llama.rope.dimension_count",
                          "llama.context_length", "llama.attention.layer_norm_rms_epsilon"}) {
    ASSERT_NE(back.find(key), nullptr) << key;
    EXPECT_EQ(*back.find(key), *gguf.find(key)) << key;
  }

  // The written q_proj/k_proj are in rotate-half layout exactly as the independently written asset stores them.
  const SafetensorsFile written = SafetensorsFile::open(out / "model.safetensors");
  const SafetensorsFile asset = SafetensorsFile::open(model / "hf/model.safetensors");
  ASSERT_EQ(written.tensors().size(), asset.tensors().size());
  for (const SafetensorsTensor& t : asset.tensors()) {
    const SafetensorsTensor* w = written.find(t.name);
    ASSERT_NE(w, nullptr) << t.name;
    EXPECT_EQ(w->shape, t.shape) << t.name;
    EXPECT_EQ(w->dtype.name, t.dtype.name) << t.name;
    EXPECT_TRUE(same_bytes(written.data(*w), asset.data(t))) << t.name;
  }
  EXPECT_EQ(written.metadata().at("format"), "pt");

  // config.json says what the asset's says.
  const auto read_json = [](const std::filesystem::path& p) { return nlohmann::json::parse(std::ifstream(p)); };
  const auto ours = read_json(out / "config.json");
  const auto theirs = read_json(model / "hf/config.json");
  for (const char* key : {"architectures", "hidden_size", "intermediate_size", "num_hidden_layers",
                          "num_attention_heads", "num_key_value_heads", "vocab_size", "rms_norm_eps", "rope_theta",
                          "tie_word_embeddings", "torch_dtype", "bos_token_id", "eos_token_id"}) {
    EXPECT_EQ(ours.at(key), theirs.at(key)) << key;
  }
  // No temporary files left behind.
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(out)) ++entries;
  EXPECT_EQ(entries, 2U);
}

TEST(HfWriter, Llama2cCheckpointWithTiedEmbeddings) {
  QUANTLM_REQUIRE_ASSETS(assets);
  const ModelSource bin = open_model_source(assets / "models/stories260K/stories260K.bin");
  test::TempDir tmp;
  write_hf_directory(bin, tmp.path());
  const ModelSource back = open_model_source(tmp.path());
  expect_same_tensors(bin, back);
  EXPECT_EQ(back.find_tensor("output.weight"), nullptr);
  const auto config = nlohmann::json::parse(std::ifstream(tmp / "config.json"));
  EXPECT_EQ(config.at("tie_word_embeddings"), true);
  EXPECT_EQ(config.at("max_position_embeddings"), 512);
}

TEST(HfWriter, HalfPrecisionZooRoundTrips) {
  QUANTLM_REQUIRE_ASSETS(assets);
  for (const char* name : {"zoo-F16.gguf", "zoo-BF16.gguf", "zoo-F32.gguf"}) {
    SCOPED_TRACE(name);
    const ModelSource gguf = open_model_source(assets / "models/zoo" / name);
    test::TempDir tmp;
    write_hf_directory(gguf, tmp.path());
    expect_same_tensors(gguf, open_model_source(tmp.path()));
  }
}

TEST(HfWriter, RefusesWhatSafetensorsCannotHold) {
  QUANTLM_REQUIRE_ASSETS(assets);
  test::TempDir tmp;
  const ModelSource q4 = open_model_source(assets / "models/zoo/zoo-Q4_0.gguf");
  try {
    write_hf_directory(q4, tmp / "q4");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Q4_0"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(tmp / "q4"));  // nothing created before the checks passed
}

TEST(SafetensorsWriter, WritesWhatTheReaderReads) {
  test::TempDir tmp;
  const auto path = tmp / "t.safetensors";
  const std::vector<float> a = {1.0F, 2.0F, 3.0F, 4.0F, 5.0F, 6.0F};
  const std::vector<std::uint16_t> b = {0x3c00, 0x4000, 0xc000};
  {
    SafetensorsWriter w(path, {{"a", "F32", {2, 3}}, {"b", "BF16", {3}}, {"empty", "F16", {0, 4}}}, {{"k", "v"}});
    w.write_tensor(std::as_bytes(std::span(a)));
    w.write_tensor(std::as_bytes(std::span(b)));
    w.write_tensor({});
    w.finish();
  }
  const SafetensorsFile f = SafetensorsFile::open(path);
  ASSERT_EQ(f.tensors().size(), 3U);
  EXPECT_EQ(f.metadata().at("k"), "v");
  const SafetensorsTensor* ta = f.find("a");
  ASSERT_NE(ta, nullptr);
  EXPECT_EQ(ta->shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_TRUE(same_bytes(f.data(*ta), std::as_bytes(std::span(a))));
  EXPECT_TRUE(same_bytes(f.data(*f.find("b")), std::as_bytes(std::span(b))));
  EXPECT_EQ(f.data(*f.find("empty")).size(), 0U);
  // Data starts 8-aligned.
  std::uint64_t header = 0;
  std::ifstream(path, std::ios::binary).read(reinterpret_cast<char*>(&header), 8);
  EXPECT_EQ(header % 8, 0U);
}

TEST(SafetensorsWriter, FailuresLeaveNoFile) {
  test::TempDir tmp;
  const auto path = tmp / "t.safetensors";
  EXPECT_THROW(SafetensorsWriter(path, {{"a", "F33", {1}}}), Error);
  EXPECT_THROW(SafetensorsWriter(path, {{"a", "F32", {1}}, {"a", "F32", {1}}}), Error);
  EXPECT_THROW(SafetensorsWriter(path, {{"__metadata__", "F32", {1}}}), Error);
  EXPECT_THROW(SafetensorsWriter(path, {{"a", "F32", {-1}}}), Error);
  EXPECT_THROW(SafetensorsWriter(path, {{"a", "F32", {std::int64_t{1} << 40, std::int64_t{1} << 40}}}), Error);
  {
    SafetensorsWriter w(path, {{"a", "F32", {2}}});
    const std::vector<float> wrong = {1.0F};
    EXPECT_THROW(w.write_tensor(std::as_bytes(std::span(wrong))), Error);
    EXPECT_THROW(w.finish(), Error);
  }
  {
    SafetensorsWriter w(path, {{"a", "F32", {2}}});
    EXPECT_THROW(w.finish(), Error);  // a tensor missing
  }
  {
    SafetensorsWriter w(path, {{"a", "F32", {2}}});  // abandoned
  }
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(tmp.path())) ++entries;
  EXPECT_EQ(entries, 0U);
}

}  // namespace
}  // namespace quantlm::io
