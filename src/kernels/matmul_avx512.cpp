// AVX-512 row kernels for F32, F16 and BF16 weights, and the AVX-512 BF16 (vdpbf16ps) kernel.
#include "kernels/matmul_impl.h"

#if defined(__x86_64__)

// GCC 12's AVX-512 headers initialize their "undefined" vectors from
// themselves, which -W(maybe-)uninitialized reports once inlined (GCC bug
// 105593, fixed in 13). The pragma covers only the header's own lines.
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
#include <span>

#include "core/half.h"
#include "core/isa.h"

// The level plus AVX-512 BF16, for the one kernel that needs it (callers check cpu_features().avx512bf16).
#define QUANTLM_TARGET_AVX512BF16 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512bf16")))

// Intrinsics take void-ish vector pointers; the casts below only change the
// pointer type for unaligned loads.
// NOLINTBEGIN(cppcoreguidelines-pro-type-reinterpret-cast)

namespace quantlm::kernels::detail {
namespace {

enum class Weights : std::uint8_t { f32, f16, bf16 };

// 32 bf16 lanes from 512 bits: a vector reinterpretation, written as a
// functional cast (std::bit_cast, a template without the target attribute,
// would pass the vector through the non-AVX-512 ABI).
using Bf16x32 = __m512bh;
template <Weights W>
constexpr std::int64_t kElemBytes = W == Weights::f32 ? 4 : 2;

// Tokens per block: a block's activations (64 x cols floats) stay in L2 while
// every row of the thread's range passes over them.
constexpr std::int64_t kTokenBlock = 64;

// 16 weights as floats. F16 converts exactly with vcvtph2ps; BF16 is the top
// half of a float, so widening is a shift.
template <Weights W>
QUANTLM_TARGET_AVX512 inline __m512 load_w(const std::byte* p, __mmask16 m) {
  if constexpr (W == Weights::f32) {
    return _mm512_maskz_loadu_ps(m, p);
  } else if constexpr (W == Weights::f16) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
  } else {
    const __m512i wide = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
  }
}

template <Weights W>
QUANTLM_TARGET_AVX512 inline __m512 load_w(const std::byte* p) {
  if constexpr (W == Weights::f32) {
    return _mm512_loadu_ps(p);
  } else if constexpr (W == Weights::f16) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  } else {
    const __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
  }
}

// Sum of the 16 lanes. (_mm512_reduce_add_ps trips GCC 12's -Wuninitialized
// through the same header bug as above.)
QUANTLM_TARGET_AVX512 inline float hsum(__m512 v) {
  const __m512 halves = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, 0x4e));  // lanes 0-7 + lanes 8-15
  const __m256 h = _mm512_castps512_ps256(halves);
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Y[t, r] for R rows x T tokens: every weight load feeds T FMAs and every
// activation load R, with R*T independent accumulators to cover FMA latency.
// y points at Y[first token, first row].
template <Weights W, int R, int T>
QUANTLM_TARGET_AVX512 void tile(const std::byte* const* w, const float* const* x, std::int64_t cols, float* y,
                                std::int64_t y_stride) {
  __m512 acc[R][T];
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  }
  std::int64_t c = 0;
  for (; c + 16 <= cols; c += 16) {
    __m512 xv[T];
    for (int t = 0; t < T; ++t) xv[t] = _mm512_loadu_ps(x[t] + c);
    for (int r = 0; r < R; ++r) {
      const __m512 wv = load_w<W>(w[r] + c * kElemBytes<W>);
      for (int t = 0; t < T; ++t) acc[r][t] = _mm512_fmadd_ps(wv, xv[t], acc[r][t]);
    }
  }
  if (c < cols) {  // masked lanes read nothing and load zeros
    const auto m = static_cast<__mmask16>((1U << (cols - c)) - 1U);
    __m512 xv[T];
    for (int t = 0; t < T; ++t) xv[t] = _mm512_maskz_loadu_ps(m, x[t] + c);
    for (int r = 0; r < R; ++r) {
      const __m512 wv = load_w<W>(w[r] + c * kElemBytes<W>, m);
      for (int t = 0; t < T; ++t) acc[r][t] = _mm512_fmadd_ps(wv, xv[t], acc[r][t]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < T; ++t) y[t * y_stride + r] = hsum(acc[r][t]);
  }
}

// Rows [r, r + R) for tokens [t0, t1), four tokens at a time.
template <Weights W, int R>
QUANTLM_TARGET_AVX512 void tile_tokens(const MatmulArgs& a, const F32Activations& x, std::int64_t r, std::int64_t t0,
                                       std::int64_t t1) {
  const std::byte* w[R];
  for (int i = 0; i < R; ++i) w[i] = a.w.row(r + i);
  for (std::int64_t t = t0; t < t1; t += 4) {
    const float* xp[4];
    const std::int64_t nt = std::min<std::int64_t>(4, t1 - t);
    for (std::int64_t i = 0; i < nt; ++i) xp[i] = x.data + (t + i) * x.stride;
    float* y = a.y + t * a.y_stride + r;
    const std::int64_t cols = a.cols();
    switch (nt) {
      case 4:
        tile<W, R, 4>(w, xp, cols, y, a.y_stride);
        break;
      case 3:
        tile<W, R, 3>(w, xp, cols, y, a.y_stride);
        break;
      case 2:
        tile<W, R, 2>(w, xp, cols, y, a.y_stride);
        break;
      default:
        tile<W, R, 1>(w, xp, cols, y, a.y_stride);
        break;
    }
  }
}

template <Weights W>
QUANTLM_TARGET_AVX512 void rows_avx512(const MatmulArgs& a, std::int64_t row_begin, std::int64_t row_end) {
  const F32Activations x = f32_activations(a);
  if (a.n_tokens == 1) {  // decode: eight rows share each activation load
    const float* xp[1] = {x.data};
    std::int64_t r = row_begin;
    for (; r + 8 <= row_end; r += 8) {
      const std::byte* w[8];
      for (int i = 0; i < 8; ++i) w[i] = a.w.row(r + i);
      tile<W, 8, 1>(w, xp, a.cols(), a.y + r, a.y_stride);
    }
    for (; r < row_end; ++r) {
      const std::byte* w[1] = {a.w.row(r)};
      tile<W, 1, 1>(w, xp, a.cols(), a.y + r, a.y_stride);
    }
    return;
  }
  for (std::int64_t t0 = 0; t0 < a.n_tokens; t0 += kTokenBlock) {
    const std::int64_t t1 = std::min(a.n_tokens, t0 + kTokenBlock);
    std::int64_t r = row_begin;
    for (; r + 4 <= row_end; r += 4) tile_tokens<W, 4>(a, x, r, t0, t1);
    for (; r < row_end; ++r) tile_tokens<W, 1>(a, x, r, t0, t1);
  }
}

// AVX-512 BF16: 32 exact bf16 products per vdpbf16ps, summed in f32; R rows x T tokens as in tile().
template <int R, int T>
QUANTLM_TARGET_AVX512BF16 void tile_dpbf16(const std::byte* const* w, const std::byte* const* x, std::int64_t cols,
                                           float* y, std::int64_t y_stride) {
  __m512 acc[R][T];
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  }
  std::int64_t c = 0;
  for (; c + 32 <= cols; c += 32) {
    __m512bh xv[T];
    for (int t = 0; t < T; ++t) xv[t] = Bf16x32(_mm512_loadu_si512(x[t] + 2 * c));
    for (int r = 0; r < R; ++r) {
      const auto wv = Bf16x32(_mm512_loadu_si512(w[r] + 2 * c));
      for (int t = 0; t < T; ++t) acc[r][t] = _mm512_dpbf16_ps(acc[r][t], wv, xv[t]);
    }
  }
  if (c < cols) {
    const auto m = static_cast<__mmask32>((std::uint64_t{1} << (cols - c)) - 1U);
    __m512bh xv[T];
    for (int t = 0; t < T; ++t) xv[t] = Bf16x32(_mm512_maskz_loadu_epi16(m, x[t] + 2 * c));
    for (int r = 0; r < R; ++r) {
      const auto wv = Bf16x32(_mm512_maskz_loadu_epi16(m, w[r] + 2 * c));
      for (int t = 0; t < T; ++t) acc[r][t] = _mm512_dpbf16_ps(acc[r][t], wv, xv[t]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < T; ++t) y[t * y_stride + r] = hsum(acc[r][t]);
  }
}

template <int R>
QUANTLM_TARGET_AVX512BF16 void dpbf16_tokens(const MatmulArgs& a, std::int64_t r, std::int64_t t0, std::int64_t t1) {
  const std::byte* w[R];
  for (int i = 0; i < R; ++i) w[i] = a.w.row(r + i);
  for (std::int64_t t = t0; t < t1; t += 4) {
    const std::byte* xp[4];
    const std::int64_t nt = std::min<std::int64_t>(4, t1 - t);
    for (std::int64_t i = 0; i < nt; ++i) xp[i] = a.packed + (t + i) * a.packed_stride;
    float* y = a.y + t * a.y_stride + r;
    const std::int64_t cols = a.cols();
    switch (nt) {
      case 4:
        tile_dpbf16<R, 4>(w, xp, cols, y, a.y_stride);
        break;
      case 3:
        tile_dpbf16<R, 3>(w, xp, cols, y, a.y_stride);
        break;
      case 2:
        tile_dpbf16<R, 2>(w, xp, cols, y, a.y_stride);
        break;
      default:
        tile_dpbf16<R, 1>(w, xp, cols, y, a.y_stride);
        break;
    }
  }
}

}  // namespace

void f32_rows_avx512(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end) {
  rows_avx512<Weights::f32>(args, row_begin, row_end);
}
void f16_rows_avx512(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end) {
  rows_avx512<Weights::f16>(args, row_begin, row_end);
}
void bf16_rows_avx512(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end) {
  rows_avx512<Weights::bf16>(args, row_begin, row_end);
}

std::int64_t bf16_token_bytes(std::int64_t cols) { return (cols * 2 + 63) / 64 * 64; }

void pack_bf16(const float* x, std::int64_t cols, std::byte* dst) {
  const auto n = static_cast<std::size_t>(cols);
  fp32_to_bf16_row({x, n}, {reinterpret_cast<std::uint16_t*>(dst), n});
}

QUANTLM_TARGET_AVX512BF16 void bf16_rows_avx512bf16(const MatmulArgs& a, std::int64_t row_begin, std::int64_t row_end) {
  if (a.n_tokens == 1) {  // decode: eight rows share each activation load
    const std::byte* xp[1] = {a.packed};
    std::int64_t r = row_begin;
    for (; r + 8 <= row_end; r += 8) {
      const std::byte* w[8];
      for (int i = 0; i < 8; ++i) w[i] = a.w.row(r + i);
      tile_dpbf16<8, 1>(w, xp, a.cols(), a.y + r, a.y_stride);
    }
    for (; r < row_end; ++r) {
      const std::byte* w[1] = {a.w.row(r)};
      tile_dpbf16<1, 1>(w, xp, a.cols(), a.y + r, a.y_stride);
    }
    return;
  }
  for (std::int64_t t0 = 0; t0 < a.n_tokens; t0 += kTokenBlock) {
    const std::int64_t t1 = std::min(a.n_tokens, t0 + kTokenBlock);
    std::int64_t r = row_begin;
    for (; r + 4 <= row_end; r += 4) dpbf16_tokens<4>(a, r, t0, t1);
    for (; r < row_end; ++r) dpbf16_tokens<1>(a, r, t0, t1);
  }
}

}  // namespace quantlm::kernels::detail

// NOLINTEND(cppcoreguidelines-pro-type-reinterpret-cast)

#endif
