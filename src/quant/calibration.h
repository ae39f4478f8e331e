// Calibration: running the float model over text and collecting each Linear's input statistics and Gram matrices.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "core/progress.h"
#include "core/thread_pool.h"
#include "eval/chunks.h"
#include "model/llama_model.h"
#include "quant/hessian_source.h"
#include "quant/imatrix.h"

namespace quantlm::quant {

struct CalibrationOptions {
  std::int64_t n_ctx = 512;     // tokens per chunk (llama-imatrix's default)
  std::int64_t max_chunks = 0;  // 0: every whole chunk of the text
  ProgressMode progress = ProgressMode::automatic;
  std::string label = "calibrate";  // of the progress bar
};

// Statistics of one distinct Linear input, shared by the weights that read it
// (attn_q/k/v, ffn_gate/up).
struct InputStats {
  std::vector<std::string> names;  // GGUF weight names
  std::int64_t cols = 0;
  std::int64_t tokens = 0;
  std::vector<double> sum_sq;        // per column: Σ x²
  std::vector<float> absmax;         // per column: max |x|
  std::shared_ptr<Hessian> hessian;  // Σ x·xᵀ, when one of `names` asked for it
};

// A model::LinearInputObserver that accumulates InputStats. Every sum runs
// over tokens in their order, each column (each Hessian row) in one task, so
// the statistics are the same bits whatever the pool's size.
class ActivationCollector final : public model::LinearInputObserver {
 public:
  // Gram matrices are accumulated for inputs read by a weight in `hessian_for`.
  explicit ActivationCollector(ThreadPool& pool, std::set<std::string> hessian_for = {});

  void observe(std::span<const std::string> names, std::span<const float> x, std::int64_t n_tokens,
               std::int64_t cols) override;

  // In the order the model first used them.
  [[nodiscard]] const std::vector<InputStats>& inputs() const { return inputs_; }
  [[nodiscard]] std::vector<InputStats>& inputs() { return inputs_; }

 private:
  ThreadPool& pool_;
  std::set<std::string> hessian_for_;
  std::vector<InputStats> inputs_;
  std::map<std::string, std::size_t> index_;  // first name -> inputs_
};

// What a calibration run covered.
struct CalibrationRun {
  std::int64_t n_ctx = 0;
  std::int64_t chunks = 0;
  [[nodiscard]] std::int64_t tokens() const { return n_ctx * chunks; }
};

// Runs `model` over the text split as llama-imatrix does: chunks of n_ctx
// tokens (the text tokenized whole, BOS first), the first token of each
// replaced by text.chunk_bos, the cache cleared per chunk, every token's
// activations observed. A progress bar counts tokens. Throws quantlm::Error
// when the text holds no whole chunk or the model's context is shorter.
CalibrationRun run_calibration(model::LlamaModel& model, const eval::EvalTokens& text,
                               const CalibrationOptions& options, model::LinearInputObserver& observer);

// llama-imatrix's entries: one per weight of every input (output.weight only
// when include_output, as llama-imatrix --process-output), with absmax.
[[nodiscard]] ImatrixData to_imatrix(const ActivationCollector& collector, const CalibrationRun& run,
                                     const std::string& dataset, bool include_output);

// GPTQ's Hessians from a model file run over a calibration text. Matrices are
// collected in passes over the whole text, each for as many of the weights
// still to come (in prepare's order) as fit in `budget_bytes` (at least one),
// and a pass's matrices are dropped when the next pass starts: peak memory is
// about the budget plus one matrix, never every Linear of the model.
class CalibrationHessians final : public HessianSource {
 public:
  struct Settings {
    std::filesystem::path model;
    std::filesystem::path text;
    CalibrationOptions calib;
    std::size_t threads = 0;                          // 0: every hardware thread
    std::size_t budget_bytes = std::size_t{1} << 30;  // Gram matrices held at once
  };
  explicit CalibrationHessians(const Settings& settings);
  ~CalibrationHessians() override;
  CalibrationHessians(const CalibrationHessians&) = delete;
  CalibrationHessians& operator=(const CalibrationHessians&) = delete;
  CalibrationHessians(CalibrationHessians&&) = delete;
  CalibrationHessians& operator=(CalibrationHessians&&) = delete;

  void prepare(const std::vector<std::string>& names) override;
  const Hessian* hessian(const std::string& name) override;

  [[nodiscard]] int passes() const { return passes_; }

 private:
  void collect_from(std::size_t position);

  Settings settings_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<model::LlamaModel> model_;
  eval::EvalTokens text_;
  std::map<std::string, std::int64_t> linear_cols_;  // every Linear the model runs -> its input width
  std::vector<std::string> order_;
  std::map<std::string, std::shared_ptr<Hessian>> held_;
  int passes_ = 0;
};

}  // namespace quantlm::quant
