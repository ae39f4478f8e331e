// Loading a llama2.c checkpoint (.bin, 7 int32 header then float32 weights) as GGUF-named tensors and metadata.
#pragma once

#include <filesystem>

#include "io/model_source.h"

namespace quantlm::io {

// The checkpoint's tensors are views into its mapping (llama2.c's q/k rows are
// already in GGUF's interleaved RoPE layout); the tokenizer is
// options.llama2c_tokenizer, else tokenizer.bin or tok<vocab>.bin beside the
// checkpoint, else none.
[[nodiscard]] ModelSource open_llama2c(const std::filesystem::path& path, const SourceOptions& options);

}  // namespace quantlm::io
