// `quantlm calibrate MODEL -f TEXT -o STATS.gguf`: activation statistics per Linear input, as llama-imatrix's GGUF.
#include <fmt/format.h>

#include <chrono>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/text_table.h"
#include "core/error.h"
#include "core/progress.h"
#include "core/thread_pool.h"
#include "eval/chunks.h"
#include "io/model_source.h"
#include "model/llama_model.h"
#include "quant/calibration.h"
#include "quant/imatrix.h"

namespace quantlm::cli {
namespace {

struct CalibrateOptions {
  std::string model;
  std::string text;
  std::string output;
  quant::CalibrationOptions calib;
  std::size_t threads = 0;
  bool process_output = false;
  bool no_progress = false;
};

void run_calibrate(const CalibrateOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  set_default_thread_count(o.threads);
  const io::ModelSource source = [&] {
    try {
      return io::open_model_source(o.model);
    } catch (const Error& e) {
      throw make_error("MODEL '{}': {}", o.model, e.what());
    }
  }();
  if (!source.tokenizer) throw make_error("MODEL '{}' has no tokenizer to read the text with", o.model);
  model::LlamaModel model(source, model::LlamaOptions{.context_length = o.calib.n_ctx});
  const eval::EvalTokens text = eval::tokenize_eval_text(*source.tokenizer, eval::read_text_file(o.text));

  quant::ActivationCollector collector(default_thread_pool());
  quant::CalibrationOptions calib = o.calib;
  calib.progress = o.no_progress ? ProgressMode::never : ProgressMode::automatic;
  const quant::CalibrationRun run = quant::run_calibration(model, text, calib, collector);
  const quant::ImatrixData data = quant::to_imatrix(collector, run, o.text, o.process_output);
  quant::save_imatrix(data, o.output);

  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print("model: {} ({})\n", o.model, source.description);
  fmt::print("text: {}: {} tokens; {} chunks of {} = {} tokens observed\n", o.text, grouped(std::ssize(text.ids)),
             run.chunks, run.n_ctx, grouped(run.tokens()));
  fmt::print("wrote {}: {} weights (in_sum2, counts, in_absmax), {} distinct inputs, in {:.2f} s on {} threads\n",
             o.output, data.entries.size(), collector.inputs().size(), seconds, default_thread_pool().size());
}

}  // namespace

void add_calibrate_command(CLI::App& app) {
  auto o = std::make_shared<CalibrateOptions>();
  CLI::App* cmd = app.add_subcommand(
      "calibrate",
      "Run a model over calibration text and write each Linear input's statistics (mean square per column: "
      "llama-imatrix's GGUF, which llama-quantize --imatrix reads; absmax beside it).");
  cmd->add_option("model", o->model, "Model file (GGUF, llama2.c .bin, Hugging Face directory)")->required();
  cmd->add_option("-f,--file", o->text, "Calibration text")->required();
  cmd->add_option("-o,--output", o->output, "Statistics GGUF to write (atomically)")->required();
  cmd->add_option("-c,--ctx-size", o->calib.n_ctx, "Tokens per chunk (llama-imatrix's default 512)")
      ->capture_default_str();
  cmd->add_option("--chunks", o->calib.max_chunks, "Use only the first N chunks (0: all)")->capture_default_str();
  cmd->add_option("-t,--threads", o->threads, "Threads (0: every hardware thread; the statistics are the same)")
      ->capture_default_str();
  cmd->add_flag("--process-output", o->process_output, "Include output.weight (llama-imatrix's --process-output)");
  cmd->add_flag("--no-progress", o->no_progress, "No progress bar");
  cmd->callback([o] { run_calibrate(*o); });
}

}  // namespace quantlm::cli
