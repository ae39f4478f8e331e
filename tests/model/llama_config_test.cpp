// Loading a model refuses inconsistent metadata and tensors with messages that name the problem.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "core/error.h"
#include "model/llama_model.h"
#include "tiny_llama.h"

namespace quantlm::model {
namespace {

using gguf::Value;

void set(io::ModelSource& s, const std::string& key, Value v) {
  for (gguf::KeyValue& kv : s.metadata) {
    if (kv.key == key) {
      kv.value = std::move(v);
      return;
    }
  }
  s.metadata.push_back({key, std::move(v)});
}

void erase_metadata(io::ModelSource& s, const std::string& key) {
  std::erase_if(s.metadata, [&](const gguf::KeyValue& kv) { return kv.key == key; });
}

void erase_tensor(io::ModelSource& s, const std::string& name) {
  std::erase_if(s.tensors, [&](const io::SourceTensor& t) { return t.name == name; });
}

// Loads the tiny model after `edit` and expects an Error whose message contains every one of `parts`.
void expect_error(const std::function<void(io::ModelSource&)>& edit, std::initializer_list<const char*> parts) {
  io::ModelSource s = test::make_tiny_source({});
  edit(s);
  try {
    const LlamaModel model(s);
    FAIL() << "expected an Error mentioning " << *parts.begin();
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("tiny llama test model"), std::string::npos) << what;  // names the source
    for (const char* p : parts) EXPECT_NE(what.find(p), std::string::npos) << "'" << p << "' not in: " << what;
  }
}

TEST(LlamaConfig, ReadsTheHyperparameters) {
  const io::ModelSource s = test::make_tiny_source({.n_rot = 4, .rope_base = 5e5, .linear_scale = 2.0});
  const LlamaConfig c = read_llama_config(s);
  EXPECT_EQ(c.architecture, "llama");
  EXPECT_EQ(c.context_length, 64);
  EXPECT_EQ(c.dim, 24);
  EXPECT_EQ(c.n_layers, 2);
  EXPECT_EQ(c.n_ff, 40);
  EXPECT_EQ(c.n_heads, 4);
  EXPECT_EQ(c.n_kv_heads, 2);
  EXPECT_EQ(c.head_dim, 6);
  EXPECT_EQ(c.n_rot, 4);
  EXPECT_DOUBLE_EQ(c.rope_base, 5e5);
  EXPECT_DOUBLE_EQ(c.rope_linear_scale, 2.0);
  EXPECT_FLOAT_EQ(c.rms_eps, 1e-5F);
  EXPECT_EQ(c.rope_layout, RopeLayout::adjacent_pairs);
  EXPECT_FALSE(c.qkv_bias);
  const LlamaConfig q = read_llama_config(test::make_tiny_source({.arch = "qwen2"}));
  EXPECT_EQ(q.rope_layout, RopeLayout::neox);
  EXPECT_TRUE(q.qkv_bias);
}

TEST(LlamaConfig, RefusesUnknownArchitectures) {
  expect_error([](io::ModelSource& s) { set(s, "general.architecture", Value::from_string("gpt2")); },
               {"'gpt2'", "not supported", "llama or qwen2"});
  expect_error([](io::ModelSource& s) { erase_metadata(s, "general.architecture"); }, {"general.architecture"});
}

TEST(LlamaConfig, RefusesMissingOrMistypedKeys) {
  expect_error([](io::ModelSource& s) { erase_metadata(s, "llama.block_count"); }, {"llama.block_count", "missing"});
  expect_error([](io::ModelSource& s) { set(s, "llama.embedding_length", Value::from_string("24")); },
               {"llama.embedding_length", "expected an integer"});
  expect_error([](io::ModelSource& s) { set(s, "llama.feed_forward_length", Value::from_i32(0)); },
               {"llama.feed_forward_length", "positive"});
  expect_error([](io::ModelSource& s) { erase_metadata(s, "llama.attention.layer_norm_rms_epsilon"); },
               {"layer_norm_rms_epsilon", "missing"});
}

TEST(LlamaConfig, RefusesInconsistentHeadCounts) {
  expect_error([](io::ModelSource& s) { set(s, "llama.attention.head_count_kv", Value::from_u32(3)); },
               {"head_count 4", "head_count_kv 3"});
  expect_error(
      [](io::ModelSource& s) {
        set(s, "llama.attention.head_count", Value::from_u32(5));
        set(s, "llama.attention.head_count_kv", Value::from_u32(5));
      },
      {"embedding_length 24", "head_count 5"});
  expect_error([](io::ModelSource& s) { set(s, "llama.rope.dimension_count", Value::from_u32(8)); },
               {"rope.dimension_count 8", "head dimension 6"});
  expect_error([](io::ModelSource& s) { set(s, "llama.rope.scaling.type", Value::from_string("yarn")); },
               {"rope.scaling.type", "'yarn'"});
}

TEST(LlamaWeights, RefusesMissingExtraAndMisshapenTensors) {
  expect_error([](io::ModelSource& s) { erase_tensor(s, "blk.1.ffn_up.weight"); },
               {"'blk.1.ffn_up.weight'", "missing"});
  expect_error(
      [](io::ModelSource& s) { s.tensors.push_back(s.tensors.back()), s.tensors.back().name = "blk.2.ffn_up.weight"; },
      {"1 unexpected tensor", "'blk.2.ffn_up.weight'", "2 blocks"});
  expect_error(
      [](io::ModelSource& s) {
        for (io::SourceTensor& t : s.tensors) {
          if (t.name == "blk.0.attn_k.weight") t.shape = Shape{{6, 24}, 2};  // one KV head's rows instead of two
        }
      },
      {"'blk.0.attn_k.weight'", "[6, 24]", "expected [12, 24]", "head_count_kv"});
  // qwen2 needs its biases.
  io::ModelSource q = test::make_tiny_source({.arch = "qwen2"});
  erase_tensor(q, "blk.0.attn_v.bias");
  EXPECT_THROW(LlamaModel{q}, Error);
}

TEST(LlamaWeights, RefusesAVocabularyThatDisagreesWithTheEmbedding) {
  expect_error([](io::ModelSource& s) { set(s, "llama.vocab_size", Value::from_u32(40)); },
               {"vocab_size", "40", "37 rows"});
  expect_error(
      [](io::ModelSource& s) {
        for (io::SourceTensor& t : s.tensors) {
          if (t.name == "output.weight") t.shape = Shape{{36, 24}, 2}, t.data = t.data.first(36 * 24 * 4);
        }
      },
      {"'output.weight'", "[36, 24]", "[37, 24]"});
}

}  // namespace
}  // namespace quantlm::model
