// Internal to kernels/: the integer K-quant and ternary kernels' shared block form, format tags and row kernels.
#pragma once

#include <array>
#include <cstdint>

#include "formats/blocks_k.h"
#include "formats/ternary_quants.h"
#include "kernels/matmul.h"
#include "kernels/q8k_activations.h"

namespace quantlm::kernels::detail::qk {

// Every format here is brought to one integer form per 256-weight block, which
// defines what all kernel levels compute:
//   w[i] = d * sc[g] * q[i] + dm * neg_mn[g]        (g = i / 16, the group of 16)
// so that with Q8_K activations a[i] = dx * qa[i] and bsum[g] = Σ_{i∈g} qa[i]
//   Σ w·a = dx * (d * A + dm * B),  A = Σ_g sc[g] Σ_{i∈g} q[i]·qa[i],  B = Σ_g neg_mn[g]·bsum[g]
// with A and B exact int32 sums. Formats with a separate min scale (Q4_K, Q5_K,
// Q2_K: kDmin) keep dm = dmin and add the min terms in float, group by group:
// Σ_g (dm * neg_mn[g]) * (dx * bsum[g]) (one 16-lane FMA per block and token
// in the SIMD kernels instead of an integer dot, a conversion and a scaling);
// the others fold a constant offset of q into neg_mn (Q6_K: q - 32 gives
// neg_mn = -32 sc) with dm = d, so A + B is one integer. q is unsigned (0..63)
// except IQ4_XS's signed grid values (kSignedQ). Integer sums are identical at
// every level; levels differ only in how the float terms are added up.
struct alignas(64) Unpacked {
  // Ordered so that each array starts at a multiple of its vector load's size.
  std::array<std::uint8_t, formats::kQK> q;            // bytes; int8 when kSignedQ
  std::array<std::int16_t, formats::kQK / 16> neg_mn;  // min or offset term per group, negated
  std::array<std::int8_t, formats::kQK / 16> sc;       // scale per group of 16
  float d;
  float dm;
};

// Format tags: the block type and the properties the SIMD dots specialise on.
struct Q2K {
  using Block = formats::BlockQ2K;
  static constexpr bool kDmin = true, kSignedQ = false, kUnitScales = false;
};
struct Q3K {
  using Block = formats::BlockQ3K;
  static constexpr bool kDmin = false, kSignedQ = false, kUnitScales = false;
};
struct Q4K {
  using Block = formats::BlockQ4K;
  static constexpr bool kDmin = true, kSignedQ = false, kUnitScales = false;
};
struct Q5K {
  using Block = formats::BlockQ5K;
  static constexpr bool kDmin = true, kSignedQ = false, kUnitScales = false;
};
struct Q6K {
  using Block = formats::BlockQ6K;
  static constexpr bool kDmin = false, kSignedQ = false, kUnitScales = false;
};
struct IQ4XS {
  using Block = formats::BlockIQ4XS;
  static constexpr bool kDmin = false, kSignedQ = true, kUnitScales = false;
};
// Ternary: q = trit + 1 in 0..2, every scale 1, neg_mn -1 (the "- 1").
struct TQ1 {
  using Block = formats::BlockTQ1_0;
  static constexpr bool kDmin = false, kSignedQ = false, kUnitScales = true;
};
struct TQ2 {
  using Block = formats::BlockTQ2_0;
  static constexpr bool kDmin = false, kSignedQ = false, kUnitScales = true;
};

// The reference unpacking of one block into the form above (quant_k_ref.cpp).
void unpack(const formats::BlockQ2K& b, Unpacked& u);
void unpack(const formats::BlockQ3K& b, Unpacked& u);
void unpack(const formats::BlockQ4K& b, Unpacked& u);
void unpack(const formats::BlockQ5K& b, Unpacked& u);
void unpack(const formats::BlockQ6K& b, Unpacked& u);
void unpack(const formats::BlockIQ4XS& b, Unpacked& u);
void unpack(const formats::BlockTQ1_0& b, Unpacked& u);
void unpack(const formats::BlockTQ2_0& b, Unpacked& u);

// The packing every kernel of these formats uses.
inline constexpr ActivationPacking kQ8KPacking{&q8k_token_bytes, &pack_q8k, /*quantizes=*/true};

// Row kernels, instantiated for the tags above. Scalar: the reference, block
// by block in column order. AVX2: maddubs + madd. AVX-512 VNNI: maddubs +
// vpdpwssd (vpdpbusd for the ternary formats), 4-row tiles for decode and
// 1-row x 8-token tiles for prefill.
template <class F>
void rows_scalar(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end);
#if defined(__x86_64__)
template <class F>
void rows_avx2(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end);
// pack_q8k with AVX-512 (the same bytes), for the AVX-512 kernels.
void pack_q8k_avx512(const float* x, std::int64_t cols, std::byte* dst);
inline constexpr ActivationPacking kQ8KPackingAvx512{&q8k_token_bytes, &pack_q8k_avx512, /*quantizes=*/true};
template <class F>
void rows_avx512vnni(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end);
#endif

}  // namespace quantlm::kernels::detail::qk
