// End-to-end tests of the quantlm command: info (text and JSON), synth, help, and errors on bad input.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

#include "support/assets.h"
#include "support/run_quantlm.h"
#include "support/temp_dir.h"

namespace {

using quantlm::test::CommandResult;
using quantlm::test::quoted;

CommandResult run(const std::string& args) { return quantlm::test::run_quantlm(args); }

CommandResult run_stdout_only(const std::string& args) {
  return quantlm::test::run_quantlm(args, quantlm::test::Streams::stdout_only);
}

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(Cli, HelpListsCommandsAndOptions) {
  const CommandResult top = run("--help");
  EXPECT_EQ(top.exit_code, 0);
  EXPECT_NE(top.out.find("info"), std::string::npos);
  EXPECT_NE(top.out.find("synth"), std::string::npos);
  const CommandResult info = run("info --help");
  EXPECT_EQ(info.exit_code, 0);
  EXPECT_NE(info.out.find("--json"), std::string::npos);
  EXPECT_NE(run("").exit_code, 0) << "no subcommand is an error";
  EXPECT_NE(run("frobnicate").exit_code, 0);
}

TEST(Cli, InfoJsonOnStories260K) {
  QUANTLM_REQUIRE_ASSETS(assets);
  const CommandResult r =
      run_stdout_only("info --json " + quoted(assets / "models/stories260K/llama.cpp-quantized/stories260K-Q4_0.gguf"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["architecture"], "llama");
  EXPECT_EQ(j["hyperparameters"]["embedding_length"], 64);
  EXPECT_EQ(j["hyperparameters"]["block_count"], 5);
  EXPECT_EQ(j["tokenizer"]["vocab_size"], 512);
  EXPECT_EQ(j["totals"]["tensors"], 48);
  EXPECT_EQ(j["totals"]["elements"], 292800);
  EXPECT_NEAR(j["totals"]["bits_per_weight"].get<double>(), 7.18, 0.005);
  EXPECT_EQ(j["by_type"]["F16"]["tensors"], 5);
  bool saw_down = false;
  for (const auto& t : j["tensors"]) {
    if (t["name"] == "blk.0.ffn_down.weight") {
      saw_down = true;
      EXPECT_EQ(t["type"], "F16");
      EXPECT_EQ(t["shape"], nlohmann::json::array({64, 172}));
      EXPECT_EQ(t["bytes"], 64 * 172 * 2);
    }
  }
  EXPECT_TRUE(saw_down);
}

TEST(Cli, InfoTextHasTablesAndTotals) {
  QUANTLM_REQUIRE_ASSETS(assets);
  const CommandResult r = run("info " + quoted(assets / "models/stories260K/stories260K.gguf"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("architecture: llama"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("blk.4.ffn_up.weight"), std::string::npos);
  EXPECT_NE(r.out.find("total (48 tensors)"), std::string::npos);
  EXPECT_NE(r.out.find("32.00 bits per weight over all 292,800 parameters"), std::string::npos) << r.out;
}

TEST(Cli, SynthIsReproducibleAndDescribable) {
  quantlm::test::TempDir dir;
  const auto a = dir / "a.gguf";
  const auto b = dir / "b.gguf";
  const auto c = dir / "c.gguf";
  ASSERT_EQ(run("synth " + quoted(a) + " --seed 7 --layers 3").exit_code, 0);
  ASSERT_EQ(run("synth " + quoted(b) + " --seed 7 --layers 3").exit_code, 0);
  ASSERT_EQ(run("synth " + quoted(c) + " --seed 8 --layers 3 --type F16").exit_code, 0);
  EXPECT_EQ(read_all(a), read_all(b)) << "same seed, same bytes";
  EXPECT_NE(read_all(a), read_all(c));
  const CommandResult r = run_stdout_only("info --json " + quoted(a));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["hyperparameters"]["block_count"], 3);
  EXPECT_EQ(j["totals"]["tensors"], 3 + 9 * 3);
  // 2 * 512*64 + 64 + 3 * (2*64*64 + 2*32*64 + 3*172*64 + 2*64)
  EXPECT_EQ(j["totals"]["elements"], 2 * 512 * 64 + 64 + 3 * (2 * 64 * 64 + 2 * 32 * 64 + 3 * 172 * 64 + 2 * 64));
  EXPECT_EQ(j["tokenizer"]["vocab_size"], 512);
  const CommandResult half = run_stdout_only("info --json " + quoted(c));
  EXPECT_EQ(nlohmann::json::parse(half.out)["by_type"]["F16"]["tensors"], 3 * 7 + 2);
}

// -p "" starts from BOS alone (how llama.cpp's samples are drawn); no prompt at all is an error.
TEST(Cli, GenerateFromBosAloneAndRequiresAPrompt) {
  quantlm::test::TempDir dir;
  const std::filesystem::path model = dir / "m.gguf";
  ASSERT_EQ(run("synth " + quoted(model)).exit_code, 0);
  const CommandResult greedy = run_stdout_only("generate " + quoted(model) + " -p '' -n 6 --ignore-eos");
  ASSERT_EQ(greedy.exit_code, 0) << run("generate " + quoted(model) + " -p '' -n 6").out;
  EXPECT_FALSE(greedy.out.empty());
  EXPECT_EQ(run_stdout_only("generate " + quoted(model) + " -p '' -n 6 --ignore-eos").out, greedy.out);
  const CommandResult none = run("generate " + quoted(model) + " -n 6");
  EXPECT_NE(none.exit_code, 0);
  EXPECT_NE(none.out.find("-p"), std::string::npos) << none.out;
}

TEST(Cli, SynthRejectsInconsistentShapes) {
  quantlm::test::TempDir dir;
  const CommandResult r = run("synth " + quoted(dir / "x.gguf") + " --dim 64 --heads 7");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("--heads"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(dir / "x.gguf"));
}

TEST(Cli, InfoOnBadInputNamesTheFileAndFails) {
  quantlm::test::TempDir dir;
  const auto missing = dir / "missing.gguf";
  CommandResult r = run("info " + quoted(missing));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("missing.gguf"), std::string::npos) << r.out;

  // A valid file cut in half: the reader must refuse it with the file's name.
  const auto whole = dir / "whole.gguf";
  ASSERT_EQ(run("synth " + quoted(whole)).exit_code, 0);
  const std::string bytes = read_all(whole);
  const auto cut = dir / "cut.gguf";
  std::ofstream(cut, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  r = run("info " + quoted(cut));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("cut.gguf"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("internal error"), std::string::npos) << r.out;
}

}  // namespace
