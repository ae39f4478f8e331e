// AVX-512 VNNI kernels of the legacy block formats against Q8 activations: vpdpbusd row tiles for decode, and
// 16-row panels repacked per thread for prefill so one dpbusd lane holds one row's whole block sum.
#include "kernels/quant_legacy_x86.h"

#if defined(__x86_64__)

#include <algorithm>
#include <cassert>
#include <cstring>

#include "core/aligned_buffer.h"
#include "kernels/q8_activations.h"

#define QUANTLM_TARGET_AVX512VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))

// NOLINTBEGIN(cppcoreguidelines-pro-type-reinterpret-cast): packed blocks and unaligned vector loads

namespace quantlm::kernels::detail {
namespace {

using formats::FormatId;

// Below this many tokens the panel's repacking (about one pass over the weights) costs more than it saves.
constexpr std::int64_t kPanelMinTokens = 8;
constexpr int kPanelRows = 16;   // one zmm lane per row
constexpr int kPanelTokens = 8;  // token tile: 8 independent dpbusd chains

constexpr int kTileRows = 8;  // one ymm lane per row once the block sums are reduced

// Blocks b and b + 1 of a row as 64 bytes of level + kOffset, in value order.
template <FormatId F>
QUANTLM_TARGET_AVX512VNNI inline __m512i unpack_u8x2(const typename Legacy<F>::Block* p) {
  if constexpr (F != FormatId::Q8_0) {
    // Both blocks' nibble bytes, then their high nibbles: 128-bit lanes [b lo, b+1 lo, b hi, b+1 hi], reordered.
    const __m256i bytes = _mm256_loadu2_m128i(reinterpret_cast<const __m128i*>(p[1].qs.data()),
                                              reinterpret_cast<const __m128i*>(p[0].qs.data()));
    const __m512i both = _mm512_inserti64x4(_mm512_castsi256_si512(bytes), _mm256_srli_epi16(bytes, 4), 1);
    const __m512i masked = _mm512_and_si512(both, _mm512_set1_epi8(0x0F));
    const __m512i nibbles = _mm512_shuffle_i64x2(masked, masked, _MM_SHUFFLE(3, 1, 2, 0));
    if constexpr (F == FormatId::IQ4_NL) {
      const __m512i table = _mm512_broadcast_i32x4(
          _mm_setr_epi8(1, 24, 45, 63, 79, 93, 106, 118, static_cast<char>(129), static_cast<char>(141),
                        static_cast<char>(153), static_cast<char>(166), static_cast<char>(181), static_cast<char>(197),
                        static_cast<char>(217), static_cast<char>(241)));
      return _mm512_shuffle_epi8(table, nibbles);
    } else if constexpr (F == FormatId::Q5_0 || F == FormatId::Q5_1) {
      // Bit j of the two qh words, block b's then block b + 1's, is the fifth bit of value j of the pair: a mask.
      std::uint32_t qh[2];
      std::memcpy(&qh[0], p[0].qh.data(), 4);
      std::memcpy(&qh[1], p[1].qh.data(), 4);
      const __mmask64 high = _cvtu64_mask64(std::uint64_t{qh[0]} | std::uint64_t{qh[1]} << 32);
      return _mm512_or_si512(nibbles, _mm512_maskz_mov_epi8(high, _mm512_set1_epi8(0x10)));
    } else {
      return nibbles;
    }
  } else {
    return _mm512_inserti64x4(_mm512_castsi256_si512(unpack_u8<F>(p[0])), unpack_u8<F>(p[1]), 1);  // Q8_0
  }
}

// Exact sums of the 8 dword lanes of each half of z[0..7] (row r, blocks b | b + 1): lane r of `first` is row r's
// block-b sum, of `second` its block-(b + 1) sum. Adds and shuffles only, all on int32.
QUANTLM_TARGET_AVX512VNNI inline void sum_lanes8x2(const __m512i* z, __m256i& first, __m256i& second) {
  __m512i p[4];
  for (int i = 0; i < 4; ++i) {  // per 128-bit lane: [a0+a2, b0+b2, a1+a3, b1+b3] of rows a = 2i, b = 2i + 1
    p[i] =
        _mm512_add_epi32(_mm512_unpacklo_epi32(z[2 * i], z[2 * i + 1]), _mm512_unpackhi_epi32(z[2 * i], z[2 * i + 1]));
  }
  // Per 128-bit lane: the lane's sum for rows 0..3 (q0) and 4..7 (q1).
  const __m512i q0 = _mm512_add_epi32(_mm512_unpacklo_epi64(p[0], p[1]), _mm512_unpackhi_epi64(p[0], p[1]));
  const __m512i q1 = _mm512_add_epi32(_mm512_unpacklo_epi64(p[2], p[3]), _mm512_unpackhi_epi64(p[2], p[3]));
  // Block b is 128-bit lanes 0 + 1, block b + 1 lanes 2 + 3: [rows 0-3 b, rows 0-3 b+1, rows 4-7 b, rows 4-7 b+1].
  const __m512i s = _mm512_add_epi32(_mm512_shuffle_i64x2(q0, q1, _MM_SHUFFLE(2, 0, 2, 0)),
                                     _mm512_shuffle_i64x2(q0, q1, _MM_SHUFFLE(3, 1, 3, 1)));
  const __m512i ordered = _mm512_shuffle_i64x2(s, s, _MM_SHUFFLE(3, 1, 2, 0));
  first = _mm512_castsi512_si256(ordered);
  second = _mm512_extracti64x4_epi64(ordered, 1);
}

QUANTLM_TARGET_AVX512VNNI inline __m256 upper(__m512 v) {
  return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
}

// Y for rows [r0, r0 + 8) and tokens [t0, t0 + T); rows past `rows` repeat the last one and are not stored. Each
// block is unpacked once per tile. A block's integer products are summed exactly (int32 lanes, then
// sum_lanes8x2 or sum_lanes8), so every output is the scalar kernel's sequence acc = fma(isum, d_w·d_a, acc) [+ fma(m,
// s, acc)] over the blocks in order: bit for bit the scalar result, in decode and prefill alike.
template <FormatId F, int T>
QUANTLM_TARGET_AVX512VNNI void tile(const MatmulArgs& args, std::int64_t r0, int rows, std::int64_t t0) {
  using L = Legacy<F>;
  using Block = typename L::Block;
  const std::int64_t nb = args.cols() / kQ8Block;
  const Block* w[kTileRows];
  Q8Token a[T];
  for (int r = 0; r < kTileRows; ++r) w[r] = reinterpret_cast<const Block*>(args.w.row(r0 + std::min(r, rows - 1)));
  for (int t = 0; t < T; ++t) a[t] = q8_token(args.packed + (t0 + t) * args.packed_stride, args.cols());
  __m256 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
  // Two blocks per step: 64-byte dpbusd, and the scales of both blocks of all 8 rows in one gather (offsets from
  // row 0's block b: the rows' d, then the next blocks' d; m likewise).
  alignas(64) std::int32_t offsets[16];
  for (int r = 0; r < kTileRows; ++r) {
    const std::ptrdiff_t row = reinterpret_cast<const std::byte*>(w[r]) - reinterpret_cast<const std::byte*>(w[0]);
    assert(row >= 0 && row < (std::ptrdiff_t{1} << 30));
    offsets[r] = static_cast<std::int32_t>(row);
    offsets[r + kTileRows] = static_cast<std::int32_t>(row + static_cast<std::ptrdiff_t>(sizeof(Block)));
  }
  const __m512i d_index = _mm512_add_epi32(_mm512_load_si512(offsets), _mm512_set1_epi32(offsetof(Block, d)));
  std::int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    __m512i u[kTileRows];
    for (int r = 0; r < kTileRows; ++r) u[r] = unpack_u8x2<F>(w[r] + b);
    const void* base = w[0] + b;
    const __m512 dw = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_i32gather_epi32(d_index, base, 1)));
    __m512 mw = _mm512_setzero_ps();
    if constexpr (L::kHasMin) {
      const __m512i m_index = _mm512_add_epi32(_mm512_load_si512(offsets), _mm512_set1_epi32(offsetof(Block, m)));
      mw = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_i32gather_epi32(m_index, base, 1)));
    }
    for (int t = 0; t < T; ++t) {
      const __m512i q = _mm512_loadu_si512(a[t].qs + b * kQ8Block);
      // Seeds lanes 0 and 8 with the blocks' −kOffset · Σq_a (see the single-block step below).
      __m512i seed = _mm512_setzero_si512();
      if constexpr (L::kOffset != 0) {
        const __m128i sums = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(a[t].sum + b));
        seed = _mm512_maskz_expand_epi32(0x0101,
                                         _mm512_castsi128_si512(_mm_mullo_epi32(sums, _mm_set1_epi32(-L::kOffset))));
      }
      __m512i dots[kTileRows];
      for (int r = 0; r < kTileRows; ++r) dots[r] = _mm512_dpbusd_epi32(seed, u[r], q);
      __m256i first;
      __m256i second;
      sum_lanes8x2(dots, first, second);
      const __m512 da = _mm512_insertf32x4(_mm512_set1_ps(a[t].d[b]), _mm_set1_ps(a[t].d[b + 1]), 2);
      const __m512 scale = _mm512_mul_ps(dw, _mm512_shuffle_f32x4(da, da, _MM_SHUFFLE(2, 2, 0, 0)));
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(first), _mm512_castps512_ps256(scale), acc[t]);
      if constexpr (L::kHasMin) acc[t] = _mm256_fmadd_ps(_mm512_castps512_ps256(mw), _mm256_set1_ps(a[t].s[b]), acc[t]);
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(second), upper(scale), acc[t]);
      if constexpr (L::kHasMin) acc[t] = _mm256_fmadd_ps(upper(mw), _mm256_set1_ps(a[t].s[b + 1]), acc[t]);
    }
  }
  for (; b < nb; ++b) {
    __m256i u[kTileRows];
    for (int r = 0; r < kTileRows; ++r) u[r] = unpack_u8<F>(w[r][b]);
    const __m256 dw = halves8(w, b, offsetof(Block, d));
    __m256 mw = _mm256_setzero_ps();
    if constexpr (L::kHasMin) mw = halves8(w, b, offsetof(Block, m));
    for (int t = 0; t < T; ++t) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[t].qs + b * kQ8Block));
      __m256i dots[kTileRows];
      // The offset's share, kOffset · Σq_a, seeds lane 0: the lanes still sum to the exact block product.
      const __m256i seed = _mm256_zextsi128_si256(_mm_cvtsi32_si128(-L::kOffset * a[t].sum[b]));
      for (int r = 0; r < kTileRows; ++r) dots[r] = _mm256_dpbusd_epi32(seed, u[r], q);
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

// A panel: up to 16 rows repacked so that 64 bytes hold 4 consecutive levels (+ kOffset) of each of the 16 rows:
//   u[(b · 8 + g) · 64 + 4 · r + k] = level(row r, block b, value 4g + k) + kOffset
//   d[b · 16 + r], m[b · 16 + r]  the rows' scales and minima as f32 (0 for rows past the panel's end)
// With 4 activation bytes broadcast, one vpdpbusd then advances 16 rows by 4 columns, and after 8 of them lane r
// holds row r's exact block sum: no horizontal sums at all.
struct Panel {
  AlignedBuffer<std::byte> bytes;
  std::uint8_t* u = nullptr;
  float* d = nullptr;
  float* m = nullptr;

  void reserve(std::int64_t nb) {
    const auto need = static_cast<std::size_t>(nb * (kQ8Block * kPanelRows + 2 * kPanelRows * 4));
    if (bytes.size() < need) bytes = AlignedBuffer<std::byte>(need, BufferInit::uninitialized);
    u = reinterpret_cast<std::uint8_t*>(bytes.data());
    d = reinterpret_cast<float*>(bytes.data() + nb * kQ8Block * kPanelRows);
    m = d + nb * kPanelRows;
  }
};

template <FormatId F>
QUANTLM_TARGET_AVX512VNNI void repack(const MatmulArgs& args, std::int64_t r0, int rows, Panel& p) {
  using L = Legacy<F>;
  using Block = typename L::Block;
  const std::int64_t nb = args.cols() / kQ8Block;
  alignas(64) std::uint8_t unpacked[kPanelRows * kQ8Block] = {};  // [row][value]; rows past `rows` stay zero
  const Block* w[kPanelRows];
  for (int r = 0; r < rows; ++r) w[r] = reinterpret_cast<const Block*>(args.w.row(r0 + r));
  // Lane r gathers the dword at row r's offset: a 16 x 8 dword transpose.
  const __m512i index = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                           _mm512_set1_epi32(kQ8Block));
  for (std::int64_t b = 0; b < nb; ++b) {
    for (int r = 0; r < kPanelRows; ++r) {
      if (r < rows) {
        _mm256_store_si256(reinterpret_cast<__m256i*>(unpacked + r * kQ8Block), unpack_u8<F>(w[r][b]));
        p.d[b * kPanelRows + r] = half_to_float(w[r][b].d);
        p.m[b * kPanelRows + r] = L::kHasMin ? block_min(w[r][b]) : 0.0F;
      } else {
        p.d[b * kPanelRows + r] = 0.0F;
        p.m[b * kPanelRows + r] = 0.0F;
      }
    }
    for (int g = 0; g < kQ8Block / 4; ++g) {
      const __m512i v = _mm512_i32gather_epi32(index, unpacked + 4 * g, 1);
      _mm512_store_si512(p.u + (b * 8 + g) * 64, v);
    }
  }
}

template <FormatId F, int T>
QUANTLM_TARGET_AVX512VNNI void panel_tile(const MatmulArgs& args, const Panel& p, std::int64_t r0, int rows,
                                          std::int64_t t0) {
  using L = Legacy<F>;
  const std::int64_t nb = args.cols() / kQ8Block;
  Q8Token a[T];
  for (int t = 0; t < T; ++t) a[t] = q8_token(args.packed + (t0 + t) * args.packed_stride, args.cols());
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (std::int64_t b = 0; b < nb; ++b) {
    __m512i sums[T];
    for (int t = 0; t < T; ++t) sums[t] = _mm512_set1_epi32(-L::kOffset * a[t].sum[b]);
    const std::uint8_t* u = p.u + b * 8 * 64;
    for (int g = 0; g < kQ8Block / 4; ++g) {
      const __m512i wv = _mm512_load_si512(u + g * 64);
      for (int t = 0; t < T; ++t) {
        std::int32_t quad = 0;
        std::memcpy(&quad, a[t].qs + b * kQ8Block + 4 * g, 4);
        sums[t] = _mm512_dpbusd_epi32(sums[t], wv, _mm512_set1_epi32(quad));
      }
    }
    const __m512 dw = _mm512_load_ps(p.d + b * kPanelRows);
    for (int t = 0; t < T; ++t) {
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums[t]), _mm512_mul_ps(dw, _mm512_set1_ps(a[t].d[b])), acc[t]);
      if constexpr (L::kHasMin) {
        acc[t] = _mm512_fmadd_ps(_mm512_load_ps(p.m + b * kPanelRows), _mm512_set1_ps(a[t].s[b]), acc[t]);
      }
    }
  }
  const auto mask = static_cast<__mmask16>((1U << rows) - 1U);
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(args.y + (t0 + t) * args.y_stride + r0, mask, acc[t]);
}

template <FormatId F>
void panel_rows(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end) {
  thread_local Panel panel;
  panel.reserve(args.cols() / kQ8Block);
  for (std::int64_t r = row_begin; r < row_end; r += kPanelRows) {
    const int rows = static_cast<int>(std::min<std::int64_t>(kPanelRows, row_end - r));
    repack<F>(args, r, rows, panel);
    std::int64_t t = 0;
    for (; t + kPanelTokens <= args.n_tokens; t += kPanelTokens) panel_tile<F, kPanelTokens>(args, panel, r, rows, t);
    switch (args.n_tokens - t) {
      case 7:
        panel_tile<F, 7>(args, panel, r, rows, t);
        break;
      case 6:
        panel_tile<F, 6>(args, panel, r, rows, t);
        break;
      case 5:
        panel_tile<F, 5>(args, panel, r, rows, t);
        break;
      case 4:
        panel_tile<F, 4>(args, panel, r, rows, t);
        break;
      case 3:
        panel_tile<F, 3>(args, panel, r, rows, t);
        break;
      case 2:
        panel_tile<F, 2>(args, panel, r, rows, t);
        break;
      case 1:
        panel_tile<F, 1>(args, panel, r, rows, t);
        break;
      default:
        break;
    }
  }
}

}  // namespace

template <FormatId F>
void legacy_rows_avx512vnni(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end) {
  assert((args.packed != nullptr || args.cols() == 0) && args.cols() % kQ8Block == 0);
  if (args.n_tokens >= kPanelMinTokens) {
    panel_rows<F>(args, row_begin, row_end);
    return;
  }
  for (std::int64_t r = row_begin; r < row_end; r += kTileRows) {
    tile_rows<F>(args, r, static_cast<int>(std::min<std::int64_t>(kTileRows, row_end - r)));
  }
}

#define QUANTLM_LEGACY_INSTANTIATE(F) \
  template void legacy_rows_avx512vnni<FormatId::F>(const MatmulArgs&, std::int64_t, std::int64_t);
QUANTLM_LEGACY_FORMATS(QUANTLM_LEGACY_INSTANTIATE)

}  // namespace quantlm::kernels::detail

// NOLINTEND(cppcoreguidelines-pro-type-reinterpret-cast)

#endif
