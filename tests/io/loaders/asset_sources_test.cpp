// stories260K three ways (GGUF, llama2.c .bin, Hugging Face directory): the tensors must agree bit for bit.
#include <gtest/gtest.h>

#include <cstring>

#include "core/error.h"
#include "io/gguf/gguf_file.h"
#include "io/loaders/safetensors_file.h"
#include "io/model_source.h"
#include "io/tokenizer/tokenizer.h"
#include "support/assets.h"

namespace quantlm::io {
namespace {

bool same_bytes(std::span<const std::byte> a, std::span<const std::byte> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size()) == 0;
}

// Every tensor of `source` equals the GGUF's tensor of the same name (name, shape, format, bytes).
void expect_tensors_match_gguf(const ModelSource& source, const gguf::GgufFile& gguf) {
  for (const SourceTensor& t : source.tensors) {
    const gguf::TensorInfo* info = gguf.find_tensor(t.name);
    ASSERT_NE(info, nullptr) << t.name;
    EXPECT_EQ(t.shape, info->shape) << t.name;
    EXPECT_EQ(t.format, info->format) << t.name;
    EXPECT_TRUE(same_bytes(t.data, gguf.tensor_data(*info))) << t.name << " differs from the GGUF";
  }
}

std::int64_t int_of(const ModelSource& s, std::string_view key) {
  const gguf::Value* v = s.find(key);
  return v != nullptr && v->as_int() ? *v->as_int() : -1;
}

TEST(Llama2cSource, Stories260KEqualsTheGgufBitForBit) {
  QUANTLM_REQUIRE_ASSETS(assets);
  const auto dir = assets / "models/stories260K";
  const gguf::GgufFile gguf = gguf::GgufFile::open(dir / "stories260K.gguf");
  const ModelSource bin = open_model_source(dir / "stories260K.bin");

  EXPECT_EQ(bin.description, "llama2.c '" + (dir / "stories260K.bin").string() + "'");
  // Tied classifier: the .bin has no output.weight; the GGUF's copy equals the embedding.
  ASSERT_EQ(bin.tensors.size() + 1, gguf.tensors().size());
  EXPECT_EQ(bin.find_tensor("output.weight"), nullptr);
  expect_tensors_match_gguf(bin, gguf);
  EXPECT_TRUE(
      same_bytes(bin.find_tensor("token_embd.weight")->data, gguf.tensor_data(*gguf.find_tensor("output.weight"))));
  // llama.cpp's order, as the GGUF has it.
  for (std::size_t i = 0, j = 0; i < gguf.tensors().size(); ++i) {
    if (gguf.tensors()[i].name == "output.weight") continue;
    EXPECT_EQ(bin.tensors[j++].name, gguf.tensors()[i].name);
  }

  EXPECT_EQ(*bin.find("general.architecture")->as_string(), "llama");
  EXPECT_EQ(int_of(bin, "llama.embedding_length"), 64);
  EXPECT_EQ(int_of(bin, "llama.feed_forward_length"), 172);
  EXPECT_EQ(int_of(bin, "llama.block_count"), 5);
  EXPECT_EQ(int_of(bin, "llama.attention.head_count"), 8);
  EXPECT_EQ(int_of(bin, "llama.attention.head_count_kv"), 4);
  EXPECT_EQ(int_of(bin, "llama.rope.dimension_count"), 8);
  EXPECT_EQ(int_of(bin, "llama.context_length"), 512);  // the .bin's seq_len (the GGUF says 2048)
  // The same f32 epsilon as the GGUF's, bit for bit.
  EXPECT_EQ(*bin.find("llama.attention.layer_norm_rms_epsilon"), *gguf.find("llama.attention.layer_norm_rms_epsilon"));

  // tok512.bin beside the checkpoint is found and gives the GGUF's vocabulary.
  ASSERT_NE(bin.tokenizer, nullptr);
  const auto gguf_tok = tokenizer::load_gguf_tokenizer(gguf);
  ASSERT_EQ(bin.tokenizer->vocab_size(), gguf_tok->vocab_size());
  for (tokenizer::TokenId id = 0; id < gguf_tok->vocab_size(); ++id) {
    EXPECT_EQ(bin.tokenizer->vocabulary()[id].text, gguf_tok->vocabulary()[id].text) << id;
  }
  // And the same tokenizer.ggml.* arrays, so a GGUF written from the .bin would carry the GGUF's vocabulary.
  for (const char* key :
       {"tokenizer.ggml.model", "tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type",
        "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id"}) {
    ASSERT_NE(bin.find(key), nullptr) << key;
    EXPECT_EQ(*bin.find(key), *gguf.find(key)) << key;
  }
  const std::string text = "Once upon a time, there was a little girl named Lily.";
  EXPECT_EQ(bin.tokenizer->encode(text, true), gguf_tok->encode(text, true));
}

TEST(Llama2cSource, ExplicitTokenizerOption) {
  QUANTLM_REQUIRE_ASSETS(assets);
  const auto dir = assets / "models/stories260K";
  SourceOptions options;
  options.llama2c_tokenizer = dir / "does-not-exist.bin";
  EXPECT_THROW((void)open_model_source(dir / "stories260K.bin", options), Error);
  options.llama2c_tokenizer = dir / "tok512.bin";
  EXPECT_NE(open_model_source(dir / "stories260K.bin", options).tokenizer, nullptr);
}

TEST(HfSource, Stories260KEqualsTheGgufBitForBitAfterThePermutation) {
  QUANTLM_REQUIRE_ASSETS(assets);
  const auto dir = assets / "models/stories260K";
  const gguf::GgufFile gguf = gguf::GgufFile::open(dir / "stories260K.gguf");
  const ModelSource hf = open_model_source(dir / "hf");

  ASSERT_EQ(hf.tensors.size(), gguf.tensors().size());  // tie_word_embeddings is false: lm_head is stored
  expect_tensors_match_gguf(hf, gguf);
  for (std::size_t i = 0; i < gguf.tensors().size(); ++i) EXPECT_EQ(hf.tensors[i].name, gguf.tensors()[i].name);

  // The permutation is real: the file's q_proj/k_proj rows differ from the GGUF's, v_proj's do not.
  const SafetensorsFile st = SafetensorsFile::open(dir / "hf/model.safetensors");
  const auto raw = [&](const char* name) { return st.data(*st.find(name)); };
  EXPECT_FALSE(same_bytes(raw("model.layers.0.self_attn.q_proj.weight"), hf.find_tensor("blk.0.attn_q.weight")->data));
  EXPECT_FALSE(same_bytes(raw("model.layers.0.self_attn.k_proj.weight"), hf.find_tensor("blk.0.attn_k.weight")->data));
  EXPECT_TRUE(same_bytes(raw("model.layers.0.self_attn.v_proj.weight"), hf.find_tensor("blk.0.attn_v.weight")->data));
  // Only the permuted q/k are copies (one buffer each, 5 layers x 2); the rest are views into the one mapping.
  EXPECT_EQ(hf.keep_alive.size(), 1U + 10U);

  EXPECT_EQ(*hf.find("general.architecture")->as_string(), "llama");
  for (const char* key : {"llama.embedding_length", "llama.feed_forward_length", "llama.block_count",
                          "llama.attention.head_count", "llama.attention.head_count_kv", "llama.rope.dimension_count",
                          "llama.context_length", "llama.attention.layer_norm_rms_epsilon"}) {
    ASSERT_NE(hf.find(key), nullptr) << key;
    EXPECT_EQ(*hf.find(key), *gguf.find(key)) << key;  // same values and the same GGUF types
  }
  EXPECT_EQ(hf.tokenizer, nullptr);  // no tokenizer.json and no vocabulary_gguf
}

TEST(HfSource, VocabularyFromAGguf) {
  QUANTLM_REQUIRE_ASSETS(assets);
  const auto dir = assets / "models/stories260K";
  SourceOptions options;
  options.vocabulary_gguf = dir / "stories260K.gguf";
  const ModelSource hf = open_model_source(dir / "hf", options);
  ASSERT_NE(hf.tokenizer, nullptr);
  EXPECT_EQ(hf.tokenizer->vocab_size(), 512);
  ASSERT_NE(hf.find("tokenizer.ggml.model"), nullptr);
  EXPECT_EQ(*hf.find("tokenizer.ggml.model")->as_string(), "llama");
  // Naming a file of the directory opens the directory.
  EXPECT_EQ(open_model_source(dir / "hf/config.json").tensors.size(), hf.tensors.size());
}

}  // namespace
}  // namespace quantlm::io
