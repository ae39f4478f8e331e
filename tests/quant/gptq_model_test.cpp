// quantize_model with --method gptq on stories260K: a standard GGUF whose recipe says how it was made, and less error.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"
#include "io/gguf/gguf_file.h"
#include "quant/calibration.h"
#include "quant/quantize_model.h"
#include "support/assets.h"
#include "support/temp_dir.h"

namespace quantlm::quant {
namespace {

QuantizeOptions options(const std::filesystem::path& in, const std::filesystem::path& out, const std::string& type) {
  QuantizeOptions o;
  o.input = in;
  o.output = out;
  o.recipe.type = type;
  o.threads = 2;
  o.progress = ProgressMode::never;
  return o;
}

// The recipe of a calibrated method over the first 8 chunks of 256 tokens of `calib`.
QuantizeOptions calibrated(QuantizeOptions o, const std::string& method, const std::filesystem::path& calib) {
  o.recipe.method = method;
  o.recipe.calib = calib.string();
  o.recipe.calib_ctx = 256;
  o.recipe.calib_chunks = 8;
  return o;
}

// The Hessian collection that recipe asks for.
CalibrationHessians::Settings hessian_settings(const std::filesystem::path& model, const std::filesystem::path& calib) {
  CalibrationHessians::Settings s;
  s.model = model;
  s.text = calib;
  s.calib.n_ctx = 256;
  s.calib.max_chunks = 8;
  s.calib.progress = ProgressMode::never;
  return s;
}

TEST(GptqModel, NeedsAHessianSource) {
  test::TempDir dir;
  QuantizeOptions o = options(dir / "in.gguf", dir / "out.gguf", "Q4_0");
  o.recipe.method = "gptq";
  EXPECT_THROW((void)quantize_model(o), Error);  // no --calib
  o.recipe.calib = "calib.txt";
  o.recipe.method = "awq-someday";
  EXPECT_THROW((void)resolve(o.recipe), Error);
}

TEST(GptqModel, RecipeRoundTripsThroughJson) {
  Recipe r;
  r.type = "IQ4_NL";
  r.method = "gptq";
  r.calib = "calib.txt";
  r.calib_ctx = 256;
  r.calib_chunks = 3;
  r.gptq_damp = 0.05;
  r.gptq_block = 64;
  r.gptq_act_order = true;
  EXPECT_EQ(recipe_from_json(nlohmann::json::parse(to_json(r).dump()), "test"), r);
  (void)resolve(r);
  r.gptq_block = 0;
  EXPECT_THROW((void)resolve(r), Error);
}

TEST(GptqModelAssets, Stories260kQ4_0) {
  QUANTLM_REQUIRE_ASSETS(assets);
  test::TempDir dir;
  const auto model = assets / "models/stories260K/stories260K.gguf";
  const auto calib = assets / "text/tinystories/calib.txt";

  QuantizeOptions rtn = options(model, dir / "rtn.gguf", "Q4_0");
  const QuantizeReport r_rtn = quantize_model(rtn);

  QuantizeOptions o = calibrated(options(model, dir / "gptq.gguf", "Q4_0"), "gptq", calib);
  CalibrationHessians::Settings s = hessian_settings(model, calib);
  s.threads = 2;
  s.budget_bytes = 200 * 1024;  // a few layers per pass: exercises the bounded, multi-pass collection
  CalibrationHessians hessians(s);
  o.hessians = &hessians;
  const QuantizeReport r = quantize_model(o);
  EXPECT_GT(hessians.passes(), 1);

  ASSERT_EQ(r.tensors.size(), r_rtn.tensors.size());
  int gptq = 0;
  for (std::size_t i = 0; i < r.tensors.size(); ++i) {
    const TensorReport& t = r.tensors[i];
    EXPECT_EQ(t.type, r_rtn.tensors[i].type) << t.name << ": same formats as RTN";
    EXPECT_EQ(t.bytes_after, r_rtn.tensors[i].bytes_after) << t.name;
    const bool is_gptq = t.why.find("+gptq") != std::string::npos;
    gptq += is_gptq ? 1 : 0;
    // Every Linear in a GPTQ-capable format, and nothing else (token_embd has no input to calibrate on).
    const bool linear = t.name.starts_with("blk.") || t.name == "output.weight";
    EXPECT_EQ(is_gptq, linear && t.converted && t.type != "F16") << t.name;
  }
  EXPECT_EQ(gptq, 5 * 6 + 1);  // q, k, v, o, gate, up per layer (ffn_down is F16), and output (Q8_0)

  const gguf::GgufFile f = gguf::GgufFile::open(dir / "gptq.gguf");
  const gguf::Value* v = f.find(std::string(kRecipeKey));
  ASSERT_NE(v, nullptr);
  ASSERT_NE(v->as_string(), nullptr);
  const nlohmann::json recipe = nlohmann::json::parse(*v->as_string());
  EXPECT_EQ(recipe["method"], "gptq");
  EXPECT_EQ(recipe["calib_chunks"], 8);
  EXPECT_EQ(recipe["gptq_damp"], 0.01);
  EXPECT_EQ(recipe["gptq_block"], 128);
}

TEST(GptqModelAssets, Stories260kAwqGptqFoldsScalesIntoNorms) {
  QUANTLM_REQUIRE_ASSETS(assets);
  test::TempDir dir;
  const auto model = assets / "models/stories260K/stories260K.gguf";
  const auto calib = assets / "text/tinystories/calib.txt";
  QuantizeOptions o = calibrated(options(model, dir / "awq.gguf", "Q4_0"), "awq-gptq", calib);
  CalibrationHessians hessians(hessian_settings(model, calib));
  o.hessians = &hessians;
  const QuantizeReport r = quantize_model(o);
  int norms = 0;
  for (const TensorReport& t : r.tensors) {
    const bool awq = t.why.find("+awq") != std::string::npos;
    if (t.name.ends_with("_norm.weight") && t.name.starts_with("blk.")) norms += awq ? 1 : 0;
    // Scales only ever go to the Linears a norm feeds.
    if (t.name.ends_with("attn_output.weight") || t.name.ends_with("ffn_down.weight")) {
      EXPECT_FALSE(awq) << t.name;
    }
  }
  EXPECT_GT(norms, 0);
  // Folding keeps the tensors llama.cpp expects: same names, types and sizes as RTN.
  const gguf::GgufFile f = gguf::GgufFile::open(dir / "awq.gguf");
  const gguf::GgufFile in = gguf::GgufFile::open(model);
  ASSERT_EQ(f.tensors().size(), in.tensors().size());
  const nlohmann::json recipe = nlohmann::json::parse(*f.find(std::string(kRecipeKey))->as_string());
  EXPECT_EQ(recipe["method"], "awq-gptq");
}

}  // namespace
}  // namespace quantlm::quant
