// Level filtering, $QUANTLM_LOG parsing and line output for core/log.h.
#include "core/log.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <string>

namespace quantlm {
namespace {

constexpr LogLevel kDefaultLevel = LogLevel::warn;

// Runs inside the initialization of the level itself, so it reports a bad
// value directly rather than through log_warn (which would ask for the level).
LogLevel level_from_environment() {
  const char* value = std::getenv("QUANTLM_LOG");
  if (value == nullptr || *value == '\0') return kDefaultLevel;
  if (const auto level = parse_log_level(value)) return *level;
  fmt::print(stderr, "quantlm: warn: ignoring QUANTLM_LOG='{}' (expected error, warn, info or debug)\n", value);
  return kDefaultLevel;
}

std::atomic<LogLevel>& level_storage() {
  static std::atomic<LogLevel> level{level_from_environment()};
  return level;
}

std::atomic<std::FILE*> g_stream{nullptr};  // nullptr means stderr, which is not a constant expression
std::atomic<int> g_progress_lines{0};

}  // namespace

std::string_view to_string(LogLevel level) {
  switch (level) {
    case LogLevel::error:
      return "error";
    case LogLevel::warn:
      return "warn";
    case LogLevel::info:
      return "info";
    case LogLevel::debug:
      return "debug";
  }
  return "unknown";
}

std::optional<LogLevel> parse_log_level(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "error") return LogLevel::error;
  if (lower == "warn" || lower == "warning") return LogLevel::warn;
  if (lower == "info") return LogLevel::info;
  if (lower == "debug") return LogLevel::debug;
  return std::nullopt;
}

LogLevel log_level() { return level_storage().load(std::memory_order_relaxed); }

void set_log_level(LogLevel level) { level_storage().store(level, std::memory_order_relaxed); }

void set_log_stream(std::FILE* stream) { g_stream.store(stream, std::memory_order_relaxed); }

void log_message(LogLevel level, std::string_view message) {
  std::FILE* stream = g_stream.load(std::memory_order_relaxed);
  if (stream == nullptr) stream = stderr;
  // "\r" back to column 0, ESC[K erases to the end of the line: the bar's text.
  const bool erase_bar = stream == stderr && g_progress_lines.load(std::memory_order_relaxed) > 0;
  const std::string line = fmt::format("{}quantlm: {}: {}\n", erase_bar ? "\r\033[K" : "", to_string(level), message);
  std::fwrite(line.data(), 1, line.size(), stream);
  std::fflush(stream);
}

namespace detail {
void set_progress_line_active(bool active) { g_progress_lines.fetch_add(active ? 1 : -1, std::memory_order_relaxed); }
}  // namespace detail

}  // namespace quantlm
