// One in-memory form for every model file kind: GGUF-keyed metadata and GGUF-named tensors, whatever the source.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor_view.h"
#include "formats/format_traits.h"
#include "io/gguf/gguf_value.h"

namespace quantlm::tokenizer {
class Tokenizer;
}

namespace quantlm::io {

// A tensor as the model layer sees it: GGUF's name ("blk.0.attn_q.weight"),
// row-major shape, format, and bytes that stay valid while the source lives
// (in the mmapped file when the layout allows, else in an owned buffer).
struct SourceTensor {
  std::string name;
  Shape shape;
  const formats::FormatTraits* format = nullptr;
  std::span<const std::byte> data;

  [[nodiscard]] TensorView view() const { return make_contiguous_view(data.data(), shape, format->storage()); }
};

// What every loader yields. Loaders translate their file's conventions into
// GGUF's, exactly as llama.cpp's converters do: hyperparameters under
// "<arch>.<key>" metadata, tensor names, and q/k rows in GGUF's RoPE layout
// (a Hugging Face Llama's rotate-half q/k rows are permuted on load). So the
// model layer reads one form only.
struct ModelSource {
  std::string description;  // "GGUF v3 'x.gguf'", "llama2.c 'x.bin'", "Hugging Face directory 'hf/'"
  std::filesystem::path path;
  std::vector<gguf::KeyValue> metadata;
  std::vector<SourceTensor> tensors;
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer;  // null when the source has none
  std::vector<std::shared_ptr<const void>> keep_alive;    // mappings and owned buffers behind `data`

  [[nodiscard]] const gguf::Value* find(std::string_view key) const;
  [[nodiscard]] const SourceTensor* find_tensor(std::string_view name) const;
};

// Options for sources that need more than a path.
struct SourceOptions {
  std::filesystem::path
      llama2c_tokenizer;  // tokenizer.bin for a llama2.c .bin (default: tokenizer.bin / tok512.bin beside it)
  std::filesystem::path vocabulary_gguf;  // a GGUF whose tokenizer a Hugging Face directory without tokenizer.json uses
};

// Opens a GGUF file, a llama2.c checkpoint (.bin) or a Hugging Face directory
// (config.json + model.safetensors[.index.json]), chosen by what `path` is.
// Throws quantlm::Error naming the file and the field for anything malformed.
[[nodiscard]] ModelSource open_model_source(const std::filesystem::path& path, const SourceOptions& options = {});

}  // namespace quantlm::io
