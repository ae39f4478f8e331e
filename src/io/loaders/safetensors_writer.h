// Writing a safetensors file tensor by tensor, atomically (a temporary file renamed into place on success).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace quantlm::io {

class AtomicFile;

struct SafetensorsSpec {
  std::string name;
  std::string dtype;                // "F32", "F16", "BF16", ... (any dtype of the spec)
  std::vector<std::int64_t> shape;  // row-major
};

// The header (the tensors back to back in the given order, __metadata__
// first, padded with spaces to a multiple of 8 bytes so that data starts
// aligned, as the reference implementation does) is written at construction;
// then each tensor's data in order; then finish() renames the file into
// place. Refused up front with a quantlm::Error naming `path` and the tensor:
// empty, duplicate or reserved ("__metadata__") names, unknown dtypes,
// negative dimensions, sizes that overflow. Destroyed without finish(), the
// temporary file is removed and `path` is left untouched.
class SafetensorsWriter {
 public:
  SafetensorsWriter(const std::filesystem::path& path, std::vector<SafetensorsSpec> tensors,
                    const std::map<std::string, std::string>& metadata = {});
  SafetensorsWriter(const SafetensorsWriter&) = delete;
  SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;
  ~SafetensorsWriter();

  // Data of the next tensor in order; its size must match the spec exactly.
  void write_tensor(std::span<const std::byte> data);
  void finish();

 private:
  std::filesystem::path path_;
  std::vector<SafetensorsSpec> specs_;
  std::vector<std::uint64_t> sizes_;
  std::size_t next_ = 0;
  std::unique_ptr<AtomicFile> file_;
};

}  // namespace quantlm::io
