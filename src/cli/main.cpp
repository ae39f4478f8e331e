// Entry point of the quantlm command: builds the subcommands, runs one, turns errors into exit codes.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "core/error.h"

namespace {

int run(int argc, char** argv) {
  CLI::App app{"quantlm: make large language models small and fast on CPUs, and measure what it costs."};
  app.set_version_flag("--version", "quantlm 0.1.0");
  app.require_subcommand(1);
  app.fallthrough(false);
  quantlm::cli::add_info_command(app);
  quantlm::cli::add_synth_command(app);
  quantlm::cli::add_generate_command(app);
  quantlm::cli::add_convert_command(app);
  quantlm::cli::add_perplexity_command(app);
  quantlm::cli::add_kld_command(app);
  quantlm::cli::add_quantize_command(app);
  quantlm::cli::add_calibrate_command(app);
  quantlm::cli::add_bench_command(app);
  quantlm::cli::add_compare_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return 0;
}

void report(const char* prefix, const char* message) noexcept {
  std::fputs(prefix, stderr);
  std::fputs(message, stderr);
  std::fputc('\n', stderr);
}

}  // namespace

// Exit codes: 0 success, 1 bad input (quantlm::Error: the message names the
// file, field or flag), 2 internal error, CLI11's codes for bad flags.
int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const quantlm::Error& e) {
    report("quantlm: error: ", e.what());
    return 1;
  } catch (const std::exception& e) {
    report("quantlm: internal error: ", e.what());
    return 2;
  } catch (...) {
    report("quantlm: internal error: ", "unknown exception");
    return 2;
  }
}
