// What a quantization run did, per tensor and in total: sizes, bits per weight, relative error and SQNR.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor_view.h"
#include "quant/recipe.h"

namespace quantlm::quant {

// Error sums in double: ‖W‖² and ‖W − Ŵ‖², where W is the tensor as the
// quantizer saw it (the source decoded to float) and Ŵ its stored form decoded.
struct ErrorSums {
  double signal = 0;  // Σ w²
  double noise = 0;   // Σ (w − ŵ)²
  void add(const ErrorSums& o) {
    signal += o.signal;
    noise += o.noise;
  }
  // ε_q = ‖W − Ŵ‖ / ‖W‖ (0 for an all-zero tensor stored exactly).
  [[nodiscard]] double relative_error() const;
  // SQNR = 10 log10(‖W‖² / ‖W − Ŵ‖²) in dB; nullopt (infinite) when the noise is 0.
  [[nodiscard]] std::optional<double> sqnr_db() const;
};

struct TensorReport {
  std::string name;
  Shape shape;  // row-major
  std::string source_type;
  std::string type;        // as written
  std::string why;         // how the type was chosen (plan)
  bool converted = false;  // the bytes were re-encoded (false: copied as they were)
  bool fallback = false;
  bool importance = false;  // an imatrix entry was used
  std::int64_t elements = 0;
  std::uint64_t bytes_before = 0;
  std::uint64_t bytes_after = 0;
  ErrorSums error;

  [[nodiscard]] double bits_per_weight() const;  // of the output, scales included
};

struct ReportTotals {
  std::int64_t elements = 0;
  std::uint64_t bytes_before = 0;
  std::uint64_t bytes_after = 0;
  double bits_per_weight_before = 0;
  double bits_per_weight_after = 0;  // all tensors, scales included
  double reduction_percent = 0;      // 100 (1 − after / before)
  // Tensors stored in a quantized (block) format.
  int quantized_tensors = 0;
  std::int64_t quantized_elements = 0;
  std::uint64_t quantized_bytes = 0;
  double quantized_bits_per_weight = 0;
  // Tensors left in a float format (F32, F16, BF16), converted or not.
  int float_tensors = 0;
  std::int64_t float_elements = 0;
  std::uint64_t float_bytes = 0;
  std::vector<std::string> unquantized_matrices;  // 2-D+ tensors left in a float format
  ErrorSums error;                                // over every converted tensor
  int fallbacks = 0;
};

struct QuantizeReport {
  std::string input;
  std::string output;  // empty for a dry run
  Recipe recipe;
  std::optional<std::uint32_t> file_type;  // general.file_type written
  std::vector<TensorReport> tensors;       // in file order
  bool dry_run = false;
  std::size_t threads = 0;
  double seconds = 0;
  std::uint64_t peak_rss_bytes = 0;  // the process's VmHWM at the end (0 when unknown)

  [[nodiscard]] ReportTotals totals() const;
};

// The record `quantize --json` prints.
[[nodiscard]] nlohmann::json to_json(const QuantizeReport& report);

// The process's peak resident set size (VmHWM) in bytes; 0 where /proc is missing.
[[nodiscard]] std::uint64_t peak_rss_bytes();

}  // namespace quantlm::quant
