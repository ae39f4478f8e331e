// `quantlm bench MODEL`: prompt (pp) and generation (tg) tokens/s by llama-bench's definitions, weight bandwidth,
// memory.
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "eval/bench_model.h"
#include "eval/speed.h"
#include "quant/file_types.h"

namespace quantlm::cli {
namespace {

// ANCHORS.md's measured read bandwidth of this project's machine (AVX-512 sum over 512 MiB).
constexpr double kReadBandwidth1Thread = 40.7;
constexpr double kReadBandwidth2Threads = 50.3;

struct BenchOptions {
  std::string model;
  eval::SpeedOptions speed;
  std::size_t threads = 0;
  double bandwidth = 0;  // GB/s; 0: ANCHORS.md's figure for the thread count
  bool json = false;
  bool csv = false;
  bool md = false;
};

// Everything a report prints, computed once.
struct Report {
  const BenchOptions* o = nullptr;
  const eval::BenchModel* m = nullptr;
  eval::SpeedResult speed;
  std::string type;  // "F16", "Q4_K_M": general.file_type's preset name, else the format with the most bytes
  std::size_t threads = 0;
  double bandwidth = 0;
  std::string bandwidth_source;
  double weight_gbps = 0;  // decode_weight_bytes × tg mean tokens/s
  std::uint64_t peak_bytes = 0;
  std::vector<double> load;  // 1, 5 and 15-minute load averages at the end
};

std::string model_type(const eval::BenchModel& m) {
  if (m.file_type) {
    for (const quant::FileType& f : quant::file_types()) {
      if (static_cast<std::int64_t>(f.ftype) == *m.file_type) return std::string(f.name);
    }
  }
  return m.weight_formats.empty() ? "?" : m.weight_formats.front().format;
}

std::string test_name(const char* kind, const eval::SpeedSeries& s) { return fmt::format("{}{}", kind, s.tokens); }

double mib(std::uint64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

Report make_report(const BenchOptions& o, const eval::BenchModel& m, eval::SpeedResult speed) {
  Report r;
  r.o = &o;
  r.m = &m;
  r.speed = std::move(speed);
  r.type = model_type(m);
  r.threads = default_thread_pool().size();
  if (o.bandwidth > 0) {
    r.bandwidth = o.bandwidth;
    r.bandwidth_source = "--bandwidth";
  } else {
    r.bandwidth = r.threads >= 2 ? kReadBandwidth2Threads : kReadBandwidth1Thread;
    r.bandwidth_source =
        fmt::format("ANCHORS.md's read bandwidth, {} thread{}", r.threads >= 2 ? 2 : 1, r.threads >= 2 ? "s" : "");
  }
  r.weight_gbps = static_cast<double>(m.decode_weight_bytes) * r.speed.tg.mean / 1e9;
  r.peak_bytes = eval::peak_resident_bytes();
  double load[3] = {};
  if (::getloadavg(load, 3) == 3) r.load = {load[0], load[1], load[2]};
  return r;
}

nlohmann::json series_json(const char* kind, const eval::SpeedSeries& s) {
  return {{"test", test_name(kind, s)}, {"n_tokens", s.tokens}, {"samples_ts", s.samples},
          {"avg_ts", s.mean},           {"stddev_ts", s.sd},    {"median_ts", s.median}};
}

nlohmann::json report_json(const Report& r) {
  nlohmann::json kernels = nlohmann::json::array();
  for (const eval::WeightFormatUse& u : r.m->weight_formats) {
    kernels.push_back({{"format", u.format},
                       {"kernel", u.kernel},
                       {"matrices", u.matrices},
                       {"elements", u.elements},
                       {"bytes", u.bytes}});
  }
  nlohmann::json tests = nlohmann::json::array();
  if (!r.speed.pp.empty()) tests.push_back(series_json("pp", r.speed.pp));
  if (!r.speed.tg.empty()) tests.push_back(series_json("tg", r.speed.tg));
  nlohmann::json j = {{"model", r.o->model},
                      {"description", r.m->description},
                      {"architecture", r.m->architecture},
                      {"type", r.type},
                      {"size_bytes", r.m->tensor_bytes},
                      {"params", r.m->parameters},
                      {"threads", r.threads},
                      {"n_prompt", r.o->speed.n_prompt},
                      {"n_gen", r.o->speed.n_gen},
                      {"repetitions", r.o->speed.repetitions},
                      {"kernels", kernels},
                      {"tests", tests},
                      {"peak_rss_bytes", r.peak_bytes},
                      {"load_average", r.load}};
  if (!r.speed.tg.empty()) {
    j["decode"] = {{"weight_bytes_per_token", r.m->decode_weight_bytes},
                   {"weight_gbps", r.weight_gbps},
                   {"read_bandwidth_gbps", r.bandwidth},
                   {"read_bandwidth_source", r.bandwidth_source},
                   {"bandwidth_share", r.weight_gbps / r.bandwidth}};
  }
  return j;
}

std::string model_label(const Report& r) {
  return fmt::format("{} {}", r.m->architecture.empty() ? "?" : r.m->architecture, r.type);
}

void print_md_table(const Report& r) {
  fmt::print("| model | size | params | threads | test | t/s | median t/s |\n");
  fmt::print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for (const auto& [kind, s] : {std::pair{"pp", &r.speed.pp}, std::pair{"tg", &r.speed.tg}}) {
    if (s->empty()) continue;
    fmt::print("| {} | {:.2f} MiB | {:.2f} M | {} | {} | {:.2f} ± {:.2f} | {:.2f} |\n", model_label(r),
               mib(r.m->tensor_bytes), static_cast<double>(r.m->parameters) / 1e6, r.threads, test_name(kind, *s),
               s->mean, s->sd, s->median);
  }
}

void print_csv(const Report& r) {
  fmt::print(
      "model,type,size_bytes,params,threads,test,n_tokens,repetitions,avg_ts,stddev_ts,median_ts,"
      "decode_weight_bytes,weight_gbps,read_bandwidth_gbps,bandwidth_share,peak_rss_bytes,kernels\n");
  std::string kernels;
  for (const eval::WeightFormatUse& u : r.m->weight_formats) kernels += (kernels.empty() ? "" : "; ") + u.kernel;
  for (const auto& [kind, s] : {std::pair{"pp", &r.speed.pp}, std::pair{"tg", &r.speed.tg}}) {
    if (s->empty()) continue;
    const bool tg = std::string_view(kind) == "tg";
    fmt::print("\"{}\",{},{},{},{},{},{},{},{:.4f},{:.4f},{:.4f},{},{:.4f},{:.1f},{:.4f},{},\"{}\"\n", r.o->model,
               r.type, r.m->tensor_bytes, r.m->parameters, r.threads, test_name(kind, *s), s->tokens,
               r.o->speed.repetitions, s->mean, s->sd, s->median, r.m->decode_weight_bytes, tg ? r.weight_gbps : 0.0,
               r.bandwidth, tg ? r.weight_gbps / r.bandwidth : 0.0, r.peak_bytes, kernels);
  }
}

void print_text(const Report& r) {
  fmt::print("model: {} ({}): {}, {:.2f} MiB, {:.2f} M parameters\n", r.o->model, r.m->description, model_label(r),
             mib(r.m->tensor_bytes), static_cast<double>(r.m->parameters) / 1e6);
  fmt::print("threads: {}; {} warm-up + {} timed run(s) of each test\n", r.threads, 1, r.o->speed.repetitions);
  for (const eval::WeightFormatUse& u : r.m->weight_formats) {
    fmt::print("kernel: {:<6} {} matrices, {:.2f} MiB -> {}\n", u.format, u.matrices, mib(u.bytes), u.kernel);
  }
  fmt::print("\n");
  print_md_table(r);
  fmt::print("\n");
  if (!r.speed.tg.empty()) {
    fmt::print(
        "decode weight bandwidth: {:.2f} MiB of weight matrices per token x {:.2f} tokens/s = {:.2f} GB/s, {:.0f}% "
        "of {:.1f} GB/s ({})\n",
        mib(r.m->decode_weight_bytes), r.speed.tg.mean, r.weight_gbps, 100.0 * r.weight_gbps / r.bandwidth, r.bandwidth,
        r.bandwidth_source);
  }
  fmt::print("peak memory: {:.2f} MiB (ru_maxrss)\n", mib(r.peak_bytes));
  if (r.load.size() == 3) fmt::print("load average: {:.2f} {:.2f} {:.2f}\n", r.load[0], r.load[1], r.load[2]);
}

void validate(const BenchOptions& o) {
  if (o.speed.n_prompt < 0) throw make_error("bench: -p {}: the prompt length must be >= 0", o.speed.n_prompt);
  if (o.speed.n_gen < 0) throw make_error("bench: -n {}: the generation length must be >= 0", o.speed.n_gen);
  if (o.speed.n_prompt == 0 && o.speed.n_gen == 0) throw make_error("bench: -p 0 and -n 0 leave nothing to measure");
  if (o.speed.repetitions < 1) throw make_error("bench: -r {}: at least one repetition is needed", o.speed.repetitions);
  if (o.bandwidth < 0) throw make_error("bench: --bandwidth {}: must be a positive GB/s figure", o.bandwidth);
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand(
      "bench",
      "Speed by llama-bench's definitions: pp (a prompt of -p random tokens as one batch on an empty cache) and "
      "tg (-n tokens generated one at a time from an empty cache), tokens/s as mean ± sd over -r runs after one "
      "warm-up; plus the weight bandwidth of decode, the kernel per weight format and peak memory "
      "(docs/PERFORMANCE.md).");
  cmd->add_option("model", o->model, "Model file (GGUF, llama2.c .bin, Hugging Face directory)")->required();
  cmd->add_option("-p,--n-prompt", o->speed.n_prompt, "Prompt tokens of the pp test (0: skip it)")
      ->capture_default_str();
  cmd->add_option("-n,--n-gen", o->speed.n_gen, "Generated tokens of the tg test (0: skip it)")->capture_default_str();
  cmd->add_option("-t,--threads", o->threads, "Threads (0: every hardware thread)")->capture_default_str();
  cmd->add_option("-r,--repetitions", o->speed.repetitions, "Timed runs of each test")->capture_default_str();
  cmd->add_option("--bandwidth", o->bandwidth,
                  "The machine's read bandwidth in GB/s for the decode share (default: ANCHORS.md's 40.7 for 1 "
                  "thread, 50.3 for 2 or more)");
  cmd->add_option("--seed", o->speed.seed, "Seed of the random token ids")->capture_default_str();
  auto* json = cmd->add_flag("--json", o->json, "Print one JSON record");
  auto* csv = cmd->add_flag("--csv", o->csv, "Print CSV, one row per test");
  auto* md = cmd->add_flag("--md", o->md, "Print only the markdown table");
  json->excludes(csv)->excludes(md);
  csv->excludes(md);
  cmd->callback([o] {
    validate(*o);
    set_default_thread_count(o->threads);
    const eval::BenchModel m = eval::open_bench_model(o->model, std::max(o->speed.n_prompt, o->speed.n_gen));
    const Report r = make_report(*o, m, eval::measure_speed(*m.lm, o->speed));
    if (o->json) {
      fmt::print("{}\n", report_json(r).dump(2));
    } else if (o->csv) {
      print_csv(r);
    } else if (o->md) {
      print_md_table(r);
    } else {
      print_text(r);
    }
  });
}

}  // namespace quantlm::cli
