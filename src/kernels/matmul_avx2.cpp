// AVX2 + FMA + F16C row kernels for F32, F16 and BF16 weights.
#include "kernels/matmul_impl.h"

#if defined(__x86_64__)

#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "core/isa.h"

// Intrinsics take void-ish vector pointers; the casts below only change the
// pointer type for unaligned loads.
// NOLINTBEGIN(cppcoreguidelines-pro-type-reinterpret-cast)

namespace quantlm::kernels::detail {
namespace {

enum class Weights : std::uint8_t { f32, f16, bf16 };
template <Weights W>
constexpr std::int64_t kElemBytes = W == Weights::f32 ? 4 : 2;

constexpr std::int64_t kTokenBlock = 64;  // as in the AVX-512 kernels: a block's activations stay in L2

// 8 weights as floats (F16 exactly via vcvtph2ps, BF16 by a shift).
template <Weights W>
QUANTLM_TARGET_AVX2 inline __m256 load_w(const std::byte* p) {
  if constexpr (W == Weights::f32) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(p));
  } else if constexpr (W == Weights::f16) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  } else {
    const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
  }
}

QUANTLM_TARGET_AVX2 inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Y[t, r] for R rows x T tokens, as the AVX-512 tile. AVX2 has no masked
// loads for 16-bit lanes, so the last partial step copies what is left of
// each row into zero-padded buffers: it reads nothing past the rows.
template <Weights W, int R, int T>
QUANTLM_TARGET_AVX2 void tile(const std::byte* const* w, const float* const* x, std::int64_t cols, float* y,
                              std::int64_t y_stride) {
  __m256 acc[R][T];
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
  }
  std::int64_t c = 0;
  for (; c + 8 <= cols; c += 8) {
    __m256 xv[T];
    for (int t = 0; t < T; ++t) xv[t] = _mm256_loadu_ps(x[t] + c);
    for (int r = 0; r < R; ++r) {
      const __m256 wv = load_w<W>(w[r] + c * kElemBytes<W>);
      for (int t = 0; t < T; ++t) acc[r][t] = _mm256_fmadd_ps(wv, xv[t], acc[r][t]);
    }
  }
  if (c < cols) {
    const auto rest = static_cast<std::size_t>(cols - c);
    __m256 xv[T];
    for (int t = 0; t < T; ++t) {
      float buf[8] = {};
      std::memcpy(buf, x[t] + c, rest * sizeof(float));
      xv[t] = _mm256_loadu_ps(buf);
    }
    for (int r = 0; r < R; ++r) {
      std::byte buf[8 * 4] = {};
      std::memcpy(buf, w[r] + c * kElemBytes<W>, rest * kElemBytes<W>);
      const __m256 wv = load_w<W>(buf);
      for (int t = 0; t < T; ++t) acc[r][t] = _mm256_fmadd_ps(wv, xv[t], acc[r][t]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < T; ++t) y[t * y_stride + r] = hsum(acc[r][t]);
  }
}

// Rows [r, r + R) for tokens [t0, t1), two tokens at a time (16 ymm registers
// hold 4 x 2 accumulators plus the operands).
template <Weights W, int R>
QUANTLM_TARGET_AVX2 void tile_tokens(const MatmulArgs& a, const F32Activations& x, std::int64_t r, std::int64_t t0,
                                     std::int64_t t1) {
  const std::byte* w[R];
  for (int i = 0; i < R; ++i) w[i] = a.w.row(r + i);
  std::int64_t t = t0;
  for (; t + 2 <= t1; t += 2) {
    const float* xp[2] = {x.data + t * x.stride, x.data + (t + 1) * x.stride};
    tile<W, R, 2>(w, xp, a.cols(), a.y + t * a.y_stride + r, a.y_stride);
  }
  if (t < t1) {
    const float* xp[1] = {x.data + t * x.stride};
    tile<W, R, 1>(w, xp, a.cols(), a.y + t * a.y_stride + r, a.y_stride);
  }
}

template <Weights W>
QUANTLM_TARGET_AVX2 void rows_avx2(const MatmulArgs& a, std::int64_t row_begin, std::int64_t row_end) {
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

}  // namespace

void f32_rows_avx2(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end) {
  rows_avx2<Weights::f32>(args, row_begin, row_end);
}
void f16_rows_avx2(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end) {
  rows_avx2<Weights::f16>(args, row_begin, row_end);
}
void bf16_rows_avx2(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end) {
  rows_avx2<Weights::bf16>(args, row_begin, row_end);
}

}  // namespace quantlm::kernels::detail

// NOLINTEND(cppcoreguidelines-pro-type-reinterpret-cast)

#endif
