// Read-only memory mapping of a whole file, released when the object goes away (RAII).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>

namespace quantlm {

// A read-only view of a file's bytes. Model weights are used in place from the
// mapping (zero-copy), so the mapping lives as long as any tensor view into it.
// Move-only. An empty file maps to an empty span.
class MappedFile {
 public:
  MappedFile() = default;
  // Throws quantlm::Error naming the path when the file cannot be opened or mapped.
  static MappedFile open(const std::filesystem::path& path);

  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  [[nodiscard]] std::span<const std::byte> bytes() const { return {data_, size_}; }
  [[nodiscard]] const std::byte* data() const { return data_; }
  [[nodiscard]] std::size_t size() const { return size_; }
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  void release() noexcept;

  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  std::filesystem::path path_;
};

}  // namespace quantlm
