// Searched and importance-weighted quantizers for ggml's 32-value types, and scale rescaling for ggml's block types.
#pragma once

#include <cstddef>
#include <cstdint>

#include "formats/scale_search.h"

namespace quantlm::formats {

// Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and IQ4_NL with a scale search and importance
// weights (formats/scale_search.h), writing llama.cpp's standard blocks, so
// llama.cpp loads the result. Each 32-value block gets its own search over
// the format's levels; codes are chosen against the stored fp16 scale. Rows
// are n values, n a multiple of 32. They are not meant to reproduce
// llama.cpp's reference bytes: quantize_ref does that.
void quantize_q4_0_with(const float* src, std::byte* dst, std::int64_t n, const RowQuantizeOptions& options);
void quantize_q4_1_with(const float* src, std::byte* dst, std::int64_t n, const RowQuantizeOptions& options);
void quantize_q5_0_with(const float* src, std::byte* dst, std::int64_t n, const RowQuantizeOptions& options);
void quantize_q5_1_with(const float* src, std::byte* dst, std::int64_t n, const RowQuantizeOptions& options);
void quantize_q8_0_with(const float* src, std::byte* dst, std::int64_t n, const RowQuantizeOptions& options);
void quantize_iq4_nl_with(const float* src, std::byte* dst, std::int64_t n, const RowQuantizeOptions& options);

// Multiplies the fp16 scale(s) of every block of a row by `factor`, which
// scales every decoded value by it (up to the fp16 rounding of each scale):
// d (and m) for the legacy types, d and dmin for the K-quants' super-blocks.
// BlockBytes is the block size; DOffset / MOffset the byte offsets of the fp16
// scales (MOffset < 0: none). The row holds n / BlockElems blocks.
void rescale_fp16_at(std::byte* p, float factor);

template <std::int64_t BlockElems, std::int64_t BlockBytes, std::int64_t DOffset, std::int64_t MOffset = -1>
void rescale_blocks_fn(std::byte* row, std::int64_t n, float factor) {
  for (std::int64_t b = 0; b < n / BlockElems; ++b) {
    std::byte* block = row + b * BlockBytes;
    rescale_fp16_at(block + DOffset, factor);
    if constexpr (MOffset >= 0) rescale_fp16_at(block + MOffset, factor);
  }
}

}  // namespace quantlm::formats
