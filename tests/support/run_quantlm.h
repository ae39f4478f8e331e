// Runs the quantlm binary built beside the tests and captures its exit code and output: end-to-end CLI tests.
#pragma once

#include <filesystem>
#include <string>

namespace quantlm::test {

struct CommandResult {
  int exit_code = -1;  // -1 when the process could not start or did not exit normally
  std::string out;     // what it printed (see Streams)
};

enum class Streams {
  stdout_and_stderr,  // interleaved as the terminal would show them
  stdout_only,        // stderr discarded: for --json output that must parse
};

// Runs `quantlm ARGS` through the shell (ARGS is shell text: quote paths with quoted()).
[[nodiscard]] CommandResult run_quantlm(const std::string& args, Streams streams = Streams::stdout_and_stderr);

// `path` in single quotes for the shell (test paths hold no single quote).
[[nodiscard]] std::string quoted(const std::filesystem::path& path);

}  // namespace quantlm::test
