// Leveled diagnostics on stderr (error, warn, info, debug), filtered by $QUANTLM_LOG or set_log_level().
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string_view>
#include <utility>

namespace quantlm {

// Ordered from least to most verbose: a level prints when it is <= log_level().
enum class LogLevel : std::uint8_t { error, warn, info, debug };

[[nodiscard]] std::string_view to_string(LogLevel level);

// "error", "warn" (or "warning"), "info", "debug", in any case; nullopt otherwise.
[[nodiscard]] std::optional<LogLevel> parse_log_level(std::string_view name);

// The most verbose level printed: $QUANTLM_LOG when set and valid (read on
// first use), else warn, until set_log_level() changes it. Thread-safe.
[[nodiscard]] LogLevel log_level();
void set_log_level(LogLevel level);
[[nodiscard]] inline bool log_enabled(LogLevel level) { return level <= log_level(); }

// Where log lines go: stderr unless redirected (tests capture them in a file).
void set_log_stream(std::FILE* stream);

// Writes "quantlm: <level>: <message>\n" with one call, so lines from
// concurrent threads never interleave. Ignores log_level(): the log_*
// functions below do the filtering and skip formatting when it is off.
void log_message(LogLevel level, std::string_view message);

template <typename... Args>
void log_error(fmt::format_string<Args...> format, Args&&... args) {
  if (log_enabled(LogLevel::error)) log_message(LogLevel::error, fmt::format(format, std::forward<Args>(args)...));
}

template <typename... Args>
void log_warn(fmt::format_string<Args...> format, Args&&... args) {
  if (log_enabled(LogLevel::warn)) log_message(LogLevel::warn, fmt::format(format, std::forward<Args>(args)...));
}

template <typename... Args>
void log_info(fmt::format_string<Args...> format, Args&&... args) {
  if (log_enabled(LogLevel::info)) log_message(LogLevel::info, fmt::format(format, std::forward<Args>(args)...));
}

template <typename... Args>
void log_debug(fmt::format_string<Args...> format, Args&&... args) {
  if (log_enabled(LogLevel::debug)) log_message(LogLevel::debug, fmt::format(format, std::forward<Args>(args)...));
}

namespace detail {
// A progress bar that is drawing on stderr calls this with true while it owns
// the terminal's current line, and false when it has ended it. Log lines to
// stderr then erase the half-drawn bar first instead of being appended to it;
// the bar reappears at its next update.
void set_progress_line_active(bool active);
}  // namespace detail

}  // namespace quantlm
