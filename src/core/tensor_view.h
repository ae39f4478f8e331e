// Non-owning views of tensor data: shape, byte strides and element type (float or opaque blocks).
#pragma once

#include <array>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <string>

namespace quantlm {

// How the innermost dimension is stored. Quantized formats are opaque to core:
// a row is a sequence of fixed-size blocks, each holding block_elems values,
// or (row-level layouts) a size that Storage::row_bytes_fn computes.
enum class ElementType : std::uint8_t { f32, f16, bf16, blocks };

// Up to four dimensions, outermost first (row-major): a weight matrix with
// `rows` output features of `cols` inputs has shape {rows, cols}. GGUF stores
// the reverse order (innermost first); io/ converts at the edge.
struct Shape {
  static constexpr int kMaxRank = 4;
  std::array<std::int64_t, kMaxRank> dims{};
  int rank = 0;

  [[nodiscard]] std::int64_t operator[](int i) const { return dims[static_cast<std::size_t>(i)]; }
  [[nodiscard]] std::int64_t innermost() const { return rank == 0 ? 1 : dims[static_cast<std::size_t>(rank - 1)]; }
  // Product of all dimensions but the innermost: the number of rows.
  [[nodiscard]] std::int64_t rows() const {
    std::int64_t n = 1;
    for (int i = 0; i + 1 < rank; ++i) n *= dims[static_cast<std::size_t>(i)];
    return n;
  }
  [[nodiscard]] std::int64_t elements() const { return rows() * innermost(); }
  [[nodiscard]] std::string to_string() const;
  friend bool operator==(const Shape&, const Shape&) = default;
};

// Bytes of a row of n values for row-level layouts; -1 when n < 0 or the size
// overflows int64 (formats::RowBytesFn, which fills it).
using StorageRowBytesFn = std::int64_t (*)(std::int64_t n);

// Storage of one element type: block_elems values in block_bytes bytes
// (1 and 4 for f32; 32 and 18 for a Q4_0-style block). Row-level layouts
// (quantlm's per-row and ragged group formats) set row_bytes_fn: their rows
// are not a whole number of blocks, and any length is valid.
struct Storage {
  ElementType type = ElementType::f32;
  std::uint32_t format_id = 0;  // persisted format id (formats/), opaque here
  std::int64_t block_elems = 1;
  std::int64_t block_bytes = 4;
  StorageRowBytesFn row_bytes_fn = nullptr;  // nullptr: rows are whole blocks

  // Bytes of a row of `cols` values (a valid length: asserts).
  [[nodiscard]] std::int64_t row_bytes(std::int64_t cols) const {
    if (row_bytes_fn != nullptr) {
      const std::int64_t bytes = row_bytes_fn(cols);
      assert(bytes >= 0);
      return bytes;
    }
    assert(cols % block_elems == 0);
    return cols / block_elems * block_bytes;
  }
};

// A read-only view of a tensor whose rows are contiguous and equally spaced.
// The innermost dimension is packed (elements or blocks); row_stride is the
// distance in bytes between consecutive rows (>= row_bytes()). Code that
// walks rows must use row_stride (or row()), never cols / block_elems.
struct TensorView {
  const std::byte* data = nullptr;
  Shape shape;
  Storage storage;
  std::int64_t row_stride = 0;

  [[nodiscard]] std::int64_t row_bytes() const { return storage.row_bytes(shape.innermost()); }
  [[nodiscard]] const std::byte* row(std::int64_t i) const { return data + i * row_stride; }
  [[nodiscard]] std::int64_t bytes() const { return shape.rows() * row_bytes(); }
  [[nodiscard]] bool contiguous() const { return row_stride == row_bytes(); }
};

// A view with tightly packed rows.
[[nodiscard]] TensorView make_contiguous_view(const std::byte* data, const Shape& shape, const Storage& storage);

}  // namespace quantlm
