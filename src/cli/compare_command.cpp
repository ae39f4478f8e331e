// `quantlm compare BASE -f TEXT -q TYPE...`: quantize one model several ways and print size, bpw, PPL and KLD side by
// side.
#include <fmt/format.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/text_table.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "study/comparison.h"

namespace quantlm::cli {
namespace {

// What a first look at a model needs: the 8-bit reference point, llama.cpp's 4-bit
// default with its own and with quantlm's searched scales, and the non-linear 4-bit grid.
const std::vector<std::string> kDefaultSpecs = {"Q8_0", "Q4_0", "Q4_0:search=mse", "IQ4_NL"};

struct CompareOptions {
  std::string base;
  std::string text;
  std::vector<std::string> specs;
  std::vector<std::string> files;
  std::string work_dir;
  std::string protocol = "llamacpp";
  eval::EvalOptions eval{.n_ctx = 256};
  std::size_t threads = 0;
  bool json = false;
  bool markdown = false;
};

std::vector<std::string> row_cells(const study::ComparisonRow& r, const study::ComparisonRow& base, bool is_base) {
  const double delta = base.ppl > 0 ? 100.0 * (r.ppl / base.ppl - 1.0) : 0.0;
  return {r.label,
          human_bytes(r.file_bytes),
          fmt::format("{:.2f}", r.bits_per_weight),
          fmt::format("{:.4f} ± {:.4f}", r.ppl, r.ppl_error),
          is_base ? "—" : fmt::format("{:+.2f}%", delta),
          is_base ? "—" : fmt::format("{:.6f} ± {:.6f}", r.kld, r.kld_error),
          is_base ? "—" : fmt::format("{:.4f}", r.kld_p99),
          fmt::format("{:.2f}%", 100.0 * r.same_top),
          is_base || r.quantize_seconds == 0 ? "—" : fmt::format("{:.1f}", r.quantize_seconds)};
}

const std::vector<std::string> kHeaders = {"recipe", "file",    "bpw",      "PPL",       "ΔPPL",
                                           "KLD",    "KLD p99", "same top", "quantize s"};

void print_markdown(const study::ComparisonResult& r) {
  fmt::print("|");
  for (const std::string& h : kHeaders) fmt::print(" {} |", h);
  fmt::print("\n|");
  for (std::size_t i = 0; i < kHeaders.size(); ++i) fmt::print("{}|", i == 0 ? "---" : "---:");
  fmt::print("\n");
  auto line = [](const std::vector<std::string>& cells) {
    fmt::print("|");
    for (const std::string& c : cells) fmt::print(" {} |", c);
    fmt::print("\n");
  };
  line(row_cells(r.base, r.base, true));
  for (const study::ComparisonRow& row : r.rows) line(row_cells(row, r.base, false));
}

void print_table(const study::ComparisonResult& r) {
  std::vector<TextTable::Column> columns;
  for (std::size_t i = 0; i < kHeaders.size(); ++i) {
    columns.push_back({kHeaders[i], i == 0 ? TextTable::Align::left : TextTable::Align::right});
  }
  TextTable table(columns);
  table.add_row(row_cells(r.base, r.base, true));
  table.add_rule();
  for (const study::ComparisonRow& row : r.rows) table.add_row(row_cells(row, r.base, false));
  table.print(stdout);
}

void run(CompareOptions& o) {
  set_default_thread_count(o.threads);
  o.eval.protocol = *eval::parse_protocol(o.protocol);  // IsMember checked it
  study::ComparisonOptions c;
  c.base = o.base;
  c.text = o.text;
  c.eval = o.eval;
  c.threads = o.threads;
  for (const std::string& spec : o.specs.empty() && o.files.empty() ? kDefaultSpecs : o.specs) {
    c.entries.push_back(study::parse_comparison_entry(spec));
  }
  for (const std::string& file : o.files) c.entries.push_back(study::existing_file_entry(file));
  // Without -o the files live in a private temporary directory, removed at the end whatever happens.
  std::filesystem::path temporary;
  if (o.work_dir.empty()) {
    std::string pattern = (std::filesystem::temp_directory_path() / "quantlm-compare-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw make_error("compare: cannot create a directory like {}", pattern);
    temporary = pattern;
    c.work_dir = temporary;
  } else {
    c.work_dir = o.work_dir;
  }
  struct Cleanup {
    std::filesystem::path dir;
    ~Cleanup() {
      std::error_code ignored;
      if (!dir.empty()) std::filesystem::remove_all(dir, ignored);
    }
  } cleanup{temporary};

  if (!o.json) {
    fmt::print("compare: {} on {} (protocol {}, -c {}{}); {} recipes\n", o.base, o.text, o.protocol, o.eval.n_ctx,
               o.eval.max_chunks > 0 ? fmt::format(", first {} chunks", o.eval.max_chunks) : "", c.entries.size());
    std::fflush(stdout);
  }
  const study::ComparisonResult r = study::run_comparison(c, [&](const study::ComparisonRow& row) {
    if (!o.json) fmt::print(stderr, "measured {}: PPL {:.4f}, KLD {:.6f}\n", row.label, row.ppl, row.kld);
  });
  if (o.json) {
    fmt::print("{}\n", study::to_json(r).dump(2));
  } else if (o.markdown) {
    print_markdown(r);
  } else {
    fmt::print("{} chunks, {} scored positions; KLD against the base's saved logits\n", grouped(r.chunks),
               grouped(r.scored_positions));
    print_table(r);
    if (!o.work_dir.empty()) fmt::print("files kept in {}\n", o.work_dir);
  }
}

}  // namespace

void add_compare_command(CLI::App& app) {
  auto o = std::make_shared<CompareOptions>();
  CLI::App* cmd = app.add_subcommand(
      "compare",
      "Quantize a float model several ways and measure each file beside the original: size, bits per weight "
      "(scales included), PPL, KLD against the base (its logits computed once), top-token agreement.");
  cmd->add_option("base", o->base, "Float GGUF model (F32, F16 or BF16 matrices)")->required();
  cmd->add_option("-f,--file", o->text, "Text file to evaluate on")->required();
  cmd->add_option("-q,--quant", o->specs,
                  "Recipe TYPE[:key=value,...], repeatable; keys: search=NAME, gamma=NAME, percentile=P, "
                  "imatrix=FILE, fallback=llama|quantlm|TYPE, pure (default: Q8_0 Q4_0 Q4_0:search=mse IQ4_NL)");
  cmd->add_option("-m,--model", o->files, "Also measure this already-quantized file (repeatable; after the -q rows)");
  cmd->add_option("-o,--out-dir", o->work_dir, "Keep the quantized files here (default: a temporary directory)");
  cmd->add_option("-c,--ctx-size", o->eval.n_ctx, "Tokens per chunk")->capture_default_str();
  cmd->add_option("--protocol", o->protocol, "Positions scored: llamacpp or full (docs/EVALUATION.md)")
      ->check(CLI::IsMember({"llamacpp", "full"}))
      ->capture_default_str();
  cmd->add_option("--chunks", o->eval.max_chunks, "Evaluate only the first N chunks (0: all)")->capture_default_str();
  cmd->add_option("-t,--threads", o->threads, "Threads (0: every hardware thread)")->capture_default_str();
  auto* json = cmd->add_flag("--json", o->json, "Print one JSON record instead of a table");
  cmd->add_flag("--md", o->markdown, "Print the table as Markdown")->excludes(json);
  cmd->callback([o] { run(*o); });
}

}  // namespace quantlm::cli
