// Internal to core/half.cpp: the x86 SIMD row kernels behind the fp16/bf16 row converters.
#pragma once

#if defined(__x86_64__)

#include <cstdint>
#include <span>

namespace quantlm::detail {

// Each kernel needs its Isa level (isa_supported()); spans have equal sizes.
void fp32_to_fp16_avx2(std::span<const float> src, std::span<std::uint16_t> dst);
void fp16_to_fp32_avx2(std::span<const std::uint16_t> src, std::span<float> dst);
void fp32_to_bf16_avx2(std::span<const float> src, std::span<std::uint16_t> dst);
void bf16_to_fp32_avx2(std::span<const std::uint16_t> src, std::span<float> dst);

void fp32_to_fp16_avx512(std::span<const float> src, std::span<std::uint16_t> dst);
void fp16_to_fp32_avx512(std::span<const std::uint16_t> src, std::span<float> dst);
void fp32_to_bf16_avx512(std::span<const float> src, std::span<std::uint16_t> dst);
void bf16_to_fp32_avx512(std::span<const std::uint16_t> src, std::span<float> dst);

}  // namespace quantlm::detail

#endif
