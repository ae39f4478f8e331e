// Builds GGUF images byte by byte for tests, with every field open to corruption.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace quantlm::test {

// A little-endian byte appender.
class Bytes {
 public:
  Bytes& u8(std::uint8_t v) { return raw(&v, 1); }
  Bytes& u16(std::uint16_t v) { return raw(&v, 2); }
  Bytes& u32(std::uint32_t v) { return raw(&v, 4); }
  Bytes& u64(std::uint64_t v) { return raw(&v, 8); }
  Bytes& f32(float v) { return raw(&v, 4); }
  Bytes& f64(double v) { return raw(&v, 8); }
  // A GGUF string: uint64 length, then the bytes.
  Bytes& str(std::string_view s) {
    u64(s.size());
    return raw(s.data(), s.size());
  }
  Bytes& raw(const void* p, std::size_t n);

  [[nodiscard]] const std::vector<std::byte>& data() const { return data_; }
  [[nodiscard]] std::size_t size() const { return data_.size(); }

 private:
  std::vector<std::byte> data_;
};

// One key-value as written: the key, the uint32 type id and the bytes after it.
struct RawKv {
  std::string key;
  std::uint32_t type = 0;
  std::vector<std::byte> payload;
};

RawKv kv_u8(std::string key, std::uint8_t v);
RawKv kv_u32(std::string key, std::uint32_t v);
RawKv kv_f32(std::string key, float v);
RawKv kv_bool_raw(std::string key, std::uint8_t byte);
RawKv kv_string(std::string key, std::string_view v);
// An array header (element type, count) followed by `items` as given.
RawKv kv_array(std::string key, std::uint32_t element_type, std::uint64_t count, const Bytes& items);

// One tensor info as written. Unset optionals take their consistent values.
struct RawTensor {
  std::string name;
  std::vector<std::uint64_t> ne;        // innermost first
  std::uint32_t type = 0;               // ggml type id
  std::optional<std::uint32_t> n_dims;  // written instead of ne.size()
  std::optional<std::uint64_t> offset;  // llama.cpp's back-to-back layout when unset
};

// A whole file. build() lays the data out like llama.cpp (header, padding,
// each tensor padded to `alignment`) and fills tensor i's bytes with a pattern
// depending on i, so tests can check which bytes a view points at. Tensors of
// unknown types or absurd sizes get no data.
struct GgufImage {
  std::uint32_t magic = 0x46554747;
  std::uint32_t version = 3;
  std::optional<std::uint64_t> tensor_count;  // written instead of tensors.size()
  std::optional<std::uint64_t> kv_count;      // written instead of kvs.size()
  std::vector<RawKv> kvs;
  std::vector<RawTensor> tensors;
  std::uint64_t alignment = 32;  // layout only: add a general.alignment kv to declare it

  [[nodiscard]] std::vector<std::byte> build() const;
  // Byte size of tensor i from the formats/ table (0 when its type is unknown or its size absurd).
  [[nodiscard]] std::uint64_t tensor_bytes(std::size_t i) const;
};

// The pattern byte j of tensor i holds.
[[nodiscard]] std::byte pattern_byte(std::size_t tensor, std::size_t j);

// A valid image with three metadata keys (one a string array) and three
// tensors: "a" F32 [4, 3], "b" Q4_0 [64, 2], "c" F16 [5].
[[nodiscard]] GgufImage small_valid_image();

// Whole-file helpers (throw std::runtime_error on failure).
[[nodiscard]] std::vector<std::byte> read_file_bytes(const std::filesystem::path& path);
void write_file_bytes(const std::filesystem::path& path, std::span<const std::byte> bytes);

}  // namespace quantlm::test
