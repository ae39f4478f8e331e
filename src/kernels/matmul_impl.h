// Internal to kernels/: the row kernels and activation packers behind the registry, per ISA.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/matmul.h"

namespace quantlm::kernels::detail {

// Where a kernel that computes in f32 finds its activations: the packed copy
// when the kernel's packing produced f32 values (BF16's rounding), else x.
struct F32Activations {
  const float* data;
  std::int64_t stride;  // floats between tokens
};
[[nodiscard]] F32Activations f32_activations(const MatmulArgs& args);

// Packing shared by the BF16 kernels that compute in f32: each activation
// rounded to the nearest bf16 (ties to even) and kept as a float, so products
// with bf16 weights are exact and only the f32 sums round, as with AVX-512
// BF16's vdpbf16ps. Tokens are padded to 64 bytes.
[[nodiscard]] std::int64_t bf16_as_f32_token_bytes(std::int64_t cols);
void pack_bf16_as_f32(const float* x, std::int64_t cols, std::byte* dst);

// Scalar references (always compiled): sequential sums in column order.
void f32_rows_scalar(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end);

// The generic path for any decodable format: dequantizes a panel of rows with
// the format's `dequantize` into a thread-local f32 buffer, then runs F32Rows
// on it. F32Rows is the F32 kernel of the same ISA.
template <RowsFn F32Rows>
void dequantize_rows(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end);

extern template void dequantize_rows<&f32_rows_scalar>(const MatmulArgs&, std::int64_t, std::int64_t);

#if defined(__x86_64__)
// AVX2 + FMA + F16C: 8 columns per step, tiles of 4 rows x 2 tokens.
void f32_rows_avx2(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end);
void f16_rows_avx2(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end);
void bf16_rows_avx2(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end);

// AVX-512 F/BW/VL: 16 columns per step, tiles of 4 rows x 4 tokens (8 x 1 for decode).
void f32_rows_avx512(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end);
void f16_rows_avx512(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end);
void bf16_rows_avx512(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end);

// AVX-512 BF16: vdpbf16ps on bf16 activations (packed below) and bf16 weights.
[[nodiscard]] std::int64_t bf16_token_bytes(std::int64_t cols);
void pack_bf16(const float* x, std::int64_t cols, std::byte* dst);
void bf16_rows_avx512bf16(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end);

extern template void dequantize_rows<&f32_rows_avx2>(const MatmulArgs&, std::int64_t, std::int64_t);
extern template void dequantize_rows<&f32_rows_avx512>(const MatmulArgs&, std::int64_t, std::int64_t);
#endif

}  // namespace quantlm::kernels::detail
