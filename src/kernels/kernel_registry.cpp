// The kernel registry: one line per format-specific kernel, generic dequantize kernels for the rest, and selection.
#include <fmt/format.h>

#include <atomic>
#include <cstdlib>
#include <vector>

#include "core/cpu_features.h"
#include "core/error.h"
#include "kernels/i8_row_impl.h"
#include "kernels/matmul_impl.h"
#include "kernels/q8_activations.h"
#include "kernels/quant_k_impl.h"
#include "kernels/quant_legacy_impl.h"

namespace quantlm::kernels {
namespace {

using formats::FormatId;
using namespace detail;  // NOLINT(google-build-using-namespace): the kernels themselves

[[maybe_unused]] bool has_avx512bf16() { return cpu_features().avx512bf16; }
[[maybe_unused]] bool has_avx512vnni() { return cpu_features().avx512vnni; }

constexpr ActivationPacking kF32{};
constexpr ActivationPacking kQ8{&q8_token_bytes, &pack_q8, true};
constexpr ActivationPacking kI8Token{
    &i8_token_bytes, &pack_i8_token,
    true};  // dynamic W8A8 (i8_row_*.cpp)  // legacy integer kernels (quant_legacy_*.cpp)
constexpr ActivationPacking kBf16AsF32{&bf16_as_f32_token_bytes, &pack_bf16_as_f32};
#if defined(__x86_64__)
constexpr ActivationPacking kQ8Avx2{&q8_token_bytes, &pack_q8_avx2, true};  // the same bytes as kQ8, faster
constexpr ActivationPacking kQ8Avx512{&q8_token_bytes, &pack_q8_avx512, true};
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
// Legacy block formats: int8 products with activations quantized per token to Q8 blocks (q8_activations.h).
#if defined(__x86_64__)
    {FormatId::Q8_0, Isa::avx512, "avx512-vnni", &has_avx512vnni, kQ8Avx512, &legacy_rows_avx512vnni<FormatId::Q8_0>},
    {FormatId::Q8_0, Isa::avx2, "avx2", nullptr, kQ8Avx2, &legacy_rows_avx2<FormatId::Q8_0>},
    {FormatId::Q4_0, Isa::avx512, "avx512-vnni", &has_avx512vnni, kQ8Avx512, &legacy_rows_avx512vnni<FormatId::Q4_0>},
    {FormatId::Q4_0, Isa::avx2, "avx2", nullptr, kQ8Avx2, &legacy_rows_avx2<FormatId::Q4_0>},
    {FormatId::IQ4_NL, Isa::avx512, "avx512-vnni", &has_avx512vnni, kQ8Avx512,
     &legacy_rows_avx512vnni<FormatId::IQ4_NL>},
    {FormatId::IQ4_NL, Isa::avx2, "avx2", nullptr, kQ8Avx2, &legacy_rows_avx2<FormatId::IQ4_NL>},
    {FormatId::Q4_1, Isa::avx512, "avx512-vnni", &has_avx512vnni, kQ8Avx512, &legacy_rows_avx512vnni<FormatId::Q4_1>},
    {FormatId::Q4_1, Isa::avx2, "avx2", nullptr, kQ8Avx2, &legacy_rows_avx2<FormatId::Q4_1>},
    {FormatId::Q5_0, Isa::avx512, "avx512-vnni", &has_avx512vnni, kQ8Avx512, &legacy_rows_avx512vnni<FormatId::Q5_0>},
    {FormatId::Q5_0, Isa::avx2, "avx2", nullptr, kQ8Avx2, &legacy_rows_avx2<FormatId::Q5_0>},
    {FormatId::Q5_1, Isa::avx512, "avx512-vnni", &has_avx512vnni, kQ8Avx512, &legacy_rows_avx512vnni<FormatId::Q5_1>},
    {FormatId::Q5_1, Isa::avx2, "avx2", nullptr, kQ8Avx2, &legacy_rows_avx2<FormatId::Q5_1>},
#endif
    {FormatId::Q8_0, Isa::scalar, "scalar", nullptr, kQ8, &legacy_rows_scalar<FormatId::Q8_0>},
    {FormatId::Q4_0, Isa::scalar, "scalar", nullptr, kQ8, &legacy_rows_scalar<FormatId::Q4_0>},
    {FormatId::IQ4_NL, Isa::scalar, "scalar", nullptr, kQ8, &legacy_rows_scalar<FormatId::IQ4_NL>},
    {FormatId::Q4_1, Isa::scalar, "scalar", nullptr, kQ8, &legacy_rows_scalar<FormatId::Q4_1>},
    {FormatId::Q5_0, Isa::scalar, "scalar", nullptr, kQ8, &legacy_rows_scalar<FormatId::Q5_0>},
    {FormatId::Q5_1, Isa::scalar, "scalar", nullptr, kQ8, &legacy_rows_scalar<FormatId::Q5_1>},
#if defined(__x86_64__)
    {FormatId::I8_ROW, Isa::avx512, "avx512-vnni", &has_avx512vnni, kI8Token, &i8_row_rows_avx512vnni},
    {FormatId::I8_ROW, Isa::avx2, "avx2", nullptr, kI8Token, &i8_row_rows_avx2},
#endif
    {FormatId::I8_ROW, Isa::scalar, "scalar", nullptr, kI8Token, &i8_row_rows_scalar},
// K-quants and ternary formats: int8 products with activations quantized per token to Q8_K (quant_k_*.cpp).
#if defined(__x86_64__)
    {FormatId::Q4_K, Isa::avx512, "avx512-vnni", &has_avx512vnni, qk::kQ8KPackingAvx512, &qk::rows_avx512vnni<qk::Q4K>},
    {FormatId::Q4_K, Isa::avx2, "avx2", nullptr, qk::kQ8KPacking, &qk::rows_avx2<qk::Q4K>},
    {FormatId::TQ2_0, Isa::avx512, "avx512-vnni", &has_avx512vnni, qk::kQ8KPackingAvx512,
     &qk::rows_avx512vnni<qk::TQ2>},
    {FormatId::TQ2_0, Isa::avx2, "avx2", nullptr, qk::kQ8KPacking, &qk::rows_avx2<qk::TQ2>},
    {FormatId::Q6_K, Isa::avx512, "avx512-vnni", &has_avx512vnni, qk::kQ8KPackingAvx512, &qk::rows_avx512vnni<qk::Q6K>},
    {FormatId::Q6_K, Isa::avx2, "avx2", nullptr, qk::kQ8KPacking, &qk::rows_avx2<qk::Q6K>},
    {FormatId::Q5_K, Isa::avx512, "avx512-vnni", &has_avx512vnni, qk::kQ8KPackingAvx512, &qk::rows_avx512vnni<qk::Q5K>},
    {FormatId::Q5_K, Isa::avx2, "avx2", nullptr, qk::kQ8KPacking, &qk::rows_avx2<qk::Q5K>},
    {FormatId::Q3_K, Isa::avx512, "avx512-vnni", &has_avx512vnni, qk::kQ8KPackingAvx512, &qk::rows_avx512vnni<qk::Q3K>},
    {FormatId::Q3_K, Isa::avx2, "avx2", nullptr, qk::kQ8KPacking, &qk::rows_avx2<qk::Q3K>},
    {FormatId::Q2_K, Isa::avx512, "avx512-vnni", &has_avx512vnni, qk::kQ8KPackingAvx512, &qk::rows_avx512vnni<qk::Q2K>},
    {FormatId::Q2_K, Isa::avx2, "avx2", nullptr, qk::kQ8KPacking, &qk::rows_avx2<qk::Q2K>},
    {FormatId::IQ4_XS, Isa::avx512, "avx512-vnni", &has_avx512vnni, qk::kQ8KPackingAvx512,
     &qk::rows_avx512vnni<qk::IQ4XS>},
    {FormatId::IQ4_XS, Isa::avx2, "avx2", nullptr, qk::kQ8KPacking, &qk::rows_avx2<qk::IQ4XS>},
    {FormatId::TQ1_0, Isa::avx512, "avx512-vnni", &has_avx512vnni, qk::kQ8KPackingAvx512,
     &qk::rows_avx512vnni<qk::TQ1>},
    {FormatId::TQ1_0, Isa::avx2, "avx2", nullptr, qk::kQ8KPacking, &qk::rows_avx2<qk::TQ1>},
#endif
    {FormatId::Q4_K, Isa::scalar, "scalar", nullptr, qk::kQ8KPacking, &qk::rows_scalar<qk::Q4K>},
    {FormatId::TQ2_0, Isa::scalar, "scalar", nullptr, qk::kQ8KPacking, &qk::rows_scalar<qk::TQ2>},
    {FormatId::Q6_K, Isa::scalar, "scalar", nullptr, qk::kQ8KPacking, &qk::rows_scalar<qk::Q6K>},
    {FormatId::Q5_K, Isa::scalar, "scalar", nullptr, qk::kQ8KPacking, &qk::rows_scalar<qk::Q5K>},
    {FormatId::Q3_K, Isa::scalar, "scalar", nullptr, qk::kQ8KPacking, &qk::rows_scalar<qk::Q3K>},
    {FormatId::Q2_K, Isa::scalar, "scalar", nullptr, qk::kQ8KPacking, &qk::rows_scalar<qk::Q2K>},
    {FormatId::IQ4_XS, Isa::scalar, "scalar", nullptr, qk::kQ8KPacking, &qk::rows_scalar<qk::IQ4XS>},
    {FormatId::TQ1_0, Isa::scalar, "scalar", nullptr, qk::kQ8KPacking, &qk::rows_scalar<qk::TQ1>},
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
      for (const MatmulKernel& k : list) {
        covered = covered || (k.isa == g.isa && k.cpu_has_extras == nullptr && !k.packing.quantizes);
      }
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

namespace {
std::atomic<int>& quantized_activations_flag() {  // -1: not read from the environment yet
  static std::atomic<int> flag{-1};
  return flag;
}
}  // namespace

void set_quantized_activations(bool allowed) { quantized_activations_flag().store(allowed ? 1 : 0); }

bool quantized_activations() {
  int v = quantized_activations_flag().load();
  if (v < 0) {
    const char* env = std::getenv("QUANTLM_QUANTIZED_ACTIVATIONS");  // NOLINT(concurrency-mt-unsafe): read-only use
    v = env != nullptr && std::string_view(env) == "0" ? 0 : 1;
    int expected = -1;
    quantized_activations_flag().compare_exchange_strong(expected, v);
    v = quantized_activations_flag().load();
  }
  return v != 0;
}

const MatmulKernel& select_kernel(const formats::FormatTraits& format, Isa isa) {
  const bool quantized_ok = quantized_activations();
  for (const MatmulKernel& k : kernels_for(format)) {
    if (k.isa <= isa && k.runnable() && (quantized_ok || !k.packing.quantizes)) return k;
  }
  throw make_error("no matrix kernel for tensor type {}: quantlm can read it but cannot decode it yet", format.name);
}

}  // namespace quantlm::kernels
