// Reading llama.cpp's importance matrix (imatrix GGUF): the mean squared activation of every input column.
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

}  // namespace quantlm::quant
