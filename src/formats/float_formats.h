// Rows of the unquantized weight formats F32, F16 and BF16, converted to and from float through core/half.h.
#pragma once

#include <cstddef>
#include <cstdint>

namespace quantlm::formats {

// Typed rows of n values; fp16 and bf16 values are raw bit patterns. Narrowing
// rounds to nearest, ties to even (llama.cpp's GGML_FP32_TO_FP16 and
// GGML_FP32_TO_BF16 do the same, so converted files match byte for byte).
void dequantize_row_f16(const std::uint16_t* x, float* y, std::int64_t n);
void quantize_row_f16(const float* x, std::uint16_t* y, std::int64_t n);
void dequantize_row_bf16(const std::uint16_t* x, float* y, std::int64_t n);
void quantize_row_bf16(const float* x, std::uint16_t* y, std::int64_t n);

// Byte-level entries for the traits table. They accept any alignment: tensor
// data in a GGUF mapping is aligned, but a view into another buffer may not be.
void dequantize_f32_bytes(const std::byte* src, float* dst, std::int64_t n);
void quantize_f32_bytes(const float* src, std::byte* dst, std::int64_t n);
void dequantize_f16_bytes(const std::byte* src, float* dst, std::int64_t n);
void quantize_f16_bytes(const float* src, std::byte* dst, std::int64_t n);
void dequantize_bf16_bytes(const std::byte* src, float* dst, std::int64_t n);
void quantize_bf16_bytes(const float* src, std::byte* dst, std::int64_t n);

}  // namespace quantlm::formats
