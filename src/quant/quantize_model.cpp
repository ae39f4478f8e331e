// The quantize driver: plan, check, then stream tensors from the mmapped input to the GGUF writer.
#include "quant/quantize_model.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/log.h"
#include "core/thread_pool.h"
#include "formats/quantize.h"
#include "io/gguf/gguf_file.h"
#include "io/gguf/gguf_writer.h"
#include "quant/awq.h"
#include "quant/file_types.h"
#include "quant/gptq.h"
#include "quant/imatrix.h"
#include "quant/plan.h"

namespace quantlm::quant {
namespace {

// Rows per task: at least this many values (llama.cpp's minimum chunk), so a
// task amortizes its scheduling, yet a matrix splits into many tasks. The
// split depends only on the shape, never on the thread count, which keeps the
// output and the error sums identical for any number of threads.
constexpr std::int64_t kChunkValues = std::int64_t{32} * 512;
constexpr double kProgressUnit = 1e6;  // the bar counts millions of weights

// One tensor's work, resolved before the writer starts.
struct Job {
  const gguf::TensorInfo* info = nullptr;
  const TensorPlan* plan = nullptr;
  const std::vector<float>* importance = nullptr;  // columns (x slices), or null
  bool gptq = false;                               // a candidate for GPTQ (the method and format allow it)
};

void set_key(std::vector<gguf::KeyValue>& metadata, std::string_view key, const gguf::Value& value) {
  // llama.cpp's gguf_set_* removes a key and appends it: the order follows.
  std::erase_if(metadata, [&](const gguf::KeyValue& kv) { return kv.key == key; });
  metadata.push_back({std::string(key), value});
}

// llama-quantize's metadata (and ours): strings it stores through its 128-byte
// override slots are cut to 127 bytes there, and so here.
std::vector<gguf::KeyValue> output_metadata(const gguf::GgufFile& in, const ResolvedRecipe& recipe,
                                            const Imatrix* imatrix) {
  std::vector<gguf::KeyValue> md = in.metadata();
  std::erase_if(md, [](const gguf::KeyValue& kv) {
    return kv.key == "split.no" || kv.key == "split.count" || kv.key == "split.tensors.count";
  });
  set_key(md, "general.quantization_version", gguf::Value::from_u32(2));
  if (recipe.file_type != nullptr) {
    set_key(md, "general.file_type", gguf::Value::from_u32(recipe.file_type->ftype));
  } else {
    // quantlm's formats have no LLAMA_FTYPE; a stale one from the source would mislead.
    std::erase_if(md, [](const gguf::KeyValue& kv) { return kv.key == "general.file_type"; });
  }
  if (imatrix != nullptr) {
    auto cut = [](const std::string& s) { return s.substr(0, 127); };
    set_key(md, "quantize.imatrix.file", gguf::Value::from_string(cut(recipe.recipe.imatrix)));
    if (!imatrix->datasets.empty())
      set_key(md, "quantize.imatrix.dataset", gguf::Value::from_string(cut(imatrix->datasets.front())));
    set_key(md, "quantize.imatrix.entries_count",
            gguf::Value::from_u32(static_cast<std::uint32_t>(imatrix->importance.size())));
    if (imatrix->chunk_count > 0)
      set_key(md, "quantize.imatrix.chunks_count", gguf::Value::from_u32(imatrix->chunk_count));
  }
  set_key(md, kRecipeKey, gguf::Value::from_string(to_json(recipe.recipe).dump()));
  return md;
}

// Matrices stacked along the outer dimensions (experts) are quantized one
// slice at a time, each with its own importance row, as llama.cpp does.
std::int64_t slice_rows(const Shape& shape) { return shape.rank >= 2 ? shape[shape.rank - 2] : shape.rows(); }

// Importance for one tensor: llama.cpp uses an entry only when it has one
// value per column and slice, and stops on a mismatch except for token_embd
// (which imatrix files describe by vocabulary, not by columns).
const std::vector<float>* importance_for(const Imatrix* imatrix, const gguf::TensorInfo& info) {
  if (imatrix == nullptr) return nullptr;
  const std::vector<float>* v = imatrix->find(info.name);
  if (v == nullptr) {
    log_info("imatrix {} has no entry for {}: quantized without", imatrix->path.string(), info.name);
    return nullptr;
  }
  const std::int64_t slices = info.shape.rows() / std::max<std::int64_t>(1, slice_rows(info.shape));
  const auto want = static_cast<std::size_t>(info.shape.innermost() * slices);
  if (v->size() == want) return v;
  if (info.name == "token_embd.weight") return nullptr;
  throw make_error("imatrix {}: '{}' has {} values, the tensor needs {} (columns x experts)", imatrix->path.string(),
                   info.name, v->size(), want);
}

formats::QuantizeParams params_for(const ResolvedRecipe& recipe, const formats::FormatTraits& target) {
  // Float formats have no scales to search: options are for quantized ones.
  return is_quantized(target) ? recipe.params : formats::QuantizeParams{};
}

// Quantizes one block with the options a tensor will get, so that a format
// that does not support them fails before the output file exists.
void probe(const Job& job, const ResolvedRecipe& recipe) {
  const formats::FormatTraits& f = *job.plan->target;
  const std::int64_t n = f.block_elems;  // one block, or one group of a row-level format
  std::vector<float> x(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 7) - 3.0F;
  std::vector<float> ones(x.size(), 1.0F);
  std::vector<std::byte> out(static_cast<std::size_t>(f.row_bytes(n)));
  formats::QuantizeParams p = params_for(recipe, f);
  if (job.importance != nullptr && is_quantized(f)) p.importance = ones.data();
  try {
    formats::quantize_rows(f, x.data(), out.data(), 1, n, p);
  } catch (const Error& e) {
    throw make_error("cannot quantize {} to {} with --scale-search {}, --gamma {}{}: {}", job.info->name, f.name,
                     to_string(p.search), to_string(p.correction), p.importance != nullptr ? ", --imatrix" : "",
                     e.what());
  }
}

// Drops the pages of a finished tensor from the process's resident set (the
// mapping stays valid; the kernel reads them again if touched), so that
// reading a model larger than memory does not grow the footprint.
void release_pages(std::span<const std::byte> bytes) {
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = (reinterpret_cast<std::uintptr_t>(bytes.data()) + page - 1) & ~(page - 1);
  const auto end = (reinterpret_cast<std::uintptr_t>(bytes.data()) + bytes.size()) & ~(page - 1);
  // NOLINTNEXTLINE(performance-no-int-to-ptr): madvise takes an address computed from the mapping's own
  if (end > begin) (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

// AWQ's scale groups are the Linears fed by a norm.
bool is_awq_member(const std::string& name) {
  return name.starts_with("blk.") &&
         (name.ends_with(".attn_q.weight") || name.ends_with(".attn_k.weight") || name.ends_with(".attn_v.weight") ||
          name.ends_with(".ffn_gate.weight") || name.ends_with(".ffn_up.weight"));
}

std::vector<float> decode_f32(std::span<const std::byte> src) {
  std::vector<float> v(src.size() / sizeof(float));
  std::memcpy(v.data(), src.data(), v.size() * sizeof(float));
  return v;
}

std::vector<float> decode_matrix(const gguf::TensorInfo& info, std::span<const std::byte> src) {
  const std::int64_t cols = info.shape.innermost();
  const std::int64_t rows = info.shape.rows();
  const std::int64_t row_bytes = info.format->row_bytes(cols);
  std::vector<float> w(static_cast<std::size_t>(rows * cols));
  for (std::int64_t r = 0; r < rows; ++r)
    info.format->dequantize(src.data() + r * row_bytes, w.data() + r * cols, cols);
  return w;
}

void scale_columns(std::vector<float>& w, const std::vector<float>& s) {
  for (std::size_t i = 0; i < w.size(); ++i) w[i] *= s[i % s.size()];
}

std::vector<double> scale_hessian(const std::vector<double>& h, const std::vector<float>& s) {
  const std::size_t n = s.size();
  std::vector<double> out(h.size());
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < n; ++j) out[i * n + j] = h[i * n + j] / (double{s[i]} * s[j]);
  }
  return out;
}

class TensorQuantizer {
 public:
  TensorQuantizer(const ResolvedRecipe& recipe, ThreadPool& pool, ProgressBar& bar)
      : recipe_(recipe), pool_(pool), bar_(bar), scratch_(pool.size()) {}

  // Encodes the job's tensor into `out` (its exact size) and returns the error sums.
  ErrorSums run(const Job& job, std::span<const std::byte> src, std::span<std::byte> out) {
    const formats::FormatTraits& from = *job.info->format;
    const formats::FormatTraits& to = *job.plan->target;
    const Shape& shape = job.info->shape;
    const std::int64_t cols = shape.innermost();
    const std::int64_t rows = shape.rows();
    if (rows == 0 || cols == 0) return {};
    const std::int64_t per_slice = std::max<std::int64_t>(1, slice_rows(shape));
    const formats::QuantizeParams params = params_for(recipe_, to);
    // One factor or one scale for the whole tensor needs the whole slice in one call.
    const bool whole =
        params.tensor_scale || (params.correction != formats::ScaleCorrection::none && !params.correction_per_channel);
    const std::int64_t chunk = whole ? per_slice : std::max<std::int64_t>(1, (kChunkValues + cols - 1) / cols);
    const std::int64_t chunks_per_slice = (per_slice + chunk - 1) / chunk;
    const std::int64_t n_tasks = rows / per_slice * chunks_per_slice;
    const std::int64_t src_row = from.row_bytes(cols);
    const std::int64_t dst_row = to.row_bytes(cols);
    std::vector<ErrorSums> sums(static_cast<std::size_t>(n_tasks));

    pool_.parallel_for(static_cast<std::size_t>(n_tasks), [&](std::size_t task, std::size_t thread) {
      const auto t = static_cast<std::int64_t>(task);
      const std::int64_t slice = t / chunks_per_slice;
      const std::int64_t first = slice * per_slice + (t % chunks_per_slice) * chunk;
      const std::int64_t n = std::min(chunk, (slice + 1) * per_slice - first);
      Scratch& s = scratch_[thread];
      s.resize(static_cast<std::size_t>(n * cols));
      // Row by row: row-level formats decode one whole row per call.
      for (std::int64_t i = 0; i < n; ++i) {
        from.dequantize(src.data() + (first + i) * src_row, s.source.data() + i * cols, cols);
      }
      formats::QuantizeParams p = params;
      if (job.importance != nullptr && is_quantized(to)) p.importance = job.importance->data() + slice * cols;
      std::byte* dst = out.data() + first * dst_row;
      formats::quantize_rows(to, s.source.data(), dst, n, cols, p);
      ErrorSums& e = sums[task];
      if (to.dequantize != nullptr) {
        for (std::int64_t i = 0; i < n; ++i) to.dequantize(dst + i * dst_row, s.decoded.data() + i * cols, cols);
        for (std::size_t i = 0; i < s.source.size(); ++i) {
          const double w = s.source[i];
          const double d = w - static_cast<double>(s.decoded[i]);
          e.signal += w * w;
          e.noise += d * d;
        }
      }
      advance(n * cols);
    });
    ErrorSums total;
    for (const ErrorSums& e : sums) total.add(e);  // task order: the same sum for any thread count
    return total;
  }

  // RTN of an already decoded (AWQ-scaled) matrix: run() with an F32 source.
  ErrorSums run_floats(const Job& job, const std::vector<float>& w, std::span<std::byte> out) {
    gguf::TensorInfo info = *job.info;
    info.format = &formats::traits(formats::FormatId::F32);
    TensorPlan plan = *job.plan;
    plan.source = info.format;
    Job as_f32 = job;
    as_f32.info = &info;
    as_f32.plan = &plan;
    return run(as_f32, std::as_bytes(std::span(w)), out);
  }

  // GPTQ over the whole matrix w (decoded, rows × cols; rows are spread over
  // the pool inside), then the same error sums as run(), added in row order.
  ErrorSums run_gptq(const Job& job, std::span<const float> w, std::span<const double> h, std::span<std::byte> out) {
    const formats::FormatTraits& to = *job.plan->target;
    const std::int64_t cols = job.info->shape.innermost();
    const std::int64_t rows = job.info->shape.rows();
    const std::int64_t dst_row = to.row_bytes(cols);
    GptqOptions o;
    o.damp = recipe_.recipe.gptq_damp;
    o.block = recipe_.recipe.gptq_block;
    o.act_order = recipe_.recipe.gptq_act_order;
    o.search = recipe_.params.search;
    o.percentile = recipe_.params.percentile;
    gptq_quantize(to, w, rows, cols, h, out.data(), o, pool_);
    ErrorSums e;
    std::vector<float> decoded(static_cast<std::size_t>(cols));
    for (std::int64_t r = 0; r < rows; ++r) {
      to.dequantize(out.data() + r * dst_row, decoded.data(), cols);
      for (std::int64_t c = 0; c < cols; ++c) {
        const double x = w[static_cast<std::size_t>(r * cols + c)];
        const double d = x - static_cast<double>(decoded[static_cast<std::size_t>(c)]);
        e.signal += x * x;
        e.noise += d * d;
      }
    }
    advance(rows * cols);
    return e;
  }

  // Counts weights that needed no work (copied tensors) toward the bar.
  void advance(std::int64_t weights) {
    const std::int64_t done = weights_done_.fetch_add(weights) + weights;
    bar_.set_done(static_cast<std::int64_t>(static_cast<double>(done) / kProgressUnit));
  }

 private:
  struct Scratch {
    std::vector<float> source;
    std::vector<float> decoded;
    void resize(std::size_t n) {
      source.resize(n);
      decoded.resize(n);
    }
  };
  const ResolvedRecipe& recipe_;
  ThreadPool& pool_;
  ProgressBar& bar_;
  std::vector<Scratch> scratch_;  // per thread, grown to the largest chunk
  std::atomic<std::int64_t> weights_done_{0};
};

void check_paths(const QuantizeOptions& o) {
  if (!std::filesystem::exists(o.input)) throw make_error("input '{}' does not exist", o.input.string());
  if (o.dry_run) return;
  if (o.output.empty()) throw Error("no output path given");
  std::error_code ec;
  if (std::filesystem::equivalent(o.input, o.output, ec) || o.input == o.output) {
    throw make_error("output '{}' is the input file: write the quantized model to another path", o.output.string());
  }
}

}  // namespace

QuantizeReport quantize_model(const QuantizeOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const ResolvedRecipe recipe = resolve(options.recipe);
  check_paths(options);
  const gguf::GgufFile in = gguf::GgufFile::open(options.input);
  std::optional<Imatrix> imatrix;
  if (!options.recipe.imatrix.empty()) imatrix = load_imatrix(options.recipe.imatrix);

  std::vector<TensorDesc> descs;
  descs.reserve(in.tensors().size());
  for (const gguf::TensorInfo& t : in.tensors()) descs.push_back({t.name, t.ne, t.format});
  const Plan plan = plan_tensors(recipe, model_facts(in.metadata()), descs, imatrix.has_value());

  const std::string& method = options.recipe.method;
  const bool gptq = method == "gptq" || method == "awq-gptq";
  const bool awq = method == "awq" || method == "awq-gptq";
  if ((gptq || awq) && options.hessians == nullptr && !options.dry_run) {
    throw make_error("--method {} needs the calibration statistics (no Hessian source was given)", method);
  }
  std::vector<Job> jobs;
  std::vector<std::string> gptq_names;  // weights whose Hessian will be asked for, in file order
  std::map<std::string, const formats::FormatTraits*> targets;  // converted weights
  std::vector<gguf::TensorSpec> specs;
  std::set<std::pair<const formats::FormatTraits*, bool>> probed;
  std::int64_t total_weights = 0;
  for (const TensorPlan& p : plan.tensors) {
    const gguf::TensorInfo& info = in.tensors()[p.source_index];
    Job job{&info, &p, nullptr};
    if (!p.copy()) {
      if (is_quantized(*p.source) && !options.recipe.allow_requantize) {
        throw make_error("{} is already {}: re-quantizing a quantized tensor loses quality; pass --allow-requantize",
                         info.name, p.source->name);
      }
      if (p.source->dequantize == nullptr)
        throw make_error("{} is {}, which quantlm cannot decode", info.name, p.source->name);
      job.importance = importance_for(imatrix ? &*imatrix : nullptr, info);
      if (probed.insert({p.target, job.importance != nullptr}).second) probe(job, recipe);
      // Stacked matrices (experts) would need one Hessian per slice: RTN.
      job.gptq = gptq && is_quantized(*p.target) && gptq_supports(*p.target) && info.shape.rank == 2;
      if (job.gptq || (awq && is_awq_member(info.name))) gptq_names.push_back(info.name);
      targets[info.name] = p.target;
    }
    jobs.push_back(job);
    specs.push_back({info.name, info.shape, p.target});
    total_weights += info.shape.elements();
  }

  QuantizeReport report;
  report.input = options.input.string();
  report.output = options.output.string();
  report.recipe = options.recipe;
  report.dry_run = options.dry_run;
  if (recipe.file_type != nullptr) report.file_type = recipe.file_type->ftype;
  ThreadPool pool(options.threads == 0 ? hardware_thread_count() : options.threads);
  report.threads = pool.size();

  // Before the writer and the bar: the first calibration pass has its own bar.
  AwqPlan awq_plan;
  if ((gptq || awq) && !options.dry_run) {
    options.hessians->prepare(gptq_names);
    auto target_of = [&](const std::string& name) -> const formats::FormatTraits* {
      const auto it = targets.find(name);
      return it != targets.end() ? it->second : nullptr;
    };
    if (awq) awq_plan = plan_awq(in, target_of, *options.hessians, recipe.params);
  }
  std::unique_ptr<gguf::GgufWriter> writer;
  if (!options.dry_run) {
    writer = std::make_unique<gguf::GgufWriter>(
        options.output, output_metadata(in, recipe, imatrix ? &*imatrix : nullptr), std::move(specs), in.version());
  }
  const auto bar_total = std::max<std::int64_t>(
      1, static_cast<std::int64_t>(std::ceil(static_cast<double>(total_weights) / kProgressUnit)));
  ProgressBar bar(
      bar_total, {.label = "quantize", .unit = "Mw", .mode = options.dry_run ? ProgressMode::never : options.progress});
  TensorQuantizer quantizer(recipe, pool, bar);
  std::vector<std::byte> out;  // reused: grows to the largest tensor's output
  for (const Job& job : jobs) {
    const gguf::TensorInfo& info = *job.info;
    const TensorPlan& p = *job.plan;
    TensorReport r;
    r.name = info.name;
    r.shape = info.shape;
    r.source_type = std::string(p.source->name);
    r.type = std::string(p.target->name);
    r.why = p.why;
    r.converted = !p.copy();
    r.fallback = p.fallback;
    r.importance = job.importance != nullptr && is_quantized(*p.target);
    r.elements = info.shape.elements();
    r.bytes_before = info.bytes;
    r.bytes_after = static_cast<std::uint64_t>(info.shape.rows() * p.target->row_bytes(info.shape.innermost()));
    if (!options.dry_run) {
      const std::span<const std::byte> src = in.tensor_data(info);
      bar.set_extra(info.name);
      const auto norm_scale = awq_plan.norm_scales.find(info.name);
      const auto weight_scale = awq_plan.weight_scales.find(info.name);
      if (p.copy() && norm_scale != awq_plan.norm_scales.end()) {
        // The norm's weight divided by the scales its Linears were multiplied by (F32, checked by plan_awq).
        std::vector<float> g = decode_f32(src);
        for (std::size_t c = 0; c < g.size(); ++c) g[c] /= norm_scale->second[c];
        r.why += " +awq";
        writer->write_tensor(std::as_bytes(std::span(g)));
        quantizer.advance(r.elements);
      } else if (p.copy()) {
        writer->write_tensor(src);
        quantizer.advance(r.elements);
      } else {
        out.resize(r.bytes_after);
        const Hessian* h = job.gptq ? options.hessians->hessian(info.name) : nullptr;
        const bool use_gptq = h != nullptr && h->cols == info.shape.innermost();
        const std::vector<float>* s = weight_scale != awq_plan.weight_scales.end() ? &weight_scale->second : nullptr;
        if (s == nullptr && !use_gptq) {
          r.error = quantizer.run(job, src, out);
        } else {
          std::vector<float> w = decode_matrix(info, src);
          std::vector<double> hs;
          if (s != nullptr) {
            r.why += " +awq";
            scale_columns(w, *s);
            // The scaled weight sees the input divided by s: H' = S⁻¹·H·S⁻¹.
            if (use_gptq) hs = scale_hessian(h->h, *s);
          }
          if (use_gptq) {
            r.why += " +gptq";
            r.error = quantizer.run_gptq(job, w, s != nullptr ? std::span<const double>(hs) : h->h, out);
          } else {
            r.error = quantizer.run_floats(job, w, out);
          }
        }
        writer->write_tensor(std::span<const std::byte>(out.data(), r.bytes_after));
      }
      release_pages(src);
    }
    report.tensors.push_back(std::move(r));
    if (options.on_tensor) options.on_tensor(report.tensors.back());
  }
  if (writer) writer->finish();
  bar.set_done(bar_total);
  bar.finish();
  if (plan.fallbacks > 0)
    log_info("{} of {} tensors needed a fallback format (row length)", plan.fallbacks, plan.tensors.size());
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  report.peak_rss_bytes = peak_rss_bytes();
  return report;
}

}  // namespace quantlm::quant
