// The kernel registry: one line per format-specific kernel, generic dequantize kernels for the rest, and selection.
#include <fmt/format.h>

#include <vector>

#include "core/cpu_features.h"
#include "core/error.h"
#include "kernels/matmul_impl.h"

namespace quantlm::kernels {
namespace {

using formats::FormatId;
using namespace detail;  // NOLINT(google-build-using-namespace): the kernels themselves

[[maybe_unused]] bool has_avx512bf16() { return cpu_features().avx512bf16; }

constexpr ActivationPacking kF32{};
constexpr ActivationPacking kBf16AsF32{&bf16_as_f32_token_bytes, &pack_bf16_as_f32};
#if defined(__x86_64__)
constexpr ActivationPacking kBf16{&bf16_token_bytes, &pack_bf16};
#endif

// Format-specific kernels, best first within a format. Integer kernels for the
// quantized formats (issue 5) are added here, one line each, and take
// precedence over the generic path below.
//
// BF16 semantics, at every level: activations are rounded to bf16 (nearest,
// ties to even) before the product, as llama.cpp does (its BF16 vec_dot_type is
// BF16), so products are exact and only the f32 sums round; levels then differ
// only in summation order, and vdpbf16ps can be used where the CPU has it.
// F16 keeps f32 activations (llama.cpp rounds them to fp16): the weights widen
// exactly, so F16 results differ from F32 only by the weights' rounding.
const MatmulKernel kRegistered[] = {
#if defined(__x86_64__)
    {FormatId::F32, Isa::avx512, "avx512", nullptr, kF32, &f32_rows_avx512},
    {FormatId::F32, Isa::avx2, "avx2", nullptr, kF32, &f32_rows_avx2},
#endif
    {FormatId::F32, Isa::scalar, "scalar", nullptr, kF32, &f32_rows_scalar},
#if defined(__x86_64__)
    {FormatId::F16, Isa::avx512, "avx512", nullptr, kF32, &f16_rows_avx512},
    {FormatId::F16, Isa::avx2, "avx2", nullptr, kF32, &f16_rows_avx2},
    {FormatId::BF16, Isa::avx512, "avx512-bf16", &has_avx512bf16, kBf16, &bf16_rows_avx512bf16},
    {FormatId::BF16, Isa::avx512, "avx512", nullptr, kBf16AsF32, &bf16_rows_avx512},
    {FormatId::BF16, Isa::avx2, "avx2", nullptr, kBf16AsF32, &bf16_rows_avx2},
#endif
    {FormatId::BF16, Isa::scalar, "scalar", nullptr, kBf16AsF32, &dequantize_rows<&f32_rows_scalar>},
};

// The generic path, one kernel per level: any format whose traits can
// dequantize gets these at the levels its registered kernels leave open.
struct Generic {
  std::string_view variant;
  Isa isa;
  RowsFn rows;
};
const Generic kGeneric[] = {
#if defined(__x86_64__)
    {"dequantize+avx512", Isa::avx512, &dequantize_rows<&f32_rows_avx512>},
    {"dequantize+avx2", Isa::avx2, &dequantize_rows<&f32_rows_avx2>},
#endif
    {"dequantize+scalar", Isa::scalar, &dequantize_rows<&f32_rows_scalar>},
};

// kernels_for() of every format, indexed like formats::all_formats().
std::vector<std::vector<MatmulKernel>> build_table() {
  const auto formats = formats::all_formats();
  std::vector<std::vector<MatmulKernel>> table(formats.size());
  for (std::size_t i = 0; i < formats.size(); ++i) {
    std::vector<MatmulKernel>& list = table[i];
    for (const MatmulKernel& k : kRegistered) {
      if (k.format == formats[i].id) list.push_back(k);
    }
    if (formats[i].dequantize == nullptr) continue;
    for (const Generic& g : kGeneric) {
      // A level counts as covered only by a kernel that needs nothing beyond it.
      bool covered = false;
      for (const MatmulKernel& k : list) covered = covered || (k.isa == g.isa && k.cpu_has_extras == nullptr);
      if (!covered) list.push_back(MatmulKernel{formats[i].id, g.isa, g.variant, nullptr, kF32, g.rows});
    }
  }
  return table;
}

const std::vector<std::vector<MatmulKernel>>& table() {
  static const std::vector<std::vector<MatmulKernel>> t = build_table();
  return t;
}

}  // namespace

bool MatmulKernel::runnable() const { return isa_supported(isa) && (cpu_has_extras == nullptr || cpu_has_extras()); }

std::string MatmulKernel::name() const { return fmt::format("{} {}", formats::traits(format).name, variant); }

std::span<const MatmulKernel> kernels_for(const formats::FormatTraits& format) {
  // The table's own row for this id (`format` may be a copy of it).
  const formats::FormatTraits* row = formats::find_format(static_cast<std::uint32_t>(format.id));
  if (row == nullptr) return {};
  return table()[static_cast<std::size_t>(row - formats::all_formats().data())];
}

const MatmulKernel& select_kernel(const formats::FormatTraits& format, Isa isa) {
  for (const MatmulKernel& k : kernels_for(format)) {
    if (k.isa <= isa && k.runnable()) return k;
  }
  throw make_error("no matrix kernel for tensor type {}: quantlm can read it but cannot decode it yet", format.name);
}

}  // namespace quantlm::kernels
