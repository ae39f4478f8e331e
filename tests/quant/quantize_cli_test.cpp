// `quantlm quantize` end to end: help from the declarations, the JSON record, errors and exit codes.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "support/assets.h"
#include "support/run_quantlm.h"
#include "support/temp_dir.h"

namespace {

using quantlm::test::CommandResult;
using quantlm::test::quoted;

CommandResult run(const std::string& args, bool with_stderr = true) {
  return quantlm::test::run_quantlm(
      args, with_stderr ? quantlm::test::Streams::stdout_and_stderr : quantlm::test::Streams::stdout_only);
}

TEST(QuantizeCli, HelpListsPresetsAndOptionValues) {
  const CommandResult r = run("quantize --help");
  EXPECT_EQ(r.exit_code, 0);
  for (const char* text : {"Q4_K_M", "Q3_K_S", "IQ4_XS", "TQ2_0", "--tensor-type", "--imatrix", "--scale-search",
                           "s-star", "percentile", "--gamma", "ls", "--fallback", "--pure"}) {
    EXPECT_NE(r.out.find(text), std::string::npos) << text;
  }
}

TEST(QuantizeCli, JsonRecordOnStories260K) {
  QUANTLM_REQUIRE_ASSETS(assets);
  quantlm::test::TempDir tmp;
  const CommandResult r =
      run("quantize --json --no-progress " + quoted(assets / "models/stories260K/stories260K.gguf") + " " +
              quoted(tmp / "q8.gguf") + " Q8_0 --save-recipe " + quoted(tmp / "r.json"),
          false);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["file_type"], 7);
  EXPECT_EQ(j["recipe"]["type"], "Q8_0");
  EXPECT_EQ(j["tensors"].size(), 48U);
  EXPECT_EQ(j["totals"]["bytes_before"], 1171200);
  EXPECT_EQ(j["totals"]["unquantized_matrices"].size(), 5U) << "the five ffn_down";
  EXPECT_GT(j["totals"]["sqnr_db"].get<double>(), 30.0);
  // The saved recipe makes the same file.
  const CommandResult again = run("quantize --no-progress " + quoted(assets / "models/stories260K/stories260K.gguf") +
                                  " " + quoted(tmp / "again.gguf") + " --recipe " + quoted(tmp / "r.json"));
  ASSERT_EQ(again.exit_code, 0) << again.out;
  EXPECT_NE(again.out.find("wrote"), std::string::npos);
  EXPECT_EQ(std::filesystem::file_size(tmp / "again.gguf"), std::filesystem::file_size(tmp / "q8.gguf"));
}

TEST(QuantizeCli, BadInputGivesClearErrors) {
  QUANTLM_REQUIRE_ASSETS(assets);
  quantlm::test::TempDir tmp;
  const std::string in = quoted(assets / "models/stories260K/stories260K.gguf");
  const std::string out = quoted(tmp / "x.gguf");
  CommandResult r = run("quantize " + in + " " + out + " Q4_X");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("quantlm: error: unknown type 'Q4_X'"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Q5_K_M"), std::string::npos) << "lists the valid ones: " << r.out;
  r = run("quantize " + in + " " + out + " Q4_0 --tensor-type nothing_like_this=Q8_0");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("matches no quantizable tensor"), std::string::npos) << r.out;
  r = run("quantize " + in + " " + in + " Q4_0");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("is the input file"), std::string::npos) << r.out;
  r = run("quantize " + in + " " + out + " Q4_0 --scale-search best");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("min-max"), std::string::npos) << r.out;
  r = run("quantize " + in + " " + out);
  EXPECT_EQ(r.exit_code, 1) << "TYPE or --recipe is needed";
  r = run("quantize " + in + " " + out + " --recipe r.json --pure");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("--pure cannot be combined with --recipe"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(tmp / "x.gguf"));
}

}  // namespace
