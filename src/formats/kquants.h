// Typed codecs of the K-quants (Q2_K..Q6_K, Q8_K) and IQ4_XS: per super-block for kernels, per row for the table.
#pragma once

#include <cstddef>
#include <cstdint>

#include "formats/blocks_k.h"

namespace quantlm::formats {

// The quantizers are llama.cpp's deterministic reference algorithms (what
// llama-quantize writes without an importance matrix): the same searches,
// rounding (to nearest, ties to even) and float operation order, so the same
// input gives the same bytes; the zoo GGUF files are the test vectors.
//   Q2_K        per 16 values an |x|-weighted absolute-error fit of scale and
//               min over 16 trial grids; 4-bit sub-scales and sub-mins
//   Q3_K        per 16 values an x^2-weighted symmetric fit refined by moving
//               single levels; 6-bit signed sub-scales
//   Q4_K, Q5_K  per 32 values a (|x| + rms)-weighted squared-error fit of
//               scale and min over 21 / 16 trial grids; 6-bit sub-scales/mins
//   Q6_K        per 16 values an x^2-weighted symmetric fit over 19 trial
//               scales; int8 sub-scales
//   Q8_K        q = round(-127 x / (value of largest magnitude))
//   IQ4_XS      per 32 values an x^2-weighted least-squares scale over 16
//               trial grids on the IQ4 codebook; 6-bit signed sub-scales
// Every value is finally re-rounded against the scales as stored (fp16 super
// scale times the integer sub-scale), except IQ4_XS, which like llama.cpp
// rounds against its fp32 step and stores only d in fp16.

// One super-block: `dst`/`x` point at kQK = 256 floats.
void dequantize_block(const BlockQ2K& b, float* dst);
void dequantize_block(const BlockQ3K& b, float* dst);
void dequantize_block(const BlockQ4K& b, float* dst);
void dequantize_block(const BlockQ5K& b, float* dst);
void dequantize_block(const BlockQ6K& b, float* dst);
void dequantize_block(const BlockQ8K& b, float* dst);
void dequantize_block(const BlockIQ4XS& b, float* dst);

[[nodiscard]] BlockQ2K quantize_block_q2_k(const float* x);
[[nodiscard]] BlockQ3K quantize_block_q3_k(const float* x);
[[nodiscard]] BlockQ4K quantize_block_q4_k(const float* x);
[[nodiscard]] BlockQ5K quantize_block_q5_k(const float* x);
[[nodiscard]] BlockQ6K quantize_block_q6_k(const float* x);
[[nodiscard]] BlockQ8K quantize_block_q8_k(const float* x);
[[nodiscard]] BlockIQ4XS quantize_block_iq4_xs(const float* x);

// Rows: n values, n a multiple of kQK, in n / kQK blocks. Inputs must be finite.
void dequantize_row_q2_k(const BlockQ2K* x, float* y, std::int64_t n);
void dequantize_row_q3_k(const BlockQ3K* x, float* y, std::int64_t n);
void dequantize_row_q4_k(const BlockQ4K* x, float* y, std::int64_t n);
void dequantize_row_q5_k(const BlockQ5K* x, float* y, std::int64_t n);
void dequantize_row_q6_k(const BlockQ6K* x, float* y, std::int64_t n);
void dequantize_row_q8_k(const BlockQ8K* x, float* y, std::int64_t n);
void dequantize_row_iq4_xs(const BlockIQ4XS* x, float* y, std::int64_t n);

void quantize_row_q2_k_ref(const float* x, BlockQ2K* y, std::int64_t n);
void quantize_row_q3_k_ref(const float* x, BlockQ3K* y, std::int64_t n);
void quantize_row_q4_k_ref(const float* x, BlockQ4K* y, std::int64_t n);
void quantize_row_q5_k_ref(const float* x, BlockQ5K* y, std::int64_t n);
void quantize_row_q6_k_ref(const float* x, BlockQ6K* y, std::int64_t n);
void quantize_row_q8_k_ref(const float* x, BlockQ8K* y, std::int64_t n);
void quantize_row_iq4_xs_ref(const float* x, BlockIQ4XS* y, std::int64_t n);

// Q8_K's byte-level entries for the traits table. Its block is aligned, not
// packed, so these copy each block through an aligned temporary instead of
// casting the byte pointer (row_codec.h's erase_* casts only packed blocks).
void dequantize_q8_k_bytes(const std::byte* src, float* y, std::int64_t n);
void quantize_q8_k_bytes(const float* x, std::byte* dst, std::int64_t n);

}  // namespace quantlm::formats
