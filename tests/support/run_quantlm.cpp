// Runs the quantlm binary for end-to-end tests (QUANTLM_BINARY is its build path, set by tests/CMakeLists.txt).
#include "support/run_quantlm.h"

#include <sys/wait.h>

#include <array>
#include <cstdio>

namespace quantlm::test {

CommandResult run_quantlm(const std::string& args, Streams streams) {
  const std::string command =
      std::string(QUANTLM_BINARY) + " " + args + (streams == Streams::stdout_only ? " 2>/dev/null" : " 2>&1");
  CommandResult result;
  std::FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer{};
  while (std::fgets(buffer.data(), buffer.size(), pipe) != nullptr) result.out += buffer.data();
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string quoted(const std::filesystem::path& path) { return "'" + path.string() + "'"; }

}  // namespace quantlm::test
