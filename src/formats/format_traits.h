// The one traits table of tensor formats: persisted id, name and block layout drive every other layer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "core/tensor_view.h"
#include "formats/scale_search.h"

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
  // quantlm's own formats (docs/FORMATS.md). Integers: I<bits>_<granularity>
  // with ROW (one fp32 scale per row) or G<n> (one fp16 scale per n values,
  // the last group ragged), "A" for affine (scale and offset).
  // clang-format off
  I8_ROW = 1000, I8_ROWA = 1001, I8_G32 = 1002, I8_G32A = 1003,
  I8_G64 = 1004, I8_G64A = 1005, I8_G128 = 1006, I8_G128A = 1007,
  I4_ROW = 1008, I4_ROWA = 1009, I4_G32 = 1010, I4_G32A = 1011,
  I4_G64 = 1012, I4_G64A = 1013, I4_G128 = 1014, I4_G128A = 1015,
  I3_ROW = 1016, I3_ROWA = 1017, I3_G32 = 1018, I3_G32A = 1019,
  I3_G64 = 1020, I3_G64A = 1021, I3_G128 = 1022, I3_G128A = 1023,
  I2_ROW = 1024, I2_ROWA = 1025, I2_G32 = 1026, I2_G32A = 1027,
  I2_G64 = 1028, I2_G64A = 1029, I2_G128 = 1030, I2_G128A = 1031,
  NF4_G64 = 1032,     // QLoRA's NormalFloat-4 levels, absmax scale
  LOG2_4_G32 = 1033,  // sign and 3-bit exponent: +-2^-e, e in 0..7
  FP8_G32 = 1034,     // FP8 E4M3 (fn) codes under a per-group scale
  BIN_G32 = 1035,     // sign, scale mean |x| (XNOR-Net)
  BIN_ROW = 1036,
  TERN_G32 = 1037,    // {-1, 0, +1}, scale mean |x| (BitNet b1.58's absmean)
  TERN_ROW = 1038,
  // clang-format on
};
// clang-format on
inline constexpr std::uint32_t kFirstQuantlmId = 1000;

// Where a format comes from, which says which tools can read a file using it.
enum class Origin : std::uint8_t { ggml, quantlm };

// Row functions. `n` is the number of values in the row: a multiple of the
// format's block_elems for block formats, any length for row-level formats
// (row_bytes_fn set), whose calls must cover whole rows.
using DequantizeRowFn = void (*)(const std::byte* src, float* dst, std::int64_t n);
// The deterministic reference quantizer (no importance weights). For ggml
// types it reproduces llama.cpp's `_ref` output byte for byte where the tests
// say so (zoo files are the test vectors).
using QuantizeRowFn = void (*)(const float* src, std::byte* dst, std::int64_t n);
// Quantizes with a scale search, importance weights or a fixed scale.
using QuantizeRowWithFn = void (*)(const float* src, std::byte* dst, std::int64_t n, const RowQuantizeOptions& options);
// Multiplies every decoded value of a stored row by `factor`, by scaling the
// stored scales (and offsets), each re-rounded to its stored precision.
using RescaleRowFn = void (*)(std::byte* row, std::int64_t n, float factor);
// Bytes of a row of n values for row-level layouts; -1 when n < 0 or the size overflows int64.
using RowBytesFn = StorageRowBytesFn;

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
  // Row-level layout (quantlm's group and per-row formats): rows of any length,
  // a ragged last group, or a per-row header. nullptr: rows are whole blocks.
  RowBytesFn row_bytes_fn = nullptr;
  QuantizeRowWithFn quantize = nullptr;  // nullptr: only quantize_ref (no search, importance or fixed scale)
  RescaleRowFn rescale = nullptr;        // nullptr: no scale correction can be folded in
  const Grid* grid = nullptr;            // the levels the codes decode to, for searchable formats
  // Searchable formats: values sharing one scale (32 for ggml's legacy types,
  // n for quantlm's G<n> formats, the last group ragged); 0 for per-row formats.
  std::int64_t group = 0;

  // Per full block. For per-row formats, block_elems / block_bytes count code
  // bytes only and the fp32 row header comes on top: bits_per_weight(cols) is exact.
  [[nodiscard]] double bits_per_weight() const {
    return 8.0 * static_cast<double>(block_bytes) / static_cast<double>(block_elems);
  }
  // Bits per weight of a row of `cols` values, headers and ragged groups included.
  [[nodiscard]] double bits_per_weight(std::int64_t cols) const;
  // Whether a row of `cols` values can be stored: any cols >= 0 for row-level
  // layouts, a multiple of block_elems otherwise.
  [[nodiscard]] bool row_length_ok(std::int64_t cols) const {
    return cols >= 0 && (row_bytes_fn != nullptr || cols % block_elems == 0);
  }
  // Bytes of a row of `cols` values; nullopt when !row_length_ok(cols) or the
  // size overflows int64. For untrusted sizes (file readers and writers).
  [[nodiscard]] std::optional<std::int64_t> row_bytes_checked(std::int64_t cols) const;
  // The same for a row length known to be valid (asserts).
  [[nodiscard]] std::int64_t row_bytes(std::int64_t cols) const;
  [[nodiscard]] Storage storage() const {
    return Storage{element_type, static_cast<std::uint32_t>(id), block_elems, block_bytes, row_bytes_fn};
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
