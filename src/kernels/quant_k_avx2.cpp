// AVX2 row kernels of the K-quants and ternary formats: maddubs + madd with the group scales, per block.
#include "kernels/quant_k_impl.h"

#if defined(__x86_64__)

#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "core/isa.h"

// NOLINTBEGIN(cppcoreguidelines-pro-type-reinterpret-cast): intrinsics take untyped vector pointers

namespace quantlm::kernels::detail::qk {
namespace {

using formats::kQK;

// One weight block: ymm j holds weights 32j..32j+31 in column order, sc[j]
// the int16 scale of each maddubs pair (lanes 0-7 group 2j, 8-15 group 2j+1).
struct Yblock {
  __m256i q[8];
  __m256i sc[8];
  __m256i neg_mn;  // 16 x int16
  __m256 mn_f[2];  // dm * neg_mn as floats (kDmin formats)
  float d;
  float dm;
};

// The float min terms of a kDmin format, once per block for every token.
QUANTLM_TARGET_AVX2 inline void min_terms(Yblock& z) {
  const __m256 dm = _mm256_set1_ps(z.dm);
  z.mn_f[0] = _mm256_mul_ps(dm, _mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(_mm256_castsi256_si128(z.neg_mn))));
  z.mn_f[1] = _mm256_mul_ps(dm, _mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(_mm256_extracti128_si256(z.neg_mn, 1))));
}

QUANTLM_TARGET_AVX2 inline float half_to_float(std::uint16_t h) { return _cvtsh_ss(h); }

QUANTLM_TARGET_AVX2 inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// sc[j] from the 16 int8 group scales: vpshufb puts group 2j + L's byte in
// both halves of every int16 of 128-bit lane L, the arithmetic shift sign-extends it.
QUANTLM_TARGET_AVX2 inline void expand_scales(__m128i sc16, __m256i* sc) {
  const __m256i bc = _mm256_broadcastsi128_si256(sc16);
  for (int j = 0; j < 8; ++j) {
    const __m256i ctrl =
        _mm256_set_m128i(_mm_set1_epi8(static_cast<char>(2 * j + 1)), _mm_set1_epi8(static_cast<char>(2 * j)));
    sc[j] = _mm256_srai_epi16(_mm256_shuffle_epi8(bc, ctrl), 8);
  }
}

template <class F>
struct Unpack {
  QUANTLM_TARGET_AVX2 static inline void block(const typename F::Block& b, Yblock& z) {
    Unpacked u;
    unpack(b, u);
    for (int j = 0; j < 8; ++j) z.q[j] = _mm256_load_si256(reinterpret_cast<const __m256i*>(u.q.data() + 32 * j));
    if constexpr (!F::kUnitScales) expand_scales(_mm_load_si128(reinterpret_cast<const __m128i*>(u.sc.data())), z.sc);
    z.neg_mn = _mm256_load_si256(reinterpret_cast<const __m256i*>(u.neg_mn.data()));
    z.d = u.d;
    z.dm = u.dm;
    if constexpr (F::kDmin) min_terms(z);
  }
};

// Q4_K and Q5_K's twelve scale bytes, four sub-blocks per word (see k4_scale_min).
QUANTLM_TARGET_AVX2 inline void k4_scales(const std::uint8_t* s, Yblock& z) {
  std::uint32_t u[3];
  std::memcpy(u, s, sizeof(u));
  const std::uint32_t sc_lo = u[0] & 0x3f3f3f3fU;
  const std::uint32_t mn_lo = u[1] & 0x3f3f3f3fU;
  const std::uint32_t sc_hi = (u[2] & 0x0f0f0f0fU) | ((u[0] >> 2) & 0x30303030U);
  const std::uint32_t mn_hi = ((u[2] >> 4) & 0x0f0f0f0fU) | ((u[1] >> 2) & 0x30303030U);
  const __m128i sc8 = _mm_set_epi32(0, 0, static_cast<int>(sc_hi), static_cast<int>(sc_lo));
  const __m128i mn8 = _mm_set_epi32(0, 0, static_cast<int>(mn_hi), static_cast<int>(mn_lo));
  expand_scales(_mm_unpacklo_epi8(sc8, sc8), z.sc);
  z.neg_mn = _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mn8, mn8)));
}

template <>
struct Unpack<Q4K> {
  QUANTLM_TARGET_AVX2 static inline void block(const formats::BlockQ4K& b, Yblock& z) {
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    for (int c = 0; c < 4; ++c) {
      const __m256i v = load256(b.qs.data() + 32 * c);
      z.q[2 * c] = _mm256_and_si256(v, low4);
      z.q[2 * c + 1] = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
    }
    k4_scales(b.scales.data(), z);
    z.d = half_to_float(b.d);
    z.dm = half_to_float(b.dmin);
    min_terms(z);
  }
};

template <>
struct Unpack<Q5K> {
  QUANTLM_TARGET_AVX2 static inline void block(const formats::BlockQ5K& b, Yblock& z) {
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    const __m256i bit4 = _mm256_set1_epi8(0x10);
    const __m256i qh = load256(b.qh.data());
    for (int c = 0; c < 4; ++c) {
      const __m256i v = load256(b.qs.data() + 32 * c);
      // Bit j of qh[l] is the fifth bit of weight 32j + l.
      const __m256i top_lo = _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(qh, 2 * c), 4), bit4);
      const __m256i top_hi = _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(qh, 2 * c + 1), 4), bit4);
      z.q[2 * c] = _mm256_or_si256(_mm256_and_si256(v, low4), top_lo);
      z.q[2 * c + 1] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), low4), top_hi);
    }
    k4_scales(b.scales.data(), z);
    z.d = half_to_float(b.d);
    z.dm = half_to_float(b.dmin);
    min_terms(z);
  }
};

template <>
struct Unpack<Q6K> {
  QUANTLM_TARGET_AVX2 static inline void block(const formats::BlockQ6K& b, Yblock& z) {
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    const __m256i bits45 = _mm256_set1_epi8(0x30);
    for (int h = 0; h < 2; ++h) {
      const __m256i qh = load256(b.qh.data() + 32 * h);
      for (int k = 0; k < 4; ++k) {
        const __m256i ql = load256(b.ql.data() + 64 * h + 32 * (k % 2));
        const __m256i nib = k < 2 ? _mm256_and_si256(ql, low4) : _mm256_and_si256(_mm256_srli_epi16(ql, 4), low4);
        const __m256i top = _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(qh, 2 * k), 4), bits45);
        z.q[4 * h + k] = _mm256_or_si256(nib, top);
      }
    }
    const __m128i sc16 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales.data()));
    expand_scales(sc16, z.sc);
    z.neg_mn = _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(_mm256_cvtepi8_epi16(sc16), 5));
    z.d = z.dm = half_to_float(b.d);
  }
};

template <>
struct Unpack<TQ2> {
  QUANTLM_TARGET_AVX2 static inline void block(const formats::BlockTQ2_0& b, Yblock& z) {
    const __m256i two_bits = _mm256_set1_epi8(3);
    for (int c = 0; c < 2; ++c) {
      const __m256i v = load256(b.qs.data() + 32 * c);
      for (int l = 0; l < 4; ++l) z.q[4 * c + l] = _mm256_and_si256(_mm256_srli_epi16(v, 2 * l), two_bits);
    }
    z.neg_mn = _mm256_set1_epi16(-1);
    z.d = z.dm = half_to_float(b.d);
  }
};

// The int32 lanes of A (plus B when the format folds it in) for one block and one token.
template <class F>
QUANTLM_TARGET_AVX2 inline __m256i dot_a(const Yblock& z, const Q8KBlockA& a) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc = _mm256_setzero_si256();
  for (int j = 0; j < 8; ++j) {
    const __m256i av = _mm256_load_si256(reinterpret_cast<const __m256i*>(a.qs.data() + 32 * j));
    if constexpr (F::kUnitScales) {
      acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(z.q[j], av), ones));
    } else if constexpr (F::kSignedQ) {
      const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(z.q[j], z.q[j]), _mm256_sign_epi8(av, z.q[j]));
      acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, z.sc[j]));
    } else {
      acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(z.q[j], av), z.sc[j]));
    }
  }
  if constexpr (!F::kDmin) {
    const __m256i bs = _mm256_load_si256(reinterpret_cast<const __m256i*>(a.bsums.data()));
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(z.neg_mn, bs));
  }
  return acc;
}

template <class F>
QUANTLM_TARGET_AVX2 inline __m256 accumulate(const Yblock& z, const Q8KBlockA& a, __m256 f) {
  f = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot_a<F>(z, a)), _mm256_set1_ps(a.d * z.d), f);
  if constexpr (F::kDmin) {
    f = _mm256_fmadd_ps(_mm256_load_ps(a.fbsums.data()), z.mn_f[0], f);
    f = _mm256_fmadd_ps(_mm256_load_ps(a.fbsums.data() + 8), z.mn_f[1], f);
  }
  return f;
}

QUANTLM_TARGET_AVX2 inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Rows r (one at a time) x T tokens: each block is unpacked once for the T tokens.
template <class F, int T>
QUANTLM_TARGET_AVX2 void tile(const MatmulArgs& args, std::int64_t r, std::int64_t t0) {
  using Block = typename F::Block;
  const auto* w = reinterpret_cast<const Block*>(args.w.row(r));
  const Q8KBlockA* x[T];
  for (int t = 0; t < T; ++t) x[t] = q8k_token(args, t0 + t);
  __m256 f[T];
  for (int t = 0; t < T; ++t) f[t] = _mm256_setzero_ps();
  const std::int64_t nb = args.cols() / kQK;
  for (std::int64_t b = 0; b < nb; ++b) {
    Yblock z;
    Unpack<F>::block(w[b], z);
    for (int t = 0; t < T; ++t) f[t] = accumulate<F>(z, x[t][b], f[t]);
  }
  for (int t = 0; t < T; ++t) args.y[(t0 + t) * args.y_stride + r] = hsum(f[t]);
}

constexpr std::int64_t kTokenChunk = 64;  // as in the AVX-512 kernels: a chunk's activations stay in L2

}  // namespace

template <class F>
QUANTLM_TARGET_AVX2 void rows_avx2(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end) {
  for (std::int64_t c0 = 0; c0 < args.n_tokens; c0 += kTokenChunk) {
    const std::int64_t c1 = std::min(args.n_tokens, c0 + kTokenChunk);
    for (std::int64_t r = row_begin; r < row_end; ++r) {
      std::int64_t t = c0;
      for (; t + 4 <= c1; t += 4) tile<F, 4>(args, r, t);
      for (; t < c1; ++t) tile<F, 1>(args, r, t);
    }
  }
}

template void rows_avx2<Q2K>(const MatmulArgs&, std::int64_t, std::int64_t);
template void rows_avx2<Q3K>(const MatmulArgs&, std::int64_t, std::int64_t);
template void rows_avx2<Q4K>(const MatmulArgs&, std::int64_t, std::int64_t);
template void rows_avx2<Q5K>(const MatmulArgs&, std::int64_t, std::int64_t);
template void rows_avx2<Q6K>(const MatmulArgs&, std::int64_t, std::int64_t);
template void rows_avx2<IQ4XS>(const MatmulArgs&, std::int64_t, std::int64_t);
template void rows_avx2<TQ1>(const MatmulArgs&, std::int64_t, std::int64_t);
template void rows_avx2<TQ2>(const MatmulArgs&, std::int64_t, std::int64_t);

}  // namespace quantlm::kernels::detail::qk

// NOLINTEND(cppcoreguidelines-pro-type-reinterpret-cast)

#endif
