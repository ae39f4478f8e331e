// Writing a model source as a Hugging Face directory: config.json + model.safetensors, q/k rows back in rotate-half.
#pragma once

#include <filesystem>

#include "io/model_source.h"

namespace quantlm::io {

// Writes `dir`/config.json and `dir`/model.safetensors (each atomically;
// the directory is created when missing) for a llama or qwen2 source whose
// tensors are F32, F16 or BF16, with Hugging Face's names and, for llama,
// q/k rows permuted back to rotate-half (the inverse of what the loader
// applies), so that open_model_source(dir) gives back the same tensors bit
// for bit. No tokenizer files are written. Throws quantlm::Error naming the
// source and the tensor or key when the source cannot be represented
// (another architecture, quantized tensors, unknown or missing tensors) or
// when `dir` already holds a sharded checkpoint (whose index would win).
void write_hf_directory(const ModelSource& source, const std::filesystem::path& dir);

}  // namespace quantlm::io
