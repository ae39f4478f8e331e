// AVX-512 VNNI row kernels of the K-quants and ternary formats: maddubs + vpdpwssd (vpdpbusd for ternary) per block.
#include "kernels/quant_k_impl.h"

#if defined(__x86_64__)

// GCC 12's AVX-512 headers trip -W(maybe-)uninitialized once inlined (GCC bug
// 105593, fixed in 13); the pragma covers only the header's own lines.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include <algorithm>
#include <cstring>
#include <new>

#include "core/aligned_buffer.h"

// The AVX-512 level plus VNNI (callers check cpu_features().avx512vnni).
#define QUANTLM_TARGET_VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))

// NOLINTBEGIN(cppcoreguidelines-pro-type-reinterpret-cast): intrinsics take untyped vector pointers

namespace quantlm::kernels::detail::qk {
namespace {

using formats::kQK;

// One weight block in registers: zmm k holds weights 64k..64k+63 in column
// order (so activations load as they are), sc[k] the int16 scale of each of
// its 32 maddubs pairs (8 pairs per group of 16).
struct Zblock {
  __m512i q[4];
  __m512i sc[4];
  __m256i neg_mn;    // 16 x int16
  __m512 mn_f;       // dm * neg_mn as floats (kDmin formats)
  __mmask64 neg[4];  // kSignedQ: the negative weights (q then holds |q|, as maddubs needs)
  float d;
  float dm;
};

// The float min terms of a kDmin format, once per block for every token.
QUANTLM_TARGET_VNNI inline __m512 min_terms(__m256i neg_mn, float dm) {
  return _mm512_mul_ps(_mm512_set1_ps(dm), _mm512_cvtepi32_ps(_mm512_cvtepi16_epi32(neg_mn)));
}

QUANTLM_TARGET_VNNI inline float half_to_float(std::uint16_t h) { return _cvtsh_ss(h); }

QUANTLM_TARGET_VNNI inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// 32 bytes into both halves of a zmm, each half then shifted right by its own
// count (bit shifts of 64-bit lanes; callers mask the bits that cross bytes).
QUANTLM_TARGET_VNNI inline __m512i halves_shifted(const void* p, int lo, int hi) {
  const __m512i v = _mm512_broadcast_i64x4(load256(p));
  const __m512i counts = _mm512_set_epi64(hi, hi, hi, hi, lo, lo, lo, lo);
  return _mm512_srlv_epi64(v, counts);
}

// sc[k] from the 16 int8 group scales: 128-bit lane L of sc[k] holds group
// 4k + L's scale in all 8 int16 lanes. Signed scales: vpshufb copies the byte
// into both halves of each int16 and an arithmetic shift sign-extends it.
// Unsigned ones (Q4_K, Q5_K) take a zero high byte from vpshufb's 0x80 index.
template <bool kSigned>
QUANTLM_TARGET_VNNI inline void expand_scales(__m128i sc16, __m512i* sc) {
  const __m512i bc = _mm512_broadcast_i32x4(sc16);
  // The vpshufb index of every int16 lane that takes group g's scale.
  const auto word = [](int g) {
    return kSigned ? 0x01010101 * g : static_cast<int>(0x80008000U | static_cast<unsigned>(0x00010001 * g));
  };
  for (int k = 0; k < 4; ++k) {
    const __m512i ctrl =
        _mm512_set_epi32(word(4 * k + 3), word(4 * k + 3), word(4 * k + 3), word(4 * k + 3), word(4 * k + 2),
                         word(4 * k + 2), word(4 * k + 2), word(4 * k + 2), word(4 * k + 1), word(4 * k + 1),
                         word(4 * k + 1), word(4 * k + 1), word(4 * k), word(4 * k), word(4 * k), word(4 * k));
    const __m512i picked = _mm512_shuffle_epi8(bc, ctrl);
    sc[k] = kSigned ? _mm512_srai_epi16(picked, 8) : picked;
  }
}

// Any format: the reference unpacking, then loads. Used for the formats
// without a vector unpacker below.
template <class F>
struct Unpack {
  QUANTLM_TARGET_VNNI static inline void block(const typename F::Block& b, Zblock& z) {
    Unpacked u;
    unpack(b, u);
    load(u, z);
  }
  QUANTLM_TARGET_VNNI static inline void load(const Unpacked& u, Zblock& z) {
    for (int k = 0; k < 4; ++k) {
      z.q[k] = _mm512_load_si512(u.q.data() + 64 * k);
      if constexpr (F::kSignedQ) {
        z.neg[k] = _mm512_movepi8_mask(z.q[k]);
        z.q[k] = _mm512_abs_epi8(z.q[k]);
      }
    }
    if constexpr (!F::kUnitScales)
      expand_scales<true>(_mm_load_si128(reinterpret_cast<const __m128i*>(u.sc.data())), z.sc);
    z.neg_mn = _mm256_load_si256(reinterpret_cast<const __m256i*>(u.neg_mn.data()));
    z.d = u.d;
    z.dm = u.dm;
    if constexpr (F::kDmin) z.mn_f = min_terms(z.neg_mn, z.dm);
  }
};

// Q4_K and Q5_K scales: twelve bytes hold eight 6-bit scales and mins; the
// word arithmetic below is k4_scale_min for four sub-blocks at a time.
QUANTLM_TARGET_VNNI inline void k4_scales(const std::uint8_t* s, Zblock& z) {
  std::uint32_t u[3];
  std::memcpy(u, s, sizeof(u));
  const std::uint32_t sc_lo = u[0] & 0x3f3f3f3fU;
  const std::uint32_t mn_lo = u[1] & 0x3f3f3f3fU;
  const std::uint32_t sc_hi = (u[2] & 0x0f0f0f0fU) | ((u[0] >> 2) & 0x30303030U);
  const std::uint32_t mn_hi = ((u[2] >> 4) & 0x0f0f0f0fU) | ((u[1] >> 2) & 0x30303030U);
  const __m128i sc8 = _mm_set_epi32(0, 0, static_cast<int>(sc_hi), static_cast<int>(sc_lo));
  const __m128i mn8 = _mm_set_epi32(0, 0, static_cast<int>(mn_hi), static_cast<int>(mn_lo));
  expand_scales<false>(_mm_unpacklo_epi8(sc8, sc8), z.sc);  // one scale per 32 = two groups of 16
  z.neg_mn = _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mn8, mn8)));
}

template <>
struct Unpack<Q4K> {
  QUANTLM_TARGET_VNNI static inline void block(const formats::BlockQ4K& b, Zblock& z) {
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    for (int c = 0; c < 4; ++c) z.q[c] = _mm512_and_si512(halves_shifted(b.qs.data() + 32 * c, 0, 4), low4);
    k4_scales(b.scales.data(), z);
    z.d = half_to_float(b.d);
    z.dm = half_to_float(b.dmin);
    z.mn_f = min_terms(z.neg_mn, z.dm);
  }
};

template <>
struct Unpack<Q5K> {
  QUANTLM_TARGET_VNNI static inline void block(const formats::BlockQ5K& b, Zblock& z) {
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    const __m512i bit4 = _mm512_set1_epi8(0x10);
    for (int c = 0; c < 4; ++c) {
      const __m512i nib = _mm512_and_si512(halves_shifted(b.qs.data() + 32 * c, 0, 4), low4);
      // Bit j of qh[l] is the fifth bit of weight 32j + l; zmm c covers j = 2c, 2c + 1.
      const __m512i top = _mm512_slli_epi16(halves_shifted(b.qh.data(), 2 * c, 2 * c + 1), 4);
      z.q[c] = _mm512_or_si512(nib, _mm512_and_si512(top, bit4));
    }
    k4_scales(b.scales.data(), z);
    z.d = half_to_float(b.d);
    z.dm = half_to_float(b.dmin);
    z.mn_f = min_terms(z.neg_mn, z.dm);
  }
};

template <>
struct Unpack<Q6K> {
  QUANTLM_TARGET_VNNI static inline void block(const formats::BlockQ6K& b, Zblock& z) {
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    const __m512i bits45 = _mm512_set1_epi8(0x30);
    for (int h = 0; h < 2; ++h) {
      // 64 bytes of ql: low nibbles are weights 128h + 0..63, high nibbles 128h + 64..127.
      const __m512i ql = _mm512_loadu_si512(b.ql.data() + 64 * h);
      const __m512i lo = _mm512_and_si512(ql, low4);
      const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(ql, 4), low4);
      // Bits 2k..2k+1 of qh[32h + l] are the top of weight 128h + 32k + l.
      const __m512i top_lo = _mm512_slli_epi16(halves_shifted(b.qh.data() + 32 * h, 0, 2), 4);
      const __m512i top_hi = _mm512_slli_epi16(halves_shifted(b.qh.data() + 32 * h, 4, 6), 4);
      z.q[2 * h] = _mm512_or_si512(lo, _mm512_and_si512(top_lo, bits45));
      z.q[2 * h + 1] = _mm512_or_si512(hi, _mm512_and_si512(top_hi, bits45));
    }
    const __m128i sc16 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales.data()));
    expand_scales<true>(sc16, z.sc);
    // The offset: level q - 32 contributes -32 * sc per activation sum.
    z.neg_mn = _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(_mm256_cvtepi8_epi16(sc16), 5));
    z.d = z.dm = half_to_float(b.d);
  }
};

template <>
struct Unpack<TQ2> {
  QUANTLM_TARGET_VNNI static inline void block(const formats::BlockTQ2_0& b, Zblock& z) {
    const __m512i two_bits = _mm512_set1_epi8(3);
    // Byte 32c + m holds weights 128c + 32l + m at bits 2l.
    for (int c = 0; c < 2; ++c) {
      z.q[2 * c] = _mm512_and_si512(halves_shifted(b.qs.data() + 32 * c, 0, 2), two_bits);
      z.q[2 * c + 1] = _mm512_and_si512(halves_shifted(b.qs.data() + 32 * c, 4, 6), two_bits);
    }
    z.neg_mn = _mm256_set1_epi16(-1);
    z.d = z.dm = half_to_float(b.d);
  }
};

// The int32 lanes of A (plus B when the format folds it in) for one block and one token.
template <class F>
QUANTLM_TARGET_VNNI inline __m512i dot_a(const Zblock& z, const Q8KBlockA& a) {
  __m512i acc = _mm512_setzero_si512();
  for (int k = 0; k < 4; ++k) {
    const __m512i av = _mm512_load_si512(a.qs.data() + 64 * k);
    if constexpr (F::kUnitScales) {
      acc = _mm512_dpbusd_epi32(acc, z.q[k], av);
    } else {
      __m512i pairs;  // int16 sums of two products: at most 2 * 63 * 127 (Q6_K), no saturation
      if constexpr (F::kSignedQ) {
        // maddubs wants unsigned weights: |q| times the activation with q's sign.
        const __m512i sa = _mm512_mask_sub_epi8(av, z.neg[k], _mm512_setzero_si512(), av);
        pairs = _mm512_maddubs_epi16(z.q[k], sa);
      } else {
        pairs = _mm512_maddubs_epi16(z.q[k], av);
      }
      // The first product starts the sum: no zeroed register to feed vpdpwssd.
      acc = k == 0 ? _mm512_madd_epi16(pairs, z.sc[k]) : _mm512_dpwssd_epi32(acc, pairs, z.sc[k]);
    }
  }
  if constexpr (F::kUnitScales) {
    acc = _mm512_mask_sub_epi32(acc, 1, acc, _mm512_set1_epi32(a.sum));  // "code - 1"
  } else if constexpr (!F::kDmin) {
    const __m256i bs = _mm256_load_si256(reinterpret_cast<const __m256i*>(a.bsums.data()));
    acc = _mm512_add_epi32(acc, _mm512_zextsi256_si512(_mm256_madd_epi16(z.neg_mn, bs)));
  }
  return acc;
}

// f += this block's contribution, lane-wise.
template <class F>
QUANTLM_TARGET_VNNI inline __m512 accumulate(const Zblock& z, const Q8KBlockA& a, __m512 f) {
  // dx * d as one float product, as the scalar kernel forms it; the broadcast is a load.
  const __m512 dx = _mm512_set1_ps(a.d);
  f = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot_a<F>(z, a)), _mm512_mul_ps(dx, _mm512_set1_ps(z.d)), f);
  if constexpr (F::kDmin) f = _mm512_fmadd_ps(_mm512_load_ps(a.fbsums.data()), z.mn_f, f);
  return f;
}

QUANTLM_TARGET_VNNI inline float hsum(__m512 v) {
  const __m512 halves = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, 0x4e));
  const __m256 h = _mm512_castps512_ps256(halves);
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Decode: R rows share each activation block, which stays in registers.
template <class F, int R>
QUANTLM_TARGET_VNNI void decode_tile(const MatmulArgs& args, std::int64_t r0) {
  using Block = typename F::Block;
  const Block* w[R];
  for (int i = 0; i < R; ++i) w[i] = reinterpret_cast<const Block*>(args.w.row(r0 + i));
  const Q8KBlockA* x = q8k_token(args, 0);
  __m512 f[R];
  for (int i = 0; i < R; ++i) f[i] = _mm512_setzero_ps();
  const std::int64_t nb = args.cols() / kQK;
  for (std::int64_t b = 0; b < nb; ++b) {
    for (int i = 0; i < R; ++i) {
      Zblock z;
      Unpack<F>::block(w[i][b], z);
      f[i] = accumulate<F>(z, x[b], f[i]);
    }
  }
  for (int i = 0; i < R; ++i) args.y[r0 + i] = hsum(f[i]);
}

// Prefill: T tokens against one row whose blocks were unpacked once for the
// whole token chunk (zb, one Zblock per block).
template <class F, int T>
QUANTLM_TARGET_VNNI void prefill_tile(const MatmulArgs& args, std::int64_t r, std::int64_t t0, const Zblock* zb) {
  const Q8KBlockA* x[T];
  for (int t = 0; t < T; ++t) x[t] = q8k_token(args, t0 + t);
  __m512 f[T];
  for (int t = 0; t < T; ++t) f[t] = _mm512_setzero_ps();
  const std::int64_t nb = args.cols() / kQK;
  for (std::int64_t b = 0; b < nb; ++b) {
    const Zblock& z = zb[b];
    for (int t = 0; t < T; ++t) f[t] = accumulate<F>(z, x[t][b], f[t]);
  }
  for (int t = 0; t < T; ++t) args.y[(t0 + t) * args.y_stride + r] = hsum(f[t]);
}

// Tokens per chunk: a chunk's activations (64 x cols / 256 x 320 bytes) stay
// in L2 while every row of the range passes over them, and each row's blocks
// stay in L1 across the chunk's token tiles.
constexpr std::int64_t kTokenChunk = 64;

}  // namespace

QUANTLM_TARGET_VNNI void pack_q8k_avx512(const float* x, std::int64_t cols, std::byte* dst) {
  // formats::quantize_block_q8_k, 16 values per step, with the same result:
  // the largest magnitude is exact, the first value reaching it gives the
  // sign, q = round-to-nearest-even(-127 / peak * x) is one float multiply and
  // vcvtps2dq in the default rounding mode (nearest_int's rounding), and the
  // sums are exact integer sums.
  for (std::int64_t b = 0; b < cols / kQK; ++b) {
    const float* xb = x + b * kQK;
    auto* out = new (dst + b * static_cast<std::int64_t>(sizeof(Q8KBlockA))) Q8KBlockA;
    __m512 amax = _mm512_setzero_ps();
    for (int i = 0; i < kQK; i += 16) amax = _mm512_max_ps(amax, _mm512_abs_ps(_mm512_loadu_ps(xb + i)));
    const __m256 m8 = _mm256_max_ps(_mm512_castps512_ps256(amax),
                                    _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(amax), 1)));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m8), _mm256_extractf128_ps(m8, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float peak_abs = _mm_cvtss_f32(m4);
    if (peak_abs == 0.F) {
      std::memset(static_cast<void*>(out), 0, sizeof(Q8KBlockA));
      continue;
    }
    float peak = 0.F;
    for (int i = 0; i < kQK; i += 16) {
      const __m512 v = _mm512_loadu_ps(xb + i);
      const __mmask16 hit = _mm512_cmp_ps_mask(_mm512_abs_ps(v), _mm512_set1_ps(peak_abs), _CMP_EQ_OQ);
      if (hit != 0) {
        peak = xb[i + __builtin_ctz(hit)];
        break;
      }
    }
    const float iscale = -127.F / peak;
    const __m512 vscale = _mm512_set1_ps(iscale);
    __m512i total = _mm512_setzero_si512();
    for (int g = 0; g < kQK / 16; ++g) {
      __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(vscale, _mm512_loadu_ps(xb + 16 * g)));
      q = _mm512_min_epi32(q, _mm512_set1_epi32(127));
      _mm_store_si128(reinterpret_cast<__m128i*>(out->qs.data() + 16 * g), _mm512_cvtepi32_epi8(q));
      const int sum = _mm512_reduce_add_epi32(q);
      out->bsums[static_cast<std::size_t>(g)] = static_cast<std::int16_t>(sum);
      total = _mm512_add_epi32(total, q);
    }
    out->d = 1.F / iscale;
    const __m512i bsums = _mm512_cvtepi16_epi32(_mm256_load_si256(reinterpret_cast<const __m256i*>(out->bsums.data())));
    _mm512_store_ps(out->fbsums.data(), _mm512_mul_ps(_mm512_set1_ps(out->d), _mm512_cvtepi32_ps(bsums)));
    out->sum = _mm512_reduce_add_epi32(total);
  }
}

template <class F>
QUANTLM_TARGET_VNNI void rows_avx512vnni(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end) {
  if (args.n_tokens == 1) {
    std::int64_t r = row_begin;
    for (; r + 4 <= row_end; r += 4) decode_tile<F, 4>(args, r);
    for (; r < row_end; ++r) decode_tile<F, 1>(args, r);
    return;
  }
  // Each row is unpacked once per token chunk into a per-thread buffer
  // (cols / 256 Zblocks of 640 bytes, in L1/L2) that its token tiles reread:
  // unpacking Q4_K costs about as much as three tokens' products.
  // (AlignedBuffer: the aligned stores need 64-byte alignment, which
  // std::vector<Zblock> did not give here.)
  thread_local AlignedBuffer<Zblock> row_buffer;
  const std::int64_t nb = args.cols() / kQK;
  if (static_cast<std::int64_t>(row_buffer.size()) < nb) {
    row_buffer = AlignedBuffer<Zblock>(static_cast<std::size_t>(nb), BufferInit::uninitialized);
  }
  Zblock* zb = row_buffer.data();
  for (std::int64_t c0 = 0; c0 < args.n_tokens; c0 += kTokenChunk) {
    const std::int64_t c1 = std::min(args.n_tokens, c0 + kTokenChunk);
    for (std::int64_t r = row_begin; r < row_end; ++r) {
      const auto* w = reinterpret_cast<const typename F::Block*>(args.w.row(r));
      for (std::int64_t b = 0; b < nb; ++b) Unpack<F>::block(w[b], zb[b]);
      std::int64_t t = c0;
      for (; t + 8 <= c1; t += 8) prefill_tile<F, 8>(args, r, t, zb);
      if (t + 4 <= c1) {
        prefill_tile<F, 4>(args, r, t, zb);
        t += 4;
      }
      if (t + 2 <= c1) {
        prefill_tile<F, 2>(args, r, t, zb);
        t += 2;
      }
      if (t < c1) prefill_tile<F, 1>(args, r, t, zb);
    }
  }
}

template void rows_avx512vnni<Q2K>(const MatmulArgs&, std::int64_t, std::int64_t);
template void rows_avx512vnni<Q3K>(const MatmulArgs&, std::int64_t, std::int64_t);
template void rows_avx512vnni<Q4K>(const MatmulArgs&, std::int64_t, std::int64_t);
template void rows_avx512vnni<Q5K>(const MatmulArgs&, std::int64_t, std::int64_t);
template void rows_avx512vnni<Q6K>(const MatmulArgs&, std::int64_t, std::int64_t);
template void rows_avx512vnni<IQ4XS>(const MatmulArgs&, std::int64_t, std::int64_t);
template void rows_avx512vnni<TQ1>(const MatmulArgs&, std::int64_t, std::int64_t);
template void rows_avx512vnni<TQ2>(const MatmulArgs&, std::int64_t, std::int64_t);

}  // namespace quantlm::kernels::detail::qk

// NOLINTEND(cppcoreguidelines-pro-type-reinterpret-cast)

#endif
