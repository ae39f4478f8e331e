// K-quant and ternary products: the integer kernel beside the generic dequantize-then-F32 path, one thread, one
// process. Run: bench_quant_k_matmul --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "core/aligned_buffer.h"
#include "kernels/matmul.h"

namespace quantlm::kernels {
namespace {

struct Problem {
  std::int64_t cols, rows, tokens;  // cols x rows as the input x output of a Linear
};

struct Operands {
  AlignedBuffer<std::byte> weight;
  AlignedBuffer<float> x;
  AlignedBuffer<float> y;
  TensorView view;
};

// Gaussian weights through the format's reference quantizer (the same bytes for both kernels).
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

// One product per iteration on the calling thread, activation packing included.
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
  state.SetBytesProcessed(static_cast<std::int64_t>(iterations) * p.rows * o.view.row_stride);  // weight bytes
  state.counters["GOPS"] = benchmark::Counter(2.0 * static_cast<double>(p.rows * p.cols * p.tokens) * iterations,
                                              benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
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
