// Reading a GGUF file (v2 and v3): validated header, metadata and tensor infos; zero-copy tensor data via mmap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/mapped_file.h"
#include "core/tensor_view.h"
#include "formats/format_traits.h"
#include "io/gguf/gguf_value.h"

namespace quantlm::gguf {

inline constexpr std::uint32_t kMagic = 0x46554747;  // "GGUF" read as little-endian uint32
inline constexpr std::uint32_t kDefaultAlignment = 32;
inline constexpr std::string_view kAlignmentKey = "general.alignment";

// One tensor as the file describes it. `shape` is row-major (outermost first);
// GGUF's own order (ne[0] innermost) is `ne`. shape.rank == ne.size() (0 to 4).
struct TensorInfo {
  std::string name;
  Shape shape;
  std::vector<std::uint64_t> ne;        // dimensions as stored, innermost first
  const formats::FormatTraits* format;  // never null once read
  std::uint64_t offset = 0;             // relative to the start of the data section
  std::uint64_t bytes = 0;              // size of the tensor's data
};

// A GGUF file opened read-only. Every count, size, offset and string length
// is checked against the file before use; any violation throws quantlm::Error
// naming the file, the field and what was expected. What is accepted:
//  - version 2 or 3 (identical layouts; v1 used 32-bit counts and is refused);
//  - metadata of the 13 spec types, no nested arrays, no empty or duplicate
//    keys, bools 0 or 1; general.alignment, when present, a u32 power of two;
//  - tensor infos with unique names (< 64 bytes, llama.cpp's limit), up to 4
//    dims, a type id from formats/, ne[0] a whole number of blocks;
//    zero-sized dimensions are accepted (an empty tensor, as llama.cpp does);
//  - tensor data at aligned offsets, inside the file, not overlapping; the
//    data section starts at the header end padded to the alignment, and each
//    tensor's data padded to the alignment must fit in the file (every writer
//    pads, so a file cut short anywhere is detected). Bytes past the last
//    padded tensor are ignored.
// Tensors may be laid out in any order; llama.cpp writes them back to back in
// info order (the "canonical" layout), which GgufWriter reproduces.
class GgufFile {
 public:
  static GgufFile open(const std::filesystem::path& path);
  // Parses a GGUF image held in memory (a copy is kept): for tests and
  // fuzzing. `name` stands in for the path in error messages.
  static GgufFile from_bytes(std::span<const std::byte> bytes, const std::filesystem::path& name);

  GgufFile(GgufFile&&) noexcept = default;
  GgufFile& operator=(GgufFile&&) noexcept = default;
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;
  ~GgufFile() = default;

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  [[nodiscard]] std::uint32_t version() const { return version_; }
  [[nodiscard]] std::uint32_t alignment() const { return alignment_; }
  [[nodiscard]] std::uint64_t data_offset() const { return data_offset_; }  // absolute
  [[nodiscard]] std::uint64_t file_size() const { return bytes().size(); }

  [[nodiscard]] const std::vector<KeyValue>& metadata() const { return metadata_; }
  [[nodiscard]] const Value* find(std::string_view key) const;  // nullptr when absent

  [[nodiscard]] const std::vector<TensorInfo>& tensors() const { return tensors_; }
  [[nodiscard]] const TensorInfo* find_tensor(std::string_view name) const;  // nullptr when absent

  // The tensor's bytes, in place in the mapping (valid while this object
  // lives). `info` must be one of tensors(); another file's throws.
  [[nodiscard]] std::span<const std::byte> tensor_data(const TensorInfo& info) const;
  [[nodiscard]] TensorView tensor_view(const TensorInfo& info) const;

 private:
  GgufFile() = default;
  void parse();
  [[nodiscard]] std::span<const std::byte> bytes() const {
    return owned_.empty() ? file_.bytes() : std::span<const std::byte>(owned_);
  }

  // Hash maps keyed by std::string that accept a string_view for lookup.
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using NameIndex = std::unordered_map<std::string, std::size_t, NameHash, std::equal_to<>>;

  MappedFile file_;               // the bytes when opened from disk
  std::vector<std::byte> owned_;  // the bytes when parsed from memory
  std::filesystem::path path_;
  std::uint32_t version_ = 0;
  std::uint32_t alignment_ = kDefaultAlignment;
  std::uint64_t data_offset_ = 0;
  std::vector<KeyValue> metadata_;
  std::vector<TensorInfo> tensors_;
  NameIndex key_index_;
  NameIndex tensor_index_;
};

}  // namespace quantlm::gguf
