// Hugging Face directories built in the test: Qwen2 (biases, tied, no permutation), Llama biases, shards, BF16.
#include <gtest/gtest.h>

#include <cstring>

#include "core/error.h"
#include "io/loaders/hf_writer.h"
#include "io/loaders/loader_util.h"
#include "io/loaders/safetensors_file.h"
#include "io/model_source.h"
#include "support/temp_dir.h"
#include "synthetic_hf.h"

namespace quantlm::io {
namespace {

bool same_bytes(std::span<const std::byte> a, std::span<const std::byte> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size()) == 0;
}

std::span<const std::byte> raw(const SafetensorsFile& f, const char* name) { return f.data(*f.find(name)); }

std::string str_of(const ModelSource& s, std::string_view key) {
  const gguf::Value* v = s.find(key);
  return v != nullptr && v->as_string() != nullptr ? *v->as_string() : "";
}

std::int64_t int_of(const ModelSource& s, std::string_view key) {
  const gguf::Value* v = s.find(key);
  return v != nullptr && v->as_int() ? *v->as_int() : -1;
}

void expect_round_trip(const ModelSource& source) {
  test::TempDir tmp;
  write_hf_directory(source, tmp / "out");
  const ModelSource back = open_model_source(tmp / "out");
  ASSERT_EQ(back.tensors.size(), source.tensors.size());
  for (const SourceTensor& t : source.tensors) {
    const SourceTensor* b = back.find_tensor(t.name);
    ASSERT_NE(b, nullptr) << t.name;
    EXPECT_EQ(b->shape, t.shape) << t.name;
    EXPECT_EQ(b->format, t.format) << t.name;
    EXPECT_TRUE(same_bytes(b->data, t.data)) << t.name;
  }
  for (const gguf::KeyValue& kv : back.metadata) {
    if (kv.key == "general.name") continue;
    const gguf::Value* v = source.find(kv.key);
    ASSERT_NE(v, nullptr) << kv.key;
    EXPECT_EQ(*v, kv.value) << kv.key;
  }
}

TEST(HfSynthetic, Qwen2KeepsRowsAndBiases) {
  test::TempDir tmp;
  const auto config = test_util::small_config("Qwen2ForCausalLM");
  test_util::write_hf_dir(tmp.path(), config, test_util::tensors_for(config));
  const ModelSource s = open_model_source(tmp.path());
  EXPECT_EQ(str_of(s, "general.architecture"), "qwen2");
  EXPECT_EQ(int_of(s, "qwen2.embedding_length"), 16);
  EXPECT_EQ(int_of(s, "qwen2.attention.head_count_kv"), 2);
  EXPECT_EQ(int_of(s, "qwen2.rope.dimension_count"), 4);
  EXPECT_EQ(s.find("qwen2.rope.freq_base")->as_double(), 1000000.0);
  EXPECT_EQ(s.find_tensor("output.weight"), nullptr);  // tied
  EXPECT_EQ(s.tensors.size(), 2U + 2U * 12U);

  // Qwen2 runs with NeoX RoPE in llama.cpp: q/k (and biases) stay as stored, and are views, not copies.
  const SafetensorsFile f = SafetensorsFile::open(tmp / "model.safetensors");
  EXPECT_TRUE(same_bytes(raw(f, "model.layers.1.self_attn.q_proj.weight"), s.find_tensor("blk.1.attn_q.weight")->data));
  EXPECT_TRUE(same_bytes(raw(f, "model.layers.1.self_attn.k_proj.bias"), s.find_tensor("blk.1.attn_k.bias")->data));
  EXPECT_EQ(s.find_tensor("blk.0.attn_v.bias")->shape, (Shape{{8, 0, 0, 0}, 1}));
  EXPECT_EQ(s.keep_alive.size(), 1U);
  expect_round_trip(s);
}

TEST(HfSynthetic, LlamaBiasesArePermutedLikeTheirRows) {
  test::TempDir tmp;
  auto config = test_util::small_config("LlamaForCausalLM");
  config["attention_bias"] = true;
  test_util::write_hf_dir(tmp.path(), config, test_util::tensors_for(config));
  const ModelSource s = open_model_source(tmp.path());
  const SafetensorsFile f = SafetensorsFile::open(tmp / "model.safetensors");
  for (const auto& [hf, gg, heads] : {std::tuple{"model.layers.0.self_attn.q_proj.bias", "blk.0.attn_q.bias", 4},
                                      std::tuple{"model.layers.0.self_attn.k_proj.bias", "blk.0.attn_k.bias", 2},
                                      std::tuple{"model.layers.0.self_attn.k_proj.weight", "blk.0.attn_k.weight", 2}}) {
    const auto stored = raw(f, hf);
    const SourceTensor& t = *s.find_tensor(gg);
    std::vector<std::byte> expected(stored.size());
    permute_rope_rows(stored, expected, heads, t.shape.rank == 2 ? t.shape[1] * 4 : 4, false);
    EXPECT_TRUE(same_bytes(t.data, expected)) << gg;
    EXPECT_FALSE(same_bytes(t.data, stored)) << gg;
  }
  EXPECT_TRUE(same_bytes(raw(f, "model.layers.0.self_attn.v_proj.bias"), s.find_tensor("blk.0.attn_v.bias")->data));
  expect_round_trip(s);
}

TEST(HfSynthetic, PermutationByHand) {
  // One head of size 4 (rows r0..r3, one column): rotate-half pairs (r0, r2), (r1, r3) become adjacent.
  const std::array<float, 4> hf = {0.0F, 1.0F, 2.0F, 3.0F};
  std::array<float, 4> gguf{};
  permute_rope_rows(std::as_bytes(std::span(hf)), std::as_writable_bytes(std::span(gguf)), 1, 4, false);
  EXPECT_EQ(gguf, (std::array<float, 4>{0.0F, 2.0F, 1.0F, 3.0F}));
  std::array<float, 4> back{};
  permute_rope_rows(std::as_bytes(std::span(gguf)), std::as_writable_bytes(std::span(back)), 1, 4, true);
  EXPECT_EQ(back, hf);
}

TEST(HfSynthetic, ShardedBf16WithExtras) {
  test::TempDir tmp;
  auto config = test_util::small_config("LlamaForCausalLM");
  config["torch_dtype"] = "bfloat16";
  config["rope_scaling"] = {{"rope_type", "linear"}, {"factor", 4.0}};
  auto tensors = test_util::tensors_for(config);
  for (auto& t : tensors) t.dtype = "BF16";
  tensors.push_back({"model.layers.0.self_attn.rotary_emb.inv_freq", {2}, "F32"});  // older exports: ignored
  // Two shards and an index.
  const std::size_t half = tensors.size() / 2;
  test_util::write_hf_dir(tmp / "a", config, {tensors.begin(), tensors.begin() + static_cast<std::ptrdiff_t>(half)}, 1);
  test_util::write_hf_dir(tmp / "b", config, {tensors.begin() + static_cast<std::ptrdiff_t>(half), tensors.end()}, 2);
  const auto dir = tmp / "sharded";
  std::filesystem::create_directories(dir);
  std::filesystem::rename(tmp / "a/model.safetensors", dir / "model-00001-of-00002.safetensors");
  std::filesystem::rename(tmp / "b/model.safetensors", dir / "model-00002-of-00002.safetensors");
  std::ofstream(dir / "config.json") << config.dump();
  nlohmann::json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", nlohmann::json::object()}};
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    index["weight_map"][tensors[i].name] =
        i < half ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  std::ofstream(dir / "model.safetensors.index.json") << index.dump();

  const ModelSource s = open_model_source(dir);
  EXPECT_EQ(s.tensors.size(), 3U + 2U * 9U);
  for (const SourceTensor& t : s.tensors) EXPECT_EQ(t.format->name, "BF16") << t.name;
  EXPECT_EQ(str_of(s, "llama.rope.scaling.type"), "linear");
  EXPECT_EQ(s.find("llama.rope.scaling.factor")->as_double(), 4.0);
  EXPECT_EQ(s.keep_alive.size(), 2U + 2U * 2U);  // two shards, q and k of two layers
  expect_round_trip(s);

  // A tensor in both shards is refused.
  test_util::write_hf_dir(tmp / "c", config, {tensors.front()}, 3);
  std::filesystem::rename(tmp / "c/model.safetensors", dir / "model-00003.safetensors");
  index["weight_map"]["model.embed_tokens.weight"] = "model-00003.safetensors";
  std::ofstream(dir / "model.safetensors.index.json") << index.dump();
  test_util::expect_error([&] { (void)open_model_source(dir); }, {"model.embed_tokens.weight", "twice"});
}

TEST(HfSynthetic, Llama3RopeFactorsBecomeATensor) {
  test::TempDir tmp;
  auto config = test_util::small_config("LlamaForCausalLM");
  config["rope_theta"] = 500000.0;
  config["rope_scaling"] = {{"rope_type", "llama3"},
                            {"factor", 8.0},
                            {"low_freq_factor", 1.0},
                            {"high_freq_factor", 4.0},
                            {"original_max_position_embeddings", 64}};
  test_util::write_hf_dir(tmp.path(), config, test_util::tensors_for(config));
  const ModelSource s = open_model_source(tmp.path());
  const SourceTensor* f = s.find_tensor("rope_freqs.weight");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(f->shape, (Shape{{2, 0, 0, 0}, 1}));  // head_dim 4 -> 2 frequencies
  std::array<float, 2> v{};
  std::memcpy(v.data(), f->data.data(), 8);
  // freq 1 has wavelength 2*pi (< 64/4: kept); freq 500000^-0.5 has wavelength ~4443 (> 64: scaled by 8).
  EXPECT_EQ(v[0], 1.0F);
  EXPECT_EQ(v[1], 8.0F);
  EXPECT_EQ(s.find("llama.rope.scaling.type"), nullptr);
  test::TempDir out;
  test_util::expect_error([&] { write_hf_directory(s, out / "x"); }, {"rope_freqs.weight"});
}

TEST(HfSynthetic, ExplicitHeadDim) {
  test::TempDir tmp;
  auto config = test_util::small_config("LlamaForCausalLM");
  config["head_dim"] = 8;  // 4 heads x 8 = 32 rows for q, wider than hidden 16
  auto tensors = test_util::tensors_for(config);
  for (auto& t : tensors) {
    if (t.name.find("q_proj") != std::string::npos) t.shape[0] = 32;
    if (t.name.find("k_proj") != std::string::npos || t.name.find("v_proj") != std::string::npos) t.shape[0] = 16;
    if (t.name.find("o_proj") != std::string::npos) t.shape[1] = 32;
  }
  test_util::write_hf_dir(tmp.path(), config, tensors);
  const ModelSource s = open_model_source(tmp.path());
  EXPECT_EQ(int_of(s, "llama.attention.key_length"), 8);
  EXPECT_EQ(int_of(s, "llama.rope.dimension_count"), 8);
  expect_round_trip(s);
}

}  // namespace
}  // namespace quantlm::io
