// Run-time dispatch of the fp16/bf16 row converters to the scalar reference or a SIMD kernel.
#include "core/half.h"

#include <cassert>
#include <cstddef>

#include "core/half_x86.h"

namespace quantlm {
namespace {

template <typename In, typename Out>
using RowKernel = void (*)(std::span<const In>, std::span<Out>);

// The kernels of one conversion, one per Isa level.
template <typename In, typename Out>
struct RowKernels {
  RowKernel<In, Out> scalar;
  RowKernel<In, Out> avx2;
  RowKernel<In, Out> avx512;
};

template <auto convert, typename In, typename Out>
void scalar_row(std::span<const In> src, std::span<Out> dst) {
  for (std::size_t i = 0; i < src.size(); ++i) dst[i] = convert(src[i]);
}

template <typename In, typename Out>
void run_row(const RowKernels<In, Out>& kernels, std::span<const In> src, std::span<Out> dst, Isa isa) {
  assert(src.size() == dst.size());
  switch (clamp_isa(isa)) {
    case Isa::avx512:
      kernels.avx512(src, dst);
      return;
    case Isa::avx2:
      kernels.avx2(src, dst);
      return;
    case Isa::scalar:
      break;
  }
  kernels.scalar(src, dst);
}

#if defined(__x86_64__)
constexpr RowKernels<float, std::uint16_t> kFp32ToFp16{scalar_row<fp32_to_fp16, float, std::uint16_t>,
                                                       detail::fp32_to_fp16_avx2, detail::fp32_to_fp16_avx512};
constexpr RowKernels<std::uint16_t, float> kFp16ToFp32{scalar_row<fp16_to_fp32, std::uint16_t, float>,
                                                       detail::fp16_to_fp32_avx2, detail::fp16_to_fp32_avx512};
constexpr RowKernels<float, std::uint16_t> kFp32ToBf16{scalar_row<fp32_to_bf16, float, std::uint16_t>,
                                                       detail::fp32_to_bf16_avx2, detail::fp32_to_bf16_avx512};
constexpr RowKernels<std::uint16_t, float> kBf16ToFp32{scalar_row<bf16_to_fp32, std::uint16_t, float>,
                                                       detail::bf16_to_fp32_avx2, detail::bf16_to_fp32_avx512};
#else
// cpu_isa() is scalar here, so the SIMD slots are never chosen; they hold the reference anyway.
template <auto convert, typename In, typename Out>
constexpr RowKernels<In, Out> kScalarOnly{scalar_row<convert, In, Out>, scalar_row<convert, In, Out>,
                                          scalar_row<convert, In, Out>};
constexpr auto kFp32ToFp16 = kScalarOnly<fp32_to_fp16, float, std::uint16_t>;
constexpr auto kFp16ToFp32 = kScalarOnly<fp16_to_fp32, std::uint16_t, float>;
constexpr auto kFp32ToBf16 = kScalarOnly<fp32_to_bf16, float, std::uint16_t>;
constexpr auto kBf16ToFp32 = kScalarOnly<bf16_to_fp32, std::uint16_t, float>;
#endif

}  // namespace

void fp32_to_fp16_row(std::span<const float> src, std::span<std::uint16_t> dst, Isa isa) {
  run_row(kFp32ToFp16, src, dst, isa);
}

void fp16_to_fp32_row(std::span<const std::uint16_t> src, std::span<float> dst, Isa isa) {
  run_row(kFp16ToFp32, src, dst, isa);
}

void fp32_to_bf16_row(std::span<const float> src, std::span<std::uint16_t> dst, Isa isa) {
  run_row(kFp32ToBf16, src, dst, isa);
}

void bf16_to_fp32_row(std::span<const std::uint16_t> src, std::span<float> dst, Isa isa) {
  run_row(kBf16ToFp32, src, dst, isa);
}

}  // namespace quantlm
