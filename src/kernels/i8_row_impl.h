// Internal to kernels/: dynamic W8A8 for I8_ROW (per-row int8 weights, per-token int8 activations, int32 sums).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/matmul.h"

namespace quantlm::kernels::detail {

// An I8_ROW row: fp32 d, then `cols` codes, code = level + 128 for levels −128..127 (formats/blocks_quantlm.h).
inline constexpr std::int64_t kI8RowHeader = 4;
inline constexpr int kI8RowCodeOffset = 128;

// A packed token: int8 q[cols] zero-padded to a multiple of 64 bytes, then f32 d and int32 Σq. One scale for the
// whole token (per-token dynamic quantization: d = max|x| / 127, q = round-to-nearest-even(x · (1/d))).
[[nodiscard]] constexpr std::int64_t i8_token_codes(std::int64_t cols) { return (cols + 63) / 64 * 64; }
[[nodiscard]] std::int64_t i8_token_bytes(std::int64_t cols);
void pack_i8_token(const float* x, std::int64_t cols, std::byte* dst);

struct I8Token {
  const std::int8_t* qs;
  float d;
  std::int32_t sum;
};
[[nodiscard]] inline I8Token i8_token(const std::byte* p, std::int64_t cols) {
  I8Token t{reinterpret_cast<const std::int8_t*>(p), 0.0F, 0};  // NOLINT(cppcoreguidelines-pro-type-reinterpret-cast)
  std::memcpy(&t.d, p + i8_token_codes(cols), 4);
  std::memcpy(&t.sum, p + i8_token_codes(cols) + 4, 4);
  return t;
}

// Per row and token: isum = Σ level · q (exact int32; rows up to 2^31 / (128 · 127) ≈ 132,000 columns), then
// y = float(isum) · (d_w · d_a). Every path computes exactly this, so results agree bit for bit.
void i8_row_rows_scalar(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end);
#if defined(__x86_64__)
void i8_row_rows_avx2(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end);
void i8_row_rows_avx512vnni(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end);
#endif

}  // namespace quantlm::kernels::detail
