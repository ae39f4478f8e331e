// `quantlm quantize IN OUT TYPE`: llama-quantize's presets and options, with a per-tensor error summary.
#include <fmt/format.h>

#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/text_table.h"
#include "core/error.h"
#include "core/progress.h"
#include "quant/calibration.h"
#include "quant/file_types.h"
#include "quant/quantize_model.h"
#include "quant/recipe.h"

namespace quantlm::cli {
namespace {

struct QuantizeCliOptions {
  std::string input;
  std::string output;
  std::string type;
  std::vector<std::string> tensor_types;  // REGEX=TYPE, in order
  std::string scale_search = "default";
  std::string gamma = "none";
  std::string recipe_file;
  std::string save_recipe;
  quant::Recipe recipe;
  std::size_t threads = 0;
  bool dry_run = false;
  bool json = false;
  bool no_progress = false;
  std::size_t hessian_budget_mib = 1024;
};

// The footer of --help, built from the tables the options are parsed with.
std::string help_footer() {
  std::string s = "TYPE (a llama.cpp preset; Q3_K, Q4_K, Q5_K are aliases of the _M mixes):\n";
  for (const quant::FileType& t : quant::file_types())
    s += fmt::format("  {:<7} {:>2}  {}\n", t.name, t.ftype, t.description);
  s += "  or any quantlm format (every matrix in it): see docs/QUANTIZE.md\n\n--scale-search:\n";
  for (const auto& v : quant::scale_search_names()) s += fmt::format("  {:<11} {}\n", v.name, v.help);
  s += "\n--gamma:\n";
  for (const auto& v : quant::correction_names()) s += fmt::format("  {:<11} {}\n", v.name, v.help);
  s += "\nTypes quantlm can write (--tensor-type, --output-tensor-type, --fallback):\n  " +
       quant::producible_format_names() + "\n";
  return s;
}

std::string error_cell(const quant::ErrorSums& e, bool converted) {
  if (!converted) return "-";
  return fmt::format("{:.5f}", e.relative_error());
}

std::string sqnr_cell(const quant::ErrorSums& e, bool converted) {
  if (!converted) return "-";
  const auto db = e.sqnr_db();
  return db ? fmt::format("{:.1f}", *db) : "inf";
}

void print_text(const quant::QuantizeReport& r) {
  using A = TextTable::Align;
  TextTable table({{"tensor"},
                   {"from"},
                   {"type"},
                   {"shape (rows, cols)"},
                   {"bytes", A::right},
                   {"bpw", A::right},
                   {"ε_q", A::right},
                   {"SQNR dB", A::right},
                   {"how chosen"}});
  for (const quant::TensorReport& t : r.tensors) {
    table.add_row({t.name, t.source_type, t.type, t.shape.to_string(),
                   grouped(static_cast<std::int64_t>(t.bytes_after)), fmt::format("{:.2f}", t.bits_per_weight()),
                   r.dry_run ? "" : error_cell(t.error, t.converted), r.dry_run ? "" : sqnr_cell(t.error, t.converted),
                   t.why + (t.importance ? " +imatrix" : "")});
  }
  table.print(stdout);
  const quant::ReportTotals s = r.totals();
  const std::string target = r.dry_run ? std::string("dry run, nothing written") : "wrote " + r.output;
  fmt::print("\n{} ({}): {} -> {} bytes ({} -> {}), {:.1f}% smaller\n", target, r.recipe.type,
             grouped(static_cast<std::int64_t>(s.bytes_before)), grouped(static_cast<std::int64_t>(s.bytes_after)),
             human_bytes(s.bytes_before), human_bytes(s.bytes_after), s.reduction_percent);
  fmt::print("bits per weight over all {} weights (scales included): {:.2f} -> {:.2f}\n", grouped(s.elements),
             s.bits_per_weight_before, s.bits_per_weight_after);
  fmt::print("quantized: {} tensors, {} weights at {:.2f} bpw; float: {} tensors, {} weights", s.quantized_tensors,
             grouped(s.quantized_elements), s.quantized_bits_per_weight, s.float_tensors, grouped(s.float_elements));
  if (!s.unquantized_matrices.empty()) {
    fmt::print(
        " (matrices left in float: {}{})",
        fmt::join(s.unquantized_matrices.begin(),
                  s.unquantized_matrices.begin() + std::min<std::ptrdiff_t>(6, std::ssize(s.unquantized_matrices)),
                  ", "),
        s.unquantized_matrices.size() > 6 ? ", ..." : "");
  }
  fmt::print("\n");
  if (s.fallbacks > 0)
    fmt::print("{} tensors took a fallback format (row length not a multiple of the block)\n", s.fallbacks);
  if (!r.dry_run) {
    const auto db = s.error.sqnr_db();
    fmt::print("error over converted tensors: ε_q = {:.5f}, SQNR = {}\n", s.error.relative_error(),
               db ? fmt::format("{:.2f} dB", *db) : std::string("inf (exact)"));
  }
  fmt::print("{:.2f} s on {} threads; peak resident memory {}\n", r.seconds, r.threads, human_bytes(r.peak_rss_bytes));
}

quant::Recipe build_recipe(const QuantizeCliOptions& o) {
  quant::Recipe r = o.recipe;
  r.type = o.type;
  for (const std::string& t : o.tensor_types) r.tensor_types.push_back(quant::parse_tensor_type_rule(t));
  r.scale_search = quant::parse_scale_search(o.scale_search);
  r.correction = quant::parse_correction(o.gamma);
  return r;
}

}  // namespace

void add_quantize_command(CLI::App& app) {
  auto o = std::make_shared<QuantizeCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "quantize",
      "Quantize a GGUF model as llama-quantize does (same presets, mixes, overrides and fallbacks; bit-compatible "
      "output), with a per-tensor error summary.");
  cmd->footer(help_footer());
  cmd->add_option("input", o->input, "Source GGUF (F32, F16 or BF16; quantized needs --allow-requantize)")->required();
  cmd->add_option("output", o->output, "Output GGUF (written atomically; never the input)")->required();
  auto* type = cmd->add_option("type", o->type, "Preset (Q4_K_M, Q8_0, ...) or quantlm format; see below");
  quant::Recipe& r = o->recipe;
  std::vector<CLI::Option*> recipe_flags = {
      type,
      cmd->add_flag("--pure", r.pure, "Every matrix in the preset's base format: no per-tensor mix"),
      cmd->add_flag("--leave-output-tensor", r.leave_output_tensor, "Keep output.weight as it is"),
      cmd->add_option("--output-tensor-type", r.output_tensor_type, "Format of output.weight"),
      cmd->add_option("--token-embedding-type", r.token_embedding_type, "Format of token_embd.weight"),
      cmd->add_option("--tensor-type", o->tensor_types,
                      "REGEX=TYPE: tensors whose name matches REGEX get TYPE (repeatable; the first match wins)")
          ->allow_extra_args(false),  // one REGEX=TYPE per flag: later words are the positionals
      cmd->add_option("--fallback", r.fallback,
                      "Rows the chosen format's block does not divide: llama (llama.cpp's chain, ending in F16), "
                      "quantlm (a quantlm group format instead of F16) or a TYPE")
          ->capture_default_str(),
      cmd->add_flag("--allow-requantize", r.allow_requantize, "Quantize tensors that are already quantized"),
      cmd->add_option("--imatrix", r.imatrix, "llama-imatrix GGUF: per-column importance for the quantizers"),
      cmd->add_option("--scale-search", o->scale_search, "How scales are chosen (see below)")->capture_default_str(),
      cmd->add_option("--percentile", r.percentile, "Percentile of |x| for --scale-search percentile")
          ->capture_default_str(),
      cmd->add_option("--gamma", o->gamma, "Scale correction folded into stored scales (see below)")
          ->capture_default_str(),
      cmd->add_flag("--gamma-per-tensor", r.correction_per_tensor, "One correction factor per tensor, not per row"),
      cmd->add_flag("--tensor-scale", r.tensor_scale,
                    "One scale for the whole tensor, searched over all its values (quantlm's per-row formats)"),
      cmd->add_option("--method", r.method,
                      "rtn (round to nearest), gptq (Hessian-guided rounding from --calib text), awq (activation-aware "
                      "channel scales folded into the norms, then RTN) or awq-gptq; docs/GPTQ.md")
          ->check(CLI::IsMember({"rtn", "gptq", "awq", "awq-gptq"}))
          ->capture_default_str(),
      cmd->add_option("--calib", r.calib, "Calibration text for --method gptq/awq (run through the input model)"),
      cmd->add_option("--calib-ctx", r.calib_ctx, "Tokens per calibration chunk")->capture_default_str(),
      cmd->add_option("--calib-chunks", r.calib_chunks, "Calibration chunks to use (0: all)")->capture_default_str(),
      cmd->add_option("--gptq-damp", r.gptq_damp, "GPTQ dampening, a fraction of mean(diag H)")->capture_default_str(),
      cmd->add_option("--gptq-block", r.gptq_block, "GPTQ columns per lazy update")->capture_default_str(),
      cmd->add_flag("--act-order", r.gptq_act_order,
                    "GPTQ: columns by decreasing activation, every block's scale fixed up front"),
  };
  cmd->add_option("--recipe", o->recipe_file, "Read the whole recipe from a JSON file (instead of TYPE and the above)");
  cmd->add_option("--save-recipe", o->save_recipe, "Write the recipe as JSON to this file");
  cmd->add_option("-t,--threads", o->threads, "Threads (0: every hardware thread; the output is the same)")
      ->capture_default_str();
  cmd->add_flag("--dry-run", o->dry_run, "Plan and print types and sizes; write nothing");
  cmd->add_flag("--json", o->json, "Print one JSON record instead of text");
  cmd->add_flag("--no-progress", o->no_progress, "No progress bar");
  cmd->add_option("--hessian-budget", o->hessian_budget_mib,
                  "GPTQ: MiB of Hessians held at once; more weights than fit take more passes over --calib")
      ->capture_default_str();
  cmd->callback([o, recipe_flags] {
    // Checked here rather than with CLI11's excludes(), which would print "Excludes: --recipe" on every line of --help.
    for (const CLI::Option* flag : recipe_flags) {
      if (!o->recipe_file.empty() && flag->count() > 0)
        throw make_error("quantize: {} cannot be combined with --recipe (the file holds the whole recipe)",
                         flag->get_name());
    }
    if (o->recipe_file.empty() && o->type.empty()) throw Error("quantize: give TYPE (or --recipe FILE)");
    const quant::Recipe recipe = o->recipe_file.empty() ? build_recipe(*o) : quant::load_recipe(o->recipe_file);
    (void)quant::resolve(recipe);  // validates before --save-recipe writes it
    if (!o->save_recipe.empty()) quant::save_recipe(recipe, o->save_recipe);
    quant::QuantizeOptions options;
    options.input = o->input;
    options.output = o->output;
    options.recipe = recipe;
    options.threads = o->threads;
    options.dry_run = o->dry_run;
    options.progress = o->no_progress ? ProgressMode::never : ProgressMode::automatic;  // the bar is on stderr
    std::unique_ptr<quant::CalibrationHessians> hessians;
    if (recipe.method != "rtn" && !o->dry_run) {
      quant::CalibrationHessians::Settings h;
      h.model = o->input;
      h.text = recipe.calib;
      h.calib.n_ctx = recipe.calib_ctx;
      h.calib.max_chunks = recipe.calib_chunks;
      h.calib.progress = options.progress;
      h.threads = o->threads;
      h.budget_bytes = o->hessian_budget_mib << 20U;
      hessians = std::make_unique<quant::CalibrationHessians>(h);
      options.hessians = hessians.get();
    }
    const quant::QuantizeReport report = quant::quantize_model(options);
    if (o->json) {
      fmt::print("{}\n", quant::to_json(report).dump(2));
    } else {
      print_text(report);
    }
  });
}

}  // namespace quantlm::cli
