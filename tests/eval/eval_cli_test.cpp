// `quantlm perplexity` and `quantlm kld` end to end on synthetic models: JSON records, saved base logits, errors.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "support/run_quantlm.h"
#include "support/temp_dir.h"

namespace {

using quantlm::test::CommandResult;

// Runs quantlm with `args`; stderr joins stdout unless `stdout_only`.
CommandResult run(const std::string& args, bool stdout_only = false) {
  return quantlm::test::run_quantlm(
      args, stdout_only ? quantlm::test::Streams::stdout_only : quantlm::test::Streams::stdout_and_stderr);
}

nlohmann::json run_json(const std::string& args) {
  const CommandResult r = run(args + " --json", true);
  EXPECT_EQ(r.exit_code, 0) << args << "\n" << run(args).out;
  return r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json::object();
}

// Two random models sharing a vocabulary, and a text of a few thousand tokens.
class EvalCli : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(run("synth " + q(dir_ / "a.gguf") + " --seed 1").exit_code, 0);
    ASSERT_EQ(run("synth " + q(dir_ / "b.gguf") + " --seed 2").exit_code, 0);
    std::ofstream text(dir_ / "text.txt");
    for (int i = 0; i < 60; ++i) text << "Once upon a time there was a model number " << i << ". ";
  }
  static std::string q(const std::filesystem::path& p) { return "'" + p.string() + "'"; }
  [[nodiscard]] std::string a() const { return q(dir_ / "a.gguf"); }
  [[nodiscard]] std::string b() const { return q(dir_ / "b.gguf"); }
  [[nodiscard]] std::string text() const { return " -f " + q(dir_ / "text.txt"); }

  quantlm::test::TempDir dir_;
};

TEST_F(EvalCli, PerplexityPrintsTheRecord) {
  const nlohmann::json j = run_json("perplexity " + a() + text() + " -c 64 -t 1");
  const auto tokens = j.at("tokens").get<std::int64_t>();
  EXPECT_GT(tokens, 1000);
  EXPECT_EQ(j.at("chunks").get<std::int64_t>(), tokens / 64);
  EXPECT_EQ(j.at("scored_positions").get<std::int64_t>(), tokens / 64 * 31);
  EXPECT_EQ(j.at("protocol"), "llamacpp");
  EXPECT_GT(j.at("ppl").get<double>(), 1.0);
  EXPECT_GT(j.at("ppl_error").get<double>(), 0.0);
  const nlohmann::json full = run_json("perplexity " + a() + text() + " -c 64 --protocol full --chunks 3");
  EXPECT_EQ(full.at("chunks").get<std::int64_t>(), 3);
  EXPECT_EQ(full.at("scored_positions").get<std::int64_t>(), 3 * 63);

  const CommandResult plain = run("perplexity " + a() + text() + " -c 64");
  EXPECT_EQ(plain.exit_code, 0);
  EXPECT_NE(plain.out.find("PPL = "), std::string::npos) << plain.out;
  EXPECT_NE(plain.out.find("tokens/s"), std::string::npos) << plain.out;
}

TEST_F(EvalCli, KldAgainstItselfIsZero) {
  const nlohmann::json j = run_json("kld " + a() + " " + a() + text() + " -c 64");
  EXPECT_EQ(j.at("kld").get<double>(), 0.0);
  EXPECT_EQ(j.at("same_top").get<double>(), 1.0);
  EXPECT_EQ(j.at("base_ppl").at("ppl"), j.at("model_ppl").at("ppl"));
}

TEST_F(EvalCli, SavedBaseLogitsGiveTheSameRecord) {
  const std::string saved = q(dir_ / "a.logits");
  const nlohmann::json direct = run_json("kld " + a() + " " + b() + text() + " -c 64 --save-base " + saved);
  const nlohmann::json reused = run_json("kld " + b() + " --base-logits " + saved + text());
  EXPECT_GT(direct.at("kld").get<double>(), 0.0);
  EXPECT_EQ(reused.at("kld"), direct.at("kld"));
  EXPECT_EQ(reused.at("kld_quantiles"), direct.at("kld_quantiles"));
  EXPECT_EQ(reused.at("same_top"), direct.at("same_top"));
  EXPECT_EQ(reused.at("base_ppl"), direct.at("base_ppl"));
  EXPECT_EQ(reused.at("plan").at("n_ctx"), 64) << "-c comes from the file";

  // BASE alone with --save-base: the base's perplexity, equal to `quantlm perplexity`'s.
  const nlohmann::json only = run_json("kld " + a() + " --save-base " + q(dir_ / "a2.logits") + text() + " -c 64");
  const nlohmann::json ppl = run_json("perplexity " + a() + text() + " -c 64");
  EXPECT_EQ(only.at("base_ppl").at("ppl"), ppl.at("ppl"));
}

TEST_F(EvalCli, ErrorsNameTheFileOrFlag) {
  const CommandResult missing = run("perplexity " + a() + " -f " + q(dir_ / "nope.txt"));
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.out.find("nope.txt"), std::string::npos) << missing.out;

  const CommandResult too_long = run("perplexity " + a() + text() + " -c 4096");
  EXPECT_EQ(too_long.exit_code, 1);
  EXPECT_NE(too_long.out.find("-c 4096"), std::string::npos) << too_long.out;

  EXPECT_NE(run("perplexity " + a() + text() + " --protocol foo").exit_code, 0);

  const std::string saved = q(dir_ / "a.logits");
  ASSERT_EQ(run("kld " + a() + " --save-base " + saved + text() + " -c 64").exit_code, 0);
  const CommandResult two = run("kld " + a() + " " + b() + " --base-logits " + saved + text());
  EXPECT_EQ(two.exit_code, 1);
  EXPECT_NE(two.out.find("--base-logits"), std::string::npos) << two.out;
  const CommandResult ctx = run("kld " + b() + " --base-logits " + saved + text() + " -c 32");
  EXPECT_EQ(ctx.exit_code, 1);
  EXPECT_NE(ctx.out.find("saved with -c 64"), std::string::npos) << ctx.out;
  const CommandResult one = run("kld " + a() + text());
  EXPECT_EQ(one.exit_code, 1);
  EXPECT_NE(one.out.find("BASE and MODEL"), std::string::npos) << one.out;
  EXPECT_NE(run("kld " + a() + " " + b() + " --save-base x --base-logits y" + text()).exit_code, 0);
}

TEST(EvalCliHelp, ListsTheOptions) {
  for (const char* command : {"perplexity", "kld"}) {
    const CommandResult help = run(std::string(command) + " --help");
    EXPECT_EQ(help.exit_code, 0);
    for (const char* option : {"--ctx-size", "--protocol", "--chunks", "--threads", "--json"}) {
      EXPECT_NE(help.out.find(option), std::string::npos) << command << " " << option;
    }
  }
  EXPECT_NE(run("kld --help").out.find("--base-logits"), std::string::npos);
}

}  // namespace
