// Typed row codecs of ggml's 32-value formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, IQ4_NL).
#pragma once

#include <cstdint>

#include "formats/blocks_legacy.h"

namespace quantlm::formats {

// Every function takes a row of `n` values, n a multiple of kLegacyBlock, and
// n / kLegacyBlock blocks. Inputs must be finite.
//
// The quantizers are llama.cpp's deterministic reference algorithms, byte for
// byte (the zoo GGUF files written by llama-quantize are the test vectors):
//   Q4_0, Q5_0  d = (the value of largest magnitude) / -8 or / -16, so that
//               value maps exactly onto the extreme level -8 or -16 (which has
//               no positive twin; the sign of d picks the side it lands on)
//   Q4_1, Q5_1  d = (max - min) / 15 or / 31, m = min
//   Q8_0, Q8_1  d = max |x| / 127, q = round(x / d), halves away from zero
// Codes are computed from the fp32 scale; only the stored scale is rounded to
// fp16, as llama.cpp does.
void quantize_row_q4_0(const float* x, BlockQ4_0* y, std::int64_t n);
void quantize_row_q4_1(const float* x, BlockQ4_1* y, std::int64_t n);
void quantize_row_q5_0(const float* x, BlockQ5_0* y, std::int64_t n);
void quantize_row_q5_1(const float* x, BlockQ5_1* y, std::int64_t n);
void quantize_row_q8_0(const float* x, BlockQ8_0* y, std::int64_t n);
void quantize_row_q8_1(const float* x, BlockQ8_1* y, std::int64_t n);

// IQ4_NL as llama-quantize writes it without an importance matrix: per block,
// a least-squares scale weighted by x², refined over 15 candidate scales
// (ggml's quantize_iq4_nl with no quant weights). This is *not* ggml's
// quantize_row_iq4_nl_ref, which skips the search; see legacy_quants.cpp.
void quantize_row_iq4_nl(const float* x, BlockIQ4_NL* y, std::int64_t n);

void dequantize_row_q4_0(const BlockQ4_0* x, float* y, std::int64_t n);
void dequantize_row_q4_1(const BlockQ4_1* x, float* y, std::int64_t n);
void dequantize_row_q5_0(const BlockQ5_0* x, float* y, std::int64_t n);
void dequantize_row_q5_1(const BlockQ5_1* x, float* y, std::int64_t n);
void dequantize_row_q8_0(const BlockQ8_0* x, float* y, std::int64_t n);
// Ignores s (a cached sum); decodes d * q like Q8_0.
void dequantize_row_q8_1(const BlockQ8_1* x, float* y, std::int64_t n);
void dequantize_row_iq4_nl(const BlockIQ4_NL* x, float* y, std::int64_t n);

}  // namespace quantlm::formats
