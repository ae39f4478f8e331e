// Reading and writing llama.cpp's importance matrix (imatrix GGUF): the mean squared activation of every input column.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace quantlm::quant {

// llama-imatrix's output: for each weight "<name>", the tensors
// "<name>.in_sum2" (sum of squared input activations per column, one row of
// columns per expert) and "<name>.counts" (tokens seen, one per expert).
// Importance is in_sum2 / counts per expert, 1 where an expert saw no token:
// the same values llama-quantize hands to its quantizers.
struct Imatrix {
  std::filesystem::path path;
  std::map<std::string, std::vector<float>> importance;  // weight name -> columns (x experts)
  std::vector<std::string> datasets;                     // imatrix.datasets
  std::uint32_t chunk_count = 0;                         // imatrix.chunk_count
  std::uint32_t chunk_size = 0;                          // imatrix.chunk_size

  // nullptr when the weight has no entry.
  [[nodiscard]] const std::vector<float>* find(const std::string& weight) const;
};

// Throws quantlm::Error naming the file for anything llama-quantize would
// refuse: not a GGUF (the legacy .dat format is not read), in_sum2 without
// counts or the reverse, non-F32 entries, sizes that do not divide, and
// non-finite importance values.
[[nodiscard]] Imatrix load_imatrix(const std::filesystem::path& path);

// Raw statistics of one weight's input, as llama-imatrix stores them (one expert).
struct ImatrixEntry {
  std::vector<float> sum_sq;  // per column: sum over tokens of x^2
  float count = 0.0F;         // tokens seen
  std::vector<float> absmax;  // per column: max |x|; empty: not written
};

struct ImatrixData {
  std::map<std::string, ImatrixEntry> entries;  // weight name -> statistics
  std::vector<std::string> datasets;
  std::uint32_t chunk_count = 0;
  std::uint32_t chunk_size = 0;
};

// Writes llama-imatrix's GGUF layout (general.type = "imatrix",
// imatrix.datasets / chunk_count / chunk_size; per weight "<name>.in_sum2",
// F32 {cols, 1}, and "<name>.counts", F32 {1, 1}, in name order), which
// llama-quantize --imatrix reads. Absmax, when present, goes to an extra
// "<name>.in_absmax" tensor: llama.cpp's loader and load_imatrix skip names
// with other suffixes. Atomic (temporary file renamed); quantlm::Error naming
// the path on failure.
void save_imatrix(const ImatrixData& data, const std::filesystem::path& path);

}  // namespace quantlm::quant
