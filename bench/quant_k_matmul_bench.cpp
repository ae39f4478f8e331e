// K-quant and ternary products: the integer kernel beside the generic dequantize-then-F32 path, one thread, one
// process. Run: bench_quant_k_matmul --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "kernels/matmul.h"
#include "matmul_operands.h"

namespace quantlm::kernels {
namespace {

struct Problem {
  std::int64_t cols, rows, tokens;  // cols x rows as the input x output of a Linear
};

void run(benchmark::State& state, const MatmulKernel* kernel, Problem p) {
  bench::run_product(state, *kernel, p.rows, p.cols, p.tokens, "GOPS");
}

// The kernel select_kernel picks, and the generic path of the highest level this CPU runs (the baseline).
std::vector<const MatmulKernel*> contenders(const formats::FormatTraits& format) {
  std::vector<const MatmulKernel*> out = {&select_kernel(format)};
  for (const MatmulKernel& k : kernels_for(format)) {
    if (k.variant.starts_with("dequantize") && k.runnable() && k.isa <= active_isa()) {
      out.push_back(&k);
      break;
    }
  }
  return out;
}

void register_all() {
  using formats::FormatId;
  const Problem problems[] = {{512, 1536, 1}, {512, 1536, 512}, {2048, 5632, 1}, {2048, 5632, 512}};
  for (const FormatId id : {FormatId::Q4_K, FormatId::TQ2_0, FormatId::Q6_K, FormatId::Q5_K, FormatId::Q3_K,
                            FormatId::Q2_K, FormatId::IQ4_XS, FormatId::TQ1_0}) {
    for (const MatmulKernel* k : contenders(formats::traits(id))) {
      for (const Problem& p : problems) {
        const std::string name = "QuantK/" + std::string(formats::traits(id).name) + "/" + std::string(k->variant) +
                                 "/" + std::to_string(p.cols) + "x" + std::to_string(p.rows) +
                                 "/tokens:" + std::to_string(p.tokens);
        benchmark::RegisterBenchmark(name.c_str(), run, k, p)->Unit(benchmark::kMicrosecond)->UseRealTime();
      }
    }
  }
}

}  // namespace
}  // namespace quantlm::kernels

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  quantlm::kernels::register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
