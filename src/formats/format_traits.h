// The one traits table of tensor formats: persisted id, name and block layout drive every other layer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "core/tensor_view.h"

namespace quantlm::formats {

// Persisted format ids. Values below 1000 are ggml's type ids and are never
// renumbered (files store them); quantlm's own formats take ids from
// kFirstQuantlmId up, far from ggml's range so the two never collide.
// Ids ggml retired (4, 5, 31-33, 36-38) are absent on purpose.
// clang-format off: one line per id range reads better than one id per line.
enum class FormatId : std::uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
};
// clang-format on
inline constexpr std::uint32_t kFirstQuantlmId = 1000;

// Where a format comes from, which says which tools can read a file using it.
enum class Origin : std::uint8_t { ggml, quantlm };

// Row functions. `n` is the number of values in the row and a multiple of the
// format's block_elems; `dst`/`src` hold n / block_elems blocks.
using DequantizeRowFn = void (*)(const std::byte* src, float* dst, std::int64_t n);
// The deterministic reference quantizer (no importance weights). For ggml
// types it reproduces llama.cpp's `_ref` output byte for byte where the tests
// say so (zoo files are the test vectors).
using QuantizeRowFn = void (*)(const float* src, std::byte* dst, std::int64_t n);

// Everything quantlm knows about one format. Later layers add their entries
// (dequantize, quantize, dot kernel) to this record, never a parallel list.
struct FormatTraits {
  FormatId id;
  std::string_view name;     // as llama.cpp spells it ("Q4_K", "F16")
  std::int64_t block_elems;  // values per block (1 for plain scalars)
  std::int64_t block_bytes;  // bytes per block, scales included
  ElementType element_type;  // f32 / f16 / bf16, or opaque blocks
  Origin origin;
  bool is_float_weight;                  // usable as an unquantized weight (F32, F16, BF16)
  DequantizeRowFn dequantize = nullptr;  // nullptr: the bytes can be read and copied, not decoded
  QuantizeRowFn quantize_ref = nullptr;  // nullptr: quantlm cannot produce this format

  [[nodiscard]] double bits_per_weight() const {
    return 8.0 * static_cast<double>(block_bytes) / static_cast<double>(block_elems);
  }
  [[nodiscard]] Storage storage() const {
    return Storage{element_type, static_cast<std::uint32_t>(id), block_elems, block_bytes};
  }
};

// The table, in id order.
[[nodiscard]] std::span<const FormatTraits> all_formats();
// nullptr for an id quantlm does not know (the caller reports it with context).
[[nodiscard]] const FormatTraits* find_format(std::uint32_t id);
// Case-insensitive lookup by name; nullptr when unknown.
[[nodiscard]] const FormatTraits* find_format(std::string_view name);
// Lookup of an id known to be valid (asserts).
[[nodiscard]] const FormatTraits& traits(FormatId id);

}  // namespace quantlm::formats
