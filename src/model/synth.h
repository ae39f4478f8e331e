// Synthetic random-weight Llama models written as GGUF: reproducible test and benchmark subjects that need no download.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "formats/format_traits.h"

namespace quantlm::model {

// Shape and seed of a random Llama. Defaults give a tiny model (~0.2 M
// parameters) that is written in milliseconds; ANCHORS.md's cache-resident
// benchmark model is dim 512, n_ff 1536, 8 layers, and TinyLlama-1.1B's shape
// is dim 2048, n_ff 5632, 22 layers, 32 heads, 4 KV heads.
struct SynthConfig {
  std::int64_t dim = 64;
  std::int64_t n_ff = 172;
  std::int64_t layers = 2;
  std::int64_t heads = 8;
  std::int64_t kv_heads = 4;
  std::int64_t vocab = 512;
  std::int64_t context = 512;
  float rms_eps = 1e-5F;
  float rope_base = 10000.0F;
  std::uint64_t seed = 1;
  formats::FormatId weight_format = formats::FormatId::F32;  // F32, F16 or BF16 for the matrices
  std::string name = "quantlm-synth";

  // Throws quantlm::Error naming the field when the shape is inconsistent.
  void validate() const;
  [[nodiscard]] std::int64_t parameter_count() const;
};

// Writes the model (llama architecture metadata, a SentencePiece-style
// vocabulary with byte fallback so llama.cpp can load it, Gaussian weights
// scaled by 1/sqrt(fan_in), unit norms) atomically to `path`. The same config
// always produces the same bytes.
void write_synthetic_llama(const std::filesystem::path& path, const SynthConfig& config);

}  // namespace quantlm::model
