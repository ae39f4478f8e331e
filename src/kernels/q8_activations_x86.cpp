// AVX2 and AVX-512 versions of the per-token int8 block quantizer of activations, byte for byte pack_q8's output.
#include "kernels/q8_activations.h"

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

#include <cassert>

#include "core/isa.h"

// NOLINTBEGIN(cppcoreguidelines-pro-type-reinterpret-cast): the arrays of a packed token, unaligned vector access

namespace quantlm::kernels {
namespace {

struct Out {
  std::int8_t* qs;
  float* d;
  float* s;
  std::int32_t* sum;
};

Out out_arrays(std::byte* dst, std::int64_t cols) {
  const Q8Layout l = q8_layout(cols);
  return {reinterpret_cast<std::int8_t*>(dst), reinterpret_cast<float*>(dst + l.d_offset),
          reinterpret_cast<float*>(dst + l.s_offset), reinterpret_cast<std::int32_t*>(dst + l.sum_offset)};
}

QUANTLM_TARGET_AVX2 inline float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

QUANTLM_TARGET_AVX2 inline std::int32_t hsum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

}  // namespace

QUANTLM_TARGET_AVX2 void pack_q8_avx2(const float* x, std::int64_t cols, std::byte* dst) {
  assert(cols % kQ8Block == 0);
  const Out o = out_arrays(dst, cols);
  const __m256 sign = _mm256_set1_ps(-0.0F);
  const __m256 hi = _mm256_set1_ps(127.0F);
  const __m256 lo = _mm256_set1_ps(-127.0F);
  for (std::int64_t b = 0; b < cols / kQ8Block; ++b) {
    __m256 v[4];
    __m256 amax = _mm256_setzero_ps();
    for (int i = 0; i < 4; ++i) {
      v[i] = _mm256_loadu_ps(x + b * kQ8Block + 8 * i);
      amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, v[i]));
    }
    const float scale = hmax(amax) / 127.0F;
    const __m256 inv = _mm256_set1_ps(scale != 0.0F ? 1.0F / scale : 0.0F);
    __m256i q[4];
    __m256i total = _mm256_setzero_si256();
    for (int i = 0; i < 4; ++i) {
      q[i] = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(v[i], inv), lo), hi));
      total = _mm256_add_epi32(total, q[i]);
    }
    // Narrow 32 int32 to int8 (saturation never triggers); packs interleave 128-bit lanes, the permute undoes it.
    const __m256i words = _mm256_packs_epi32(q[0], q[1]);
    const __m256i words2 = _mm256_packs_epi32(q[2], q[3]);
    const __m256i bytes =
        _mm256_permutevar8x32_epi32(_mm256_packs_epi16(words, words2), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(o.qs + b * kQ8Block), bytes);
    const std::int32_t sum = hsum(total);
    o.d[b] = scale;
    o.s[b] = scale * static_cast<float>(sum);
    o.sum[b] = sum;
  }
}

QUANTLM_TARGET_AVX512 void pack_q8_avx512(const float* x, std::int64_t cols, std::byte* dst) {
  assert(cols % kQ8Block == 0);
  const Out o = out_arrays(dst, cols);
  const __m512 hi = _mm512_set1_ps(127.0F);
  const __m512 lo = _mm512_set1_ps(-127.0F);
  for (std::int64_t b = 0; b < cols / kQ8Block; ++b) {
    const __m512 v0 = _mm512_loadu_ps(x + b * kQ8Block);
    const __m512 v1 = _mm512_loadu_ps(x + b * kQ8Block + 16);
    const __m512 amax16 = _mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1));
    const __m256 amax8 = _mm256_max_ps(_mm512_castps512_ps256(amax16),
                                       _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(amax16), 1)));
    const float scale = hmax(amax8) / 127.0F;
    const __m512 inv = _mm512_set1_ps(scale != 0.0F ? 1.0F / scale : 0.0F);
    const __m512i q0 = _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(v0, inv), lo), hi));
    const __m512i q1 = _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(v1, inv), lo), hi));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(o.qs + b * kQ8Block), _mm512_cvtepi32_epi8(q0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(o.qs + b * kQ8Block + 16), _mm512_cvtepi32_epi8(q1));
    const __m512i t = _mm512_add_epi32(q0, q1);
    const std::int32_t sum = hsum(_mm256_add_epi32(_mm512_castsi512_si256(t), _mm512_extracti64x4_epi64(t, 1)));
    o.d[b] = scale;
    o.s[b] = scale * static_cast<float>(sum);
    o.sum[b] = sum;
  }
}

}  // namespace quantlm::kernels

// NOLINTEND(cppcoreguidelines-pro-type-reinterpret-cast)

#endif
