// Totals and the JSON record of a quantization run.
#include "quant/report.h"

#include <cmath>
#include <fstream>
#include <string>

#include "formats/format_traits.h"
#include "quant/file_types.h"

namespace quantlm::quant {
namespace {

double bpw(std::uint64_t bytes, std::int64_t elements) {
  return elements > 0 ? 8.0 * static_cast<double>(bytes) / static_cast<double>(elements) : 0.0;
}

nlohmann::json optional_number(const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(); }

nlohmann::json error_json(const ErrorSums& e) {
  // SQNR is infinite for an exact copy; JSON has no infinity, so null says "no error".
  return {{"relative_error", e.relative_error()}, {"sqnr_db", optional_number(e.sqnr_db())}};
}

}  // namespace

double ErrorSums::relative_error() const { return signal > 0 ? std::sqrt(noise / signal) : (noise > 0 ? 1.0 : 0.0); }

std::optional<double> ErrorSums::sqnr_db() const {
  if (noise <= 0) return std::nullopt;
  return 10.0 * std::log10(signal / noise);
}

double TensorReport::bits_per_weight() const { return bpw(bytes_after, elements); }

ReportTotals QuantizeReport::totals() const {
  ReportTotals t;
  for (const TensorReport& r : tensors) {
    t.elements += r.elements;
    t.bytes_before += r.bytes_before;
    t.bytes_after += r.bytes_after;
    if (r.converted) t.error.add(r.error);
    if (r.fallback) ++t.fallbacks;
    const formats::FormatTraits* f = formats::find_format(r.type);
    if (f != nullptr && is_quantized(*f)) {
      ++t.quantized_tensors;
      t.quantized_elements += r.elements;
      t.quantized_bytes += r.bytes_after;
    } else {
      ++t.float_tensors;
      t.float_elements += r.elements;
      t.float_bytes += r.bytes_after;
      if (r.shape.rank >= 2 && r.shape.rows() > 1) t.unquantized_matrices.push_back(r.name);
    }
  }
  t.bits_per_weight_before = bpw(t.bytes_before, t.elements);
  t.bits_per_weight_after = bpw(t.bytes_after, t.elements);
  t.quantized_bits_per_weight = bpw(t.quantized_bytes, t.quantized_elements);
  t.reduction_percent = t.bytes_before > 0
                            ? 100.0 * (1.0 - static_cast<double>(t.bytes_after) / static_cast<double>(t.bytes_before))
                            : 0.0;
  return t;
}

nlohmann::json to_json(const QuantizeReport& report) {
  nlohmann::json tensors = nlohmann::json::array();
  for (const TensorReport& r : report.tensors) {
    nlohmann::json shape = nlohmann::json::array();
    for (int i = 0; i < r.shape.rank; ++i) shape.push_back(r.shape[i]);
    nlohmann::json j = {{"name", r.name},
                        {"shape", shape},
                        {"source_type", r.source_type},
                        {"type", r.type},
                        {"why", r.why},
                        {"converted", r.converted},
                        {"fallback", r.fallback},
                        {"importance", r.importance},
                        {"elements", r.elements},
                        {"bytes_before", r.bytes_before},
                        {"bytes_after", r.bytes_after},
                        {"bits_per_weight", r.bits_per_weight()}};
    j.update(error_json(r.error));
    tensors.push_back(std::move(j));
  }
  const ReportTotals t = report.totals();
  nlohmann::json totals = {{"elements", t.elements},
                           {"bytes_before", t.bytes_before},
                           {"bytes_after", t.bytes_after},
                           {"reduction_percent", t.reduction_percent},
                           {"bits_per_weight_before", t.bits_per_weight_before},
                           {"bits_per_weight_after", t.bits_per_weight_after},
                           {"quantized_tensors", t.quantized_tensors},
                           {"quantized_elements", t.quantized_elements},
                           {"quantized_bytes", t.quantized_bytes},
                           {"quantized_bits_per_weight", t.quantized_bits_per_weight},
                           {"float_tensors", t.float_tensors},
                           {"float_elements", t.float_elements},
                           {"float_bytes", t.float_bytes},
                           {"unquantized_matrices", t.unquantized_matrices},
                           {"fallbacks", t.fallbacks}};
  totals.update(error_json(t.error));
  return {{"input", report.input},
          {"output", report.dry_run ? nlohmann::json() : nlohmann::json(report.output)},
          {"dry_run", report.dry_run},
          {"recipe", to_json(report.recipe)},
          {"file_type", report.file_type ? nlohmann::json(*report.file_type) : nlohmann::json()},
          {"threads", report.threads},
          {"seconds", report.seconds},
          {"peak_rss_bytes", report.peak_rss_bytes},
          {"tensors", tensors},
          {"totals", totals}};
}

std::uint64_t peak_rss_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;  // reported in kB
  }
  return 0;
}

}  // namespace quantlm::quant
