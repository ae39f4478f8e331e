// Calibration passes: activation statistics per Linear input, imatrix entries, and GPTQ's Hessians under a memory
// budget.
#include "quant/calibration.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "core/error.h"
#include "core/log.h"
#include "io/model_source.h"

namespace quantlm::quant {
namespace {

// Columns per task for the per-column sums: each column is summed by one task
// over the tokens in order, so the split does not change a single bit.
constexpr std::int64_t kColumnsPerTask = 64;

// Detaches the observer however run_calibration leaves.
class ObserverGuard {
 public:
  ObserverGuard(model::LlamaModel& model, model::LinearInputObserver& observer) : model_(model) {
    model_.set_linear_input_observer(&observer);
  }
  ~ObserverGuard() { model_.set_linear_input_observer(nullptr); }
  ObserverGuard(const ObserverGuard&) = delete;
  ObserverGuard& operator=(const ObserverGuard&) = delete;
  ObserverGuard(ObserverGuard&&) = delete;
  ObserverGuard& operator=(ObserverGuard&&) = delete;

 private:
  model::LlamaModel& model_;
};

}  // namespace

ActivationCollector::ActivationCollector(ThreadPool& pool, std::set<std::string> hessian_for)
    : pool_(pool), hessian_for_(std::move(hessian_for)) {}

void ActivationCollector::observe(std::span<const std::string> names, std::span<const float> x, std::int64_t n_tokens,
                                  std::int64_t cols) {
  if (names.empty() || n_tokens == 0) return;
  auto [it, added] = index_.emplace(names.front(), inputs_.size());
  if (added) {
    InputStats s;
    s.names.assign(names.begin(), names.end());
    s.cols = cols;
    s.sum_sq.assign(static_cast<std::size_t>(cols), 0.0);
    s.absmax.assign(static_cast<std::size_t>(cols), 0.0F);
    const bool wanted =
        std::any_of(names.begin(), names.end(), [&](const std::string& n) { return hessian_for_.contains(n); });
    if (wanted) {
      s.hessian = std::make_shared<Hessian>();
      s.hessian->cols = cols;
      s.hessian->h.assign(static_cast<std::size_t>(cols * cols), 0.0);
    }
    inputs_.push_back(std::move(s));
  }
  InputStats& s = inputs_[it->second];
  if (s.cols != cols) {
    throw make_error("calibration: the input of {} changed width from {} to {}", names.front(), s.cols, cols);
  }
  const float* data = x.data();
  const std::int64_t col_tasks = (cols + kColumnsPerTask - 1) / kColumnsPerTask;
  pool_.parallel_for(static_cast<std::size_t>(col_tasks), [&](std::size_t task, std::size_t /*thread*/) {
    const std::int64_t c0 = static_cast<std::int64_t>(task) * kColumnsPerTask;
    const std::int64_t c1 = std::min(cols, c0 + kColumnsPerTask);
    for (std::int64_t t = 0; t < n_tokens; ++t) {
      const float* row = data + t * cols;
      for (std::int64_t c = c0; c < c1; ++c) {
        const float v = row[c];
        s.sum_sq[static_cast<std::size_t>(c)] += static_cast<double>(v) * v;
        s.absmax[static_cast<std::size_t>(c)] = std::max(s.absmax[static_cast<std::size_t>(c)], std::fabs(v));
      }
    }
  });
  if (s.hessian) {
    // Row i of Σ x·xᵀ in one task: h[i][j] += x[t][i] · x[t][j], tokens in order.
    double* h = s.hessian->h.data();
    pool_.parallel_for(static_cast<std::size_t>(cols), [&](std::size_t i, std::size_t /*thread*/) {
      double* hi = h + static_cast<std::int64_t>(i) * cols;
      for (std::int64_t t = 0; t < n_tokens; ++t) {
        const float* row = data + t * cols;
        const double xi = row[i];
        if (xi == 0.0) continue;
        for (std::int64_t j = 0; j < cols; ++j) hi[j] += xi * static_cast<double>(row[j]);
      }
    });
    s.hessian->tokens += n_tokens;
  }
  s.tokens += n_tokens;
}

CalibrationRun run_calibration(model::LlamaModel& model, const eval::EvalTokens& text,
                               const CalibrationOptions& options, model::LinearInputObserver& observer) {
  const auto n_tokens = static_cast<std::int64_t>(text.ids.size());
  if (options.n_ctx < 2) throw make_error("calibration: -c {}: a chunk needs at least 2 tokens", options.n_ctx);
  if (options.max_chunks < 0)
    throw make_error("calibration: --chunks {}: expected 0 (all) or more", options.max_chunks);
  CalibrationRun run;
  run.n_ctx = options.n_ctx;
  run.chunks = n_tokens / options.n_ctx;
  if (options.max_chunks > 0) run.chunks = std::min(run.chunks, options.max_chunks);
  if (run.chunks == 0) {
    throw make_error("calibration: the text has {} tokens, fewer than one chunk of -c {}", n_tokens, options.n_ctx);
  }
  if (model.context_length() < options.n_ctx) {
    throw make_error("calibration: -c {} exceeds the model's context of {} positions", options.n_ctx,
                     model.context_length());
  }
  const std::int64_t vocab = model.vocab_size();
  for (const std::int32_t id : text.ids) {
    if (id < 0 || id >= vocab) throw make_error("calibration: token id {} is outside the vocabulary of {}", id, vocab);
  }
  const ObserverGuard guard(model, observer);
  ProgressBar bar(run.tokens(), {.label = options.label, .unit = "tok", .mode = options.progress});
  std::vector<std::int32_t> chunk(static_cast<std::size_t>(options.n_ctx));
  std::vector<float> logits(static_cast<std::size_t>(options.n_ctx * vocab));
  for (std::int64_t c = 0; c < run.chunks; ++c) {
    const auto first = text.ids.begin() + c * options.n_ctx;
    std::copy(first, first + options.n_ctx, chunk.begin());
    if (text.chunk_bos) chunk.front() = *text.chunk_bos;
    model.reset();
    model.forward(chunk, logits);
    bar.advance(options.n_ctx);
  }
  bar.finish();
  return run;
}

ImatrixData to_imatrix(const ActivationCollector& collector, const CalibrationRun& run, const std::string& dataset,
                       bool include_output) {
  ImatrixData data;
  data.datasets = {dataset};
  data.chunk_count = static_cast<std::uint32_t>(run.chunks);
  data.chunk_size = static_cast<std::uint32_t>(run.n_ctx);
  for (const InputStats& s : collector.inputs()) {
    ImatrixEntry e;
    e.sum_sq.assign(s.sum_sq.begin(), s.sum_sq.end());  // llama-imatrix stores its sums as f32 too
    e.count = static_cast<float>(s.tokens);
    e.absmax = s.absmax;
    for (const std::string& name : s.names) {
      if (name == "output.weight" && !include_output) continue;
      data.entries.emplace(name, e);
    }
  }
  return data;
}

CalibrationHessians::CalibrationHessians(const Settings& settings) : settings_(settings) {
  pool_ = std::make_unique<ThreadPool>(settings.threads == 0 ? hardware_thread_count() : settings.threads);
  try {
    const io::ModelSource source = io::open_model_source(settings.model);
    if (!source.tokenizer)
      throw make_error("{} has no tokenizer to read the calibration text with", source.description);
    model_ = std::make_unique<model::LlamaModel>(
        source, model::LlamaOptions{.context_length = settings.calib.n_ctx, .pool = pool_.get()});
    text_ = eval::tokenize_eval_text(*source.tokenizer, eval::read_text_file(settings.text));
  } catch (const Error& e) {
    throw make_error("--calib: {}", e.what());
  }
  const model::LlamaWeights& w = model_->weights();
  for (std::size_t l = 0; l < w.layers.size(); ++l) {
    const model::LlamaLayer& layer = w.layers[l];
    const std::pair<const char*, const TensorView*> linears[] = {
        {"attn_q", &layer.wq},       {"attn_k", &layer.wk},   {"attn_v", &layer.wv},      {"attn_output", &layer.wo},
        {"ffn_gate", &layer.w_gate}, {"ffn_up", &layer.w_up}, {"ffn_down", &layer.w_down}};
    for (const auto& [name, view] : linears) {
      linear_cols_[fmt::format("blk.{}.{}.weight", l, name)] = view->shape.innermost();
    }
  }
  if (!w.tied_output) linear_cols_["output.weight"] = w.output.shape.innermost();
}

CalibrationHessians::~CalibrationHessians() = default;

void CalibrationHessians::prepare(const std::vector<std::string>& names) {
  order_.clear();
  for (const std::string& n : names) {
    if (linear_cols_.contains(n)) order_.push_back(n);
  }
  if (!order_.empty()) collect_from(0);
}

const Hessian* CalibrationHessians::hessian(const std::string& name) {
  if (const auto it = held_.find(name); it != held_.end()) return it->second.get();
  if (!linear_cols_.contains(name)) return nullptr;
  // Not held: a new pass, starting at this weight (appended when prepare did not announce it).
  auto pos = std::find(order_.begin(), order_.end(), name);
  if (pos == order_.end()) {
    order_.push_back(name);
    pos = order_.end() - 1;
  }
  collect_from(static_cast<std::size_t>(pos - order_.begin()));
  const auto it = held_.find(name);
  return it != held_.end() ? it->second.get() : nullptr;
}

void CalibrationHessians::collect_from(std::size_t position) {
  held_.clear();  // the previous pass's matrices go before the next ones are allocated
  std::set<std::string> wanted;
  std::size_t bytes = 0;
  for (std::size_t i = position; i < order_.size(); ++i) {
    const auto cols = static_cast<std::size_t>(linear_cols_.at(order_[i]));
    // Counted per weight although inputs shared by q/k/v or gate/up share one
    // matrix: the budget errs on the safe side.
    const std::size_t need = cols * cols * sizeof(double);
    if (!wanted.empty() && bytes + need > settings_.budget_bytes) break;
    wanted.insert(order_[i]);
    bytes += need;
  }
  ActivationCollector collector(*pool_, wanted);
  CalibrationOptions o = settings_.calib;
  o.label = fmt::format("calibrate {}", passes_ + 1);
  (void)run_calibration(*model_, text_, o, collector);
  ++passes_;
  log_info("GPTQ: calibration pass {} collected {} Hessians ({:.1f} MiB)", passes_, wanted.size(),
           static_cast<double>(bytes) / (1024.0 * 1024.0));
  for (InputStats& s : collector.inputs()) {
    if (!s.hessian) continue;
    for (const std::string& n : s.names) {
      if (wanted.contains(n)) held_[n] = s.hessian;
    }
  }
}

}  // namespace quantlm::quant
