// An owning, move-only array with a chosen alignment (64 bytes by default) for SIMD kernels and packed weights.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <new>
#include <span>
#include <type_traits>
#include <utility>

namespace quantlm {

// Whether a new AlignedBuffer's bytes are zeroed. Uninitialized suits buffers
// that are fully overwritten at once (a packed weight, a conversion output).
enum class BufferInit : std::uint8_t { zero, uninitialized };

// `size` elements of T at an address that is a multiple of `alignment`.
// 64 bytes is a cache line and a full zmm register, so aligned loads never
// split a line and rows packed at multiples of 64 stay aligned. T must be
// trivial (bytes, numbers, block structs): elements are not constructed or
// destroyed, only zeroed on request. An empty buffer holds no memory and
// data() is null. Use AlignedBuffer<> (std::byte) for raw bytes.
template <typename T = std::byte>
class AlignedBuffer {
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_default_constructible_v<T>,
                "AlignedBuffer holds trivial types only");

 public:
  static constexpr std::size_t kDefaultAlignment = 64;

  AlignedBuffer() = default;

  // Throws std::bad_alloc when the memory is not available. `alignment` is a
  // power of two no smaller than alignof(T).
  explicit AlignedBuffer(std::size_t size, BufferInit init = BufferInit::zero,
                         std::size_t alignment = kDefaultAlignment)
      : size_(size), alignment_(alignment) {
    assert(alignment >= alignof(T) && (alignment & (alignment - 1)) == 0);
    if (size == 0) return;
    if (size > std::numeric_limits<std::size_t>::max() / sizeof(T)) throw std::bad_array_new_length();
    data_ = static_cast<T*>(::operator new (size * sizeof(T), std::align_val_t{alignment}));
    if (init == BufferInit::zero) std::memset(data_, 0, size * sizeof(T));
  }

  AlignedBuffer(AlignedBuffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)),
        alignment_(other.alignment_) {}

  AlignedBuffer& operator=(AlignedBuffer&& other) noexcept {
    if (this != &other) {
      release();
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
      alignment_ = other.alignment_;
    }
    return *this;
  }

  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer() { release(); }

  [[nodiscard]] T* data() { return data_; }
  [[nodiscard]] const T* data() const { return data_; }
  [[nodiscard]] std::size_t size() const { return size_; }
  [[nodiscard]] std::size_t size_bytes() const { return size_ * sizeof(T); }
  [[nodiscard]] bool empty() const { return size_ == 0; }
  [[nodiscard]] std::size_t alignment() const { return alignment_; }

  [[nodiscard]] T& operator[](std::size_t i) {
    assert(i < size_);
    return data_[i];
  }
  [[nodiscard]] const T& operator[](std::size_t i) const {
    assert(i < size_);
    return data_[i];
  }

  [[nodiscard]] T* begin() { return data_; }
  [[nodiscard]] T* end() { return data_ + size_; }
  [[nodiscard]] const T* begin() const { return data_; }
  [[nodiscard]] const T* end() const { return data_ + size_; }

  [[nodiscard]] std::span<T> span() { return {data_, size_}; }
  [[nodiscard]] std::span<const T> span() const { return {data_, size_}; }
  [[nodiscard]] std::span<std::byte> bytes() { return std::as_writable_bytes(span()); }
  [[nodiscard]] std::span<const std::byte> bytes() const { return std::as_bytes(span()); }

 private:
  void release() noexcept {
    if (data_ != nullptr) ::operator delete (data_, std::align_val_t{alignment_});
    data_ = nullptr;
    size_ = 0;
  }

  T* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t alignment_ = kDefaultAlignment;
};

}  // namespace quantlm
