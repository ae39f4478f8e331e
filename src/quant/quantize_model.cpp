// The quantize driver: plan, check, then stream tensors from the mmapped input to the GGUF writer.
#include "quant/quantize_model.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
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
#include "quant/file_types.h"
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

  std::vector<Job> jobs;
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
      if (p.copy()) {
        writer->write_tensor(src);
        quantizer.advance(r.elements);
      } else {
        out.resize(r.bytes_after);
        r.error = quantizer.run(job, src, out);
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
