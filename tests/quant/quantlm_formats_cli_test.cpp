// `quantlm quantize` into quantlm's own formats (ragged groups, per-row headers): the files are written and they run.
#include <gtest/gtest.h>

#include <cstdint>
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

// The "PPL = x" figure `quantlm perplexity` prints; -1 when absent.
double ppl_of(const std::string& out) {
  const std::size_t at = out.find("PPL = ");
  return at == std::string::npos ? -1.0 : std::stod(out.substr(at + 6));
}

// quantlm's own formats are written (ragged groups: ffn_down has 172 columns)
// and the files run: every matrix in I4_G32, and Q4_0 with ffn_down in I4_G32
// instead of F16. Perplexity on the first chunks stays near F32's.
TEST(QuantizeCli, QuantlmFormatsAreWrittenAndRun) {
  QUANTLM_REQUIRE_ASSETS(assets);
  quantlm::test::TempDir tmp;
  const std::string in = quoted(assets / "models/stories260K/stories260K.gguf");
  const std::string text = quoted(assets / "text/tinystories/valid-head.txt");
  const std::string eval = " -f " + text + " -c 256 --chunks 8 -t 2";
  const CommandResult base = run("perplexity " + in + eval);
  ASSERT_EQ(base.exit_code, 0) << base.out;
  const double f32 = ppl_of(base.out);
  ASSERT_GT(f32, 1.0) << base.out;

  struct Case {
    const char* args;
    const char* file;
    std::size_t quantlm_typed;  // matrices in I4_G32
  };
  for (const Case c : {Case{"I4_G32", "i4g32.gguf", 37}, Case{"Q4_0 --fallback quantlm", "q4-ql.gguf", 5}}) {
    SCOPED_TRACE(c.args);
    const std::string out = quoted(tmp / c.file);
    const CommandResult q = run("quantize --json --no-progress " + in + " " + out + " " + c.args, false);
    ASSERT_EQ(q.exit_code, 0) << q.out;
    const auto j = nlohmann::json::parse(q.out);
    EXPECT_EQ(j["totals"]["unquantized_matrices"].size(), 0U) << "no F16 ffn_down";
    std::size_t typed = 0;
    for (const auto& t : j["tensors"]) {
      if (t["type"] == "I4_G32") {
        ++typed;
        const std::int64_t cols = t["shape"][1].get<std::int64_t>();
        const std::int64_t rows = t["shape"][0].get<std::int64_t>();
        // 18 bytes per full group of 32, 2 + ceil(rest / 2) for the ragged one.
        const std::int64_t rest = cols % 32;
        EXPECT_EQ(t["bytes_after"].get<std::int64_t>(), rows * (cols / 32 * 18 + (rest > 0 ? 2 + (rest + 1) / 2 : 0)))
            << t["name"];
      }
    }
    EXPECT_EQ(typed, c.quantlm_typed);
    ASSERT_TRUE(std::filesystem::exists(tmp / c.file));
    const CommandResult info = run("info " + out);
    EXPECT_EQ(info.exit_code, 0) << info.out;
    const CommandResult ppl = run("perplexity " + out + eval);
    ASSERT_EQ(ppl.exit_code, 0) << ppl.out;
    const double q4 = ppl_of(ppl.out);
    EXPECT_GT(q4, f32 * 1.005) << "4-bit weights cost something";
    EXPECT_LT(q4, f32 * 1.3) << ppl.out;
  }
}

}  // namespace
