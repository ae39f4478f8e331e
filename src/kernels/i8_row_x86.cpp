// Dynamic W8A8 for I8_ROW on x86: AVX2 (vpmaddubsw) and AVX-512 VNNI (vpdpbusd) tiles of rows x tokens.
#include "kernels/i8_row_impl.h"

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

#include <algorithm>
#include <cassert>

#include "core/isa.h"

#define QUANTLM_TARGET_AVX512VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))

// NOLINTBEGIN(cppcoreguidelines-pro-type-reinterpret-cast): row codes and unaligned vector loads

namespace quantlm::kernels::detail {
namespace {

constexpr int kRows = 4;  // tiles of 4 rows x up to 4 tokens: 16 accumulators, each weight vector used 4 times

struct Tile {
  const std::uint8_t* codes[kRows];
  float dw[kRows];
};

Tile tile_rows(const MatmulArgs& args, std::int64_t r0, int rows) {
  Tile t{};
  for (int r = 0; r < kRows; ++r) {
    const std::byte* row = args.w.row(r0 + std::min(r, rows - 1));  // rows past the end repeat the last
    std::memcpy(&t.dw[r], row, 4);
    t.codes[r] = reinterpret_cast<const std::uint8_t*>(row + kI8RowHeader);
  }
  return t;
}

QUANTLM_TARGET_AVX2 inline std::int32_t hsum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

template <int T>
QUANTLM_TARGET_AVX2 void tile_avx2(const MatmulArgs& args, std::int64_t r0, int rows, std::int64_t t0) {
  const std::int64_t cols = args.cols();
  const Tile w = tile_rows(args, r0, rows);
  I8Token a[T];
  for (int t = 0; t < T; ++t) a[t] = i8_token(args.packed + (t0 + t) * args.packed_stride, cols);
  __m256i acc[kRows][T];
  for (auto& row : acc) {
    for (auto& v : row) v = _mm256_setzero_si256();
  }
  const __m256i ones = _mm256_set1_epi16(1);
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  alignas(32) std::uint8_t tail[kRows][32];
  for (std::int64_t c = 0; c < cols; c += 32) {
    __m256i level[kRows];
    for (int r = 0; r < kRows; ++r) {
      const std::uint8_t* p = w.codes[r] + c;
      if (c + 32 > cols) {  // the row's last codes, padded (the activations' padding is zero)
        std::memset(tail[r], 0, 32);
        std::memcpy(tail[r], p, static_cast<std::size_t>(cols - c));
        p = tail[r];
      }
      level[r] = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), flip);  // code − 128
    }
    for (int t = 0; t < T; ++t) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[t].qs + c));
      for (int r = 0; r < kRows; ++r) {
        // |level| (128 fits as unsigned) times q with level's sign: pairs ≤ 2 · 128 · 127 < 2^15, exact.
        const __m256i pairs = _mm256_maddubs_epi16(_mm256_abs_epi8(level[r]), _mm256_sign_epi8(q, level[r]));
        acc[r][t] = _mm256_add_epi32(acc[r][t], _mm256_madd_epi16(pairs, ones));
      }
    }
  }
  for (int t = 0; t < T; ++t) {
    for (int r = 0; r < rows; ++r) {
      args.y[(t0 + t) * args.y_stride + r0 + r] = static_cast<float>(hsum(acc[r][t])) * (w.dw[r] * a[t].d);
    }
  }
}

template <int T>
QUANTLM_TARGET_AVX512VNNI void tile_avx512(const MatmulArgs& args, std::int64_t r0, int rows, std::int64_t t0) {
  const std::int64_t cols = args.cols();
  const Tile w = tile_rows(args, r0, rows);
  I8Token a[T];
  for (int t = 0; t < T; ++t) a[t] = i8_token(args.packed + (t0 + t) * args.packed_stride, cols);
  __m512i acc[kRows][T];
  for (auto& row : acc) {
    for (auto& v : row) v = _mm512_setzero_si512();
  }
  for (std::int64_t c = 0; c < cols; c += 64) {
    // Past the row's end the codes load as 0; the activations' padding is 0, so they add nothing.
    const __mmask64 m = cols - c >= 64 ? ~__mmask64{0} : (__mmask64{1} << (cols - c)) - 1;
    __m512i u[kRows];
    for (int r = 0; r < kRows; ++r) u[r] = _mm512_maskz_loadu_epi8(m, w.codes[r] + c);
    for (int t = 0; t < T; ++t) {
      const __m512i q = _mm512_loadu_si512(a[t].qs + c);  // tokens are padded to 64 bytes
      for (int r = 0; r < kRows; ++r) acc[r][t] = _mm512_dpbusd_epi32(acc[r][t], u[r], q);
    }
  }
  for (int t = 0; t < T; ++t) {
    for (int r = 0; r < rows; ++r) {
      const __m512i v = acc[r][t];
      // code = level + 128: subtract 128 · Σq, exactly.
      const std::int32_t isum = hsum(_mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1))) -
                                kI8RowCodeOffset * a[t].sum;
      args.y[(t0 + t) * args.y_stride + r0 + r] = static_cast<float>(isum) * (w.dw[r] * a[t].d);
    }
  }
}

template <void (*Tile1)(const MatmulArgs&, std::int64_t, int, std::int64_t),
          void (*Tile2)(const MatmulArgs&, std::int64_t, int, std::int64_t),
          void (*Tile3)(const MatmulArgs&, std::int64_t, int, std::int64_t),
          void (*Tile4)(const MatmulArgs&, std::int64_t, int, std::int64_t)>
void rows(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end) {
  assert(args.packed != nullptr && args.cols() < (std::int64_t{1} << 31) / (128 * 127));
  for (std::int64_t r = row_begin; r < row_end; r += kRows) {
    const int n = static_cast<int>(std::min<std::int64_t>(kRows, row_end - r));
    std::int64_t t = 0;
    for (; t + 4 <= args.n_tokens; t += 4) Tile4(args, r, n, t);
    switch (args.n_tokens - t) {
      case 3:
        Tile3(args, r, n, t);
        break;
      case 2:
        Tile2(args, r, n, t);
        break;
      case 1:
        Tile1(args, r, n, t);
        break;
      default:
        break;
    }
  }
}

}  // namespace

void i8_row_rows_avx2(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end) {
  rows<&tile_avx2<1>, &tile_avx2<2>, &tile_avx2<3>, &tile_avx2<4>>(args, row_begin, row_end);
}

void i8_row_rows_avx512vnni(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end) {
  rows<&tile_avx512<1>, &tile_avx512<2>, &tile_avx512<3>, &tile_avx512<4>>(args, row_begin, row_end);
}

}  // namespace quantlm::kernels::detail

// NOLINTEND(cppcoreguidelines-pro-type-reinterpret-cast)

#endif
