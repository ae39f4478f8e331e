// Reading a safetensors file: validated JSON header (dtype, shape, data_offsets, __metadata__), zero-copy data via
// mmap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/mapped_file.h"
#include "formats/format_traits.h"

namespace quantlm::io {

// The dtypes of the safetensors spec and their element sizes.
struct SafetensorsDtype {
  std::string_view name;  // "F32", "BF16", ...
  std::size_t bytes;      // per element
  // The float weight format it reads as (F32, F16, BF16), or nullptr.
  const formats::FormatTraits* format;
};

// Looks a dtype up by its spelling in the header; nullopt when unknown.
[[nodiscard]] std::optional<SafetensorsDtype> find_safetensors_dtype(std::string_view name);

struct SafetensorsTensor {
  std::string name;
  SafetensorsDtype dtype;
  std::vector<std::int64_t> shape;  // row-major; empty for a scalar
  std::uint64_t begin = 0;          // data_offsets, relative to the end of the header
  std::uint64_t end = 0;
};

// A safetensors file opened read-only: 8-byte little-endian header length,
// a JSON object of tensors (and an optional "__metadata__" of strings), then
// the data. Every field is checked against the file before use; a violation
// throws quantlm::Error naming the file, the tensor and the field:
//  - a header length of at least 2 and at most 100 MB (the reference
//    implementation's limit) that fits in the file; the header is a JSON
//    object, without duplicate keys or nesting past what the format uses;
//  - per tensor: a known dtype, a shape of non-negative integers, data_offsets
//    [begin, end] with begin <= end <= the data size and end - begin equal to
//    the element count times the dtype's size (computed without overflow);
//  - no two tensors' data overlap (gaps are tolerated, as are bytes after the
//    last tensor).
class SafetensorsFile {
 public:
  static SafetensorsFile open(const std::filesystem::path& path);

  [[nodiscard]] const std::filesystem::path& path() const { return file_.path(); }
  [[nodiscard]] const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }  // in data order
  [[nodiscard]] const SafetensorsTensor* find(std::string_view name) const;
  [[nodiscard]] const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // The tensor's bytes in place in the mapping (valid while this object lives).
  [[nodiscard]] std::span<const std::byte> data(const SafetensorsTensor& tensor) const;

 private:
  void parse();

  MappedFile file_;
  std::uint64_t data_start_ = 0;
  std::vector<SafetensorsTensor> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace quantlm::io
