// `quantlm bench` end to end on a small synthetic model: the fields of each output form, and refused arguments.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "support/run_quantlm.h"
#include "support/temp_dir.h"

namespace {

using quantlm::test::CommandResult;
using quantlm::test::quoted;

// Runs quantlm with `args`; stderr joins stdout unless `stdout_only`.
CommandResult run(const std::string& args, bool stdout_only = false) {
  return quantlm::test::run_quantlm(
      args, stdout_only ? quantlm::test::Streams::stdout_only : quantlm::test::Streams::stdout_and_stderr);
}

class BenchCli : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(run("synth " + model() + " --type F16").exit_code, 0); }
  [[nodiscard]] std::string model() const { return quoted(dir_ / "m.gguf"); }
  [[nodiscard]] std::string bench(const std::string& flags) const {
    return "bench " + model() + " -p 8 -n 4 -r 1 -t 1 " + flags;
  }

  quantlm::test::TempDir dir_;
};

bool has(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }

TEST_F(BenchCli, TextNamesEveryField) {
  const CommandResult r = run(bench(""));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  for (const char* field :
       {"model:", "llama F16", "MiB", "M parameters", "threads: 1", "kernel: F16", "| pp8 |", "| tg4 |", "t/s",
        "median", "decode weight bandwidth:", "GB/s", "ANCHORS.md's read bandwidth, 1 thread", "40.7",
        "peak memory:", "ru_maxrss", "load average:"}) {
    EXPECT_TRUE(has(r.out, field)) << field << "\n" << r.out;
  }
  const CommandResult bw = run(bench("--bandwidth 12.5"));
  ASSERT_EQ(bw.exit_code, 0) << bw.out;
  EXPECT_TRUE(has(bw.out, "12.5 GB/s (--bandwidth)")) << bw.out;
}

TEST_F(BenchCli, JsonHasTheNumbers) {
  const CommandResult r = run(bench("--json"), true);
  ASSERT_EQ(r.exit_code, 0) << run(bench("--json")).out;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("type"), "F16");
  EXPECT_EQ(j.at("threads"), 1);
  EXPECT_GT(j.at("size_bytes").get<std::int64_t>(), 0);
  EXPECT_GT(j.at("params").get<std::int64_t>(), 0);
  ASSERT_EQ(j.at("tests").size(), 2U);
  EXPECT_EQ(j.at("tests")[0].at("test"), "pp8");
  EXPECT_EQ(j.at("tests")[1].at("test"), "tg4");
  for (const nlohmann::json& t : j.at("tests")) {
    EXPECT_EQ(t.at("samples_ts").size(), 1U);
    EXPECT_GT(t.at("avg_ts").get<double>(), 0);
    EXPECT_GT(t.at("median_ts").get<double>(), 0);
    EXPECT_EQ(t.at("stddev_ts").get<double>(), 0);
  }
  const nlohmann::json& d = j.at("decode");
  EXPECT_GT(d.at("weight_bytes_per_token").get<std::int64_t>(), 0);
  EXPECT_LT(d.at("weight_bytes_per_token").get<std::int64_t>(), j.at("size_bytes").get<std::int64_t>());
  EXPECT_GT(d.at("weight_gbps").get<double>(), 0);
  EXPECT_EQ(d.at("read_bandwidth_gbps").get<double>(), 40.7);
  ASSERT_FALSE(j.at("kernels").empty());
  EXPECT_EQ(j.at("kernels")[0].at("format"), "F16");
  EXPECT_TRUE(has(j.at("kernels")[0].at("kernel").get<std::string>(), "F16")) << j.at("kernels");
  EXPECT_GT(j.at("peak_rss_bytes").get<std::int64_t>(), 0);
}

TEST_F(BenchCli, CsvAndMarkdownHaveOneRowPerTest) {
  const CommandResult csv = run(bench("--csv"), true);
  ASSERT_EQ(csv.exit_code, 0);
  EXPECT_TRUE(has(csv.out, "model,type,size_bytes,params,threads,test,")) << csv.out;
  EXPECT_TRUE(has(csv.out, ",pp8,8,1,")) << csv.out;
  EXPECT_TRUE(has(csv.out, ",tg4,4,1,")) << csv.out;
  const CommandResult md = run(bench("--md"), true);
  ASSERT_EQ(md.exit_code, 0);
  EXPECT_TRUE(has(md.out, "| model | size | params | threads | test | t/s | median t/s |")) << md.out;
  EXPECT_TRUE(has(md.out, "| pp8 |")) << md.out;
  EXPECT_FALSE(has(md.out, "peak memory")) << md.out;
}

TEST_F(BenchCli, BadArgumentsFailWithAMessage) {
  struct Case {
    std::string args;
    std::string message;
  };
  const Case cases[] = {
      {"bench " + model() + " -r 0", "-r 0"},
      {"bench " + model() + " -p -3", "-p -3"},
      {"bench " + model() + " -p 0 -n 0", "nothing to measure"},
      {"bench " + model() + " -p 100000", "context"},
      {"bench " + model() + " --bandwidth -1", "--bandwidth"},
      {"bench " + quoted(dir_ / "missing.gguf"), "missing.gguf"},
      {"bench " + model() + " --json --csv", "--csv"},
      {"bench " + model() + " -p abc", "-p"},
      {"bench", "model"},
  };
  for (const Case& c : cases) {
    const CommandResult r = run(c.args);
    EXPECT_NE(r.exit_code, 0) << c.args;
    EXPECT_NE(r.exit_code, 2) << c.args << ": bad input is not an internal error\n" << r.out;
    EXPECT_TRUE(has(r.out, c.message)) << c.args << "\n" << r.out;
  }
}

}  // namespace
