// Dynamic W8A8 for I8_ROW: the per-token int8 quantizer of activations and the scalar reference kernel.
#include <algorithm>
#include <cassert>
#include <cmath>

#include "kernels/i8_row_impl.h"

namespace quantlm::kernels::detail {

std::int64_t i8_token_bytes(std::int64_t cols) { return i8_token_codes(cols) + 64; }

void pack_i8_token(const float* x, std::int64_t cols, std::byte* dst) {
  constexpr float kRoundingMagic = 12582912.0F;  // 1.5 · 2^23: (v + m) − m rounds to nearest even for |v| ≤ 2^22
  float amax = 0.0F;
  for (std::int64_t c = 0; c < cols; ++c) amax = std::max(amax, std::fabs(x[c]));
  const float d = amax / 127.0F;
  const float inv = d != 0.0F ? 1.0F / d : 0.0F;
  auto* q = reinterpret_cast<std::int8_t*>(dst);  // NOLINT(cppcoreguidelines-pro-type-reinterpret-cast)
  std::int32_t sum = 0;
  for (std::int64_t c = 0; c < cols; ++c) {
    const float v = std::clamp(x[c] * inv, -127.0F, 127.0F);
    q[c] = static_cast<std::int8_t>((v + kRoundingMagic) - kRoundingMagic);
    sum += q[c];
  }
  std::fill(q + cols, q + i8_token_codes(cols), std::int8_t{0});  // kernels read whole vectors
  std::memcpy(dst + i8_token_codes(cols), &d, 4);
  std::memcpy(dst + i8_token_codes(cols) + 4, &sum, 4);
}

void i8_row_rows_scalar(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end) {
  assert(args.packed != nullptr);
  const std::int64_t cols = args.cols();
  for (std::int64_t r = row_begin; r < row_end; ++r) {
    const std::byte* row = args.w.row(r);
    float dw = 0.0F;
    std::memcpy(&dw, row, 4);
    const auto* codes = reinterpret_cast<const std::uint8_t*>(row + kI8RowHeader);  // NOLINT: the row's codes
    for (std::int64_t t = 0; t < args.n_tokens; ++t) {
      const I8Token a = i8_token(args.packed + t * args.packed_stride, cols);
      std::int32_t isum = 0;
      for (std::int64_t c = 0; c < cols; ++c) isum += (std::int32_t{codes[c]} - kI8RowCodeOffset) * a.qs[c];
      args.y[t * args.y_stride + r] = static_cast<float>(isum) * (dw * a.d);
    }
  }
}

}  // namespace quantlm::kernels::detail
