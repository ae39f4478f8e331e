// Throughput of the fp16/bf16 row converters, scalar reference against each SIMD path.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "core/half.h"

namespace quantlm {
namespace {

template <typename In, typename Out>
using RowConverter = void (*)(std::span<const In>, std::span<Out>, Isa);

std::vector<float> random_floats(std::size_t n) {
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0F, 1.0F);
  std::vector<float> out(n);
  for (float& v : out) v = normal(rng);
  return out;
}

template <std::uint16_t (*narrow)(float)>
std::vector<std::uint16_t> random_halves(std::size_t n) {
  const std::vector<float> floats = random_floats(n);
  std::vector<std::uint16_t> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = narrow(floats[i]);
  return out;
}

// Arguments: the Isa (0 scalar, 1 avx2, 2 avx512) and the row length.
template <typename In, typename Out>
void run_conversion(benchmark::State& state, RowConverter<In, Out> convert, const std::vector<In>& src) {
  const auto isa = static_cast<Isa>(state.range(0));
  if (!isa_supported(isa)) {
    state.SkipWithError(("this CPU lacks the " + std::string(to_string(isa)) + " path").c_str());
    return;
  }
  std::vector<Out> dst(src.size());
  for (auto _ : state) {
    convert(src, dst, isa);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  const auto n = static_cast<std::int64_t>(src.size());
  state.SetItemsProcessed(state.iterations() * n);
  state.SetBytesProcessed(state.iterations() * n * static_cast<std::int64_t>(sizeof(In) + sizeof(Out)));
  state.SetLabel(std::string(to_string(isa)));
}

std::size_t row_length(const benchmark::State& state) { return static_cast<std::size_t>(state.range(1)); }

void BM_Fp32ToFp16(benchmark::State& state) {
  run_conversion<float, std::uint16_t>(state, fp32_to_fp16_row, random_floats(row_length(state)));
}
void BM_Fp16ToFp32(benchmark::State& state) {
  run_conversion<std::uint16_t, float>(state, fp16_to_fp32_row, random_halves<fp32_to_fp16>(row_length(state)));
}
void BM_Fp32ToBf16(benchmark::State& state) {
  run_conversion<float, std::uint16_t>(state, fp32_to_bf16_row, random_floats(row_length(state)));
}
void BM_Bf16ToFp32(benchmark::State& state) {
  run_conversion<std::uint16_t, float>(state, bf16_to_fp32_row, random_halves<fp32_to_bf16>(row_length(state)));
}

// 4096 values stay in L1; 1M values (6 MB in and out) stream through L2 and L3.
void conversion_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"isa", "n"})->ArgsProduct({{0, 1, 2}, {4096, 1 << 20}});
}

BENCHMARK(BM_Fp32ToFp16)->Apply(conversion_args);
BENCHMARK(BM_Fp16ToFp32)->Apply(conversion_args);
BENCHMARK(BM_Fp32ToBf16)->Apply(conversion_args);
BENCHMARK(BM_Bf16ToFp32)->Apply(conversion_args);

}  // namespace
}  // namespace quantlm

BENCHMARK_MAIN();
