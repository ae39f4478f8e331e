// Tests of leveled logging: filtering, formatting and level names.
#include "core/log.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace quantlm {
namespace {

// Captures log lines in a temporary file for the life of the fixture.
class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    file_ = std::tmpfile();
    ASSERT_NE(file_, nullptr);
    saved_level_ = log_level();
    set_log_stream(file_);
  }
  void TearDown() override {
    set_log_stream(nullptr);
    set_log_level(saved_level_);
    if (file_ != nullptr) std::fclose(file_);
  }
  std::string captured() {
    std::rewind(file_);
    std::string out;
    for (int c = std::fgetc(file_); c != EOF; c = std::fgetc(file_)) out += static_cast<char>(c);
    return out;
  }

 private:
  std::FILE* file_ = nullptr;
  LogLevel saved_level_ = LogLevel::warn;
};

TEST_F(LogTest, PrintsLevelsUpToTheCurrentOne) {
  set_log_level(LogLevel::info);
  log_error("disk {} full", "/tmp");
  log_warn("{} tensors skipped", 3);
  log_info("loaded {:.1f} MiB", 12.25);
  log_debug("not shown");
  EXPECT_EQ(captured(),
            "quantlm: error: disk /tmp full\n"
            "quantlm: warn: 3 tensors skipped\n"
            "quantlm: info: loaded 12.2 MiB\n");
}

TEST_F(LogTest, ErrorLevelHidesWarnings) {
  set_log_level(LogLevel::error);
  log_warn("hidden");
  log_error("shown");
  EXPECT_EQ(captured(), "quantlm: error: shown\n");
  EXPECT_TRUE(log_enabled(LogLevel::error));
  EXPECT_FALSE(log_enabled(LogLevel::warn));
}

TEST_F(LogTest, DebugLevelShowsEverything) {
  set_log_level(LogLevel::debug);
  log_debug("x = {}", 1);
  EXPECT_EQ(captured(), "quantlm: debug: x = 1\n");
}

TEST(LogLevelNames, ParseAndPrint) {
  for (const LogLevel level : {LogLevel::error, LogLevel::warn, LogLevel::info, LogLevel::debug}) {
    EXPECT_EQ(parse_log_level(to_string(level)), level);
  }
  EXPECT_EQ(parse_log_level("WARNING"), LogLevel::warn);
  EXPECT_EQ(parse_log_level("Debug"), LogLevel::debug);
  EXPECT_EQ(parse_log_level("verbose"), std::nullopt);
}

}  // namespace
}  // namespace quantlm
