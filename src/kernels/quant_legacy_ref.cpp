// Scalar reference kernels of the legacy block formats against Q8 activations: they define what every path computes.
#include <cassert>
#include <cmath>

#include "kernels/q8_activations.h"
#include "kernels/quant_legacy_impl.h"

namespace quantlm::kernels::detail {

template <formats::FormatId F>
void legacy_rows_scalar(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end) {
  using L = Legacy<F>;
  using Block = typename L::Block;
  assert((args.packed != nullptr || args.cols() == 0) && args.cols() % kQ8Block == 0);
  const std::int64_t nb = args.cols() / kQ8Block;
  std::array<std::int8_t, formats::kLegacyBlock> w{};
  for (std::int64_t r = row_begin; r < row_end; ++r) {
    const auto* blocks = reinterpret_cast<const Block*>(args.w.row(r));  // NOLINT: packed blocks, alignment 1
    for (std::int64_t t = 0; t < args.n_tokens; ++t) {
      const Q8Token a = q8_token(args.packed + t * args.packed_stride, args.cols());
      float acc = 0.0F;
      for (std::int64_t b = 0; b < nb; ++b) {
        L::levels(blocks[b], w.data());
        const std::int8_t* q = a.qs + b * kQ8Block;
        std::int32_t isum = 0;
        for (int i = 0; i < formats::kLegacyBlock; ++i) isum += std::int32_t{w[static_cast<std::size_t>(i)]} * q[i];
        // Fused multiply-adds in block order: the SIMD kernels compute exactly this sequence.
        acc = std::fma(static_cast<float>(isum), fp16_to_fp32(blocks[b].d) * a.d[b], acc);
        if constexpr (L::kHasMin) acc = std::fma(block_min(blocks[b]), a.s[b], acc);
      }
      args.y[t * args.y_stride + r] = acc;
    }
  }
}

#define QUANTLM_LEGACY_INSTANTIATE(F) \
  template void legacy_rows_scalar<formats::FormatId::F>(const MatmulArgs&, std::int64_t, std::int64_t);
QUANTLM_LEGACY_FORMATS(QUANTLM_LEGACY_INSTANTIATE)

}  // namespace quantlm::kernels::detail
