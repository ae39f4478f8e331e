// Writing a GGUF file tensor by tensor, atomically: a temporary file renamed into place on success.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/tensor_view.h"
#include "formats/format_traits.h"
#include "io/gguf/gguf_value.h"

namespace quantlm::gguf {

class GgufFile;

// What the writer needs to lay out one tensor before its data exists.
struct TensorSpec {
  std::string name;
  Shape shape;  // row-major, outermost first; rank 0 to 4
  const formats::FormatTraits* format = nullptr;
};

// Streams a GGUF: the header (metadata, tensor infos with offsets computed
// from shapes, formats and the alignment) is written at construction, then
// each tensor's data in order, then finish() renames the temporary file into
// place. Destroyed without finish() (an exception, a failed tensor), the
// temporary file is removed and `path` is left untouched.
//
// The layout is llama.cpp's (gguf_write_to_file): header, zero padding to the
// alignment, then each tensor's data followed by zero padding to the
// alignment (the last one too), offsets in tensor order. So a file llama.cpp
// wrote comes back byte for byte through GgufFile and write_copy.
//
// Everything the reader would reject is refused up front with a
// quantlm::Error naming `path` and the field: empty or duplicate keys,
// general.alignment not a u32 power of two, arrays whose element_type does
// not match their items, bool bytes other than 0/1, duplicate or too long
// tensor names, a null format, rank over 4, negative dimensions, a row length
// the format cannot hold (not a whole number of blocks for ggml's types; any
// length fits quantlm's row-level formats, sized by their row functions). The temporary file is `path` + ".tmp-XXXXXX"
// in the same directory (so the rename cannot cross file systems), created
// with the usual 0666 & ~umask permissions.
//
// After any error (a wrong-sized tensor, a failed write such as a full disk)
// the temporary file is removed at once and every later call throws.
class GgufWriter {
 public:
  // `metadata` may contain general.alignment (u32, a power of two); otherwise 32 is used.
  GgufWriter(const std::filesystem::path& path, const std::vector<KeyValue>& metadata, std::vector<TensorSpec> tensors,
             std::uint32_t version = 3);
  GgufWriter(const GgufWriter&) = delete;
  GgufWriter& operator=(const GgufWriter&) = delete;
  ~GgufWriter();

  // Data of the next tensor in order; its size must match the spec exactly.
  void write_tensor(std::span<const std::byte> data);
  // Flushes, fsyncs, closes and renames into place. Throws if a tensor is missing.
  void finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Writes a whole file read by GgufFile back out (same version, metadata,
// tensor order and data). Files in llama.cpp's layout (every real file we
// know: tensors back to back in info order, zero padding, nothing after the
// last padded tensor) come back byte for byte; any other accepted file comes
// back in that layout with the same contents. `path` may be file.path():
// the data is read from the old mapping while the new file is written beside it.
void write_copy(const GgufFile& file, const std::filesystem::path& path);

}  // namespace quantlm::gguf
