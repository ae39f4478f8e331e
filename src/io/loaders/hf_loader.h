// Loading a Hugging Face model directory (config.json + safetensors) as GGUF-named tensors and metadata.
#pragma once

#include <filesystem>

#include "io/model_source.h"

namespace quantlm::io {

// LlamaForCausalLM and Qwen2ForCausalLM. Tensors are views into the
// safetensors mappings, except a Llama's q_proj/k_proj, whose rows are
// permuted from rotate-half to GGUF's interleaved layout into owned buffers.
[[nodiscard]] ModelSource open_hf_directory(const std::filesystem::path& dir, const SourceOptions& options);

}  // namespace quantlm::io
