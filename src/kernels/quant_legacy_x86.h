// Internal to kernels/ (x86 only): AVX2 unpacking of legacy blocks into 32 byte levels, shared by the AVX2 and
// AVX-512 VNNI kernels (a target("avx2") function inlines into AVX-512 callers).
#pragma once

#if defined(__x86_64__)

// GCC 12's AVX-512 headers trip -W(maybe-)uninitialized once inlined (GCC bug 105593): see matmul_avx512.cpp.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include <cstddef>
#include <cstring>

#include "core/isa.h"
#include "kernels/quant_legacy_impl.h"

namespace quantlm::kernels::detail {

// The 16 bytes of nibbles of a block as 32 values 0..15 in value order: low nibbles (values 0..15), then high.
QUANTLM_TARGET_AVX2 inline __m256i unpack_nibbles(const std::uint8_t* qs) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));  // NOLINT: unaligned vector load
  const __m256i both = _mm256_set_m128i(_mm_srli_epi16(v, 4), v);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

// 0x10 in byte i where bit i of the little-endian word `qh` is set.
QUANTLM_TARGET_AVX2 inline __m256i fifth_bits(const std::uint8_t* qh_bytes) {
  std::uint32_t qh = 0;
  std::memcpy(&qh, qh_bytes, 4);
  // Byte i takes byte i / 8 of qh (each 128-bit lane holds the whole word), then tests its bit i % 8.
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(static_cast<int>(qh)),
      _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0x0000000000000000));
  const __m256i bit = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ULL));
  const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
  return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}

// The block's 32 levels plus Legacy<F>::kOffset, as unsigned bytes in value order.
template <formats::FormatId F>
QUANTLM_TARGET_AVX2 inline __m256i unpack_u8(const typename Legacy<F>::Block& b) {
  using formats::FormatId;
  if constexpr (F == FormatId::Q8_0) {
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs.data()));  // NOLINT: unaligned load
    return _mm256_xor_si256(q, _mm256_set1_epi8(static_cast<char>(0x80)));
  } else if constexpr (F == FormatId::Q4_0 || F == FormatId::Q4_1) {
    return unpack_nibbles(b.qs.data());
  } else if constexpr (F == FormatId::Q5_0 || F == FormatId::Q5_1) {
    return _mm256_or_si256(unpack_nibbles(b.qs.data()), fifth_bits(b.qh.data()));
  } else {
    static_assert(F == FormatId::IQ4_NL);
    // The codebook shifted by 128 (1..241), looked up per nibble in both 128-bit lanes.
    const __m128i table = _mm_setr_epi8(1, 24, 45, 63, 79, 93, 106, 118, static_cast<char>(129), static_cast<char>(141),
                                        static_cast<char>(153), static_cast<char>(166), static_cast<char>(181),
                                        static_cast<char>(197), static_cast<char>(217), static_cast<char>(241));
    return _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(table), unpack_nibbles(b.qs.data()));
  }
}

// The block's levels as signed bytes (formats with an offset) or the unsigned ones (formats with a minimum).
template <formats::FormatId F>
QUANTLM_TARGET_AVX2 inline __m256i unpack_levels(const typename Legacy<F>::Block& b) {
  const __m256i u = unpack_u8<F>(b);
  if constexpr (Legacy<F>::kOffset == 128) {
    return _mm256_xor_si256(u, _mm256_set1_epi8(static_cast<char>(0x80)));
  } else if constexpr (Legacy<F>::kOffset != 0) {
    return _mm256_sub_epi8(u, _mm256_set1_epi8(static_cast<char>(Legacy<F>::kOffset)));
  } else {
    return u;
  }
}

// The 8 int32 lanes of each of v[0..7] summed, exactly: lane i of the result is the sum of v[i]'s lanes.
QUANTLM_TARGET_AVX2 inline __m256i sum_lanes8(const __m256i* v) {
  const __m256i h01 = _mm256_hadd_epi32(v[0], v[1]);
  const __m256i h23 = _mm256_hadd_epi32(v[2], v[3]);
  const __m256i h45 = _mm256_hadd_epi32(v[4], v[5]);
  const __m256i h67 = _mm256_hadd_epi32(v[6], v[7]);
  const __m256i q0 = _mm256_hadd_epi32(h01, h23);  // [v0..v3 low halves | v0..v3 high halves]
  const __m256i q1 = _mm256_hadd_epi32(h45, h67);
  return _mm256_add_epi32(_mm256_permute2x128_si256(q0, q1, 0x20), _mm256_permute2x128_si256(q0, q1, 0x31));
}

// The fp16 field at byte `offset` of 8 blocks, as f32.
template <typename Block>
QUANTLM_TARGET_AVX2 inline __m256 halves8(const Block* const* blocks, std::int64_t b, std::size_t offset) {
  std::uint16_t h[8];
  for (int r = 0; r < 8; ++r) std::memcpy(&h[r], reinterpret_cast<const std::byte*>(blocks[r] + b) + offset, 2);
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h)));  // NOLINT: unaligned load
}

QUANTLM_TARGET_AVX2 inline float half_to_float(std::uint16_t h) { return _cvtsh_ss(h); }

}  // namespace quantlm::kernels::detail

#endif
