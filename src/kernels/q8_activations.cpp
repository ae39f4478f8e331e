// The per-token int8 block quantizer of activations (scalar: it is cheap beside the products that read it).
#include "kernels/q8_activations.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>

namespace quantlm::kernels {
namespace {
constexpr float kRoundingMagic = 12582912.0F;  // 1.5 · 2^23
}  // namespace

std::int64_t q8_token_bytes(std::int64_t cols) { return q8_layout(cols).bytes; }

void pack_q8(const float* x, std::int64_t cols, std::byte* dst) {
  assert(cols % kQ8Block == 0);
  const Q8Layout l = q8_layout(cols);
  // NOLINTBEGIN(cppcoreguidelines-pro-type-reinterpret-cast): the arrays of a packed token
  auto* qs = reinterpret_cast<std::int8_t*>(dst);
  auto* d = reinterpret_cast<float*>(dst + l.d_offset);
  auto* s = reinterpret_cast<float*>(dst + l.s_offset);
  auto* sum = reinterpret_cast<std::int32_t*>(dst + l.sum_offset);
  // NOLINTEND(cppcoreguidelines-pro-type-reinterpret-cast)
  for (std::int64_t b = 0; b < l.blocks; ++b) {
    const float* xb = x + b * kQ8Block;
    float amax = 0.0F;
    for (std::int64_t i = 0; i < kQ8Block; ++i) amax = std::max(amax, std::fabs(xb[i]));
    const float scale = amax / 127.0F;
    const float inv = scale != 0.0F ? 1.0F / scale : 0.0F;
    std::int32_t total = 0;
    for (std::int64_t i = 0; i < kQ8Block; ++i) {
      // x · inv can exceed 127 by an ulp; the clamp keeps q in the symmetric range. Adding and subtracting 1.5·2^23
      // rounds to nearest even like nearbyint (|v| ≤ 128 here) without a libm call per value.
      const float v = std::clamp(xb[i] * inv, -127.0F, 127.0F);
      const float r = (v + kRoundingMagic) - kRoundingMagic;
      const auto q = static_cast<std::int8_t>(r);
      qs[b * kQ8Block + i] = q;
      total += q;
    }
    d[b] = scale;
    s[b] = scale * static_cast<float>(total);
    sum[b] = total;
  }
}

}  // namespace quantlm::kernels
