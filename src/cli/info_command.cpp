// `quantlm info FILE`: architecture, hyperparameters, tokenizer and a tensor table with size accounting.
#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.h"
#include "cli/text_table.h"
#include "eval/file_summary.h"
#include "io/gguf/gguf_file.h"

namespace quantlm::cli {
namespace {

struct InfoOptions {
  std::string path;
  bool json = false;
  bool metadata = false;
};

nlohmann::json to_json(const gguf::Value& value, bool full_arrays) {
  if (const auto* s = value.as_string()) return *s;
  if (const auto* array = value.as_array()) {
    nlohmann::json out = {{"element_type", gguf::value_type_name(array->element_type)}, {"count", array->size()}};
    if (full_arrays) {
      out["items"] = std::visit([](const auto& items) { return nlohmann::json(items); }, array->items);
    }
    return out;
  }
  if (value.type() == gguf::ValueType::boolean) return value.as_int().value_or(0) != 0;
  if (value.type() == gguf::ValueType::f32 || value.type() == gguf::ValueType::f64)
    return value.as_double().value_or(0);
  if (value.type() == gguf::ValueType::u64) return std::get<std::uint64_t>(value.storage());
  return value.as_int().value_or(0);
}

nlohmann::json shape_json(const Shape& shape) {
  nlohmann::json dims = nlohmann::json::array();
  for (int i = 0; i < shape.rank; ++i) dims.push_back(shape[i]);
  return dims;
}

nlohmann::json summary_json(const eval::FileSummary& s, const gguf::GgufFile& file, bool full_metadata) {
  nlohmann::json j;
  j["file"] = s.path;
  j["file_bytes"] = s.file_bytes;
  j["gguf_version"] = s.version;
  j["alignment"] = s.alignment;
  j["architecture"] = s.architecture;
  j["name"] = s.name;
  nlohmann::json hp = nlohmann::json::object();
  for (const auto& h : s.hyperparameters) hp[h.label] = to_json(h.value, false);
  j["hyperparameters"] = hp;
  if (s.tokenizer) {
    const eval::TokenizerSummary& t = *s.tokenizer;
    nlohmann::json tok = {{"model", t.model},
                          {"pre", t.pre},
                          {"vocab_size", t.vocab_size},
                          {"has_scores", t.has_scores},
                          {"merges", t.merges}};
    auto id = [](const std::optional<std::int64_t>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
    tok["bos_token_id"] = id(t.bos);
    tok["eos_token_id"] = id(t.eos);
    tok["unknown_token_id"] = id(t.unk);
    tok["padding_token_id"] = id(t.pad);
    j["tokenizer"] = tok;
  } else {
    j["tokenizer"] = nullptr;
  }
  nlohmann::json tensors = nlohmann::json::array();
  for (const auto& t : s.tensors) {
    tensors.push_back({{"name", t.name},
                       {"type", t.format},
                       {"shape", shape_json(t.shape)},
                       {"elements", t.elements},
                       {"bytes", t.bytes},
                       {"bits_per_weight", t.bits_per_weight}});
  }
  j["tensors"] = tensors;
  nlohmann::json by_type = nlohmann::json::object();
  for (const auto& [name, total] : s.by_format) {
    by_type[name] = {{"tensors", total.tensors}, {"elements", total.elements}, {"bytes", total.bytes}};
  }
  j["by_type"] = by_type;
  j["totals"] = {{"tensors", s.tensors.size()},
                 {"elements", s.total_elements},
                 {"tensor_bytes", s.total_tensor_bytes},
                 {"bits_per_weight", s.bits_per_weight()}};
  nlohmann::json metadata = nlohmann::json::array();
  for (const auto& kv : file.metadata()) {
    metadata.push_back({{"key", kv.key},
                        {"type", gguf::value_type_name(kv.value.type())},
                        {"value", to_json(kv.value, full_metadata)}});
  }
  j["metadata"] = metadata;
  return j;
}

std::string tokenizer_line(const eval::TokenizerSummary& t) {
  std::string kind = t.model == "llama" ? "SentencePiece-style" : t.model == "gpt2" ? "byte-level BPE" : "other";
  std::string line = fmt::format("{} ({}), {} tokens", t.model, kind, t.vocab_size);
  if (!t.pre.empty()) line += fmt::format(", pre-tokenizer '{}'", t.pre);
  if (t.has_scores) line += ", scores";
  if (t.merges > 0) line += fmt::format(", {} merges", t.merges);
  if (t.bos) line += fmt::format("; BOS {} '{}'", *t.bos, t.bos_text);
  if (t.eos) line += fmt::format(", EOS {} '{}'", *t.eos, t.eos_text);
  if (t.unk) line += fmt::format(", UNK {}", *t.unk);
  return line;
}

void print_text(const eval::FileSummary& s, const gguf::GgufFile& file, bool list_metadata) {
  fmt::print("{}: GGUF v{}, {} ({} bytes), alignment {}, {} metadata keys, {} tensors\n", s.path, s.version,
             human_bytes(s.file_bytes), grouped(static_cast<std::int64_t>(s.file_bytes)), s.alignment, s.metadata_keys,
             s.tensors.size());
  fmt::print("architecture: {}{}\n", s.architecture.empty() ? "(none: general.architecture is absent)" : s.architecture,
             s.name.empty() ? "" : fmt::format("  (name '{}')", s.name));
  if (!s.hyperparameters.empty()) {
    fmt::print("hyperparameters:\n");
    for (const auto& h : s.hyperparameters) fmt::print("  {:<34} {}\n", h.label, h.value.to_display_string());
  }
  fmt::print("tokenizer: {}\n", s.tokenizer ? tokenizer_line(*s.tokenizer) : "(none in this file)");
  if (list_metadata) {
    fmt::print("\nmetadata:\n");
    TextTable table({{"key"}, {"type"}, {"value"}});
    for (const auto& kv : file.metadata()) {
      table.add_row({kv.key, std::string(gguf::value_type_name(kv.value.type())), kv.value.to_display_string()});
    }
    table.print(stdout);
  }
  fmt::print("\n");
  using A = TextTable::Align;
  TextTable tensors(
      {{"tensor"}, {"type"}, {"shape (rows, cols)"}, {"elements", A::right}, {"bytes", A::right}, {"bpw", A::right}});
  for (const auto& t : s.tensors) {
    tensors.add_row({t.name, t.format, t.shape.to_string(), grouped(t.elements),
                     grouped(static_cast<std::int64_t>(t.bytes)), fmt::format("{:.2f}", t.bits_per_weight)});
  }
  tensors.add_rule();
  tensors.add_row({fmt::format("total ({} tensors)", s.tensors.size()), "", "", grouped(s.total_elements),
                   grouped(static_cast<std::int64_t>(s.total_tensor_bytes)),
                   fmt::format("{:.2f}", s.bits_per_weight())});
  tensors.print(stdout);

  fmt::print("\n");
  TextTable by_type({{"type"},
                     {"tensors", A::right},
                     {"elements", A::right},
                     {"bytes", A::right},
                     {"share of bytes", A::right},
                     {"bpw", A::right}});
  for (const auto& [name, total] : s.by_format) {
    const double share = s.total_tensor_bytes > 0
                             ? 100.0 * static_cast<double>(total.bytes) / static_cast<double>(s.total_tensor_bytes)
                             : 0.0;
    const double bpw =
        total.elements > 0 ? 8.0 * static_cast<double>(total.bytes) / static_cast<double>(total.elements) : 0.0;
    by_type.add_row({name, grouped(total.tensors), grouped(total.elements),
                     grouped(static_cast<std::int64_t>(total.bytes)), fmt::format("{:.1f}%", share),
                     fmt::format("{:.2f}", bpw)});
  }
  by_type.print(stdout);
  fmt::print("\n{:.2f} bits per weight over all {} parameters (tensor data, scales included; header excluded)\n",
             s.bits_per_weight(), grouped(s.total_elements));
}

}  // namespace

void add_info_command(CLI::App& app) {
  auto options = std::make_shared<InfoOptions>();
  CLI::App* cmd = app.add_subcommand(
      "info", "Describe a GGUF model file: architecture, hyperparameters, tokenizer, tensors and bits per weight.");
  cmd->add_option("file", options->path, "GGUF file to describe")->required();
  cmd->add_flag("--json", options->json, "Print one JSON record instead of text");
  cmd->add_flag("--metadata", options->metadata,
                "List every metadata key (text), or include whole arrays such as the vocabulary (JSON)");
  cmd->callback([options] {
    const gguf::GgufFile file = gguf::GgufFile::open(options->path);
    const eval::FileSummary summary = eval::summarize(file);
    if (options->json) {
      fmt::print("{}\n", summary_json(summary, file, options->metadata).dump(2));
    } else {
      print_text(summary, file, options->metadata);
    }
  });
}

}  // namespace quantlm::cli
