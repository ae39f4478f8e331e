// A progress bar for long operations: drawn on a terminal (count, percent, rate, ETA, extra text), silent otherwise.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>

namespace quantlm {

// When a bar draws. automatic draws when the stream is a terminal and bars are
// not switched off process-wide; always and never override both (tests force
// a bar on over a file).
enum class ProgressMode : std::uint8_t { automatic, always, never };

// Every member has a default, so designated initializers may name any subset
// ({.label = "quantize"}) without -Wmissing-field-initializers.
struct ProgressOptions {
  std::string label{};          // shown before the bar: "quantize"
  std::string unit = "it";      // of the rate: "12.3 it/s", "tok/s"
  std::FILE* stream = nullptr;  // nullptr: stderr
  ProgressMode mode = ProgressMode::automatic;
};

// Process-wide switch for automatic bars (a --no-progress flag); on by default.
void set_progress_enabled(bool enabled);
[[nodiscard]] bool progress_enabled();

// One line's content. total <= 0 means unknown: no bar, percent or ETA.
struct ProgressState {
  std::int64_t done = 0;
  std::int64_t total = 0;
  double elapsed_seconds = 0;
  std::string_view label{};
  std::string_view unit = "it";
  std::string_view extra{};
};

// "label [#######-------] 123/1000  12%  45.6 it/s  ETA 0:19  loss 2.31",
// at most `width` characters (the bar shrinks, then disappears, then the end
// is cut). After the total is reached the ETA becomes the elapsed time.
[[nodiscard]] std::string format_progress_line(const ProgressState& state, std::size_t width);

// Redraws one line in place with carriage returns, at most ten times a second,
// and ends it with a newline in finish() or the destructor. advance() and
// set_extra() may be called from several threads (parallel_for tasks).
class ProgressBar {
 public:
  explicit ProgressBar(std::int64_t total, ProgressOptions options = {});
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  ProgressBar(ProgressBar&&) = delete;
  ProgressBar& operator=(ProgressBar&&) = delete;
  ~ProgressBar();

  void advance(std::int64_t n = 1);
  void set_done(std::int64_t done);
  // Free text after the ETA, e.g. "loss 2.31"; shown at the next redraw.
  void set_extra(std::string extra);
  // Draws the final state and ends the line; later calls do nothing.
  void finish();

  [[nodiscard]] bool drawing() const { return drawing_; }
  [[nodiscard]] std::int64_t done() const { return done_.load(std::memory_order_relaxed); }

 private:
  using Clock = std::chrono::steady_clock;
  static constexpr Clock::duration kRedrawInterval = std::chrono::milliseconds(100);

  void redraw_if_due();
  void draw(Clock::time_point now);  // with mutex_ held

  const std::int64_t total_;
  const ProgressOptions options_;
  std::FILE* const stream_;
  const bool drawing_;
  const Clock::time_point start_;
  const std::size_t width_;
  const bool on_terminal_stderr_;  // log lines must erase the bar first

  std::atomic<std::int64_t> done_{0};
  std::atomic<Clock::rep> last_draw_{0};  // time_since_epoch of the last draw
  std::mutex mutex_;                      // guards the fields below and the stream
  std::string extra_;
  std::size_t drawn_length_ = 0;
  bool finished_ = false;
};

}  // namespace quantlm
