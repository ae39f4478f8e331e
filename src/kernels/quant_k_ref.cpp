// Scalar reference of the K-quant and ternary integer kernels: block unpacking to the shared integer form, row loops.
#include <cassert>
#include <cstring>

#include "core/half.h"
#include "formats/blocks_legacy.h"
#include "kernels/quant_k_impl.h"

namespace quantlm::kernels::detail::qk {
namespace {

using formats::kQK;

constexpr std::size_t at(int i) { return static_cast<std::size_t>(i); }

// Q4_K and Q5_K: the 6-bit scale and min of each sub-block of 32 cover two groups of 16.
void k4_scales(const std::array<std::uint8_t, formats::kKScaleBytes>& s, Unpacked& u) {
  for (int j = 0; j < 8; ++j) {
    const formats::ScaleMin sm = formats::k4_scale_min(s, j);
    u.sc[at(2 * j)] = u.sc[at(2 * j + 1)] = static_cast<std::int8_t>(sm.scale);
    u.neg_mn[at(2 * j)] = u.neg_mn[at(2 * j + 1)] = static_cast<std::int16_t>(-sm.min);
  }
}

// Scales given per group; a constant offset `off` of q becomes -off * sc.
void offset_terms(Unpacked& u, int off) {
  for (int g = 0; g < kQK / 16; ++g) u.neg_mn[at(g)] = static_cast<std::int16_t>(-off * u.sc[at(g)]);
}

// Digit n (0 = most significant) of a TQ1_0 byte as trit + 1: multiplying by
// 3^n wraps the higher digits away mod 256, the top of the rest is the digit.
std::uint8_t tq1_digit(std::uint8_t byte, int n) {
  static constexpr std::array<unsigned, 5> kPow3 = {1, 3, 9, 27, 81};
  return static_cast<std::uint8_t>((((byte * kPow3[at(n)]) & 0xFFU) * 3U) >> 8);
}

}  // namespace

void unpack(const formats::BlockQ2K& b, Unpacked& u) {
  for (int h = 0; h < 2; ++h) {
    for (int s = 0; s < 4; ++s) {
      for (int l = 0; l < 32; ++l) u.q[at(128 * h + 32 * s + l)] = (b.qs[at(32 * h + l)] >> (2 * s)) & 3U;
    }
  }
  for (int g = 0; g < kQK / 16; ++g) {
    u.sc[at(g)] = static_cast<std::int8_t>(b.scales[at(g)] & 0xFU);
    u.neg_mn[at(g)] = static_cast<std::int16_t>(-(b.scales[at(g)] >> 4));
  }
  u.d = fp16_to_fp32(b.d);
  u.dm = fp16_to_fp32(b.dmin);
}

void unpack(const formats::BlockQ3K& b, Unpacked& u) {
  // Weight 128h + 32s + l; contiguous inner loops so that the compiler vectorizes them.
  for (int h = 0; h < 2; ++h) {
    for (int s = 0; s < 4; ++s) {
      for (int l = 0; l < 32; ++l) {
        const unsigned low = (b.qs[at(32 * h + l)] >> (2 * s)) & 3U;
        const unsigned high = (b.hmask[at(l)] >> (4 * h + s)) & 1U;
        u.q[at(128 * h + 32 * s + l)] = static_cast<std::uint8_t>(low | (high << 2));  // q - 4 is the level
      }
    }
  }
  for (int g = 0; g < kQK / 16; ++g) u.sc[at(g)] = static_cast<std::int8_t>(formats::q3k_scale(b, g));
  offset_terms(u, 4);
  u.d = u.dm = fp16_to_fp32(b.d);
}

void unpack(const formats::BlockQ4K& b, Unpacked& u) {
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      u.q[at(64 * c + l)] = b.qs[at(32 * c + l)] & 0xFU;
      u.q[at(64 * c + 32 + l)] = b.qs[at(32 * c + l)] >> 4;
    }
  }
  k4_scales(b.scales, u);
  u.d = fp16_to_fp32(b.d);
  u.dm = fp16_to_fp32(b.dmin);
}

void unpack(const formats::BlockQ5K& b, Unpacked& u) {
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      u.q[at(64 * c + l)] = b.qs[at(32 * c + l)] & 0xFU;
      u.q[at(64 * c + 32 + l)] = b.qs[at(32 * c + l)] >> 4;
    }
  }
  for (int w = 0; w < kQK; ++w) u.q[at(w)] |= static_cast<std::uint8_t>(((b.qh[at(w % 32)] >> (w / 32)) & 1U) << 4);
  k4_scales(b.scales, u);
  u.d = fp16_to_fp32(b.d);
  u.dm = fp16_to_fp32(b.dmin);
}

void unpack(const formats::BlockQ6K& b, Unpacked& u) {
  for (int h = 0; h < 2; ++h) {
    for (int k = 0; k < 4; ++k) {
      for (int l = 0; l < 32; ++l) {
        const unsigned lo = b.ql[at(64 * h + 32 * (k % 2) + l)];
        const unsigned nibble = k < 2 ? lo & 0xFU : lo >> 4;
        const unsigned top = (b.qh[at(32 * h + l)] >> (2 * k)) & 3U;
        u.q[at(128 * h + 32 * k + l)] = static_cast<std::uint8_t>(nibble | (top << 4));  // q - 32 is the level
      }
    }
  }
  for (int g = 0; g < kQK / 16; ++g) u.sc[at(g)] = b.scales[at(g)];
  offset_terms(u, 32);
  u.d = u.dm = fp16_to_fp32(b.d);
}

void unpack(const formats::BlockIQ4XS& b, Unpacked& u) {
  for (int s = 0; s < 8; ++s) {
    for (int l = 0; l < 16; ++l) {
      const unsigned byte = b.qs[at(16 * s + l)];
      u.q[at(32 * s + l)] = static_cast<std::uint8_t>(formats::kIq4NlValues[byte & 0xFU]);
      u.q[at(32 * s + 16 + l)] = static_cast<std::uint8_t>(formats::kIq4NlValues[byte >> 4]);
    }
    u.sc[at(2 * s)] = u.sc[at(2 * s + 1)] = static_cast<std::int8_t>(formats::iq4xs_scale(b, s));
  }
  u.neg_mn.fill(0);
  u.d = u.dm = fp16_to_fp32(b.d);
}

void unpack(const formats::BlockTQ1_0& b, Unpacked& u) {
  for (int n = 0; n < 5; ++n) {
    for (int m = 0; m < 32; ++m) u.q[at(32 * n + m)] = tq1_digit(b.qs[at(m)], n);
    for (int m = 0; m < 16; ++m) u.q[at(160 + 16 * n + m)] = tq1_digit(b.qs[at(32 + m)], n);
  }
  for (int n = 0; n < 4; ++n) {
    for (int j = 0; j < 4; ++j) u.q[at(240 + 4 * n + j)] = tq1_digit(b.qh[at(j)], n);
  }
  u.sc.fill(1);
  u.neg_mn.fill(-1);
  u.d = u.dm = fp16_to_fp32(b.d);
}

void unpack(const formats::BlockTQ2_0& b, Unpacked& u) {
  for (int c = 0; c < 2; ++c) {
    for (int l = 0; l < 4; ++l) {
      for (int m = 0; m < 32; ++m) u.q[at(128 * c + 32 * l + m)] = (b.qs[at(32 * c + m)] >> (2 * l)) & 3U;
    }
  }
  u.sc.fill(1);
  u.neg_mn.fill(-1);
  u.d = u.dm = fp16_to_fp32(b.d);
}

namespace {

// One block's contribution, the definition every level reproduces up to float summation order.
template <class F>
float block_dot(const Unpacked& u, const Q8KBlockA& a) {
  std::int32_t sum_a = 0;
  for (int g = 0; g < kQK / 16; ++g) {
    std::int32_t s = 0;
    for (int i = 16 * g; i < 16 * g + 16; ++i) {
      const std::int32_t q = F::kSignedQ ? static_cast<std::int8_t>(u.q[at(i)]) : u.q[at(i)];
      s += q * a.qs[at(i)];
    }
    sum_a += u.sc[at(g)] * s;
  }
  if constexpr (F::kDmin) {
    // The min terms in float, (dmin * min) * (dx * bsum) per group: what the
    // SIMD kernels do in one 16-lane FMA per block and token.
    float mins = 0.F;
    for (int g = 0; g < kQK / 16; ++g) mins += u.dm * static_cast<float>(u.neg_mn[at(g)]) * a.fbsums[at(g)];
    return a.d * u.d * static_cast<float>(sum_a) + mins;
  } else {
    std::int32_t sum_b = 0;
    for (int g = 0; g < kQK / 16; ++g) sum_b += u.neg_mn[at(g)] * a.bsums[at(g)];
    return a.d * u.d * static_cast<float>(sum_a + sum_b);
  }
}

}  // namespace

template <class F>
void rows_scalar(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end) {
  using Block = typename F::Block;
  assert(args.packed != nullptr && args.cols() % kQK == 0);
  const std::int64_t nb = args.cols() / kQK;
  Unpacked u;
  for (std::int64_t r = row_begin; r < row_end; ++r) {
    const auto* w = reinterpret_cast<const Block*>(args.w.row(r));  // NOLINT: packed block structs
    for (std::int64_t t = 0; t < args.n_tokens; ++t) args.y[t * args.y_stride + r] = 0.F;
    for (std::int64_t b = 0; b < nb; ++b) {
      unpack(w[b], u);  // once per block for every token
      for (std::int64_t t = 0; t < args.n_tokens; ++t) {
        args.y[t * args.y_stride + r] += block_dot<F>(u, q8k_token(args, t)[b]);
      }
    }
  }
}

template void rows_scalar<Q2K>(const MatmulArgs&, std::int64_t, std::int64_t);
template void rows_scalar<Q3K>(const MatmulArgs&, std::int64_t, std::int64_t);
template void rows_scalar<Q4K>(const MatmulArgs&, std::int64_t, std::int64_t);
template void rows_scalar<Q5K>(const MatmulArgs&, std::int64_t, std::int64_t);
template void rows_scalar<Q6K>(const MatmulArgs&, std::int64_t, std::int64_t);
template void rows_scalar<IQ4XS>(const MatmulArgs&, std::int64_t, std::int64_t);
template void rows_scalar<TQ1>(const MatmulArgs&, std::int64_t, std::int64_t);
template void rows_scalar<TQ2>(const MatmulArgs&, std::int64_t, std::int64_t);

}  // namespace quantlm::kernels::detail::qk
