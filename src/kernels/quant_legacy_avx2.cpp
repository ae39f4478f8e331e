// AVX2 kernels of the legacy block formats against Q8 activations: vpmaddubsw products, register tiles of rows x
// tokens.
#include "kernels/quant_legacy_x86.h"

#if defined(__x86_64__)

#include <algorithm>
#include <cassert>
#include <cstddef>

#include "kernels/q8_activations.h"

// NOLINTBEGIN(cppcoreguidelines-pro-type-reinterpret-cast): packed blocks and unaligned vector loads

namespace quantlm::kernels::detail {
namespace {

using formats::FormatId;

constexpr int kTileRows = 8;  // one ymm lane per row once the block sums are reduced

// Y for rows [r0, r0 + 8) and tokens [t0, t0 + T); rows past `rows` repeat the last one and are not stored. Each
// block is unpacked once per tile. A block's integer products are summed exactly (8 int32 lanes, then
// sum_lanes8), so every output is the scalar kernel's sequence acc = fma(isum, d_w·d_a, acc) [+ fma(m, s, acc)]
// over the blocks in order: bit for bit the scalar result, in decode and prefill alike.
template <FormatId F, int T>
QUANTLM_TARGET_AVX2 void tile(const MatmulArgs& args, std::int64_t r0, int rows, std::int64_t t0) {
  using L = Legacy<F>;
  using Block = typename L::Block;
  const std::int64_t nb = args.cols() / kQ8Block;
  const Block* w[kTileRows];
  Q8Token a[T];
  for (int r = 0; r < kTileRows; ++r) w[r] = reinterpret_cast<const Block*>(args.w.row(r0 + std::min(r, rows - 1)));
  for (int t = 0; t < T; ++t) a[t] = q8_token(args.packed + (t0 + t) * args.packed_stride, args.cols());
  __m256 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
  for (std::int64_t b = 0; b < nb; ++b) {
    __m256i levels[kTileRows];
    for (int r = 0; r < kTileRows; ++r) levels[r] = unpack_levels<F>(w[r][b]);
    const __m256 dw = halves8(w, b, offsetof(Block, d));
    __m256 mw = _mm256_setzero_ps();
    if constexpr (L::kHasMin) mw = halves8(w, b, offsetof(Block, m));
    for (int t = 0; t < T; ++t) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[t].qs + b * kQ8Block));
      __m256i dots[kTileRows];
      for (int r = 0; r < kTileRows; ++r) {
        __m256i pairs;
        if constexpr (L::kOffset != 0) {
          // |w| · (a with w's sign): the unsigned operand of vpmaddubsw must not be negative.
          pairs = _mm256_maddubs_epi16(_mm256_abs_epi8(levels[r]), _mm256_sign_epi8(q, levels[r]));
        } else {
          pairs = _mm256_maddubs_epi16(levels[r], q);  // levels 0..31: pairs stay far below 2^15
        }
        dots[r] = _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
      }
      const __m256 isum = _mm256_cvtepi32_ps(sum_lanes8(dots));
      acc[t] = _mm256_fmadd_ps(isum, _mm256_mul_ps(dw, _mm256_set1_ps(a[t].d[b])), acc[t]);
      if constexpr (L::kHasMin) acc[t] = _mm256_fmadd_ps(mw, _mm256_set1_ps(a[t].s[b]), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) {
    float* y = args.y + (t0 + t) * args.y_stride + r0;
    if (rows == kTileRows) {
      _mm256_storeu_ps(y, acc[t]);
    } else {
      alignas(32) float out[kTileRows];
      _mm256_store_ps(out, acc[t]);
      for (int r = 0; r < rows; ++r) y[r] = out[r];
    }
  }
}

template <FormatId F>
void tile_rows(const MatmulArgs& args, std::int64_t r0, int rows) {
  std::int64_t t = 0;
  for (; t + 4 <= args.n_tokens; t += 4) tile<F, 4>(args, r0, rows, t);
  switch (args.n_tokens - t) {
    case 3:
      tile<F, 3>(args, r0, rows, t);
      break;
    case 2:
      tile<F, 2>(args, r0, rows, t);
      break;
    case 1:
      tile<F, 1>(args, r0, rows, t);
      break;
    default:
      break;
  }
}

}  // namespace

template <FormatId F>
void legacy_rows_avx2(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end) {
  assert((args.packed != nullptr || args.cols() == 0) && args.cols() % kQ8Block == 0);
  for (std::int64_t r = row_begin; r < row_end; r += kTileRows) {
    tile_rows<F>(args, r, static_cast<int>(std::min<std::int64_t>(kTileRows, row_end - r)));
  }
}

#define QUANTLM_LEGACY_INSTANTIATE(F) \
  template void legacy_rows_avx2<FormatId::F>(const MatmulArgs&, std::int64_t, std::int64_t);
QUANTLM_LEGACY_FORMATS(QUANTLM_LEGACY_INSTANTIATE)

}  // namespace quantlm::kernels::detail

// NOLINTEND(cppcoreguidelines-pro-type-reinterpret-cast)

#endif
