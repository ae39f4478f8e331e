// The per-tensor plan against hand-derived expectations from llama.cpp's rules (llama-quant.cpp at 34af94cd).
#include "quant/plan.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/gguf/gguf_file.h"
#include "support/assets.h"

namespace quantlm::quant {
namespace {

using formats::FormatId;

// A Llama's tensors in the order GGUF converters write them (F32), ne innermost first.
struct Dims {
  std::uint64_t layers, dim, ff, vocab, kv_dim;
};
std::vector<TensorDesc> llama_tensors(const Dims& d, bool with_output = true) {
  const auto* f32 = &formats::traits(FormatId::F32);
  std::vector<TensorDesc> t = {{"token_embd.weight", {d.dim, d.vocab}, f32}, {"output_norm.weight", {d.dim}, f32}};
  if (with_output) t.push_back({"output.weight", {d.dim, d.vocab}, f32});
  for (std::uint64_t i = 0; i < d.layers; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    t.push_back({b + "attn_norm.weight", {d.dim}, f32});
    t.push_back({b + "attn_q.weight", {d.dim, d.dim}, f32});
    t.push_back({b + "attn_k.weight", {d.dim, d.kv_dim}, f32});
    t.push_back({b + "attn_v.weight", {d.dim, d.kv_dim}, f32});
    t.push_back({b + "attn_output.weight", {d.dim, d.dim}, f32});
    t.push_back({b + "ffn_norm.weight", {d.dim}, f32});
    t.push_back({b + "ffn_gate.weight", {d.dim, d.ff}, f32});
    t.push_back({b + "ffn_up.weight", {d.dim, d.ff}, f32});
    t.push_back({b + "ffn_down.weight", {d.ff, d.dim}, f32});
  }
  return t;
}

// zoo: dim 256, ff 768, 2 layers, 4 heads, 2 KV heads (n_gqa 2), vocab 512.
const Dims kZoo{2, 256, 768, 512, 128};
const llama_rules::ModelFacts kZooFacts{"llama", 2, 4, 2, 0};
// stories260K: dim 64, ff 172, 5 layers, 8 heads, 4 KV heads.
const Dims kStories{5, 64, 172, 512, 32};
const llama_rules::ModelFacts kStoriesFacts{"llama", 5, 8, 4, 0};

Recipe recipe_of(const std::string& type) {
  Recipe r;
  r.type = type;
  return r;
}

// name -> chosen format name.
std::map<std::string, std::string> types_of(const Recipe& r, const llama_rules::ModelFacts& facts,
                                            const std::vector<TensorDesc>& tensors, bool has_imatrix = false) {
  const Plan plan = plan_tensors(resolve(r), facts, tensors, has_imatrix);
  std::map<std::string, std::string> out;
  for (const TensorPlan& p : plan.tensors) out[tensors[p.source_index].name] = std::string(p.target->name);
  return out;
}

TEST(Plan, LlamaOrderIsByBlockNumberThenName) {
  auto tensors = llama_tensors({11, 64, 172, 512, 32});
  std::vector<std::string> names;
  for (std::size_t i : llama_order(tensors)) names.push_back(tensors[i].name);
  const std::vector<std::string> head = {"output.weight",         "output_norm.weight",     "token_embd.weight",
                                         "blk.0.attn_k.weight",   "blk.0.attn_norm.weight", "blk.0.attn_output.weight",
                                         "blk.0.attn_q.weight",   "blk.0.attn_v.weight",    "blk.0.ffn_down.weight",
                                         "blk.0.ffn_gate.weight", "blk.0.ffn_norm.weight",  "blk.0.ffn_up.weight",
                                         "blk.1.attn_k.weight"};
  EXPECT_EQ(std::vector<std::string>(names.begin(), names.begin() + 13), head);
  EXPECT_EQ(names[3 + 9 * 9], "blk.9.attn_k.weight");
  EXPECT_EQ(names[3 + 9 * 10], "blk.10.attn_k.weight") << "block numbers compare as numbers, not text";
}

TEST(Plan, UseMoreBitsPicksTheFirstLastAndEveryThirdLayer) {
  // n = 8: n/8 = 1, 7n/8 = 7, then (i - 1) % 3 == 2 picks 3 and 6.
  std::vector<int> picked;
  for (int i = 0; i < 8; ++i) {
    if (llama_rules::use_more_bits(i, 8)) picked.push_back(i);
  }
  EXPECT_EQ(picked, (std::vector<int>{0, 3, 6, 7}));
  EXPECT_FALSE(llama_rules::use_more_bits(0, 2));
  EXPECT_TRUE(llama_rules::use_more_bits(1, 2));
}

// The expectation for the zoo model, derived by hand from llama-quant.cpp:
// output.weight: 256 % 256 == 0 and the base is not Q8_0 -> Q6_K; token_embd
// is untied (output.weight exists) and Q4_K_M has no token_embd rule -> Q4_K;
// attn_v #i of 2 and ffn_down layer i of 2 -> Q6_K when use_more_bits(i, 2),
// which holds for i = 1 only (i >= 7*2/8 = 1); the rest stays Q4_K; norms are
// 1-D and stay F32. (llama-quantize --dry-run at 34af94cd prints the same.)
TEST(Plan, Q4KMOnTheZooModel) {
  const auto types = types_of(recipe_of("Q4_K_M"), kZooFacts, llama_tensors(kZoo));
  const std::map<std::string, std::string> expected = {
      {"output.weight", "Q6_K"},         {"output_norm.weight", "F32"},     {"token_embd.weight", "Q4_K"},
      {"blk.0.attn_k.weight", "Q4_K"},   {"blk.0.attn_norm.weight", "F32"}, {"blk.0.attn_output.weight", "Q4_K"},
      {"blk.0.attn_q.weight", "Q4_K"},   {"blk.0.attn_v.weight", "Q4_K"},   {"blk.0.ffn_down.weight", "Q4_K"},
      {"blk.0.ffn_gate.weight", "Q4_K"}, {"blk.0.ffn_norm.weight", "F32"},  {"blk.0.ffn_up.weight", "Q4_K"},
      {"blk.1.attn_k.weight", "Q4_K"},   {"blk.1.attn_norm.weight", "F32"}, {"blk.1.attn_output.weight", "Q4_K"},
      {"blk.1.attn_q.weight", "Q4_K"},   {"blk.1.attn_v.weight", "Q6_K"},   {"blk.1.ffn_down.weight", "Q6_K"},
      {"blk.1.ffn_gate.weight", "Q4_K"}, {"blk.1.ffn_norm.weight", "F32"},  {"blk.1.ffn_up.weight", "Q4_K"},
  };
  EXPECT_EQ(types, expected);
}

TEST(Plan, Q4KMOnTheZooFileItself) {
  QUANTLM_REQUIRE_ASSETS(assets);
  const auto file = gguf::GgufFile::open(assets / "models/zoo/zoo-F32.gguf");
  std::vector<TensorDesc> tensors;
  for (const auto& t : file.tensors()) tensors.push_back({t.name, t.ne, t.format});
  const llama_rules::ModelFacts facts = model_facts(file.metadata());
  EXPECT_EQ(facts.n_layer, 2);
  EXPECT_EQ(facts.n_gqa(), 2);
  EXPECT_EQ(types_of(recipe_of("Q4_K_M"), facts, tensors),
            types_of(recipe_of("Q4_K_M"), kZooFacts, llama_tensors(kZoo)));
}

// 8 layers: use_more_bits picks layers 0, 3, 6 and 7 for Q6_K.
TEST(Plan, Q4KMAndQ5KMBumpTheUseMoreBitsLayers) {
  const llama_rules::ModelFacts facts{"llama", 8, 4, 2, 0};
  for (const char* preset : {"Q4_K_M", "Q5_K_M"}) {
    const auto types = types_of(recipe_of(preset), facts, llama_tensors({8, 256, 768, 512, 128}));
    const std::string base = std::string(preset) == "Q4_K_M" ? "Q4_K" : "Q5_K";
    for (int i = 0; i < 8; ++i) {
      const std::string want = (i == 0 || i == 3 || i == 6 || i == 7) ? "Q6_K" : base;
      const std::string b = "blk." + std::to_string(i) + ".";
      EXPECT_EQ(types.at(b + "attn_v.weight"), want) << preset << " layer " << i;
      EXPECT_EQ(types.at(b + "ffn_down.weight"), want) << preset << " layer " << i;
      EXPECT_EQ(types.at(b + "attn_q.weight"), base);
    }
  }
}

// Q3_K_M: attn_v #0, #1 Q5_K then Q4_K; ffn_down layers below n/16 Q5_K, the
// rest Q4_K (not Falcon); attn_output Q4_K. Q3_K_L: those three Q5_K.
// Q2_K with n_gqa 2: attn_v Q3_K, ffn_down and attn_output Q3_K.
TEST(Plan, TheQ3AndQ2Mixes) {
  const llama_rules::ModelFacts facts{"llama", 32, 4, 2, 0};
  const auto tensors = llama_tensors({32, 256, 768, 512, 128});
  const auto m = types_of(recipe_of("Q3_K_M"), facts, tensors);
  EXPECT_EQ(m.at("blk.0.attn_v.weight"), "Q5_K");
  EXPECT_EQ(m.at("blk.1.attn_v.weight"), "Q5_K");
  EXPECT_EQ(m.at("blk.2.attn_v.weight"), "Q4_K");
  EXPECT_EQ(m.at("blk.1.ffn_down.weight"), "Q5_K");
  EXPECT_EQ(m.at("blk.2.ffn_down.weight"), "Q4_K");
  EXPECT_EQ(m.at("blk.5.attn_output.weight"), "Q4_K");
  EXPECT_EQ(m.at("blk.5.attn_q.weight"), "Q3_K");
  EXPECT_EQ(m.at("output.weight"), "Q6_K");
  const auto l = types_of(recipe_of("Q3_K_L"), facts, tensors);
  EXPECT_EQ(l.at("blk.9.attn_v.weight"), "Q5_K");
  EXPECT_EQ(l.at("blk.9.ffn_down.weight"), "Q5_K");
  EXPECT_EQ(l.at("blk.9.attn_output.weight"), "Q5_K");
  const auto q2 = types_of(recipe_of("Q2_K"), facts, tensors);
  EXPECT_EQ(q2.at("blk.9.attn_v.weight"), "Q3_K") << "n_gqa 2 < 4";
  EXPECT_EQ(q2.at("blk.9.ffn_down.weight"), "Q3_K");
  EXPECT_EQ(q2.at("blk.9.attn_output.weight"), "Q3_K");
  EXPECT_EQ(q2.at("blk.9.ffn_up.weight"), "Q2_K");
  const auto q2_gqa8 = types_of(recipe_of("Q2_K"), {"llama", 32, 32, 4, 0}, tensors);
  EXPECT_EQ(q2_gqa8.at("blk.9.attn_v.weight"), "Q4_K") << "n_gqa 8 >= 4";
}

TEST(Plan, TernaryAndIq4Mixes) {
  const auto tq = types_of(recipe_of("TQ1_0"), kZooFacts, llama_tensors(kZoo));
  EXPECT_EQ(tq.at("token_embd.weight"), "Q4_K");
  EXPECT_EQ(tq.at("output.weight"), "Q6_K");
  EXPECT_EQ(tq.at("blk.0.attn_q.weight"), "TQ1_0");
  // IQ4_NL: ffn_down below n/8 (without imatrix) Q5_K; attn_v Q5_K only when n_gqa >= 4.
  const llama_rules::ModelFacts facts{"llama", 16, 8, 2, 0};
  const auto tensors = llama_tensors({16, 256, 768, 512, 256});
  const auto nl = types_of(recipe_of("IQ4_NL"), facts, tensors);
  EXPECT_EQ(nl.at("blk.1.ffn_down.weight"), "Q5_K");
  EXPECT_EQ(nl.at("blk.2.ffn_down.weight"), "IQ4_NL");
  EXPECT_EQ(nl.at("blk.2.attn_v.weight"), "Q5_K");
  EXPECT_EQ(types_of(recipe_of("IQ4_NL"), facts, tensors, true).at("blk.1.ffn_down.weight"), "IQ4_NL")
      << "no bump with an imatrix";
  // Q4_0 with an imatrix guards the first n/8 ffn_down with Q4_1.
  EXPECT_EQ(types_of(recipe_of("Q4_0"), facts, tensors, true).at("blk.1.ffn_down.weight"), "Q4_1");
  EXPECT_EQ(types_of(recipe_of("Q4_0"), facts, tensors, false).at("blk.1.ffn_down.weight"), "Q4_0");
}

// stories260K under Q4_K_M: no row (64 or 172 values) holds a 256-block, so
// every K choice falls back: Q4_K -> Q5_0, Q6_K -> Q8_0 (attn_v of layers 2
// and 4: use_more_bits(i, 5) holds for i >= 35/8 = 4 and i % 3 == 2), and
// ffn_down's 172 columns go on to F16. output.weight is Q8_0 by the output
// rule itself (64 % 256 != 0), not by a fallback.
TEST(Plan, Q4KMOnStoriesFallsBackAsLlamaCppDoes) {
  const Plan plan = plan_tensors(resolve(recipe_of("Q4_K_M")), kStoriesFacts, llama_tensors(kStories), false);
  const auto types = types_of(recipe_of("Q4_K_M"), kStoriesFacts, llama_tensors(kStories));
  EXPECT_EQ(types.at("output.weight"), "Q8_0");
  EXPECT_EQ(types.at("token_embd.weight"), "Q5_0");
  for (int i = 0; i < 5; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    EXPECT_EQ(types.at(b + "attn_v.weight"), (i == 2 || i == 4) ? "Q8_0" : "Q5_0") << i;
    EXPECT_EQ(types.at(b + "ffn_down.weight"), "F16") << i;
    EXPECT_EQ(types.at(b + "ffn_gate.weight"), "Q5_0") << i;
  }
  EXPECT_EQ(plan.fallbacks, 1 + 5 * 7) << "every matrix but output.weight needs one";
}

TEST(Plan, LegacyTypesKeep172ColumnRowsInF16) {
  // llama.cpp 34af94cd stops here ("no tensor type fallback is defined for
  // type q8_0"); the reference files were made with --tensor-type
  // ffn_down=f16, which quantlm's default reproduces without the flag.
  for (const char* preset : {"Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "IQ4_NL"}) {
    const auto types = types_of(recipe_of(preset), kStoriesFacts, llama_tensors(kStories));
    EXPECT_EQ(types.at("blk.3.ffn_down.weight"), "F16") << preset;
    EXPECT_EQ(types.at("output.weight"), "Q8_0") << preset;
    EXPECT_EQ(types.at("token_embd.weight"), preset) << preset;
    Recipe with_flag = recipe_of(preset);
    with_flag.tensor_types = {{"ffn_down", "F16"}};
    EXPECT_EQ(types_of(with_flag, kStoriesFacts, llama_tensors(kStories)), types) << preset;
  }
  for (const char* preset : {"F16", "BF16"}) {
    const auto types = types_of(recipe_of(preset), kStoriesFacts, llama_tensors(kStories));
    EXPECT_EQ(types.at("output.weight"), preset) << "float presets have no mix";
    EXPECT_EQ(types.at("blk.0.ffn_down.weight"), preset);
    EXPECT_EQ(types.at("blk.0.ffn_norm.weight"), "F32");
  }
}

TEST(Plan, PureAndLeaveOutputTensor) {
  Recipe r = recipe_of("Q3_K_S");
  r.pure = true;
  for (const auto& [name, type] : types_of(r, kZooFacts, llama_tensors(kZoo))) {
    EXPECT_EQ(type, name.find("_norm") != std::string::npos ? "F32" : "Q3_K") << name;
  }
  r.leave_output_tensor = true;
  EXPECT_EQ(types_of(r, kZooFacts, llama_tensors(kZoo)).at("output.weight"), "F32");
}

TEST(Plan, TensorTypeRulesFirstMatchWinsAndSkipTheMixCounters) {
  Recipe r = recipe_of("Q4_K_M");
  r.tensor_types = {{"attn_v", "Q8_0"}, {"attn", "Q5_K"}, {"attn_q", "Q2_K"}};
  const auto types = types_of(r, kZooFacts, llama_tensors(kZoo));
  EXPECT_EQ(types.at("blk.0.attn_v.weight"), "Q8_0");
  EXPECT_EQ(types.at("blk.0.attn_q.weight"), "Q5_K") << "'attn' comes before 'attn_q'";
  EXPECT_EQ(types.at("blk.0.ffn_up.weight"), "Q4_K");
  // As in llama.cpp, a tensor set by a rule does not advance the mix's
  // attn_v counter: with blk.0's taken by a rule, blk.1's attn_v is #0 of 2,
  // for which use_more_bits is false.
  r.tensor_types = {{"blk\\.0\\.attn_v", "Q8_0"}};
  EXPECT_EQ(types_of(r, kZooFacts, llama_tensors(kZoo)).at("blk.1.attn_v.weight"), "Q4_K");
}

TEST(Plan, OutputAndTokenEmbeddingTypes) {
  Recipe r = recipe_of("Q4_K_M");
  r.output_tensor_type = "Q8_0";
  r.token_embedding_type = "F16";
  r.tensor_types = {{"token_embd|output", "Q2_K"}};
  const auto types = types_of(r, kZooFacts, llama_tensors(kZoo));
  EXPECT_EQ(types.at("output.weight"), "Q8_0") << "beats --tensor-type, as in llama.cpp";
  EXPECT_EQ(types.at("token_embd.weight"), "F16");
  // Tied embeddings: token_embd takes the output rule (Q6_K), or --output-tensor-type.
  const auto tied = types_of(recipe_of("Q4_K_M"), kZooFacts, llama_tensors(kZoo, false));
  EXPECT_EQ(tied.at("token_embd.weight"), "Q6_K");
  r.token_embedding_type.clear();
  r.tensor_types.clear();
  EXPECT_EQ(types_of(r, kZooFacts, llama_tensors(kZoo, false)).at("token_embd.weight"), "Q8_0");
  // A type named for one tensor that cannot hold its rows is an error, not a fallback.
  Recipe bad = recipe_of("Q4_0");
  bad.output_tensor_type = "Q4_K";
  EXPECT_THROW((void)types_of(bad, kStoriesFacts, llama_tensors(kStories)), Error);
}

TEST(Plan, ErrorsForRulesThatMatchNothingAndMissingImatrix) {
  Recipe r = recipe_of("Q4_K_M");
  r.tensor_types = {{"attn_vv", "Q8_0"}};
  try {
    (void)types_of(r, kZooFacts, llama_tensors(kZoo));
    ADD_FAILURE() << "a rule matching nothing must fail";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("attn_vv=Q8_0' matches no quantizable tensor"), std::string::npos) << e.what();
  }
  r.tensor_types = {{"norm", "Q8_0"}};  // only 1-D norms match: not quantizable
  EXPECT_THROW((void)types_of(r, kZooFacts, llama_tensors(kZoo)), Error);
  EXPECT_THROW((void)types_of(recipe_of("Q2_K_S"), kZooFacts, llama_tensors(kZoo)), Error);
  EXPECT_EQ(types_of(recipe_of("Q2_K_S"), kZooFacts, llama_tensors(kZoo), true).at("blk.0.attn_q.weight"), "Q2_K");
}

TEST(Plan, FallbackPolicies) {
  Recipe r = recipe_of("Q4_0");
  r.fallback = "Q8_0";
  EXPECT_THROW((void)types_of(r, kStoriesFacts, llama_tensors(kStories)), Error) << "Q8_0 cannot hold 172 columns";
  r.fallback = "BF16";
  auto types = types_of(r, kStoriesFacts, llama_tensors(kStories));
  EXPECT_EQ(types.at("blk.0.ffn_down.weight"), "BF16");
  EXPECT_EQ(types.at("output.weight"), "BF16") << "every fallback goes to the named type";

  r.fallback = "quantlm";
  const formats::FormatTraits* ours = quantlm_fallback(formats::traits(FormatId::Q4_0), 172);
  if (ours == nullptr) {
    EXPECT_THROW((void)types_of(r, kStoriesFacts, llama_tensors(kStories)), Error);
    GTEST_SKIP() << "no quantlm format takes rows of 172 values in this build";
  }
  EXPECT_EQ(ours->origin, formats::Origin::quantlm);
  EXPECT_TRUE(ours->row_length_ok(172));
  EXPECT_GE(ours->bits_per_weight(172), formats::traits(FormatId::Q4_0).bits_per_weight());
  types = types_of(r, kStoriesFacts, llama_tensors(kStories));
  EXPECT_EQ(types.at("blk.0.ffn_down.weight"), ours->name) << "where llama.cpp would write F16";
  EXPECT_EQ(types.at("output.weight"), "Q8_0") << "llama.cpp's non-F16 fallbacks stay";
  EXPECT_EQ(types.at("blk.0.ffn_up.weight"), "Q4_0");
}

}  // namespace
}  // namespace quantlm::quant
