// Registration of the quantlm subcommands; each lives in its own file and adds itself to the app.
#pragma once

#include <CLI/CLI.hpp>

namespace quantlm::cli {

void add_info_command(CLI::App& app);
void add_synth_command(CLI::App& app);
void add_generate_command(CLI::App& app);
void add_convert_command(CLI::App& app);
void add_perplexity_command(CLI::App& app);
void add_kld_command(CLI::App& app);
void add_quantize_command(CLI::App& app);
void add_calibrate_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_compare_command(CLI::App& app);

}  // namespace quantlm::cli
