// Row codecs of quantlm's own formats: groups sharing a scale (with a ragged last group) or one scale per row.
#pragma once

#include <cstddef>
#include <cstdint>

#include "formats/blocks_quantlm.h"
#include "formats/scale_search.h"

namespace quantlm::formats {

// Layouts are described in blocks_quantlm.h. `group` is the number of values
// sharing a header; 0 means the whole row (fp32 header). Rows may have any
// length n >= 0; a call covers a whole row (or, for group formats, a run of
// whole groups). Inputs must be finite.

// Bytes of a row of n values; -1 when that overflows int64 or n < 0.
[[nodiscard]] std::int64_t grouped_row_bytes(const Grid& grid, std::int64_t group, std::int64_t n);
void dequantize_grouped(const Grid& grid, std::int64_t group, const std::byte* src, float* dst, std::int64_t n);
void quantize_grouped(const Grid& grid, std::int64_t group, const float* src, std::byte* dst, std::int64_t n,
                      const RowQuantizeOptions& options);
// Multiplies every stored scale and offset by `factor` (re-rounded to its precision).
void rescale_grouped(const Grid& grid, std::int64_t group, std::byte* row, std::int64_t n, float factor);

// The same with the layout fixed at compile time, so the traits table can
// store plain function pointers.
template <const Grid& G, int Group>
std::int64_t grouped_row_bytes_fn(std::int64_t n) {
  return grouped_row_bytes(G, Group, n);
}
template <const Grid& G, int Group>
void dequantize_grouped_fn(const std::byte* src, float* dst, std::int64_t n) {
  dequantize_grouped(G, Group, src, dst, n);
}
template <const Grid& G, int Group>
void quantize_grouped_fn(const float* src, std::byte* dst, std::int64_t n, const RowQuantizeOptions& options) {
  quantize_grouped(G, Group, src, dst, n, options);
}
// The reference quantizer: the grid's default scale (min-max, or absmean for
// binary and ternary), no importance.
template <const Grid& G, int Group>
void quantize_grouped_ref_fn(const float* src, std::byte* dst, std::int64_t n) {
  RowQuantizeOptions options;
  options.search.method = G.default_search;
  quantize_grouped(G, Group, src, dst, n, options);
}
template <const Grid& G, int Group>
void rescale_grouped_fn(std::byte* row, std::int64_t n, float factor) {
  rescale_grouped(G, Group, row, n, factor);
}

// Values per block and bytes per block as the traits table records them: a
// full group (the GroupBlock struct) for group formats; for per-row formats
// the smallest whole number of code bytes (1 value per byte at 8 bits, 2 at
// 4, 8 in 3 bytes at 3), the fp32 header coming on top of every row.
template <const Grid& G, int Group>
constexpr std::int64_t grouped_block_elems() {
  if constexpr (Group > 0) return Group;
  return G.bits == 3 ? 8 : 8 / G.bits;
}
template <const Grid& G, int Group>
constexpr std::int64_t grouped_block_bytes() {
  if constexpr (Group > 0) {
    return sizeof(GroupBlock<G.bits, Group, G.affine>);
  } else {
    return grouped_block_elems<G, Group>() * G.bits / 8;
  }
}

}  // namespace quantlm::formats
