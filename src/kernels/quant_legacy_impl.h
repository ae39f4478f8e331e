// Internal to kernels/: the legacy block formats (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL) as integer levels, and their
// row kernels per ISA.
#pragma once

#include <array>
#include <cstdint>

#include "core/half.h"
#include "formats/blocks_legacy.h"
#include "formats/format_traits.h"
#include "kernels/matmul.h"

namespace quantlm::kernels::detail {

// What every legacy kernel computes, per row r and token t, over the blocks b in order:
//   isum = Σ_i level(w_b, i) · q_a(t, b, i)             exact int32
//   acc  = fma(float(isum), d_w · d_a, acc)             then, for Q4_1 / Q5_1, acc = fma(m_w, s_a, acc)
// Every path sums the same integers exactly and runs this same sequence of f32 operations, so all paths (and
// decode and prefill) give the scalar kernel's result bit for bit. level() is the block's integer value: signed
// (Q8_0: q, Q4_0: q − 8, Q5_0: q − 16, IQ4_NL: the codebook) or, for formats with a minimum (Q4_1, Q5_1), unsigned q
// whose offset m enters through the activations' s = d_a · Σq_a.
// kOffset makes every level a byte 0..255 (level + kOffset) for vpdpbusd, whose first operand is unsigned; the
// kernels then subtract kOffset · Σq_a, exactly, in int32.
template <formats::FormatId F>
struct Legacy;

template <>
struct Legacy<formats::FormatId::Q8_0> {
  using Block = formats::BlockQ8_0;
  static constexpr bool kHasMin = false;
  static constexpr int kOffset = 128;
  static void levels(const Block& b, std::int8_t* out) {
    for (int i = 0; i < formats::kLegacyBlock; ++i) out[i] = b.qs[static_cast<std::size_t>(i)];
  }
};

// Nibble formats: byte j holds value j (low nibble) and value j + 16 (high nibble).
template <typename Block>
inline void nibbles(const Block& b, int bias, std::int8_t* out) {
  for (std::size_t j = 0; j < 16; ++j) {
    out[j] = static_cast<std::int8_t>((b.qs[j] & 0x0F) - bias);
    out[j + 16] = static_cast<std::int8_t>((b.qs[j] >> 4) - bias);
  }
}

// Adds the fifth bit (bit j of the little-endian qh word) to value j.
template <typename Block>
inline void fifth_bits(const Block& b, std::int8_t* out) {
  const std::uint32_t qh = std::uint32_t{b.qh[0]} | std::uint32_t{b.qh[1]} << 8 | std::uint32_t{b.qh[2]} << 16 |
                           std::uint32_t{b.qh[3]} << 24;
  for (int i = 0; i < formats::kLegacyBlock; ++i) out[i] = static_cast<std::int8_t>(out[i] + (((qh >> i) & 1U) << 4));
}

template <>
struct Legacy<formats::FormatId::Q4_0> {
  using Block = formats::BlockQ4_0;
  static constexpr bool kHasMin = false;
  static constexpr int kOffset = 8;
  static void levels(const Block& b, std::int8_t* out) { nibbles(b, 8, out); }
};

template <>
struct Legacy<formats::FormatId::Q4_1> {
  using Block = formats::BlockQ4_1;
  static constexpr bool kHasMin = true;
  static constexpr int kOffset = 0;
  static void levels(const Block& b, std::int8_t* out) { nibbles(b, 0, out); }
};

template <>
struct Legacy<formats::FormatId::Q5_0> {
  using Block = formats::BlockQ5_0;
  static constexpr bool kHasMin = false;
  static constexpr int kOffset = 16;
  static void levels(const Block& b, std::int8_t* out) {
    nibbles(b, 0, out);
    fifth_bits(b, out);
    for (int i = 0; i < formats::kLegacyBlock; ++i) out[i] = static_cast<std::int8_t>(out[i] - 16);
  }
};

template <>
struct Legacy<formats::FormatId::Q5_1> {
  using Block = formats::BlockQ5_1;
  static constexpr bool kHasMin = true;
  static constexpr int kOffset = 0;
  static void levels(const Block& b, std::int8_t* out) {
    nibbles(b, 0, out);
    fifth_bits(b, out);
  }
};

template <>
struct Legacy<formats::FormatId::IQ4_NL> {
  using Block = formats::BlockIQ4_NL;
  static constexpr bool kHasMin = false;
  static constexpr int kOffset = 128;
  static void levels(const Block& b, std::int8_t* out) {
    for (std::size_t j = 0; j < 16; ++j) {
      out[j] = formats::kIq4NlValues[b.qs[j] & 0x0FU];
      out[j + 16] = formats::kIq4NlValues[b.qs[j] >> 4];
    }
  }
};

// The block's minimum (formats with kHasMin), as f32.
template <typename Block>
inline float block_min(const Block& b) {
  if constexpr (requires { b.m; }) {
    return fp16_to_fp32(b.m);
  } else {
    return 0.0F;
  }
}

// Row kernels (RowsFn), instantiated for the six formats in their files. All use pack_q8 (q8_activations.h).
template <formats::FormatId F>
void legacy_rows_scalar(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end);
#if defined(__x86_64__)
// AVX2: vpmaddubsw on |level| and sign-adjusted activations (exact: |products| ≤ 127·127, pairs ≤ 32258).
template <formats::FormatId F>
void legacy_rows_avx2(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end);
// AVX-512 VNNI: vpdpbusd on level + kOffset; decode row by row, prefill on 16-row panels repacked per thread.
template <formats::FormatId F>
void legacy_rows_avx512vnni(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end);
#endif

#define QUANTLM_LEGACY_FORMATS(X) X(Q8_0) X(Q4_0) X(Q4_1) X(Q5_0) X(Q5_1) X(IQ4_NL)

#define QUANTLM_LEGACY_EXTERN(fn, F) \
  extern template void fn<formats::FormatId::F>(const MatmulArgs&, std::int64_t, std::int64_t);
#define QUANTLM_LEGACY_EXTERN_SCALAR(F) QUANTLM_LEGACY_EXTERN(legacy_rows_scalar, F)
QUANTLM_LEGACY_FORMATS(QUANTLM_LEGACY_EXTERN_SCALAR)
#if defined(__x86_64__)
#define QUANTLM_LEGACY_EXTERN_AVX2(F) QUANTLM_LEGACY_EXTERN(legacy_rows_avx2, F)
#define QUANTLM_LEGACY_EXTERN_AVX512(F) QUANTLM_LEGACY_EXTERN(legacy_rows_avx512vnni, F)
QUANTLM_LEGACY_FORMATS(QUANTLM_LEGACY_EXTERN_AVX2)
QUANTLM_LEGACY_FORMATS(QUANTLM_LEGACY_EXTERN_AVX512)
#endif

}  // namespace quantlm::kernels::detail
