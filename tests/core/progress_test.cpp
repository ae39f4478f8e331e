// Tests of ProgressBar: silence off a terminal, the text of a forced-on bar, and line formatting.
#include "core/progress.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <string>

namespace quantlm {
namespace {

// A temporary file standing in for stderr; never a terminal.
class CaptureFile {
 public:
  CaptureFile() : file_(std::tmpfile()) {}
  CaptureFile(const CaptureFile&) = delete;
  CaptureFile& operator=(const CaptureFile&) = delete;
  ~CaptureFile() {
    if (file_ != nullptr) std::fclose(file_);
  }
  [[nodiscard]] std::FILE* get() const { return file_; }
  [[nodiscard]] std::string text() const {
    std::fflush(file_);
    std::rewind(file_);
    std::string out;
    for (int c = std::fgetc(file_); c != EOF; c = std::fgetc(file_)) out += static_cast<char>(c);
    return out;
  }

 private:
  std::FILE* file_;
};

TEST(ProgressBar, SilentWhenStreamIsNotATerminal) {
  const CaptureFile file;
  ASSERT_NE(file.get(), nullptr);
  {
    ProgressBar bar(10, {.label = "quantize", .stream = file.get()});
    EXPECT_FALSE(bar.drawing());
    for (int i = 0; i < 10; ++i) bar.advance();
    bar.set_extra("loss 2.31");
    EXPECT_EQ(bar.done(), 10);
  }
  EXPECT_EQ(file.text(), "");
}

TEST(ProgressBar, NeverModeIsSilent) {
  const CaptureFile file;
  {
    ProgressBar bar(3, {.stream = file.get(), .mode = ProgressMode::never});
    bar.advance(3);
    bar.finish();
  }
  EXPECT_EQ(file.text(), "");
}

TEST(ProgressBar, ForcedOnBarDrawsStartAndEndAndEndsTheLine) {
  const CaptureFile file;
  {
    ProgressBar bar(4, {.label = "quantize", .unit = "tensor", .stream = file.get(), .mode = ProgressMode::always});
    EXPECT_TRUE(bar.drawing());
    bar.advance(2);  // within 100 ms of the first draw: not redrawn
    bar.advance(2);
    bar.set_extra("loss 2.31");
  }  // the destructor draws the final state and the newline
  const std::string text = file.text();
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(std::count(text.begin(), text.end(), '\r'), 2) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(text.rfind("\rquantize [", 0), 0U) << text;
  const std::string last = text.substr(text.rfind('\r') + 1);
  // The bar's width depends on the text beside it; all of it is filled.
  EXPECT_EQ(last.find('-'), std::string::npos) << last;
  EXPECT_NE(last.find("[###"), std::string::npos) << last;
  EXPECT_NE(last.find("] 4/4  100%"), std::string::npos) << last;
  EXPECT_NE(last.find(" tensor/s"), std::string::npos) << last;
  EXPECT_NE(last.find(" elapsed  loss 2.31"), std::string::npos) << last;
}

TEST(ProgressBar, FinishIsIdempotent) {
  const CaptureFile file;
  {
    ProgressBar bar(2, {.stream = file.get(), .mode = ProgressMode::always});
    bar.set_done(2);
    bar.finish();
    bar.finish();
  }
  const std::string text = file.text();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
}

TEST(ProgressBar, ProcessWideSwitchDoesNotOverrideAlways) {
  set_progress_enabled(false);
  EXPECT_FALSE(progress_enabled());
  const CaptureFile file;
  {
    const ProgressBar bar(1, {.stream = file.get(), .mode = ProgressMode::always});
    EXPECT_TRUE(bar.drawing());
  }
  set_progress_enabled(true);
  EXPECT_FALSE(file.text().empty());
}

TEST(ProgressLine, ShowsCountPercentRateEtaAndExtra) {
  const ProgressState state{
      .done = 50, .total = 200, .elapsed_seconds = 10, .label = "calibrate", .unit = "tok", .extra = "loss 2.31"};
  // 50 of 200 at 5 tok/s: 150 left take 30 s. The bar gets 7 of 30 cells.
  EXPECT_EQ(format_progress_line(state, 120),
            "calibrate [#######-----------------------] 50/200   25%  5.00 tok/s  ETA 0:30  loss 2.31");
}

TEST(ProgressLine, CompleteShowsElapsedTime) {
  const ProgressState state{.done = 3, .total = 3, .elapsed_seconds = 3725};
  EXPECT_EQ(format_progress_line(state, 80), "[##############################] 3/3  100%  0.00 it/s  1:02:05 elapsed");
}

TEST(ProgressLine, UnknownTotalHasNoBarPercentOrEta) {
  const ProgressState state{.done = 1234, .total = 0, .elapsed_seconds = 2, .label = "read"};
  EXPECT_EQ(format_progress_line(state, 80), "read 1234  617 it/s  0:02 elapsed");
}

TEST(ProgressLine, NarrowWidthDropsTheBarThenCuts) {
  const ProgressState state{.done = 1, .total = 2, .elapsed_seconds = 1, .label = "eval"};
  EXPECT_EQ(format_progress_line(state, 40), "eval 1/2   50%  1.00 it/s  ETA 0:01");
  EXPECT_EQ(format_progress_line(state, 12), "eval 1/2   5");
}

}  // namespace
}  // namespace quantlm
