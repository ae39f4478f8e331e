// Recipes: preset lookup, validation messages that list the valid names, and the JSON round trip.
#include "quant/recipe.h"

#include <gtest/gtest.h>

#include <string>

#include "core/error.h"
#include "quant/file_types.h"
#include "support/temp_dir.h"

namespace quantlm::quant {
namespace {

// The error message of `fn`, or "" when it does not throw quantlm::Error.
template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(FileTypes, LlamaCppNumbersAndAliases) {
  // general.file_type values are persisted: llama.h's enum llama_ftype.
  EXPECT_EQ(find_file_type("Q4_0")->ftype, 2U);
  EXPECT_EQ(find_file_type("Q8_0")->ftype, 7U);
  EXPECT_EQ(find_file_type("Q3_K_S")->ftype, 11U);
  EXPECT_EQ(find_file_type("q4_k_m")->ftype, 15U) << "names are case-insensitive";
  EXPECT_EQ(find_file_type("BF16")->ftype, 32U);
  EXPECT_EQ(find_file_type("IQ4_XS")->ftype, 30U);
  EXPECT_EQ(find_file_type("TQ2_0")->ftype, 37U);
  EXPECT_EQ(find_file_type("Q4_K"), find_file_type("Q4_K_M")) << "llama-quantize's alias";
  EXPECT_EQ(find_file_type("Q5_K"), find_file_type("Q5_K_M"));
  EXPECT_EQ(find_file_type("Q3_K"), find_file_type("Q3_K_M"));
  EXPECT_EQ(find_file_type("IQ2_XXS"), nullptr) << "quantlm cannot write IQ2 types, so no IQ2 presets";
  for (const FileType& t : file_types()) {
    EXPECT_NE(formats::traits(t.base).quantize_ref, nullptr) << t.name << ": every preset's base format is writable";
  }
}

TEST(Recipe, UnknownNamesAreErrorsListingTheValidOnes) {
  Recipe r;
  r.type = "Q4_X";
  const std::string type_error = error_of([&] { (void)resolve(r); });
  EXPECT_NE(type_error.find("unknown type 'Q4_X'"), std::string::npos) << type_error;
  EXPECT_NE(type_error.find("Q4_K_M"), std::string::npos) << "lists the presets: " << type_error;

  r.type = "Q4_K_M";
  r.tensor_types = {{"attn_v", "Q9_0"}};
  const std::string rule_error = error_of([&] { (void)resolve(r); });
  EXPECT_NE(rule_error.find("unknown type 'Q9_0'"), std::string::npos) << rule_error;
  EXPECT_NE(rule_error.find("Q6_K"), std::string::npos) << "lists the writable types: " << rule_error;

  r.tensor_types = {{"attn_v", "IQ2_XXS"}};
  EXPECT_NE(error_of([&] { (void)resolve(r); }).find("cannot write type 'IQ2_XXS'"), std::string::npos);

  r.tensor_types = {{"attn_(v", "Q8_0"}};
  EXPECT_NE(error_of([&] { (void)resolve(r); }).find("bad regular expression"), std::string::npos);

  r.tensor_types.clear();
  r.output_tensor_type = "nope";
  EXPECT_NE(error_of([&] { (void)resolve(r); }).find("--output-tensor-type"), std::string::npos);
  r.output_tensor_type.clear();
  r.fallback = "F17";
  EXPECT_NE(error_of([&] { (void)resolve(r); }).find("--fallback"), std::string::npos);
  r.fallback = "llama";
  r.percentile = 0;
  EXPECT_NE(error_of([&] { (void)resolve(r); }).find("--percentile"), std::string::npos);
  r.percentile = 99.9;
  r.correction_per_tensor = true;
  EXPECT_NE(error_of([&] { (void)resolve(r); }).find("--gamma-per-tensor"), std::string::npos);
}

TEST(Recipe, TensorTypeRulesNeedAQuantizedPreset) {
  // llama.cpp silently ignores --tensor-type under F16/BF16/F32; say so instead.
  Recipe r;
  r.type = "F16";
  r.tensor_types = {{"ffn_down", "Q8_0"}};
  EXPECT_NE(error_of([&] { (void)resolve(r); }).find("needs a quantized type"), std::string::npos);
}

TEST(Recipe, ResolvesToFormatsAndParams) {
  Recipe r;
  r.type = "q5_k_s";
  r.tensor_types = {{"ATTN_V", "q8_0"}, {"ffn_.*", "Q6_K"}};
  r.scale_search = formats::ScaleSearch::mse;
  r.correction = formats::ScaleCorrection::least_squares;
  r.correction_per_tensor = true;
  const ResolvedRecipe resolved = resolve(r);
  ASSERT_NE(resolved.file_type, nullptr);
  EXPECT_EQ(resolved.file_type->ftype, 16U);
  EXPECT_EQ(resolved.base->id, formats::FormatId::Q5_K);
  ASSERT_EQ(resolved.rules.size(), 2U);
  EXPECT_EQ(resolved.rules[0].format->id, formats::FormatId::Q8_0);
  EXPECT_TRUE(std::regex_search("blk.0.attn_v.weight", resolved.rules[0].regex)) << "patterns ignore case";
  EXPECT_EQ(resolved.params.search, formats::ScaleSearch::mse);
  EXPECT_EQ(resolved.params.correction, formats::ScaleCorrection::least_squares);
  EXPECT_FALSE(resolved.params.correction_per_channel);
  EXPECT_TRUE(resolved.uses_mix());
  r.pure = true;
  EXPECT_FALSE(resolve(r).uses_mix());
}

TEST(Recipe, TensorTypeRuleParsing) {
  EXPECT_EQ(parse_tensor_type_rule("attn_v=Q8_0"), (TensorTypeRule{"attn_v", "Q8_0"}));
  EXPECT_EQ(parse_tensor_type_rule("a(?=b)=Q4_0"), (TensorTypeRule{"a(?=b)", "Q4_0"})) << "split at the last '='";
  EXPECT_THROW((void)parse_tensor_type_rule("attn_v"), Error);
  EXPECT_THROW((void)parse_tensor_type_rule("=Q8_0"), Error);
  EXPECT_THROW((void)parse_tensor_type_rule("attn_v="), Error);
}

TEST(Recipe, NamedValuesRoundTrip) {
  for (const auto& v : scale_search_names()) EXPECT_EQ(parse_scale_search(v.name), v.value);
  for (const auto& v : correction_names()) EXPECT_EQ(parse_correction(v.name), v.value);
  const std::string e = error_of([] { (void)parse_scale_search("best"); });
  EXPECT_NE(e.find("min-max, mse"), std::string::npos) << e;
}

Recipe of_type(const std::string& type) {
  Recipe r;
  r.type = type;
  return r;
}

Recipe every_field_set() {
  Recipe r;
  r.type = "Q4_K_S";
  r.pure = true;
  r.leave_output_tensor = true;
  r.output_tensor_type = "Q8_0";
  r.token_embedding_type = "Q6_K";
  r.tensor_types = {{"attn_v", "Q8_0"}, {"blk\\.1\\..*", "Q5_K"}};
  r.fallback = "F16";
  r.allow_requantize = true;
  r.scale_search = formats::ScaleSearch::percentile;
  r.percentile = 99.5;
  r.correction = formats::ScaleCorrection::gamma;
  r.correction_per_tensor = true;
  r.tensor_scale = true;
  r.imatrix = "some/imatrix.gguf";
  return r;
}

TEST(Recipe, JsonRoundTrip) {
  const Recipe r = every_field_set();
  const nlohmann::json j = to_json(r);
  EXPECT_EQ(j["version"], Recipe::kVersion);
  EXPECT_EQ(j["scale_search"], "percentile");
  EXPECT_EQ(j["gamma"], "gamma");
  EXPECT_EQ(recipe_from_json(j, "test"), r);
  EXPECT_EQ(recipe_from_json(nlohmann::json::parse(j.dump()), "test"), r) << "through text";
  EXPECT_EQ(recipe_from_json(to_json(of_type("Q8_0")), "test"), of_type("Q8_0"));

  test::TempDir dir;
  save_recipe(r, (dir / "r.json").string());
  EXPECT_EQ(load_recipe((dir / "r.json").string()), r);
}

TEST(Recipe, JsonRefusesWhatItDoesNotUnderstand) {
  const nlohmann::json good = to_json(every_field_set());
  nlohmann::json j = good;
  j["pur"] = true;
  EXPECT_NE(error_of([&] { (void)recipe_from_json(j, "r.json"); }).find("unknown recipe field 'pur'"),
            std::string::npos);
  j = good;
  j["pure"] = "yes";
  EXPECT_NE(error_of([&] { (void)recipe_from_json(j, "r.json"); }).find("'pure' has the wrong type"),
            std::string::npos);
  j = good;
  j["version"] = Recipe::kVersion + 1;
  EXPECT_NE(error_of([&] { (void)recipe_from_json(j, "r.json"); }).find("not supported"), std::string::npos);
  j = good;
  j.erase("type");
  EXPECT_NE(error_of([&] { (void)recipe_from_json(j, "r.json"); }).find("no 'type'"), std::string::npos);
  j = good;
  j["scale_search"] = "best";
  EXPECT_THROW((void)recipe_from_json(j, "r.json"), Error);
  // Fields left out take their defaults.
  EXPECT_EQ(recipe_from_json(nlohmann::json{{"type", "Q4_0"}}, "r.json"), of_type("Q4_0"));
}

}  // namespace
}  // namespace quantlm::quant
