// The one error type of quantlm: every failure the user can cause surfaces as a quantlm::Error.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace quantlm {

// Thrown for bad input (files, flags, shapes) and for failed system calls.
// The message is complete and user-facing: it names the input, the field and
// what was expected, so callers print what() and exit non-zero.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Builds an Error from a fmt format string: throw make_error("{}: bad", path);
template <typename... Args>
[[nodiscard]] Error make_error(fmt::format_string<Args...> format, Args&&... args) {
  return Error(fmt::format(format, std::forward<Args>(args)...));
}

// An Error that describes a failed system call, with strerror(errno) appended.
[[nodiscard]] Error system_error(const std::string& what, int errno_value);

}  // namespace quantlm
