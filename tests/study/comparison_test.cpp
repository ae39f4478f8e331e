// Recipe comparisons end to end on a random model: spec parsing, the measured rows, their order, and the CLI table.
#include "study/comparison.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"
#include "model/synth.h"
#include "support/run_quantlm.h"
#include "support/temp_dir.h"

namespace quantlm::study {
namespace {

TEST(ComparisonEntry, ParsesTypeAndKeys) {
  const ComparisonEntry e = parse_comparison_entry("Q4_0:search=mse, gamma=ls ,pure");
  EXPECT_EQ(e.label, "Q4_0:search=mse, gamma=ls ,pure");
  EXPECT_EQ(e.recipe.type, "Q4_0");
  EXPECT_EQ(e.recipe.scale_search, formats::ScaleSearch::mse);
  EXPECT_EQ(e.recipe.correction, formats::ScaleCorrection::least_squares);
  EXPECT_TRUE(e.recipe.pure);
  EXPECT_EQ(parse_comparison_entry("IQ4_NL").recipe.type, "IQ4_NL");
}

TEST(ComparisonEntry, RejectsWhatItCannotRun) {
  auto message = [](const std::string& spec) {
    try {
      (void)parse_comparison_entry(spec);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("Q4_0:colour=red").find("unknown key 'colour'"), std::string::npos);
  EXPECT_NE(message("Q4_0:search=").find("needs a value"), std::string::npos);
  EXPECT_NE(message(":search=mse").find("names no type"), std::string::npos);
  EXPECT_NE(message("Q4_0:percentile=abc").find("not a number"), std::string::npos);
  EXPECT_NE(message("Q9_9").find("Q9_9"), std::string::npos);
  EXPECT_NE(message("Q4_0:search=best").find("best"), std::string::npos);
}

class Comparison : public ::testing::Test {
 protected:
  void SetUp() override {
    model::SynthConfig config;
    config.dim = 128;
    config.n_ff = 256;
    config.seed = 5;
    model::write_synthetic_llama(base_, config);
    std::ofstream out(text_);
    for (int i = 0; i < 300; ++i) out << "the quick brown fox " << i << " jumps over the lazy dog\n";
  }
  test::TempDir dir_;
  std::filesystem::path base_ = dir_ / "base.gguf";
  std::filesystem::path text_ = dir_ / "text.txt";
};

TEST_F(Comparison, MeasuresEveryRecipeAgainstTheBase) {
  ComparisonOptions o;
  o.base = base_;
  o.text = text_;
  o.work_dir = dir_ / "work";
  o.entries = {parse_comparison_entry("Q8_0"), parse_comparison_entry("Q4_0:pure")};
  o.eval = {.n_ctx = 64, .max_chunks = 6, .progress = ProgressMode::never};
  std::vector<std::string> reported;
  const ComparisonResult r = run_comparison(o, [&](const ComparisonRow& row) { reported.push_back(row.label); });
  EXPECT_EQ(reported, (std::vector<std::string>{"base", "Q8_0", "Q4_0:pure"}));
  EXPECT_EQ(r.chunks, 6);
  ASSERT_EQ(r.rows.size(), 2U);
  const ComparisonRow& q8 = r.rows[0];
  const ComparisonRow& q4 = r.rows[1];
  EXPECT_NEAR(r.base.bits_per_weight, 32.0, 0.01);  // F32 synth: every tensor 32 bits
  EXPECT_NEAR(q8.bits_per_weight, 8.5, 0.2);        // Q8_0 matrices, F32 norms (and Q8_0 embeddings)
  EXPECT_NEAR(q4.bits_per_weight, 4.5, 0.2);        // --pure: every matrix Q4_0
  EXPECT_LT(q4.file_bytes, q8.file_bytes);
  EXPECT_LT(q8.file_bytes, r.base.file_bytes);
  EXPECT_GT(q8.kld, 0.0);
  EXPECT_GT(q4.kld, 4 * q8.kld) << "4 bits lose more than 8";
  EXPECT_GE(q8.same_top, q4.same_top);
  EXPECT_GT(r.base.ppl, 1.0);
  EXPECT_TRUE(std::filesystem::exists(dir_ / "work" / "Q4_0_pure.gguf"));
  // An existing file is measured as it is: the Q8_0 file again gives the Q8_0 row's figures.
  o.entries = {existing_file_entry(dir_ / "work" / "Q8_0.gguf")};
  o.work_dir = dir_ / "work2";
  const ComparisonResult again = run_comparison(o);
  ASSERT_EQ(again.rows.size(), 1U);
  EXPECT_EQ(again.rows[0].label, "Q8_0.gguf");
  EXPECT_EQ(again.rows[0].kld, q8.kld);
  EXPECT_EQ(again.rows[0].file_bytes, q8.file_bytes);
  EXPECT_EQ(again.rows[0].quantize_seconds, 0.0);
  EXPECT_THROW((void)existing_file_entry(dir_ / "missing.gguf"), Error);
  const nlohmann::json j = to_json(r);
  EXPECT_EQ(j["rows"].size(), 2U);
  EXPECT_EQ(j["rows"][1]["label"], "Q4_0:pure");
  EXPECT_EQ(j["base"]["ppl"], r.base.ppl);
}

TEST_F(Comparison, CliPrintsTheTableAndJson) {
  const std::string args = "compare " + test::quoted(base_) + " -f " + test::quoted(text_) +
                           " -c 64 --chunks 3 -q Q8_0 -q 'Q4_0:search=mse'";
  const test::CommandResult table = test::run_quantlm(args);
  ASSERT_EQ(table.exit_code, 0) << table.out;
  for (const char* text : {"recipe", "bpw", "KLD", "same top", "Q8_0", "Q4_0:search=mse", "base"}) {
    EXPECT_NE(table.out.find(text), std::string::npos) << text << "\n" << table.out;
  }
  const test::CommandResult json = test::run_quantlm(args + " --json", test::Streams::stdout_only);
  ASSERT_EQ(json.exit_code, 0);
  const nlohmann::json j = nlohmann::json::parse(json.out);
  EXPECT_EQ(j["rows"].size(), 2U);
  EXPECT_EQ(j["chunks"], 3);
  const test::CommandResult bad = test::run_quantlm(args + " -q 'Q4_0:bogus=1'");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.out.find("bogus"), std::string::npos) << bad.out;
}

}  // namespace
}  // namespace quantlm::study
