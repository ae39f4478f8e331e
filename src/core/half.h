// fp16 (IEEE binary16) and bf16 conversions: exact scalar references and SIMD row converters.
#pragma once

#include <bit>
#include <cstdint>
#include <span>

#include "core/isa.h"

namespace quantlm {

// The scalar references. Both narrowing conversions round to nearest with
// ties to even, turn overflow into Inf, keep Inf and signed zero, and round
// into and out of subnormals exactly. A NaN stays a NaN of the same sign with
// the quiet bit set and the top payload bits kept: what x86's F16C
// (vcvtps2ph, vcvtph2ps) and llama.cpp's ggml_compute_fp32_to_bf16 produce, so
// hardware paths can be bit-identical to these. Values are uint16_t bit patterns.

[[nodiscard]] constexpr std::uint16_t fp32_to_fp16(float value) {
  const auto bits = std::bit_cast<std::uint32_t>(value);
  const std::uint32_t sign = (bits >> 16) & 0x8000U;
  const std::uint32_t abs = bits & 0x7fffffffU;
  std::uint32_t magnitude = 0;  // below 2^-25, or exactly 2^-25 whose tie goes to even zero
  if (abs > 0x7f800000U) {
    magnitude = 0x7e00U | ((abs >> 13) & 0x3ffU);  // NaN: quiet bit plus the payload's top 10 bits
  } else if (abs >= 0x477ff000U) {
    magnitude = 0x7c00U;  // >= 65520, halfway past the largest half 65504: the tie goes to Inf
  } else if (abs >= 0x38800000U) {
    // Normal half (>= 2^-14): rebias the exponent from 127 to 15, then round
    // away the low 13 mantissa bits; a carry correctly bumps the exponent.
    const std::uint32_t rebiased = abs - 0x38000000U;  // (127 - 15) << 23
    magnitude = (rebiased + 0xfffU + ((rebiased >> 13) & 1U)) >> 13;
  } else if (abs >= 0x33000000U) {
    // Subnormal half, a multiple of 2^-24: the mantissa with its implicit bit
    // shifted right by 14 (float exponent 112) to 24 (exponent 102) places.
    const std::uint32_t shift = 126U - (abs >> 23);
    const std::uint32_t mantissa = (abs & 0x7fffffU) | 0x800000U;
    const std::uint32_t truncated = mantissa >> shift;
    const std::uint32_t rest = mantissa & ((1U << shift) - 1U);
    const std::uint32_t halfway = 1U << (shift - 1U);
    const bool round_up = rest > halfway || (rest == halfway && (truncated & 1U) != 0);
    magnitude = truncated + (round_up ? 1U : 0U);  // 0x3ff + 1 is the smallest normal, correctly
  }
  return static_cast<std::uint16_t>(sign | magnitude);
}

[[nodiscard]] constexpr float fp16_to_fp32(std::uint16_t half) {
  const std::uint32_t sign = (std::uint32_t{half} & 0x8000U) << 16;
  const std::uint32_t exponent = (std::uint32_t{half} >> 10) & 0x1fU;
  const std::uint32_t mantissa = std::uint32_t{half} & 0x3ffU;
  std::uint32_t magnitude = 0;  // zero
  if (exponent == 0x1fU) {
    const std::uint32_t quiet = mantissa != 0 ? 0x400000U : 0U;  // a signalling NaN comes out quiet
    magnitude = 0x7f800000U | quiet | (mantissa << 13);
  } else if (exponent != 0) {
    magnitude = ((exponent + 112U) << 23) | (mantissa << 13);  // rebias 15 -> 127
  } else if (mantissa != 0) {
    // A subnormal half, mantissa * 2^-24, is a normal float: move the leading
    // one up to the implicit bit (bit 10) and lower the exponent to match.
    const auto shift = static_cast<std::uint32_t>(std::countl_zero(mantissa)) - 21U;
    magnitude = ((113U - shift) << 23) | (((mantissa << shift) & 0x3ffU) << 13);
  }
  return std::bit_cast<float>(sign | magnitude);
}

[[nodiscard]] constexpr std::uint16_t fp32_to_bf16(float value) {
  const auto bits = std::bit_cast<std::uint32_t>(value);
  // Rounding a NaN like a number could carry it into Inf (0x7f800001 -> 0x7f80).
  if ((bits & 0x7fffffffU) > 0x7f800000U) return static_cast<std::uint16_t>((bits >> 16) | 0x40U);
  return static_cast<std::uint16_t>((bits + 0x7fffU + ((bits >> 16) & 1U)) >> 16);
}

[[nodiscard]] constexpr float bf16_to_fp32(std::uint16_t bf16) {
  return std::bit_cast<float>(std::uint32_t{bf16} << 16);  // exact: bf16 is the top half of a float
}

// Row converters. src and dst have equal sizes and do not overlap. Every Isa
// gives results bit-identical to the scalar references above (tests check it
// over all half patterns and a sweep of float patterns); `isa` is lowered to
// what the CPU supports, so passing a level it lacks runs a lower path.
void fp32_to_fp16_row(std::span<const float> src, std::span<std::uint16_t> dst, Isa isa = active_isa());
void fp16_to_fp32_row(std::span<const std::uint16_t> src, std::span<float> dst, Isa isa = active_isa());
void fp32_to_bf16_row(std::span<const float> src, std::span<std::uint16_t> dst, Isa isa = active_isa());
void bf16_to_fp32_row(std::span<const std::uint16_t> src, std::span<float> dst, Isa isa = active_isa());

}  // namespace quantlm
