// Line formatting, terminal detection and rate-limited redrawing for ProgressBar.
#include "core/progress.h"

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "core/log.h"

namespace quantlm {
namespace {

constexpr std::size_t kMaxBarWidth = 30;
constexpr std::size_t kMinBarWidth = 10;
constexpr std::size_t kDefaultWidth = 80;

std::atomic<bool> g_enabled{true};

bool is_terminal(std::FILE* stream) { return ::isatty(::fileno(stream)) == 1; }

// Columns of the terminal, one less so the cursor never wraps to a new line.
std::size_t line_width(std::FILE* stream, bool terminal) {
  winsize size{};
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-vararg): ioctl is variadic by definition
  if (terminal && ::ioctl(::fileno(stream), TIOCGWINSZ, &size) == 0 && size.ws_col > 1) {
    return std::size_t{size.ws_col} - 1;
  }
  return kDefaultWidth;
}

bool should_draw(ProgressMode mode, std::FILE* stream) {
  switch (mode) {
    case ProgressMode::always:
      return true;
    case ProgressMode::never:
      return false;
    case ProgressMode::automatic:
      break;
  }
  return progress_enabled() && is_terminal(stream);
}

// "0:07", "12:34", "1:02:03".
std::string format_duration(double seconds) {
  const auto total = static_cast<std::int64_t>(std::llround(std::max(seconds, 0.0)));
  const std::int64_t h = total / 3600;
  const std::int64_t m = total / 60 % 60;
  const std::int64_t s = total % 60;
  return h > 0 ? fmt::format("{}:{:02}:{:02}", h, m, s) : fmt::format("{}:{:02}", m, s);
}

// Three significant digits or so: "0.25", "4.56", "45.6", "456", "4560".
std::string format_rate(double rate) {
  if (rate >= 100) return fmt::format("{:.0f}", rate);
  if (rate >= 10) return fmt::format("{:.1f}", rate);
  return fmt::format("{:.2f}", rate);
}

}  // namespace

void set_progress_enabled(bool enabled) { g_enabled.store(enabled, std::memory_order_relaxed); }

bool progress_enabled() { return g_enabled.load(std::memory_order_relaxed); }

std::string format_progress_line(const ProgressState& state, std::size_t width) {
  const bool known_total = state.total > 0;
  const bool complete = known_total && state.done >= state.total;

  std::string counts = known_total ? fmt::format("{}/{}", state.done, state.total) : fmt::format("{}", state.done);
  if (known_total) {
    const std::int64_t percent = std::clamp<std::int64_t>(state.done * 100 / state.total, 0, 100);
    counts += fmt::format("  {:3}%", percent);
  }
  std::string tail;
  const double rate = state.elapsed_seconds > 0 ? static_cast<double>(state.done) / state.elapsed_seconds : 0.0;
  if (rate > 0) tail += fmt::format("  {} {}/s", format_rate(rate), state.unit);
  if (complete || !known_total) {
    tail += fmt::format("  {} elapsed", format_duration(state.elapsed_seconds));
  } else if (rate > 0) {
    tail += fmt::format("  ETA {}", format_duration(static_cast<double>(state.total - state.done) / rate));
  }
  if (!state.extra.empty()) tail += fmt::format("  {}", state.extra);

  std::string line(state.label);
  if (!line.empty()) line += ' ';
  // The bar takes what is left of the width, up to kMaxBarWidth; "[" "] " cost 3.
  const std::size_t text = line.size() + counts.size() + tail.size() + 3;
  const std::size_t room = width > text ? width - text : 0;
  const std::size_t bar_width = std::min(room, kMaxBarWidth);
  if (known_total && bar_width >= kMinBarWidth) {
    const auto filled = static_cast<std::size_t>(std::clamp<std::int64_t>(
        state.done * static_cast<std::int64_t>(bar_width) / state.total, 0, static_cast<std::int64_t>(bar_width)));
    line += '[';
    line.append(filled, '#');
    line.append(bar_width - filled, '-');
    line += "] ";
  }
  line += counts;
  line += tail;
  if (line.size() > width) line.resize(width);
  return line;
}

ProgressBar::ProgressBar(std::int64_t total, ProgressOptions options)
    : total_(total),
      options_(std::move(options)),
      stream_(options_.stream != nullptr ? options_.stream : stderr),
      drawing_(should_draw(options_.mode, stream_)),
      start_(Clock::now()),
      width_(line_width(stream_, drawing_ && is_terminal(stream_))),
      on_terminal_stderr_(drawing_ && stream_ == stderr && is_terminal(stream_)) {
  if (!drawing_) return;
  if (on_terminal_stderr_) detail::set_progress_line_active(true);
  const std::lock_guard lock(mutex_);
  draw(start_);
}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::advance(std::int64_t n) {
  done_.fetch_add(n, std::memory_order_relaxed);
  redraw_if_due();
}

void ProgressBar::set_done(std::int64_t done) {
  done_.store(done, std::memory_order_relaxed);
  redraw_if_due();
}

void ProgressBar::set_extra(std::string extra) {
  if (!drawing_) return;
  const std::lock_guard lock(mutex_);
  extra_ = std::move(extra);
}

void ProgressBar::finish() {
  if (!drawing_) return;
  const std::lock_guard lock(mutex_);
  if (finished_) return;
  draw(Clock::now());
  std::fputc('\n', stream_);
  std::fflush(stream_);
  finished_ = true;
  if (on_terminal_stderr_) detail::set_progress_line_active(false);
}

void ProgressBar::redraw_if_due() {
  if (!drawing_) return;
  const Clock::time_point now = Clock::now();
  const Clock::duration last{last_draw_.load(std::memory_order_relaxed)};
  if (now.time_since_epoch() - last < kRedrawInterval) return;
  // A thread that finds another one drawing skips this update rather than wait.
  const std::unique_lock lock(mutex_, std::try_to_lock);
  if (lock.owns_lock() && !finished_) draw(now);
}

void ProgressBar::draw(Clock::time_point now) {
  last_draw_.store(now.time_since_epoch().count(), std::memory_order_relaxed);
  const ProgressState state{
      .done = done_.load(std::memory_order_relaxed),
      .total = total_,
      .elapsed_seconds = std::chrono::duration<double>(now - start_).count(),
      .label = options_.label,
      .unit = options_.unit,
      .extra = extra_,
  };
  std::string line = format_progress_line(state, width_);
  // Blanks over the end of a longer previous line, then back to its start.
  const std::size_t length = line.size();
  if (length < drawn_length_) line.append(drawn_length_ - length, ' ');
  drawn_length_ = length;
  const std::string out = "\r" + line;
  std::fwrite(out.data(), 1, out.size(), stream_);
  std::fflush(stream_);
}

}  // namespace quantlm
