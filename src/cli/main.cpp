// Entry point of the quantlm command: builds the subcommands, runs one, turns errors into exit codes.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "core/error.h"

int main(int argc, char** argv) {
  CLI::App app{"quantlm: make large language models small and fast on CPUs, and measure what it costs."};
  app.set_version_flag("--version", "quantlm 0.1.0");
  app.require_subcommand(1);
  app.fallthrough(false);
  quantlm::cli::add_info_command(app);
  quantlm::cli::add_synth_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const quantlm::Error& e) {
    fmt::print(stderr, "quantlm: error: {}\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "quantlm: internal error: {}\n", e.what());
    return 2;
  }
  return 0;
}
