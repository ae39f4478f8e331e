// Matrix-vector and small matrix-matrix products: every kernel of F32, F16, BF16 (and the generic Q8_0 / Q4_0 path)
// beside its format's scalar kernel, one thread, in one process.
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "core/aligned_buffer.h"
#include "kernels/matmul.h"

namespace quantlm::kernels {
namespace {

struct Problem {
  std::int64_t rows, cols, tokens;
};

// A {rows, cols} weight of `format` from Gaussian values, kept alive for the benchmark.
struct Operands {
  AlignedBuffer<std::byte> weight;
  AlignedBuffer<float> x;
  AlignedBuffer<float> y;
  TensorView view;
};

Operands make_operands(const formats::FormatTraits& format, Problem p) {
  Operands o;
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0F, 1.0F);
  const std::int64_t row_bytes = format.row_bytes(p.cols);
  o.weight = AlignedBuffer<std::byte>(static_cast<std::size_t>(p.rows * row_bytes));
  std::vector<float> row(static_cast<std::size_t>(p.cols));
  for (std::int64_t r = 0; r < p.rows; ++r) {
    for (float& v : row) v = normal(rng);
    format.quantize_ref(row.data(), o.weight.data() + r * row_bytes, p.cols);
  }
  o.x = AlignedBuffer<float>(static_cast<std::size_t>(p.tokens * p.cols));
  for (float& v : o.x) v = normal(rng);
  o.y = AlignedBuffer<float>(static_cast<std::size_t>(p.tokens * p.rows));
  o.view = TensorView{o.weight.data(), Shape{{p.rows, p.cols}, 2}, format.storage(), row_bytes};
  return o;
}

void run(benchmark::State& state, const MatmulKernel* kernel, Problem p) {
  const formats::FormatTraits& format = formats::traits(kernel->format);
  Operands o = make_operands(format, p);
  const MatmulArgs args{o.view, &format, o.x.data(), p.cols, nullptr, 0, p.tokens, o.y.data(), p.rows};
  for (auto _ : state) {
    run_serial(*kernel, args);
    benchmark::DoNotOptimize(o.y.data());
    benchmark::ClobberMemory();
  }
  const auto iterations = static_cast<double>(state.iterations());
  state.SetBytesProcessed(static_cast<std::int64_t>(iterations) * p.rows * o.view.row_stride);  // weight bytes read
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(p.rows * p.cols * p.tokens) * iterations,
                                                 benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
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
