// Layout rules the GGUF reader and writer share: limits, alignment and tensor byte sizes.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "formats/format_traits.h"

namespace quantlm::gguf::layout {

// The same caps llama.cpp's gguf.cpp applies (GGUF_MAX_STRING_LENGTH,
// GGUF_MAX_ARRAY_ELEMENTS, GGML_MAX_NAME, GGML_MAX_DIMS), so that a file one
// side accepts the other accepts too.
inline constexpr std::uint64_t kMaxStringBytes = std::uint64_t{1} << 30;
inline constexpr std::uint64_t kMaxArrayItems = std::uint64_t{1} << 30;
inline constexpr std::uint64_t kMaxTensorNameBytes = 63;  // GGML_MAX_NAME is 64 with the terminating NUL
inline constexpr std::uint32_t kMaxDims = 4;

// Smallest encodings, used to bound counts by the bytes left in the file before
// anything is allocated: a key-value is a non-empty key (8 + 1) + type (4) + a
// one-byte value; a tensor info is an empty name (8) + n_dims (4) + type (4) + offset (8).
inline constexpr std::uint64_t kMinKeyValueBytes = 8 + 1 + 4 + 1;
inline constexpr std::uint64_t kMinTensorInfoBytes = 8 + 4 + 4 + 8;

[[nodiscard]] constexpr bool is_valid_alignment(std::uint64_t a) { return a != 0 && (a & (a - 1)) == 0; }

// Rounds x up to a multiple of the power of two a; the caller guarantees x + a - 1 fits.
[[nodiscard]] constexpr std::uint64_t align_up(std::uint64_t x, std::uint64_t a) { return (x + a - 1) & ~(a - 1); }

// Checks dimensions `ne` (GGUF order, innermost first) against `format` and
// computes the tensor's size in bytes. Returns an empty string on success,
// otherwise what is wrong (the caller adds the file and tensor name):
// negative dimensions (as int64), a row length the format cannot hold (not a
// whole number of blocks for ggml's types), and sizes that overflow int64.
// Row sizes come from FormatTraits::row_bytes_checked, so quantlm's per-row
// headers and ragged last groups are counted. Zero dimensions are accepted
// (llama.cpp reads zero-element tensors too), but the products are checked
// over the nonzero dimensions, so that whatever a Shape or TensorView of the
// tensor multiplies (rows(), elements(), row_bytes(), bytes()) fits in int64.
[[nodiscard]] std::string tensor_bytes(std::span<const std::uint64_t> ne, const formats::FormatTraits& format,
                                       std::uint64_t& bytes);

// "[64, 512]": dimensions as stored, for messages.
[[nodiscard]] std::string dims_to_string(std::span<const std::uint64_t> ne);

}  // namespace quantlm::gguf::layout
