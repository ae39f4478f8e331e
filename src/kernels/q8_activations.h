// Activations quantized per token into blocks of 32 int8 values with an f32 scale, for the legacy integer kernels.
#pragma once

#include <cstddef>
#include <cstdint>

namespace quantlm::kernels {

// One token's packed activations, as llama.cpp's Q8_0/Q8_1 hold them but laid
// out as arrays so SIMD kernels load each kind with plain vector loads:
//   qs[nb * 32]  int8 values, block b at qs + 32 b, q in -127..127
//   d[nb]        f32 scale: x ≈ d · q
//   s[nb]        f32 d · Σq (llama.cpp's Q8_1 sum), for weights with a minimum (Q4_1, Q5_1)
//   sum[nb]      int32 Σq, exact, for kernels that add an offset to the weights
// Unlike llama.cpp the scale stays f32 (it rounds d to fp16), so the only
// rounding is that of each value to int8. Each array starts 64-byte aligned.
struct Q8Token {
  const std::int8_t* qs;
  const float* d;
  const float* s;
  const std::int32_t* sum;
};

inline constexpr std::int64_t kQ8Block = 32;

// Byte offsets of the arrays of a token of `cols` values (a multiple of 32).
struct Q8Layout {
  std::int64_t blocks;
  std::int64_t d_offset, s_offset, sum_offset, bytes;
};
[[nodiscard]] constexpr Q8Layout q8_layout(std::int64_t cols) {
  const auto up64 = [](std::int64_t n) { return (n + 63) / 64 * 64; };
  const std::int64_t nb = cols / kQ8Block;
  const std::int64_t d = up64(nb * kQ8Block);
  const std::int64_t s = d + up64(nb * 4);
  const std::int64_t sum = s + up64(nb * 4);
  return {nb, d, s, sum, sum + up64(nb * 4)};
}

[[nodiscard]] inline Q8Token q8_token(const std::byte* token, std::int64_t cols) {
  const Q8Layout l = q8_layout(cols);
  // NOLINTBEGIN(cppcoreguidelines-pro-type-reinterpret-cast): the arrays of a packed token
  return {reinterpret_cast<const std::int8_t*>(token), reinterpret_cast<const float*>(token + l.d_offset),
          reinterpret_cast<const float*>(token + l.s_offset),
          reinterpret_cast<const std::int32_t*>(token + l.sum_offset)};
  // NOLINTEND(cppcoreguidelines-pro-type-reinterpret-cast)
}

// ActivationPacking hooks: bytes per token, and the quantizer. Per block:
// d = max|x| / 127, q = round-to-nearest-even(x / d) computed as x · (1/d)
// (0 for an all-zero block). The scalar quantizer defines the bytes.
[[nodiscard]] std::int64_t q8_token_bytes(std::int64_t cols);
void pack_q8(const float* x, std::int64_t cols, std::byte* dst);
#if defined(__x86_64__)
// The same bytes with AVX2 and AVX-512 (q8_activations_x86.cpp): IEEE operations in the same order, and
// vcvtps2dq's default rounding is nearest-even.
void pack_q8_avx2(const float* x, std::int64_t cols, std::byte* dst);
void pack_q8_avx512(const float* x, std::int64_t cols, std::byte* dst);
#endif

}  // namespace quantlm::kernels
