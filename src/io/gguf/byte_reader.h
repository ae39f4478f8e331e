// A bounds-checked little-endian cursor over a byte span: reads either succeed or leave it unchanged.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <type_traits>

namespace quantlm::gguf {

static_assert(std::endian::native == std::endian::little,
              "GGUF is little-endian; the readers copy values without swapping bytes");
// File offsets and sizes are uint64 in GGUF and size_t in memory; 64-bit hosts only, so they convert freely.
static_assert(sizeof(std::size_t) == sizeof(std::uint64_t), "quantlm needs a 64-bit size_t");

// Every read checks the remaining length first and reports failure instead of
// reading past the end, so callers cannot overrun the buffer whatever the
// input says; the callers turn a failure into an error naming the field.
class ByteReader {
 public:
  explicit ByteReader(std::span<const std::byte> bytes) : bytes_(bytes) {}

  [[nodiscard]] std::size_t offset() const { return offset_; }
  [[nodiscard]] std::size_t size() const { return bytes_.size(); }
  [[nodiscard]] std::size_t remaining() const { return bytes_.size() - offset_; }

  // A trivially copyable scalar (integers, float, double), little-endian.
  template <typename T>
  [[nodiscard]] bool read(T& out) {
    static_assert(std::is_trivially_copyable_v<T> && std::is_arithmetic_v<T>);
    if (sizeof(T) > remaining()) return false;
    std::memcpy(&out, bytes_.data() + offset_, sizeof(T));  // memcpy: the data need not be aligned
    offset_ += sizeof(T);
    return true;
  }

  // `n` raw bytes as a view into the buffer.
  [[nodiscard]] bool read_bytes(std::uint64_t n, std::span<const std::byte>& out) {
    if (n > remaining()) return false;
    out = bytes_.subspan(offset_, n);
    offset_ += n;
    return true;
  }

  [[nodiscard]] bool read_chars(std::uint64_t n, std::string_view& out) {
    std::span<const std::byte> raw;
    if (!read_bytes(n, raw)) return false;
    out = std::string_view(reinterpret_cast<const char*>(raw.data()), raw.size());
    return true;
  }

 private:
  std::span<const std::byte> bytes_;
  std::size_t offset_ = 0;
};

}  // namespace quantlm::gguf
