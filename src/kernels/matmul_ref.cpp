// Scalar reference kernels (always compiled), the bf16 activation packing and the generic dequantize-then-F32 path.
#include <algorithm>
#include <cassert>
#include <cstring>

#include "core/aligned_buffer.h"
#include "core/half.h"
#include "kernels/matmul_impl.h"

namespace quantlm::kernels::detail {
namespace {

// Rows the generic path dequantizes at a time: a multiple of the SIMD tiles'
// 4 rows, and at most ~64 KiB of f32 so the panel stays in L2 while every
// token of the product streams past it.
constexpr std::int64_t kPanelFloats = 16384;
std::int64_t panel_rows(std::int64_t cols) {
  const std::int64_t fit =
      std::max<std::int64_t>(4, std::min<std::int64_t>(16, kPanelFloats / std::max<std::int64_t>(cols, 1)));
  return fit / 4 * 4;
}

constexpr std::int64_t round_up(std::int64_t n, std::int64_t m) { return (n + m - 1) / m * m; }

const float* f32_row(const TensorView& w, std::int64_t r) {
  const std::byte* p = w.row(r);
  assert(reinterpret_cast<std::uintptr_t>(p) % alignof(float) == 0);
  return reinterpret_cast<const float*>(p);
}

}  // namespace

F32Activations f32_activations(const MatmulArgs& args) {
  if (args.packed != nullptr) {
    return {reinterpret_cast<const float*>(args.packed), args.packed_stride / static_cast<std::int64_t>(sizeof(float))};
  }
  return {args.x, args.x_stride};
}

std::int64_t bf16_as_f32_token_bytes(std::int64_t cols) {
  return round_up(cols * static_cast<std::int64_t>(sizeof(float)), 64);
}

void pack_bf16_as_f32(const float* x, std::int64_t cols, std::byte* dst) {
  auto* out = reinterpret_cast<float*>(dst);
  for (std::int64_t c = 0; c < cols; ++c) out[c] = bf16_to_fp32(fp32_to_bf16(x[c]));
}

void f32_rows_scalar(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end) {
  const F32Activations x = f32_activations(args);
  const std::int64_t cols = args.cols();
  for (std::int64_t r = row_begin; r < row_end; ++r) {
    const float* w = f32_row(args.w, r);
    for (std::int64_t t = 0; t < args.n_tokens; ++t) {
      const float* xt = x.data + t * x.stride;
      float acc = 0.0F;
      for (std::int64_t c = 0; c < cols; ++c) acc += xt[c] * w[c];
      args.y[t * args.y_stride + r] = acc;
    }
  }
}

template <RowsFn F32Rows>
void dequantize_rows(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end) {
  assert(args.format != nullptr && args.format->dequantize != nullptr);
  const std::int64_t cols = args.cols();
  const std::int64_t panel = panel_rows(cols);
  // One buffer per thread, kept between calls: pool threads live as long as the process.
  thread_local AlignedBuffer<float> buffer;
  const auto need = static_cast<std::size_t>(panel * cols);
  if (buffer.size() < need) buffer = AlignedBuffer<float>(need, BufferInit::uninitialized);

  const formats::FormatTraits& f32 = formats::traits(formats::FormatId::F32);
  MatmulArgs sub = args;
  sub.format = &f32;
  for (std::int64_t r = row_begin; r < row_end; r += panel) {
    const std::int64_t n = std::min(panel, row_end - r);
    for (std::int64_t i = 0; i < n; ++i) args.format->dequantize(args.w.row(r + i), buffer.data() + i * cols, cols);
    sub.w = make_contiguous_view(reinterpret_cast<const std::byte*>(buffer.data()), Shape{{n, cols}, 2}, f32.storage());
    sub.y = args.y + r;  // the panel's row 0 is row r of Y
    F32Rows(sub, 0, n);
  }
}

template void dequantize_rows<&f32_rows_scalar>(const MatmulArgs&, std::int64_t, std::int64_t);
#if defined(__x86_64__)
template void dequantize_rows<&f32_rows_avx2>(const MatmulArgs&, std::int64_t, std::int64_t);
template void dequantize_rows<&f32_rows_avx512>(const MatmulArgs&, std::int64_t, std::int64_t);
#endif

}  // namespace quantlm::kernels::detail
