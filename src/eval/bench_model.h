// Opening a model file for speed measurement: the float engine plus what a bench report says about the file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/llama_model.h"

namespace quantlm::eval {

// The weight matrices of one format and the kernel that multiplies them.
struct WeightFormatUse {
  std::string format;  // "Q4_K"
  std::string kernel;  // kernels::select_kernel(...).name(): "Q4_K dequantize+avx512"
  std::int64_t matrices = 0;
  std::int64_t elements = 0;
  std::uint64_t bytes = 0;
};

struct BenchModel {
  std::string description;  // "GGUF v3 'x.gguf'"
  std::string architecture;
  std::string name;                       // general.name, "" when absent
  std::optional<std::int64_t> file_type;  // general.file_type (llama.cpp's ftype), when present
  std::uint64_t tensor_bytes = 0;         // all tensors, as llama-bench's "size"
  std::int64_t parameters = 0;            // all tensor elements, as llama-bench's "params"
  // Bytes a decode step reads from weight matrices: every Linear of every
  // block and the output projection (the embedding contributes one row).
  std::uint64_t decode_weight_bytes = 0;
  std::vector<WeightFormatUse> weight_formats;  // most bytes first
  std::unique_ptr<model::LlamaModel> lm;
};

// Loads `path` with the float engine on the default thread pool, its KV cache
// sized for `context_length` positions (0: the model's trained context).
// Throws quantlm::Error naming the file for anything it cannot run.
[[nodiscard]] BenchModel open_bench_model(const std::filesystem::path& path, std::int64_t context_length);

}  // namespace quantlm::eval
