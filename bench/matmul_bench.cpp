// Matrix-vector and small matrix-matrix products: every kernel of F32, F16, BF16 (and the generic Q8_0 / Q4_0 path)
// beside its format's scalar kernel, one thread, in one process.
#include <benchmark/benchmark.h>

#include <string>

#include "kernels/matmul.h"
#include "matmul_operands.h"

namespace quantlm::kernels {
namespace {

struct Problem {
  std::int64_t rows, cols, tokens;
};

void run(benchmark::State& state, const MatmulKernel* kernel, Problem p) {
  bench::run_product(state, *kernel, p.rows, p.cols, p.tokens, "GFLOP/s");
}

void register_all() {
  const Problem problems[] = {{2048, 2048, 1}, {512, 1536, 1}, {512, 1536, 64}};
  for (const formats::FormatId id : {formats::FormatId::F32, formats::FormatId::F16, formats::FormatId::BF16,
                                     formats::FormatId::Q8_0, formats::FormatId::Q4_0}) {
    for (const MatmulKernel& k : kernels_for(formats::traits(id))) {
      if (!k.runnable()) continue;  // the CPU lacks it: nothing to measure
      for (const Problem& p : problems) {
        const std::string name = "Matmul/" + k.name() + "/" + std::to_string(p.rows) + "x" + std::to_string(p.cols) +
                                 "/tokens:" + std::to_string(p.tokens);
        benchmark::RegisterBenchmark(name.c_str(), run, &k, p)->Unit(benchmark::kMicrosecond);
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
