// Writing a safetensors file tensor by tensor, atomically.
#include "io/loaders/safetensors_writer.h"

#include <array>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "io/gguf/gguf_value.h"
#include "io/loaders/loader_util.h"
#include "io/loaders/safetensors_file.h"

namespace quantlm::io {

SafetensorsWriter::SafetensorsWriter(const std::filesystem::path& path, std::vector<SafetensorsSpec> tensors,
                                     const std::map<std::string, std::string>& metadata)
    : path_(path), specs_(std::move(tensors)) {
  const std::string where = path.string();
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> names;
  std::uint64_t offset = 0;
  for (const SafetensorsSpec& t : specs_) {
    const auto fail = [&](const std::string& detail) {
      return make_error("{}: tensor {}: {}", where, gguf::quote_for_message(t.name), detail);
    };
    if (t.name.empty() || t.name == "__metadata__") throw fail("the name is empty or reserved");
    if (!names.insert(t.name).second) throw fail("the name is used twice");
    const auto dtype = find_safetensors_dtype(t.dtype);
    if (!dtype) throw fail(fmt::format("unknown dtype {}", gguf::quote_for_message(t.dtype)));
    auto bytes = static_cast<std::int64_t>(dtype->bytes);
    bool ok = true;
    for (const std::int64_t d : t.shape) {
      const auto product = checked_mul(bytes, d);
      ok = ok && product.has_value();
      bytes = product.value_or(0);
    }
    if (!ok || static_cast<std::uint64_t>(bytes) > (std::uint64_t{1} << 62) - offset) {
      throw fail("a negative dimension, or the data would exceed 2^62 bytes");
    }
    const auto size = static_cast<std::uint64_t>(bytes);
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + size}}};
    sizes_.push_back(size);
    offset += size;
  }
  std::string text = header.dump();
  text.append((8 - (text.size() % 8)) % 8, ' ');  // JSON allows trailing spaces; data then starts 8-aligned
  const std::uint64_t length = text.size();
  std::array<std::byte, 8> prefix{};
  std::memcpy(prefix.data(), &length, 8);  // little-endian hosts only (byte_reader.h)

  file_ = std::make_unique<AtomicFile>(path);
  file_->write(prefix);
  file_->write(text);
}

SafetensorsWriter::~SafetensorsWriter() = default;

void SafetensorsWriter::write_tensor(std::span<const std::byte> data) {
  if (file_ == nullptr) throw make_error("{}: the safetensors writer already finished or failed", path_.string());
  if (next_ >= specs_.size()) {
    file_.reset();
    throw make_error("{}: write_tensor called after all {} tensors were written", path_.string(), specs_.size());
  }
  if (data.size() != sizes_[next_]) {
    file_.reset();
    throw make_error("{}: tensor {}: expected {} bytes, got {}", path_.string(),
                     gguf::quote_for_message(specs_[next_].name), sizes_[next_], data.size());
  }
  file_->write(data);
  ++next_;
}

void SafetensorsWriter::finish() {
  if (file_ == nullptr) throw make_error("{}: the safetensors writer already finished or failed", path_.string());
  if (next_ != specs_.size()) {
    file_.reset();
    throw make_error("{}: finish() called after {} of {} tensors", path_.string(), next_, specs_.size());
  }
  file_->commit();
  file_.reset();
}

}  // namespace quantlm::io
