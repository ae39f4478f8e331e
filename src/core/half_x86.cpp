// AVX2 (F16C) and AVX-512 row kernels for fp16/bf16 conversion, bit-identical to core/half.h's references.
#include "core/half_x86.h"

#if defined(__x86_64__)

// GCC 12's AVX-512 headers initialize their "undefined" vectors from
// themselves, which -Wmaybe-uninitialized reports once inlined (GCC bug
// 105593, fixed in 13). The pragma covers only the header's own lines.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include <cstddef>

#include "core/half.h"
#include "core/isa.h"

// Intrinsics take void-ish vector pointers; the casts below only change the
// pointer type for unaligned loads and stores.
// NOLINTBEGIN(cppcoreguidelines-pro-type-reinterpret-cast)

namespace quantlm::detail {
namespace {

// fp32 bit patterns (8 lanes) -> bf16 patterns in the low half of each lane,
// with the integer rounding of fp32_to_bf16. AVX-512 BF16's vcvtneps2bf16
// would be one instruction and 2.5x as fast on 4096 values in L1, but it
// treats subnormal inputs as zero (0x007fffff -> 0x0000 where rounding gives
// 0x0080, measured on a Sapphire Rapids-class Xeon), so it is not
// bit-identical to the reference; its NaN handling does match. Rows larger
// than L2 are bound by memory either way.
QUANTLM_TARGET_AVX2 __m256i round_to_bf16_avx2(__m256i bits) {
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
  const __m256i bias = _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff));
  const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(bits, bias), 16);
  const __m256i abs = _mm256_and_si256(bits, _mm256_set1_epi32(0x7fffffff));
  const __m256i is_nan = _mm256_cmpgt_epi32(abs, _mm256_set1_epi32(0x7f800000));
  const __m256i quiet_nan = _mm256_or_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(0x40));
  return _mm256_blendv_epi8(rounded, quiet_nan, is_nan);
}

QUANTLM_TARGET_AVX512 __m256i round_to_bf16_avx512(__m512i bits) {
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  const __m512i bias = _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff));
  const __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(bits, bias), 16);
  const __m512i abs = _mm512_and_si512(bits, _mm512_set1_epi32(0x7fffffff));
  const __mmask16 is_nan = _mm512_cmpgt_epi32_mask(abs, _mm512_set1_epi32(0x7f800000));
  const __m512i result = _mm512_mask_or_epi32(rounded, is_nan, _mm512_srli_epi32(bits, 16), _mm512_set1_epi32(0x40));
  return _mm512_cvtepi32_epi16(result);  // every lane is below 2^16: vpmovdw's truncation is exact
}

// Lanes [0, count) of a 16-lane mask, for the last partial vector of a row.
__mmask16 first_lanes(std::size_t count) { return static_cast<__mmask16>((1U << count) - 1U); }

}  // namespace

// AVX2: 8 or 16 floats per step; the tail of fewer goes through the scalar
// reference, which gives the same bits.

QUANTLM_TARGET_AVX2 void fp32_to_fp16_avx2(std::span<const float> src, std::span<std::uint16_t> dst) {
  const std::size_t n = src.size();
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i half = _mm256_cvtps_ph(_mm256_loadu_ps(&src[i]), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(&dst[i]), half);
  }
  for (; i < n; ++i) dst[i] = fp32_to_fp16(src[i]);
}

QUANTLM_TARGET_AVX2 void fp16_to_fp32_avx2(std::span<const std::uint16_t> src, std::span<float> dst) {
  const std::size_t n = src.size();
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i half = _mm_loadu_si128(reinterpret_cast<const __m128i*>(&src[i]));
    _mm256_storeu_ps(&dst[i], _mm256_cvtph_ps(half));
  }
  for (; i < n; ++i) dst[i] = fp16_to_fp32(src[i]);
}

QUANTLM_TARGET_AVX2 void fp32_to_bf16_avx2(std::span<const float> src, std::span<std::uint16_t> dst) {
  const std::size_t n = src.size();
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i lo = round_to_bf16_avx2(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(&src[i])));
    const __m256i hi = round_to_bf16_avx2(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(&src[i + 8])));
    // packus works per 128-bit lane: (lo0-3 hi0-3 lo4-7 hi4-7); the permute restores order.
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(lo, hi), 0xD8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(&dst[i]), packed);
  }
  for (; i < n; ++i) dst[i] = fp32_to_bf16(src[i]);
}

QUANTLM_TARGET_AVX2 void bf16_to_fp32_avx2(std::span<const std::uint16_t> src, std::span<float> dst) {
  const std::size_t n = src.size();
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(&src[i])));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(&dst[i]), _mm256_slli_epi32(wide, 16));
  }
  for (; i < n; ++i) dst[i] = bf16_to_fp32(src[i]);
}

// AVX-512: 16 values per step; the tail is one masked step, whose masked-off
// lanes are neither read nor written (no fault past the end of a row).

QUANTLM_TARGET_AVX512 void fp32_to_fp16_avx512(std::span<const float> src, std::span<std::uint16_t> dst) {
  const std::size_t n = src.size();
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i half = _mm512_cvtps_ph(_mm512_loadu_ps(&src[i]), _MM_FROUND_TO_NEAREST_INT);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(&dst[i]), half);
  }
  if (i < n) {
    const __mmask16 mask = first_lanes(n - i);
    const __m256i half = _mm512_cvtps_ph(_mm512_maskz_loadu_ps(mask, &src[i]), _MM_FROUND_TO_NEAREST_INT);
    _mm256_mask_storeu_epi16(&dst[i], mask, half);
  }
}

QUANTLM_TARGET_AVX512 void fp16_to_fp32_avx512(std::span<const std::uint16_t> src, std::span<float> dst) {
  const std::size_t n = src.size();
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i half = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(&src[i]));
    _mm512_storeu_ps(&dst[i], _mm512_cvtph_ps(half));
  }
  if (i < n) {
    const __mmask16 mask = first_lanes(n - i);
    _mm512_mask_storeu_ps(&dst[i], mask, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, &src[i])));
  }
}

QUANTLM_TARGET_AVX512 void fp32_to_bf16_avx512(std::span<const float> src, std::span<std::uint16_t> dst) {
  const std::size_t n = src.size();
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i bf16 = round_to_bf16_avx512(_mm512_loadu_si512(&src[i]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(&dst[i]), bf16);
  }
  if (i < n) {
    const __mmask16 mask = first_lanes(n - i);
    _mm256_mask_storeu_epi16(&dst[i], mask, round_to_bf16_avx512(_mm512_maskz_loadu_epi32(mask, &src[i])));
  }
}

QUANTLM_TARGET_AVX512 void bf16_to_fp32_avx512(std::span<const std::uint16_t> src, std::span<float> dst) {
  const std::size_t n = src.size();
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(&src[i])));
    _mm512_storeu_si512(&dst[i], _mm512_slli_epi32(wide, 16));
  }
  if (i < n) {
    const __mmask16 mask = first_lanes(n - i);
    const __m512i wide = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mask, &src[i]));
    _mm512_mask_storeu_epi32(&dst[i], mask, _mm512_slli_epi32(wide, 16));
  }
}

}  // namespace quantlm::detail

// NOLINTEND(cppcoreguidelines-pro-type-reinterpret-cast)

#endif  // __x86_64__
